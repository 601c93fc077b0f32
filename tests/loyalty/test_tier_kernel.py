"""Membership tiers by hand (upgrades, 保级, grace, drops by retain, review dates in three zones)
and by property (no move down outside a review, nothing before the due date, non-negative progress)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.loyalty import tiers
from patron.loyalty.tiers import (
    REASONS,
    REVIEWS,
    Decision,
    Policy,
    Progress,
    Standing,
    Tier,
    is_due,
    next_review,
    on_value,
    progress,
    qualifying_tier,
    review,
)

SH = "Asia/Shanghai"
NY = "America/New_York"

MEMBER = Tier("member", "Member", "普通会员", 0, 0)
SILVER = Tier("silver", "Silver", "白银会员", 1, 1_000, retain=800, benefits={"discount_rate": 0.98})
GOLD = Tier(
    "gold",
    "Gold",
    "黄金会员",
    2,
    5_000,
    retain=4_000,
    benefits={"discount_rate": 0.95, "free_shipping": True},
)
PLATINUM = Tier(
    "platinum",
    "Platinum",
    "铂金会员",
    3,
    20_000,
    retain=15_000,
    benefits={"discount_rate": 0.9, "free_shipping": True, "priority_service": True, "points_multiplier": 2},
)
TIERS = (MEMBER, SILVER, GOLD, PLATINUM)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def anniversary(grace_days: int = 0, months: int = 12, timezone: str = SH) -> Policy:
    return Policy(TIERS, "anniversary", review_months=months, grace_days=grace_days, timezone=timezone)


def fixed(month: int = 1, day: int = 1, grace_days: int = 0, timezone: str = SH) -> Policy:
    return Policy(
        TIERS, "fixed", review_month=month, review_day=day, grace_days=grace_days, timezone=timezone
    )


def decision(standing: Standing, reason: str, from_tier: str | None) -> Decision:
    return Decision(standing, from_tier != standing.tier, from_tier, standing.tier, reason)


# --- upgrades ---------------------------------------------------------------------------------

# Gold since 10:00 on 1 April 2026 in Shanghai (02:00 UTC): reviewed on 1 April 2027 at 10:00.
GOLD_SINCE = utc(2026, 4, 1, 2)
GOLD_REVIEW = utc(2027, 4, 1, 2)
GOLD_STANDING = Standing("gold", GOLD_SINCE, GOLD_REVIEW)


def test_a_new_member_gets_the_tier_their_value_qualifies_for() -> None:
    at = utc(2026, 3, 10, 4)  # 12:00 in Shanghai
    assert on_value(anniversary(), None, 300, at) == decision(
        Standing("member", at, utc(2027, 3, 10, 4)), "joined", None
    )
    assert on_value(anniversary(), None, 1_000, at).to_tier == "silver"  # the threshold itself qualifies
    assert on_value(anniversary(), None, 999, at).to_tier == "member"
    assert on_value(anniversary(), None, 25_000, at) == decision(
        Standing("platinum", at, utc(2027, 3, 10, 4)), "joined", None
    )


def test_an_upgrade_happens_at_once_and_skips_ranks() -> None:
    joined = on_value(anniversary(), None, 300, utc(2026, 3, 10, 4)).standing
    # 6,000 passes silver (1,000) and gold (5,000): straight to gold, a fresh year from now.
    up = on_value(anniversary(), joined, 6_000, GOLD_SINCE)
    assert up == Decision(GOLD_STANDING, True, "member", "gold", "upgraded")
    # Member to platinum, three ranks in one step.
    assert on_value(anniversary(), joined, 20_000, GOLD_SINCE).to_tier == "platinum"
    # An upgrade ends a grace.
    graced = replace(GOLD_STANDING, grace_until=utc(2027, 4, 30, 16))
    top = on_value(anniversary(grace_days=30), graced, 21_000, utc(2027, 4, 10))
    assert top == decision(Standing("platinum", utc(2027, 4, 10), utc(2028, 4, 10)), "upgraded", "gold")


def test_no_downgrade_between_reviews() -> None:
    policy = anniversary()
    for value in (0, 999, 3_999, 4_999, 5_000, 19_999):
        assert on_value(policy, GOLD_STANDING, value, utc(2026, 12, 1)) == Decision(
            GOLD_STANDING, False, "gold", "gold", "unchanged"
        )
        assert on_value(policy, GOLD_STANDING, value, utc(2026, 12, 1)).standing is GOLD_STANDING
    # Not even when the review is overdue: on_value never reviews.
    assert on_value(policy, GOLD_STANDING, 0, utc(2028, 1, 1)).reason == "unchanged"
    # review() before the review date: nothing at all, one microsecond before it included.
    before = review(policy, GOLD_STANDING, 0, GOLD_REVIEW - timedelta(microseconds=1))
    assert before == Decision(GOLD_STANDING, False, "gold", "gold", "not_due")
    assert before.standing is GOLD_STANDING
    assert not is_due(GOLD_STANDING, GOLD_REVIEW - timedelta(microseconds=1))
    assert is_due(GOLD_STANDING, GOLD_REVIEW)


# --- reviews ----------------------------------------------------------------------------------


def test_retention_met_at_the_review_keeps_the_tier_and_since() -> None:
    policy = anniversary()
    # Exactly gold's retain (4,000, below its 5,000 threshold): 保级 met.
    kept = review(policy, GOLD_STANDING, 4_000, GOLD_REVIEW)
    assert kept == Decision(
        Standing("gold", GOLD_SINCE, utc(2028, 4, 1, 2)), False, "gold", "gold", "retained"
    )
    # A review run a day late still keeps the anniversary schedule (counted from since).
    late = review(policy, GOLD_STANDING, 4_500, GOLD_REVIEW + timedelta(days=1))
    assert late.standing == Standing("gold", GOLD_SINCE, utc(2028, 4, 1, 2))
    # One below retain and no grace: down to silver (3,999 >= silver's retain 800), a fresh year.
    at = GOLD_REVIEW + timedelta(hours=3)
    assert review(policy, GOLD_STANDING, 3_999, at) == decision(
        Standing("silver", at, utc(2028, 4, 1, 5)), "downgraded", "gold"
    )
    # A value that qualifies higher at the review upgrades.
    assert review(policy, GOLD_STANDING, 20_000, GOLD_REVIEW) == decision(
        Standing("platinum", GOLD_REVIEW, utc(2028, 4, 1, 2)), "upgraded", "gold"
    )
    # The lowest tier is always retained.
    member = Standing("member", utc(2026, 1, 1), utc(2027, 1, 1))
    assert review(policy, member, 0, utc(2027, 1, 1)).standing == Standing(
        "member", utc(2026, 1, 1), utc(2028, 1, 1)
    )


# With a 30-day grace, gold's review on 1 April 2027 (10:00 in Shanghai) fails at 3,000: the grace
# runs to local midnight 30 local days after 1 April, i.e. 1 May 00:00 in Shanghai = 30 April 16:00 UTC.
GRACE_END = utc(2027, 4, 30, 16)
GRACED = Standing("gold", GOLD_SINCE, GOLD_REVIEW, GRACE_END)


def test_grace_then_downgrade() -> None:
    policy = anniversary(grace_days=30)
    assert review(policy, GOLD_STANDING, 3_000, GOLD_REVIEW) == Decision(
        GRACED, False, "gold", "gold", "grace"
    )
    # During the grace: still gold, nothing due, and a value that only retains does not end it.
    assert review(policy, GRACED, 0, GRACE_END - timedelta(microseconds=1)).reason == "not_due"
    assert on_value(policy, GRACED, 4_500, utc(2027, 4, 20)).standing is GRACED
    assert not is_due(GRACED, GOLD_REVIEW + timedelta(days=10))
    assert is_due(GRACED, GRACE_END)
    # At its end, still 3,000: down to silver, no second grace.
    assert review(policy, GRACED, 3_000, GRACE_END) == decision(
        Standing("silver", GRACE_END, utc(2028, 4, 30, 16)), "downgraded", "gold"
    )


def test_grace_then_recovered() -> None:
    policy = anniversary(grace_days=30)
    # Back above retain by the end of the grace: kept, grace cleared, next anniversary of since.
    assert review(policy, GRACED, 4_200, GRACE_END + timedelta(hours=1)) == Decision(
        Standing("gold", GOLD_SINCE, utc(2028, 4, 1, 2)), False, "gold", "gold", "retained"
    )
    # Past platinum's threshold by then: upgraded.
    assert review(policy, GRACED, 20_000, GRACE_END).to_tier == "platinum"


def test_a_review_run_after_the_grace_would_have_ended_skips_the_grace() -> None:
    policy = anniversary(grace_days=30)
    assert review(policy, GOLD_STANDING, 3_000, GRACE_END - timedelta(minutes=1)).reason == "grace"
    at = GRACE_END + timedelta(days=5)
    assert review(policy, GOLD_STANDING, 3_000, at) == decision(
        Standing("silver", at, utc(2028, 5, 5, 16)), "downgraded", "gold"
    )


def test_a_drop_of_several_ranks_lands_on_the_highest_tier_whose_retain_is_met() -> None:
    policy = anniversary()
    standing = Standing("platinum", GOLD_SINCE, GOLD_REVIEW)
    landing = {
        15_000: "platinum",  # platinum's retain: kept
        14_999: "gold",  # below platinum's retain, above gold's threshold
        4_200: "gold",  # below gold's threshold (5,000) but at least its retain (4,000)
        4_000: "gold",
        3_999: "silver",  # two ranks down
        900: "silver",  # below silver's threshold (1,000) but at least its retain (800)
        799: "member",  # three ranks down
        0: "member",
    }
    assert {value: review(policy, standing, value, GOLD_REVIEW).to_tier for value in landing} == landing
    assert review(policy, standing, 900, GOLD_REVIEW).reason == "downgraded"


# --- review dates -----------------------------------------------------------------------------


def test_anniversary_on_31_january_clamps_to_the_end_of_february_without_drifting() -> None:
    monthly = anniversary(months=1)
    joined = local(SH, 2025, 1, 31, 10)  # 02:00 UTC
    standing = on_value(monthly, None, 1_500, joined).standing
    assert standing == Standing("silver", utc(2025, 1, 31, 2), utc(2025, 2, 28, 2))
    # Retained on 28 February: the next review is 31 March, counted from since, not 28 March.
    again = review(monthly, standing, 1_500, utc(2025, 2, 28, 2)).standing
    assert again.review_at == utc(2025, 3, 31, 2)
    assert review(monthly, again, 1_500, utc(2025, 3, 31, 2)).standing.review_at == utc(2025, 4, 30, 2)
    # Reviewed late, on 30 March: the next one is the next anniversary after that, 31 March.
    assert review(monthly, standing, 1_500, utc(2025, 3, 30, 2)).standing.review_at == utc(2025, 3, 31, 2)
    # A leap year: 29 February.
    assert on_value(monthly, None, 0, local(SH, 2024, 1, 31, 10)).standing.review_at == utc(2024, 2, 29, 2)
    # 23:30 in Shanghai on 31 January is 15:30 UTC: the local day counts.
    assert next_review(monthly, utc(2025, 1, 31, 15, 30), utc(2025, 1, 31, 15, 30)) == utc(
        2025, 2, 28, 15, 30
    )


def test_anniversary_on_29_february_in_a_leap_year() -> None:
    yearly = anniversary()
    standing = on_value(yearly, None, 6_000, local(SH, 2024, 2, 29, 12)).standing  # 04:00 UTC
    assert standing.review_at == utc(2025, 2, 28, 4)
    reviews = []
    for _ in range(4):
        standing = review(yearly, standing, 6_000, standing.review_at).standing
        reviews.append(standing.review_at)
    # 29 February every fourth year again: counted from since, the clamp does not stick.
    assert reviews == [utc(2026, 2, 28, 4), utc(2027, 2, 28, 4), utc(2028, 2, 29, 4), utc(2029, 2, 28, 4)]
    assert standing.since == utc(2024, 2, 29, 4)


def test_fixed_review_date_at_local_midnight_shanghai_vs_utc() -> None:
    june = utc(2025, 6, 15, 8)
    # 1 January 00:00 in Shanghai is 31 December 16:00 UTC.
    assert on_value(fixed(), None, 0, june).standing.review_at == utc(2025, 12, 31, 16)
    assert on_value(fixed(timezone="UTC"), None, 0, june).standing.review_at == utc(2026, 1, 1)
    # 31 December 17:00 UTC is already 1 January 01:00 in Shanghai: the next one is a year later,
    # while in UTC it is seven hours away.
    new_year = utc(2025, 12, 31, 17)
    assert on_value(fixed(), None, 0, new_year).standing.review_at == utc(2026, 12, 31, 16)
    assert on_value(fixed(timezone="UTC"), None, 0, new_year).standing.review_at == utc(2026, 1, 1)
    # Strictly after: joining at the very review instant gets next year's.
    assert on_value(fixed(), None, 0, utc(2025, 12, 31, 16)).standing.review_at == utc(2026, 12, 31, 16)
    # Retained at the review: the next fixed date, since unchanged.
    standing = Standing("gold", utc(2025, 3, 1), utc(2025, 12, 31, 16))
    assert review(fixed(), standing, 4_000, utc(2025, 12, 31, 16)).standing == Standing(
        "gold", utc(2025, 3, 1), utc(2026, 12, 31, 16)
    )
    # Any other date: 30 June.
    assert on_value(fixed(6, 30), None, 0, june).standing.review_at == utc(2025, 6, 29, 16)


def test_a_dst_zone_reviews_at_local_midnight() -> None:
    # New York is UTC-5 in winter (EST) and UTC-4 in summer (EDT); 2026 springs forward on 8 March.
    joined = utc(2026, 1, 15, 17)  # 12:00 EST
    assert on_value(fixed(7, 1, timezone=NY), None, 0, joined).standing.review_at == utc(2026, 7, 1, 4)
    assert on_value(fixed(timezone=NY), None, 0, joined).standing.review_at == utc(2027, 1, 1, 5)
    # A fixed 1 March review (05:00 UTC), 30 days of grace: it ends at midnight on 31 March, now EDT.
    policy = fixed(3, 1, grace_days=30, timezone=NY)
    standing = on_value(policy, None, 6_000, utc(2025, 6, 1)).standing
    assert standing.review_at == utc(2026, 3, 1, 5)
    graced = review(policy, standing, 0, standing.review_at).standing
    assert graced.grace_until == utc(2026, 3, 31, 4)
    # The anniversary keeps the local wall time across the change: 12:00 EST, then 12:00 EDT.
    six_months = anniversary(months=6, timezone=NY)
    assert on_value(six_months, None, 0, joined).standing.review_at == utc(2026, 7, 15, 16)
    # 02:30 on 8 March 2026 does not exist in New York: read as before the change (02:30 EST).
    skipped = on_value(six_months, None, 0, local(NY, 2025, 9, 8, 2, 30)).standing
    assert skipped.review_at == utc(2026, 3, 8, 7, 30)


def test_inputs_in_any_zone_results_in_utc() -> None:
    at = local(SH, 2026, 4, 1, 10)
    standing = on_value(anniversary(), None, 6_000, at).standing
    assert standing == GOLD_STANDING
    for moment in (standing.since, standing.review_at):
        assert moment.tzinfo is UTC
    assert Standing("gold", at, local(SH, 2027, 4, 1, 10)).since.tzinfo is UTC


# --- progress ---------------------------------------------------------------------------------


def test_progress_towards_the_next_tier_and_retention() -> None:
    silver = Standing("silver", utc(2026, 1, 1), utc(2027, 1, 1))
    assert progress(anniversary(), silver, 3_200) == Progress(
        "silver", 3_200, "gold", 1_800, 0.64, 800, 0, utc(2027, 1, 1)
    )
    # Retained at the review with less than the threshold, and short of silver's retain too.
    assert progress(anniversary(), silver, 500) == Progress(
        "silver", 500, "gold", 4_500, 0.1, 800, 300, utc(2027, 1, 1)
    )
    # In a grace: the amount still needed by its end.
    assert progress(anniversary(30), GRACED, 3_000) == Progress(
        "gold", 3_000, "platinum", 17_000, 0.15, 4_000, 1_000, GRACE_END
    )
    # Not upgraded yet (on_value not called): nothing left to reach, a full bar.
    assert progress(anniversary(), silver, 7_000).to_next == 0
    assert progress(anniversary(), silver, 7_000).fraction == 1.0
    top = Standing("platinum", utc(2026, 1, 1), utc(2027, 1, 1))
    assert progress(anniversary(), top, 30_000) == Progress(
        "platinum", 30_000, None, None, 1.0, 15_000, 0, utc(2027, 1, 1)
    )
    member = Standing("member", utc(2026, 1, 1), utc(2027, 1, 1))
    assert progress(anniversary(), member, 0) == Progress(
        "member", 0, "silver", 1_000, 0.0, 0, 0, utc(2027, 1, 1)
    )


# --- validation -------------------------------------------------------------------------------


def test_tier_validation() -> None:
    with pytest.raises(ValueError, match="a tier needs a code"):
        Tier("", "x", "x", 0, 0)
    with pytest.raises(ValueError, match="tier 'gold': the threshold must not be negative, got -1"):
        Tier("gold", "Gold", "黄金", 2, -1)
    with pytest.raises(
        ValueError, match=r"tier 'gold': the retain level must be between 0 and the threshold 5000"
    ):
        Tier("gold", "Gold", "黄金", 2, 5_000, retain=5_001)
    with pytest.raises(ValueError, match="between 0 and the threshold 5000, got -1"):
        Tier("gold", "Gold", "黄金", 2, 5_000, retain=-1)
    with pytest.raises(ValueError, match="tier 'gold': the rank must be an integer, got '2'"):
        Tier("gold", "Gold", "黄金", "2", 5_000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tier 'gold': the threshold must be an integer, got True"):
        Tier("gold", "Gold", "黄金", 2, True)
    with pytest.raises(ValueError, match="benefit names must be non-empty strings, got 3"):
        Tier("gold", "Gold", "黄金", 2, 5_000, benefits={3: True})  # type: ignore[dict-item]
    # The benefits are a read-only copy.
    benefits: dict[str, object] = {"birthday_gift": "tea set"}
    tier = Tier("gold", "Gold", "黄金", 2, 5_000, benefits=benefits)
    benefits["birthday_gift"] = "nothing"
    assert tier.benefits == {"birthday_gift": "tea set"}
    with pytest.raises(TypeError):
        tier.benefits["free_shipping"] = True  # type: ignore[index]
    assert (GOLD.retain_level, MEMBER.retain_level) == (4_000, 0)
    assert Tier("x", "X", "X", 1, 10).retain_level == 10


def test_policy_validation() -> None:
    def policy(*tier_list: Tier, **kwargs: object) -> Policy:
        return Policy(tier_list, **{"review": "anniversary", "timezone": SH, **kwargs})  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="a policy needs at least one tier"):
        policy()
    with pytest.raises(ValueError, match="duplicate tier codes: gold"):
        policy(MEMBER, GOLD, replace(GOLD, rank=5, threshold=9_000))
    with pytest.raises(ValueError, match="duplicate tier ranks: 2"):
        policy(MEMBER, GOLD, replace(PLATINUM, rank=2))
    with pytest.raises(ValueError, match=r"exactly one tier must have threshold 0 .*, found: none"):
        policy(SILVER, GOLD)
    with pytest.raises(ValueError, match="found: member, zero"):
        policy(MEMBER, Tier("zero", "Zero", "零", 1, 0))
    with pytest.raises(
        ValueError,
        match=r"thresholds must rise strictly with rank: tier 'gold' \(rank 2\) has 1000, "
        r"not above 1000 of tier 'silver' \(rank 1\)",
    ):
        policy(MEMBER, SILVER, replace(GOLD, threshold=1_000, retain=None))
    with pytest.raises(ValueError, match=r"tier 'member' \(rank 5\) has 0, not above 1000"):
        policy(replace(MEMBER, rank=5), SILVER)  # the zero tier must be the lowest
    with pytest.raises(ValueError, match="unknown review kind 'monthly' \\(known: anniversary, fixed\\)"):
        policy(*TIERS, review="monthly")
    with pytest.raises(ValueError, match="review_months must be at least 1, got 0"):
        policy(*TIERS, review_months=0)
    with pytest.raises(ValueError, match="review_month must be between 1 and 12, got 13"):
        policy(*TIERS, review="fixed", review_month=13)
    with pytest.raises(ValueError, match="review_day must be between 1 and 30 in month 4, got 31"):
        policy(*TIERS, review="fixed", review_month=4, review_day=31)
    with pytest.raises(ValueError, match=r"between 1 and 28 in month 2, got 29 .*use 28 February or 1 March"):
        policy(*TIERS, review="fixed", review_month=2, review_day=29)
    with pytest.raises(ValueError, match="review_day must be between 1 and 31 in month 1, got 0"):
        policy(*TIERS, review="fixed", review_day=0)
    with pytest.raises(ValueError, match="grace_days must not be negative, got -1"):
        policy(*TIERS, grace_days=-1)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        policy(*TIERS, timezone="Mars/Olympus")
    with pytest.raises(TypeError, match="timezone"):
        Policy(TIERS, "anniversary")  # type: ignore[call-arg]
    # Tiers in any order come out sorted by rank; the lookup knows them by code.
    shuffled = policy(GOLD, MEMBER, PLATINUM, SILVER)
    assert shuffled.tiers == TIERS
    assert shuffled.lowest is MEMBER
    assert shuffled.tier("gold") is GOLD
    with pytest.raises(
        ValueError, match="unknown tier 'diamond' \\(known: member, silver, gold, platinum\\)"
    ):
        shuffled.tier("diamond")


def test_standing_and_call_validation() -> None:
    with pytest.raises(ValueError, match="since must be a time-zone-aware datetime"):
        Standing("gold", datetime(2026, 1, 1), utc(2027, 1, 1))
    with pytest.raises(ValueError, match="review_at must be a time-zone-aware datetime"):
        Standing("gold", utc(2026, 1, 1), datetime(2027, 1, 1))
    with pytest.raises(ValueError, match=r"review_at \(2026-01-01T00:00:00\+00:00\) must be after since"):
        Standing("gold", utc(2026, 1, 1), utc(2026, 1, 1))
    with pytest.raises(
        ValueError, match=r"grace_until \(2027-01-01T00:00:00\+00:00\) must be after review_at"
    ):
        Standing("gold", utc(2026, 1, 1), utc(2027, 1, 1), utc(2027, 1, 1))
    with pytest.raises(ValueError, match="grace_until must be a time-zone-aware datetime"):
        Standing("gold", utc(2026, 1, 1), utc(2027, 1, 1), datetime(2027, 2, 1))
    policy = anniversary()
    with pytest.raises(ValueError, match="the time must be a time-zone-aware datetime"):
        on_value(policy, None, 0, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="the time must be a time-zone-aware datetime"):
        review(policy, GOLD_STANDING, 0, datetime(2027, 5, 1))
    with pytest.raises(ValueError, match="the qualifying value must not be negative, got -5"):
        on_value(policy, GOLD_STANDING, -5, utc(2026, 5, 1))
    with pytest.raises(ValueError, match="the qualifying value must not be negative"):
        progress(policy, GOLD_STANDING, -1)
    with pytest.raises(ValueError, match=r"the qualifying value must be an integer, got 12\.5"):
        review(policy, GOLD_STANDING, 12.5, GOLD_REVIEW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown tier 'diamond'"):
        review(policy, replace(GOLD_STANDING, tier="diamond"), 0, GOLD_REVIEW)
    with pytest.raises(
        ValueError, match=r"is before the member's standing since .*: decisions must be made in time order"
    ):
        on_value(policy, GOLD_STANDING, 30_000, GOLD_SINCE - timedelta(seconds=1))
    with pytest.raises(ValueError, match="decisions must be made in time order"):
        review(policy, GOLD_STANDING, 0, GOLD_SINCE - timedelta(seconds=1))
    assert qualifying_tier(policy, 4_999) is SILVER
    assert set(tiers.REASONS) == {
        "joined",
        "upgraded",
        "retained",
        "grace",
        "downgraded",
        "not_due",
        "unchanged",
    }


# --- properties -------------------------------------------------------------------------------

ZONES = [
    "UTC",
    SH,
    NY,
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # DST changes at midnight: local midnight is skipped once a year
    "Asia/Kathmandu",  # UTC+05:45
    "Pacific/Chatham",  # UTC+12:45 / +13:45
]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    n = draw(st.integers(1, 5))
    thresholds = [0, *accumulate(draw(st.lists(st.integers(1, 8_000), min_size=n - 1, max_size=n - 1)))]
    ranks = sorted(draw(st.lists(st.integers(-5, 50), min_size=n, max_size=n, unique=True)))
    tier_list = [
        Tier(f"t{i}", f"T{i}", f"等级{i}", rank, threshold, draw(st.none() | st.integers(0, threshold)))
        for i, (rank, threshold) in enumerate(zip(ranks, thresholds, strict=True))
    ]
    month = draw(st.integers(1, 12))
    return Policy(
        tuple(draw(st.permutations(tier_list))),
        draw(st.sampled_from(REVIEWS)),
        review_months=draw(st.integers(1, 24)),
        review_month=month,
        review_day=draw(st.integers(1, calendar.monthrange(2001, month)[1])),
        grace_days=draw(st.sampled_from([0, 0, 1, 7, 30, 90])),
        timezone=draw(st.sampled_from(ZONES)),
    )


starts = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2060, 1, 1),
    timezones=st.sampled_from([ZoneInfo(zone) for zone in ZONES]),
    allow_imaginary=False,
)
values = st.one_of(st.just(0), st.integers(0, 40_000))
# (value change, time advance, review), plus jumps to just before and exactly at the due date, and a
# review right at the due date (so that reviews, graces and drops are frequent, not a rare accident).
operations = st.one_of(
    st.tuples(st.just("value"), values),
    st.tuples(
        st.just("wait"), st.one_of(st.integers(1, 3 * 24 * 60), st.integers(1, 500 * 24 * 60))
    ),  # minutes
    st.tuples(st.just("review"), st.just(0)),
    st.tuples(st.just("to_due"), st.sampled_from([0, 1])),  # 1: one microsecond before it
    st.tuples(st.just("due_review"), st.just(0)),
)


@dataclass
class Step:
    """One operation of a run: the standing before it, the time, what was done and the decision."""

    before: Standing
    at: datetime
    kind: str
    value: int
    decision: Decision | None


def run(
    policy: Policy, start: datetime, first: int, ops: list[tuple[str, int]]
) -> tuple[Decision, list[Step]]:
    joined = on_value(policy, None, first, start)
    standing, now, value, steps = joined.standing, start, first, []
    for kind, arg in ops:
        made: Decision | None = None
        before = standing
        if kind == "wait":
            now += timedelta(minutes=arg)
        elif kind == "to_due":
            now = max(now, standing.due_at - timedelta(microseconds=arg))
        elif kind == "value":
            value = arg
            made = on_value(policy, standing, value, now)
        else:
            if kind == "due_review":
                now = max(now, standing.due_at)
            made = review(policy, standing, value, now)
        if made is not None:
            standing = made.standing
        steps.append(Step(before, now, kind, value, made))
    return joined, steps


scenarios = st.tuples(policies(), starts, values, st.lists(operations, min_size=4, max_size=40))


def reference_review(policy: Policy, since: datetime, after: datetime) -> datetime:
    """The first review after ``after``, the slow way: walk the calendar one period (or day) at a time."""
    zone = ZoneInfo(policy.timezone)
    if policy.review == "fixed":
        day = after.astimezone(zone).date() + timedelta(days=1)
        while (day.month, day.day) != (policy.review_month, policy.review_day):
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    start, n = since.astimezone(zone), 1
    while True:
        year, month = divmod(start.month - 1 + n * policy.review_months, 12)
        year, month = start.year + year, month + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        wall = datetime(
            year, month, day, start.hour, start.minute, start.second, start.microsecond, tzinfo=zone
        )
        if wall.astimezone(UTC) > after:
            return wall.astimezone(UTC)
        n += 1


def rank(policy: Policy, code: str) -> int:
    return policy.tier(code).rank


@settings(max_examples=300, deadline=None)
@given(scenarios)
def test_any_sequence_keeps_a_valid_tier_and_moves_down_only_at_a_due_review(
    scenario: tuple[Policy, datetime, int, list[tuple[str, int]]],
) -> None:
    policy, start, first, ops = scenario
    joined, steps = run(policy, start, first, ops)
    codes = {tier.code for tier in policy.tiers}
    assert joined.to_tier == qualifying_tier(policy, first).code
    assert joined.standing.review_at == reference_review(policy, start, start)
    for step in steps:
        made = step.decision
        if made is None:
            continue
        after = made.standing
        assert after.tier in codes
        assert made.reason in REASONS
        assert made.from_tier == step.before.tier
        assert made.to_tier == after.tier
        assert made.changed == (made.from_tier != made.to_tier)
        assert after.since <= step.at
        assert after.since.tzinfo is UTC
        assert after.review_at.tzinfo is UTC
        if rank(policy, after.tier) < rank(policy, step.before.tier):
            # A downgrade: only in review, at or after the review date (or the end of the grace).
            assert step.kind in ("review", "due_review")
            assert made.reason == "downgraded"
            assert step.at >= step.before.due_at
            assert step.value < policy.tier(step.before.tier).retain_level
        if made.reason in ("not_due", "unchanged"):
            assert after is step.before
        else:
            assert after.due_at > step.at  # whatever was decided, the next review is in the future
        if made.reason in ("joined", "upgraded", "downgraded"):
            assert after == Standing(after.tier, step.at, reference_review(policy, step.at, step.at))
        if step.kind == "value":
            expected = max(
                policy.tier(step.before.tier), qualifying_tier(policy, step.value), key=lambda t: t.rank
            )
            assert after.tier == expected.code
        if made.reason == "retained":
            assert step.value >= policy.tier(after.tier).retain_level
            assert after == Standing(
                after.tier, step.before.since, reference_review(policy, after.since, step.at)
            )
        if made.reason == "grace":
            assert policy.grace_days > 0
            assert step.before.grace_until is None
            assert after.review_at == step.before.review_at
            zone = ZoneInfo(policy.timezone)
            last = after.review_at.astimezone(zone).date() + timedelta(days=policy.grace_days)
            assert after.grace_until == datetime(last.year, last.month, last.day, tzinfo=zone)


@settings(max_examples=200, deadline=None)
@given(scenarios, values, st.floats(0, 1))
def test_on_value_never_moves_down_and_review_before_the_due_date_changes_nothing(
    scenario: tuple[Policy, datetime, int, list[tuple[str, int]]], value: int, share: float
) -> None:
    policy, start, first, ops = scenario
    joined, steps = run(policy, start, first, ops)
    standing = steps[-1].decision.standing if steps and steps[-1].decision else joined.standing
    now = steps[-1].at if steps else start
    # Any time from now up to (not including) the due date, and beyond it for on_value.
    span = standing.due_at - now
    before_due = now + span * share if span > timedelta(0) else None
    for at in filter(None, (now, before_due, standing.due_at, standing.due_at + timedelta(days=400))):
        moved = on_value(policy, standing, value, at)
        assert rank(policy, moved.to_tier) >= rank(policy, standing.tier)
        assert moved.reason in ("upgraded", "unchanged")
    if before_due is not None and before_due < standing.due_at:
        assert review(policy, standing, value, before_due) == Decision(
            standing, False, standing.tier, standing.tier, "not_due"
        )
    if now < standing.due_at:
        assert review(policy, standing, value, now).standing is standing


@settings(max_examples=200, deadline=None)
@given(scenarios, values)
def test_progress_numbers_are_never_negative(
    scenario: tuple[Policy, datetime, int, list[tuple[str, int]]], value: int
) -> None:
    policy, start, first, ops = scenario
    _, steps = run(policy, start, first, ops)
    standings = [step.before for step in steps] or [on_value(policy, None, first, start).standing]
    for standing in standings:
        shown = progress(policy, standing, value)
        assert shown.to_retain >= 0
        assert shown.to_next is None or shown.to_next >= 0
        assert 0.0 <= shown.fraction <= 1.0
        assert (shown.next_tier is None) == (shown.to_next is None)
        assert (shown.to_retain == 0) == (value >= policy.tier(standing.tier).retain_level)
        if shown.next_tier is not None:
            assert (shown.to_next == 0) == (value >= policy.tier(shown.next_tier).threshold)
