"""The demo's loyalty program on both databases: the demo's two years replayed month by month
through the production code (crediting, settling, tiers, rewards), once only, with a ledger whose
sums hold and a report with history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from test_demo_load import demo_dir  # noqa: F401 - the fixture is used by name

from conftest import table_rows
from patron.core.db import session_scope
from patron.demo import loyalty
from patron.demo.generator import Manifest
from patron.demo.load import load
from patron.loyalty import expiry, reports


def test_the_demo_loyalty_program(engine: Engine, demo_dir: Path) -> None:  # noqa: F811
    load(demo_dir, engine)
    manifest = Manifest.from_dict(json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8")))
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        done = loyalty.seed(s, start=manifest.start, end=manifest.end, now=now)
    with session_scope(engine) as s:
        assert loyalty.seed(s, start=manifest.start, end=manifest.end, now=now) == {
            "orders": 0, "points": 0, "rewards": 0
        }  # fmt: skip
    credited = table_rows(engine, "SELECT COUNT(*), SUM(points) FROM points_operations WHERE source = 'order' "
                                  "AND points > 0")  # fmt: skip
    assert credited == [(done["orders"], done["points"])]
    assert done["orders"] > 1000
    assert table_rows(engine, "SELECT COUNT(*) FROM loyalty_reward_redemptions") == [(done["rewards"],)]
    assert done["rewards"] > 100
    # Every member's cached sums are the sums of their ledger lines, and never negative.
    mismatched = table_rows(engine, """
        SELECT a.id FROM points_accounts a LEFT JOIN (
            SELECT account_id, SUM(active_delta) AS active, SUM(locked_delta) AS locked, SUM(debt_delta) AS debt
            FROM points_entries GROUP BY account_id) e ON e.account_id = a.id
        WHERE a.active != COALESCE(e.active, 0) OR a.locked != COALESCE(e.locked, 0)
           OR a.debt != COALESCE(e.debt, 0) OR a.active < 0""")  # fmt: skip
    assert mismatched == []
    # Nothing is due any more as of now: locked lots past their window and expired ones are settled.
    assert table_rows(engine, "SELECT COUNT(*) FROM points_lots WHERE remaining > 0 AND state != 'closed' "
                              "AND expires_at <= '2026-12-04 12:00:00'") == [(0,)]  # fmt: skip
    with session_scope(engine) as s:
        report = reports.report(s, "club", start=expiry.start_of(manifest.start, "Asia/Shanghai"),
                                end=now, reporting_currency="CNY")  # fmt: skip
    assert len(report.months) >= 24  # points issued every month of the two years
    assert sum(m.expired for m in report.months) > 0  # 2024's points expired at the end of 2025
    assert sum(m.redeemed for m in report.months) > 0
    assert set(report.tiers) == {"member", "silver", "gold"}
    assert report.members == sum(report.tiers.values())
