"""API shapes of the scoring domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AnalyzeRequest(BaseModel):
    as_of: date | None = None


class ScoreRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: date
    status: str
    customers: int
    reporting_currency: str
    params: dict[str, Any]
    actor: str
    started_at: datetime
    finished_at: datetime | None


class CustomerScoreOut(BaseModel):
    run_id: int
    as_of: date
    currency: str
    orders: int
    spent_minor: int
    days_since_last: int | None
    typical_gap_days: float | None
    refunds: int
    r_score: int | None
    f_score: int | None
    m_score: int | None
    segment: str | None
    tier: str | None
    value_score: float | None
    state: str
    probability_alive: float | None
    purchase_probability: float | None
    churn_risk: float | None
    horizon_days: int
    expected_purchases: float | None
    clv_minor: int | None
    explanation: str


# -- /api/v1/analytics: the blocks of the analytics page ----------------------------------------


class RunRef(BaseModel):
    """The scoring run a block describes."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    as_of: date
    reporting_currency: str


class RFMCell(BaseModel):
    r: int
    f: int
    customers: int
    spent_minor: int


class RFMGridOut(BaseModel):
    run: RunRef
    cells: list[RFMCell]


class GroupSize(BaseModel):
    value: str | None  # null: customers without one (prospects have no segment or tier)
    customers: int
    clv_minor: int | None


class Movement(BaseModel):
    from_value: str | None
    to_value: str | None
    customers: int


class GroupsOut(BaseModel):
    run: RunRef
    previous: RunRef | None
    dim: str
    groups: list[GroupSize]
    movements: list[Movement]


class KpiCard(BaseModel):
    orders: int
    revenue_minor: int
    aov_minor: int | None
    frequency: float | None
    repurchase_rate: float | None


class KpiMonth(BaseModel):
    month: date
    orders: int
    revenue_minor: int
    aov_minor: int | None
    repurchase_rate: float | None


class KpiSlice(BaseModel):
    value: str | None
    current: KpiCard
    previous: KpiCard
    months: list[KpiMonth]


class KpisOut(BaseModel):
    as_of: date
    currency: str
    by: str | None
    slices: list[KpiSlice]


class CohortRow(BaseModel):
    cohort: date
    customers: int
    active: list[int]  # by age in months, 0 first
    share: list[float]


class CohortsOut(BaseModel):
    as_of: date
    currency: str
    rows: list[CohortRow]


class ClvBand(BaseModel):
    min_minor: int  # inclusive
    max_minor: int  # exclusive
    customers: int
    clv_minor: int


class ScoredCustomer(BaseModel):
    customer_id: int
    name: str | None
    segment: str | None
    tier: str | None
    state: str
    clv_minor: int | None
    purchase_probability: float | None
    churn_risk: float | None
    explanation: str


class ClvOut(BaseModel):
    run: RunRef
    bands: list[ClvBand]
    top: list[ScoredCustomer]


class ChurnRiskOut(BaseModel):
    run: RunRef
    horizon_days: int
    customers: list[ScoredCustomer]


# -- value-tier policies and moves ---------------------------------------------------------------


class RecalibrateRequest(BaseModel):
    """Weights per indicator (recency_days, orders, spent, clv); default: the current policy's."""

    weights: dict[str, float] | None = None


class TierPolicyOut(BaseModel):
    version: int
    reason: str
    actor: str
    as_of: date
    customers: int
    created_at: datetime
    weights: dict[str, float]
    requested_weights: dict[str, float]
    cuts: dict[str, float]


class TierChangeOut(BaseModel):
    run_id: int
    as_of: date
    customer_id: int
    from_tier: str
    to_tier: str
    from_score: float | None
    to_score: float | None
    policy_version: int | None
    previous_policy_version: int | None
    cause: str
