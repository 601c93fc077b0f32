"""The `patron` command end to end on both databases: set-up, import, search, 360, merges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from conftest import write_csv
from patron.cli.main import app
from patron.core import settings as settings_module

runner = CliRunner()


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PATRON_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    settings_module.get_settings.cache_clear()
    yield runner
    settings_module.get_settings.cache_clear()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_workflow(cli: CliRunner, tmp_path: Path) -> None:
    ok("shops", "add", "site", "Own site", "--platform", "own_site")
    assert "site" in ok("shops", "list")
    path = write_csv(
        tmp_path / "o.csv",
        ["order_id", "customer_external_id", "customer_name", "phone", "email", "status", "placed_at", "sku",
         "quantity", "unit_price"],
        [
            ["A1", "c1", "张三", "13812345678", "", "completed", "2024-01-05 10:00", "S1", 2, "99.50"],
            ["A2", "c2", "Zhang", "", "zs@example.com", "completed", "2024-01-06 10:00", "S1", 1, "10"],
            ["A3", "c3", "Bad", "", "", "completed", "not a date", "S1", 1, "10"],
        ],
    )  # fmt: skip
    summary = json.loads(ok("import", "orders", str(path), "--shop", "site", "--json"))
    assert (summary["inserted"], summary["quarantined"], summary["quarantined_by_code"]) == (
        2,
        1,
        {"bad_datetime": 1},
    )
    runs = json.loads(ok("imports", "list", "--json"))
    assert [(r["status"], r["rows"]) for r in runs] == [("completed", 3)]
    quarantine = json.loads(ok("imports", "quarantine", str(summary["run_id"]), "--json"))
    assert [(r["row"], r["column"], r["code"]) for r in quarantine["rows"]] == [
        (4, "placed_at", "bad_datetime")
    ]

    found = json.loads(ok("customers", "list", "--q", "138 1234 5678", "--json"))
    assert [c["name"] for c in found["items"]] == ["张三"]
    first = found["items"][0]["id"]
    view = json.loads(ok("customers", "show", str(first), "--json"))
    assert [o["external_id"] for o in view["orders"]] == ["A1"]
    assert "A1" in ok("customers", "show", str(first))

    second = json.loads(ok("customers", "list", "--q", "zs@example.com", "--json"))["items"][0]["id"]
    ok("customers", "merge", str(first), str(second), "--reason", "same person")
    merged = json.loads(ok("customers", "show", str(first), "--json"))
    assert sorted(o["external_id"] for o in merged["orders"]) == ["A1", "A2"]
    ok("customers", "unmerge", str(merged["merges"][0]["id"]))
    assert [
        o["external_id"] for o in json.loads(ok("customers", "show", str(first), "--json"))["orders"]
    ] == ["A1"]

    ok("customers", "tag", str(first), "vip")
    assert json.loads(ok("customers", "list", "--tag", "vip", "--json"))["total"] == 1
    ok("fx", "set", "USD", "7.1", "--valid-on", "2024-01-01")
    ok("users", "add", "ops@example.com", "Ops", "--role", "agent", "--password", "longenough1")


def test_cli_errors_are_one_clear_line(cli: CliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ["order_id"], [["A1"]])
    result = runner.invoke(app, ["import", "orders", str(path), "--shop", "nope"])
    assert result.exit_code == 2
    assert "[shop_not_found]" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["customers", "show", "424242"])
    assert (result.exit_code, "[customer_not_found]" in result.output) == (2, True)
    result = runner.invoke(
        app, ["users", "add", "x@example.com", "X", "--role", "king", "--password", "longenough1"]
    )
    assert (result.exit_code, "[unknown_role]" in result.output) == (2, True)


def test_cli_analyze_scores_and_kpis(cli: CliRunner, tmp_path: Path) -> None:
    ok("shops", "add", "site", "Own site", "--platform", "own_site")
    path = write_csv(
        tmp_path / "o.csv",
        ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"],
        [
            ["A1", "c1", "completed", "2024-01-05 10:00", "S1", 1, "30.00"],
            ["A2", "c1", "completed", "2024-02-04 10:00", "S1", 1, "50.00"],
            ["A3", "c2", "completed", "2024-02-10 10:00", "S1", 1, "20.00"],
        ],
    )
    ok("import", "orders", str(path), "--shop", "site")
    run = json.loads(ok("analyze", "--as-of", "2024-03-01", "--json"))
    assert (run["as_of"], run["customers"]) == ("2024-03-01", 2)
    c1 = json.loads(ok("customers", "list", "--q", "c1", "--json"))["items"][0]["id"]
    (score,) = json.loads(ok("scores", "show", str(c1), "--json"))
    assert (score["orders"], score["spent_minor"], score["days_since_last"]) == (2, 8000, 26)
    assert "最近一次下单在 26 天前" in ok("scores", "show", str(c1), "--lang", "zh")
    report = json.loads(ok("kpis", "--as-of", "2024-03-01", "--json"))
    assert report["cards"]["current"] == {
        "orders": 3,
        "revenue_minor": 10000,
        "aov_minor": 3333,
        "frequency": 1.5,
        "repurchase_rate": 0.5,
    }
    # February against January: c1 came back (rows stop at the last month with an order).
    assert [(r["period"], r["previous_active"], r["retained"]) for r in report["retention"]] == [
        ("2024-02-01", 1, 1)
    ]
    result = runner.invoke(app, ["kpis", "--period", "fortnight"])
    assert result.exit_code == 2
    assert "bad_period" in result.output
