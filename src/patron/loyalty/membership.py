"""Members' tiers: the program's tier policy applied to each member's growth value, stored on the
account (tier, since, next review, grace) with every decision that changed something in
``tier_moves`` (why, and the value it saw).

The qualifying value, by the policy's ``basis``, is over the last 12 months (365 days) as of the
decision:

- ``growth`` (the default): the growth value, the sum of the ``growth`` deltas of the member's
  entries in that window (points earned, less those a refund took back; spending never lowers it);
- ``spend``: the member's spend in minor units of the program's currency, their valid orders
  placed in the window in the program's shop (any shop for a program across shops) less what was
  refunded on them (:func:`patron.commerce.service.spend_since`); orders in other currencies do
  not count.

A member's tier is updated after their points change (the crediting job, an earn over the API)
and reviewed nightly when their review is due (:func:`refresh`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.errors import InvalidInput
from patron.loyalty import repository as repo
from patron.loyalty import tiers
from patron.models import Priority
from patron.models.loyalty import LoyaltyProgram, PointsAccount, TierMove

WINDOW = timedelta(days=365)
POLICY_FIELDS = ("review", "review_months", "review_month", "review_day", "grace_days")
BASES = ("growth", "spend")

#: A policy to start from (the tiers editor offers it to a program without tiers; the demo uses
#: it): three tiers on the growth value, 保级 a fifth below the threshold, a month's grace.
EXAMPLE_POLICY: dict[str, Any] = {
    "basis": "growth",
    "review": "anniversary",
    "review_months": 12,
    "grace_days": 30,
    "tiers": [
        {"code": "member", "name_en": "Member", "name_zh": "普通会员", "rank": 0, "threshold": 0},
        {"code": "silver", "name_en": "Silver", "name_zh": "银卡会员", "rank": 1, "threshold": 2_000,
         "retain": 1_600, "benefits": {"points_multiplier": 1.2, "birthday_gift": 200}},
        {"code": "gold", "name_en": "Gold", "name_zh": "金卡会员", "rank": 2, "threshold": 8_000,
         "retain": 6_000, "benefits": {"points_multiplier": 1.5, "free_shipping": True, "discount_rate": 5,
                                       "priority_service": "high", "birthday_gift": 500}},
    ],
}  # fmt: skip

#: Ticket priorities, lowest first: the service desk's order (``patron.desk.service.PRIORITY_ORDER``
#: is the same enum in the same order; loyalty sits below the desk and reads it from the model).
PRIORITIES: tuple[str, ...] = tuple(str(p) for p in Priority)


def benefit_fits(key: str, value: object) -> bool:
    """Whether a value is of its benefit's kind (:func:`set_policy` refuses one that is not; one
    stored before it checked is left out of ``service.benefits``). Keys Patron does not know pass."""
    if key in ("discount_rate", "points_multiplier"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        return 0 <= value <= 100 if key == "discount_rate" else value >= 0
    if key == "free_shipping":
        return isinstance(value, bool)
    if key == "birthday_gift":
        if isinstance(value, str):
            return bool(value.strip())
        return not isinstance(value, bool) and isinstance(value, int) and value > 0
    if key == "priority_service":
        return value in PRIORITIES
    return True


def basis_of(program: LoyaltyProgram) -> str:
    return str((program.tier_policy or {}).get("basis", "growth"))


def _policy(spec: Mapping[str, Any], timezone: str) -> tiers.Policy:
    return tiers.Policy(
        tiers=tuple(tiers.Tier(**t) for t in spec["tiers"]),
        timezone=timezone,
        **{k: spec[k] for k in POLICY_FIELDS if k in spec},
    )


def policy_of(program: LoyaltyProgram) -> tiers.Policy | None:
    return _policy(program.tier_policy, program.timezone) if program.tier_policy else None


def set_policy(session: Session, program: LoyaltyProgram, spec: Mapping[str, Any]) -> tiers.Policy:
    """The program's tiers and review schedule, checked as the kernel reads them
    (``loyalty_bad_tiers`` says what is wrong)."""
    unknown = sorted(set(spec) - {"tiers", "basis", *POLICY_FIELDS})
    if unknown:
        raise InvalidInput(f"unknown tier policy fields: {', '.join(unknown)}", code="loyalty_bad_tiers")
    basis = spec.get("basis", "growth")
    if basis not in BASES:
        raise InvalidInput(f"the tier basis is growth or spend, not {basis!r}", code="loyalty_bad_tiers")
    if not isinstance(spec.get("tiers"), list):
        raise InvalidInput("a tier policy needs a list of tiers", code="loyalty_bad_tiers")
    if not all(isinstance(t, Mapping) for t in spec["tiers"]):
        raise InvalidInput(
            "each tier is an object with code, name_en, name_zh, rank, threshold (retain, benefits)",
            code="loyalty_bad_tiers",
        )
    for tier in spec["tiers"]:
        given = tier.get("benefits") or {}
        bad = [k for k, v in given.items() if not benefit_fits(k, v)] if isinstance(given, Mapping) else []
        if bad:
            raise InvalidInput(
                f"tier {tier.get('code')!r}: benefit {bad[0]} cannot be {given[bad[0]]!r} "
                "(discount_rate: percent 0-100; points_multiplier: a number >= 0; free_shipping: true/false; "
                f"birthday_gift: points or a reward code; priority_service: {', '.join(PRIORITIES)})",
                code="loyalty_bad_tiers",
            )
    stored = {
        "basis": basis,
        "tiers": [dict(t) for t in spec["tiers"]],
        **{k: spec[k] for k in POLICY_FIELDS if k in spec},
    }
    try:
        policy = _policy(stored, program.timezone)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(str(exc), code="loyalty_bad_tiers") from None
    program.tier_policy = stored
    session.flush()
    return policy


def standing_of(account: PointsAccount) -> tiers.Standing | None:
    if account.tier is None or account.tier_since is None or account.tier_review_at is None:
        return None
    return tiers.Standing(account.tier, account.tier_since, account.tier_review_at, account.tier_grace_until)


def values_of(
    session: Session, program: LoyaltyProgram, accounts: Sequence[PointsAccount], at: datetime
) -> dict[int, int]:
    """Each member's qualifying value as of ``at`` by account id (net refunds clamp to 0)."""
    since = at - WINDOW
    if basis_of(program) == "spend":
        customers = [a.customer_id for a in accounts]
        spent = commerce.spend_since(
            session, customers, since, at, shop_id=program.shop_id, currency=program.currency
        )
        return {a.id: max(spent.get(a.customer_id, 0), 0) for a in accounts}
    grown = repo.growth_since(session, [a.id for a in accounts], since)
    return {a.id: max(grown.get(a.id, 0), 0) for a in accounts}


def value_of(session: Session, program: LoyaltyProgram, account: PointsAccount, at: datetime) -> int:
    return values_of(session, program, [account], at)[account.id]


def refresh(
    session: Session, program: LoyaltyProgram, *, at: datetime, account_ids: Sequence[int] | None = None
) -> int:
    """Decide the tier of the given members (default: every member whose review is due, and
    those without a tier yet); how many moves were recorded (a review that keeps a member in the
    lowest tier moves their next review date only, and is not recorded)."""
    policy = policy_of(program)
    if policy is None:
        return 0
    accounts = repo.accounts_for_tiers(session, program.id, at, account_ids)
    values = values_of(session, program, accounts, at)
    moves = 0
    for account in accounts:
        value = values[account.id]
        standing = standing_of(account)
        if standing is not None and tiers.is_due(standing, at):
            decision = tiers.review(policy, standing, value, at)
        else:
            decision = tiers.on_value(policy, standing, value, at)
        if decision.standing == standing:
            continue
        new = decision.standing
        account.tier, account.tier_since = new.tier, new.since
        account.tier_review_at, account.tier_grace_until = new.review_at, new.grace_until
        if decision.reason == "retained" and new.tier == policy.tiers[0].code:
            continue  # the lowest tier is always kept: its review is no move (nor 保级) to report
        session.add(TierMove(account_id=account.id, from_tier=decision.from_tier, to_tier=decision.to_tier,
                             reason=decision.reason, value=value, at=at))  # fmt: skip
        moves += 1
    session.flush()
    return moves


def refresh_due(
    session: Session, program: LoyaltyProgram, *, at: datetime, batch: int = 20_000
) -> Iterator[int]:
    """:func:`refresh` of every member due (or without a tier), a batch at a time: the caller
    commits each, so members are locked one batch at a time. Yields the moves of each batch."""
    if policy_of(program) is None:
        return
    ids = repo.account_ids_for_tiers(session, program.id, at)
    for start in range(0, len(ids), batch):
        yield refresh(session, program, at=at, account_ids=ids[start : start + batch])


def progress(
    session: Session, program: LoyaltyProgram, account: PointsAccount, at: datetime
) -> tiers.Progress | None:
    policy, standing = policy_of(program), standing_of(account)
    if policy is None or standing is None:
        return None
    return tiers.progress(policy, standing, value_of(session, program, account, at))


def moves_of(session: Session, account_id: int, limit: int = 20) -> list[TierMove]:
    return repo.tier_moves(session, account_id, limit)
