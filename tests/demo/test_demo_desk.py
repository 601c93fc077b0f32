"""The demo's service desk on both databases: set up once, tickets in every state, live clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from test_demo_load import demo_dir  # noqa: F401 - the fixture is used by name

from conftest import table_rows
from patron.core.db import session_scope
from patron.demo import desk
from patron.demo.load import load


def test_the_demo_desk(engine: Engine, demo_dir: Path) -> None:  # noqa: F811
    load(demo_dir, engine)
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        first = desk.seed(s, now=now, password="password1")
    with session_scope(engine) as s:
        assert desk.seed(s, now=now, password="password1") == first  # once only
    statuses = dict(table_rows(engine, "SELECT status, count(*) FROM tickets GROUP BY status"))
    assert sum(statuses.values()) == first  # type: ignore[arg-type]
    assert {"new", "open", "resolved", "waiting_customer"} <= set(statuses)
    kinds = dict(table_rows(engine, "SELECT type, count(*) FROM tickets GROUP BY type"))
    assert (kinds["complaint"], kinds["inquiry"]) == (24, 6)
    assert table_rows(
        engine, "SELECT count(*) FROM tickets WHERE type = 'complaint' AND category IS NULL"
    ) == [(0,)]
    assert table_rows(engine, "SELECT count(*) FROM teams") == [(1,)]
    assert table_rows(engine, "SELECT count(*) FROM sla_policies") == [(3,)]
    assert table_rows(engine, "SELECT count(*) FROM kb_articles")[0][0] >= 60  # type: ignore[operator]
    # Every ticket is routed to one of the two demo agents (their capacity is not reached).
    assert table_rows(engine, "SELECT count(*) FROM tickets WHERE assignee_id IS NULL") == [(0,)]
