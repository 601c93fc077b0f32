"""Points for actions on both databases: the program's rules for sign-ups, check-ins, reviews
decide the points under the member's lock, with caps per local day and velocity limits; nothing
earned is recorded all the same (the key answers the same); 20 check-ins at once over HTTP never
pass the cap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from test_concurrency import Live, live, post_many
from test_ledger import T0, members

from conftest import table_rows
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput
from patron.loyalty import earning, ledger, service

__all__ = ["live", "members"]
RULES = [
    {"name": "welcome", "kind": "signup", "points": 100, "cap": 100, "cap_period": "ever"},
    {"name": "daily check-in", "kind": "checkin", "points": 5, "cap": 10, "cap_period": "day"},
    {"name": "review", "kind": "review", "points": 20, "velocity": 2, "velocity_window_hours": 24},
]


@pytest.fixture
def club(engine: Engine, members: dict[str, int]) -> dict[str, int]:
    with session_scope(engine) as s:
        for rule in RULES:
            earning.add_rule(s, service.program(s, "club"), rule)
    return members


def act(
    engine: Engine, who: int, action: str, key: str, at: Any = T0, ref: str | None = None
) -> dict[str, Any]:
    with session_scope(engine) as s:
        out = earning.earn_action(s, service.program(s, "club"), who, action, key=key, ref=ref, now=at)
        return out.result


def test_actions_earn_by_their_rules_within_caps_and_limits(engine: Engine, club: dict[str, int]) -> None:
    ada = club["Ada"]
    welcome = act(engine, ada, "signup", "s1")
    assert (welcome["points"], welcome["action"], welcome["balance"]["active"]) == (100, "signup", 100)
    assert [a for a in welcome["awards"] if a["points"]] == [
        {"rule": "welcome", "points": 100, "reason": "awarded"}
    ]
    assert act(engine, ada, "signup", "s2")["points"] == 0  # once ever
    # Check-ins: 5 each, at most 10 a local day (Shanghai: T0 is 09:00 on 2 March).
    got = [act(engine, ada, "checkin", f"c{i}", T0 + timedelta(hours=i))["points"] for i in range(3)]
    assert got == [5, 5, 0]
    capped = act(engine, ada, "checkin", "c3", T0 + timedelta(hours=14, minutes=59))  # 23:59 local
    assert [a["reason"] for a in capped["awards"] if a["rule"] == "daily check-in"] == ["cap_reached"]
    assert act(engine, ada, "checkin", "c4", T0 + timedelta(hours=15))["points"] == 5  # 00:00 on 3 March
    # Reviews: at most 2 awards in 24 hours.
    reviews = [
        act(engine, ada, "review", f"r{i}", T0 + timedelta(hours=i), ref=f"rv{i}")["points"] for i in range(3)
    ]
    assert reviews == [20, 20, 0]
    at_24h = T0 + timedelta(hours=24)  # the first is still inside the window [at - 24 h, at)
    assert act(engine, ada, "review", "r3", at_24h, ref="rv3")["points"] == 0
    assert act(engine, ada, "review", "r4", at_24h + timedelta(minutes=1), ref="rv4")["points"] == 20
    assert table_rows(engine, "SELECT rule, SUM(points), COUNT(*) FROM points_awards GROUP BY rule ORDER BY rule") == [
        ("daily check-in", 15, 3), ("review", 60, 3), ("welcome", 100, 1)
    ]  # fmt: skip
    with session_scope(engine) as s:
        assert service.member(s, "club", ada).balance == {
            "active": 175,
            "locked": 0,
            "debt": 0,
            "growth": 175,
        }


def test_an_action_s_key_answers_the_same(engine: Engine, club: dict[str, int]) -> None:
    ada = club["Ada"]
    first = act(engine, ada, "checkin", "k")
    with session_scope(engine) as s:
        again = earning.earn_action(
            s, service.program(s, "club"), ada, "checkin", key="k", now=T0 + timedelta(days=5)
        )
    assert (again.result, again.replayed) == (first, True)
    # Nothing earned is kept too: a third check-in the same day answers 0 however late it is replayed.
    act(engine, ada, "checkin", "k2")
    nothing = act(engine, ada, "checkin", "k3")
    assert nothing["points"] == 0
    assert act(engine, ada, "checkin", "k3", T0 + timedelta(days=3)) == nothing
    assert table_rows(engine, "SELECT COUNT(*) FROM points_operations WHERE source = 'checkin'") == [(3,)]
    for action, ref in (("review", None), ("checkin", "other")):  # the key with another request
        with pytest.raises(Conflict) as err:
            act(engine, ada, action, "k", ref=ref)
        assert err.value.code == "idempotency_key_reused"
    with pytest.raises(InvalidInput) as bad:
        act(engine, ada, "dance", "d")
    assert bad.value.code == "loyalty_bad_action"
    with session_scope(engine) as s, pytest.raises(Conflict):  # an ordinary earn under the key
        ledger.earn(s, service.program(s, "club"), ada, 5, key="k", source="checkin", now=T0)


@pytest.mark.parametrize("action", ["checkin", "review"])
def test_actions_at_once_never_pass_a_cap_or_a_velocity_limit(
    live: Live, engine: Engine, members: dict[str, int], action: str
) -> None:
    """20 check-ins (5 each, at most 10 a day) or 20 reviews (at most 2 in 24 hours) at once."""
    with session_scope(engine) as s:
        earning.add_rule(s, service.program(s, "club"), RULES[1] if action == "checkin" else RULES[2])
    path = f"/api/v1/loyalty/programs/club/members/{live.ada}/actions/{action}"
    responses = post_many(live, [(path, f"tap-{i}", {"ref": f"r{i}"}) for i in range(20)])
    assert {r.status_code for r in responses} == {200}
    each = 5 if action == "checkin" else 20
    assert sorted(r.json()["points"] for r in responses) == [0] * 18 + [each, each]
    assert table_rows(engine, "SELECT SUM(points), COUNT(*) FROM points_awards") == [(2 * each, 2)]
    with session_scope(engine) as s:
        assert service.member(s, "club", live.ada).balance["active"] == 2 * each
