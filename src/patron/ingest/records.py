"""Canonical rows -> typed records, per import kind; then bulk application to storage.

Parsing collects *every* problem of a row (row number, source column, stable code, value) so
the quarantine shows all that must be fixed at once. Applying a chunk may add errors that need
the database (a refund whose order is unknown).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.parsing import (
    FieldError,
    clean_cell,
    normalize_email,
    normalize_phone,
    parse_date,
    parse_datetime,
    parse_int,
    parse_money,
)
from patron.core.time import zone
from patron.customers import service as customers
from patron.ingest.mappings import Mapping
from patron.ingest.mappings.statuses import (
    CN_GENDER,
    EN_ORDER_STATUS,
    EN_REFUND_STATUS,
    EN_REFUND_TYPE,
)
from patron.models import IdentityKind, Shop

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_TYPES = frozenset(
    {
        "page_view",
        "product_view",
        "search",
        "add_to_cart",
        "remove_from_cart",
        "checkout",
        "order",
        "refund",
        "review",
        "ticket",
        "survey",
        "message_open",
        "message_click",
        "signup",
        "login",
        "follow",
        "comment",
        "share",
        "mention",
    }
)
COUNTRY_OF_CURRENCY = {
    "CNY": "CN",
    "USD": "US",
    "JPY": "JP",
    "GBP": "GB",
    "HKD": "HK",
    "TWD": "TW",
    "SGD": "SG",
    "KRW": "KR",
    "AUD": "AU",
    "CAD": "CA",
}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    code: str
    message: str
    value: str | None


@dataclass
class Parsed:
    row: int
    group: object
    data: dict[str, Any]


@dataclass
class Context:
    mapping: Mapping
    shops: dict[str, Shop]
    shop: Shop | None
    actor: str
    reporting_currency: str
    catalog: commerce.ProductCatalog | None = None
    touched_customers: set[int] = field(default_factory=set)


class _Row:
    """Field access for one canonical row that records errors instead of raising."""

    __slots__ = ("ctx", "errors", "n", "raw")

    def __init__(self, n: int, raw: dict[str, Any], ctx: Context) -> None:
        self.n, self.raw, self.ctx = n, raw, ctx
        self.errors: list[RowError] = []

    def fail(self, name: str, code: str, message: str, value: object = None) -> None:
        column = self.ctx.mapping.columns.get(name, name)
        shown = None if value is None else str(value)[:500]
        self.errors.append(RowError(self.n, column, code, message, shown))

    def _get(self, name: str, fn: Callable[[Any], Any], required: bool) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str):
            value = clean_cell(value)
        if value is None:
            if required:
                self.fail(name, "missing", f"{self.ctx.mapping.columns.get(name, name)} is required")
            return None
        try:
            return fn(value)
        except FieldError as exc:
            self.fail(name, exc.code, exc.message, value)
            return None

    def text(self, name: str, required: bool = False, limit: int = 500) -> str | None:
        value = self._get(name, lambda v: str(v), required)
        if value is not None and len(value) > limit:
            self.fail(name, "too_long", f"longer than {limit} characters", value)
            return None
        return value  # type: ignore[no-any-return]

    def money(self, name: str, currency: str | None, required: bool = False) -> int | None:
        if currency is None:
            return None
        value = self.raw.get(name)
        if isinstance(value, tuple):  # several discount columns that add up
            parts = [self._get_part(name, v, currency) for v in value if v is not None]
            return sum(p for p in parts if p is not None) if parts else None
        return self._get(name, lambda v: parse_money(v, currency), required)  # type: ignore[no-any-return]

    def _get_part(self, name: str, value: object, currency: str) -> int | None:
        cleaned = clean_cell(value) if isinstance(value, str) else value
        if cleaned is None:
            return None
        try:
            return parse_money(cleaned, currency)  # type: ignore[arg-type]
        except FieldError as exc:
            self.fail(name, exc.code, exc.message, value)
            return None

    def when(self, name: str, tz: tzinfo, required: bool = False) -> datetime | None:
        return self._get(name, lambda v: parse_datetime(v, tz), required)  # type: ignore[no-any-return]

    def day(self, name: str) -> date | None:
        return self._get(name, parse_date, False)  # type: ignore[no-any-return]

    def integer(self, name: str, required: bool = False, minimum: int | None = None) -> int | None:
        value: int | None = self._get(name, parse_int, required)
        if value is not None and minimum is not None and value < minimum:
            self.fail(name, "out_of_range", f"must be at least {minimum}", value)
            return None
        return value

    def mapped(self, name: str, table: dict[str, str], code: str, required: bool = False) -> str | None:
        raw = self.text(name, required)
        if raw is None:
            return None
        value = table.get(raw) or table.get(raw.lower())
        if value is None:
            self.fail(name, code, f"unknown value {raw!r}", raw)
        return value

    def shop(self) -> Shop | None:
        code = self.text("shop")
        if code is None:
            if self.ctx.shop is None:
                self.fail("shop", "missing", "no shop: give --shop or a shop column")
            return self.ctx.shop
        found = self.ctx.shops.get(code)
        if found is None:
            self.fail("shop", "unknown_shop", f"unknown shop {code!r}", code)
        return found

    def currency(self, shop: Shop | None) -> str | None:
        from patron.core.money import CURRENCY_ALIASES, CURRENCY_EXPONENTS

        code = self.text("currency")
        if code is None:
            return shop.currency if shop else self.ctx.reporting_currency
        code = CURRENCY_ALIASES.get(code.upper(), code.upper())
        if code not in CURRENCY_EXPONENTS:
            self.fail("currency", "unknown_currency", f"unknown currency {code!r}", code)
            return None
        return code

    def identities(
        self, shop: Shop | None, claim: customers.Claim, *, external: str = "customer_external_id"
    ) -> None:
        ns_shop = shop.code if shop else ""
        platform = self.ctx.mapping.platform or (shop.platform if shop else "")
        ext = self.text(external)
        if ext is not None:
            claim.strong.append((IdentityKind.external_id, ns_shop, ext))
        nick = self.text("buyer_nick")
        if nick is not None:
            claim.strong.append((IdentityKind.buyer_nick, platform, nick))
        oaid = self.text("oaid")
        if oaid is not None:
            claim.strong.append((IdentityKind.oaid, platform, oaid))
        country = COUNTRY_OF_CURRENCY.get(shop.currency, "CN") if shop else "CN"
        phone = self._get("phone", lambda v: normalize_phone(v, country), False)
        if phone is not None:
            if phone.masked or phone.e164 is None:
                claim.weak.append((IdentityKind.masked_phone, "", phone.raw))
            else:
                claim.strong.append((IdentityKind.phone, "", phone.e164))
                claim.profile["phone"] = phone.e164
        email = self._get("email", normalize_email, False)
        if email is not None:
            claim.strong.append((IdentityKind.email, "", email))
            claim.profile["email"] = email


def _line_total(r: _Row, currency: str | None, qty: int | None, unit: int | None) -> int | None:
    total = r.money("line_total", currency)
    if total is None and qty is not None and unit is not None:
        total = qty * unit - (r.money("line_discount", currency) or 0)
    return total


# -- parse ------------------------------------------------------------------------------------


def parse_order_row(r: _Row) -> Parsed | None:
    ctx = r.ctx
    shop = r.shop()
    tz = zone(shop.timezone) if shop else UTC
    currency = r.currency(shop)
    order_id = r.text("order_id", required=True, limit=100)
    placed = r.when("placed_at", tz, required=True)
    paid, shipped, delivered = (
        r.when("paid_at", tz),
        r.when("shipped_at", tz),
        r.when("delivered_at", tz),
    )
    updated = r.when("updated_at", tz)
    table = ctx.mapping.status_map or EN_ORDER_STATUS
    status = r.mapped("status", table, "unknown_status")
    if status is None and r.raw.get("status") is None:
        status = "delivered" if delivered else "shipped" if shipped else "paid" if paid else "pending"
    claim = customers.Claim()
    r.identities(shop, claim)
    name = r.text("customer_name", limit=200)
    addr = {k: r.text(k) for k in ("province", "city", "district", "address")}
    country = r.text("country", limit=2)
    claim.profile.update({"name": name, **addr, "source_shop_id": shop.id if shop else None})
    if country:
        claim.profile["country"] = country.upper()
    # Exports without lines (订单报表) give the order's item count; checked, not stored.
    r.integer("item_count", minimum=1)
    has_line = any(r.raw.get(k) is not None for k in ("sku", "title", "quantity", "unit_price", "line_total"))
    line = None
    if has_line:
        qty = r.integer("quantity", required=True, minimum=1)
        unit = r.money("unit_price", currency)
        total = _line_total(r, currency, qty, unit)
        if unit is None and total is not None and qty:
            unit = total // qty
        if total is None and "line_total" not in r.raw and "unit_price" not in r.raw:
            r.fail("unit_price", "missing", "a line needs a unit price or a line total")
        sku = r.text("sku", limit=100)
        line = commerce.LineInput(
            # The cleaned SKU, as the columnar path keys a line: "SKU-1 " and "SKU-1" are one line.
            line_key=r.text("line_id", limit=200) or f"{sku or ''}#1",
            sku=sku,
            title=r.text("title"),
            quantity=qty or 0,
            unit_price_minor=unit or 0,
            total_minor=total or 0,
            discount_minor=r.money("line_discount", currency) or 0,
        )
    header = {
        "status": status,
        "raw_status": r.text("status", limit=100),
        "currency": currency,
        "placed_at": placed,
        "paid_at": paid,
        "shipped_at": shipped,
        "delivered_at": delivered,
        "subtotal_minor": r.money("subtotal", currency),
        "discount_minor": r.money("discount", currency) or 0,
        "shipping_minor": r.money("shipping", currency) or 0,
        "total_minor": r.money("order_total", currency),
        "coupon_code": r.text("coupon_code", limit=100),
        "carrier": r.text("carrier", limit=100),
        "tracking_no": r.text("tracking_no", limit=100),
        **addr,
        "source_updated_at": updated or max(t for t in (placed, paid, shipped, delivered, EPOCH) if t),
    }
    if r.errors or shop is None or order_id is None:
        return None
    return Parsed(
        r.n,
        (shop.id, order_id),
        {"shop": shop, "order_id": order_id, "header": header, "line": line, "claim": claim},
    )


def parse_item_row(r: _Row) -> Parsed | None:
    shop = r.shop()
    currency = shop.currency if shop else None
    order_id = r.text("order_id", required=True, limit=100)
    qty = r.integer("quantity", required=True, minimum=1)
    unit = r.money("unit_price", currency, required=True)
    total = _line_total(r, currency, qty, unit)
    if r.raw.get("status") is not None and r.ctx.mapping.status_map:
        r.mapped("status", r.ctx.mapping.status_map, "unknown_status")
    if r.errors or shop is None or order_id is None or qty is None or unit is None:
        return None
    sku = r.text("sku", limit=100)
    line = commerce.LineInput(
        line_key=r.text("line_id", limit=200) or f"{sku or ''}#1",
        sku=sku,
        title=r.text("title"),
        quantity=qty,
        unit_price_minor=unit,
        total_minor=total or 0,
    )
    return Parsed(r.n, (shop.id, order_id), {"shop": shop, "order_id": order_id, "line": line})


def parse_customer_row(r: _Row) -> Parsed | None:
    shop = r.shop() if (r.raw.get("shop") is not None or r.ctx.shop is not None) else None
    tz = zone(shop.timezone) if shop else UTC
    claim = customers.Claim(authoritative=True)
    r.identities(shop, claim, external="external_id")
    appid = r.text("wechat_appid") or (shop.code if shop else "")
    for kind, ns in (
        (IdentityKind.wechat_unionid, ""),
        (IdentityKind.wechat_openid, appid),
        (IdentityKind.wecom_external_userid, ""),
    ):
        value = r.text(kind.value)
        if value is not None:
            claim.strong.append((kind, ns, value))
    if r.raw.get("external_id") is not None and shop is None:
        r.fail("shop", "missing", "an external id needs a shop (give --shop or a shop column)")
    gender = r.mapped(
        "gender",
        {
            **CN_GENDER,
            "male": "male",
            "female": "female",
            "unknown": "unknown",
            **r.ctx.mapping.gender_map,
        },
        "bad_gender",
    )
    signup = r.when("signup_at", tz)
    profile: dict[str, Any] = {
        "name": r.text("name", limit=200),
        "gender": gender,
        "birthday": r.day("birthday"),
        "country": (r.text("country", limit=2) or "").upper() or None,
        **{k: r.text(k) for k in ("province", "city", "district", "address")},
        "signup_at": signup,
        "source_shop_id": shop.id if shop else None,
    }
    custom = {
        k.removeprefix("custom."): clean_cell(v) if isinstance(v, str) else v
        for k, v in r.raw.items()
        if k.startswith("custom.")
    }
    if custom:
        profile["custom"] = custom
    claim.profile.update({k: v for k, v in profile.items() if v is not None})
    tags = r.text("tags", limit=2000)
    claim.tags = [
        t.strip() for t in (tags or "").replace("，", ";").replace(",", ";").split(";") if t.strip()
    ]
    claim.source_updated_at = r.when("updated_at", tz) or signup or EPOCH
    if not claim.strong and not r.errors:
        r.fail("external_id", "no_identity", "the row has no id, phone, email or other identity")
    if r.errors:
        return None
    return Parsed(r.n, None, {"claim": claim})


def parse_product_row(r: _Row) -> Parsed | None:
    shop_code = r.text("shop", limit=40) or ""
    if shop_code and shop_code not in r.ctx.shops:
        r.fail("shop", "unknown_shop", f"unknown shop {shop_code!r}", shop_code)
    currency = r.currency(r.ctx.shops.get(shop_code) or r.ctx.shop)
    sku = r.text("sku", required=True, limit=100)
    title = r.text("title", required=True)
    path = r.text("category_path", limit=1000)
    levels = [p.strip() for p in (path or "").replace("/", ">").split(">") if p.strip()]
    price = r.money("price", currency)
    if r.errors or sku is None or title is None:
        return None
    return Parsed(
        r.n,
        None,
        {
            "product": commerce.ProductInput(
                sku=sku,
                title=title,
                shop_code=shop_code,
                title_en=r.text("title_en"),
                category_path=levels,
                brand=r.text("brand", limit=200),
                price_minor=price,
                currency=currency if price is not None else None,
            )
        },
    )


def parse_refund_row(r: _Row) -> Parsed | None:
    shop = r.shop()
    tz = zone(shop.timezone) if shop else UTC
    refund_id = r.text("refund_id", required=True, limit=100)
    order_id = r.text("order_id", required=True, limit=100)
    currency = r.currency(shop)
    amount = r.money("amount", currency, required=True)
    if amount is not None and amount < 0:
        r.fail("amount", "out_of_range", "a refund amount cannot be negative", r.raw.get("amount"))
    rtype = r.mapped(
        "type",
        r.ctx.mapping.refund_type_map or EN_REFUND_TYPE,
        "unknown_refund_type",
        required=True,
    )
    requested, completed = r.when("requested_at", tz), r.when("completed_at", tz)
    status = r.mapped("status", r.ctx.mapping.refund_status_map or EN_REFUND_STATUS, "unknown_status")
    if status is None and r.raw.get("status") is None:
        status = "completed" if completed else "requested"
    updated = r.when("updated_at", tz) or completed or requested or EPOCH
    if r.errors or shop is None or refund_id is None or order_id is None or amount is None:
        return None
    return Parsed(
        r.n,
        None,
        {
            "shop": shop,
            "order_id": order_id,
            "refund": commerce.RefundInput(
                external_id=refund_id,
                order_id=None,
                customer_id=None,
                type=rtype or "",
                status=status or "",
                amount_minor=amount,
                currency=currency or "",
                source_updated_at=updated,
                sku=r.text("sku", limit=100),
                reason=r.text("reason"),
                requested_at=requested,
                completed_at=completed,
            ),
        },
    )


def parse_event_row(r: _Row) -> Parsed | None:
    shop = r.shop() if (r.raw.get("shop") is not None or r.ctx.shop is not None) else None
    tz = zone(shop.timezone) if shop else UTC
    event_id = r.text("event_id", required=True, limit=100)
    etype = r.text("type", required=True, limit=40)
    if etype is not None and etype not in EVENT_TYPES and not etype.startswith("custom:"):
        r.fail(
            "type",
            "unknown_event_type",
            f"unknown event type {etype!r} (custom types start with 'custom:')",
            etype,
        )
    occurred = r.when("occurred_at", tz, required=True)
    props = r.raw.get("properties")
    if isinstance(props, str):
        try:
            props = json.loads(props) if props.strip() else {}
        except json.JSONDecodeError as exc:
            r.fail("properties", "bad_json", f"properties is not JSON: {exc.msg}", props)
            props = None  # one error for the cell, not a second "must be an object"
    if props is not None and not isinstance(props, dict):
        r.fail("properties", "bad_json", "properties must be a JSON object", props)
    claim = customers.Claim()
    r.identities(shop, claim)
    if r.errors or event_id is None or occurred is None:
        return None
    return Parsed(
        r.n,
        None,
        {
            "event_id": event_id,
            "type": etype,
            "occurred_at": occurred,
            "shop_id": shop.id if shop else None,
            "anonymous_id": r.text("anonymous_id", limit=100),
            "properties": props or {},
            "claim": claim,
        },
    )


PARSERS: dict[str, Callable[[_Row], Parsed | None]] = {
    "orders": parse_order_row,
    "order_items": parse_item_row,
    "customers": parse_customer_row,
    "products": parse_product_row,
    "refunds": parse_refund_row,
    "events": parse_event_row,
}
# Kinds whose consecutive rows with the same group key form one record (an order's lines).
GROUPED = frozenset({"orders", "order_items"})


def parse(kind: str, n: int, raw: dict[str, Any], ctx: Context) -> tuple[Parsed | None, list[RowError]]:
    r = _Row(n, raw, ctx)
    parsed = PARSERS[kind](r)
    return parsed, r.errors


# -- apply ------------------------------------------------------------------------------------

Outcome = str | RowError


def apply(kind: str, session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    return APPLIERS[kind](session, items, ctx)


def _groups(items: Sequence[Parsed]) -> list[list[Parsed]]:
    groups: list[list[Parsed]] = []
    for item in items:
        if groups and groups[-1][0].group == item.group:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def apply_items(session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    assert ctx.catalog is not None
    groups = _groups(items)
    found = commerce.find_orders(session, [g[0].group for g in groups])  # type: ignore[misc]
    outcomes: dict[int, Outcome] = {}
    by_shop: dict[int, list[tuple[list[Parsed], int]]] = {}
    for g in groups:
        hit = found.get(g[0].group)  # type: ignore[call-overload]
        if hit is None:
            for p in g:
                outcomes[p.row] = RowError(
                    p.row,
                    ctx.mapping.columns.get("order_id"),
                    "unknown_order",
                    f"order {p.data['order_id']!r} is not imported (import the order report first)",
                    p.data["order_id"],
                )
            continue
        by_shop.setdefault(g[0].data["shop"].id, []).append((g, hit[0]))
    for pairs in by_shop.values():
        shop = pairs[0][0][0].data["shop"]
        targets = [(oid, [p.data["line"] for p in g]) for g, oid in pairs]
        results = commerce.upsert_lines(session, shop, targets, ctx.catalog)
        for (g, _), los in zip(pairs, results, strict=True):
            for p, lo in zip(g, los, strict=True):
                outcomes[p.row] = lo
        commerce.refresh_subtotals(session, [oid for _, oid in pairs])
    return [outcomes[p.row] for p in items]


def apply_customers(session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    claims = [p.data["claim"] for p in items]
    result = customers.resolve(session, claims, actor=ctx.actor)
    seen: set[int] = set()
    out: list[Outcome] = []
    for cid in result.customer_ids:
        if cid in result.created_ids and cid not in seen:
            out.append(commerce.INSERTED)
        elif cid in result.changed_ids and cid not in seen:
            out.append(commerce.UPDATED)
        else:
            out.append(commerce.UNCHANGED)
        if cid is not None:
            seen.add(cid)
    return out


def apply_products(session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    assert ctx.catalog is not None
    return list(ctx.catalog.upsert(session, [p.data["product"] for p in items]))


def apply_refunds(session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    found = commerce.find_orders(session, [(p.data["shop"].id, p.data["order_id"]) for p in items])
    outcomes: dict[int, Outcome] = {}
    by_shop: dict[int, list[Parsed]] = {}
    for p in items:
        hit = found.get((p.data["shop"].id, p.data["order_id"]))
        if hit is None:
            outcomes[p.row] = RowError(
                p.row,
                ctx.mapping.columns.get("order_id"),
                "unknown_order",
                f"order {p.data['order_id']!r} is not imported",
                p.data["order_id"],
            )
            continue
        refund: commerce.RefundInput = p.data["refund"]
        refund.order_id, refund.customer_id = hit[0], hit[1]
        if refund.currency != hit[2]:
            outcomes[p.row] = RowError(
                p.row,
                ctx.mapping.columns.get("currency"),
                "currency_mismatch",
                f"refund in {refund.currency} for an order in {hit[2]}",
                refund.currency,
            )
            continue
        by_shop.setdefault(p.data["shop"].id, []).append(p)
    for group in by_shop.values():
        res = commerce.upsert_refunds(session, group[0].data["shop"], [p.data["refund"] for p in group])
        for p, o in zip(group, res, strict=True):
            outcomes[p.row] = o
    return [outcomes[p.row] for p in items]


def apply_events(session: Session, items: Sequence[Parsed], ctx: Context) -> list[Outcome]:
    with_claims = [i for i, p in enumerate(items) if p.data["claim"].strong]
    resolved = customers.resolve(session, [items[i].data["claim"] for i in with_claims], actor=ctx.actor)
    owner = dict(zip(with_claims, resolved.customer_ids, strict=True))
    rows = [
        {k: v for k, v in p.data.items() if k != "claim"} | {"customer_id": owner.get(i)}
        for i, p in enumerate(items)
    ]
    return list(customers.record_events(session, rows))


APPLIERS: dict[str, Callable[[Session, Sequence[Parsed], Context], list[Outcome]]] = {
    "order_items": apply_items,
    "customers": apply_customers,
    "products": apply_products,
    "refunds": apply_refunds,
    "events": apply_events,
}
