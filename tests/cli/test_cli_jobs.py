"""`patron worker`, `patron jobs ...` and `patron tiers ...` end to end on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from conftest import table_rows, write_csv
from patron.cli.main import app
from patron.core import settings as settings_module
from patron.worker.runner import load_jobs

runner = CliRunner()


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PATRON_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    # Every job declared in this process (other test modules declare some too) switched off.
    monkeypatch.setenv("PATRON_SCHEDULES", json.dumps(dict.fromkeys(load_jobs(), "off")))
    settings_module.get_settings.cache_clear()
    yield runner
    settings_module.get_settings.cache_clear()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.stderr.replace("\n", "")  # rich wraps long lines at a space


def test_queue_run_and_recalibrate_from_the_command_line(
    cli: CliRunner, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("shops", "add", "site", "Own site", "--platform", "own_site")
    rows = [
        [f"O{i}{k}", f"c{i}", "completed", f"2024-0{1 + k}-{10 + i} 10:00", "S", 1, f"{10 * (i + 1)}.00"]
        for i in range(6)
        for k in range(1 + i % 3)
    ]
    path = write_csv(
        tmp_path / "o.csv",
        ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"],
        rows,
    )
    ok("import", "orders", str(path), "--shop", "site")
    assert (
        ok("jobs", "run", "scoring.analyze", "--args", '{"as_of": "2024-06-30"}').strip()
        == "queued job #1 (scoring.analyze)"
    )
    assert ok("worker", "--once").strip() == "scheduled nothing; done 1, retrying 0, failed 0"
    listed = json.loads(ok("jobs", "list", "--json"))
    assert [(j["id"], j["name"], j["status"], j["args"]) for j in listed] == [
        (1, "scoring.analyze", "done", {"as_of": "2024-06-30"})
    ]
    assert listed[0]["result"]["customers"] == 6
    policies = json.loads(ok("tiers", "policies", "--json"))
    assert [(p["version"], p["reason"], p["customers"]) for p in policies] == [(1, "initial", 6)]
    out = ok("tiers", "recalibrate", "--weight", "orders=1", "--weight", "spent=3")
    assert out.startswith("tier policy v2 fitted on 6 customers")
    assert json.loads(ok("tiers", "policies", "--json"))[0]["weights"] == {"orders": 0.25, "spent": 0.75}
    assert json.loads(ok("tiers", "changes", "--json")) == []

    assert "[tiers_bad_weights] --weight takes NAME=NUMBER, got 'orders'" in refused(
        "tiers", "recalibrate", "--weight", "orders"
    )
    assert "[job_unknown] unknown job 'nope'" in refused("jobs", "run", "nope")
    assert "[bad_json] --args must be a JSON object" in refused(
        "jobs", "run", "scoring.analyze", "--args", "[1]"
    )
    assert "[job_not_failed]" in refused("jobs", "retry", "1")
    monkeypatch.setenv("PATRON_SCHEDULES", '{"scoring.analyze": "at dawn"}')
    settings_module.get_settings.cache_clear()
    assert "[schedule_invalid] schedule of scoring.analyze: 'at dawn' is not a cron expression" in refused(
        "worker", "--once"
    )
    # Nothing refused above left a trace.
    assert table_rows(engine, "SELECT count(*) FROM jobs") == [(1,)]
    assert table_rows(engine, "SELECT count(*) FROM tier_policies") == [(2,)]
