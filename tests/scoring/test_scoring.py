"""The scoring run on SQLite and PostgreSQL: orders imported through the real importer, scores
stored per run, exact figures where they are defined by hand, history across runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import Refund
from patron.scoring import reports, service

OTHERS = 200
HEADER = ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"]


def orders_file(tmp_path: Path) -> Path:
    rows: list[list[object]] = [
        ["A1", "c1", "completed", "2024-01-10 10:00:00", "S", 1, "100.00"],
        ["A2", "c1", "completed", "2024-03-10 10:00:00", "S", 1, "50.00"],
        ["A3", "c1", "completed", "2024-05-09 10:00:00", "S", 1, "50.00"],
        ["B1", "c2", "cancelled", "2024-02-01 10:00:00", "S", 1, "80.00"],  # never bought
    ]
    # Enough other buyers with varied habits for the purchase and spend models to be fitted.
    rng = np.random.default_rng(5)
    for i in range(OTHERS):
        # The Gamma-Gamma world: each customer's spend rate nu ~ Gamma(4, 1/40), values Gamma(6, nu).
        nu = rng.gamma(4.0, 1 / 40.0)
        days = np.sort(rng.choice(180, size=1 + int(rng.geometric(0.45)) % 6, replace=False))
        for k, day in enumerate(days):
            at = datetime(2024, 1, 1, 9) + timedelta(days=int(day))
            rows.append(
                [
                    f"X{i}-{k}",
                    f"x{i}",
                    "completed",
                    f"{at:%Y-%m-%d %H:%M:%S}",
                    "S",
                    1,
                    f"{rng.gamma(6.0, 1 / nu):.2f}",
                ]
            )
    return write_csv(tmp_path / "orders.csv", HEADER, rows)


def imp(engine: Engine, path: Path, shop: str) -> None:
    summary = run_import(ImportRequest(kind="orders", path=path, shop=shop), engine=engine)
    assert summary.quarantined == 0


def analyze(engine: Engine, as_of: date) -> int:
    with session_scope(engine) as s:
        return service.analyze(s, as_of=as_of, currency="CNY", actor="test").id


def score(engine: Engine, external_id: str, lang: str = "en") -> list[dict[str, Any]]:
    (cid,) = table_rows(engine, f"SELECT customer_id FROM identities WHERE value = '{external_id}'")[0]
    with session_scope(engine) as s:
        return service.scores_of(s, int(cid), lang=lang)  # type: ignore[arg-type]


@pytest.fixture
def scored(engine: Engine, shops: dict[str, object], tmp_path: Path) -> Engine:
    imp(engine, orders_file(tmp_path), "site")
    usd = write_csv(
        tmp_path / "usd.csv", HEADER, [["U1", "u1", "completed", "2024-06-01 10:00:00", "S", 1, "10.00"]]
    )
    imp(engine, usd, "shopify")
    with session_scope(engine) as s:
        commerce.set_fx_rate(s, "USD", "CNY", date(2024, 1, 1), "7.1")
    return engine


def test_hand_computed_figures(scored: Engine) -> None:
    run_id = analyze(scored, date(2024, 6, 30))
    with session_scope(scored) as s:
        params = service.get_run(s, run_id).params
    # Buying rates in this small shop barely differ between customers: the plain BG/NBD fit runs
    # off to infinity and the run falls back to a small penalty, and says so.
    assert params["notes"] == ["the plain fit degenerated on this data: fitted with an L2 penalty of 0.001"]
    assert params["penalizer"] == 0.001
    assert set(params["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert params["churn"]["model"] == "logistic"
    assert params["churn"]["trained_on"] >= 50
    (c1,) = score(scored, "c1")
    assert (c1["orders"], c1["spent_minor"], c1["days_since_last"], c1["typical_gap_days"]) == (
        3,
        20000,
        52,
        60.0,
    )
    assert c1["as_of"] == date(2024, 6, 30)
    assert 0 <= c1["churn_risk"] <= 1
    (c2,) = score(scored, "c2")  # only a cancelled order: a prospect
    assert c2["churn_risk"] is None
    assert (c2["orders"], c2["spent_minor"], c2["state"], c2["segment"], c2["clv_minor"]) == (
        0,
        0,
        "prospect",
        None,
        None,
    )
    (u1,) = score(scored, "u1")  # 10.00 USD at 7.1
    assert (u1["orders"], u1["spent_minor"], u1["days_since_last"]) == (1, 7100, 29)
    for row in (c1, u1):
        assert 0 <= row["probability_alive"] <= 1
        assert 0 <= row["purchase_probability"] <= row["probability_alive"]
        assert row["clv_minor"] >= 0
        assert row["segment"]
        assert row["tier"]
    assert c1["explanation"].startswith("last order 52 days ago; ")
    assert score(scored, "c1", "zh")[0]["explanation"].startswith("最近一次下单在 52 天前；")
    runs = table_rows(scored, "SELECT status, customers FROM score_runs")
    assert runs == [("completed", 3 + OTHERS)]  # c1, c2, u1 and the others


def test_history_keeps_every_run_latest_date_first(scored: Engine) -> None:
    analyze(scored, date(2024, 6, 30))
    analyze(scored, date(2024, 3, 31))
    rows = score(scored, "c1")
    assert [(r["as_of"], r["orders"], r["days_since_last"]) for r in rows] == [
        (date(2024, 6, 30), 3, 52),
        (date(2024, 3, 31), 2, 21),
    ]
    assert table_rows(scored, "SELECT count(*) FROM customer_scores") == [(2 * (3 + OTHERS),)]


def test_before_any_purchase_everyone_is_a_prospect_and_the_run_says_why(scored: Engine) -> None:
    run_id = analyze(scored, date(2023, 12, 31))
    assert table_rows(scored, "SELECT DISTINCT state FROM customer_scores") == [("prospect",)]
    with session_scope(scored) as s:
        run = service.get_run(s, run_id)
        assert run.status == "completed"
        assert run.customers == 3 + OTHERS
        assert "bgnbd" not in run.params


def test_unknown_run_is_not_found(engine: Engine) -> None:
    from patron.core.errors import NotFound

    with session_scope(engine) as s, pytest.raises(NotFound) as err:
        service.get_run(s, 999)
    assert err.value.code == "score_run_not_found"


def test_dashboard_of_the_latest_run(scored: Engine) -> None:
    with session_scope(scored) as s:
        assert reports.dashboard(s) is None
    analyze(scored, date(2024, 3, 31))
    analyze(scored, date(2024, 6, 30))
    with session_scope(scored) as s:
        d = reports.dashboard(s, lang="zh")
        assert d is not None
        assert (d["run"].as_of, d["previous"].as_of) == (date(2024, 6, 30), date(2024, 3, 31))
        buyers = table_rows(
            scored, f"SELECT count(*) FROM customer_scores WHERE run_id = {d['run'].id} AND orders > 0"
        )[0][0]
        assert sum(n for n, _ in d["grid"].values()) == buyers
        assert sum(n for _, n, _ in d["segments"]) == 3 + OTHERS  # prospects under None
        assert all(a != b for a, b, _ in d["movements"])
        clv = [row["clv_minor"] for row in d["top_clv"]]
        assert clv == sorted(clv, reverse=True)
        assert {row["tier"] for row in d["at_risk"]} <= {"high_value", "potential"}
        at_risk = [(1 - row["purchase_probability"]) * row["spent_minor"] for row in d["at_risk"]]
        assert at_risk == sorted(at_risk, reverse=True)
        assert "churned" not in {row["state"] for row in d["at_risk"]}
        assert all("天" in row["explanation"] for row in d["at_risk"])
        kpis = d["kpis"]
    # The 12 months to 2024-06-30 hold every completed order; the USD one counts at 7.1.
    (n, cny), (usd,) = (
        table_rows(scored, "SELECT count(*), sum(total_minor) FROM orders WHERE status = 'completed'")[0],
        table_rows(scored, "SELECT sum(total_minor) FROM orders WHERE currency = 'USD'")[0],
    )
    revenue = int(cny) - int(usd) + round(int(usd) * 7.1)
    assert (kpis["current"]["orders"], kpis["current"]["revenue_minor"]) == (n, revenue)
    assert kpis["current"]["aov_minor"] == round(revenue / n)
    assert kpis["previous"] == {
        "orders": 0,
        "revenue_minor": 0,
        "aov_minor": None,
        "frequency": None,
        "repurchase_rate": None,
    }


def test_an_empty_shop_scores_nobody_without_failing(engine: Engine) -> None:
    with session_scope(engine) as s:
        run = service.analyze(s, as_of=date(2024, 6, 30), currency="CNY", actor="test")
        assert (run.status, run.customers) == ("completed", 0)
    assert table_rows(engine, "SELECT count(*) FROM customer_scores") == [(0,)]


def test_a_purchase_on_the_as_of_day_is_scored_like_a_new_customer(scored: Engine) -> None:
    # u1's only order is on 2024-06-01: age 0 on that day, which every nightly run meets.
    run_id = analyze(scored, date(2024, 6, 1))
    with session_scope(scored) as s:
        notes = service.get_run(s, run_id).params["notes"]
    assert not [n for n in notes if "not fitted" in n]
    (u1,) = score(scored, "u1")
    assert (u1["orders"], u1["days_since_last"], u1["probability_alive"]) == (1, 0, 1.0)
    assert u1["clv_minor"] > 0


def test_refunds_count_from_their_request_or_else_their_completion(scored: Engine) -> None:
    """Taobao's refund export gives only the completion time: such refunds still count."""
    (cid,) = table_rows(scored, "SELECT customer_id FROM identities WHERE value = 'c1'")[0]
    (shop_id,) = table_rows(scored, "SELECT id FROM shops WHERE code = 'tmall'")[0]
    at = datetime(2024, 5, 20, tzinfo=UTC)
    with session_scope(scored) as s:
        for ext, requested, completed in (("R1", at, None), ("R2", None, at), ("R3", None, None),
                                          ("R4", None, at + timedelta(days=60))):  # fmt: skip
            s.add(Refund(shop_id=shop_id, external_id=ext, customer_id=cid, type="refund_only", amount_minor=100,
                         currency="CNY", status="completed", requested_at=requested, completed_at=completed,
                         source_updated_at=at, content_hash=ext))  # fmt: skip
    analyze(scored, date(2024, 6, 30))
    assert score(scored, "c1")[0]["refunds"] == 2  # R1 and R2; R3 has no date, R4 is later
