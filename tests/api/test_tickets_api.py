"""The service desk over HTTP on both databases: agents' queue and ticket, permissions, SLA
administration, and the public form with its tracking link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows
from patron.api.app import create_app
from patron.core.settings import Settings


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32, default_timezone="UTC"
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_an_agent_works_a_ticket(client: TestClient, engine: Engine) -> None:
    admin = api_key(engine, "admin", ["desk:admin", "tickets:read", "tickets:write"])
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    r = client.post(
        "/api/v1/sla-policies",
        json={
            "name": "urgent first",
            "position": 1,
            "match": {"priority": ["urgent"]},
            "first_response_minutes": 15,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    client.post(
        "/api/v1/sla-policies",
        json={"name": "all", "position": 9, "first_response_minutes": 240},
        headers=admin,
    )
    low = client.post(
        "/api/v1/tickets", json={"subject": "Invoice", "body": "Need a fapiao"}, headers=agent
    ).json()
    hot = client.post(
        "/api/v1/tickets",
        json={"subject": "Refund!", "body": "Charged twice", "priority": "urgent"},
        headers=agent,
    ).json()
    assert [s["target_minutes"] for s in hot["slas"]] == [15]
    assert [s["target_minutes"] for s in low["slas"]] == [240]
    assert (hot["ticket"]["reference"], hot["ticket"]["channel"], hot["ticket"]["status"]) == (
        f"T-{hot['ticket']['id']:06d}",
        "api",
        "new",
    )
    queue = client.get("/api/v1/tickets", headers=agent).json()
    assert [t["id"] for t in queue["items"]] == [hot["ticket"]["id"], low["ticket"]["id"]]  # urgent first
    assert queue["items"][0]["sla"]["state"] == "warning"  # 15 minutes, warned 30 before: at once
    assert queue["items"][1]["sla"]["state"] == "running"
    tid = hot["ticket"]["id"]
    r = client.post(
        f"/api/v1/tickets/{tid}/messages", json={"body": "Refunded the double charge."}, headers=agent
    )
    assert r.status_code == 201
    r = client.post(f"/api/v1/tickets/{tid}/status", json={"status": "resolved"}, headers=agent)
    assert r.json()["status"] == "resolved"
    r = client.post(f"/api/v1/tickets/{tid}/status", json={"status": "new"}, headers=agent)
    assert (r.status_code, r.json()["error"], r.json()["data"]["allowed"]) == (
        409,
        "ticket_bad_transition",
        ["reopened", "closed"],
    )
    detail = client.get(f"/api/v1/tickets/{tid}", headers=agent).json()
    assert [m["kind"] for m in detail["messages"]] == ["customer", "reply"]
    assert [s["state"] for s in detail["slas"]] == ["met"]
    assert [e["action"] for e in detail["events"]] == [
        "created",
        "sla_policy",
        "status",
        "reply",
        "csat_requested",
        "status",
    ]
    assert client.get("/api/v1/tickets?status=resolved", headers=agent).json()["total"] == 1
    assert client.get(f"/api/v1/tickets?q=T-{tid:06d}", headers=agent).json()["total"] == 1
    report = client.get("/api/v1/sla/compliance?by=priority", headers=agent).json()
    assert [(r["group"], r["target"], r["met"], r["in_progress"]) for r in report] == [
        ("normal", "first_response", 0, 1),
        ("urgent", "first_response", 1, 0),
    ]


def test_permissions_and_nothing_written_when_denied(client: TestClient, engine: Engine) -> None:
    reader = api_key(engine, "read_only", ["tickets:read"])
    r = client.post("/api/v1/tickets", json={"subject": "s", "body": "b"}, headers=reader)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    r = client.post("/api/v1/sla-policies", json={"name": "x", "first_response_minutes": 5}, headers=reader)
    assert r.status_code == 403
    assert table_rows(engine, "SELECT count(*) FROM tickets") == [(0,)]
    assert table_rows(engine, "SELECT count(*) FROM sla_policies") == [(0,)]
    assert client.get("/api/v1/tickets").status_code == 401


def test_bad_sla_administration(client: TestClient, engine: Engine) -> None:
    admin = api_key(engine, "admin", ["desk:admin"])
    cases = [
        ({"name": "x"}, 400, "sla_no_target"),
        ({"name": "x", "first_response_minutes": 5, "match": {"mood": ["angry"]}}, 400, "sla_bad_match"),
        ({"name": "x", "first_response_minutes": 0}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = client.post("/api/v1/sla-policies", json=body, headers=admin)
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
    r = client.post("/api/v1/teams", json={"name": "EU", "timezone": "Mars/Olympus"}, headers=admin)
    assert (r.status_code, r.json()["error"]) == (400, "sla_bad_timezone")
    r = client.post(
        "/api/v1/teams",
        json={
            "name": "EU",
            "timezone": "Europe/Berlin",
            "hours": {"0": [{"start": "18:00", "end": "09:00"}]},
        },
        headers=admin,
    )
    assert (r.status_code, r.json()["error"]) == (400, "sla_bad_hours")
    assert table_rows(engine, "SELECT count(*) FROM teams") == [(0,)]


def test_the_public_form_and_tracking_link(client: TestClient, engine: Engine) -> None:
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    r = client.post(
        "/api/v1/public/tickets",
        json={
            "subject": "尺码不对",
            "body": "想换大一号",
            "type": "exchange",
            "name": "小王",
            "email": "wang@x.test",
        },
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    token = mine["tracking_url"].rsplit("/", 1)[1]
    assert mine["status"] == "new"
    assert mine["messages"][0]["body"] == "想换大一号"
    tid = int(mine["reference"][2:])
    client.post(f"/api/v1/tickets/{tid}/messages", json={"body": "客户很急", "internal": True}, headers=agent)
    client.post(f"/api/v1/tickets/{tid}/messages", json={"body": "已安排换货"}, headers=agent)
    seen = client.get(f"/api/v1/public/tickets/{token}").json()
    assert [m["body"] for m in seen["messages"]] == ["想换大一号", "已安排换货"]  # no internal note
    r = client.post(f"/api/v1/public/tickets/{token}/messages", json={"body": "谢谢！"})
    assert r.status_code == 201
    assert [m["body"] for m in r.json()["messages"]][-1] == "谢谢！"
    assert client.get("/api/v1/public/tickets/not-a-token").status_code == 404
    r = client.post(
        "/api/v1/public/tickets", json={"subject": "x", "body": "y", "name": "n", "email": "not-an-email"}
    )
    assert r.status_code == 422
    assert table_rows(engine, "SELECT count(*) FROM tickets") == [(1,)]
