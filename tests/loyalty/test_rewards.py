"""The rewards catalog on both databases: a reward taken for points with its coupon code, never
beyond its stock or a member's limit, nothing spent when refused, the same coupon for a request
sent again; and the last unit of stock going once when members race for it over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from test_concurrency import Live, live, post_many
from test_ledger import T0, members, run

from conftest import table_rows
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
