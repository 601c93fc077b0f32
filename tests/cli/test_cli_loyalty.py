"""``patron loyalty ...`` end to end on both databases: a program, a rule, orders credited,
a member shown, settling run twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from conftest import table_rows, write_csv
from patron.cli.main import app
from patron.core import settings as settings_module
from patron.core.time import utcnow
from patron.ingest.tasks import ImportRequest, run_import

runner = CliRunner()
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip


@pytest.fixture
def cli(engine: Engine, shops: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    monkeypatch.setenv("PATRON_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    settings_module.get_settings.cache_clear()
    rows = [["A1", "ada", "Ada", "ada@x.test", "completed", "2026-01-05 10:00", "S", 1, "128.40"],
            ["A2", "ada", "Ada", "ada@x.test", "paid", "2026-01-06 10:00", "S", 1, "20.00"]]  # fmt: skip
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, rows), shop="site"),
        engine=engine,
    )
    yield engine
    settings_module.get_settings.cache_clear()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_program_from_the_command_line(cli: Engine) -> None:
    assert (
        ok("loyalty", "program", "club", "--name", "Club", "--lock-days", "0")
        == "program club created (id 1)\n"
    )
    assert ok("loyalty", "rule", "club", '{"name": "standard", "kind": "spend", "points": 1}') == (
        "rule 'standard' added to club\n"
    )
    assert ok("loyalty", "earn", "club").endswith("2 orders read, 2 credited with 148 points\n")
    assert ok("loyalty", "earn", "club").endswith("2 orders read, 0 credited with 0 points\n")
    [(ada,)] = table_rows(cli, "SELECT id FROM customers")
    shown = json.loads(ok("loyalty", "member", "club", str(ada), "--json"))
    assert shown["balance"] == {"active": 148, "locked": 0, "debt": 0, "growth": 148}
    assert [(lot["points"], lot["state"]) for lot in shown["lots"]] == [(128, "active"), (20, "active")]
    assert "active 148 · locked 0 · debt 0 · growth 148" in ok("loyalty", "member", "club", str(ada))
    assert ok("loyalty", "settle") == "0 ledger entries written\n"
    shown = json.loads(
        ok("loyalty", "report", "club", "--start", "2026-01-01", "--end", "2099-01-01", "--json")
    )
    assert (shown["members"], shown["active"], shown["liability_minor"]) == (1, 148, 148)
    assert "1 members · 148 points owed (0 locked) · 0 owed back" in ok(
        "loyalty", "report", "club", "--start", "2026-01-01", "--end", "2099-01-01"
    )
    bad_dates = runner.invoke(app, ["loyalty", "report", "club", "--start", "soon", "--end", "later"])
    assert (bad_dates.exit_code, "[loyalty_bad_period]" in bad_dates.stderr) == (2, True)
    bad = runner.invoke(app, ["loyalty", "rule", "club", "{not json"])
    assert bad.exit_code == 2
    assert "[loyalty_bad_rule] the rule is not JSON" in bad.stderr
    missing = runner.invoke(app, ["loyalty", "earn", "nope"])
    assert (missing.exit_code, "[loyalty_program_not_found]" in missing.stderr) == (2, True)


def test_tiers_from_the_command_line(cli: Engine, tmp_path: Path) -> None:
    ok("loyalty", "program", "club", "--name", "Club", "--lock-days", "0")
    ok("loyalty", "earn", "club")  # Ada becomes a member: 148.40 yuan spent in January 2026
    policy = {"basis": "spend", "review": "fixed", "tiers": [
        {"code": "member", "name_en": "Member", "name_zh": "会员", "rank": 0, "threshold": 0},
        {"code": "silver", "name_en": "Silver", "name_zh": "银卡", "rank": 1, "threshold": 10_000},
    ]}  # fmt: skip
    (tmp_path / "tiers.json").write_text(json.dumps(policy), encoding="utf-8")
    bad = runner.invoke(app, ["loyalty", "tiers", "club", '{"tiers": [], "review": "fixed"}'])
    assert bad.exit_code != 0
    assert "a policy needs at least one tier" in bad.output
    assert table_rows(cli, "SELECT tier_policy FROM loyalty_programs") == [(None,)]
    # The orders are of January 2026: inside the last 365 days until January 2027.
    out = ok("loyalty", "tiers", "club", f"@{tmp_path / 'tiers.json'}")
    assert out.startswith("club: tiers member ≥ 0, silver ≥ 10,000 on spend; 1 members placed")
    in_window = utcnow() < datetime(2027, 1, 5, 2, tzinfo=UTC)  # A1 placed 2026-01-05 10:00 Shanghai
    assert table_rows(cli, "SELECT tier FROM points_accounts") == [("silver" if in_window else "member",)]


def test_pre_expiry_reminders_from_the_command_line(cli: Engine) -> None:
    days = ("--expiry", "days", "--expiry-days", "20")
    ok("loyalty", "program", "club", "--name", "Club", "--lock-days", "0", *days)
    ok("loyalty", "rule", "club", '{"name": "standard", "kind": "spend", "points": 1}')
    ok("loyalty", "earn", "club")  # 148 points, spendable through the 20th day from today
    assert ok("loyalty", "remind") == "1 reminder written\n"  # 30 days ahead; not yet 7
    assert ok("loyalty", "remind") == "0 reminders written\n"
    [(ada,)] = table_rows(cli, "SELECT id FROM customers")
    sql = "SELECT type, customer_id, shop_id, properties FROM events"
    [(kind, customer, shop, properties)] = table_rows(cli, sql)
    shown = properties if isinstance(properties, dict) else json.loads(str(properties))
    assert (kind, customer, shop) == ("points_expiring", ada, None)
    assert (shown["program"], shown["points"], shown["lead_days"], shown["balance"]) == ("club", 148, 30, 148)


def test_an_action_from_the_command_line(cli: Engine) -> None:
    ok("loyalty", "program", "club", "--name", "Club")
    ok(
        "loyalty",
        "rule",
        "club",
        '{"name": "daily", "kind": "checkin", "points": 5, "cap": 5, "cap_period": "day"}',
    )
    [(ada,)] = table_rows(cli, "SELECT id FROM customers")
    assert (
        ok("loyalty", "action", "club", str(ada), "checkin", "--key", "k1")
        == "5 points for checkin: daily 5 (awarded)\n"
    )
    assert (
        ok("loyalty", "action", "club", str(ada), "checkin", "--key", "k1")
        == "5 points for checkin: daily 5 (awarded)\n"
    )
    assert (
        ok("loyalty", "action", "club", str(ada), "checkin")
        == "0 points for checkin: daily 0 (cap_reached)\n"
    )
    bad = runner.invoke(app, ["loyalty", "action", "club", str(ada), "dance"])
    assert bad.exit_code != 0
    assert "unknown action 'dance'" in bad.output
