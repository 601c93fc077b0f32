"""Server-rendered pages without a browser: filters and error pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.accounts import service as accounts
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import CustomerScore, ScoreRun, TierChange, TierPolicy

HEADER = [
    "order_id",
    "customer_external_id",
    "customer_name",
    "status",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
]
ROWS = [
    ["A1", "c1", "Big Spender", "completed", "2024-01-05 10:00", "S", 2, "150.00"],
    ["A2", "c2", "Small Spender", "completed", "2024-01-06 10:00", "S", 1, "20.00"],
    ["A3", "c2", "Small Spender", "cancelled", "2024-01-07 10:00", "S", 1, "900.00"],
]


@pytest.fixture
def web(engine: Engine, shops: object, tmp_path: Path) -> Iterator[TestClient]:
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    with session_scope(engine) as s:
        accounts.create_user(s, email="a@x.test", name="A", password="password1", role="admin")
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)
    with TestClient(app) as client:
        r = client.post("/login", data={"email": "a@x.test", "password": "password1"}, follow_redirects=False)
        assert r.status_code == 303
        yield client


def names(html: str) -> list[str]:
    return [n for n in ("Big Spender", "Small Spender") if n in html]


def test_spend_and_order_filters(web: TestClient) -> None:
    assert names(web.get("/customers").text) == ["Big Spender", "Small Spender"]
    # Spend counts valid orders only (the cancelled 900.00 does not make a big spender).
    assert names(web.get("/customers", params={"min_spent": "100"}).text) == ["Big Spender"]
    assert names(web.get("/customers", params={"min_spent": "¥20.00"}).text) == [
        "Big Spender",
        "Small Spender",
    ]
    assert names(web.get("/customers", params={"min_spent": "abc"}).text) == ["Big Spender", "Small Spender"]
    assert names(web.get("/customers", params={"min_orders": "2"}).text) == []


def test_unknown_customer_renders_an_error_page(web: TestClient) -> None:
    r = web.get("/customers/999999")
    assert r.status_code == 404
    assert "customer_not_found" in r.text


def test_anonymous_visit_keeps_the_query_for_after_login(
    engine: Engine, shops: object, tmp_path: Path
) -> None:
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)
    with TestClient(app) as client:
        r = client.get("/customers?q=x", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/customers%3Fq%3Dx")


# -- the analytics page and its drill-down into the customer list ---------------------------------
# Scores written by hand: everyone a prospect as of 2023-12-31, then Big Spender a champion of
# high value and Small Spender a new customer of potential as of 2024-01-31.

SCORES: dict[str, dict[str, Any]] = {
    "c1": {"segment": "champions", "tier": "high_value", "state": "active", "r_score": 5, "f_score": 5,
           "orders": 1, "spent_minor": 30000, "clv_minor": 50000, "purchase_probability": 0.5},
    "c2": {"segment": "new", "tier": "potential", "state": "new", "r_score": 4, "f_score": 1,
           "orders": 1, "spent_minor": 2000, "clv_minor": 1500, "purchase_probability": 0.2},
}  # fmt: skip


@pytest.fixture
def scored(web: TestClient, engine: Engine) -> TestClient:
    ids = dict(table_rows(engine, "SELECT value, customer_id FROM identities"))
    for as_of, scores in ((date(2023, 12, 31), {}), (date(2024, 1, 31), SCORES)):
        with session_scope(engine) as s:
            run = ScoreRun(as_of=as_of, status="completed", customers=2, reporting_currency="CNY", actor="t")
            s.add(run)
            s.flush()
            for ext, cid in ids.items():
                values = {"orders": 0, "spent_minor": 0, "state": "prospect"} | scores.get(str(ext), {})
                s.add(CustomerScore(run_id=run.id, customer_id=cid, **values))
    return web


def links(html: str) -> set[str]:
    return {href.replace("&amp;", "&") for href in re.findall(r'href="(/customers\?[^"]+)"', html)}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_analytics_page_in_both_languages(scored: TestClient, lang: str) -> None:
    scored.get(f"/lang/{lang}")
    html = scored.get("/analytics").text
    words = {
        "en": ["Customer analytics", "Tier moves since 2023-12-31", "CLV distribution (12 months)",
               "Retention by first-purchase month", "KPIs for", "the whole shop"],
        "zh": ["客户分析", "自 2023-12-31 以来的价值层级变化", "客户价值分布（未来 12 个月）", "按首购月份的留存",
               "KPI 范围", "全店"],
    }[lang]  # fmt: skip
    assert [w for w in words if w not in html] == []
    # KPI cards of the 12 months to 2024-01-31, each trend one bar per month (the last one now).
    assert "320.00 CNY" in html
    assert html.count('<svg class="spark"') == 4
    assert html.count('class="now"') == 4
    assert "2024-01: 320.00 CNY" in html  # the revenue bar's tooltip
    # Every number links to its customers.
    assert {
        "/customers?r=5&f=5",
        "/customers?r=4&f=1",
        "/customers?segment=champions",
        "/customers?segment=new",
        "/customers?tier=high_value",
        "/customers?state=active",
        "/customers?dim=segment&moved_from=none&moved_to=champions",
        "/customers?dim=tier&moved_from=none&moved_to=potential",
        "/customers?clv_min=1000&clv_max=2000",
        "/customers?clv_min=50000&clv_max=100000",
        "/customers?cohort=2024-01",
        "/customers?repeat=1&bought_from=2023-02-01&bought_to=2024-01-31",
        "/customers?bought_from=2023-02-01&bought_to=2024-01-31",
    } <= links(html)
    # The slicer offers the shops, channels and segments by name.
    slicer = html[html.index('id="slicer"') : html.index("</form>", html.index('id="slicer"'))]
    assert '<option value="shop:site" >Own site</option>' in slicer  # no Chinese name given
    assert ('value="channel:taobao" >Taobao<' if lang == "en" else 'value="channel:taobao" >淘宝<') in slicer
    assert ('value="segment:champions" >Champions<' if lang == "en" else ">重要价值客户<") in slicer


def test_the_slicer_narrows_the_kpi_cards(scored: TestClient) -> None:
    site = scored.get("/analytics", params={"slice": "shop:site"}).text
    assert '<option value="shop:site" selected>' in site
    assert "320.00 CNY" in site
    tmall = scored.get("/analytics", params={"slice": "shop:tmall"}).text
    kpis = tmall[tmall.index('id="kpis"') : tmall.index('id="rfm-grid"')]
    assert "320.00 CNY" not in kpis
    # The cards link to their buyers, in the slice's shop or segment.
    window = "bought_from=2023-02-01&amp;bought_to=2024-01-31"
    assert f'<strong><a href="/customers?{window}&amp;shop=tmall">0.00 CNY</a></strong>' in kpis
    champions = scored.get("/analytics", params={"slice": "segment:champions"}).text
    assert f'<strong><a href="/customers?{window}&amp;segment=champions">300.00 CNY</a></strong>' in champions
    r = scored.get("/analytics", params={"slice": "weather:rain"})
    assert r.status_code == 400
    assert "unknown slice &#39;weather&#39;" in r.text


def test_drill_down_filters_the_customer_list_with_a_removable_chip(scored: TestClient) -> None:
    def chip(html: str) -> str:
        found = re.search(r'<p id="drill"><span class="chip on">(.*?) <a href="([^"]*)"', html)
        return f"{found.group(1)} | {found.group(2).replace('&amp;', '&')}" if found else ""

    page = scored.get("/customers", params={"segment": "champions"}).text
    assert names(page) == ["Big Spender"]
    assert chip(page) == "From analytics: Segment: Champions | /customers"
    page = scored.get("/customers", params={"r": "4", "f": "1", "min_orders": "1"}).text
    assert names(page) == ["Small Spender"]
    assert chip(page) == "From analytics: R 4 · F 1 | /customers?min_orders=1"
    # The search form keeps the drill-down when the other filters change.
    assert '<input type="hidden" name="r" value="4">' in page
    page = scored.get(
        "/customers", params={"dim": "tier", "moved_from": "none", "moved_to": "high_value"}
    ).text
    assert names(page) == ["Big Spender"]
    assert chip(page) == "From analytics: Value tier none → high value | /customers"
    page = scored.get("/customers", params={"clv_min": "1000", "clv_max": "2000"}).text
    assert names(page) == ["Small Spender"]
    assert chip(page) == "From analytics: CLV 10.00 CNY – 20.00 CNY | /customers"
    page = scored.get("/customers", params={"cohort": "2024-01", "q": "Big"}).text
    assert names(page) == ["Big Spender"]
    assert chip(page) == "From analytics: First purchase in 2024-01 | /customers?q=Big"
    assert names(scored.get("/customers", params={"state": "churned"}).text) == []
    scored.get("/lang/zh")
    page = scored.get("/customers", params={"tier": "potential"}).text
    assert chip(page) == "来自客户分析: 价值层级：潜力 | /customers"
    assert names(scored.get("/customers").text) == ["Big Spender", "Small Spender"]
    assert 'id="drill"' not in scored.get("/customers").text


def test_a_bad_drill_down_renders_an_error_page(scored: TestClient) -> None:
    r = scored.get("/customers", params={"r": "abc"})
    assert r.status_code == 400
    assert "bad drill-down: r must be a whole number, not &#39;abc&#39;" in r.text
    r = scored.get("/customers", params={"r": "7"})
    assert r.status_code == 400
    assert "bad_drill_down" in r.text


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("en", "potential → high value</td><td>tier thresholds recalibrated (policy v1)"),
        ("zh", "潜力 → 高价值</td><td>等级阈值重新校准（策略 v1）"),
    ],
)
def test_the_360_page_shows_tier_moves_with_their_cause(
    scored: TestClient, engine: Engine, lang: str, shown: str
) -> None:
    ids = dict(table_rows(engine, "SELECT value, customer_id FROM identities"))
    (first, second) = (r for (r,) in table_rows(engine, "SELECT id FROM score_runs ORDER BY id"))
    assert "tier-moves" not in scored.get(f"/customers/{ids['c1']}").text
    with session_scope(engine) as s:
        policy = TierPolicy(
            reason="initial", actor="t", as_of=date(2023, 12, 31), customers=2, weights={}, model={}
        )
        s.add(policy)
        s.flush()
        s.add(
            TierChange(
                run_id=second,
                previous_run_id=first,
                customer_id=ids["c1"],
                from_tier="potential",
                to_tier="high_value",
                policy_id=policy.id,
                previous_policy_id=policy.id,
                cause="recalibration",
            )
        )
    scored.get(f"/lang/{lang}")
    html = scored.get(f"/customers/{ids['c1']}").text
    assert 'id="tier-moves"' in html
    assert "<td>2024-01-31</td><td>" + shown in html
    assert "tier-moves" not in scored.get(f"/customers/{ids['c2']}").text
