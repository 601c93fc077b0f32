"""The generated demo shop goes through the real importers: every deliberate fault is quarantined,
nothing else is, and identity resolution links the customers present in two shops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from conftest import table_rows
from patron.demo.generator import generate
from patron.demo.load import load

# Rows that fail only because their order was itself quarantined in the order file.
CASCADE = {"unknown_order"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, customers=1500, seed=11)
    return out


def test_demo_loads_with_exactly_the_planted_faults(engine: Engine, demo_dir: Path) -> None:
    truth = json.loads((demo_dir / "truth.json").read_text())
    summaries = {s.file: s for s in load(demo_dir, engine)}
    for name, planted in truth["files"].items():
        s = summaries[name]
        assert s.status == "completed", name
        assert s.rows_read == planted["rows"], name
        bad = {
            r[0]
            for r in table_rows(
                engine,
                f"SELECT q.row_number FROM quarantine_rows q JOIN import_runs r ON r.id = q.import_run_id "
                f"WHERE r.id = {s.run_id} AND q.code NOT IN ('unknown_order')",
            )
        }
        expected = {
            row
            for kind, fault in planted["faults"].items()
            if kind not in ("duplicate_row", "masked_phone")
            for row in fault["rows"]
        }
        assert bad == expected, name
    # Nothing but the planted faults and their cascades was quarantined.
    codes = {r[0] for r in table_rows(engine, "SELECT DISTINCT code FROM quarantine_rows")}
    assert codes <= {"bad_datetime", "missing", "out_of_range", "unknown_currency", *CASCADE}


def test_demo_identity_resolution(engine: Engine, demo_dir: Path) -> None:
    truth = json.loads((demo_dir / "truth.json").read_text())
    load(demo_dir, engine)
    # Customers present in two shops with the same phone end up as one profile.
    shared = table_rows(
        engine,
        "SELECT COUNT(*) FROM (SELECT customer_id FROM orders GROUP BY customer_id "
        "HAVING COUNT(DISTINCT shop_id) > 1) t",
    )[0][0]
    assert int(str(shared)) == truth["counts"]["cross_shop_phone_linkable"]
    # Re-loading the same exports changes nothing.
    before = table_rows(engine, "SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM order_lines")
    again = load(demo_dir, engine)
    assert all(s.inserted == 0 for s in again)
    assert (
        table_rows(engine, "SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM order_lines") == before
    )


def test_scoring_recovers_the_generators_parameters(engine: Engine, demo_dir: Path) -> None:
    """The scoring run on the imported demo shop finds the BG/NBD and Gamma-Gamma parameters the
    generator drew from. Tolerance 25 %: the sampling error of 1,375 buyers (the estimates move by
    10-20 % between seeds at this size; at a million customers they are within 1-5 %)."""
    from datetime import date

    from patron.core.db import session_scope
    from patron.scoring import service

    truth = json.loads((demo_dir / "truth.json").read_text())
    load(demo_dir, engine)
    with session_scope(engine) as s:
        run = service.analyze(s, as_of=date.fromisoformat(truth["end"]), currency="CNY", actor="test")
        params = run.params
    assert params["penalizer"] == 0.0
    want = truth["bgnbd"]
    got = params["bgnbd"]
    for name in ("r", "alpha", "a", "b"):
        assert got[name] == pytest.approx(want[name], rel=0.25), name
    spend = truth["gamma_gamma"]
    assert params["gamma_gamma"]["p"] == pytest.approx(spend["p"], rel=0.25)
    assert params["gamma_gamma"]["q"] == pytest.approx(spend["q"], rel=0.25)
    # Spend is in CNY fen; the generator's scale is in yuan.
    assert params["gamma_gamma"]["v"] / 100 == pytest.approx(spend["gamma"]["CNY"], rel=0.25)
