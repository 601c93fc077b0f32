"""The ledger under concurrency, over real HTTP (uvicorn on loopback) on both databases: 200
redemptions at once against one 100-point balance, and the same request sent 50 times at once
under one idempotency key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from test_ledger import members

from conftest import api_key, serve, table_rows
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.core.time import utcnow
from patron.loyalty import ledger, service
from patron.loyalty import repository as repo

__all__ = ["members"]


@dataclass
class Live:
    url: str
    headers: dict[str, str]
    engine: Engine
    ada: int


@pytest.fixture
def live(engine: Engine, members: dict[str, int], tmp_path: Path) -> Iterator[Live]:
    headers = api_key(engine, "admin", ["loyalty:read", "loyalty:write", "loyalty:admin"])
    settings = Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32)  # type: ignore[arg-type]
    with serve(create_app(settings, engine=engine)) as url:
        yield Live(url, headers, engine, members["Ada"])


def post_all(live: Live, path: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Every (key, body) POSTed to ``path`` at once, each on its own connection."""
    return post_many(live, [(path, key, body) for key, body in bodies])


def post_many(live: Live, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Every (path, key, body) POSTed at once, each on its own connection."""

    async def go() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=live.url, limits=limits, timeout=120) as client:
            return await asyncio.gather(
                *(client.post(path, json=body, headers={**live.headers, "Idempotency-Key": key})
                  for path, key, body in requests)
            )  # fmt: skip

    # In a thread of its own: a browser test in this process may have left an event loop running.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def balance_checked(live: Live) -> dict[str, int]:
    with session_scope(live.engine) as s:
        m = service.member(s, "club", live.ada)
        assert m.account is not None
        sums = repo.entry_sums(s, m.account.id)
        assert sums == (m.account.active, m.account.locked, m.account.debt, m.account.growth)
        assert sum(lot.remaining for lot in m.lots) == m.account.active
        return m.balance


@pytest.mark.parametrize("cost", [1, 7, 100])
def test_two_hundred_redemptions_at_once_spend_each_point_once(live: Live, cost: int) -> None:
    with session_scope(live.engine) as s:
        ledger.earn(s, service.program(s, "club"), live.ada, 100, source="review", key="seed", now=utcnow())
    path = f"/api/v1/loyalty/programs/club/members/{live.ada}/redeem"
    responses = post_all(live, path, [(f"redeem-{i}", {"points": cost}) for i in range(200)])
    statuses = sorted(r.status_code for r in responses)
    wins = 100 // cost
    assert statuses == [200] * wins + [409] * (200 - wins)
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {(r["error"], r["data"]["requested"]) for r in refused} == {("points_insufficient", cost)}
    assert all(r["data"]["available"] < cost for r in refused)
    # Each success saw the balance its predecessor left: 100 - cost, 100 - 2 * cost, ...
    after = sorted(r.json()["balance"]["active"] for r in responses if r.status_code == 200)
    assert after == sorted(100 - cost * n for n in range(1, wins + 1))
    assert balance_checked(live) == {"active": 100 - wins * cost, "locked": 0, "debt": 0, "growth": 100}
    assert table_rows(live.engine, "SELECT COUNT(*) FROM points_operations WHERE kind = 'redeem'") == [
        (wins,)
    ]


@pytest.mark.parametrize("op", ["earn", "redeem"])
def test_fifty_copies_of_one_request_have_one_effect_and_one_answer(live: Live, op: str) -> None:
    with session_scope(live.engine) as s:
        ledger.earn(s, service.program(s, "club"), live.ada, 100, source="review", key="seed", now=utcnow())
    path = f"/api/v1/loyalty/programs/club/members/{live.ada}/{op}"
    body = {"points": 30, "source": "review"} if op == "earn" else {"points": 30}
    responses = post_all(live, path, [("once", body)] * 50)
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1  # byte for byte the same answer
    assert sorted(r.headers["Idempotent-Replayed"] for r in responses) == ["false"] + ["true"] * 49
    expected = 130 if op == "earn" else 70
    assert responses[0].json()["balance"]["active"] == expected
    assert balance_checked(live)["active"] == expected
    assert table_rows(live.engine, f"SELECT COUNT(*) FROM points_operations WHERE kind = '{op}'") == [
        (2 if op == "earn" else 1,)  # the seed earned too
    ]
    # The same key with another body: refused, nothing changes.
    [again] = post_all(live, path, [("once", {**body, "points": 31})])
    assert (again.status_code, again.json()["error"]) == (409, "idempotency_key_reused")
    assert balance_checked(live)["active"] == expected


def test_the_api_checks_its_input_and_permissions(live: Live, engine: Engine) -> None:
    base = f"{live.url}/api/v1/loyalty/programs/club/members/{live.ada}"
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{base}/redeem", json={"points": 5}, headers=live.headers)  # no key
        assert r.status_code == 422
        r = client.post(
            f"{base}/redeem", json={"points": 5}, headers={**live.headers, "Idempotency-Key": "k"}
        )
        assert (r.status_code, r.json()["error"]) == (409, "points_insufficient")
        r = client.post(f"{live.url}/api/v1/loyalty/programs/nope/members/{live.ada}/redeem", json={"points": 5},
                        headers={**live.headers, "Idempotency-Key": "k2"})  # fmt: skip
        assert (r.status_code, r.json()["error"]) == (404, "loyalty_program_not_found")
        reader = api_key(engine, "read_only", ["loyalty:read"])
        r = client.post(f"{base}/earn", json={"points": 5, "source": "review"},
                        headers={**reader, "Idempotency-Key": "k3"})  # fmt: skip
        assert r.status_code == 403
        r = client.get(base, headers=reader)
        assert r.status_code == 200
        assert r.json()["balance"] == {"active": 0, "locked": 0, "debt": 0, "growth": 0}
        r = client.post(f"{base}/adjust", json={"points": 8, "reason": "welcome back"},
                        headers={**live.headers, "Idempotency-Key": "adj"})  # fmt: skip
        assert r.status_code == 200
        member = client.get(base, headers=reader).json()
        assert member["balance"]["active"] == 8
        assert [(lot["points"], lot["state"], lot["source"]) for lot in member["lots"]] == [
            (8, "active", "admin")
        ]
        assert [e["kind"] for e in member["entries"]] == ["adjust"]
    assert table_rows(engine, "SELECT COUNT(*) FROM points_operations") == [(1,)]
