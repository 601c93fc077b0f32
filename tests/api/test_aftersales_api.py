"""After-sales over HTTP on both databases: the refund limit, idempotent remedies (also 20 at
once), return policies, agents and canned replies need the desk admin."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows, write_csv
from patron.api.app import create_app
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import

HEADER = ["order_id", "customer_external_id", "email", "status", "placed_at", "sku", "quantity", "unit_price"]


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32, default_timezone="UTC"
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def ticket(client: TestClient, engine: Engine, shops: object, tmp_path: Path) -> dict[str, object]:
    rows = [["A1", "ada", "ada@x.test", "completed", "2026-11-30 10:00", "S", 1, "800.00"]]
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, rows), shop="site"),
        engine=engine,
    )
    admin = api_key(engine, "admin", ["desk:admin", "tickets:read", "tickets:write"])
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    (order_id,) = table_rows(engine, "SELECT id FROM orders")[0]
    (agent_id,) = table_rows(engine, "SELECT id FROM users WHERE email = 'agent@x.test'")[0]
    r = client.put(f"/api/v1/agents/{agent_id}", json={"refund_limit_minor": 20_000}, headers=admin)
    assert r.status_code == 200, r.text
    client.put("/api/v1/return-policies", json={"window_days": 3650}, headers=admin)
    created = client.post("/api/v1/tickets", json={"subject": "坏了", "body": "b", "type": "refund_only",
                                                  "order_id": order_id}, headers=agent)  # fmt: skip
    return {"id": created.json()["ticket"]["id"], "admin": admin, "agent": agent}


def test_remedies_over_http(client: TestClient, engine: Engine, ticket: dict[str, object]) -> None:
    url = f"/api/v1/tickets/{ticket['id']}/remedies"
    agent, admin = ticket["agent"], ticket["admin"]
    review = client.get(f"/api/v1/tickets/{ticket['id']}/review", headers=agent).json()  # type: ignore[arg-type]
    assert (review["window_days"], review["within_window"], review["refundable_minor"]) == (
        3650,
        True,
        80_000,
    )
    body = {"kind": "refund", "key": "k1", "amount_minor": 15_000, "note": "坏了"}
    first = client.post(url, json=body, headers=agent)  # type: ignore[arg-type]
    again = client.post(url, json=body, headers=agent)  # type: ignore[arg-type]
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    r = client.post(url, json={"kind": "refund", "key": "k2", "amount_minor": 25_000}, headers=agent)  # type: ignore[arg-type]
    assert (r.status_code, r.json()["error"]) == (403, "remedy_over_limit")
    r = client.post(url, json={"kind": "refund", "key": "k2", "amount_minor": 25_000}, headers=admin)  # type: ignore[arg-type]
    assert r.status_code == 201  # the desk admin has no limit
    assert table_rows(engine, "SELECT type, amount_minor FROM refunds ORDER BY id") == [
        ("refund_only", 15_000),
        ("refund_only", 25_000),
    ]
    reader = api_key(engine, "read_only", ["tickets:read"])
    r = client.post(url, json={"kind": "refund", "key": "k3", "amount_minor": 1}, headers=reader)
    assert r.status_code == 403
    assert [x["key"] for x in client.get(url, headers=reader).json()] == ["k1", "k2"]


def test_twenty_identical_remedies_at_once_make_one(
    client: TestClient, engine: Engine, ticket: dict[str, object]
) -> None:
    url = f"/api/v1/tickets/{ticket['id']}/remedies"
    body = {"kind": "refund", "key": "same", "amount_minor": 9_900}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post(url, json=body, headers=ticket["agent"]), range(20)))  # type: ignore[arg-type]
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert table_rows(engine, "SELECT count(*) FROM refunds") == [(1,)]


def test_admin_settings_need_the_desk_admin(client: TestClient, engine: Engine) -> None:
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    for method, url, body in (
        ("put", "/api/v1/agents/1", {"capacity": 3}),
        ("put", "/api/v1/return-policies", {"window_days": 30}),
        ("put", "/api/v1/canned-replies/hi/en", {"body": "Hi {customer_name}"}),
    ):
        r = getattr(client, method)(url, json=body, headers=agent)
        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    admin = api_key(engine, "admin", ["desk:admin", "tickets:read"])
    r = client.put("/api/v1/canned-replies/hi/en", json={"body": "Hi {nickname}"}, headers=admin)
    assert (r.status_code, r.json()["error"]) == (400, "canned_bad_placeholder")
    assert (
        client.put(
            "/api/v1/canned-replies/hi/en", json={"body": "Hi {customer_name}"}, headers=admin
        ).status_code
        == 200
    )
    assert client.get("/api/v1/canned-replies?lang=en", headers=agent).json() == [
        {"name": "hi", "lang": "en", "body": "Hi {customer_name}"}
    ]
