"""Shops, products, orders, refunds and FX: bulk upserts that make imports idempotent.

Every record carries the source's own modification time and a digest of its content. A re-sent
record with the same digest is *unchanged*; one with a newer source time is *updated*; an older
one never overwrites what is stored (*stale*, counted as unchanged).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from patron.commerce import repository as repo
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.money import convert_minor
from patron.core.time import utcnow, zone
from patron.models import Order, OrderLine, Platform, Refund, Shop

INSERTED, UPDATED, UNCHANGED = "inserted", "updated", "unchanged"
# Orders that do not count towards a customer's orders and spend.
NOT_COUNTED = repo.CANCELLED


class ShopNotFound(NotFound):
    code = "shop_not_found"


def digest(*parts: object) -> str:
    return hashlib.md5(repr(parts).encode(), usedforsecurity=False).hexdigest()


# -- shops ------------------------------------------------------------------------------------


def list_shops(session: Session) -> list[Shop]:
    return repo.shops(session)


def get_shop(session: Session, code: str) -> Shop:
    shop = repo.shop_by_code(session, code)
    if shop is None:
        raise ShopNotFound(f"unknown shop {code!r}; create it first (patron shops add)", data={"shop": code})
    return shop


def create_shop(
    session: Session,
    *,
    code: str,
    name: str,
    platform: str,
    currency: str,
    timezone: str,
    name_zh: str | None = None,
) -> Shop:
    from patron.core.money import currency_exponent

    if repo.shop_by_code(session, code) is not None:
        raise Conflict(f"shop {code!r} exists already", code="shop_exists", data={"shop": code})
    try:
        Platform(platform)
    except ValueError as exc:
        raise InvalidInput(
            f"unknown platform {platform!r}",
            code="unknown_platform",
            data={"allowed": [p.value for p in Platform]},
        ) from exc
    currency_exponent(currency)
    zone(timezone)
    return repo.add_shop(
        session,
        Shop(
            code=code,
            name=name,
            name_zh=name_zh,
            platform=platform,
            currency=currency.upper(),
            timezone=timezone,
        ),
    )


# -- products ---------------------------------------------------------------------------------


@dataclass
class ProductInput:
    sku: str
    title: str
    shop_code: str = ""
    title_en: str | None = None
    category_path: list[str] = field(default_factory=list)
    brand: str | None = None
    price_minor: int | None = None
    currency: str | None = None


class ProductCatalog:
    """Products and categories held in memory for one import (a shop has thousands, not
    millions), so order lines find their product without a query per row."""

    def __init__(self, session: Session) -> None:
        self.categories = repo.category_ids(session)
        self.products = repo.product_index(session)

    def product_id(self, shop_code: str, sku: str | None) -> int | None:
        if not sku:
            return None
        hit = self.products.get((shop_code, sku)) or self.products.get(("", sku))
        return hit[0] if hit else None

    def _category(self, session: Session, levels: list[str]) -> int | None:
        parent: int | None = None
        for depth in range(len(levels)):
            path = " > ".join(levels[: depth + 1])
            if path not in self.categories:
                self.categories[path] = repo.insert_category(session, path, levels[depth], parent)
            parent = self.categories[path]
        return parent

    def upsert(self, session: Session, items: Sequence[ProductInput]) -> list[str]:
        outcomes: list[str] = []
        inserts: list[dict[str, Any]] = []
        insert_keys: list[tuple[str, str]] = []
        updates: list[dict[str, Any]] = []
        for p in items:
            cat = self._category(session, p.category_path) if p.category_path else None
            values = {
                "title": p.title,
                "title_en": p.title_en,
                "category_id": cat,
                "brand": p.brand,
                "price_minor": p.price_minor,
                "currency": p.currency,
            }
            sig = repr((p.title, p.title_en, cat, p.brand, p.price_minor, p.currency))
            key = (p.shop_code, p.sku)
            if key in self.products:
                pid, old = self.products[key]
                if old == sig:
                    outcomes.append(UNCHANGED)
                    continue
                updates.append({"id": pid, **values})
                self.products[key] = (pid, sig)
                outcomes.append(UPDATED)
            elif key in insert_keys:
                outcomes.append(UNCHANGED)
            else:
                inserts.append({"sku": p.sku, "shop_code": p.shop_code, "created_at": utcnow(), **values})
                insert_keys.append(key)
                self.products[key] = (0, sig)
                outcomes.append(INSERTED)
        ids = repo.insert_products(session, inserts)
        for key, pid in zip(insert_keys, ids, strict=True):
            self.products[key] = (pid, self.products[key][1])
        repo.update_products(session, updates)
        return outcomes


# -- orders -----------------------------------------------------------------------------------


@dataclass
class LineInput:
    line_key: str
    sku: str | None
    title: str | None
    quantity: int
    unit_price_minor: int
    total_minor: int
    discount_minor: int = 0


@dataclass
class UpsertResult:
    order_outcomes: list[str]
    customer_ids: set[int]


def _line_values(line: LineInput, product_id: int | None) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "sku": line.sku,
        "title": line.title,
        "quantity": line.quantity,
        "unit_price_minor": line.unit_price_minor,
        "discount_minor": line.discount_minor,
        "total_minor": line.total_minor,
    }


def _line_sig(v: dict[str, Any]) -> str:
    return repr(
        (
            v["product_id"],
            v["sku"],
            v["title"],
            v["quantity"],
            v["unit_price_minor"],
            v["discount_minor"],
            v["total_minor"],
        )
    )


def upsert_lines(
    session: Session,
    shop: Shop,
    targets: Sequence[tuple[int, Sequence[LineInput]]],
    catalog: ProductCatalog,
) -> list[list[str]]:
    """Add or update the lines of stored orders (exports that send lines separately, such as
    Taobao's 宝贝报表); lines are never deleted. Returns an outcome per line."""
    stored = repo.existing_lines(session, [oid for oid, lines in targets if lines])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    result: list[list[str]] = []
    for oid, lines in targets:
        outs: list[str] = []
        for line in lines:
            values = _line_values(line, catalog.product_id(shop.code, line.sku))
            key = (oid, line.line_key)
            if key in seen:
                outs.append(UNCHANGED)
                continue
            seen.add(key)
            if key in stored:
                lid, sig = stored[key]
                if sig == _line_sig(values):
                    outs.append(UNCHANGED)
                else:
                    updates.append({"id": lid, **values})
                    outs.append(UPDATED)
            else:
                inserts.append({"order_id": oid, "line_key": line.line_key, **values})
                outs.append(INSERTED)
        result.append(outs)
    repo.insert_lines(session, inserts)
    repo.update_lines(session, updates)
    return result


def find_orders(
    session: Session, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, int | None, str]]:
    return repo.order_keys(session, keys)


def refresh_subtotals(session: Session, order_ids: Sequence[int]) -> None:
    repo.set_line_subtotals(session, order_ids)


# -- refunds ----------------------------------------------------------------------------------


@dataclass
class RefundInput:
    external_id: str
    order_id: int | None
    customer_id: int | None
    type: str
    status: str
    amount_minor: int
    currency: str
    source_updated_at: datetime
    sku: str | None = None
    reason: str | None = None
    requested_at: datetime | None = None
    completed_at: datetime | None = None


def upsert_refunds(session: Session, shop: Shop, refunds: Sequence[RefundInput]) -> list[str]:
    existing = repo.existing_refunds(session, shop.id, [r.external_id for r in refunds])
    outcomes: list[str] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for r in refunds:
        values = {
            "order_id": r.order_id,
            "customer_id": r.customer_id,
            "sku": r.sku,
            "type": r.type,
            "reason": r.reason,
            "amount_minor": r.amount_minor,
            "currency": r.currency,
            "status": r.status,
            "requested_at": r.requested_at,
            "completed_at": r.completed_at,
            "source_updated_at": r.source_updated_at,
        }
        content = digest(sorted((k, str(v)) for k, v in values.items() if k != "source_updated_at"))
        if r.external_id in existing:
            rid, updated_at, old = existing[r.external_id]
            if old == content or r.source_updated_at < updated_at:
                outcomes.append(UNCHANGED)
                continue
            updates.append({"id": rid, **values, "content_hash": content})
            existing[r.external_id] = (rid, r.source_updated_at, content)
            outcomes.append(UPDATED)
        else:
            inserts.append(
                {
                    "shop_id": shop.id,
                    "external_id": r.external_id,
                    **values,
                    "content_hash": content,
                    "created_at": now,
                }
            )
            existing[r.external_id] = (0, r.source_updated_at, content)
            outcomes.append(INSERTED)
    repo.insert_refunds(session, inserts)
    repo.update_refunds(session, updates)
    return outcomes


# -- customer totals and reads ----------------------------------------------------------------


def fx_rates(session: Session, quote: str) -> dict[str, Decimal]:
    """The latest rate of every currency into ``quote`` (units of quote per unit)."""
    return {k: Decimal(v) for k, v in repo.latest_rates(session, quote).items()}


def customer_totals(
    session: Session, customer_ids: Sequence[int], reporting_currency: str
) -> list[dict[str, Any]]:
    """Orders count, spend in the reporting currency and last order time per customer.

    Amounts in other currencies are converted at the latest stored FX rate; a currency with no
    rate is left out of the spend (and logged in the result's ``unconverted``) rather than
    mixed in unconverted.
    """
    rates = fx_rates(session, reporting_currency)
    acc: dict[int, dict[str, Any]] = {}
    for cid, currency, count, total, last in repo.totals_by_customer(session, customer_ids):
        row = acc.setdefault(cid, {"id": cid, "orders_count": 0, "spent_minor": 0, "last_order_at": None})
        row["orders_count"] += count
        converted = convert_minor(total, currency, reporting_currency, rates)
        if converted is not None:
            row["spent_minor"] += converted
        if last is not None and (row["last_order_at"] is None or last > row["last_order_at"]):
            row["last_order_at"] = last
    # Customers with no valid order left (all cancelled, or moved away by an unmerge) go to zero.
    for cid in customer_ids:
        acc.setdefault(cid, {"id": cid, "orders_count": 0, "spent_minor": 0, "last_order_at": None})
    return list(acc.values())


def spend_since(
    session: Session,
    customer_ids: Sequence[int],
    since: datetime,
    until: datetime,
    *,
    shop_id: int | None,
    currency: str,
) -> dict[int, int]:
    """Net spend per customer in ``[since, until)`` in one currency (a loyalty tier's qualifying
    value)."""
    return repo.spend_since(session, customer_ids, since, until, shop_id=shop_id, currency=currency)


def coupon_used(session: Session, code: str) -> bool:
    """Whether an imported order that was not cancelled used the coupon ``code``."""
    return repo.coupon_used(session, code)


def set_fx_rate(session: Session, currency: str, quote: str, valid_on: date, rate: str) -> None:
    from patron.core.money import currency_exponent

    currency_exponent(currency)
    currency_exponent(quote)
    try:
        value = Decimal(rate)
    except ArithmeticError as exc:
        raise InvalidInput(f"bad rate {rate!r}", code="bad_rate") from exc
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"bad rate {rate!r}", code="bad_rate")
    repo.upsert_rate(session, currency.upper(), quote.upper(), valid_on, str(value))


@dataclass
class OrderView:
    order: Order
    lines: list[OrderLine]


def orders_with_lines(session: Session, customer_id: int, limit: int = 50) -> list[OrderView]:
    orders = repo.orders_of(session, customer_id, limit)
    lines = repo.lines_of(session, [o.id for o in orders])
    by_order: dict[int, list[OrderLine]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    return [OrderView(o, by_order.get(o.id, [])) for o in orders]


def refunds_of(session: Session, customer_id: int, limit: int = 50) -> list[Refund]:
    return repo.refunds_of(session, customer_id, limit)


def count_orders_of(session: Session, customer_id: int) -> int:
    return repo.count_orders_of(session, customer_id)


def upsert_order_records(
    session: Session, shop: Shop, records: Sequence[dict[str, Any]], catalog: ProductCatalog
) -> UpsertResult:
    """Upsert parsed import chunks (dicts from ``ingest.orders_frame``) in bulk.

    Orders are inserted, or updated when their header changed and the source is not older;
    lines are added or updated but never deleted, so an order whose rows are spread over a
    file (or over two exports) keeps every line.
    """
    existing = repo.existing_orders(session, shop.id, [r["order_id"] for r in records])
    now = utcnow()
    outcomes: list[str] = []
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    targets: list[tuple[dict[str, Any], int | None]] = []  # (record, stored order id)
    seen: set[str] = set()
    for r in records:
        ext = r["order_id"]
        hit = existing.get(ext)
        values = (
            r["customer_id"],
            r["status"],
            r["raw_status"],
            r["currency"],
            r["subtotal"] if r["subtotal"] is not None else sum(ln["line_total"] or 0 for ln in r["lines"]),
            r["discount"],
            r["shipping"],
            None,
            r["coupon_code"],
            r["placed_at"],
            r["paid_at"],
            r["shipped_at"],
            r["delivered_at"],
            r["province"],
            r["city"],
            r["district"],
            r["address"],
            r["carrier"],
            r["tracking_no"],
            r["updated_at"],
            r["content_hash"],
        )
        total = (
            r["order_total"] if r["order_total"] is not None else values[4] - r["discount"] + r["shipping"]
        )
        values = (*values[:7], total, *values[8:])
        if hit is None and ext not in seen:
            seen.add(ext)
            inserts.append((shop.id, ext, *values, now, now))
            outcomes.append(INSERTED)
            targets.append((r, None))
        elif hit is None:
            outcomes.append(UNCHANGED)
        elif r["updated_at"] < hit[1]:
            outcomes.append(UNCHANGED)  # an older export never overwrites
        else:
            if hit[2] != r["content_hash"]:
                updates.append((*values, now, hit[0]))
                outcomes.append(UPDATED)
            else:
                outcomes.append(UNCHANGED)
            targets.append((r, hit[0]))
    repo.bulk_insert_orders(session, inserts)
    repo.bulk_update_orders(session, updates)
    new_ids = repo.order_ids(session, shop.id, [row[1] for row in inserts])
    stored = repo.existing_lines(session, [oid for _, oid in targets if oid is not None])
    line_inserts: list[tuple[Any, ...]] = []
    line_updates: list[tuple[Any, ...]] = []
    changed_orders: set[str] = set()
    done: set[tuple[int, str]] = set()
    for r, oid in targets:
        order_id = oid if oid is not None else new_ids[r["order_id"]]
        for ln in r["lines"]:
            key = (order_id, ln["line_id"])
            if key in done:
                continue
            done.add(key)
            line_values = {
                "product_id": catalog.product_id(shop.code, ln["sku"]),
                "sku": ln["sku"],
                "title": ln["title"],
                "quantity": ln["quantity"],
                "unit_price_minor": ln["unit_price"],
                "discount_minor": ln["line_discount"],
                "total_minor": ln["line_total"],
            }
            row = tuple(line_values.values())
            if key not in stored:
                line_inserts.append((order_id, ln["line_id"], *row))
                changed_orders.add(r["order_id"])
            elif stored[key][1] != _line_sig(line_values):
                line_updates.append((*row, stored[key][0]))
                changed_orders.add(r["order_id"])
    repo.bulk_insert_lines(session, line_inserts)
    repo.bulk_update_lines(session, line_updates)
    if changed_orders:
        outcomes = [
            UPDATED if o == UNCHANGED and r["order_id"] in changed_orders and r["order_id"] in existing else o
            for r, o in zip(records, outcomes, strict=True)
        ]
    return UpsertResult(outcomes, {r["customer_id"] for r in records if r["customer_id"] is not None})


def stored_order_ids(session: Session, keys: pl.DataFrame) -> pl.DataFrame:
    """(shop_id, order_id, id) of the orders among ``keys`` that are already stored."""
    return repo.stored_order_ids(session, keys)


def insert_new_orders(session: Session, orders: pl.DataFrame, catalog: ProductCatalog) -> pl.DataFrame:
    """Write orders known to be new, with their lines, set-wise (the bulk of a first import).

    ``orders`` is one row per order as :func:`upsert_order_records` takes them, with
    ``content_hash`` and ``customer_id`` set and ``lines`` a list of line structs. Subtotal and
    total default as there: the sum of the lines, and subtotal - discount + shipping. Returns
    the orders as written.
    """
    if orders.is_empty():
        return orders
    now = pl.lit(utcnow(), dtype=pl.Datetime("us", "UTC"))
    line_sum = pl.col("lines").list.eval(pl.element().struct.field("line_total").fill_null(0)).list.sum()
    subtotal = pl.coalesce("subtotal", line_sum)
    frame = orders.select(
        "shop_id",
        external_id="order_id",
        customer_id="customer_id",
        status="status",
        raw_status="raw_status",
        currency="currency",
        subtotal_minor=subtotal,
        discount_minor="discount",
        shipping_minor="shipping",
        total_minor=pl.coalesce("order_total", subtotal - pl.col("discount") + pl.col("shipping")),
        coupon_code="coupon_code",
        **{c: pl.col(c) for c in ("placed_at", "paid_at", "shipped_at", "delivered_at")},
        **{c: pl.col(c) for c in ("province", "city", "district", "address", "carrier", "tracking_no")},
        source_updated_at="updated_at",
        content_hash="content_hash",
        created_at=now,
        updated_at=now,
    )
    ids = repo.insert_orders_frame(session, frame)
    lines = (
        orders.select("shop_id", "lines", order_id=ids)
        .explode("lines", empty_as_null=False)
        .filter(pl.col("lines").is_not_null())
        .unnest("lines")
        .unique(["order_id", "line_id"], keep="first", maintain_order=True)
    )
    if lines.is_empty():
        return frame
    codes = repo.shop_codes(session)
    products = (
        lines.select("shop_id", "sku")
        .unique()
        .with_columns(
            pl.struct("shop_id", "sku")
            .map_elements(lambda k: catalog.product_id(codes[k["shop_id"]], k["sku"]), return_dtype=pl.Int64)
            .alias("product_id")
        )
    )
    repo.insert_lines_frame(
        session,
        lines.join(
            products, on=["shop_id", "sku"], how="left", nulls_equal=True, maintain_order="left"
        ).select(
            "order_id",
            line_key="line_id",
            product_id="product_id",
            sku="sku",
            title="title",
            quantity="quantity",
            unit_price_minor="unit_price",
            discount_minor="line_discount",
            total_minor="line_total",
        ),
    )
    return frame


def shop_codes(session: Session) -> dict[int, str]:
    """Shop id -> code, without loading Shop objects (the customer 360 asks on every request)."""
    return repo.shop_codes(session)


def get_order(session: Session, order_id: int) -> Order:
    order = repo.get_order(session, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found", data={"order_id": order_id})
    return order


def get_line(session: Session, line_id: int) -> OrderLine:
    line = repo.get_line(session, line_id)
    if line is None:
        raise NotFound(f"order line {line_id} not found", code="order_line_not_found")
    return line


def get_refund(session: Session, refund_id: int) -> Refund:
    refund = repo.get_refund(session, refund_id)
    if refund is None:
        raise NotFound(f"refund {refund_id} not found", code="refund_not_found")
    return refund


def orders_by_number(session: Session, number: str) -> list[tuple[int, int | None]]:
    return repo.orders_by_number(session, number.strip())


def record_refund(
    session: Session,
    *,
    shop_id: int,
    external_id: str,
    order_id: int | None,
    customer_id: int | None,
    type: str,
    status: str,
    amount_minor: int,
    currency: str,
    reason: str | None,
    at: datetime,
) -> Refund:
    """A refund, return, exchange or re-ship decided in Patron (not imported). ``external_id``
    is unique per shop, so recording the same decision twice returns the first record."""
    existing = repo.refund_by_key(session, shop_id, external_id)
    if existing is not None:
        return existing
    values = (external_id, order_id, customer_id, type, status, amount_minor, currency, reason)
    return repo.add_refund(
        session,
        Refund(
            shop_id=shop_id,
            external_id=external_id,
            order_id=order_id,
            customer_id=customer_id,
            type=type,
            status=status,
            amount_minor=amount_minor,
            currency=currency,
            reason=reason,
            requested_at=at,
            completed_at=at if status == "completed" else None,
            source_updated_at=at,
            content_hash=digest(*values),
        ),
    )


def refunded_total(session: Session, order_id: int) -> int:
    return repo.refunded_total(session, order_id)


def line_category(session: Session, line_id: int) -> str | None:
    return repo.line_category(session, line_id)


def latest_orders(session: Session, limit: int = 100) -> list[Order]:
    return repo.latest_orders(session, limit)


#: Orders in these statuses earn loyalty points (paid and on; not pending, cancelled or refunded).
EARNING_STATUSES = ("paid", "shipped", "delivered", "completed")


def orders_page(
    session: Session,
    *,
    shop_id: int | None,
    after_id: int,
    limit: int,
    statuses: Sequence[str] = EARNING_STATUSES,
    placed: tuple[datetime | None, datetime | None] = (None, None),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A page of orders by id (see :func:`repository.orders_page`), for readers that walk them all."""
    return repo.orders_page(
        session, shop_id=shop_id, statuses=statuses, after_id=after_id, limit=limit, placed=placed
    )
