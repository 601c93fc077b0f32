"""Shop KPIs over an orders frame: repurchase, retention, cohorts, AOV, frequency, refunds.

Input: one row per order with ``customer_id``, ``at`` (date or datetime), ``amount`` (gross order
value) and, for :func:`refund_rate`, ``refund_amount`` (refunded value, >= 0, null = none), plus
any slicing columns (shop, channel, segment, category...) named in ``by``.

Conventions, fixed so that the dashboard, the CLI and the scoring run agree:

* **Days**: times count as calendar days in the column's own zone (``dt.date()``, so a
  ``datetime[Asia/Shanghai]`` column is bucketed by Beijing date). A customer's orders on one day
  are one *purchase day*, as in :mod:`patron.analytics.summary`.
* **Windows** are half-open, ``start <= day < end``, so consecutive windows never count an order
  twice (January is ``(date(2024, 1, 1), date(2024, 2, 1))``).
* **Slices**: with ``by``, every KPI is computed separately within each combination of the
  ``by`` values (null is a slice of its own), from that slice's orders only. A customer who
  bought in two shops counts in both; their first purchase in a shop starts their cohort there.
  To slice by a customer attribute (acquisition channel, segment), put it on every order row.
* **Guests**: orders without ``customer_id`` count in :func:`aov` and :func:`refund_rate` and are
  left out of the per-customer KPIs.
* **Empty** windows or slices give no row (an empty frame), never a NaN: a dashboard shows "no
  data" rather than a made-up 0 %. Rows come sorted by the ``by`` columns (null
  slices last) and period.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from patron.core.errors import InvalidInput

PERIODS = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}
_ALL = "__all__"  # the single group of an unsliced KPI


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _orders(
    orders: pl.DataFrame,
    by: list[str] | None,
    *,
    customers: bool,
    refunds: bool = False,
) -> tuple[pl.LazyFrame, list[str]]:
    """Checked orders as ``by..., customer_id, day, amount[, refund_amount]`` and the group keys.

    Raises on what would otherwise give silently wrong figures: missing or mistyped columns,
    null times or amounts, negative refunds (a sign-convention mix-up)."""
    keys = list(by or [])
    needed = ["customer_id", "at", "amount", *keys] + (["refund_amount"] if refunds else [])
    missing = [c for c in dict.fromkeys(needed) if c not in orders.columns]
    if missing:
        raise InvalidInput(f"the orders lack the column(s) {missing}", code="missing_columns")
    if set(keys) & {"customer_id", "at", "amount", "refund_amount"}:
        raise InvalidInput("slice by attribute columns, not by the order columns", code="bad_parameter")
    schema = orders.schema
    if not schema["at"].is_temporal():
        raise InvalidInput("column 'at' must hold dates or times", code="bad_time_column")
    for c in ("amount", "refund_amount") if refunds else ("amount",):
        if not schema[c].is_numeric():
            raise InvalidInput(f"column {c!r} must be numeric, not {schema[c]}", code="bad_amount")
    checks = orders.select(
        pl.col("at").null_count().alias("at"),
        pl.col("amount").null_count().alias("amount"),
        ((pl.col("refund_amount") < 0).sum() if refunds else pl.lit(0)).alias("refund"),
    ).row(0, named=True)
    if checks["at"] or checks["amount"]:
        raise InvalidInput("'at' and 'amount' must not hold nulls", code="bad_orders")
    if checks["refund"]:
        raise InvalidInput(
            "refund_amount must be >= 0 (a refunded value, not a signed one)", code="bad_orders"
        )
    lf = orders.lazy().select(
        *[pl.col(k) for k in keys],
        pl.col("customer_id"),
        pl.col("at").dt.date().alias("day"),
        pl.col("amount").cast(pl.Float64),
        *([pl.col("refund_amount").cast(pl.Float64).fill_null(0.0)] if refunds else []),
    )
    if customers:
        lf = lf.filter(pl.col("customer_id").is_not_null())
    if not keys:
        lf = lf.with_columns(pl.lit(True).alias(_ALL))
    return lf, keys or [_ALL]


def _window(lf: pl.LazyFrame, start: date | datetime, end: date | datetime) -> pl.LazyFrame:
    first, stop = _day(start), _day(end)
    if stop <= first:
        raise InvalidInput(f"empty window: end {stop} is not after start {first}", code="bad_window")
    return lf.filter((pl.col("day") >= first) & (pl.col("day") < stop))


def _finish(lf: pl.LazyFrame, keys: list[str], count: str, *extra: str) -> pl.DataFrame:
    """Drop empty groups and the helper key, sort by the slices."""
    out = lf.filter(pl.col(count) > 0).sort([*keys, *extra], nulls_last=True)
    return out.drop(_ALL, strict=False).collect()


def _period(period: str) -> str:
    if period not in PERIODS:
        raise InvalidInput(f"unknown period {period!r}; use one of {list(PERIODS)}", code="bad_period")
    return PERIODS[period]


def _period_index(col: pl.Expr, period: str) -> pl.Expr:
    """Whole periods since a fixed origin, for ``col`` already truncated to ``period``: the
    age of a cohort is a difference of these (months differ in length, so not a day count)."""
    if period == "month":
        return col.dt.year().cast(pl.Int64) * 12 + col.dt.month().cast(pl.Int64) - 1
    if period == "quarter":
        return col.dt.year().cast(pl.Int64) * 4 + (col.dt.month().cast(pl.Int64) - 1) // 3
    if period == "year":
        return col.dt.year().cast(pl.Int64)
    days = (col - pl.lit(date(1970, 1, 5))).dt.total_days()  # a Monday: weeks truncate to Mondays
    return days // 7 if period == "week" else days


def repurchase_rate(
    orders: pl.DataFrame, start: date | datetime, end: date | datetime, by: list[str] | None = None
) -> pl.DataFrame:
    """Share of the customers who bought in the window that bought on at least two different
    days in it: ``by..., customers, repeat_customers, repurchase_rate``.

    Two orders on one day (a split basket, a forgotten item) are one purchase, not a repurchase.
    Purchases before the window do not count: a customer whose only order in the window is their
    second ever is *not* a repeat customer of this window (use :func:`retention` for that)."""
    lf, keys = _orders(orders, by, customers=True)
    out = (
        _window(lf, start, end)
        .group_by([*keys, "customer_id"])
        .agg(pl.col("day").n_unique().alias("days"))
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            (pl.col("days") >= 2).sum().cast(pl.Int64).alias("repeat_customers"),
        )
        .with_columns((pl.col("repeat_customers") / pl.col("customers")).alias("repurchase_rate"))
    )
    return _finish(out, keys, "customers")


def _active(lf: pl.LazyFrame, keys: list[str], period: str) -> pl.DataFrame:
    """Unique ``keys..., customer_id, period`` (the period's first day) of the orders."""
    return (
        lf.select(*keys, "customer_id", pl.col("day").dt.truncate(_period(period)).alias("period"))
        .unique()
        .collect()
    )


def retention(orders: pl.DataFrame, period: str = "month", by: list[str] | None = None) -> pl.DataFrame:
    """Period-over-period retention: ``by..., period, previous_active, retained, active,
    retention, churn_rate``.

    For each period ``p`` (its first day; ``week`` periods start on Monday): ``previous_active``
    customers bought in the calendar period before ``p``, ``retained`` of them bought again in
    ``p``; ``retention = retained / previous_active`` and ``churn_rate = 1 - retention``.
    ``active`` counts everyone who bought in ``p`` (new and returning). There is a row for every
    period whose previous period had buyers, up to the last period with any order in the frame
    (a silent period after a busy one is 0 % retention, not a missing row); the last period may
    be partial, which the caller knows better than this function."""
    unit = _period(period)
    lf, keys = _orders(orders, by, customers=True)
    active = _active(lf, keys, period)
    last = active["period"].max() if active.height else date.min  # no rows: any bound will do
    tested = active.lazy().with_columns(pl.col("period").dt.offset_by(unit))
    again = active.lazy().with_columns(pl.lit(True).alias("again"))
    counts = active.lazy().group_by([*keys, "period"]).agg(pl.len().cast(pl.Int64).alias("active"))
    out = (
        tested.join(again, on=[*keys, "customer_id", "period"], how="left", nulls_equal=True)
        .filter(pl.col("period") <= last)
        .group_by([*keys, "period"])
        .agg(
            pl.len().cast(pl.Int64).alias("previous_active"),
            pl.col("again").count().cast(pl.Int64).alias("retained"),
        )
        .join(counts, on=[*keys, "period"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("active").fill_null(0),
            (pl.col("retained") / pl.col("previous_active")).alias("retention"),
        )
        .with_columns((1.0 - pl.col("retention")).alias("churn_rate"))
    )
    return _finish(out, keys, "previous_active", "period")


def cohort_matrix(orders: pl.DataFrame, period: str = "month", by: list[str] | None = None) -> pl.DataFrame:
    """First-purchase cohorts by periods since: ``by..., cohort, age, customers, active, share``
    in long format (one row per cohort and age; pivot for the triangle).

    ``cohort`` is the period of a customer's first purchase (in the slice), ``age`` the number
    of whole calendar periods since it, ``customers`` the cohort size, ``active`` how many of the
    cohort bought in that period and ``share = active / customers``; age 0 is 1.0 by
    construction. Every age from 0 up to the last period with any order is listed, with 0 where
    nobody came back, so the triangle has no holes."""
    _period(period)
    lf, keys = _orders(orders, by, customers=True)
    active = _active(lf, keys, period).with_columns(_period_index(pl.col("period"), period).alias("index"))
    last = active["index"].max() if active.height else 0  # no rows: any bound will do
    first = (
        active.lazy()
        .group_by([*keys, "customer_id"])
        .agg(pl.col("period").min().alias("cohort"), pl.col("index").min().alias("cohort_index"))
    )
    sizes = first.group_by([*keys, "cohort", "cohort_index"]).agg(pl.len().cast(pl.Int64).alias("customers"))
    returns = (
        active.lazy()
        .join(first, on=[*keys, "customer_id"], nulls_equal=True)
        .group_by([*keys, "cohort", (pl.col("index") - pl.col("cohort_index")).alias("age")])
        .agg(pl.len().cast(pl.Int64).alias("active"))
    )
    out = (
        sizes.with_columns(pl.int_ranges(0, pl.lit(last) - pl.col("cohort_index") + 1).alias("age"))
        .explode("age")
        .join(returns, on=[*keys, "cohort", "age"], how="left", nulls_equal=True)
        .select(
            *keys,
            "cohort",
            pl.col("age").cast(pl.Int64),
            "customers",
            pl.col("active").fill_null(0),
            (pl.col("active").fill_null(0) / pl.col("customers")).alias("share"),
        )
    )
    return _finish(out, keys, "customers", "cohort", "age")


def aov(
    orders: pl.DataFrame,
    start: date | datetime,
    end: date | datetime,
    by: list[str] | None = None,
    *,
    net: bool = False,
) -> pl.DataFrame:
    """Average order value in the window: ``by..., orders, revenue, aov``.

    Every row is an order (guest orders included). ``revenue`` is the gross ``amount``, or with
    ``net=True`` the amount less ``refund_amount`` (what the shop kept)."""
    lf, keys = _orders(orders, by, customers=False, refunds=net)
    value = pl.col("amount") - pl.col("refund_amount") if net else pl.col("amount")
    out = (
        _window(lf, start, end)
        .group_by(keys)
        .agg(pl.len().cast(pl.Int64).alias("orders"), value.sum().alias("revenue"))
        .with_columns((pl.col("revenue") / pl.col("orders")).alias("aov"))
    )
    return _finish(out, keys, "orders")


def purchase_frequency(
    orders: pl.DataFrame, start: date | datetime, end: date | datetime, by: list[str] | None = None
) -> pl.DataFrame:
    """Orders per buying customer in the window: ``by..., customers, orders,
    purchase_frequency`` (>= 1 by construction).

    Counts orders, not purchase days (so two orders on one day are 2 here while
    :func:`repurchase_rate` sees one purchase day): frequency measures order volume, repurchase
    measures coming back. Guest orders are left out."""
    lf, keys = _orders(orders, by, customers=True)
    out = (
        _window(lf, start, end)
        .group_by(keys)
        .agg(
            pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
            pl.len().cast(pl.Int64).alias("orders"),
        )
        .with_columns((pl.col("orders") / pl.col("customers")).alias("purchase_frequency"))
    )
    return _finish(out, keys, "customers")


def refund_rate(
    orders: pl.DataFrame, start: date | datetime, end: date | datetime, by: list[str] | None = None
) -> pl.DataFrame:
    """Refunds of the orders placed in the window: ``by..., orders, gross, refunded,
    refund_rate, refunded_orders, refunded_order_share``.

    ``refund_rate = refunded / gross`` (value) and ``refunded_order_share`` the share of orders
    with a refund > 0 (count): a few large refunds and many small ones look different. Refunds
    count against the order's date, not the refund's, so a recent window's rate still grows as
    late refunds arrive. ``refund_rate`` is null when the window's gross value is 0 (only free
    orders): undefined, not 0 %."""
    lf, keys = _orders(orders, by, customers=False, refunds=True)
    out = (
        _window(lf, start, end)
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("amount").sum().alias("gross"),
            pl.col("refund_amount").sum().alias("refunded"),
            (pl.col("refund_amount") > 0).sum().cast(pl.Int64).alias("refunded_orders"),
        )
        .with_columns(
            pl.when(pl.col("gross") != 0)
            .then(pl.col("refunded") / pl.col("gross"))
            .otherwise(None)
            .alias("refund_rate"),
            (pl.col("refunded_orders") / pl.col("orders")).alias("refunded_order_share"),
        )
        .select(
            *keys, "orders", "gross", "refunded", "refund_rate", "refunded_orders", "refunded_order_share"
        )
    )
    return _finish(out, keys, "orders")
