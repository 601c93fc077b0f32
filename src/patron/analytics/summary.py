"""Transaction log -> one row per customer: the inputs of the buy-till-you-die models.

Conventions (they move model estimates by several percent, so they are fixed and tested):

* **Same-day merging**: all of a customer's transactions on one calendar day are one purchase
  (amounts summed). Times are taken as dates in whatever zone the caller converted them to.
* **frequency** ``x``: repeat purchases, i.e. purchase days after the first one.
* **recency** ``t_x``: time from the first to the last purchase; **age** ``T``: time from the
  first purchase to the as-of date. Both in ``unit`` (days or weeks of 7 days).
* **monetary**: mean amount of the *repeat* purchases (the first purchase is left out, as the
  Gamma-Gamma model expects); 0 when there is none.
* Only transactions on or before ``as_of`` count, so a summary for a past date is exactly what
  was known then (backtests, calibration/holdout splits).

These are the conventions of Fader, Hardie & Lee (2005) and of the ``lifetimes`` library's
``summary_data_from_transaction_data``.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from patron.core.errors import InvalidInput

UNITS = {"days": 1.0, "weeks": 7.0}


def summarize(
    transactions: pl.DataFrame,
    as_of: date | datetime,
    *,
    unit: str = "days",
    customer: str = "customer_id",
    at: str = "at",
    amount: str | None = "amount",
) -> pl.DataFrame:
    """Per-customer ``customer_id, frequency, recency, T, monetary, first, last`` as of a date.

    ``transactions`` needs the ``customer`` and ``at`` columns (date or datetime) and, for
    ``monetary``, an ``amount`` column. Customers whose first purchase is after ``as_of`` are
    left out.
    """
    if unit not in UNITS:
        raise InvalidInput(f"unknown time unit {unit!r}; use one of {sorted(UNITS)}", code="bad_time_unit")
    missing = [c for c in (customer, at, amount) if c is not None and c not in transactions.columns]
    if missing:
        raise InvalidInput(f"transactions lack the column(s) {missing}", code="missing_columns")
    if not transactions.schema[at].is_temporal():
        raise InvalidInput(f"column {at!r} must hold dates or times", code="bad_time_column")
    cutoff = as_of.date() if isinstance(as_of, datetime) else as_of
    # One sort of the log (cheap when it comes sorted, as orders read by customer and time do)
    # makes every later step an order-keeping group-by with first/last fast paths.
    per_day = (
        transactions.lazy()
        .select(
            pl.col(customer).alias("customer_id"),
            pl.col(at).cast(pl.Date).alias("day"),
            (pl.col(amount).cast(pl.Float64) if amount else pl.lit(0.0)).alias("amount"),
        )
        .filter(pl.col("day") <= cutoff)
        .sort("customer_id", "day")
        .group_by("customer_id", "day", maintain_order=True)
        .agg(pl.col("amount").sum())
    )
    scale = UNITS[unit]
    out = (
        per_day.group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("day").first().alias("first"),
            pl.col("day").last().alias("last"),
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            pl.col("amount").sum().alias("total"),
            pl.col("amount").first().alias("first_amount"),
        )
        .with_columns(
            ((pl.col("last") - pl.col("first")).dt.total_days() / scale).alias("recency"),
            ((pl.lit(cutoff) - pl.col("first")).dt.total_days() / scale).alias("T"),
            # Repeat spend: every purchase day but the first.
            pl.when(pl.col("frequency") > 0)
            .then((pl.col("total") - pl.col("first_amount")) / pl.col("frequency"))
            .otherwise(0.0)
            .alias("monetary"),
        )
        .select("customer_id", "frequency", "recency", "T", "monetary", "first", "last")
    )
    return out.collect()
