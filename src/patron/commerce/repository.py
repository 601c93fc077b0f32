"""All SQL of the commerce domain: products, categories, orders, lines, refunds, FX rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.repository import chunked
from patron.models import Category, FxRate, Order, OrderLine, Product, Refund, Shop

CANCELLED = ("cancelled", "closed", "pending")


def shops(session: Session) -> list[Shop]:
    return list(session.scalars(select(Shop).order_by(Shop.id)))


def shop_by_code(session: Session, code: str) -> Shop | None:
    return session.scalar(select(Shop).where(Shop.code == code))


def add_shop(session: Session, shop: Shop) -> Shop:
    session.add(shop)
    session.flush()
    return shop


# -- products ---------------------------------------------------------------------------------


def category_ids(session: Session) -> dict[str, int]:
    return {r[0]: r[1] for r in session.execute(select(Category.path, Category.id))}


def insert_category(session: Session, path: str, name: str, parent_id: int | None) -> int:
    result = session.execute(
        insert(Category).returning(Category.id),
        [{"path": path, "name": name, "parent_id": parent_id}],
    )
    return int(result.scalar_one())


def product_index(session: Session) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(shop_code, sku) -> (product id, content signature) for every product."""
    rows = session.execute(
        select(
            Product.shop_code,
            Product.sku,
            Product.id,
            Product.title,
            Product.title_en,
            Product.category_id,
            Product.brand,
            Product.price_minor,
            Product.currency,
        )
    )
    return {(r[0], r[1]): (r[2], repr((r[3], r[4], r[5], r[6], r[7], r[8]))) for r in rows}


def insert_products(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = session.execute(insert(Product).returning(Product.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def update_products(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(update(Product), rows)


# -- orders -----------------------------------------------------------------------------------


def existing_orders(
    session: Session, shop_id: int, external_ids: Sequence[str]
) -> dict[str, tuple[int, datetime, str]]:
    """external id -> (id, source_updated_at, content_hash) for the orders already stored."""
    out: dict[str, tuple[int, datetime, str]] = {}
    for part in chunked(list(external_ids)):
        rows = session.execute(
            select(Order.external_id, Order.id, Order.source_updated_at, Order.content_hash).where(
                Order.shop_id == shop_id, Order.external_id.in_(part)
            )
        )
        for ext, oid, updated, digest in rows:
            out[ext] = (oid, updated, digest)
    return out


def insert_orders(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = session.execute(insert(Order).returning(Order.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def update_orders(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(update(Order), rows)


def existing_lines(session: Session, order_ids: Sequence[int]) -> dict[tuple[int, str], tuple[int, str]]:
    """(order id, line key) -> (line id, signature)."""
    out: dict[tuple[int, str], tuple[int, str]] = {}
    for part in chunked(list(order_ids)):
        rows = session.execute(
            select(
                OrderLine.order_id,
                OrderLine.line_key,
                OrderLine.id,
                OrderLine.product_id,
                OrderLine.sku,
                OrderLine.title,
                OrderLine.quantity,
                OrderLine.unit_price_minor,
                OrderLine.discount_minor,
                OrderLine.total_minor,
            ).where(OrderLine.order_id.in_(part))
        )
        for r in rows:
            out[(r[0], r[1])] = (r[2], repr(tuple(r[3:])))
    return out


def insert_lines(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(OrderLine), rows)


def update_lines(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(update(OrderLine), rows)


def set_line_subtotals(session: Session, order_ids: Sequence[int]) -> None:
    """Recompute orders.subtotal from their lines (used by line-only exports such as 宝贝报表)."""
    for part in chunked(list(order_ids)):
        sums = session.execute(
            select(OrderLine.order_id, func.coalesce(func.sum(OrderLine.total_minor), 0))
            .where(OrderLine.order_id.in_(part))
            .group_by(OrderLine.order_id)
        ).all()
        if sums:
            session.execute(update(Order), [{"id": oid, "subtotal_minor": int(total)} for oid, total in sums])


def order_keys(
    session: Session, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, int | None, str]]:
    """(shop id, external id) -> (order id, customer id, currency)."""
    out: dict[tuple[int, str], tuple[int, int | None, str]] = {}
    for part in chunked(list(keys), 400):
        rows = session.execute(
            select(Order.shop_id, Order.external_id, Order.id, Order.customer_id, Order.currency).where(
                tuple_(Order.shop_id, Order.external_id).in_(part)
            )
        )
        for shop_id, ext, oid, cid, cur in rows:
            out[(shop_id, ext)] = (oid, cid, cur)
    return out


def totals_by_customer(
    session: Session, customer_ids: Sequence[int]
) -> list[tuple[int, str, int, int, datetime | None]]:
    """(customer id, currency, orders, net paid minor, last order) for valid orders."""
    out: list[tuple[int, str, int, int, datetime | None]] = []
    for part in chunked(list(customer_ids)):
        rows = session.execute(
            select(
                Order.customer_id,
                Order.currency,
                func.count(),
                func.coalesce(func.sum(Order.total_minor), 0),
                func.max(Order.placed_at),
            )
            .where(Order.customer_id.in_(part), Order.status.not_in(CANCELLED))
            .group_by(Order.customer_id, Order.currency)
        )
        out.extend((int(r[0] or 0), r[1], int(r[2]), int(r[3]), r[4]) for r in rows)
    return out


def spend_since(
    session: Session,
    customer_ids: Sequence[int],
    since: datetime,
    until: datetime,
    *,
    shop_id: int | None,
    currency: str,
) -> dict[int, int]:
    """Per customer, the total of their valid orders in ``currency`` placed in ``[since,
    until)`` (in ``shop_id``, or any shop), less what was refunded on those orders (rejected and
    cancelled refunds aside); customers without such orders are absent. Two aggregates per batch
    of customers, each reading only that batch's orders and their refunds."""
    out: dict[int, int] = {}
    for part in chunked(list(customer_ids)):
        valid = [
            Order.customer_id.in_(part),
            Order.status.not_in(CANCELLED),
            Order.currency == currency,
            Order.placed_at >= since,
            Order.placed_at < until,
        ]
        if shop_id is not None:
            valid.append(Order.shop_id == shop_id)
        paid = (
            select(Order.customer_id, func.sum(Order.total_minor)).where(*valid).group_by(Order.customer_id)
        )
        refunded = (
            select(Order.customer_id, func.sum(Refund.amount_minor))
            .join(Refund, Refund.order_id == Order.id)
            .where(*valid, Refund.status.not_in(("rejected", "cancelled")))
            .group_by(Order.customer_id)
        )
        for customer, total in session.execute(paid):
            out[int(customer or 0)] = int(total or 0)
        for customer, back in session.execute(refunded):
            out[int(customer or 0)] -= int(back or 0)
    return out


def coupon_used(session: Session, code: str) -> bool:
    """Whether a valid order (not cancelled) used the coupon ``code``."""
    found = session.scalar(
        select(Order.id).where(Order.coupon_code == code, Order.status.not_in(CANCELLED)).limit(1)
    )
    return found is not None


# Reads of the customer 360, built once and executed with parameters (no per-call construction).
_ORDERS_OF = (
    select(Order)
    .where(Order.customer_id == bindparam("cid"))
    .order_by(Order.placed_at.desc())
    .limit(bindparam("limit"))
)
_COUNT_ORDERS_OF = select(func.count()).where(Order.customer_id == bindparam("cid"))
_LINES_OF = (
    select(OrderLine).where(OrderLine.order_id.in_(bindparam("ids", expanding=True))).order_by(OrderLine.id)
)
_REFUNDS_OF = (
    select(Refund)
    .where(Refund.customer_id == bindparam("cid"))
    .order_by(Refund.id.desc())
    .limit(bindparam("limit"))
)
_SHOP_CODES = select(Shop.id, Shop.code)


def orders_of(session: Session, customer_id: int, limit: int) -> list[Order]:
    return list(session.scalars(_ORDERS_OF, {"cid": customer_id, "limit": limit}))


def count_orders_of(session: Session, customer_id: int) -> int:
    return int(session.scalar(_COUNT_ORDERS_OF, {"cid": customer_id}) or 0)


def lines_of(session: Session, order_ids: Sequence[int]) -> list[OrderLine]:
    if not order_ids:
        return []
    return list(session.scalars(_LINES_OF, {"ids": list(order_ids)}))


def refunds_of(session: Session, customer_id: int, limit: int) -> list[Refund]:
    return list(session.scalars(_REFUNDS_OF, {"cid": customer_id, "limit": limit}))


# -- refunds ----------------------------------------------------------------------------------


def existing_refunds(
    session: Session, shop_id: int, external_ids: Sequence[str]
) -> dict[str, tuple[int, datetime, str]]:
    out: dict[str, tuple[int, datetime, str]] = {}
    for part in chunked(list(external_ids)):
        rows = session.execute(
            select(Refund.external_id, Refund.id, Refund.source_updated_at, Refund.content_hash).where(
                Refund.shop_id == shop_id, Refund.external_id.in_(part)
            )
        )
        for ext, rid, updated, digest in rows:
            out[ext] = (rid, updated, digest)
    return out


def insert_refunds(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Refund), rows)


def update_refunds(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(update(Refund), rows)


# -- fx ---------------------------------------------------------------------------------------


def latest_rates(session: Session, quote: str) -> dict[str, str]:
    latest = (
        select(FxRate.currency, func.max(FxRate.valid_on).label("d"))
        .where(FxRate.quote == quote)
        .group_by(FxRate.currency)
        .subquery()
    )
    rows = session.execute(
        select(FxRate.currency, FxRate.rate)
        .join(latest, (FxRate.currency == latest.c.currency) & (FxRate.valid_on == latest.c.d))
        .where(FxRate.quote == quote)
    )
    return {r[0]: r[1] for r in rows}


def upsert_rate(session: Session, currency: str, quote: str, valid_on: date, rate: str) -> None:
    row = session.scalar(
        select(FxRate).where(FxRate.currency == currency, FxRate.quote == quote, FxRate.valid_on == valid_on)
    )
    if row is None:
        session.add(FxRate(currency=currency, quote=quote, valid_on=valid_on, rate=rate))
    else:
        row.rate = rate
    session.flush()


# -- bulk paths for imports -------------------------------------------------------------------

ORDER_COLUMNS = (
    "shop_id",
    "external_id",
    "customer_id",
    "status",
    "raw_status",
    "currency",
    "subtotal_minor",
    "discount_minor",
    "shipping_minor",
    "total_minor",
    "coupon_code",
    "placed_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "province",
    "city",
    "district",
    "address",
    "carrier",
    "tracking_no",
    "source_updated_at",
    "content_hash",
    "created_at",
    "updated_at",
)
ORDER_UPDATE_COLUMNS = tuple(c for c in ORDER_COLUMNS if c not in ("shop_id", "external_id", "created_at"))
LINE_COLUMNS = (
    "order_id",
    "line_key",
    "product_id",
    "sku",
    "title",
    "quantity",
    "unit_price_minor",
    "discount_minor",
    "total_minor",
)


def bulk_insert_orders(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    bulk.insert_rows(session, Order.__table__, ORDER_COLUMNS, rows)  # type: ignore[arg-type]


def bulk_update_orders(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    bulk.update_rows(session, Order.__table__, ORDER_UPDATE_COLUMNS, rows)  # type: ignore[arg-type]


def order_ids(session: Session, shop_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunked(list(external_ids)):
        for ext, oid in session.execute(
            select(Order.external_id, Order.id).where(Order.shop_id == shop_id, Order.external_id.in_(part))
        ):
            out[ext] = oid
    return out


def bulk_insert_lines(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    bulk.insert_rows(session, OrderLine.__table__, LINE_COLUMNS, rows)  # type: ignore[arg-type]


def bulk_update_lines(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    bulk.update_rows(session, OrderLine.__table__, LINE_COLUMNS[2:], rows)  # type: ignore[arg-type]


def shop_codes(session: Session) -> dict[int, str]:
    return {r[0]: r[1] for r in session.execute(_SHOP_CODES)}


# -- frames (the columnar import path) --------------------------------------------------------


def stored_order_ids(session: Session, keys: pl.DataFrame) -> pl.DataFrame:
    """(shop_id, order_id, id) of the orders among ``keys`` (shop_id, order_id) already stored."""
    with bulk.staged(session, keys.select("shop_id", "order_id")) as t:
        return bulk.read_frame(
            session,
            f'SELECT o.shop_id, o.external_id, o.id FROM orders o JOIN "{t}" k '  # noqa: S608 - generated table name, no input
            "ON o.external_id = k.order_id AND o.shop_id = k.shop_id",
            {"shop_id": pl.Int64, "order_id": pl.Utf8, "id": pl.Int64},
        )


def insert_orders_frame(session: Session, frame: pl.DataFrame) -> pl.Series:
    """Columns as ORDER_COLUMNS; returns the new ids in row order."""
    return bulk.insert_frame_returning_ids(session, Order.__table__, frame)  # type: ignore[arg-type]


def insert_lines_frame(session: Session, frame: pl.DataFrame) -> None:
    bulk.insert_frame(session, OrderLine.__table__, frame)  # type: ignore[arg-type]


def get_order(session: Session, order_id: int) -> Order | None:
    return session.get(Order, order_id)


def get_line(session: Session, line_id: int) -> OrderLine | None:
    return session.get(OrderLine, line_id)


def get_refund(session: Session, refund_id: int) -> Refund | None:
    return session.get(Refund, refund_id)


def orders_by_number(session: Session, number: str) -> list[tuple[int, int | None]]:
    """(order id, customer id) of the orders with this external id, in any shop."""
    rows = session.execute(select(Order.id, Order.customer_id).where(Order.external_id == number))
    return [(int(o), c) for o, c in rows]


def add_refund(session: Session, refund: Refund) -> Refund:
    session.add(refund)
    session.flush()
    return refund


def refunded_total(session: Session, order_id: int) -> int:
    """Minor units refunded or being refunded on an order (rejected and cancelled ones aside)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
            Refund.order_id == order_id, Refund.status.not_in(("rejected", "cancelled"))
        )
    )
    return int(total or 0)


def refund_by_key(session: Session, shop_id: int, external_id: str) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.shop_id == shop_id, Refund.external_id == external_id)
    ).first()


def line_category(session: Session, line_id: int) -> str | None:
    """The category path of an order line's product."""
    return session.scalar(
        select(Category.path)
        .join(Product, Product.category_id == Category.id)
        .join(OrderLine, OrderLine.product_id == Product.id)
        .where(OrderLine.id == line_id)
    )


def latest_orders(session: Session, limit: int) -> list[Order]:
    """The most recent orders that have a customer."""
    return list(
        session.scalars(
            select(Order).where(Order.customer_id.is_not(None)).order_by(Order.placed_at.desc()).limit(limit)
        )
    )


def orders_page(
    session: Session,
    *,
    shop_id: int | None,
    statuses: Sequence[str],
    after_id: int,
    limit: int,
    placed: tuple[datetime | None, datetime | None] = (None, None),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders with a customer, in ``statuses``, after ``after_id`` (by id, ``limit`` of them),
    placed in ``[placed[0], placed[1])`` when given, and their lines (order_id, sku, category
    name, paid amount); read through the driver (no ORM rows: crediting reads hundreds of
    thousands)."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    wanted = ", ".join(f"'{s}'" for s in statuses if s.isidentifier())
    shop = f"AND shop_id = {int(shop_id)} " if shop_id is not None else ""
    if placed[0] is not None:
        shop += f"AND placed_at >= {bulk.sql_time(conn, placed[0])} "
    if placed[1] is not None:
        shop += f"AND placed_at < {bulk.sql_time(conn, placed[1])} "
    rows = bulk.fetch_all(
        session,
        "SELECT id, external_id, customer_id, shop_id, currency, placed_at FROM orders "  # noqa: S608
        f"WHERE id > {int(after_id)} AND customer_id IS NOT NULL AND status IN ({wanted}) {shop}"
        f"ORDER BY id LIMIT {int(limit)}",
    )
    orders = pl.DataFrame(
        rows,
        schema={"order_id": pl.Int64, "external_id": pl.Utf8, "customer_id": pl.Int64, "shop_id": pl.Int64,
                "currency": pl.Utf8, "placed_at": pl.Datetime("us", "UTC") if pg else pl.Utf8},
        orient="row",
    )  # fmt: skip
    if not pg:  # SQLite keeps UTC times as naive text
        orders = orders.with_columns(
            pl.col("placed_at")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
            .dt.replace_time_zone("UTC")
        )
    schema = {"order_id": pl.Int64, "sku": pl.Utf8, "category": pl.Utf8, "amount_minor": pl.Int64}
    if orders.is_empty():
        return orders, pl.DataFrame(schema=schema)
    first, last = int(orders["order_id"].min()), int(orders["order_id"].max())  # type: ignore[arg-type]
    lines = bulk.fetch_all(
        session,
        "SELECT l.order_id, l.sku, c.name, l.total_minor FROM order_lines l "  # noqa: S608
        "LEFT JOIN products p ON p.id = l.product_id LEFT JOIN categories c ON c.id = p.category_id "
        f"WHERE l.order_id BETWEEN {first} AND {last}",
    )
    frame = pl.DataFrame(lines, schema=schema, orient="row")
    return orders, frame.join(orders.select("order_id"), on="order_id", how="semi")
