"""All SQL of the scoring domain: the order history the models read, runs and scores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Select, SQLColumnExpression, case, func, select
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.time import utcnow
from patron.models import (
    Category,
    Customer,
    CustomerScore,
    Order,
    OrderLine,
    Product,
    Refund,
    ScoreRun,
    Shop,
    TierChange,
    TierPolicy,
)

# Orders that are not purchases (the same set the customer stats leave out).
NOT_PURCHASES = ("cancelled", "closed", "pending")


def orders_before(session: Session, end: datetime) -> pl.DataFrame:
    """customer_id, placed_at (UTC), total_minor, currency of the purchases placed before
    ``end``, read through the driver (no ORM objects: a shop has millions)."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    statuses = ", ".join(f"'{s}'" for s in NOT_PURCHASES)
    rows = conn.exec_driver_sql(
        "SELECT customer_id, placed_at, total_minor, currency FROM orders "  # noqa: S608
        f"WHERE customer_id IS NOT NULL AND status NOT IN ({statuses}) AND placed_at < {'%s' if pg else '?'}",
        (end if pg else end.replace(tzinfo=None).isoformat(" ", "microseconds"),),
    ).fetchall()
    frame = pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64,
            "placed_at": pl.Datetime("us", "UTC") if pg else pl.Utf8,
            "total_minor": pl.Int64,
            "currency": pl.Utf8,
        },
        orient="row",
    )
    if not pg:  # SQLite keeps UTC times as naive text
        frame = frame.with_columns(
            pl.col("placed_at")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
            .dt.replace_time_zone("UTC")
        )
    return frame


def refunds_before(session: Session, end: datetime) -> pl.DataFrame:
    """customer_id, refunds: refunds requested before ``end`` per customer (those whose export
    gives only the completion time, as Taobao's does, count from that)."""
    rows = session.execute(
        select(Refund.customer_id, func.count())
        .where(Refund.customer_id.is_not(None), func.coalesce(Refund.requested_at, Refund.completed_at) < end)
        .group_by(Refund.customer_id)
    ).all()
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "refunds": pl.Int64}, orient="row")


def active_customer_ids(session: Session) -> pl.Series:
    """Customers not merged into another profile."""
    ids = session.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))).all()
    return pl.Series("customer_id", ids, dtype=pl.Int64)


def add_run(session: Session, run: ScoreRun) -> ScoreRun:
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run: ScoreRun, customers: int, params: dict[str, Any]) -> None:
    run.status, run.customers, run.params, run.finished_at = "completed", customers, params, utcnow()
    session.flush()


def insert_scores(session: Session, frame: pl.DataFrame) -> None:
    bulk.insert_frame(session, CustomerScore.__table__, frame)  # type: ignore[arg-type]


def latest_runs(session: Session, limit: int) -> list[ScoreRun]:
    return list(session.scalars(select(ScoreRun).order_by(ScoreRun.id.desc()).limit(limit)))


def scores_of(session: Session, customer_id: int, limit: int) -> list[tuple[CustomerScore, ScoreRun]]:
    """The customer's scores in the completed runs, latest as-of date first."""
    rows = session.execute(
        select(CustomerScore, ScoreRun)
        .join(ScoreRun, ScoreRun.id == CustomerScore.run_id)
        .where(CustomerScore.customer_id == customer_id, ScoreRun.status == "completed")
        .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
        .limit(limit)
    ).all()
    return [(s, r) for s, r in rows]


def get_run(session: Session, run_id: int) -> ScoreRun | None:
    return session.get(ScoreRun, run_id)


# -- the analytics dashboard: aggregates over one run ------------------------------------------


def latest_completed_runs(session: Session, limit: int = 2) -> list[ScoreRun]:
    return list(
        session.scalars(
            select(ScoreRun)
            .where(ScoreRun.status == "completed")
            .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
            .limit(limit)
        )
    )


def rfm_grid(session: Session, run_id: int) -> list[tuple[int, int, int, int]]:
    """(r_score, f_score, customers, spent_minor) of the run's scored buyers."""
    rows = session.execute(
        select(
            CustomerScore.r_score,
            CustomerScore.f_score,
            func.count(),
            func.coalesce(func.sum(CustomerScore.spent_minor), 0),
        )
        .where(CustomerScore.run_id == run_id, CustomerScore.r_score.is_not(None))
        .group_by(CustomerScore.r_score, CustomerScore.f_score)
    )
    return [(int(r or 0), int(f or 0), int(n), int(m)) for r, f, n, m in rows]


def counts_by(session: Session, run_id: int, column: str) -> list[tuple[str | None, int, int | None]]:
    """(value, customers, clv_minor) per value of a score column (segment, tier, state); the CLV
    is None when the run could not value anyone in the group."""
    col = getattr(CustomerScore, column)
    rows = session.execute(
        select(col, func.count(), func.sum(CustomerScore.clv_minor))
        .where(CustomerScore.run_id == run_id)
        .group_by(col)
    )
    return [(v, int(n), None if c is None else int(c)) for v, n, c in rows]


def movements(
    session: Session, before: int, after: int, column: str
) -> list[tuple[str | None, str | None, int]]:
    """(value in ``before``, value in ``after``, customers) for customers scored in both runs."""
    a, b = CustomerScore.__table__.alias("a"), CustomerScore.__table__.alias("b")
    rows = session.execute(
        select(a.c[column], b.c[column], func.count())
        .join(b, (a.c.customer_id == b.c.customer_id) & (b.c.run_id == after))
        .where(a.c.run_id == before)
        .group_by(a.c[column], b.c[column])
    )
    return [(x, y, int(n)) for x, y, n in rows]


def top_scores(
    session: Session, run_id: int, order: str, limit: int, tiers: tuple[str, ...] = ()
) -> list[tuple[CustomerScore, str | None]]:
    """Scores of the run with the customer's name: by CLV (highest first), or by value at risk
    among ``tiers``: what the customer has spent times the chance they do not buy in the next
    90 days, highest first, leaving out those already churned (a list to act on, not a list
    of the lost)."""
    q = (
        select(CustomerScore, Customer.name)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(CustomerScore.run_id == run_id)
    )
    if order == "clv":
        q = q.where(CustomerScore.clv_minor.is_not(None)).order_by(CustomerScore.clv_minor.desc())
    else:
        at_risk = (1 - CustomerScore.purchase_probability) * CustomerScore.spent_minor
        q = q.where(
            CustomerScore.purchase_probability.is_not(None),
            CustomerScore.tier.in_(tiers),
            CustomerScore.state != "churned",
        ).order_by(at_risk.desc(), CustomerScore.customer_id)
    return [(s, n) for s, n in session.execute(q.limit(limit))]


# -- the analytics read side: sliced purchases, CLV bands, drill-down id queries ---------------


def sliced_purchases(session: Session, end: datetime, by: str, run_id: int | None) -> pl.DataFrame:
    """customer_id, placed_at, total_minor, currency, slice of the purchases before ``end``.

    ``slice`` is the order's shop code (``shop``), its shop's platform (``channel``), the
    customer's segment in run ``run_id`` (``segment``; null when unscored), or the top-level
    category of its lines (``category``: one row per order and category valued at those lines'
    total, so an order of two categories counts in both; an order without lines keeps its total
    under a null category)."""
    total: SQLColumnExpression[Any] = Order.total_minor
    label: SQLColumnExpression[Any]
    if by in ("shop", "channel"):
        label = Shop.code if by == "shop" else Shop.platform
    elif by == "segment":
        label = CustomerScore.segment
    elif by == "category":
        total, label = func.coalesce(func.sum(OrderLine.total_minor), Order.total_minor), Category.path
    else:
        raise ValueError(f"unknown slice {by!r}")
    query = select(Order.id, total, label, Order.customer_id, Order.placed_at, Order.currency).where(
        Order.customer_id.is_not(None), Order.status.not_in(NOT_PURCHASES), Order.placed_at < end
    )
    if by in ("shop", "channel"):
        query = query.join(Shop, Shop.id == Order.shop_id)
    elif by == "segment":
        query = query.outerjoin(
            CustomerScore,
            (CustomerScore.customer_id == Order.customer_id) & (CustomerScore.run_id == (run_id or 0)),
        )
    else:
        query = (
            query.outerjoin(OrderLine, OrderLine.order_id == Order.id)
            .outerjoin(Product, Product.id == OrderLine.product_id)
            .outerjoin(Category, Category.id == Product.category_id)
            .group_by(
                Order.id, Order.total_minor, Category.path, Order.customer_id, Order.placed_at, Order.currency
            )
        )
    frame = pl.DataFrame(
        session.execute(query).all(),
        schema={
            "order_id": pl.Int64,
            "total_minor": pl.Int64,
            "slice": pl.Utf8,
            "customer_id": pl.Int64,
            "placed_at": pl.Datetime("us", "UTC"),
            "currency": pl.Utf8,
        },
        orient="row",
    )
    if by == "category":  # stored as full paths ("服饰 > 上衣 > T恤"): KPIs slice by the top level
        frame = (
            frame.with_columns(pl.col("slice").str.split(" > ").list.first())
            .group_by("order_id", "customer_id", "placed_at", "currency", "slice")
            .agg(pl.col("total_minor").sum())
        )
    return frame.select("customer_id", "placed_at", "total_minor", "currency", "slice")


def top_categories(session: Session) -> list[str]:
    """Names of the top-level product categories, the values of the ``category`` slice."""
    return list(
        session.scalars(select(Category.name).where(Category.parent_id.is_(None)).order_by(Category.name))
    )


def clv_max(session: Session, run_id: int) -> int | None:
    """The largest CLV of the run (None when the run valued nobody)."""
    value = session.scalar(select(func.max(CustomerScore.clv_minor)).where(CustomerScore.run_id == run_id))
    return None if value is None else int(value)


def clv_bands(session: Session, run_id: int, edges: list[int]) -> list[tuple[int, int, int]]:
    """(band, customers, clv_minor) of the valued customers, band ``i`` holding
    ``edges[i] <= clv < edges[i + 1]``; empty bands are left out."""
    band = case(
        *((CustomerScore.clv_minor < edge, i) for i, edge in enumerate(edges[1:])),
        else_=len(edges) - 1,
    )
    rows = session.execute(
        select(band, func.count(), func.sum(CustomerScore.clv_minor))
        .where(CustomerScore.run_id == run_id, CustomerScore.clv_minor >= edges[0])
        .group_by(band)
        .order_by(band)
    )
    return [(int(b), int(n), int(c)) for b, n, c in rows]


def score_ids(
    run_id: int,
    *,
    equal: Mapping[str, object],
    clv_min: int | None = None,
    clv_max: int | None = None,
    before: tuple[int, Mapping[str, object]] | None = None,
) -> Select[Any]:
    """Ids of the customers scored in ``run_id`` whose score columns equal ``equal`` (a None
    value matches null) with ``clv_min <= clv < clv_max``; with ``before = (run, equal)`` also
    scored in that earlier run with those values (a movement)."""
    now = CustomerScore.__table__.alias("now")
    query = select(now.c.customer_id).where(now.c.run_id == run_id)
    for column, value in equal.items():
        query = query.where(now.c[column].is_(None) if value is None else now.c[column] == value)
    if clv_min is not None:
        query = query.where(now.c.clv_minor >= clv_min)
    if clv_max is not None:
        query = query.where(now.c.clv_minor < clv_max)
    if before is not None:
        then = CustomerScore.__table__.alias("then")
        query = query.join(then, (then.c.customer_id == now.c.customer_id) & (then.c.run_id == before[0]))
        for column, value in before[1].items():
            query = query.where(then.c[column].is_(None) if value is None else then.c[column] == value)
    return query


def cohort_ids(
    first: tuple[datetime, datetime], end: datetime, active: tuple[datetime, datetime] | None = None
) -> Select[Any]:
    """Ids of the customers whose first purchase before ``end`` falls in ``first`` (a half-open
    range), and with ``active`` who also bought in that range."""
    bought = (Order.customer_id.is_not(None), Order.status.not_in(NOT_PURCHASES), Order.placed_at < end)
    query = (
        select(Order.customer_id)
        .where(*bought)
        .group_by(Order.customer_id)
        .having(func.min(Order.placed_at) >= first[0], func.min(Order.placed_at) < first[1])
    )
    if active is not None:
        again = select(Order.customer_id).where(
            *bought, Order.placed_at >= active[0], Order.placed_at < active[1]
        )
        query = query.where(Order.customer_id.in_(again))
    return query


def buyer_ids(window: tuple[datetime, datetime], *, shop: str | None, repeat: bool) -> Select[Any]:
    """Ids of the customers who bought in ``window`` (in ``shop``), with ``repeat`` on two or
    more different days (UTC) of it: the customers behind the KPI cards."""
    query = select(Order.customer_id).where(
        Order.customer_id.is_not(None),
        Order.status.not_in(NOT_PURCHASES),
        Order.placed_at >= window[0],
        Order.placed_at < window[1],
    )
    if shop is not None:
        query = query.where(Order.shop_id.in_(select(Shop.id).where(Shop.code == shop)))
    query = query.group_by(Order.customer_id)
    if repeat:
        query = query.having(func.count(func.distinct(func.date(Order.placed_at))) >= 2)
    return query


# -- value-tier policies and the tier moves between runs ---------------------------------------


def current_tier_policy(session: Session) -> TierPolicy | None:
    return session.scalars(select(TierPolicy).order_by(TierPolicy.id.desc()).limit(1)).first()


def tier_policies(session: Session, limit: int) -> list[TierPolicy]:
    return list(session.scalars(select(TierPolicy).order_by(TierPolicy.id.desc()).limit(limit)))


def get_tier_policy(session: Session, policy_id: int) -> TierPolicy | None:
    return session.get(TierPolicy, policy_id)


def add_tier_policy(session: Session, policy: TierPolicy) -> TierPolicy:
    session.add(policy)
    session.flush()
    return policy


def previous_completed_run(session: Session, run: ScoreRun) -> ScoreRun | None:
    """The latest completed run with an earlier as-of date (the one tier moves are against)."""
    return session.scalars(
        select(ScoreRun)
        .where(ScoreRun.status == "completed", ScoreRun.as_of < run.as_of, ScoreRun.id != run.id)
        .order_by(ScoreRun.as_of.desc(), ScoreRun.id.desc())
        .limit(1)
    ).first()


def tiers_of_run(session: Session, run_id: int) -> pl.DataFrame:
    """customer_id, tier, value_score of the run's tiered customers."""
    rows = session.execute(
        select(CustomerScore.customer_id, CustomerScore.tier, CustomerScore.value_score).where(
            CustomerScore.run_id == run_id, CustomerScore.tier.is_not(None)
        )
    ).all()
    return pl.DataFrame(
        rows, schema={"customer_id": pl.Int64, "tier": pl.Utf8, "value_score": pl.Float64}, orient="row"
    )


def tier_indicators(session: Session, run_id: int) -> pl.DataFrame:
    """The value-tier indicators of the run's buyers, as the scoring run computed them."""
    rows = session.execute(
        select(
            CustomerScore.customer_id,
            CustomerScore.days_since_last,
            CustomerScore.orders,
            CustomerScore.spent_minor,
            CustomerScore.clv_minor,
        ).where(CustomerScore.run_id == run_id, CustomerScore.orders > 0)
    ).all()
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64,
            "recency_days": pl.Int64,
            "orders": pl.Int64,
            "spent": pl.Float64,
            "clv": pl.Float64,
        },
        orient="row",
    )


def insert_tier_changes(session: Session, frame: pl.DataFrame) -> None:
    if frame.height:
        bulk.insert_frame(session, TierChange.__table__, frame)  # type: ignore[arg-type]


def tier_changes(
    session: Session, *, customer_id: int | None = None, run_id: int | None = None, limit: int = 100
) -> list[tuple[TierChange, ScoreRun]]:
    """Tier moves, newest run first, with the run they showed in."""
    query = (
        select(TierChange, ScoreRun)
        .join(ScoreRun, ScoreRun.id == TierChange.run_id)
        .order_by(ScoreRun.as_of.desc(), TierChange.id)
        .limit(limit)
    )
    if customer_id is not None:
        query = query.where(TierChange.customer_id == customer_id)
    if run_id is not None:
        query = query.where(TierChange.run_id == run_id)
    return [(c, r) for c, r in session.execute(query).all()]
