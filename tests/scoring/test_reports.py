"""The read side of the analytics on SQLite and PostgreSQL: KPI cards and monthly trends per
slice, cohorts, group sizes and movements, CLV bands and drill-downs, all on a hand-built shop
whose every figure is worked out below.

Orders (imported for real; 10:00 UTC; TEE is in 服饰 > 上衣, MUG in 家居 > 杯子, SOCK unknown):

    site    S1 a 2024-01-10 TEE 100.00        tmall   T1 c 2024-02-15 TEE 200.00
            S2 a 2024-03-05 TEE 50 + MUG 30           T2 c 2024-06-20 TEE 100.00
            S3 b 2024-06-01 MUG 2 x 20.00             T3 f 2023-03-01 TEE 60.00
            S5 b 2024-06-25 MUG 20.00         shopify U1 d 2024-05-10 SOCK 10.00 USD (x 7.1)
            S4 e 2024-04-01 cancelled

Scores are written by hand (two runs, as of 2024-03-31 and 2024-06-30) so the groups are
known exactly whatever the models would say.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from conftest import table_rows, write_csv
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.core.errors import InvalidInput, NotFound
from patron.customers import service as customers
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import CustomerScore, ScoreRun
from patron.scoring import reports

HEADER = ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"]
PRODUCTS = ["sku", "title", "title_en", "category_path", "brand", "price", "currency", "shop"]
AS_OF = date(2024, 6, 30)
EMPTY = dict(reports.EMPTY_CARD)


def card(orders: int, revenue: int, aov: int, frequency: float, repurchase: float) -> dict[str, Any]:
    return {
        "orders": orders,
        "revenue_minor": revenue,
        "aov_minor": aov,
        "frequency": frequency,
        "repurchase_rate": repurchase,
    }


def build_shop(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """Import the shop of the module docstring; the customer id of every external id."""
    products = [
        ["TEE", "T恤", "Tee", "服饰 > 上衣", "", "100", "", ""],
        ["MUG", "杯子", "Mug", "家居 > 杯子", "", "20", "", ""],
    ]
    run_import(
        ImportRequest(
            kind="products", path=write_csv(tmp_path / "p.csv", PRODUCTS, products), mapping="patron_products"
        ),
        engine=engine,
    )
    files = {
        "site": [
            ["S1", "a", "completed", "2024-01-10 10:00:00", "TEE", 1, "100.00"],
            ["S2", "a", "completed", "2024-03-05 10:00:00", "TEE", 1, "50.00"],
            ["S2", "a", "completed", "2024-03-05 10:00:00", "MUG", 1, "30.00"],
            ["S3", "b", "completed", "2024-06-01 10:00:00", "MUG", 2, "20.00"],
            ["S5", "b", "completed", "2024-06-25 10:00:00", "MUG", 1, "20.00"],
            ["S4", "e", "cancelled", "2024-04-01 10:00:00", "TEE", 1, "999.00"],
        ],
        "tmall": [
            ["T1", "c", "completed", "2024-02-15 10:00:00", "TEE", 1, "200.00"],
            ["T2", "c", "completed", "2024-06-20 10:00:00", "TEE", 1, "100.00"],
            ["T3", "f", "completed", "2023-03-01 10:00:00", "TEE", 1, "60.00"],
        ],
        "shopify": [["U1", "d", "completed", "2024-05-10 10:00:00", "SOCK", 1, "10.00"]],
    }
    for shop, rows in files.items():
        summary = run_import(
            ImportRequest(kind="orders", path=write_csv(tmp_path / f"{shop}.csv", HEADER, rows), shop=shop),
            engine=engine,
        )
        assert summary.quarantined == 0
    with session_scope(engine) as s:
        commerce.set_fx_rate(s, "USD", "CNY", date(2024, 1, 1), "7.1")
    ids = dict(table_rows(engine, "SELECT value, customer_id FROM identities WHERE kind = 'external_id'"))
    return {str(k): int(v) for k, v in ids.items()}  # type: ignore[call-overload]


def add_run(engine: Engine, as_of: date, ids: dict[str, int], scores: dict[str, dict[str, Any]]) -> int:
    """A completed scoring run with the given scores (every customer not listed a prospect)."""
    with session_scope(engine) as s:
        run = ScoreRun(
            as_of=as_of, status="completed", customers=len(ids), reporting_currency="CNY", actor="t"
        )
        s.add(run)
        s.flush()
        for ext, cid in ids.items():
            values = {"orders": 0, "spent_minor": 0, "state": "prospect"} | scores.get(ext, {})
            s.add(CustomerScore(run_id=run.id, customer_id=cid, **values))
        return run.id


MARCH = {
    "a": {"segment": "new", "tier": "potential", "state": "active", "clv_minor": 5000},
    "c": {"segment": "new", "tier": "high_value", "state": "active", "clv_minor": 20000},
    "f": {"segment": "lost", "tier": "low_value", "state": "churned", "clv_minor": 100},
}
JUNE = {
    "a": {"segment": "champions", "tier": "high_value", "state": "active", "r_score": 5, "f_score": 5,
          "clv_minor": 15000, "orders": 2, "spent_minor": 18000, "purchase_probability": 0.6},
    "b": {"segment": "new", "tier": "general", "state": "new", "r_score": 5, "f_score": 3,
          "clv_minor": 2500, "orders": 2, "spent_minor": 6000},
    "c": {"segment": "loyal", "tier": "high_value", "state": "active", "r_score": 5, "f_score": 5,
          "clv_minor": 45000, "orders": 2, "spent_minor": 30000, "purchase_probability": 0.3},
    "d": {"segment": "new", "tier": "low_value", "state": "new", "r_score": 4, "f_score": 1,
          "clv_minor": 900, "orders": 1, "spent_minor": 7100},
    "f": {"segment": "lost", "tier": "low_value", "state": "churned", "r_score": 1, "f_score": 1,
          "clv_minor": 0, "orders": 1, "spent_minor": 6000},
}  # fmt: skip


@pytest.fixture
def shop(engine: Engine, shops: object, tmp_path: Path) -> tuple[Engine, dict[str, int]]:
    return engine, build_shop(engine, tmp_path)


@pytest.fixture
def scored(shop: tuple[Engine, dict[str, int]]) -> tuple[Engine, dict[str, int]]:
    engine, ids = shop
    add_run(engine, date(2024, 3, 31), ids, MARCH)
    add_run(engine, AS_OF, ids, JUNE)
    return shop


def kpi(session: Session, **kw: Any) -> dict[str, Any]:
    return reports.kpi_slices(session, currency="CNY", as_of=AS_OF, **kw)


def test_kpi_cards_and_monthly_trend_of_the_whole_shop(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = shop
    with session_scope(engine) as s:
        out = kpi(s)
    assert (out["as_of"], out["currency"], out["by"]) == (AS_OF, "CNY", None)
    (whole,) = out["slices"]
    assert whole["value"] is None
    # 12 months to 2024-06-30: every order but T3 and the cancelled S4; U1 is 10.00 USD at 7.1.
    assert whole["current"] == card(7, 61100, 8729, 1.75, 0.75)
    assert whole["previous"] == card(1, 6000, 6000, 1.0, 0.0)
    months = whole["months"]
    assert [m["month"] for m in months] == [date(2023, m, 1) for m in range(7, 13)] + [
        date(2024, m, 1) for m in range(1, 7)
    ]
    assert [(m["orders"], m["revenue_minor"]) for m in months[6:]] == [
        (1, 10000),  # January: S1
        (1, 20000),  # February: T1
        (1, 8000),  # March: S2
        (0, 0),
        (1, 7100),  # May: U1
        (3, 16000),  # June: S3, T2, S5
    ]
    assert months[0] == {
        "month": date(2023, 7, 1),
        "orders": 0,
        "revenue_minor": 0,
        "aov_minor": None,
        "repurchase_rate": None,
    }
    # June: b bought on the 1st and the 25th, c once: one repeat buyer of two.
    assert (months[-1]["aov_minor"], months[-1]["repurchase_rate"]) == (5333, 0.5)


def test_kpis_by_shop_and_by_channel(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = shop
    with session_scope(engine) as s:
        by_shop = kpi(s, by="shop")
        by_channel = kpi(s, by="channel")
        tmall = kpi(s, by="shop", value="tmall", months=2)
        wechat = kpi(s, by="shop", value="wechat", months=1)
    figures = [(x["value"], x["current"], x["previous"]) for x in by_shop["slices"]]
    assert figures == [
        ("shopify", card(1, 7100, 7100, 1.0, 0.0), EMPTY),
        ("site", card(4, 24000, 6000, 2.0, 1.0), EMPTY),
        ("tmall", card(2, 30000, 15000, 2.0, 1.0), card(1, 6000, 6000, 1.0, 0.0)),
    ]
    # A channel is the shop's platform: the same figures under other names.
    assert [x["value"] for x in by_channel["slices"]] == ["own_site", "shopify", "taobao"]
    shop_of = {"own_site": "site", "shopify": "shopify", "taobao": "tmall"}
    current = {value: c for value, c, _ in figures}
    assert [x["current"] for x in by_channel["slices"]] == [current[shop_of[c]] for c in shop_of]
    (only,) = tmall["slices"]
    assert [(m["month"], m["orders"], m["revenue_minor"]) for m in only["months"]] == [
        (date(2024, 5, 1), 0, 0),
        (date(2024, 6, 1), 1, 10000),
    ]
    # A shop that sold nothing is one empty slice, not a missing one.
    assert wechat["slices"] == [
        {
            "value": "wechat",
            "current": EMPTY,
            "previous": EMPTY,
            "months": [
                {"month": date(2024, 6, 1), "orders": 0, "revenue_minor": 0, "aov_minor": None,
                 "repurchase_rate": None}
            ],
        }
    ]  # fmt: skip


def test_kpis_by_category_count_each_category_of_an_order(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = shop
    with session_scope(engine) as s:
        out = kpi(s, by="category")
    figures = [(x["value"], x["current"], x["previous"]) for x in out["slices"]]
    assert figures == [
        # S2 is in both: its mug (30.00) here, its tee (50.00) under 服饰. b bought mugs twice.
        ("家居", card(3, 9000, 3000, 1.5, 0.5), EMPTY),
        ("服饰", card(4, 45000, 11250, 2.0, 1.0), card(1, 6000, 6000, 1.0, 0.0)),
        (None, card(1, 7100, 7100, 1.0, 0.0), EMPTY),  # SOCK is no known product
    ]
    assert sum(c["revenue_minor"] for _, c, _ in figures) == 61100


def test_kpis_by_segment_of_the_latest_run(scored: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = scored
    with session_scope(engine) as s:
        out = kpi(s, by="segment")
    assert [(x["value"], x["current"], x["previous"]) for x in out["slices"]] == [
        ("champions", card(2, 18000, 9000, 2.0, 1.0), EMPTY),
        ("lost", EMPTY, card(1, 6000, 6000, 1.0, 0.0)),
        ("loyal", card(2, 30000, 15000, 2.0, 1.0), EMPTY),
        ("new", card(3, 13100, 4367, 1.5, 0.5), EMPTY),
    ]


def test_an_unknown_slice_is_refused_with_the_choices(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = shop
    with session_scope(engine) as s:
        with pytest.raises(InvalidInput) as err:
            kpi(s, by="weather")
        assert (err.value.code, err.value.message) == (
            "unknown_slice",
            "unknown slice 'weather': use one of shop, channel, category, segment",
        )
        with pytest.raises(InvalidInput):
            kpi(s, value="site")


def test_cohorts_of_the_last_twelve_months(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = shop
    with session_scope(engine) as s:
        out = reports.cohorts(s, currency="CNY", as_of=AS_OF)
    # f's first purchase (2023-03) is older than the last 12 cohorts.
    assert out["rows"] == [
        {"cohort": date(2024, 1, 1), "customers": 1, "active": [1, 0, 1, 0, 0, 0],
         "share": [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]},
        {"cohort": date(2024, 2, 1), "customers": 1, "active": [1, 0, 0, 0, 1],
         "share": [1.0, 0.0, 0.0, 0.0, 1.0]},
        {"cohort": date(2024, 5, 1), "customers": 1, "active": [1, 0], "share": [1.0, 0.0]},
        {"cohort": date(2024, 6, 1), "customers": 1, "active": [1], "share": [1.0]},
    ]  # fmt: skip


def test_group_sizes_and_movements_between_the_last_two_runs(scored: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = scored
    with session_scope(engine) as s:
        run, previous = reports.latest(s)
        assert (run.as_of, previous and previous.as_of) == (AS_OF, date(2024, 3, 31))
        segments = reports.groups(s, run, previous, "segment")
        tiers = reports.groups(s, run, previous, "tier")
        grid = reports.rfm_grid(s, run)
        with pytest.raises(InvalidInput):
            reports.groups(s, run, previous, "mood")
    assert segments["groups"] == [
        ("new", 2, 3400),
        ("champions", 1, 15000),
        ("lost", 1, 0),
        ("loyal", 1, 45000),
        (None, 1, None),  # e, a prospect
    ]
    # b and d bought for the first time; e and f stayed where they were.
    assert segments["movements"] == [(None, "new", 2), ("new", "champions", 1), ("new", "loyal", 1)]
    assert tiers["groups"] == [
        ("high_value", 2, 60000),
        ("low_value", 2, 900),
        ("general", 1, 2500),
        (None, 1, None),
    ]
    assert tiers["movements"] == [
        (None, "general", 1),
        (None, "low_value", 1),
        ("potential", "high_value", 1),
    ]
    assert grid == [
        {"r": 5, "f": 5, "customers": 2, "spent_minor": 48000},
        {"r": 5, "f": 3, "customers": 1, "spent_minor": 6000},
        {"r": 4, "f": 1, "customers": 1, "spent_minor": 7100},
        {"r": 1, "f": 1, "customers": 1, "spent_minor": 6000},
    ]


def test_clv_bands_grow_by_1_2_5() -> None:
    assert reports.clv_edges(0) == [0, 1]
    assert reports.clv_edges(7) == [0, 1, 2, 5, 10]
    assert reports.clv_edges(45000) == [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]
    assert reports.clv_edges(50000, bands=3) == [0, 20000, 50000, 100000]


def test_clv_distribution_and_top_lists(scored: tuple[Engine, dict[str, int]]) -> None:
    engine, ids = scored
    with session_scope(engine) as s:
        run, _ = reports.latest(s)
        bands = reports.clv_distribution(s, run)
        top = reports.top_customers(s, run, "clv", lang="zh", limit=2)
        risk = reports.top_customers(s, run, "risk")
    edges = [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]
    assert [(b["min_minor"], b["max_minor"]) for b in bands] == list(pairwise(edges))
    assert [(b["customers"], b["clv_minor"]) for b in bands] == [
        (1, 0), (0, 0), (0, 0), (0, 0), (1, 900), (0, 0), (1, 2500), (0, 0), (1, 15000), (1, 45000)
    ]  # fmt: skip
    assert [t["customer_id"] for t in top] == [ids["c"], ids["a"]]
    assert (
        top[0]["explanation"]
        == "未来 90 天内购买的可能性 30%；分群：忠诚客户；价值层级：高价值；生命周期：活跃"
    )
    # High value and potential customers least likely to buy first; b (general) is left out.
    assert [(r["customer_id"], r["purchase_probability"]) for r in risk] == [(ids["c"], 0.3), (ids["a"], 0.6)]


def drilled(engine: Engine, **kw: Any) -> set[str]:
    """The external ids of the customers a drill-down lists (through the real customer search)."""
    names = {v: k for k, v in dict(table_rows(engine, "SELECT value, customer_id FROM identities")).items()}
    with session_scope(engine) as s:
        within = reports.drill_down(s, reports.Drill(**kw))
        items, total = customers.search(
            s, customers.SearchFilter(within=within), offset=0, limit=50, reporting_currency="CNY", pii=False
        )
    assert total == len(items)
    return {str(names[c.id]) for c in items}


def test_drill_down_lists_exactly_the_customers_behind_a_number(
    scored: tuple[Engine, dict[str, int]],
) -> None:
    engine, _ = scored
    assert drilled(engine, segment="new") == {"b", "d"}
    assert drilled(engine, segment="none") == {"e"}
    assert drilled(engine, tier="high_value") == {"a", "c"}
    assert drilled(engine, state="prospect") == {"e"}
    assert drilled(engine, r=5, f=5) == {"a", "c"}
    assert drilled(engine, r=5) == {"a", "b", "c"}
    assert drilled(engine, segment="new", r=4) == {"d"}
    assert drilled(engine, dim="segment", moved_from="none", moved_to="new") == {"b", "d"}
    assert drilled(engine, dim="segment", moved_from="new") == {"a", "c"}
    assert drilled(engine, dim="tier", moved_from="potential", moved_to="high_value") == {"a"}
    assert drilled(engine, dim="tier", moved_from="high_value", moved_to="low_value") == set()
    assert drilled(engine, clv_min=10000, clv_max=20000) == {"a"}
    assert drilled(engine, clv_min=0, clv_max=50) == {"f"}
    assert drilled(engine, cohort=date(2024, 2, 1)) == {"c"}
    assert drilled(engine, cohort=date(2024, 1, 20), age=2) == {"a"}  # any day names its month
    assert drilled(engine, cohort=date(2024, 1, 1), age=1) == set()
    assert drilled(engine, cohort=date(2023, 3, 1)) == {"f"}
    assert drilled(engine, tier="high_value", cohort=date(2024, 2, 1)) == {"c"}
    with session_scope(engine) as s:
        assert reports.drill_down(s, reports.Drill()) is None


def test_bad_drill_downs_say_what_is_wrong(shop: tuple[Engine, dict[str, int]]) -> None:
    engine, ids = shop
    with session_scope(engine) as s:
        with pytest.raises(NotFound) as missing:
            reports.drill_down(s, reports.Drill(segment="new"))
        assert missing.value.code == "no_score_run"
        # A cohort needs no run.
        assert reports.drill_down(s, reports.Drill(cohort=date(2024, 1, 1))) is not None
        with pytest.raises(InvalidInput) as bad:
            reports.drill_down(s, reports.Drill(r=9, dim="mood", clv_min=5, clv_max=5))
        assert bad.value.message == (
            "bad drill-down: r must be a score from 1 to 5, not 9; dim must be segment or tier, not 'mood'; "
            "clv_min must be below clv_max"
        )
    add_run(engine, AS_OF, ids, JUNE)
    with session_scope(engine) as s, pytest.raises(NotFound) as alone:
        reports.drill_down(s, reports.Drill(moved_to="new"))
    assert alone.value.code == "no_previous_run"


def test_dashboard_of_one_slice(scored: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = scored
    with session_scope(engine) as s:
        whole = reports.dashboard(s)
        tmall = reports.dashboard(s, by="shop", value="tmall")
        values = reports.slice_values(s)
        with pytest.raises(InvalidInput):
            reports.dashboard(s, by="shop")
    assert whole is not None
    assert tmall is not None
    assert whole["kpis"]["current"] == card(7, 61100, 8729, 1.75, 0.75)
    assert tmall["kpis"]["current"] == card(2, 30000, 15000, 2.0, 1.0)
    assert [m["orders"] for m in tmall["trend"]] == [0] * 7 + [1, 0, 0, 0, 1]
    # The score blocks and the cohorts never depend on the slice.
    for key in ("segments", "tiers", "movements", "tier_movements", "clv_bands", "cohorts"):
        assert whole[key] == tmall[key], key
    assert [t for t, _, _ in whole["tiers"]] == ["high_value", "general", "low_value", None]
    assert whole["tier_movements"] == [
        (None, "general", 1),
        (None, "low_value", 1),
        ("potential", "high_value", 1),
    ]
    assert [r["cohort"] for r in whole["cohorts"]] == [date(2024, m, 1) for m in (1, 2, 5, 6)]
    assert values == {
        "shop": ["site", "wechat", "tmall", "shopify"],
        "channel": ["own_site", "shopify", "taobao", "wechat_mini"],
        "category": ["家居", "服饰"],
        "segment": ["champions", "lost", "loyal", "new"],
    }
