"""The rewards catalog (积分商城): members spend points on coupons, discounts, free shipping or
gifts, within each reward's stock and per-customer limit, and get a coupon code for it.

A reward redemption is one ledger redemption (:func:`ledger.redeem`, with its idempotency key and
the member's lock) plus, in the same transaction, one unit of stock taken with a conditional
``UPDATE … SET stock = stock - 1 WHERE stock > 0`` (a row lock on PostgreSQL, the write lock on
SQLite: the last unit goes once) and the coupon issued. When any of it is refused (too few
points, out of stock, the member's limit reached) nothing is written: no points spent, no stock
taken. Sent again with the same key, a redemption answers the same coupon.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.loyalty import ledger
from patron.loyalty import repository as repo
from patron.models.loyalty import LoyaltyProgram, Reward, RewardRedemption

KINDS = ("coupon", "discount", "free_shipping", "gift")
# Coupon codes: 12 characters a person can read out without confusion (no 0/O, 1/I/L).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def add_reward(session: Session, program: LoyaltyProgram, values: Mapping[str, Any]) -> Reward:
    if values.get("kind") not in KINDS:
        raise InvalidInput(f"a reward is one of {', '.join(KINDS)}", code="reward_bad_kind")
    if repo.reward_by_code(session, program.id, values["code"]) is not None:
        raise Conflict(f"reward {values['code']!r} exists", code="reward_exists")
    return repo.add(session, Reward(program_id=program.id, **dict(values)))


def catalog(session: Session, program: LoyaltyProgram) -> list[Reward]:
    return repo.rewards(session, program.id)


def coupon_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _answer(result: Mapping[str, Any], reward: Reward, redemption: RewardRedemption) -> dict[str, Any]:
    return {
        **result,
        "reward": reward.code,
        "coupon_code": redemption.coupon_code,
        "redemption": redemption.id,
    }


def redeem(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    reward_code: str,
    *,
    key: str,
    actor: str,
    now: datetime,
) -> ledger.Outcome:
    """Spend the reward's points and issue its coupon; 409 ``points_insufficient``,
    ``reward_out_of_stock`` or ``reward_limit_reached``, and then nothing happened."""
    reward = repo.reward_by_code(session, program.id, reward_code)
    if reward is None or not reward.active:
        raise NotFound(f"no reward {reward_code!r} to redeem", code="reward_not_found")
    spent = ledger.redeem(session, program, customer_id, reward.cost_points, key=key, source="reward",
                          source_ref=reward.code, actor=actor, now=now)  # fmt: skip
    if spent.replayed:
        earlier = repo.redemption_of_operation(session, spent.result["operation"])
        assert earlier is not None
        return ledger.Outcome(_answer(spent.result, reward, earlier), replayed=True)
    account_id = repo.operation_account(session, spent.result["operation"])
    if reward.per_customer_limit is not None:
        taken = repo.redemptions_count(session, account_id, reward.id)
        if taken >= reward.per_customer_limit:
            raise Conflict(
                f"at most {reward.per_customer_limit} per member",
                code="reward_limit_reached",
                data={"limit": reward.per_customer_limit},
            )
    if reward.stock is not None and not repo.take_stock(session, reward.id):
        raise Conflict(f"reward {reward.code!r} is out of stock", code="reward_out_of_stock")
    redemption = repo.add(
        session,
        RewardRedemption(
            reward_id=reward.id,
            account_id=account_id,
            operation_id=spent.result["operation"],
            coupon_code=coupon_code(),
            created_at=now,
        ),
    )
    return ledger.Outcome(_answer(spent.result, reward, redemption))


def cancel(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    coupon: str,
    *,
    key: str,
    actor: str,
    now: datetime,
) -> ledger.Outcome:
    """Cancel a reward taken: its points go back to the lots they came from (a ledger reversal),
    its unit back to stock, its coupon void. Refused, with nothing changed, when an order that was
    not cancelled used the coupon (409 ``reward_coupon_used``) or it was cancelled already
    (409 ``points_already_reversed``). Sent again with the same key, the same answer."""
    found = repo.redemption_by_coupon(session, program.id, coupon.strip().upper())
    if found is None:
        raise NotFound(f"no reward taken with coupon {coupon!r}", code="reward_redemption_not_found")
    redemption, reward, original = found
    if redemption.cancelled_at is None and commerce.coupon_used(session, redemption.coupon_code):
        raise Conflict(f"coupon {redemption.coupon_code} was used on an order", code="reward_coupon_used")
    back = ledger.reverse(session, program, customer_id, of_key=original.key, key=key, actor=actor, now=now)
    if not back.replayed:
        redemption.cancelled_at = now
        redemption.cancel_operation_id = back.result["operation"]
        repo.give_back_stock(session, reward.id)
        session.flush()
    return ledger.Outcome({**back.result, "reward": reward.code, "coupon_code": redemption.coupon_code,
                           "redemption": redemption.id}, replayed=back.replayed)  # fmt: skip
