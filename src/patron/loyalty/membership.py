"""Members' tiers: the program's tier policy applied to each member's growth value, stored on the
account (tier, since, next review, grace) with every decision that changed something in
``tier_moves`` (why, and the value it saw).

The qualifying value is the growth value earned in the last 12 months (365 days) as of the
decision: the sum of the ``growth`` deltas of the member's entries in that window (points
earned, less those a refund took back; spending never lowers it). A member's tier is updated
after their points change (the crediting job, an earn over the API) and reviewed nightly when
their review is due (:func:`refresh`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput
from patron.loyalty import repository as repo
from patron.loyalty import tiers
from patron.models.loyalty import LoyaltyProgram, PointsAccount, TierMove

WINDOW = timedelta(days=365)
POLICY_FIELDS = ("review", "review_months", "review_month", "review_day", "grace_days")


def policy_of(program: LoyaltyProgram) -> tiers.Policy | None:
    spec = program.tier_policy
    if not spec:
        return None
    return tiers.Policy(
        tiers=tuple(tiers.Tier(**t) for t in spec["tiers"]),
        timezone=program.timezone,
        **{k: spec[k] for k in POLICY_FIELDS if k in spec},
    )


def set_policy(session: Session, program: LoyaltyProgram, spec: Mapping[str, Any]) -> tiers.Policy:
    """The program's tiers and review schedule, checked as the kernel reads them
    (``loyalty_bad_tiers`` says what is wrong)."""
    stored = {
        "tiers": [dict(t) for t in spec.get("tiers", [])],
        **{k: spec[k] for k in POLICY_FIELDS if k in spec},
    }
    try:
        policy = tiers.Policy(
            tiers=tuple(tiers.Tier(**t) for t in stored["tiers"]),
            timezone=program.timezone,
            **{k: stored[k] for k in POLICY_FIELDS if k in stored},
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(str(exc), code="loyalty_bad_tiers") from None
    program.tier_policy = stored
    session.flush()
    return policy


def standing_of(account: PointsAccount) -> tiers.Standing | None:
    if account.tier is None or account.tier_since is None or account.tier_review_at is None:
        return None
    return tiers.Standing(account.tier, account.tier_since, account.tier_review_at, account.tier_grace_until)


def value_of(session: Session, account: PointsAccount, at: datetime) -> int:
    return max(repo.growth_since(session, [account.id], at - WINDOW).get(account.id, 0), 0)


def refresh(
    session: Session, program: LoyaltyProgram, *, at: datetime, account_ids: Sequence[int] | None = None
) -> int:
    """Decide the tier of the given members (default: every member whose review is due, and
    those without a tier yet); how many decisions changed something."""
    policy = policy_of(program)
    if policy is None:
        return 0
    accounts = repo.accounts_for_tiers(session, program.id, at, account_ids)
    values = repo.growth_since(session, [a.id for a in accounts], at - WINDOW)
    moves = 0
    for account in accounts:
        value = max(values.get(account.id, 0), 0)
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
        session.add(TierMove(account_id=account.id, from_tier=decision.from_tier, to_tier=decision.to_tier,
                             reason=decision.reason, value=value, at=at))  # fmt: skip
        moves += 1
    session.flush()
    return moves


def progress(
    session: Session, program: LoyaltyProgram, account: PointsAccount, at: datetime
) -> tiers.Progress | None:
    policy, standing = policy_of(program), standing_of(account)
    if policy is None or standing is None:
        return None
    return tiers.progress(policy, standing, value_of(session, account, at))


def moves_of(session: Session, account_id: int, limit: int = 20) -> list[TierMove]:
    return repo.tier_moves(session, account_id, limit)
