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
