"""Loyalty tier benefits on both databases: ``patron.loyalty.service.benefits`` combines the
benefits of a customer's tiers across programs (the strongest value of each), and a new ticket's
priority is raised to the member's ``priority_service`` before its SLA policy is chosen, never
lowered, with the raise in the ticket's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.desk import service
from patron.desk.service import PRIORITY_ORDER, DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import
from patron.loyalty import ledger, membership
from patron.loyalty import service as loyalty

UTC_DESK = DeskConfig(timezone="UTC")  # no team: the clocks run 24/7 in UTC
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
NAMES = ("Ada", "Bob", "Cy", "Di", "Eve")
ROWS = [
    [f"O{i}", name.lower(), name, f"{name.lower()}@x.test", "completed", "2026-02-01 10:00", "S", 1, "10.00"]
    for i, name in enumerate(NAMES)
]


def tier(code: str, rank: int, threshold: int, **benefits: object) -> dict[str, Any]:
    return {"code": code, "name_en": code.title(), "name_zh": code, "rank": rank, "threshold": threshold,
            "benefits": benefits}  # fmt: skip


# Program ``club`` (id 1): gold members get urgent service; ``plus`` (id 2): VIPs get high.
GOLD = tier("gold", 1, 1000, priority_service="urgent", discount_rate=5, free_shipping=False, birthday_gift=200,
            points_multiplier=1.5, lounge="A")  # fmt: skip
VIP = tier("vip", 1, 100, priority_service="high", discount_rate=8, free_shipping=True, birthday_gift="GIFT-TEA",
           points_multiplier=2, lounge="B")  # fmt: skip
CLUB: dict[str, Any] = {"tiers": [tier("member", 0, 0), GOLD], "review": "anniversary"}
PLUS: dict[str, Any] = {"tiers": [tier("basic", 0, 0), VIP], "review": "anniversary"}


@pytest.fixture
def desk(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Five customers with an order each; SLA policies by priority (urgent 15 / 30 / 120 minutes,
    high 30 / 60 / 240) before a catch-all (60 / 120 / 480); the programs ``club`` and ``plus``
    with their tiers. Nobody is a member yet."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    with session_scope(engine) as s:
        for name, position, match, minutes in (
            ("urgent", 1, {"priority": ["urgent"]}, (15, 30, 120)),
            ("high", 2, {"priority": ["high"]}, (30, 60, 240)),
            ("standard", 10, {}, (60, 120, 480)),
        ):
            service.create_policy(
                s,
                {"name": name, "position": position, "match": match, "first_response_minutes": minutes[0],
                 "next_response_minutes": minutes[1], "resolution_minutes": minutes[2]},
            )  # fmt: skip
        for code, policy in (("club", CLUB), ("plus", PLUS)):
            program = loyalty.create_program(s, {"code": code, "name": code.title(), "expiry": "never"})
            membership.set_policy(s, program, policy)
    return {str(n): int(i) for n, i in table_rows(engine, "SELECT name, id FROM customers")}  # type: ignore[call-overload]


def join(engine: Engine, customer_id: int, program: str, points: int) -> str | None:
    """Earn ``points`` (an earn moves the member up at once); the member's tier."""
    with session_scope(engine) as s:
        prog = loyalty.program(s, program)
        ledger.earn(
            s, prog, customer_id, points, key=f"join-{customer_id}-{program}", source="review", now=T0
        )
    [(tier,)] = table_rows(
        engine,
        f"SELECT a.tier FROM points_accounts a JOIN loyalty_programs p ON p.id = a.program_id "
        f"WHERE a.customer_id = {customer_id} AND p.code = '{program}'",
    )
    return None if tier is None else str(tier)


def open_ticket(engine: Engine, customer_id: int, priority: str | None = "normal") -> int:
    with session_scope(engine) as s:
        new = NewTicket(subject="Where is my parcel?", body="Ordered a month ago.", customer_id=customer_id,
                        priority=priority)  # fmt: skip
        return service.create(s, new, actor="api", config=UTC_DESK, now=T0).id


def ticket(engine: Engine, ticket_id: int) -> tuple[object, ...]:
    """The ticket's priority, its queue order, its SLA policy and its clocks (target, minutes, due)."""
    [(priority, urgency, policy)] = table_rows(
        engine,
        "SELECT t.priority, t.urgency, p.name FROM tickets t LEFT JOIN sla_policies p ON p.id = t.sla_policy_id "
        f"WHERE t.id = {ticket_id}",
    )
    clocks = table_rows(
        engine,
        f"SELECT target, target_minutes, due_at FROM ticket_slas WHERE ticket_id = {ticket_id} ORDER BY target",
    )
    return priority, urgency, policy, [(t, m, utc(d)) for t, m, d in clocks]


def history(engine: Engine, ticket_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The ticket's events as (actor, action, data)."""
    rows = table_rows(
        engine, f"SELECT actor, action, data FROM ticket_events WHERE ticket_id = {ticket_id} ORDER BY id"
    )
    return [(str(a), str(act), d if isinstance(d, dict) else json.loads(str(d))) for a, act, d in rows]


def test_a_gold_members_normal_ticket_becomes_urgent_with_the_urgent_sla(
    engine: Engine, desk: dict[str, int]
) -> None:
    assert join(engine, desk["Ada"], "club", 1500) == "gold"
    tid = open_ticket(engine, desk["Ada"], "normal")
    assert ticket(engine, tid) == (
        "urgent",
        0,
        "urgent",
        [("first_response", 15, "2026-03-02 09:15:00"), ("resolution", 120, "2026-03-02 11:00:00")],
    )
    events = history(engine, tid)
    assert [(actor, action) for actor, action, _ in events] == [
        ("api", "created"), ("loyalty", "member_priority"), ("sla", "sla_policy")
    ]  # fmt: skip
    assert events[0][2]["priority"] == "normal"  # as asked; the raise is the next line
    assert events[1][2] == {"from": "normal", "to": "urgent", "benefit": "priority_service"}
    assert events[2][2] == {"policy": "urgent"}
    # Without a priority asked for (the public form's way), the same.
    assert ticket(engine, open_ticket(engine, desk["Ada"], None))[:3] == ("urgent", 0, "urgent")


def test_a_member_without_the_benefit_is_unchanged(engine: Engine, desk: dict[str, int]) -> None:
    assert join(engine, desk["Bob"], "club", 10) == "member"  # the lowest tier: no benefits
    tid = open_ticket(engine, desk["Bob"], "normal")
    assert ticket(engine, tid) == (
        "normal",
        2,
        "standard",
        [("first_response", 60, "2026-03-02 10:00:00"), ("resolution", 480, "2026-03-02 17:00:00")],
    )
    assert [action for _, action, _ in history(engine, tid)] == ["created", "sla_policy"]


def test_a_customer_without_a_membership_is_unchanged(engine: Engine, desk: dict[str, int]) -> None:
    with session_scope(engine) as s:
        assert loyalty.benefits(s, desk["Cy"]) == {}
    tid = open_ticket(engine, desk["Cy"], "low")
    assert ticket(engine, tid)[:3] == ("low", 3, "standard")
    assert [action for _, action, _ in history(engine, tid)] == ["created", "sla_policy"]
    # A ticket without a customer at all, too.
    with session_scope(engine) as s:
        t = service.create(
            s, NewTicket(subject="Hello", body="A question."), actor="api", config=UTC_DESK, now=T0
        )
        assert (t.priority, t.customer_id) == ("normal", None)


def test_a_priority_is_raised_to_the_benefit_and_never_lowered(engine: Engine, desk: dict[str, int]) -> None:
    assert join(engine, desk["Di"], "plus", 100) == "vip"  # priority_service: high
    urgent = open_ticket(engine, desk["Di"], "urgent")
    assert ticket(engine, urgent)[:3] == ("urgent", 0, "urgent")
    high = open_ticket(engine, desk["Di"], "high")
    assert ticket(engine, high)[:3] == ("high", 1, "high")
    for tid in (urgent, high):
        assert [action for _, action, _ in history(engine, tid)] == ["created", "sla_policy"]
    low = open_ticket(engine, desk["Di"], "low")
    assert ticket(engine, low) == (
        "high",
        1,
        "high",
        [("first_response", 30, "2026-03-02 09:30:00"), ("resolution", 240, "2026-03-02 13:00:00")],
    )
    assert history(engine, low)[1] == (
        "loyalty", "member_priority", {"from": "low", "to": "high", "benefit": "priority_service"}
    )  # fmt: skip


def test_two_programs_give_the_highest_priority_of_both(engine: Engine, desk: dict[str, int]) -> None:
    ada, bob = desk["Ada"], desk["Bob"]
    # Ada: urgent in the first program, high in the second; Bob: no benefit in the first, high in
    # the second.
    assert (join(engine, ada, "club", 1000), join(engine, ada, "plus", 100)) == ("gold", "vip")
    assert (join(engine, bob, "club", 10), join(engine, bob, "plus", 500)) == ("member", "vip")
    with session_scope(engine) as s:
        assert loyalty.benefits(s, ada)["priority_service"] == "urgent"
        assert loyalty.benefits(s, bob) == {
            "priority_service": "high", "discount_rate": 8, "free_shipping": True, "birthday_gift": "GIFT-TEA",
            "points_multiplier": 2, "lounge": "B",
        }  # fmt: skip
    assert ticket(engine, open_ticket(engine, ada))[:3] == ("urgent", 0, "urgent")
    assert ticket(engine, open_ticket(engine, bob))[:3] == ("high", 1, "high")
    # The order of the programs does not matter, the strongest value does: with gold's benefit
    # down to normal, Ada's high comes from the second program.
    weaker = {
        **CLUB,
        "tiers": [CLUB["tiers"][0], {**CLUB["tiers"][1], "benefits": {"priority_service": "normal"}}],
    }
    with session_scope(engine) as s:
        membership.set_policy(s, loyalty.program(s, "club"), weaker)
        assert loyalty.benefits(s, ada)["priority_service"] == "high"
    tid = open_ticket(engine, ada, "low")
    assert ticket(engine, tid)[:3] == ("high", 1, "high")
    assert history(engine, tid)[1][2] == {"from": "low", "to": "high", "benefit": "priority_service"}


def test_benefits_combine_the_strongest_value_of_each(engine: Engine, desk: dict[str, int]) -> None:
    ada, eve = desk["Ada"], desk["Eve"]
    join(engine, ada, "club", 1000)
    join(engine, ada, "plus", 100)
    with session_scope(engine) as s:
        assert loyalty.benefits(s, ada) == {
            "priority_service": "urgent",  # urgent (club) over high (plus)
            "discount_rate": 8,  # the most percent off
            "free_shipping": True,  # when any program gives it
            "birthday_gift": 200,  # 200 points (club) and a reward code (plus) do not compare: club's
            "points_multiplier": 2,
            "lounge": "A",  # a key Patron does not know: the first program's value
        }
        # A third program whose values are of the wrong kind for their keys: refused when set,
        # and left out when stored anyway (a policy written before values were checked).
        odd = loyalty.create_program(s, {"code": "odd", "name": "Odd", "expiry": "never"})
        wrong = {"tiers": [tier("all", 0, 0, priority_service=True, discount_rate="10%", free_shipping="yes",
                                birthday_gift=True, points_multiplier=-1)], "review": "anniversary"}  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            membership.set_policy(s, odd, wrong)
        assert err.value.message.startswith("tier 'all': benefit priority_service cannot be True (")
        assert odd.tier_policy is None
        odd.tier_policy = {**wrong, "basis": "growth"}
        assert loyalty.benefits(s, eve) == {}
    assert join(engine, eve, "odd", 1) == "all"
    with session_scope(engine) as s:
        assert loyalty.benefits(s, eve) == {}
        # Points compare with points: odd's 500 over club's 200 (plus's code is passed over).
        membership.set_policy(s, loyalty.program(s, "odd"), {"tiers": [tier("all", 0, 0, birthday_gift=500)],
                                                              "review": "anniversary"})  # fmt: skip
    join(engine, ada, "odd", 1)
    with session_scope(engine) as s:
        assert loyalty.benefits(s, ada)["birthday_gift"] == 500
        assert loyalty.benefits(s, eve) == {"birthday_gift": 500}
        # An inactive program gives nothing; nor does a tier the program's policy no longer has.
        loyalty.program(s, "plus").active = False
        membership.set_policy(s, loyalty.program(s, "club"), {"tiers": [tier("member", 0, 0)],
                                                               "review": "anniversary"})  # fmt: skip
        assert loyalty.benefits(s, ada) == {"birthday_gift": 500}
    assert ticket(engine, open_ticket(engine, ada))[:3] == ("normal", 2, "standard")


def test_loyalty_knows_the_desks_priority_order() -> None:
    assert (
        membership.PRIORITIES == tuple(str(p) for p in PRIORITY_ORDER) == ("low", "normal", "high", "urgent")
    )
