"""The scoring endpoints: who may run an analysis, and the scores it leaves per customer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows, write_csv
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import CustomerScore, ScoreRun

HEADER = ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"]
ROWS = [
    ["O1", "c1", "completed", "2024-01-05 10:00", "S", 1, "30.00"],
    ["O2", "c1", "completed", "2024-02-04 10:00", "S", 1, "40.00"],
    ["O3", "c2", "completed", "2024-02-10 10:00", "S", 1, "25.00"],
    ["O4", "c3", "pending", "2024-02-11 10:00", "S", 1, "99.00"],  # not a purchase
]


@pytest.fixture
def client(engine: Engine, shops: object, tmp_path: Path) -> Iterator[TestClient]:
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)
    with TestClient(app) as c:
        yield c


key = api_key


def test_analyst_runs_an_analysis_and_reads_scores(client: TestClient, engine: Engine) -> None:
    h = key(engine, "analyst", ["customers:read", "analytics:run"])
    r = client.post("/api/v1/analyze", json={"as_of": "2024-03-01"}, headers=h)
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["as_of"], run["status"], run["customers"]) == ("2024-03-01", "completed", 3)
    # Three orders cannot fit the purchase model: the run still scores, and says why.
    assert run["params"]["notes"][0].startswith("purchase and spend models not fitted")
    (cid,) = table_rows(engine, "SELECT customer_id FROM identities WHERE value = 'c1'")[0]
    r = client.get(f"/api/v1/customers/{cid}/scores?lang=zh", headers=h)
    assert r.status_code == 200
    (score,) = r.json()
    assert (score["orders"], score["spent_minor"], score["days_since_last"], score["typical_gap_days"]) == (
        2,
        7000,
        26,
        30.0,
    )
    assert score["clv_minor"] is None
    assert score["churn_risk"] is None
    assert (
        run["params"]["notes"][1]
        == "churn model not trained: no customer bought on or before the cutoff 2023-12-02"
    )
    assert score["explanation"].startswith("最近一次下单在 26 天前")
    assert [x["id"] for x in client.get("/api/v1/score-runs", headers=h).json()] == [run["id"]]


def test_running_an_analysis_needs_the_scope(client: TestClient, engine: Engine) -> None:
    h = key(engine, "read_only", ["customers:read"])
    r = client.post("/api/v1/analyze", json={}, headers=h)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    assert table_rows(engine, "SELECT count(*) FROM score_runs") == [(0,)]
    r = client.get("/api/v1/customers/1/scores?lang=fr", headers=h)
    assert r.status_code == 422


# -- /api/v1/analytics ---------------------------------------------------------------------------
# On top of ROWS: c4 buys once in the Tmall shop. Scores are written by hand (runs as of
# 2024-01-31 and 2024-02-29) so every group is known exactly.

JANUARY: dict[str, dict[str, Any]] = {
    "c1": {"segment": "new", "tier": "potential", "state": "active", "clv_minor": 1000},
}
FEBRUARY: dict[str, dict[str, Any]] = {
    "c1": {"segment": "loyal", "tier": "high_value", "state": "active", "r_score": 5, "f_score": 5,
           "orders": 2, "spent_minor": 7000, "clv_minor": 9000, "purchase_probability": 0.4},
    "c2": {"segment": "new", "tier": "general", "state": "new", "r_score": 5, "f_score": 1,
           "orders": 1, "spent_minor": 2500, "clv_minor": 3000, "purchase_probability": 0.1},
    "c4": {"segment": "new", "tier": "potential", "state": "new", "r_score": 5, "f_score": 1,
           "orders": 1, "spent_minor": 5000, "clv_minor": 4000, "purchase_probability": 0.2},
}  # fmt: skip


def ids_of(engine: Engine) -> dict[str, int]:
    rows = table_rows(engine, "SELECT value, customer_id FROM identities WHERE kind = 'external_id'")
    return {str(v): int(c) for v, c in rows}  # type: ignore[call-overload]


def hand_run(engine: Engine, as_of: date, scores: dict[str, dict[str, Any]]) -> None:
    with session_scope(engine) as s:
        run = ScoreRun(as_of=as_of, status="completed", customers=4, reporting_currency="CNY", actor="t")
        s.add(run)
        s.flush()
        for ext, cid in ids_of(engine).items():
            values = {"orders": 0, "spent_minor": 0, "state": "prospect"} | scores.get(ext, {})
            s.add(CustomerScore(run_id=run.id, customer_id=cid, **values))


@pytest.fixture
def shop(client: TestClient, engine: Engine, tmp_path: Path) -> dict[str, str]:
    tmall = [["T1", "c4", "completed", "2024-02-20 10:00", "S", 1, "50.00"]]
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "t.csv", HEADER, tmall), shop="tmall"),
        engine=engine,
    )
    return key(engine, "read_only", ["customers:read"])


def test_analytics_blocks_before_any_run(client: TestClient, engine: Engine, shop: dict[str, str]) -> None:
    for block in ("rfm", "segments", "tiers", "states", "clv", "churn-risk"):
        r = client.get(f"/api/v1/analytics/{block}", headers=shop)
        assert (r.status_code, r.json()["error"]) == (404, "no_score_run"), block
    # Order blocks need no run: as of today they still hold every order.
    r = client.get("/api/v1/analytics/kpis", params={"as_of": "2024-02-29"}, headers=shop)
    assert r.json()["slices"][0]["current"]["orders"] == 4


def test_analytics_score_blocks(client: TestClient, engine: Engine, shop: dict[str, str]) -> None:
    hand_run(engine, date(2024, 1, 31), JANUARY)
    hand_run(engine, date(2024, 2, 29), FEBRUARY)
    ids = ids_of(engine)
    rfm = client.get("/api/v1/analytics/rfm", headers=shop).json()
    assert rfm["run"]["as_of"] == "2024-02-29"
    assert rfm["cells"] == [
        {"r": 5, "f": 5, "customers": 1, "spent_minor": 7000},
        {"r": 5, "f": 1, "customers": 2, "spent_minor": 7500},
    ]
    segments = client.get("/api/v1/analytics/segments", headers=shop).json()
    assert (segments["dim"], segments["previous"]["as_of"]) == ("segment", "2024-01-31")
    assert segments["groups"] == [
        {"value": "new", "customers": 2, "clv_minor": 7000},
        {"value": "loyal", "customers": 1, "clv_minor": 9000},
        {"value": None, "customers": 1, "clv_minor": None},
    ]
    assert segments["movements"] == [
        {"from_value": None, "to_value": "new", "customers": 2},
        {"from_value": "new", "to_value": "loyal", "customers": 1},
    ]
    tiers = client.get("/api/v1/analytics/tiers", headers=shop).json()
    assert [(g["value"], g["customers"]) for g in tiers["groups"]] == [
        ("general", 1),
        ("high_value", 1),
        ("potential", 1),
        (None, 1),
    ]
    assert [(m["from_value"], m["to_value"], m["customers"]) for m in tiers["movements"]] == [
        (None, "general", 1),
        (None, "potential", 1),
        ("potential", "high_value", 1),
    ]
    states = client.get("/api/v1/analytics/states", headers=shop).json()
    assert [(g["value"], g["customers"]) for g in states["groups"]] == [
        ("new", 2),
        ("active", 1),
        ("prospect", 1),
    ]
    clv = client.get("/api/v1/analytics/clv", params={"lang": "zh", "limit": 2}, headers=shop).json()
    assert [
        (b["min_minor"], b["max_minor"], b["customers"], b["clv_minor"])
        for b in clv["bands"]
        if b["customers"]
    ] == [
        (2000, 5000, 2, 7000),
        (5000, 10000, 1, 9000),
    ]
    assert [b["min_minor"] for b in clv["bands"]] == [0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    assert [c["customer_id"] for c in clv["top"]] == [ids["c1"], ids["c4"]]
    assert (
        clv["top"][0]["explanation"]
        == "未来 90 天内购买的可能性 40%；分群：忠诚客户；价值层级：高价值；生命周期：活跃"
    )
    risk = client.get("/api/v1/analytics/churn-risk", headers=shop).json()
    assert risk["horizon_days"] == 90
    # High value and potential customers only (c2 is general), most spend at risk first:
    # c1 70.00 × (1 - 0.4) = 42.00 before c4 50.00 × (1 - 0.2) = 40.00.
    assert [(c["customer_id"], c["tier"]) for c in risk["customers"]] == [
        (ids["c1"], "high_value"),
        (ids["c4"], "potential"),
    ]


def test_analytics_kpis_sliced_and_cohorts(client: TestClient, engine: Engine, shop: dict[str, str]) -> None:
    hand_run(engine, date(2024, 2, 29), FEBRUARY)
    whole = client.get("/api/v1/analytics/kpis", headers=shop).json()
    # As of the latest run's date: c1's two orders, c2's and c4's.
    assert (whole["as_of"], whole["currency"], whole["by"]) == ("2024-02-29", "CNY", None)
    (all_,) = whole["slices"]
    assert all_["current"] == {
        "orders": 4,
        "revenue_minor": 14500,
        "aov_minor": 3625,
        "frequency": pytest.approx(4 / 3),
        "repurchase_rate": pytest.approx(1 / 3),
    }
    assert len(all_["months"]) == 12
    by_shop = client.get("/api/v1/analytics/kpis", params={"by": "shop"}, headers=shop).json()
    assert [(s["value"], s["current"]["orders"], s["current"]["revenue_minor"], s["current"]["aov_minor"])
            for s in by_shop["slices"]] == [("site", 3, 9500, 3167), ("tmall", 1, 5000, 5000)]  # fmt: skip
    tmall = client.get(
        "/api/v1/analytics/kpis", params={"by": "shop", "value": "tmall", "months": 2}, headers=shop
    ).json()
    assert tmall["slices"][0]["months"] == [
        {"month": "2024-01-01", "orders": 0, "revenue_minor": 0, "aov_minor": None, "repurchase_rate": None},
        {
            "month": "2024-02-01",
            "orders": 1,
            "revenue_minor": 5000,
            "aov_minor": 5000,
            "repurchase_rate": 0.0,
        },
    ]
    by_segment = client.get("/api/v1/analytics/kpis", params={"by": "segment"}, headers=shop).json()
    assert [(s["value"], s["current"]["orders"]) for s in by_segment["slices"]] == [("loyal", 2), ("new", 2)]
    by_category = client.get("/api/v1/analytics/kpis", params={"by": "category"}, headers=shop).json()
    assert [(s["value"], s["current"]["orders"]) for s in by_category["slices"]] == [(None, 4)]  # no products
    cohorts = client.get("/api/v1/analytics/cohorts", headers=shop).json()
    assert cohorts["rows"] == [
        {"cohort": "2024-01-01", "customers": 1, "active": [1, 1], "share": [1.0, 1.0]},
        {"cohort": "2024-02-01", "customers": 2, "active": [2], "share": [1.0]},
    ]


def test_analytics_drill_down_lists_the_customers(
    client: TestClient, engine: Engine, shop: dict[str, str]
) -> None:
    hand_run(engine, date(2024, 1, 31), JANUARY)
    hand_run(engine, date(2024, 2, 29), FEBRUARY)
    ids = ids_of(engine)

    def listed(**params: object) -> set[int]:
        r = client.get("/api/v1/analytics/customers", params=params, headers=shop)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"])
        return {c["id"] for c in page["items"]}

    assert listed(segment="new") == {ids["c2"], ids["c4"]}
    assert listed(segment="none") == {ids["c3"]}
    assert listed(r=5, f=5) == {ids["c1"]}
    assert listed(state="new") == {ids["c2"], ids["c4"]}
    assert listed(dim="tier", moved_from="potential", moved_to="high_value") == {ids["c1"]}
    assert listed(dim="segment", moved_from="none", moved_to="new") == {ids["c2"], ids["c4"]}
    assert listed(clv_min=2000, clv_max=5000) == {ids["c2"], ids["c4"]}
    assert listed(cohort="2024-02-01") == {ids["c2"], ids["c4"]}
    assert listed(cohort="2024-01-15", age=1) == {ids["c1"]}
    # The KPI cards' buyers: c3's order is pending; c1 bought on two days of the window.
    window = {"bought_from": "2023-03-02", "bought_to": "2024-02-29"}
    assert listed(**window) == {ids["c1"], ids["c2"], ids["c4"]}
    assert listed(**window, repeat="true") == {ids["c1"]}
    assert listed(**window, shop="tmall") == {ids["c4"]}
    assert listed(bought_from="2024-02-05", bought_to="2024-02-10") == {ids["c2"]}  # both days count
    assert listed(**window, segment="new") == {ids["c2"], ids["c4"]}
    r = client.get("/api/v1/analytics/customers", params={"bought_from": "2024-02-01"}, headers=shop)
    assert (r.status_code, r.json()["error"]) == (400, "bad_drill_down")
    r = client.get("/api/v1/analytics/customers", params={"repeat": "true"}, headers=shop)
    assert (r.status_code, r.json()["error"]) == (400, "bad_drill_down")
    page = client.get("/api/v1/analytics/customers", params={"tier": "general"}, headers=shop).json()
    assert page["items"][0]["phone"] is None  # masked for a role without customers:pii
    assert (page["page"], page["per_page"], page["total"]) == (1, 25, 1)


def test_analytics_endpoints_need_customers_read(client: TestClient, engine: Engine) -> None:
    h = key(engine, "marketer", ["customers:write"])
    for path in ("rfm", "segments", "tiers", "states", "kpis", "cohorts", "clv", "churn-risk"):
        r = client.get(f"/api/v1/analytics/{path}", headers=h)
        assert (r.status_code, r.json()["error"]) == (403, "permission_denied"), path
    r = client.get("/api/v1/analytics/customers", params={"segment": "new"}, headers=h)
    assert (r.status_code, r.json()["data"]) == (403, {"scope": "customers:read"})


def test_analytics_bad_parameters(client: TestClient, engine: Engine, shop: dict[str, str]) -> None:
    hand_run(engine, date(2024, 2, 29), FEBRUARY)
    r = client.get("/api/v1/analytics/kpis", params={"by": "weather"}, headers=shop)
    assert (r.status_code, r.json()) == (
        400,
        {
            "error": "unknown_slice",
            "detail": "unknown slice 'weather': use one of shop, channel, category, segment",
            "data": {"by": "weather"},
        },
    )
    r = client.get("/api/v1/analytics/kpis", params={"value": "site"}, headers=shop)
    assert (r.status_code, r.json()["error"]) == (400, "unknown_slice")
    r = client.get("/api/v1/analytics/customers", params={"r": 9}, headers=shop)
    assert (r.status_code, r.json()["detail"]) == (
        400,
        "bad drill-down: r must be a score from 1 to 5, not 9",
    )
    r = client.get("/api/v1/analytics/customers", headers=shop)
    assert (r.status_code, r.json()["detail"]) == (400, "give at least one drill-down filter")
    r = client.get("/api/v1/analytics/customers", params={"moved_to": "new"}, headers=shop)
    assert (r.status_code, r.json()["error"]) == (404, "no_previous_run")
    for path, params in (("clv", {"lang": "fr"}), ("kpis", {"months": 0}), ("customers", {"r": "five"})):
        r = client.get(f"/api/v1/analytics/{path}", params=params, headers=shop)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), path


# -- value-tier policies and moves ---------------------------------------------------------------


def test_tier_policies_recalibration_and_moves(client: TestClient, engine: Engine) -> None:
    reader = key(engine, "read_only", ["customers:read"])
    analyst = key(engine, "analyst", ["customers:read", "analytics:run"])
    assert client.get("/api/v1/tier-policies", headers=reader).json() == []
    r = client.post("/api/v1/tier-policies", json={}, headers=analyst)
    assert (r.status_code, r.json()["error"]) == (404, "score_run_not_found")  # nothing to fit on yet
    for as_of in ("2024-02-05", "2024-03-01"):
        assert client.post("/api/v1/analyze", json={"as_of": as_of}, headers=analyst).status_code == 201
    (initial,) = client.get("/api/v1/tier-policies", headers=reader).json()
    assert (initial["version"], initial["reason"], initial["as_of"], initial["customers"]) == (
        1,
        "initial",
        "2024-02-05",
        1,
    )
    r = client.post("/api/v1/tier-policies", json={"weights": {"orders": 1}}, headers=reader)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    r = client.post("/api/v1/tier-policies", json={"weights": {"likes": 1}}, headers=analyst)
    assert (r.status_code, r.json()["error"]) == (400, "tiers_unknown_indicator")
    assert table_rows(engine, "SELECT count(*) FROM tier_policies") == [(1,)]
    r = client.post("/api/v1/tier-policies", json={"weights": {"orders": 1, "spent": 3}}, headers=analyst)
    assert r.status_code == 201, r.text
    policy = r.json()
    assert (policy["version"], policy["reason"], policy["as_of"], policy["customers"]) == (
        2,
        "manual",
        "2024-03-01",
        2,
    )
    assert policy["requested_weights"] == {"orders": 1.0, "spent": 3.0}
    assert policy["weights"] == {"orders": 0.25, "spent": 0.75}
    assert [p["version"] for p in client.get("/api/v1/tier-policies", headers=reader).json()] == [2, 1]
    moves = client.get("/api/v1/tier-changes", headers=reader).json()
    c1 = ids_of(engine)["c1"]
    # The only customer of version 1 (c1, fitted on 5 Feb) has aged a month: score 0.5 → 1/3.
    assert [(m["customer_id"], m["from_tier"], m["to_tier"], m["cause"], m["to_score"]) for m in moves] == [
        (c1, "potential", "low_value", "score", pytest.approx(1 / 3))
    ]
    assert table_rows(engine, "SELECT customer_id, from_tier, to_tier, cause FROM tier_changes") == [
        (c1, "potential", "low_value", "score")
    ]
    assert client.get(f"/api/v1/tier-changes?customer_id={c1 + 1}", headers=reader).json() == []
    assert client.get("/api/v1/tier-changes?limit=0", headers=reader).status_code == 422
