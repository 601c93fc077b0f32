"""Members' birthdays: every day, each program's members born on that local day get what the
program gives for a birthday, once a year:

- the program's earning rules for the ``birthday`` action (:func:`.earning.earn_action`, with
  their caps and the member's tier multipliers), key ``birthday:<year>:<customer>``;
- their tier's ``birthday_gift`` benefit when it is a number of points, key
  ``birthday-gift:<year>:<customer>`` (a gift given as a reward code is not issued here: the
  rewards catalog has no free issue yet).

Members born on 29 February celebrate on 28 February in other years. Run twice the same day (or
again after a failure), the keys make the second run change nothing. Members only: a customer
who never earned anything has no account and gets nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from patron.customers import service as customers
from patron.loyalty import earning, expiry, ledger, membership
from patron.loyalty import repository as repo
from patron.models.loyalty import LoyaltyProgram

ACTOR = "loyalty.birthdays"


def celebrate(session: Session, program: LoyaltyProgram, *, now: datetime) -> dict[str, int]:
    """Today's birthdays in ``program`` (its time zone says what today is); how many members were
    celebrated and the points given (replays count nothing). Does not commit."""
    today = expiry.local_day(now, program.timezone)
    policy = membership.policy_of(program)
    gifts = {t.code: t.benefits.get("birthday_gift") for t in policy.tiers} if policy else {}
    members = repo.members_among(session, program.id, customers.born_on(session, today))
    points = 0
    for customer_id in members:
        key = f"{today.year}:{customer_id}"
        ruled = earning.earn_action(session, program, customer_id, "birthday", key=f"birthday:{key}",
                                    actor=ACTOR, now=now)  # fmt: skip
        points += 0 if ruled.replayed else ruled.result["points"]
        if repo.operation_by_key(session, program.id, f"birthday-gift:{key}") is not None:
            continue  # given earlier today (the tier it was given for may have changed since)
        account = repo.account(session, program.id, customer_id)
        tier = account.tier if account is not None else None  # after the birthday's own points
        gift = gifts.get(tier) if tier else None
        if isinstance(gift, int) and not isinstance(gift, bool) and gift > 0:
            ledger.earn(session, program, customer_id, gift, key=f"birthday-gift:{key}", source="birthday",
                        source_ref=f"tier {tier}", lock=False, actor=ACTOR, now=now)  # fmt: skip
            points += gift
    return {"members": len(members), "points": points}
