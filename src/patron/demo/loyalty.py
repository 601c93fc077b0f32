"""The demo shop's loyalty program: ``club`` across every shop, one point per yuan spent (more
for silver and gold members), three tiers on the growth value with 保级 and benefits, a rewards
catalog, and its history replayed month by month over the demo's period, so the report has
months of points issued, redeemed and expired, and members have tiers, lots and coupons.

The replay is the production code run at past moments: at the end of each month the orders
placed in it are credited (``earning.earn_orders`` with ``now`` = that moment: the last week's
orders stay locked through the return window), the month's refunds take their points back, the
nightly settling unlocks and expires what is
due, tiers move, and some members who can afford a reward take one. Then everything is settled
as of ``now``. Deterministic for a given database (a seeded random choice of who redeems).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import Conflict
from patron.loyalty import earning, expiry, membership, rewards, service

CODE = "club"
REWARDS: tuple[dict[str, Any], ...] = (
    {"code": "SHIP", "name_en": "Free shipping", "name_zh": "包邮券", "kind": "free_shipping",
     "cost_points": 300},
    {"code": "C10", "name_en": "10 yuan off", "name_zh": "10元优惠券", "kind": "coupon", "cost_points": 1_000,
     "value_minor": 1_000, "currency": "CNY"},
    {"code": "C50", "name_en": "50 yuan off orders over 300", "name_zh": "满300减50券", "kind": "coupon",
     "cost_points": 4_500, "value_minor": 5_000, "currency": "CNY", "per_customer_limit": 2},
    {"code": "MUG", "name_en": "Patron mug", "name_zh": "定制马克杯", "kind": "gift", "cost_points": 3_000,
     "stock": 300, "per_customer_limit": 1},
)  # fmt: skip
TAKERS_PER_MONTH = 60  # members who take a reward at the end of each month


def seed(
    session: Session,
    *,
    start: date,
    end: date,
    now: datetime,
    timezone: str = "Asia/Shanghai",
    step: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Create the program and replay ``[start, end)`` month by month, then settle as of ``now``;
    commits as it goes. What it came to (orders credited, points, rewards taken); nothing when
    the program exists (the demo built again)."""
    totals = {"orders": 0, "points": 0, "rewards": 0}
    if any(p.code == CODE for p in service.programs(session)):
        return totals
    club = service.create_program(session, {"code": CODE, "name": "Patron Club 会员俱乐部", "currency": "CNY",
                                            "point_value_minor": 1, "timezone": timezone, "lock_days": 7,
                                            "expiry": "end_of_next_year", "debt_rule": "offset"})  # fmt: skip
    membership.set_policy(session, club, membership.EXAMPLE_POLICY)
    earning.add_rule(session, club, {"name": "standard", "kind": "spend", "points": 1, "per_minor": 100,
                                     "currency": "CNY", "position": 1,
                                     "tier_multipliers": {"silver": 1.2, "gold": 1.5}})  # fmt: skip
    for reward in REWARDS:
        rewards.add_reward(session, club, reward)
    session.commit()
    chooser = random.Random(7)
    month = start.replace(day=1)
    previous: datetime | None = None
    while month < end:
        following = (month + timedelta(days=32)).replace(day=1)
        moment = min(expiry.start_of(following, timezone), now)
        if step is not None:
            step(month.strftime("%Y-%m"))
        _month(session, club, previous, moment, chooser, totals)
        previous, month = moment, following
    _month(session, club, previous, now, chooser, totals)
    return totals


def _month(
    session: Session,
    club: Any,
    since: datetime | None,
    moment: datetime,
    chooser: random.Random,
    totals: dict[str, int],
) -> None:
    """What the jobs would have done by ``moment``: credit, settle, review tiers; then rewards."""
    for page in earning.earn_orders(session, club, now=moment, placed_from=since):
        membership.refresh(session, club, at=moment, account_ids=page.members)
        totals["orders"] += page.credited
        totals["points"] += page.points
        session.commit()
    for _ in earning.claw_back_refunds(session, club, now=moment):
        session.commit()
    for _ in service.settle_due(session, now=moment):
        session.commit()
    membership.refresh(session, club, at=moment)
    cheapest = min(r["cost_points"] for r in REWARDS)
    able = service.customers_with_points(session, club, cheapest, limit=100_000)
    for customer_id in chooser.sample(able, min(TAKERS_PER_MONTH, len(able))):
        reward = str(chooser.choice(REWARDS)["code"])
        try:
            with session.begin_nested():
                rewards.redeem(session, club, customer_id, reward, key=f"demo:{moment:%Y%m}:{customer_id}",
                               actor="demo", now=moment)  # fmt: skip
            totals["rewards"] += 1
        except Conflict:  # too few points for this one, out of stock, or the member's limit
            continue
    session.commit()
