"""The REST API: authentication, scopes, masking, search, the 360 view, uploads, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows, write_csv
from patron.api.app import create_app
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import

HEADER = [
    "order_id",
    "customer_external_id",
    "customer_name",
    "phone",
    "email",
    "status",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
]
ROWS = [
    ["A1", "c1", "张三", "13812345678", "", "completed", "2024-01-05 10:00", "SKU1", 2, "99.50"],
    [
        "A2",
        "c2",
        "Alice",
        "",
        "alice@example.com",
        "completed",
        "2024-02-01 10:00",
        "SKU1",
        1,
        "10",
    ],
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


def test_requires_authentication(client: TestClient) -> None:
    r = client.get("/api/v1/customers")
    assert r.status_code == 401
    assert r.json()["error"] == "not_authenticated"
    r = client.get("/api/v1/customers", headers={"Authorization": "Bearer ptn_nope_nope"})
    assert (r.status_code, r.json()["error"]) == (401, "bad_api_key")


def test_search_by_phone_email_and_360(client: TestClient, engine: Engine) -> None:
    h = key(engine, "admin", ["customers:read", "customers:pii"])
    r = client.get("/api/v1/customers", params={"q": "138 1234 5678"}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1
    assert [(c["name"], c["phone"], c["orders_count"], c["spent_minor"]) for c in body["items"]] == [
        ("张三", "+8613812345678", 1, 19900)
    ]
    r = client.get("/api/v1/customers", params={"q": "ALICE@example.com"}, headers=h)
    assert [c["name"] for c in r.json()["items"]] == ["Alice"]
    cid = body["items"][0]["id"]
    view = client.get(f"/api/v1/customers/{cid}", headers=h).json()
    assert [
        (o["external_id"], o["total_minor"], [ln["sku"] for ln in o["lines"]]) for o in view["orders"]
    ] == [("A1", 19900, ["SKU1"])]
    assert {(i["kind"], i["value"]) for i in view["identities"]} == {
        ("external_id", "c1"),
        ("phone", "+8613812345678"),
    }
    assert [t["kind"] for t in view["timeline"]] == ["order"]
    assert view["masked"] is False


def test_masking_and_scopes(client: TestClient, engine: Engine) -> None:
    h = key(engine, "analyst", ["customers:read", "customers:pii"])  # the role caps the key's scopes
    items = client.get("/api/v1/customers", headers=h).json()["items"]
    assert sorted(((c["phone"], c["email"]) for c in items), key=str) == [
        ("138****5678", None),
        (None, "a***@example.com"),
    ]
    view = client.get(f"/api/v1/customers/{items[-1]['id']}", headers=h).json()
    assert view["masked"] is True
    r = client.post("/api/v1/imports", headers=h, data={"kind": "orders"}, files={"file": ("o.csv", b"x")})
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    assert r.json()["data"] == {"scope": "imports:write"}
    r = client.post("/api/v1/shops", headers=h, json={"code": "x", "name": "x", "platform": "other"})
    assert r.status_code == 403
    assert table_rows(engine, "SELECT COUNT(*) FROM shops WHERE code = 'x'") == [(0,)]


def test_not_found_and_validation(client: TestClient, engine: Engine) -> None:
    h = key(engine, "admin", ["customers:read"])
    r = client.get("/api/v1/customers/999999", headers=h)
    assert (r.status_code, r.json()["error"]) == (404, "customer_not_found")
    r = client.get("/api/v1/customers", params={"per_page": 1000}, headers=h)
    assert (r.status_code, r.json()["error"]) == (422, "validation_error")


def test_upload_import_with_bad_rows(client: TestClient, engine: Engine) -> None:
    h = key(engine, "admin", ["imports:write", "customers:read"])
    csv = "order_id,placed_at,sku,quantity,unit_price\nB1,2024-01-01 10:00,S,1,5\nB2,not a date,S,1,5\n"
    r = client.post(
        "/api/v1/imports",
        headers=h,
        data={"kind": "orders", "shop": "site"},
        files={"file": ("bad.csv", csv.encode())},
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["status"], s["inserted"], s["quarantined"], s["quarantined_by_code"]) == (
        "completed",
        1,
        1,
        {"bad_datetime": 1},
    )
    q = client.get(f"/api/v1/imports/{s['run_id']}/quarantine", headers=h).json()
    assert [(i["row_number"], i["column"], i["code"], i["value"]) for i in q["items"]] == [
        (3, "placed_at", "bad_datetime", "not a date")
    ]
    assert q["items"][0]["raw"]["order_id"] == "B2"
    r = client.post(
        "/api/v1/imports",
        headers=h,
        data={"kind": "nonsense"},
        files={"file": ("b.csv", csv.encode())},
    )
    assert (r.status_code, r.json()["error"]) == (400, "unknown_kind")


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert {
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/imports",
        "/api/v1/imports/{run_id}/quarantine",
        "/api/v1/shops",
    } <= set(spec["paths"])
