"""Scoring runs and the per-customer scores they produce, kept for every run.

A row per customer per run (not one overwritten row per customer) makes "moved from Loyal to At
Risk this month" and tier movements plain queries between two runs, and lets a past run be
explained later with the parameters it stored.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID, JSONType, UTCDateTime
from patron.models._types import created_at_column, id_column


class ScoreRun(Base):
    __tablename__ = "score_runs"

    id: Mapped[int] = id_column()
    as_of: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20))  # running, completed, failed
    customers: Mapped[int] = mapped_column(Integer, default=0)
    reporting_currency: Mapped[str] = mapped_column(String(3))
    # Fitted model parameters, validation figures and notes (a model that could not be fitted).
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # The tier policy version the run applied (null: tiers fitted on the run alone, or none).
    tier_policy_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CustomerScore(Base):
    __tablename__ = "customer_scores"

    run_id: Mapped[int] = mapped_column(ForeignKey("score_runs.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigID, ForeignKey("customers.id"), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    spent_minor: Mapped[int] = mapped_column(BigInteger)
    days_since_last: Mapped[int | None] = mapped_column(Integer)
    typical_gap_days: Mapped[float | None] = mapped_column(Float)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    r_score: Mapped[int | None] = mapped_column(Integer)
    f_score: Mapped[int | None] = mapped_column(Integer)
    m_score: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(30))
    tier: Mapped[str | None] = mapped_column(String(30))
    value_score: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20))
    probability_alive: Mapped[float | None] = mapped_column(Float)
    purchase_probability: Mapped[float | None] = mapped_column(Float)  # in the next 90 days
    # P(no purchase in the next 90 days) from the backtested classifier.
    churn_risk: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)  # in the next 365 days
    clv_minor: Mapped[int | None] = mapped_column(BigInteger)  # 12 months, reporting currency

    __table_args__ = (Index("ix_customer_scores_customer", "customer_id", "run_id"),)


class TierPolicy(Base):
    """A version of the value-tier model: weights, each indicator's reference grid and the tier
    cuts. Scoring runs apply the current version so a customer changes tier because their own
    figures changed, not because everyone else's did; recalibration (quarterly by default)
    fits a new version on the latest run."""

    __tablename__ = "tier_policies"

    id: Mapped[int] = id_column()  # the version number
    reason: Mapped[str] = mapped_column(String(20))  # initial, scheduled, manual
    actor: Mapped[str] = mapped_column(String(200))
    as_of: Mapped[date] = mapped_column(Date)  # the date of the data it was fitted on
    fitted_on_run_id: Mapped[int | None] = mapped_column(ForeignKey("score_runs.id", ondelete="SET NULL"))
    customers: Mapped[int] = mapped_column(Integer)
    # The weights asked for; the model leaves out indicators its run could not compute (CLV in a
    # young shop), and the next recalibration asks for them again.
    weights: Mapped[dict[str, float]] = mapped_column(JSONType)
    model: Mapped[dict[str, Any]] = mapped_column(JSONType)  # ValueTiers.to_dict()
    created_at: Mapped[datetime] = created_at_column()


class TierChange(Base):
    """A customer's move between value tiers from one scoring run to the next, and why:
    ``score`` (their value score crossed a cut) or ``recalibration`` (new cuts or weights; under
    the previous version they would have stayed)."""

    __tablename__ = "tier_changes"

    id: Mapped[int] = id_column()
    run_id: Mapped[int] = mapped_column(ForeignKey("score_runs.id", ondelete="CASCADE"))
    previous_run_id: Mapped[int] = mapped_column(ForeignKey("score_runs.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigID, ForeignKey("customers.id"))
    from_tier: Mapped[str] = mapped_column(String(30))
    to_tier: Mapped[str] = mapped_column(String(30))
    from_score: Mapped[float | None] = mapped_column(Float)
    to_score: Mapped[float | None] = mapped_column(Float)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("tier_policies.id", ondelete="SET NULL"))
    previous_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("tier_policies.id", ondelete="SET NULL")
    )
    cause: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_tier_changes_run", "run_id"),
        Index("ix_tier_changes_customer", "customer_id", "run_id"),
    )
