"""Server-rendered pages without a browser: filters and error pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import write_csv
from patron.accounts import service as accounts
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import

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
