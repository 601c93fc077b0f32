"""Loyalty: programs, members' points accounts, the append-only points ledger and its lots.

Points are money the shop owes its customers, so the ledger is kept like a bank's:

- **Entries** (``points_entries``) are never updated nor deleted; a correction is a new entry.
  Each says what it did to the member's three buckets: ``active`` (spendable), ``locked``
  (earned on an order still inside its return window) and ``debt`` (points clawed back by a
  refund after they were spent). The account's cached buckets always equal the sums of its
  entries' deltas, in the same transaction.
- **Lots** (``points_lots``) are where points came from: one per earning, with its own expiry,
  and how much of it is left. Spending takes the lot that expires first. A lot's ``remaining``
  changes as it is spent; the entries say why.
- **Operations** (``points_operations``) are the requests (earn, redeem, adjust, …), each with the
  caller's idempotency key, unique per program: a request sent again with the same key has no
  second effect and gets the first answer; the same key with a different request is refused.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID, JSONType, UTCDateTime
from patron.core.time import utcnow
from patron.models._types import created_at_column, id_column


class ExpiryRule(enum.StrEnum):
    days = "days"  # a lot lasts N days after the (local) day it was earned
    end_of_next_year = "end_of_next_year"  # to 31 December of the following year
    rolling = "rolling"  # all points last while the member is active: N days after the last earn/spend
    never = "never"


class DebtRule(enum.StrEnum):
    offset = "offset"  # clawed-back points already spent are a debt repaid by the next points earned
    write_off = "write_off"  # … or forgiven (recorded, not collected)


class EntryKind(enum.StrEnum):
    earn = "earn"
    unlock = "unlock"  # the return window closed: locked points become spendable
    redeem = "redeem"
    expire = "expire"
    clawback = "clawback"  # a refund takes back the points of the refunded amount
    repay = "repay"  # new points pay back a debt
    write_off = "write_off"  # a debt forgiven under DebtRule.write_off
    adjust = "adjust"  # by an administrator, with a reason
    reversal = "reversal"  # a redemption undone: the points go back to their lots


class LotState(enum.StrEnum):
    locked = "locked"
    active = "active"
    closed = "closed"  # spent, expired or clawed back to nothing


class LoyaltyProgram(Base):
    __tablename__ = "loyalty_programs"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Null: the program spans every shop.
    shop_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("shops.id"))
    # Currency of account: what a point is worth, for the liability report.
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    point_value_minor: Mapped[int] = mapped_column(Integer, default=1)  # minor units per point
    timezone: Mapped[str] = mapped_column(String(50), default="Asia/Shanghai")
    # Points earned on an order stay locked this long (the return window), then become active.
    lock_days: Mapped[int] = mapped_column(Integer, default=7)
    expiry: Mapped[str] = mapped_column(String(20), default=ExpiryRule.end_of_next_year)
    expiry_days: Mapped[int | None] = mapped_column(Integer)  # for ExpiryRule.days and .rolling
    debt_rule: Mapped[str] = mapped_column(String(20), default=DebtRule.offset)
    # Membership tiers: {"tiers": [{code, name_en, name_zh, rank, threshold, retain, benefits}],
    # "review": "anniversary"|"fixed", ...} as patron.loyalty.tiers.Policy reads it; null: none.
    tier_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("point_value_minor > 0", name="point_value_positive"),
        CheckConstraint("lock_days >= 0", name="lock_days_not_negative"),
    )


class PointsAccount(Base):
    """A member: one customer in one program, with the ledger's sums cached."""

    __tablename__ = "points_accounts"

    id: Mapped[int] = id_column()
    program_id: Mapped[int] = mapped_column(BigID, ForeignKey("loyalty_programs.id"))
    customer_id: Mapped[int] = mapped_column(BigID, ForeignKey("customers.id"), index=True)
    active: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[int] = mapped_column(Integer, default=0)
    debt: Mapped[int] = mapped_column(Integer, default=0)
    # Growth value (成长值): every point ever earned, never spent; a refund takes its share back.
    growth: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Membership tier (patron.loyalty.tiers.Standing); null until the program has tiers.
    tier: Mapped[str | None] = mapped_column(String(50))
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tier_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tier_grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped by every change: the row lock that serialises a member's operations.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("program_id", "customer_id"),
        CheckConstraint("active >= 0", name="active_not_negative"),
        CheckConstraint("locked >= 0", name="locked_not_negative"),
        CheckConstraint("debt >= 0", name="debt_not_negative"),
    )


class PointsOperation(Base):
    """One request to the ledger, found again by its idempotency key."""

    __tablename__ = "points_operations"

    id: Mapped[int] = id_column()
    program_id: Mapped[int] = mapped_column(BigID, ForeignKey("loyalty_programs.id"))
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    request_hash: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20))  # order, refund, review, survey, campaign, admin, …
    source_ref: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    # The answer given, replayed as is to a request sent again with the same key.
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reversed_by_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("points_operations.id"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("program_id", "key"),
        # Also a member's operations (its prefix): no index on account_id alone.
        Index("ix_points_operations_source", "account_id", "source", "source_ref"),
    )


class PointsLot(Base):
    __tablename__ = "points_lots"

    id: Mapped[int] = id_column()
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"))
    operation_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_operations.id"))
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)  # as earned
    remaining: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    unlock_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # usable while now < expires_at

    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        # Spending order (nearest expiry first) within an account, and the daily jobs' scans.
        Index("ix_points_lots_spend", "account_id", "state", "expires_at"),
        Index("ix_points_lots_expiry", "state", "expires_at"),
        # Only locked lots wait for an unlock: most lots never enter this index.
        Index(
            "ix_points_lots_unlock",
            "unlock_at",
            sqlite_where=text("state = 'locked'"),
            postgresql_where=text("state = 'locked'"),
        ),
        # A member's lots of one order (a refund's clawback) are found through the spend index.
    )


class PointsEntry(Base):
    """One line of the ledger: immutable."""

    __tablename__ = "points_entries"

    id: Mapped[int] = id_column()
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"))
    operation_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("points_operations.id"))
    lot_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("points_lots.id"))
    kind: Mapped[str] = mapped_column(String(20))
    active_delta: Mapped[int] = mapped_column(Integer, default=0)
    locked_delta: Mapped[int] = mapped_column(Integer, default=0)
    debt_delta: Mapped[int] = mapped_column(Integer, default=0)
    growth_delta: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)  # what the entry is about (a write-off's amount)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_points_entries_account", "account_id", "id"),)


class EarningRule(Base):
    """A program's earning rule, as :class:`patron.loyalty.rules.Rule` reads it."""

    __tablename__ = "loyalty_rules"

    id: Mapped[int] = id_column()
    program_id: Mapped[int] = mapped_column(BigID, ForeignKey("loyalty_programs.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # spend, or an action
    points: Mapped[int] = mapped_column(Integer)
    per_minor: Mapped[int] = mapped_column(Integer, default=100)
    currency: Mapped[str | None] = mapped_column(String(3))
    shops: Mapped[list[str]] = mapped_column(JSONType, default=list)
    categories: Mapped[list[str]] = mapped_column(JSONType, default=list)
    skus: Mapped[list[str]] = mapped_column(JSONType, default=list)
    tier_multipliers: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    cap: Mapped[int | None] = mapped_column(Integer)
    cap_period: Mapped[str] = mapped_column(String(10), default="month")
    velocity: Mapped[int | None] = mapped_column(Integer)
    velocity_window_hours: Mapped[int] = mapped_column(Integer, default=24)
    stop: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    starts: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("program_id", "name"),)


class PointsAward(Base):
    """Which rule gave how many points for which event: what caps and velocity limits count."""

    __tablename__ = "points_awards"

    id: Mapped[int] = id_column()
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"))
    operation_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_operations.id"))
    rule: Mapped[str] = mapped_column(String(100))
    points: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # the event's time

    __table_args__ = (Index("ix_points_awards_usage", "account_id", "rule", "at"),)


class TierMove(Base):
    """A member's tier decision that changed something (joined, up, down, retained, grace)."""

    __tablename__ = "tier_moves"

    id: Mapped[int] = id_column()
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(50))
    to_tier: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column(Integer)  # the qualifying value the decision saw
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reward(Base):
    """An item of the points catalog (积分商城): a coupon, a discount, free shipping or a gift."""

    __tablename__ = "loyalty_rewards"

    id: Mapped[int] = id_column()
    program_id: Mapped[int] = mapped_column(BigID, ForeignKey("loyalty_programs.id"))
    code: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # coupon, discount, free_shipping, gift
    cost_points: Mapped[int] = mapped_column(Integer)
    value_minor: Mapped[int | None] = mapped_column(Integer)  # a coupon's value; a discount's rate in ‱
    currency: Mapped[str | None] = mapped_column(String(3))
    stock: Mapped[int | None] = mapped_column(Integer)  # null: unlimited
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
    )


class RewardRedemption(Base):
    """A reward a member took for points, with the coupon code issued for it."""

    __tablename__ = "loyalty_reward_redemptions"

    id: Mapped[int] = id_column()
    reward_id: Mapped[int] = mapped_column(BigID, ForeignKey("loyalty_rewards.id"))
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_accounts.id"))
    operation_id: Mapped[int] = mapped_column(BigID, ForeignKey("points_operations.id"), unique=True)
    coupon_code: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    # Cancelled: the points went back (a reversal operation), the unit back to stock, the coupon void.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_operation_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("points_operations.id"))

    __table_args__ = (Index("ix_loyalty_reward_redemptions_member", "account_id", "reward_id"),)
