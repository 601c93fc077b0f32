"""Members' tiers on both databases: joined and upgraded at once when points are earned, kept
(保级) or lowered only at the review a year later, by the growth value of the last 365 days,
every move on record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from test_ledger import T0, members, run

from conftest import table_rows, utc
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.loyalty import membership, service

__all__ = ["members"]
TIERS: dict[str, Any] = {
    "tiers": [
        {"code": "member", "name_en": "Member", "name_zh": "普通会员", "rank": 0, "threshold": 0},
        {"code": "silver", "name_en": "Silver", "name_zh": "银卡", "rank": 1, "threshold": 1000, "retain": 800},
        {"code": "gold", "name_en": "Gold", "name_zh": "金卡", "rank": 2, "threshold": 5000, "retain": 4000,
         "benefits": {"points_multiplier": 1.5, "free_shipping": True}},
    ],
    "review": "anniversary",
    "review_months": 12,
}  # fmt: skip


@pytest.fixture
def tiered(engine: Engine, members: dict[str, int]) -> dict[str, int]:
    with session_scope(engine) as s:
        membership.set_policy(s, service.program(s, "lenient"), TIERS)  # points never expire here
    return members


def moves(engine: Engine) -> list[tuple[Any, ...]]:
    return table_rows(engine, "SELECT from_tier, to_tier, reason, value FROM tier_moves ORDER BY id")


def refresh(engine: Engine, days: int) -> int:
    with session_scope(engine) as s:
        return membership.refresh(s, service.program(s, "lenient"), at=T0 + timedelta(days=days))


def test_points_move_a_member_up_at_once_and_down_only_at_the_review(
    engine: Engine, tiered: dict[str, int]
) -> None:
    ada = tiered["Ada"]
    run(engine, "earn", ada, 1200, source="review", program="lenient", key="e1")
    assert moves(engine) == [(None, "silver", "joined", 1200)]
    run(engine, "earn", ada, 3900, source="review", program="lenient", key="e2", now=T0 + timedelta(days=30))
    assert moves(engine)[-1] == ("silver", "gold", "upgraded", 5100)
    # Spending never lowers the growth value; nothing is due before the review.
    run(engine, "redeem", ada, 5000, program="lenient", key="r1", now=T0 + timedelta(days=40))
    assert refresh(engine, 100) == 0
    [(tier, since, review)] = table_rows(engine, f"SELECT tier, tier_since, tier_review_at FROM points_accounts "
                                                 f"WHERE customer_id = {ada} AND program_id = 2")  # fmt: skip
    assert (tier, utc(since), utc(review)) == ("gold", "2026-04-01 01:00:00", "2027-04-01 01:00:00")
    # At the review (1 April 2027) the last 365 days hold 3,900 points: below gold's 4,000
    # retain, above silver's 800: silver.
    assert refresh(engine, 395) == 1
    assert moves(engine)[-1] == ("gold", "silver", "downgraded", 3900)


def test_retention_keeps_the_tier_and_moves_the_review(engine: Engine, tiered: dict[str, int]) -> None:
    bob = tiered["Bob"]
    run(engine, "earn", bob, 1000, source="review", program="lenient", key="e1")
    run(engine, "earn", bob, 850, source="review", program="lenient", key="e2", now=T0 + timedelta(days=300))
    assert refresh(engine, 366) == 1  # the review, a day late: 850 in the last 365 days retain silver (800)
    assert moves(engine) == [(None, "silver", "joined", 1000), ("silver", "silver", "retained", 850)]
    [(review,)] = table_rows(engine, f"SELECT tier_review_at FROM points_accounts WHERE customer_id = {bob} "
                                     "AND program_id = 2")  # fmt: skip
    assert utc(review) == "2028-03-02 01:00:00"
    with session_scope(engine) as s:
        prog = service.program(s, "lenient")
        m = service.member(s, "lenient", bob)
        assert m.account is not None
        progress = membership.progress(s, prog, m.account, T0 + timedelta(days=366))
    assert progress is not None
    assert (progress.tier, progress.value, progress.next_tier, progress.to_next, progress.to_retain) == (
        "silver", 850, "gold", 4150, 0
    )  # fmt: skip


def test_tiers_are_checked_and_optional(engine: Engine, members: dict[str, int]) -> None:
    with session_scope(engine) as s:
        club = service.program(s, "club")
        assert membership.refresh(s, club, at=T0) == 0  # no tiers: nothing to decide
        bad = {**TIERS, "tiers": [{**t, "threshold": 10, "retain": None} for t in TIERS["tiers"]]}
        with pytest.raises(InvalidInput) as err:
            membership.set_policy(s, club, bad)
        assert err.value.code == "loyalty_bad_tiers"
        assert "exactly one tier must have threshold 0" in err.value.message
        assert club.tier_policy is None
