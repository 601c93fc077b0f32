"""The scoring run: every customer's RFM segment, value tier, lifecycle state, purchase
probabilities and CLV as of a date, stored with the run's parameters.

Orders are read once into Polars and handed to the pure kernels of :mod:`patron.analytics`;
the scores of every run are kept (one row per customer per run), so movements between runs are
queries. A model that cannot be fitted on the data (too few repeat buyers in a young shop) does
not fail the run: its scores stay empty and the run's ``params["notes"]`` says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from patron.analytics import churn
from patron.analytics.clv import score_clv
from patron.analytics.explain import explain
from patron.analytics.lifecycle import LifecycleModel
from patron.analytics.rfm import RFMScorer, segment
from patron.analytics.summary import summarize
from patron.commerce import service as commerce
from patron.core.errors import InvalidInput, NotFound
from patron.core.money import currency_exponent
from patron.core.time import utcnow
from patron.models import CustomerScore, ScoreRun
from patron.scoring import repository as repo
from patron.scoring import tiering

#: Horizons of the stored probabilities: purchase within 90 days, purchases and CLV over a year.
PURCHASE_HORIZON_DAYS = 90
CLV_MONTHS = 12


def purchases_until(session: Session, as_of: date, currency: str) -> pl.DataFrame:
    """customer_id, at, amount (minor units of the reporting currency; null without a rate)."""
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    return in_currency(session, repo.orders_before(session, end), currency)


def in_currency(session: Session, orders: pl.DataFrame, currency: str, *keep: str) -> pl.DataFrame:
    """customer_id, at, amount and ``keep`` from orders (customer_id, placed_at, total_minor,
    currency): amounts in minor units of ``currency`` at the latest rate, exponents aligned;
    null for a currency without a rate (its value is unknown)."""
    target = currency_exponent(currency)
    factors = {
        c: float(r) * 10.0 ** (target - currency_exponent(c))
        for c, r in commerce.fx_rates(session, currency).items()
        if c != currency
    } | {currency: 1.0}
    return orders.select(
        "customer_id",
        pl.col("placed_at").alias("at"),
        (
            pl.col("total_minor")
            * pl.col("currency").replace_strict(factors, default=None, return_dtype=pl.Float64)
        ).alias("amount"),
        *keep,
    )


def _history(purchases: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Per buying customer: purchase days, first/last, spend and gaps between purchase days."""
    days = (
        purchases.group_by("customer_id", pl.col("at").dt.date().alias("day"))
        .agg(pl.col("amount").sum())
        .sort("customer_id", "day")
        .with_columns(pl.col("day").diff().over("customer_id").dt.total_days().alias("gap"))
    )
    return (
        days.group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("day").first().alias("first_purchase"),
            pl.col("day").last().alias("last_purchase"),
            pl.len().alias("n_purchases"),
            pl.col("amount").sum().alias("spent"),
            pl.col("gap").drop_nulls().median().alias("typical_gap_days"),
            pl.col("gap").drop_nulls().last().alias("previous_gap_days"),
        )
        .with_columns((pl.lit(as_of) - pl.col("last_purchase")).dt.total_days().alias("days_since_last"))
    )


def analyze(session: Session, *, as_of: date | None = None, currency: str, actor: str) -> ScoreRun:
    """Score every customer as of ``as_of`` (default: today, UTC) and store the run."""
    as_of = as_of or utcnow().date()
    run = repo.add_run(
        session, ScoreRun(as_of=as_of, status="running", reporting_currency=currency, actor=actor, params={})
    )
    purchases = purchases_until(session, as_of, currency)
    notes: list[str] = []
    params: dict[str, Any] = {"purchase_horizon_days": PURCHASE_HORIZON_DAYS, "clv_months": CLV_MONTHS}
    history = _history(purchases, as_of)
    buyers = history.select(
        "customer_id",
        "days_since_last",
        "typical_gap_days",
        "spent",
        pl.col("n_purchases").alias("orders"),
    )
    if not history.is_empty():
        buyers = buyers.join(_model_scores(purchases, as_of, params, notes), on="customer_id", how="left")
        buyers = buyers.join(_churn(purchases, as_of, params, notes), on="customer_id", how="left")
        buyers = buyers.join(_rfm(history, params), on="customer_id", how="left")
        indicators = _tier_indicators(buyers)
        tiers = tiering.apply(session, run, indicators, params, notes)
        buyers = buyers.join(tiers, on="customer_id", how="left")
    everyone = repo.active_customer_ids(session).to_frame()
    states = _lifecycle(everyone, history, as_of, params)
    refunds = repo.refunds_before(session, datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC))
    scores = (
        everyone.join(buyers, on="customer_id", how="left")
        .join(states, on="customer_id", how="left")
        .join(refunds, on="customer_id", how="left")
    )
    frame = _score_rows(scores, run.id)
    repo.insert_scores(session, frame)
    if not history.is_empty():
        params["tier_moves"] = tiering.record_changes(session, run, indicators, tiers)
    params["notes"] = notes
    repo.finish_run(session, run, frame.height, params)
    return run


def _model_scores(
    purchases: pl.DataFrame, as_of: date, params: dict[str, Any], notes: list[str]
) -> pl.DataFrame:
    summary = summarize(purchases.with_columns(pl.col("amount").fill_null(0.0)), as_of, unit="days")
    try:
        result = score_clv(summary, months=CLV_MONTHS, month_length=30.0)
    except InvalidInput as exc:
        notes.append(f"purchase and spend models not fitted: {exc.message}")
        return pl.DataFrame(schema={"customer_id": pl.Int64})
    bg, gg = result.purchases, result.spend
    params["penalizer"] = result.penalizer
    if result.penalizer:
        notes.append(
            f"the plain fit degenerated on this data: fitted with an L2 penalty of {result.penalizer}"
        )
    params["bgnbd"] = {
        "r": bg.r_,
        "alpha": bg.alpha_,
        "a": bg.a_,
        "b": bg.b_,
        "log_likelihood": bg.log_likelihood_,
    }
    params["gamma_gamma"] = {"p": gg.p_, "q": gg.q_, "v": gg.v_, "log_likelihood": gg.log_likelihood_}
    x, t_x, age = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    return result.scores.select(
        "customer_id",
        "probability_alive",
        pl.Series("purchase_probability", bg.probability_of_purchase(PURCHASE_HORIZON_DAYS, x, t_x, age)),
        pl.Series("expected_purchases", bg.expected_purchases(365.0, x, t_x, age)),
        pl.col("clv"),
    )


#: The classifier needs both outcomes among enough customers to learn anything.
MIN_CHURN_TRAINING = 50


def _churn(purchases: pl.DataFrame, as_of: date, params: dict[str, Any], notes: list[str]) -> pl.DataFrame:
    """Churn risk from a classifier trained by backtest: features as of ``as_of`` minus the
    horizon, labelled by whether the customer bought in the horizon up to ``as_of``."""
    known = purchases.with_columns(pl.col("amount").fill_null(0.0))
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "churn_risk": pl.Float64})
    try:
        train = churn.backtest_frame(
            known, as_of - timedelta(days=PURCHASE_HORIZON_DAYS), PURCHASE_HORIZON_DAYS
        )
    except InvalidInput as exc:
        notes.append(f"churn model not trained: {exc.message}")
        return empty
    label = train["churned"]
    if train.height < MIN_CHURN_TRAINING or label.n_unique() < 2:
        notes.append(
            f"churn model not trained: {train.height} customers had history {PURCHASE_HORIZON_DAYS} days "
            f"before (at least {MIN_CHURN_TRAINING}, both churned and retained, are needed)"
        )
        return empty
    model = churn.ChurnModel("logistic").fit(train, label)
    features = churn.churn_features(known, as_of)
    params["churn"] = {
        "model": "logistic",
        "trained_on": train.height,
        "base_rate": float(label.cast(pl.Float64).to_numpy().mean()),
    }
    return features.select("customer_id", pl.Series("churn_risk", model.predict_proba(features)))


def _rfm(history: pl.DataFrame, params: dict[str, Any]) -> pl.DataFrame:
    frame = history.select(
        "customer_id",
        pl.col("days_since_last").alias("recency_days"),
        pl.col("n_purchases").alias("frequency"),
        pl.col("spent").fill_null(0.0).alias("monetary"),
    )
    scorer = RFMScorer(scale=5).fit(frame)
    params["rfm_cuts"] = scorer.cuts_
    return segment(scorer.transform(frame)).select("customer_id", "r_score", "f_score", "m_score", "segment")


def _tier_indicators(buyers: pl.DataFrame) -> pl.DataFrame:
    """The value-tier indicators (as :func:`patron.scoring.repository.tier_indicators` reads
    them back for recalibration: spend and CLV in rounded minor units)."""
    return buyers.select(
        "customer_id",
        pl.col("days_since_last").alias("recency_days"),
        "orders",
        pl.col("spent").fill_null(0.0).round(0),
        *([pl.col("clv").fill_null(0.0).round(0)] if "clv" in buyers.columns else []),
    )


def _lifecycle(
    everyone: pl.DataFrame, history: pl.DataFrame, as_of: date, params: dict[str, Any]
) -> pl.DataFrame:
    frame = everyone.join(
        history.select(
            "customer_id",
            "first_purchase",
            "last_purchase",
            "n_purchases",
            "typical_gap_days",
            "previous_gap_days",
        ),
        on="customer_id",
        how="left",
    ).with_columns(pl.col("n_purchases").fill_null(0))
    repeaters = history.filter(pl.col("n_purchases") >= 2).height
    # A young shop without repeat buyers has no cadence to learn: assume a quarter.
    model = LifecycleModel(fallback_gap_days=None if repeaters else 90.0).fit(frame)
    params["lifecycle"] = model.get_params() | {"fallback_gap_days_": model.fallback_gap_days_}
    return model.transform(frame, as_of).select("customer_id", "state")


def _score_rows(scores: pl.DataFrame, run_id: int) -> pl.DataFrame:
    """The ``customer_scores`` rows; model columns a run could not compute are null."""

    def col(name: str, dtype: Any) -> pl.Expr:
        return (pl.col(name) if name in scores.columns else pl.lit(None)).cast(dtype).alias(name)

    return scores.select(
        pl.lit(run_id, dtype=pl.Int64).alias("run_id"),
        "customer_id",
        pl.col("orders").fill_null(0).cast(pl.Int32),
        pl.col("spent").fill_null(0.0).round(0).cast(pl.Int64).alias("spent_minor"),
        col("days_since_last", pl.Int32),
        col("typical_gap_days", pl.Float64),
        pl.col("refunds").fill_null(0).cast(pl.Int32),
        col("r_score", pl.Int32),
        col("f_score", pl.Int32),
        col("m_score", pl.Int32),
        col("segment", pl.Utf8),
        col("tier", pl.Utf8),
        col("value_score", pl.Float64),
        pl.col("state"),
        col("probability_alive", pl.Float64),
        col("purchase_probability", pl.Float64),
        col("churn_risk", pl.Float64),
        col("expected_purchases", pl.Float64),
        (col("clv", pl.Float64).round(0).cast(pl.Int64)).alias("clv_minor"),
    )


def scores_of(
    session: Session, customer_id: int, *, lang: str = "en", limit: int = 12
) -> list[dict[str, Any]]:
    """The customer's scores, newest run first, each with its plain-words explanation."""
    rows = repo.scores_of(session, customer_id, limit)
    if not rows:
        return []
    out = []
    for score, run in rows:
        values = {c.name: getattr(score, c.name) for c in CustomerScore.__table__.columns}
        values |= {
            "as_of": run.as_of,
            "currency": run.reporting_currency,
            "horizon_days": PURCHASE_HORIZON_DAYS,
        }
        out.append(values)
    texts = explain(pl.DataFrame(out, infer_schema_length=None), lang).to_list()
    for values, text in zip(out, texts, strict=True):
        values["explanation"] = text
    return out


def latest_runs(session: Session, limit: int = 20) -> list[ScoreRun]:
    return repo.latest_runs(session, limit)


def get_run(session: Session, run_id: int) -> ScoreRun:
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"scoring run {run_id} not found", code="score_run_not_found")
    return run


def current_tier(session: Session, customer_id: int) -> str | None:
    """The customer's value tier in their latest scoring run (None before any run)."""
    rows = repo.scores_of(session, customer_id, 1)
    return rows[0][0].tier if rows else None
