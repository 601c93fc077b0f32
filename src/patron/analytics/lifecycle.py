"""Customer lifecycle states, judged against each customer's own purchase cadence.

A fixed "inactive after 90 days" rule calls a monthly coffee buyer healthy long after they left
and a yearly furniture buyer lost the day after the rule fires. Here the clock is the customer's
own typical inter-purchase gap (the median, robust to one odd gap). This is the "buying cycle"
heuristic of retail CRM; the probabilistic version of the same idea is BG/NBD's P(alive) (Fader,
Hardie & Lee 2005, :mod:`patron.analytics.btyd`), where a silence matters only relative to the
customer's own purchase rate. The multipliers (1.5x declining, 3x churned) are conventions, not
estimates, and are parameters.

Input, one row per customer: ``customer_id``, ``first_purchase`` and ``last_purchase`` (dates,
null for prospects), ``n_purchases``, ``typical_gap_days`` (median gap, null below 2 purchases)
and ``previous_gap_days`` (the gap before the last purchase, null below 2 purchases).

**Reference gap** ``g``: the customer's own ``typical_gap_days``, floored at ``min_gap_days`` (two
orders on one weekend must not make a customer "churned" a week later). One-time buyers have no
cadence and use the population's: the median ``typical_gap_days`` of the repeat buyers seen by
:meth:`LifecycleModel.fit` (or ``fallback_gap_days`` when given).

**States**, first match wins, with ``d`` = days since the last purchase and ``tenure`` = days
since the first:

1. ``prospect``: no purchase.
2. ``churned``: ``d > churn_multiplier * g``.
3. ``declining``: ``d > declining_multiplier * g``.
4. ``won_back``: the gap before the last purchase exceeded the churn threshold of that time,
   ``previous_gap > churn_multiplier * g_then``; it lasts until the next purchase or decline.
5. ``new``: ``tenure <= new_days``, or a single purchase that is not yet declining.
6. ``mature``: ``n_purchases >= mature_min_purchases`` and ``tenure >= mature_min_tenure_days``.
7. ``active``: everyone else.

``g_then`` (the customer's cadence before the last purchase) is not in the input, so: with 2
purchases the customer was a one-time buyer then, ``g_then`` = the population gap; with 3, the
one earlier gap, recovered exactly as ``2 * typical - previous`` (the median of two gaps is their
mean); with 4 or more, the current median (adding one gap moves a median of 3+ gaps by at most
half a position). Each ``g_then`` is floored at ``min_gap_days`` like ``g``.

The output adds ``state`` and a ``state_reason`` struct with the numbers the rule used, so an
explanation ("no purchase for 95 days, 3.2x their usual 30") can be written without recomputing.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, ClassVar

import polars as pl

from patron.analytics.base import Estimator
from patron.core.errors import InvalidInput

COLUMNS = (
    "customer_id",
    "first_purchase",
    "last_purchase",
    "n_purchases",
    "typical_gap_days",
    "previous_gap_days",
)
STATES = ("prospect", "new", "active", "mature", "declining", "churned", "won_back")


def _check(df: pl.DataFrame, as_of: date | None = None) -> None:
    """Domain checks that would otherwise give silently wrong states."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InvalidInput(f"the lifecycle frame lacks the column(s) {missing}", code="missing_columns")
    for c in ("first_purchase", "last_purchase"):
        if not df.schema[c].is_temporal():
            raise InvalidInput(f"{c} must hold dates, not {df.schema[c]}", code="lifecycle_bad_values")
    for c in ("n_purchases", "typical_gap_days", "previous_gap_days"):
        if not df.schema[c].is_numeric() and df.schema[c] != pl.Null:
            raise InvalidInput(f"{c} must be numeric, not {df.schema[c]}", code="lifecycle_bad_values")
    first, last = pl.col("first_purchase").cast(pl.Date), pl.col("last_purchase").cast(pl.Date)
    n = pl.col("n_purchases")
    bought = n > 0
    checks: list[tuple[str, pl.Expr]] = [
        ("n_purchases is missing or negative", n.is_null() | (n < 0)),
        (
            "a customer with purchases lacks first_purchase or last_purchase",
            bought & (first.is_null() | last.is_null()),
        ),
        (
            "a customer without purchases has a purchase date",
            ~bought & (first.is_not_null() | last.is_not_null()),
        ),
        ("first_purchase is after last_purchase", first > last),
        (
            "typical_gap_days or previous_gap_days is missing for a customer with 2+ purchases",
            (n >= 2) & (pl.col("typical_gap_days").is_null() | pl.col("previous_gap_days").is_null()),
        ),
        (
            "typical_gap_days or previous_gap_days is negative",
            (pl.col("typical_gap_days") < 0) | (pl.col("previous_gap_days") < 0),
        ),
    ]
    if as_of is not None:
        checks.append(("last_purchase is after the as-of date", last > pl.lit(as_of)))
    counts = df.select(*(e.fill_null(False).sum().alias(str(i)) for i, (_, e) in enumerate(checks))).row(0)
    for (message, _), count in zip(checks, counts, strict=True):
        if count:
            raise InvalidInput(
                f"{message} for {count} customer(s)", code="lifecycle_bad_values", data={"count": count}
            )


class LifecycleModel(Estimator):
    """Lifecycle states on each customer's own cadence (rules in the module docstring).

    ``fit`` learns only the population gap used for one-time buyers (``fallback_gap_days_``);
    ``transform(df, as_of)`` assigns the states as of a date.
    """

    params: ClassVar[tuple[str, ...]] = (
        "new_days",
        "declining_multiplier",
        "churn_multiplier",
        "mature_min_purchases",
        "mature_min_tenure_days",
        "min_gap_days",
        "fallback_gap_days",
    )
    fitted: ClassVar[tuple[str, ...]] = ("fallback_gap_days_", "n_repeat_buyers_")

    def __init__(
        self,
        new_days: int = 30,
        declining_multiplier: float = 1.5,
        churn_multiplier: float = 3.0,
        mature_min_purchases: int = 5,
        mature_min_tenure_days: int = 365,
        min_gap_days: float = 7.0,
        fallback_gap_days: float | None = None,
    ) -> None:
        values = [new_days, declining_multiplier, churn_multiplier, mature_min_purchases]
        values += [mature_min_tenure_days, min_gap_days]
        if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
            raise InvalidInput("lifecycle parameters must be finite numbers >= 0", code="bad_parameter")
        if not 0 < declining_multiplier < churn_multiplier:
            raise InvalidInput(
                "need 0 < declining_multiplier < churn_multiplier, got "
                f"{declining_multiplier} and {churn_multiplier}",
                code="bad_parameter",
            )
        if fallback_gap_days is not None and not (math.isfinite(fallback_gap_days) and fallback_gap_days > 0):
            raise InvalidInput("fallback_gap_days must be a positive number of days", code="bad_parameter")
        self.new_days = new_days
        self.declining_multiplier = declining_multiplier
        self.churn_multiplier = churn_multiplier
        self.mature_min_purchases = mature_min_purchases
        self.mature_min_tenure_days = mature_min_tenure_days
        self.min_gap_days = min_gap_days
        self.fallback_gap_days = fallback_gap_days

    def fit(self, df: pl.DataFrame) -> LifecycleModel:
        """Learn the population gap: the median ``typical_gap_days`` of repeat buyers."""
        _check(df)
        repeat = df.filter(pl.col("n_purchases") >= 2)["typical_gap_days"].cast(pl.Float64)
        self.n_repeat_buyers_ = repeat.len()
        if self.fallback_gap_days is not None:
            self.fallback_gap_days_ = float(self.fallback_gap_days)
            return self
        median = repeat.median()
        if median is None:
            raise InvalidInput(
                "no repeat buyers to learn a typical purchase gap from; set fallback_gap_days",
                code="lifecycle_no_repeat_buyers",
            )
        self.fallback_gap_days_ = float(median)  # type: ignore[arg-type]
        return self

    def transform(self, df: pl.DataFrame, as_of: date | datetime) -> pl.DataFrame:
        """``df`` plus ``state`` and ``state_reason``, a struct of the numbers the rules used:
        ``days_since_last``, ``tenure_days``, ``own_gap_days`` (the input typical gap),
        ``reference_gap_days`` (the gap the thresholds scale: own floored, or the population's),
        ``gap_basis`` ("own" / "population"), ``declining_after_days``, ``churn_after_days``,
        ``gap_before_last_days`` (the input previous gap) and ``previous_churn_after_days`` (the
        churn threshold of that time). Field names differ from the input columns, so
        ``unnest("state_reason")`` never collides; nulls for prospects."""
        self.check_fitted()
        day = as_of.date() if isinstance(as_of, datetime) else as_of
        _check(df, day)
        floor = float(self.min_gap_days)
        population = pl.lit(max(self.fallback_gap_days_, floor))
        n = pl.col("n_purchases")
        typical = pl.col("typical_gap_days").cast(pl.Float64)
        previous = pl.col("previous_gap_days").cast(pl.Float64)
        own = n >= 2
        days_since = (pl.lit(day) - pl.col("last_purchase").cast(pl.Date)).dt.total_days()
        tenure = (pl.lit(day) - pl.col("first_purchase").cast(pl.Date)).dt.total_days()
        gap = pl.when(own).then(pl.max_horizontal(typical, pl.lit(floor))).otherwise(population)
        gap_then = (
            pl.when(n == 2)
            .then(population)
            .when(n == 3)
            .then(pl.max_horizontal(2 * typical - previous, pl.lit(floor)))
            .otherwise(pl.max_horizontal(typical, pl.lit(floor)))
        )
        reason = pl.struct(
            days_since.alias("days_since_last"),
            tenure.alias("tenure_days"),
            typical.alias("own_gap_days"),
            pl.when(n > 0).then(gap).alias("reference_gap_days"),
            pl.when(own).then(pl.lit("own")).when(n > 0).then(pl.lit("population")).alias("gap_basis"),
            pl.when(n > 0).then(self.declining_multiplier * gap).alias("declining_after_days"),
            pl.when(n > 0).then(self.churn_multiplier * gap).alias("churn_after_days"),
            previous.alias("gap_before_last_days"),
            pl.when(own).then(self.churn_multiplier * gap_then).alias("previous_churn_after_days"),
        )
        state = (
            pl.when(n == 0)
            .then(pl.lit("prospect"))
            .when(days_since > self.churn_multiplier * gap)
            .then(pl.lit("churned"))
            .when(days_since > self.declining_multiplier * gap)
            .then(pl.lit("declining"))
            .when(own & (previous > self.churn_multiplier * gap_then))
            .then(pl.lit("won_back"))
            .when((tenure <= self.new_days) | (n == 1))
            .then(pl.lit("new"))
            .when((n >= self.mature_min_purchases) & (tenure >= self.mature_min_tenure_days))
            .then(pl.lit("mature"))
            .otherwise(pl.lit("active"))
        )
        return df.with_columns(state.alias("state"), reason.alias("state_reason"))


def lifecycle_states(df: pl.DataFrame, as_of: date | datetime, **params: Any) -> pl.DataFrame:
    """Fit a :class:`LifecycleModel` with ``params`` on ``df`` and assign states as of ``as_of``."""
    return LifecycleModel(**params).fit(df).transform(df, as_of)
