"""The vectorised evaluation of a page of orders gives each order what the kernel gives it one
at a time (hypothesis over random rules, orders, lines, tiers, prior usage and time zones)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.loyalty import batch, rules
from patron.loyalty.rules import Rule

T0 = datetime(2026, 1, 30, 12, tzinfo=UTC)
ZONES = ["Asia/Shanghai", "America/New_York", "UTC"]
PRIOR = {"account_id": pl.Int64, "rule": pl.Utf8, "points": pl.Int64, "at": pl.Datetime("us", "UTC")}

rule_st = st.builds(
    Rule,
    name=st.sampled_from(["a", "b", "c", "d"]),
    kind=st.just("spend"),
    points=st.integers(0, 5),
    per_minor=st.sampled_from([1, 100, 250]),
    currency=st.sampled_from([None, "CNY"]),
    shops=st.sampled_from([(), ("site",), ("tmall", "site")]),
    categories=st.sampled_from([(), ("tea",), ("tea", "cup")]),
    skus=st.sampled_from([(), ("S1",)]),
    tier_multipliers=st.sampled_from([{}, {"gold": 1.5}, {"gold": 1.1, "silver": 0.7}]),
    cap=st.sampled_from([None, None, 0, 50, 300]),
    cap_period=st.sampled_from(["day", "week", "month", "year", "ever"]),
    stop=st.booleans(),
    position=st.integers(0, 3),
    active=st.sampled_from([True, True, False]),
    starts=st.sampled_from([None, T0 + timedelta(days=3)]),
    ends=st.sampled_from([None, T0 + timedelta(days=20)]),
)
order_st = st.tuples(
    st.integers(1, 3),  # account
    st.sampled_from(["site", "tmall", None]),
    st.sampled_from(["CNY", "USD"]),
    st.integers(0, 60 * 24 * 40),  # minutes after T0
    st.sampled_from([None, "gold", "silver"]),
    st.lists(
        st.tuples(
            st.sampled_from(["S1", "S2"]), st.sampled_from(["tea", "cup", None]), st.integers(-500, 40_000)
        ),
        min_size=0,
        max_size=3,
    ),
)


def kernel_page(
    program: list[Rule], orders: list[tuple], prior: list[tuple[int, str, int, datetime]], tz: str
) -> dict[int, dict[str, int]]:
    """The kernel, order by order in (time, id) order, usage counted as the batch counts it."""
    got: dict[tuple[int, str], list[tuple[datetime, int]]] = defaultdict(list)
    for account, rule, points, at in prior:
        got[account, rule].append((at, points))
    out: dict[int, dict[str, int]] = {}
    for oid, account, shop, currency, at, tier, lines in sorted(orders, key=lambda o: (o[4], o[0])):
        in_period = {}
        for rule in program:
            start = rules.period_start(at, rule.cap_period, tz)
            in_period[rule.name] = sum(
                p
                for when, p in got[account, rule.name]
                if rules.period_start(when, rule.cap_period, tz) == start
            )
        event = rules.Event(kind="order", at=at, shop=shop, currency=currency, tier=tier,
                            lines=tuple(rules.Line(s, c, a) for s, c, a in lines))  # fmt: skip
        award = rules.evaluate(program, event, rules.Usage(points_in_period=in_period))
        out[oid] = {line.rule: line.points for line in award.lines if line.points > 0}
        for line in award.lines:
            if line.points > 0:
                got[account, line.rule].append((at, line.points))
    return out


@settings(max_examples=200, deadline=None)
@given(
    program=st.lists(rule_st, max_size=4, unique_by=lambda r: r.name).map(
        lambda spend: [*spend, Rule(name="review", kind="review", points=5, stop=True)]  # never for orders
    ),
    raw=st.lists(order_st, max_size=25),
    prior=st.lists(
        st.tuples(
            st.integers(1, 3),
            st.sampled_from(["a", "b", "c", "d"]),
            st.integers(1, 200),
            st.integers(-60 * 24 * 40, 60 * 24 * 40),
        ),
        max_size=6,
    ),
    tz=st.sampled_from(ZONES),
)
def test_the_page_gets_what_the_kernel_gives_each_order(
    program: list[Rule], raw: list[tuple], prior: list[tuple[int, str, int, int]], tz: str
) -> None:
    orders = [(i + 1, a, shop, cur, T0 + timedelta(minutes=m), tier, lines)
              for i, (a, shop, cur, m, tier, lines) in enumerate(raw)]  # fmt: skip
    earlier = [(a, r, p, T0 + timedelta(minutes=m)) for a, r, p, m in prior]
    expected = kernel_page(program, orders, earlier, tz)
    frame = pl.DataFrame(
        [(o[0], o[1], o[2], o[3], o[4], o[5]) for o in orders],
        schema={"order_id": pl.Int64, "account_id": pl.Int64, "shop": pl.Utf8, "currency": pl.Utf8,
                "placed_at": pl.Datetime("us", "UTC"), "tier": pl.Utf8},
        orient="row",
    )  # fmt: skip
    lines = pl.DataFrame(
        [(o[0], s, c, a) for o in orders for s, c, a in o[6]],
        schema={"order_id": pl.Int64, "sku": pl.Utf8, "category": pl.Utf8, "amount_minor": pl.Int64},
        orient="row",
    )
    awards = batch.evaluate_orders(
        program, frame, lines, pl.DataFrame(earlier, schema=PRIOR, orient="row"), tz
    )
    got: dict[int, dict[str, int]] = {o[0]: {} for o in orders}
    for oid, rule, points in awards.select("order_id", "rule", "points").iter_rows():
        got[oid][rule] = points
    assert got == expected
    assert batch.totals(frame, awards)["points"].sum() == sum(sum(v.values()) for v in expected.values())


def test_velocity_rules_are_not_taken_in_bulk() -> None:
    assert batch.supported([Rule(name="a", kind="spend", points=1)])
    assert batch.supported([Rule(name="a", kind="review", points=1, velocity=3)])
    assert not batch.supported([Rule(name="a", kind="spend", points=1, velocity=3)])
