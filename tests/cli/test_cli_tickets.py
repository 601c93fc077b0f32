"""`patron tickets ...` and `patron sla ...` on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from test_cli_jobs import ok, refused, runner

from patron.cli.main import app
from patron.core import settings as settings_module
from patron.core.db import session_scope
from patron.desk import service
from patron.desk.service import DeskConfig, NewTicket


@pytest.fixture
def desk(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("PATRON_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PATRON_DEFAULT_TIMEZONE", "UTC")
    settings_module.get_settings.cache_clear()
    with session_scope(engine) as s:
        service.create_policy(s, {"name": "all", "position": 1, "first_response_minutes": 60})
        at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        for subject, priority in (("Invoice please", "low"), ("Charged twice", "urgent")):
            service.create(s, NewTicket(subject=subject, body="b", priority=priority), actor="t",
                           config=DeskConfig(timezone="UTC"), now=at)  # fmt: skip
    yield engine
    settings_module.get_settings.cache_clear()


def test_list_show_scan_and_report(desk: Engine) -> None:
    listed = json.loads(ok("tickets", "list", "--json"))
    assert listed["total"] == 2
    assert [(r["reference"], r["priority"], r["sla"], r["due_at"]) for r in listed["items"]] == [
        ("T-000002", "urgent", "breached", "2026-03-02T10:00:00+00:00"),
        ("T-000001", "low", "breached", "2026-03-02T10:00:00+00:00"),
    ]
    assert "T-000002" in ok("tickets", "list")
    assert "2 target(s) missed, 0 warning(s)" in ok("sla", "scan")
    assert "0 target(s) missed" in ok("sla", "scan")
    shown = json.loads(ok("tickets", "show", "T-000001", "--json"))
    assert (shown["subject"], shown["priority"]) == ("Invoice please", "normal")  # escalated a step
    assert [e["action"] for e in shown["history"]][-2:] == ["sla_breached", "escalated"]
    report = json.loads(ok("sla", "report", "--by", "priority", "--json"))
    assert [(r["group"], r["missed"]) for r in report] == [("normal", 1), ("urgent", 1)]
    assert "not a ticket reference" in refused("tickets", "show", "ticket-one")
    assert "ticket_not_found" in failed("tickets", "show", "99")


def failed(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code != 0
    return result.output
