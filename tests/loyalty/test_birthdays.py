"""Birthdays on both databases: members born on the program's local day get the birthday rules'
points and their tier's birthday gift, once a year; 29 February birthdays fall on 28 February in
other years; a customer who is no member gets nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from test_ledger import T0, members, run

from conftest import table_rows
from patron.core.db import session_scope
from patron.loyalty import birthdays, earning, membership, service

__all__ = ["members"]
TIERS = {"review": "anniversary", "tiers": [
    {"code": "member", "name_en": "Member", "name_zh": "会员", "rank": 0, "threshold": 0,
     "benefits": {"birthday_gift": 20}},
    {"code": "gold", "name_en": "Gold", "name_zh": "金卡", "rank": 1, "threshold": 1000,
     "benefits": {"birthday_gift": "MUG"}},
]}  # fmt: skip


@pytest.fixture
def born(engine: Engine, members: dict[str, int]) -> dict[str, int]:
    """Ada born on 2 March, Bob on 29 February; both members of ``club`` (10 points each) with a
    birthday rule of 50 points; Cy, born on 2 March too, is no member."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET birthday = '1990-03-02' WHERE name = 'Ada'"))
        conn.execute(text("UPDATE customers SET birthday = '1992-02-29' WHERE name = 'Bob'"))
        conn.execute(text("INSERT INTO customers (name, gender, custom, orders_count, spent_minor, birthday, "
                          "created_at, updated_at) VALUES ('Cy', 'unknown', '{}', 0, 0, '1991-03-02', "
                          "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))  # fmt: skip
    with session_scope(engine) as s:
        club = service.program(s, "club")
        earning.add_rule(s, club, {"name": "birthday", "kind": "birthday", "points": 50})
        membership.set_policy(s, club, TIERS)
    for who in members.values():
        run(engine, "earn", who, 10, source="review", key=f"join-{who}", now=datetime(2026, 1, 5, tzinfo=UTC))
    return members


def celebrate(engine: Engine, at: datetime) -> dict[str, int]:
    with session_scope(engine) as s:
        return birthdays.celebrate(s, service.program(s, "club"), now=at)


def birthday_points(engine: Engine) -> list[tuple[object, ...]]:
    return table_rows(engine, "SELECT c.name, o.key, o.points FROM points_operations o JOIN points_accounts a "
                              "ON a.id = o.account_id JOIN customers c ON c.id = a.customer_id "
                              "WHERE o.source = 'birthday' ORDER BY o.id")  # fmt: skip


def test_a_birthday_once_a_year_on_the_local_day(engine: Engine, born: dict[str, int]) -> None:
    ada = born["Ada"]
    # 23:59 on 1 March in Shanghai: not yet.
    assert celebrate(engine, datetime(2026, 3, 1, 15, 59, tzinfo=UTC)) == {"members": 0, "points": 0}
    # Midnight in Shanghai (still 1 March in UTC): the rule's 50 and the member tier's gift of 20.
    assert celebrate(engine, datetime(2026, 3, 1, 16, 0, tzinfo=UTC)) == {"members": 1, "points": 70}
    assert celebrate(engine, T0) == {"members": 1, "points": 0}  # later that day: nothing more
    assert birthday_points(engine) == [
        ("Ada", f"birthday:2026:{ada}", 50),
        ("Ada", f"birthday-gift:2026:{ada}", 20),
    ]
    with session_scope(engine) as s:
        assert service.member(s, "club", ada).balance["active"] == 70  # January's 10 expired (30 days)
    assert table_rows(engine, "SELECT COUNT(*) FROM points_accounts a JOIN customers c ON c.id = a.customer_id "
                              "WHERE c.name = 'Cy'") == [(0,)]  # fmt: skip


def test_29_february_birthdays_and_gifts_that_are_not_points(engine: Engine, born: dict[str, int]) -> None:
    bob = born["Bob"]
    assert celebrate(engine, datetime(2026, 2, 28, 4, tzinfo=UTC)) == {"members": 1, "points": 70}
    assert celebrate(engine, datetime(2028, 2, 28, 4, tzinfo=UTC)) == {
        "members": 0,
        "points": 0,
    }  # a leap year
    run(
        engine, "earn", bob, 1000, source="review", key="gold", now=datetime(2028, 1, 5, tzinfo=UTC)
    )  # gold now
    # Gold's gift is a reward code: not issued here; the rule's points are.
    assert celebrate(engine, datetime(2028, 2, 29, 4, tzinfo=UTC)) == {"members": 1, "points": 50}
    assert [key for _, key, _ in birthday_points(engine)] == [
        f"birthday:2026:{bob}", f"birthday-gift:2026:{bob}", f"birthday:2028:{bob}"
    ]  # fmt: skip


def test_the_gift_is_the_tier_s_after_the_birthday_points_and_a_rerun_changes_nothing(
    engine: Engine, born: dict[str, int]
) -> None:
    """The birthday's 50 points lift Ada (10 growth) to silver (50): silver's gift of 100 is hers;
    run again that day, nothing more and no error, though her tier is not the one she had."""
    policy = {**TIERS, "tiers": [TIERS["tiers"][0], {"code": "silver", "name_en": "Silver", "name_zh": "银卡",
                                                       "rank": 1, "threshold": 50,
                                                       "benefits": {"birthday_gift": 100}}]}  # fmt: skip
    with session_scope(engine) as s:
        membership.set_policy(s, service.program(s, "club"), policy)
    day = datetime(2026, 1, 20, 4, tzinfo=UTC)  # Ada's 10 points are still there (30-day expiry)
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET birthday = '1990-01-20' WHERE name = 'Ada'"))
    assert celebrate(engine, day) == {"members": 1, "points": 150}
    assert celebrate(engine, day) == {"members": 1, "points": 0}
    assert [p for _, _, p in birthday_points(engine)] == [50, 100]
