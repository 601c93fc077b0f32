"""The rewards catalog on both databases: a reward taken for points with its coupon code, never
beyond its stock or a member's limit, nothing spent when refused, the same coupon for a request
sent again; and the last unit of stock going once when members race for it over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from test_concurrency import Live, live, post_many
from test_ledger import T0, members, run

from conftest import table_rows, utc
from patron.core.db import session_scope
from patron.core.errors import Conflict, NotFound
from patron.core.time import utcnow
from patron.loyalty import ledger, rewards, service

__all__ = ["live", "members"]
MUG = {"code": "MUG", "name_en": "Patron mug", "name_zh": "马克杯", "kind": "gift", "cost_points": 40,
       "stock": 2, "per_customer_limit": 1}  # fmt: skip
COUPON = {"code": "C10", "name_en": "10 yuan off", "name_zh": "10元优惠券", "kind": "coupon", "cost_points": 25,
          "value_minor": 1000, "currency": "CNY"}  # fmt: skip


@pytest.fixture
def shop(engine: Engine, members: dict[str, int]) -> dict[str, int]:
    with session_scope(engine) as s:
        club = service.program(s, "club")
        rewards.add_reward(s, club, MUG)
        rewards.add_reward(s, club, COUPON)
    for who in members.values():
        run(engine, "earn", who, 100, source="review", key=f"seed-{who}")
    return members


def take(engine: Engine, who: int, reward: str, key: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        out = rewards.redeem(s, service.program(s, "club"), who, reward, key=key, actor="user:1",
                             now=T0 + timedelta(days=1))  # fmt: skip
        return out.result


def stock(engine: Engine, code: str) -> object:
    return table_rows(engine, f"SELECT stock FROM loyalty_rewards WHERE code = '{code}'")[0][0]


def active(engine: Engine, who: int) -> int:
    with session_scope(engine) as s:
        return service.member(s, "club", who).balance["active"]


def test_a_reward_for_points_with_its_coupon(engine: Engine, shop: dict[str, int]) -> None:
    ada = shop["Ada"]
    got = take(engine, ada, "MUG", "m1")
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", got["coupon_code"])
    assert (got["reward"], got["points"], got["balance"]["active"]) == ("MUG", 40, 60)
    assert stock(engine, "MUG") == 1
    assert take(engine, ada, "MUG", "m1") == got  # sent again: the same coupon, nothing more taken
    assert (stock(engine, "MUG"), active(engine, ada)) == (1, 60)
    with pytest.raises(Conflict) as err:  # one mug per member
        take(engine, ada, "MUG", "m2")
    assert (err.value.code, err.value.data) == ("reward_limit_reached", {"limit": 1})
    assert (stock(engine, "MUG"), active(engine, ada)) == (1, 60)  # nothing spent, nothing taken
    coupons = [take(engine, ada, "C10", f"c{i}")["coupon_code"] for i in range(2)]  # unlimited stock
    assert len(set(coupons)) == 2
    with pytest.raises(Conflict) as short:  # 10 points left
        take(engine, ada, "C10", "c3")
    assert short.value.code == "points_insufficient"
    assert table_rows(engine, "SELECT COUNT(*) FROM loyalty_reward_redemptions") == [(3,)]


def test_out_of_stock_spends_nothing(engine: Engine, shop: dict[str, int]) -> None:
    ada, bob = shop["Ada"], shop["Bob"]
    take(engine, ada, "MUG", "a")
    take(engine, bob, "MUG", "b")
    with session_scope(engine) as s:
        club = service.program(s, "club")
        next(r for r in rewards.catalog(s, club) if r.code == "MUG").per_customer_limit = None
    with pytest.raises(Conflict) as err:  # Bob may take another now: only the stock stops him
        take(engine, bob, "MUG", "b2")
    assert err.value.code == "reward_out_of_stock"
    assert (stock(engine, "MUG"), active(engine, bob)) == (0, 60)
    with session_scope(engine) as s, pytest.raises(NotFound):
        rewards.redeem(s, service.program(s, "club"), ada, "NOPE", key="x", actor="user:1", now=T0)
    assert table_rows(engine, "SELECT COUNT(*) FROM points_operations WHERE kind = 'redeem'") == [(2,)]


def test_members_racing_for_the_last_units(live: Live, engine: Engine, members: dict[str, int]) -> None:
    """Ada and Bob ask for a reward with 3 left, ten times at the same moment over HTTP."""
    now = utcnow()
    with session_scope(engine) as s:
        club = service.program(s, "club")
        rewards.add_reward(s, club, {**COUPON, "stock": 3})
        for who in members.values():
            ledger.earn(s, club, who, 100, source="review", key=f"s{who}", now=now)
    path = "/api/v1/loyalty/programs/club/members/{}/rewards/C10"
    asks = [(path.format(members["Ada"] if i % 2 else members["Bob"]), f"race-{i}", {}) for i in range(10)]
    responses = post_many(live, asks)
    statuses = sorted(r.status_code for r in responses)
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [409] * 7
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"reward_out_of_stock"}
    assert stock(engine, "C10") == 0
    spent = table_rows(engine, "SELECT COALESCE(SUM(points), 0) FROM points_operations WHERE kind = 'redeem'")
    assert spent == [(75,)]


def cancel(engine: Engine, who: int, coupon: str, key: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        out = rewards.cancel(s, service.program(s, "club"), who, coupon, key=key, actor="user:1",
                             now=T0 + timedelta(days=2))  # fmt: skip
        return out.result


def test_a_reward_cancelled_gives_everything_back_once(engine: Engine, shop: dict[str, int]) -> None:
    ada, bob = shop["Ada"], shop["Bob"]
    mug = take(engine, ada, "MUG", "m1")
    assert (stock(engine, "MUG"), active(engine, ada)) == (1, 60)
    back = cancel(engine, ada, mug["coupon_code"].lower(), "undo-1")  # codes are read case-blind
    assert (back["reward"], back["coupon_code"], back["balance"]["active"]) == (
        "MUG",
        mug["coupon_code"],
        100,
    )
    assert (stock(engine, "MUG"), active(engine, ada)) == (2, 100)
    assert cancel(engine, ada, mug["coupon_code"], "undo-1") == back  # sent again: the same answer
    assert (stock(engine, "MUG"), active(engine, ada)) == (2, 100)
    with pytest.raises(Conflict) as twice:
        cancel(engine, ada, mug["coupon_code"], "undo-2")
    assert twice.value.code == "points_already_reversed"
    assert (stock(engine, "MUG"), active(engine, ada)) == (2, 100)
    [(cancelled, op)] = table_rows(
        engine, "SELECT cancelled_at, cancel_operation_id FROM loyalty_reward_redemptions"
    )
    assert (utc(cancelled), op) == ("2026-03-04 01:00:00", back["operation"])
    # A cancelled reward does not count against the member's limit of one.
    assert take(engine, ada, "MUG", "m2")["balance"]["active"] == 60
    # Only the member who took it, only a coupon that exists.
    with pytest.raises(NotFound) as stranger:
        cancel(engine, bob, mug["coupon_code"], "bob")
    assert stranger.value.code == "points_operation_unknown"
    with pytest.raises(NotFound) as unknown:
        cancel(engine, ada, "AAAA-BBBB-CCCC", "x")
    assert unknown.value.code == "reward_redemption_not_found"


def test_a_coupon_used_on_an_order_cannot_be_cancelled(engine: Engine, shop: dict[str, int]) -> None:
    ada = shop["Ada"]
    coupon = take(engine, ada, "C10", "c1")["coupon_code"]
    with engine.begin() as conn:  # the shop's order A1 came back with the coupon applied
        conn.execute(text("UPDATE orders SET coupon_code = :c WHERE external_id = 'A1'"), {"c": coupon})
    with pytest.raises(Conflict) as used:
        cancel(engine, ada, coupon, "u1")
    assert (used.value.code, used.value.message) == (
        "reward_coupon_used",
        f"coupon {coupon} was used on an order",
    )
    assert active(engine, ada) == 75
    assert table_rows(engine, "SELECT cancelled_at FROM loyalty_reward_redemptions") == [(None,)]
    with engine.begin() as conn:  # the order was cancelled: the coupon is free again
        conn.execute(text("UPDATE orders SET status = 'cancelled' WHERE external_id = 'A1'"))
    assert cancel(engine, ada, coupon, "u2")["balance"]["active"] == 100


def test_a_reward_cancelled_over_http(live: Live, engine: Engine) -> None:
    with session_scope(engine) as s:
        club = service.program(s, "club")
        rewards.add_reward(s, club, COUPON)
        ledger.earn(s, club, live.ada, 100, source="review", key="seed", now=utcnow())
    base = f"/api/v1/loyalty/programs/club/members/{live.ada}/rewards"
    with httpx.Client(base_url=live.url, headers=live.headers) as http:
        taken = http.post(f"{base}/C10", headers={"Idempotency-Key": "t1"}).json()
        undo = {"coupon_code": taken["coupon_code"]}
        first = http.post(f"{base}/cancel", json=undo, headers={"Idempotency-Key": "u1"})
        assert (first.status_code, first.json()["balance"]["active"]) == (200, 100)
        assert first.headers["Idempotent-Replayed"] == "false"
        again = http.post(f"{base}/cancel", json=undo, headers={"Idempotency-Key": "u1"})
        assert (again.content, again.headers["Idempotent-Replayed"]) == (first.content, "true")
        other = http.post(f"{base}/cancel", json=undo, headers={"Idempotency-Key": "u2"})
        assert (other.status_code, other.json()["error"]) == (409, "points_already_reversed")
        missing = http.post(f"{base}/cancel", json={"coupon_code": "NOPE"}, headers={"Idempotency-Key": "u3"})
        assert (missing.status_code, missing.json()["error"]) == (404, "reward_redemption_not_found")
    assert table_rows(engine, "SELECT COUNT(*) FROM points_operations WHERE kind = 'reversal'") == [(1,)]
