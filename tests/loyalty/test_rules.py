"""Earning rules by hand (filters, tiers, caps, velocity, stop, dates, periods) and by property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.loyalty import rules
from patron.loyalty.rules import Award, AwardLine, Event, Line, Rule, Usage, evaluate, period_start

SH = "Asia/Shanghai"
NY = "America/New_York"
AT = datetime(2026, 3, 10, 4, tzinfo=UTC)
NO_USAGE = Usage()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def order(*lines: Line, shop: str | None = "tmall", currency: str = "CNY", tier: str | None = None) -> Event:
    return Event("order", AT, shop, currency, lines, tier)


def action(kind: str, shop: str | None = "tmall", tier: str | None = None, at: datetime = AT) -> Event:
    return Event(kind, at, shop, "CNY", tier=tier)


def line_of(award: Award, name: str) -> AwardLine:
    (found,) = [line for line in award.lines if line.rule == name]
    return found


def points_of(award: Award) -> dict[str, tuple[int, str]]:
    return {line.rule: (line.points, line.reason) for line in award.lines}


BASKET = (
    Line("TEA-1", "tea", 12050),  # 120.50
    Line("TEA-2", "tea", 3000),  # 30.00
    Line("MUG-1", "ware", 4999),  # 49.99
    Line("TEA-1", "tea", -800),  # a refunded line: counts as 0, never subtracts
    Line("GIFT", None, 0),
)


# --- spend ------------------------------------------------------------------------------------


def test_spend_per_unit_with_category_and_sku_filters() -> None:
    award = evaluate(
        [
            Rule("all", "spend", 1),  # 1 point per 1.00: 120.50 + 30.00 + 49.99 = 200.49 -> 200
            Rule("tea", "spend", 2, categories=("tea",)),  # 2 per 1.00 on 150.50 -> 301
            Rule("tea2", "spend", 3, categories=("tea",), skus=("TEA-2",)),  # 3 per 1.00 on 30.00 -> 90
            Rule("mug_tea", "spend", 5, categories=("tea",), skus=("MUG-1",)),  # both must hold: no line
            Rule("per10", "spend", 1, per_minor=1000),  # 1 per 10.00 on 200.49 -> 20
            Rule("per7", "spend", 3, per_minor=700),  # 20049 * 3 // 700 = 60147 // 700 = 85 (85.92)
            Rule("gift", "spend", 100, skus=("GIFT",)),  # matches a 0.00 line: applies, earns nothing
        ],
        order(*BASKET),
        NO_USAGE,
    )
    assert points_of(award) == {
        "all": (200, "awarded"),
        "gift": (0, "no_points"),
        "mug_tea": (0, "not_applicable"),
        "per10": (20, "awarded"),
        "per7": (85, "awarded"),
        "tea": (301, "awarded"),
        "tea2": (90, "awarded"),
    }
    assert award.points == 200 + 301 + 90 + 20 + 85
    assert line_of(award, "tea") == AwardLine("tea", 301, 301, 1.0, False, "awarded")


def test_refunded_lines_count_as_zero_and_points_are_never_negative() -> None:
    award = evaluate(
        [Rule("all", "spend", 1)], order(Line("A", "tea", -12000), Line("B", "tea", 99)), NO_USAGE
    )
    assert award == Award(0, (AwardLine("all", 0, 0, 1.0, False, "no_points"),))
    # 0.99 is below one unit; 1.99 earns one point, the floor, never a rounded-up two.
    assert evaluate([Rule("all", "spend", 1)], order(Line("A", "tea", 199)), NO_USAGE).points == 1


def test_spend_rules_do_not_apply_to_actions_and_actions_not_to_orders() -> None:
    spend, review = Rule("spend", "spend", 1), Rule("review", "review", 20)
    on_review = evaluate([spend, review], action("review"), NO_USAGE)
    assert points_of(on_review) == {"spend": (0, "not_applicable"), "review": (20, "awarded")}
    on_order = evaluate([spend, review], order(Line("A", "tea", 500)), NO_USAGE)
    assert points_of(on_order) == {"spend": (5, "awarded"), "review": (0, "not_applicable")}
    on_signup = evaluate([review], action("signup"), NO_USAGE)
    assert points_of(on_signup) == {"review": (0, "not_applicable")}


def test_shop_and_currency_filters() -> None:
    ruleset = [
        Rule("cny", "spend", 1, currency="CNY"),
        Rule("usd", "spend", 10, currency="USD"),
        Rule("any", "spend", 1),  # no currency: every currency
        Rule("jd_only", "spend", 2, shops=("jd", "pdd")),
        Rule("tmall_checkin", "checkin", 5, shops=("tmall",)),
    ]
    tmall_cny = evaluate(ruleset, order(Line("A", "tea", 1000)), NO_USAGE)
    assert points_of(tmall_cny) == {
        "cny": (10, "awarded"),
        "usd": (0, "not_applicable"),
        "any": (10, "awarded"),
        "jd_only": (0, "not_applicable"),
        "tmall_checkin": (0, "not_applicable"),
    }
    jd_usd = evaluate(ruleset, order(Line("A", "tea", 1000), shop="jd", currency="USD"), NO_USAGE)
    assert {name for name, (points, _) in points_of(jd_usd).items() if points} == {"usd", "any", "jd_only"}
    assert jd_usd.points == 100 + 10 + 20
    # An event without a shop never passes a shop filter; rules without one still apply.
    shopless = evaluate(ruleset, order(Line("A", "tea", 1000), shop=None), NO_USAGE)
    assert points_of(shopless)["jd_only"] == (0, "not_applicable")
    assert shopless.points == 20
    assert evaluate(ruleset, action("checkin"), NO_USAGE).points == 5
    assert evaluate(ruleset, action("checkin", shop="jd"), NO_USAGE).points == 0


# --- tiers ------------------------------------------------------------------------------------


def test_tier_multiplier_is_exact_and_rounds_down() -> None:
    multipliers = {"silver": 1.1, "gold": 1.5, "vip": 1.15, "frozen": 0.0}
    spend = Rule("spend", "spend", 1, tier_multipliers=multipliers)
    review = Rule("review", "review", 333, tier_multipliers=multipliers)
    basket = (Line("A", "tea", 10000),)  # base 100

    def earned(rule: Rule, event: Event) -> AwardLine:
        return evaluate([rule], event, NO_USAGE).lines[0]

    # 1.1 * 100 is 110.00000000000001 in floats; exactly 110 here.
    assert earned(spend, order(*basket, tier="silver")) == AwardLine("spend", 110, 100, 1.1, False, "awarded")
    # 1.15 is 1.149999… as a binary float: floor(Fraction(1.15) * 100) would give 114; it is 115.
    assert earned(spend, order(*basket, tier="vip")).points == 115
    # 333 * 1.5 = 499.5 -> 499; 333 * 1.1 = 366.3 -> 366.
    assert earned(review, action("review", tier="gold")) == AwardLine(
        "review", 499, 333, 1.5, False, "awarded"
    )
    assert earned(review, action("review", tier="silver")).points == 366
    # Unlisted tier or no tier: 1; a multiplier of 0 earns nothing.
    assert earned(review, action("review", tier="bronze")) == AwardLine(
        "review", 333, 333, 1.0, False, "awarded"
    )
    assert earned(review, action("review")).points == 333
    assert earned(review, action("review", tier="frozen")) == AwardLine(
        "review", 0, 333, 0.0, False, "no_points"
    )
    # The multiplier applies after the spend floor: 199 minor -> base 1 -> 1.5 -> 1.
    assert earned(spend, order(Line("A", "tea", 199), tier="gold")).points == 1


# --- caps and velocity ------------------------------------------------------------------------


def test_cap_gives_what_is_left_then_nothing() -> None:
    rule = Rule("spend", "spend", 1, cap=500, cap_period="month")
    event = order(Line("A", "tea", 20000))  # earns 200
    assert evaluate([rule], event, NO_USAGE).lines[0] == AwardLine("spend", 200, 200, 1.0, False, "awarded")
    assert evaluate([rule], event, Usage({"spend": 300})).lines[0] == AwardLine(
        "spend", 200, 200, 1.0, False, "awarded"
    )  # exactly up to the cap is not capped
    assert evaluate([rule], event, Usage({"spend": 450})).lines[0] == AwardLine(
        "spend", 50, 200, 1.0, True, "capped"
    )
    assert evaluate([rule], event, Usage({"spend": 500})).lines[0] == AwardLine(
        "spend", 0, 200, 1.0, True, "cap_reached"
    )
    # The cap was lowered below what the member already has: nothing, never negative.
    assert evaluate([rule], event, Usage({"spend": 900})).points == 0
    # Usage of another rule does not count.
    assert evaluate([rule], event, Usage({"other": 500})).points == 200


def test_cap_applies_after_the_tier_multiplier() -> None:
    rule = Rule("review", "review", 40, cap=100, cap_period="ever", tier_multipliers={"gold": 2.0})
    assert evaluate([rule], action("review", tier="gold"), Usage({"review": 40})).lines[0] == AwardLine(
        "review", 60, 40, 2.0, True, "capped"
    )


def test_velocity_limits_occurrences_in_the_window() -> None:
    rule = Rule("review", "review", 20, velocity=3, velocity_window_hours=24)
    assert evaluate([rule], action("review"), Usage(occurrences_in_window={"review": 2})).points == 20
    blocked = evaluate([rule], action("review"), Usage(occurrences_in_window={"review": 3}))
    assert blocked == Award(0, (AwardLine("review", 0, 20, 1.0, False, "velocity"),))
    # Velocity is checked before the cap, and only for the rule it names.
    capped = Rule("review", "review", 20, velocity=3, cap=10)
    both = Usage({"review": 10}, {"review": 5})
    assert evaluate([capped], action("review"), both).lines[0].reason == "velocity"
    assert evaluate([rule], action("review"), Usage(occurrences_in_window={"survey": 9})).points == 20


# --- stop -------------------------------------------------------------------------------------


def stop_chain() -> list[Rule]:
    # Given out of order on purpose: position decides, then the name.
    return [
        Rule("standard", "spend", 1, position=2),
        Rule("signup", "signup", 100, position=3),
        Rule("tea_double", "spend", 2, categories=("tea",), cap=300, stop=True, position=1),
        Rule("b_tie", "spend", 0, position=2),
    ]


def test_a_stop_rule_that_gives_points_stops_later_rules() -> None:
    award = evaluate(stop_chain(), order(Line("A", "tea", 10000), Line("B", "ware", 5000)), NO_USAGE)
    assert [(line.rule, line.points, line.reason) for line in award.lines] == [
        ("tea_double", 200, "awarded"),
        ("b_tie", 0, "stopped"),
        ("standard", 0, "stopped"),
        ("signup", 0, "stopped"),
    ]
    assert award.points == 200
    # Capped but still giving points: still stops.
    partly = evaluate(stop_chain(), order(Line("A", "tea", 10000)), Usage({"tea_double": 250}))
    assert points_of(partly) == {
        "tea_double": (50, "capped"),
        "b_tie": (0, "stopped"),
        "standard": (0, "stopped"),
        "signup": (0, "stopped"),
    }


def test_a_stop_rule_that_gives_nothing_does_not_stop() -> None:
    basket = order(Line("A", "tea", 10000), Line("B", "ware", 5000))
    capped_out = evaluate(stop_chain(), basket, Usage({"tea_double": 300}))
    assert points_of(capped_out) == {
        "tea_double": (0, "cap_reached"),
        "b_tie": (0, "no_points"),
        "standard": (150, "awarded"),
        "signup": (0, "not_applicable"),
    }
    no_tea = evaluate(stop_chain(), order(Line("B", "ware", 5000)), NO_USAGE)
    assert points_of(no_tea)["tea_double"] == (0, "not_applicable")
    assert no_tea.points == 50
    too_fast = [
        Rule("review_once", "review", 10, velocity=1, stop=True),
        Rule("review", "review", 5, position=1),
    ]
    assert points_of(
        evaluate(too_fast, action("review"), Usage(occurrences_in_window={"review_once": 1}))
    ) == {
        "review_once": (0, "velocity"),
        "review": (5, "awarded"),
    }
    zero = [Rule("frozen", "review", 10, stop=True, tier_multipliers={"x": 0}), Rule("z", "review", 5)]
    assert points_of(evaluate(zero, action("review", tier="x"), NO_USAGE)) == {
        "frozen": (0, "no_points"),
        "z": (5, "awarded"),
    }


# --- active and dates -------------------------------------------------------------------------


def test_inactive_and_date_bounded_rules() -> None:
    starts, ends = utc(2026, 3, 1), utc(2026, 4, 1)
    ruleset = [
        Rule("off", "checkin", 5, active=False),
        Rule("march", "checkin", 7, starts=starts, ends=ends),
        Rule("always", "checkin", 1),
    ]

    def at(when: datetime) -> dict[str, tuple[int, str]]:
        return points_of(evaluate(ruleset, action("checkin", at=when), NO_USAGE))

    assert at(starts - timedelta(microseconds=1)) == {
        "always": (1, "awarded"),
        "march": (0, "not_started"),
        "off": (0, "inactive"),
    }
    assert at(starts)["march"] == (7, "awarded")  # starts is included
    assert at(ends - timedelta(microseconds=1))["march"] == (7, "awarded")
    assert at(ends)["march"] == (0, "ended")  # ends is not
    # Only a start, only an end; a Shanghai-local bound compares as the instant it is.
    local_start = datetime(2026, 3, 10, 12, tzinfo=ZoneInfo(SH))  # 04:00 UTC, the same as AT
    assert evaluate([Rule("from", "checkin", 3, starts=local_start)], action("checkin"), NO_USAGE).points == 3
    assert evaluate([Rule("until", "checkin", 3, ends=local_start)], action("checkin"), NO_USAGE).points == 0


# --- periods ----------------------------------------------------------------------------------


def test_period_start_uses_the_local_day_not_the_utc_day() -> None:
    late = datetime(2026, 3, 31, 23, 59, tzinfo=ZoneInfo(SH))  # 15:59 UTC, still 31 March in Shanghai
    assert late.astimezone(UTC) == utc(2026, 3, 31, 15, 59)
    assert period_start(late, "day", SH) == utc(2026, 3, 30, 16)
    assert period_start(late, "month", SH) == utc(2026, 2, 28, 16)  # 1 March 00:00 in Shanghai
    # Half an hour later it is 1 April in Shanghai and still 31 March in UTC.
    after = utc(2026, 3, 31, 16, 30)
    assert period_start(after, "day", SH) == utc(2026, 3, 31, 16)
    assert period_start(after, "month", SH) == utc(2026, 3, 31, 16)
    assert period_start(after, "day", "UTC") == utc(2026, 3, 31)
    assert period_start(after, "month", "UTC") == utc(2026, 3, 1)
    assert period_start(after, "year", SH) == utc(2025, 12, 31, 16)
    assert period_start(after, "ever", SH) is None


def test_weeks_start_on_monday() -> None:
    # Saturday 31 January, Sunday 1 February, Monday 2 February 2026 (Shanghai).
    monday_26 = utc(2026, 1, 25, 16)
    assert period_start(datetime(2026, 1, 31, 23, 59, tzinfo=ZoneInfo(SH)), "week", SH) == monday_26
    assert period_start(datetime(2026, 2, 1, 23, 59, tzinfo=ZoneInfo(SH)), "week", SH) == monday_26
    monday_2 = datetime(2026, 2, 2, tzinfo=ZoneInfo(SH))
    assert period_start(monday_2, "week", SH) == monday_2.astimezone(UTC) == utc(2026, 2, 1, 16)
    assert period_start(monday_2 - timedelta(microseconds=1), "week", SH) == monday_26


def test_month_ends_and_leap_days() -> None:
    end_of_january = datetime(2026, 1, 31, 23, 59, 59, tzinfo=ZoneInfo(SH))
    assert period_start(end_of_january, "month", SH) == utc(2025, 12, 31, 16)
    assert period_start(end_of_january + timedelta(seconds=1), "month", SH) == utc(2026, 1, 31, 16)
    leap = datetime(2028, 2, 29, 12, tzinfo=ZoneInfo(SH))  # a Tuesday
    assert period_start(leap, "day", SH) == utc(2028, 2, 28, 16)
    assert period_start(leap, "week", SH) == utc(2028, 2, 27, 16)  # Monday 28 February
    assert period_start(leap, "month", SH) == utc(2028, 1, 31, 16)
    assert period_start(leap, "year", SH) == utc(2027, 12, 31, 16)
    assert period_start(datetime(2028, 3, 1, tzinfo=ZoneInfo(SH)), "month", SH) == utc(2028, 2, 29, 16)


def test_a_dst_zone_keeps_local_midnight() -> None:
    # New York: EST (UTC-5) until 8 March 2026 02:00, EDT (UTC-4) until 1 November 2026 02:00.
    spring_day = datetime(2026, 3, 8, 12, tzinfo=ZoneInfo(NY))  # the 23-hour day, already EDT
    assert period_start(spring_day, "day", NY) == utc(2026, 3, 8, 5)  # midnight was still EST
    assert period_start(spring_day, "week", NY) == utc(2026, 3, 2, 5)  # Monday 2 March
    assert period_start(datetime(2026, 3, 9, 1, tzinfo=ZoneInfo(NY)), "day", NY) == utc(2026, 3, 9, 4)
    assert period_start(datetime(2026, 3, 20, tzinfo=ZoneInfo(NY)), "month", NY) == utc(2026, 3, 1, 5)
    fall_day = datetime(2026, 11, 1, 23, tzinfo=ZoneInfo(NY))  # the 25-hour day, now EST
    assert period_start(fall_day, "day", NY) == utc(2026, 11, 1, 4)  # midnight was EDT
    assert period_start(fall_day, "month", NY) == utc(2026, 11, 1, 4)
    assert period_start(datetime(2026, 7, 4, tzinfo=ZoneInfo(NY)), "year", NY) == utc(2026, 1, 1, 5)


def test_period_start_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown cap period 'quarter'"):
        period_start(AT, "quarter", SH)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        period_start(AT, "day", "Mars/Olympus")
    with pytest.raises(ValueError, match="time-zone-aware"):
        period_start(datetime(2026, 1, 1), "day", SH)


@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    period=st.sampled_from(["day", "week", "month", "year"]),
    zone=st.sampled_from([SH, NY, "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]),
)
def test_a_period_starts_at_local_midnight_at_or_before_the_time(
    at: datetime, period: str, zone: str
) -> None:
    start = period_start(at, period, zone)
    assert start is not None
    assert start <= at
    assert start.tzinfo is UTC
    local = start.astimezone(ZoneInfo(zone))
    assert local.time().isoformat() == "00:00:00"
    assert period_start(start, period, zone) == start  # the start belongs to its own period
    if period == "week":
        assert local.weekday() == 0
    if period in ("month", "year"):
        assert local.day == 1
    if period == "year":
        assert local.month == 1


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "purchase"}, "rule 'r': unknown kind 'purchase'"),
        ({"cap_period": "quarter"}, "rule 'r': unknown cap period 'quarter'"),
        ({"per_minor": 0}, "per_minor must be at least 1, got 0"),
        ({"points": -1}, "points must not be negative, got -1"),
        ({"tier_multipliers": {"gold": -0.5}}, "multiplier for tier 'gold' must be 0 or more, got -0.5"),
        ({"tier_multipliers": {"gold": float("nan")}}, "multiplier for tier 'gold' must be 0 or more"),
        ({"tier_multipliers": {"gold": "2"}}, "multiplier for tier 'gold' must be a number"),
        ({"cap": -1}, "the cap must not be negative"),
        ({"velocity": -1}, "the velocity limit must not be negative"),
        ({"velocity_window_hours": 0}, "the velocity window must be at least 1 hour"),
        (
            {"kind": "review", "categories": ("tea",)},
            "categories only applies to spend rules, not to 'review'",
        ),
        ({"kind": "review", "currency": "CNY"}, "currency only applies to spend rules"),
        ({"starts": datetime(2026, 1, 1)}, "rule 'r': starts must be a time-zone-aware datetime"),
        ({"starts": utc(2026, 2, 1), "ends": utc(2026, 2, 1)}, "must be before ends"),
        ({"name": ""}, "a rule needs a name"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"name": "r", "kind": "spend", "points": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Rule(**fields)  # type: ignore[arg-type]


def test_bad_events_usage_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'purchase'"):
        Event("purchase", AT, None, "CNY")
    with pytest.raises(ValueError, match="the event time must be a time-zone-aware datetime"):
        Event("order", datetime(2026, 1, 1), None, "CNY")
    with pytest.raises(ValueError, match="usage of rule 'r': points in period must not be negative"):
        Usage({"r": -1})
    twice = [Rule("a", "spend", 1), Rule("b", "review", 1), Rule("a", "review", 2), Rule("b", "signup", 1)]
    with pytest.raises(ValueError, match="duplicate rule names: 'a', 'b'"):
        rules.check_rules(twice)
    with pytest.raises(ValueError, match="duplicate rule names: 'a'"):
        evaluate(twice[:3], action("review"), NO_USAGE)
    rules.check_rules(twice[:2])  # no error


def test_a_rule_keeps_its_own_copy_of_the_multipliers() -> None:
    multipliers = {"gold": 2.0}
    rule = Rule("r", "review", 10, tier_multipliers=multipliers)
    multipliers["gold"] = 10.0
    assert evaluate([rule], action("review", tier="gold"), NO_USAGE).points == 20
    assert hash(rule) == hash(Rule("r", "review", 10, tier_multipliers={"gold": 2.0}))


# --- properties -------------------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "e", "f")
SHOPS = ("tmall", "jd", "pdd")
CATEGORIES = ("tea", "ware", "gift")
SKUS = ("S1", "S2", "S3", "S4")
TIERS = ("silver", "gold", "vip")
LIMIT = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)


def subsets(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), unique=True, max_size=2).map(tuple)


@st.composite
def a_rule(draw: st.DrawFn, name: str) -> Rule:
    kind = draw(st.sampled_from(rules.RULE_KINDS))
    spend = kind == "spend"
    starts = draw(st.none() | st.datetimes(*(t.replace(tzinfo=None) for t in LIMIT), timezones=st.just(UTC)))
    ends = draw(st.none() | st.datetimes(*(t.replace(tzinfo=None) for t in LIMIT), timezones=st.just(UTC)))
    if starts is not None and ends is not None and starts >= ends:
        starts, ends = None, ends
    multiplier = st.sampled_from([0.0, 0.5, 1.0, 1.1, 1.15, 1.5, 2.0]) | st.floats(0, 10)
    return Rule(
        name=name,
        kind=kind,
        points=draw(st.integers(0, 500)),
        per_minor=draw(st.integers(1, 2000)),
        currency=draw(st.sampled_from([None, "CNY", "USD"])) if spend else None,
        shops=draw(subsets(SHOPS)),
        categories=draw(subsets(CATEGORIES)) if spend else (),
        skus=draw(subsets(SKUS)) if spend else (),
        tier_multipliers=draw(st.dictionaries(st.sampled_from(TIERS), multiplier, max_size=3)),
        cap=draw(st.none() | st.integers(0, 3000)),
        cap_period=draw(st.sampled_from(rules.PERIODS)),
        velocity=draw(st.none() | st.integers(0, 4)),
        stop=draw(st.booleans()),
        position=draw(st.integers(0, 3)),  # many ties, broken by name
        active=draw(st.booleans() | st.just(True)),
        starts=starts,
        ends=ends,
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    return [draw(a_rule(name)) for name in names]


events = st.builds(
    Event,
    kind=st.sampled_from(rules.EVENT_KINDS),
    at=st.datetimes(*(t.replace(tzinfo=None) for t in LIMIT), timezones=st.just(UTC)),
    shop=st.none() | st.sampled_from(SHOPS),
    currency=st.sampled_from(["CNY", "USD"]),
    lines=st.lists(
        st.builds(
            Line,
            sku=st.sampled_from(SKUS),
            category=st.none() | st.sampled_from(CATEGORIES),
            amount_minor=st.integers(-20_000, 200_000),
        ),
        max_size=5,
    ).map(tuple),
    tier=st.none() | st.sampled_from(TIERS),
)
usages = st.builds(
    Usage,
    points_in_period=st.dictionaries(st.sampled_from(NAMES), st.integers(0, 4000)),
    occurrences_in_window=st.dictionaries(st.sampled_from(NAMES), st.integers(0, 6)),
)


@given(ruleset=rule_sets(), event=events, usage=usages)
def test_awards_are_never_negative_and_add_up(ruleset: list[Rule], event: Event, usage: Usage) -> None:
    award = evaluate(ruleset, event, usage)
    assert award.points >= 0
    assert all(line.points >= 0 and line.base >= 0 for line in award.lines)
    assert award.points == sum(line.points for line in award.lines)
    assert all(line.reason in rules.REASONS for line in award.lines)
    assert all((line.points > 0) == (line.reason in ("awarded", "capped")) for line in award.lines)


@given(ruleset=rule_sets(), event=events, usage=usages)
def test_caps_are_never_exceeded(ruleset: list[Rule], event: Event, usage: Usage) -> None:
    award = evaluate(ruleset, event, usage)
    for rule in ruleset:
        if rule.cap is None:
            continue
        used, given_now = usage.points_in_period.get(rule.name, 0), line_of(award, rule.name).points
        assert given_now <= max(rule.cap - used, 0)
        if used <= rule.cap:
            assert used + given_now <= rule.cap


@given(ruleset=rule_sets(), event=events, usage=usages, data=st.data())
def test_evaluation_is_deterministic_and_ignores_the_input_order(
    ruleset: list[Rule], event: Event, usage: Usage, data: st.DataObject
) -> None:
    award = evaluate(ruleset, event, usage)
    assert evaluate(ruleset, event, usage) == award
    assert evaluate(data.draw(st.permutations(ruleset)), event, usage) == award
    assert evaluate(tuple(reversed(ruleset)), event, usage) == award
    # One line per rule, in (position, name) order; after a stop rule gives points, all is stopped.
    by_name = {rule.name: rule for rule in ruleset}
    assert [line.rule for line in award.lines] == [
        rule.name for rule in sorted(ruleset, key=lambda r: (r.position, r.name))
    ]
    stopped = False
    for line in award.lines:
        assert (line.reason == "stopped") == stopped
        stopped = stopped or (by_name[line.rule].stop and line.points > 0)
