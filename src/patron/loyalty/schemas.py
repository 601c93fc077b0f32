"""API shapes of loyalty."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from patron.models.loyalty import DebtRule, ExpiryRule

INT32 = 2**31 - 1  # the database's INTEGER columns


class ProgramCreate(BaseModel):
    code: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)
    shop_id: int | None = None
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    point_value_minor: int = Field(default=1, ge=1, le=INT32)
    timezone: str = "Asia/Shanghai"
    lock_days: int = Field(default=7, ge=0, le=365)
    expiry: ExpiryRule = ExpiryRule.end_of_next_year
    expiry_days: int | None = Field(default=None, ge=1, le=36_500)
    debt_rule: DebtRule = DebtRule.offset


class ProgramUpdate(BaseModel):
    """What can change in a running program (its code, shop, currency, time zone and expiry rule
    are the meaning of the points already earned, and stay)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None  # off: the jobs credit nothing more; members keep their points
    point_value_minor: int | None = Field(default=None, ge=1, le=INT32)
    lock_days: int | None = Field(default=None, ge=0, le=365)  # orders credited from now on
    debt_rule: DebtRule | None = None  # refunds taken back from now on


class ProgramOut(ProgramCreate):
    model_config = ConfigDict(from_attributes=True)

    id: int
    active: bool
    tier_policy: dict[str, Any] | None = None


class RuleIn(BaseModel):
    """An earning rule (the fields of :class:`patron.loyalty.rules.Rule`; the kernel checks them)."""

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(max_length=20)
    points: int = Field(ge=0, le=INT32)
    per_minor: int | None = Field(default=None, ge=1, le=INT32)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    shops: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=1_000)
    categories: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=1_000)
    skus: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=10_000)
    tier_multipliers: dict[str, Annotated[float, Field(ge=0, le=1_000)]] | None = None
    cap: int | None = Field(default=None, ge=1, le=INT32)
    cap_period: str | None = Field(default=None, max_length=10)
    velocity: int | None = Field(default=None, ge=1, le=INT32)
    velocity_window_hours: int | None = Field(default=None, ge=1, le=87_600)  # ten years
    stop: bool | None = None
    position: int | None = Field(default=None, ge=-INT32, le=INT32)
    active: bool | None = None
    starts: datetime | None = None
    ends: datetime | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    points: int
    per_minor: int
    currency: str | None
    shops: list[str]
    categories: list[str]
    skus: list[str]
    tier_multipliers: dict[str, float]
    cap: int | None
    cap_period: str
    velocity: int | None
    velocity_window_hours: int
    stop: bool
    position: int
    active: bool
    starts: datetime | None
    ends: datetime | None


class RuleState(BaseModel):
    active: bool


class TierIn(BaseModel):
    code: str = Field(min_length=1, max_length=50)
    name_en: str = Field(min_length=1, max_length=100)
    name_zh: str = Field(min_length=1, max_length=100)
    rank: int
    threshold: int
    retain: int | None = None
    benefits: dict[str, Any] = Field(default_factory=dict)


class TierPolicyIn(BaseModel):
    """A program's tiers (会员等级) and review schedule (see :mod:`patron.loyalty.tiers`)."""

    basis: str = "growth"  # growth (成长值) or spend (rolling 12 months, minor units)
    tiers: list[TierIn]
    review: str = "anniversary"  # or fixed
    review_months: int = 12
    review_month: int = 1
    review_day: int = 1
    grace_days: int = 0


class Balance(BaseModel):
    active: int  # spendable
    locked: int  # earned on orders still inside their return window
    debt: int  # clawed back after being spent, to be repaid by the next points
    growth: int  # 成长值: earned, never spent


class EntryDelta(BaseModel):
    kind: str
    lot: int | None
    active: int
    locked: int
    debt: int


class OperationOut(BaseModel):
    """The answer to an operation; a request sent again with the same key gets it again."""

    operation: int
    key: str
    kind: str
    customer_id: int
    points: int
    balance: Balance
    entries: list[EntryDelta]
    at: datetime
    lot: int | None = None  # earn: the new lot
    clawed: int | None = None  # clawback: the points actually taken back
    reversed: int | None = None  # reversal: the operation undone


class EarnIn(BaseModel):
    points: int = Field(ge=1)
    source: str = "order"
    source_ref: str | None = Field(default=None, max_length=100)
    lock: bool | None = None  # default: order points are locked for the return window


class ActionIn(BaseModel):
    ref: str | None = Field(default=None, max_length=100)  # the review's id, the referred friend, …


class AwardOut(BaseModel):
    rule: str
    points: int
    reason: str  # why the rule gave what it gave: awarded, capped, velocity, not_matching, …


class ActionOut(OperationOut):
    action: str
    awards: list[AwardOut]


class RedeemIn(BaseModel):
    points: int = Field(ge=1)
    source: str = "reward"
    source_ref: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=500)


class AdjustIn(BaseModel):
    points: int  # positive adds, negative takes
    reason: str = Field(min_length=1, max_length=500)
    allow_debt: bool = False


class ClawbackIn(BaseModel):
    points: int = Field(ge=1)
    order_ref: str = Field(min_length=1, max_length=100)


class ReverseIn(BaseModel):
    of_key: str = Field(min_length=1, max_length=200)


class LotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    source_ref: str | None
    points: int
    remaining: int
    state: str
    earned_at: datetime
    unlock_at: datetime | None
    expires_at: datetime | None


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    operation_id: int | None
    lot_id: int | None
    kind: str
    active_delta: int
    locked_delta: int
    debt_delta: int
    growth_delta: int
    points: int
    created_at: datetime


class MemberOut(BaseModel):
    program: str
    customer_id: int
    balance: Balance
    lots: list[LotOut]
    entries: list[EntryOut]


class SettleOut(BaseModel):
    entries: int


class MonthOut(BaseModel):
    month: str
    issued: int
    redeemed: int
    expired: int
    clawed: int
    adjusted: int
    redemption_rate: float | None


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    program: str
    members: int
    active: int
    locked: int
    debt: int
    liability_minor: int
    currency: str
    liability_reporting_minor: int | None
    reporting_currency: str
    months: list[MonthOut]
    tiers: dict[str, int]
    tier_moves: dict[str, int]


class RewardIn(BaseModel):
    code: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    name_en: str = Field(min_length=1, max_length=200)
    name_zh: str = Field(min_length=1, max_length=200)
    kind: str = Field(max_length=20)  # coupon, discount, free_shipping, gift
    cost_points: int = Field(ge=1, le=INT32)
    value_minor: int | None = Field(default=None, ge=0, le=INT32)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    stock: int | None = Field(default=None, ge=0, le=INT32)
    per_customer_limit: int | None = Field(default=None, ge=1, le=INT32)


class RewardOut(RewardIn):
    model_config = ConfigDict(from_attributes=True)

    id: int
    active: bool


class CancelIn(BaseModel):
    coupon_code: str = Field(min_length=1, max_length=40)


class RewardRedeemed(OperationOut):
    reward: str
    coupon_code: str
    redemption: int
