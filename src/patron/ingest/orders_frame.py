"""Orders, the bulk of every import, parsed and applied a chunk at a time in columns.

Parsing row by row in Python costs tens of microseconds a row; a million-line export would take
minutes. Here the common, clean case (plain numbers, ISO-like times, mainland mobiles, ASCII
emails, known status words) is parsed with Polars expressions for the whole chunk, and every
row the vectorised rules are not sure about goes through the exact row parser
(:func:`patron.ingest.records.parse_order_row`), so error messages and edge cases stay those of
one implementation. ``tests/ingest/test_orders_frame.py`` checks that both paths agree.

The result is one typed frame per chunk ("flat": a row per source line, header fields repeated)
that :func:`apply` groups into orders, resolves to customers and writes in bulk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.money import CURRENCY_ALIASES, CURRENCY_EXPONENTS
from patron.customers import service as customers
from patron.ingest.mappings.statuses import EN_ORDER_STATUS
from patron.ingest.records import EPOCH, Context, Parsed, RowError, parse
from patron.models import IdentityKind, Shop

# The characters clean_cell strips (whitespace, BOM, zero-width marks).
_STRIP = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b\u200c\u200d\u200e\u200f\u2060"
)
_STRIP_CLASS = "[" + "".join(re.escape(c) for c in _STRIP) + "]"
# A cell clean_cell would change other than "" -> null: padded, ="…" or '… (Excel text marks).
_DIRTY_RE = f"^{_STRIP_CLASS}|{_STRIP_CLASS}$|^=\"|^'"
_DATETIME_RE = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$"
_MONEY_RE = r"^-?\d{1,15}(?:\.\d{1,12})?$"
_INT_RE = r"^\d{1,9}$"
_CN_MOBILE_RE = r"^(?:\+?86)?(1[3-9]\d{9})$"
_CN_MASKED_RE = r"^1\d{2}\*{4}\d{4}$"
_EMAIL_RE = r"^[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+$"

TIMES = ("placed_at", "paid_at", "shipped_at", "delivered_at", "updated_at")
MONEY = ("subtotal", "discount", "shipping", "order_total", "unit_price", "line_total", "line_discount")
TEXT_LIMITS = {
    "order_id": 100,
    "line_id": 200,
    "sku": 100,
    "title": 500,
    "coupon_code": 100,
    "carrier": 100,
    "tracking_no": 100,
    "province": 500,
    "city": 500,
    "district": 500,
    "address": 500,
    "customer_name": 200,
    "customer_external_id": 500,
    "buyer_nick": 500,
    "status": 100,
    "country": 2,
    "shop": 40,
}
LINE_FIELDS = ("sku", "title", "quantity", "unit_price", "line_total")
OUT_SCHEMA: dict[str, Any] = {
    "n": pl.Int64,
    "shop_id": pl.Int64,
    "order_id": pl.Utf8,
    "status": pl.Utf8,
    "raw_status": pl.Utf8,
    "currency": pl.Utf8,
    **{t: pl.Datetime("us", "UTC") for t in TIMES},
    "subtotal": pl.Int64,
    "discount": pl.Int64,
    "shipping": pl.Int64,
    "order_total": pl.Int64,
    "coupon_code": pl.Utf8,
    "carrier": pl.Utf8,
    "tracking_no": pl.Utf8,
    "province": pl.Utf8,
    "city": pl.Utf8,
    "district": pl.Utf8,
    "address": pl.Utf8,
    "country": pl.Utf8,
    "ext_id": pl.Utf8,
    "buyer_nick": pl.Utf8,
    "phone": pl.Utf8,
    "masked_phone": pl.Utf8,
    "email": pl.Utf8,
    "customer_name": pl.Utf8,
    "has_line": pl.Boolean,
    "line_id": pl.Utf8,
    "sku": pl.Utf8,
    "title": pl.Utf8,
    "quantity": pl.Int64,
    "unit_price": pl.Int64,
    "line_total": pl.Int64,
    "line_discount": pl.Int64,
}


def _clean(col: str) -> pl.Expr:
    """clean_cell in Polars: strip, unwrap ``="…"``, drop a leading apostrophe, empty -> null."""
    s = pl.col(col).str.strip_chars(_STRIP)
    excel = s.str.starts_with('="') & s.str.ends_with('"') & (s.str.len_chars() >= 3)
    s = (
        pl.when(excel)
        .then(
            s.str.slice(2, s.str.len_chars() - 3)
            .str.replace_all('""', '"', literal=True)
            .str.strip_chars(_STRIP)
        )
        .when(s.str.starts_with("'"))
        .then(s.str.slice(1).str.strip_chars(_STRIP))
        .otherwise(s)
    )
    return pl.when(s == "").then(None).otherwise(s)


def _money(col: str, exp: int) -> tuple[pl.Expr, pl.Expr]:
    """(minor units, ok) for plain decimal text with at most ``exp`` significant decimals."""
    s = pl.col(col)
    ok = s.str.contains(_MONEY_RE)
    neg = s.str.starts_with("-")
    body = s.str.strip_prefix("-")
    whole = body.str.split_exact(".", 1).struct.field("field_0")
    frac = body.str.split_exact(".", 1).struct.field("field_1").fill_null("")
    extra_zero = frac.str.slice(exp).str.contains(r"^0*$")
    digits = frac.str.slice(0, exp).str.pad_end(exp, "0") if exp else pl.lit("")
    minor = (whole + digits).cast(pl.Int64, strict=False)
    minor = pl.when(neg).then(-minor).otherwise(minor)
    good = s.is_null() | (ok & extra_zero)
    return pl.when(ok & extra_zero).then(minor).otherwise(None), good


def _when(col: str, tz: str) -> tuple[pl.Expr, pl.Expr]:
    s = pl.col(col)
    shaped = s.str.contains(_DATETIME_RE)
    t = s.str.replace("T", " ", literal=True)
    parsed = pl.coalesce(
        t.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, exact=True),
        t.str.to_datetime("%Y-%m-%d %H:%M", strict=False, exact=True),
        t.str.to_datetime("%Y-%m-%d", strict=False, exact=True),
    )
    year = parsed.dt.year()
    parsed = pl.when(shaped & year.is_between(1900, 2100)).then(parsed).otherwise(None)
    utc = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )
    return utc.dt.cast_time_unit("us"), s.is_null() | utc.is_not_null()


def _text_columns(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> tuple[pl.DataFrame, list[bool]]:
    """Columns of the canonical rows; rows holding a non-text value in any field (an XLSX number,
    a JSON object, a tuple from a transform) are flagged for the exact row parser. Fields no row
    has become null columns without a pass over the rows."""
    present = set().union(*rows)
    odd = [False] * len(rows)
    data: dict[str, Any] = {}
    for f in fields:
        if f not in present:
            data[f] = pl.Series(f, [None] * len(rows), dtype=pl.Utf8)
            continue
        col = [r.get(f) for r in rows]
        if not all(v is None or type(v) is str for v in col):
            for i, v in enumerate(col):
                if v is not None and type(v) is not str:
                    odd[i] = True
                    col[i] = None
        data[f] = col
    return pl.DataFrame(data, schema=dict.fromkeys(fields, pl.Utf8)), odd


def _status_table(ctx: Context) -> dict[str, str]:
    table = ctx.mapping.status_map or EN_ORDER_STATUS
    return {**{k.lower(): v for k, v in table.items()}, **table}


_FIELDS = sorted(
    set(TEXT_LIMITS) | set(TIMES) | set(MONEY) | {"currency", "quantity", "item_count", "phone", "email"}
)


def parse_chunk(
    rows: Sequence[tuple[int, dict[str, Any]]], ctx: Context, shop: Shop | None
) -> tuple[pl.DataFrame, list[RowError]]:
    """Parse a chunk of canonical order rows ``(row number, row)`` into the flat frame.

    ``shop`` is the shop every row belongs to (``--shop``, no shop column); without one the
    rows go through the exact parser, which resolves each row's shop.
    """
    if shop is None or not rows or any("shop" in r for _, r in rows[:1]):
        return _slow(rows, ctx)
    frame, odd = _text_columns([r for _, r in rows], _FIELDS)
    frame = frame.with_columns(
        pl.Series("n", [n for n, _ in rows], dtype=pl.Int64), pl.Series("odd", odd, dtype=pl.Boolean)
    )
    return parse_frame(frame, ctx, shop, rows=dict(rows))


def parse_frame(
    frame: pl.DataFrame,
    ctx: Context,
    shop: Shop | None,
    rows: dict[int, dict[str, Any]] | None = None,
) -> tuple[pl.DataFrame, list[RowError]]:
    """Parse a frame of canonical text columns with the row number in ``n`` (and optionally
    ``odd``: rows to hand to the exact parser). ``rows`` are the source rows by number, for the
    exact parser; without them they are taken from the frame."""
    if shop is None or "shop" in frame.columns:
        return _slow(_frame_rows(frame, set(frame["n"].to_list()), rows), ctx)
    exp = CURRENCY_EXPONENTS[shop.currency]
    raw = frame
    # Cleaning costs a string pass per column: only for the columns that hold something.
    filled = [f for f in _FIELDS if f in frame.columns and frame[f].null_count() < frame.height]
    dirty = frame.select(pl.col(filled).str.contains(_DIRTY_RE).any()).row(0) if filled else ()
    frame = frame.with_columns(
        *(
            _clean(f).alias(f) if d else pl.col(f).replace("", None)
            for f, d in zip(filled, dirty, strict=True)
        ),
        *(pl.lit(None, dtype=pl.Utf8).alias(f) for f in _FIELDS if f not in filled),
        *([] if "odd" in frame.columns else [pl.lit(False).alias("odd")]),
    )
    checks: list[pl.Expr] = [~pl.col("odd")]
    out: list[pl.Expr] = [pl.col("n"), pl.lit(shop.id, dtype=pl.Int64).alias("shop_id"), pl.col("order_id")]
    for f, limit in TEXT_LIMITS.items():
        checks.append(pl.col(f).is_null() | (pl.col(f).str.len_chars() <= limit))
    checks += [pl.col("order_id").is_not_null(), pl.col("placed_at").is_not_null()]
    currency = pl.col("currency").str.to_uppercase()
    currency = currency.replace(CURRENCY_ALIASES)
    checks.append(pl.col("currency").is_null() | (currency == shop.currency))
    out.append(pl.lit(shop.currency).alias("currency"))
    for t in TIMES:
        value, ok = _when(t, shop.timezone)
        out.append(value.alias(t))
        checks.append(ok)
    for m in MONEY:
        value, ok = _money(m, exp)
        out.append(value.alias(m))
        checks.append(ok)
    qty_ok = pl.col("quantity").str.contains(_INT_RE)
    qty = pl.col("quantity").cast(pl.Int64, strict=False)
    checks.append(pl.col("quantity").is_null() | (qty_ok & (qty >= 1)))
    out.append(pl.when(qty_ok).then(qty).otherwise(None).alias("quantity"))
    count = pl.col("item_count")
    checks.append(count.is_null() | (count.str.contains(_INT_RE) & (count.cast(pl.Int64, strict=False) >= 1)))
    table = _status_table(ctx)
    mapped = pl.coalesce(
        pl.col("status").replace_strict(table, default=None, return_dtype=pl.Utf8),
        pl.col("status").str.to_lowercase().replace_strict(table, default=None, return_dtype=pl.Utf8),
    )
    checks.append(pl.col("status").is_null() | mapped.is_not_null())
    out += [mapped.alias("status"), pl.col("status").alias("raw_status")]
    # Phones: mainland mobiles and the marketplaces' masked form; anything else is exact-parsed.
    if shop.currency == "CNY":
        bare = pl.col("phone").str.replace_all(r"[\s\-]", "")
        mobile = bare.str.extract(_CN_MOBILE_RE, 1)
        masked = pl.col("phone").str.contains(_CN_MASKED_RE)
        checks.append(pl.col("phone").is_null() | mobile.is_not_null() | masked)
        out += [("+86" + mobile).alias("phone"), pl.when(masked).then(pl.col("phone")).alias("masked_phone")]
    else:
        checks.append(pl.col("phone").is_null())
        out += [pl.col("phone"), pl.lit(None, dtype=pl.Utf8).alias("masked_phone")]
    email = pl.col("email").str.to_lowercase()
    checks.append(
        pl.col("email").is_null()
        | (
            email.str.contains(_EMAIL_RE)
            & (email.str.len_bytes() <= 254)
            & email.str.contains(r"^[\x00-\x7f]*$")
        )
    )
    out.append(email.alias("email"))
    has_line = pl.any_horizontal([pl.col(f).is_not_null() for f in LINE_FIELDS])
    checks.append(~has_line | pl.col("quantity").is_not_null())
    checks.append(~has_line | pl.col("unit_price").is_not_null() | pl.col("line_total").is_not_null())
    out += [
        has_line.alias("has_line"),
        pl.col("customer_external_id").alias("ext_id"),
        *(
            pl.col(c)
            for c in (
                "buyer_nick",
                "customer_name",
                "line_id",
                "sku",
                "title",
                "coupon_code",
                "carrier",
                "tracking_no",
                "province",
                "city",
                "district",
                "address",
            )
        ),
        pl.col("country").str.to_uppercase().alias("country"),
    ]
    parsed = frame.with_columns(pl.all_horizontal(checks).fill_null(False).alias("_fast")).select(
        [*out, pl.col("_fast")]
    )
    fast = parsed.filter(pl.col("_fast")).drop("_fast")
    slow_n = set(parsed.filter(~pl.col("_fast"))["n"].to_list())
    slow_frame, errors = _slow(_frame_rows(raw, slow_n, rows), ctx)
    return _finish(pl.concat([fast, slow_frame], how="diagonal_relaxed").sort("n")), errors


def _frame_rows(
    frame: pl.DataFrame, numbers: set[int], rows: dict[int, dict[str, Any]] | None
) -> list[tuple[int, dict[str, Any]]]:
    """The source rows with these numbers, for the exact parser."""
    if rows is not None:
        return [(n, rows[n]) for n in sorted(numbers)]
    picked = frame.filter(pl.col("n").is_in(list(numbers))).drop("odd", strict=False)
    return [(r.pop("n"), {k: v for k, v in r.items() if v is not None}) for r in picked.iter_rows(named=True)]


def _slow(rows: Sequence[tuple[int, dict[str, Any]]], ctx: Context) -> tuple[pl.DataFrame, list[RowError]]:
    flat: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for n, raw in rows:
        parsed, errs = parse("orders", n, raw, ctx)
        if errs:
            errors.extend(errs)
        elif parsed is not None:
            flat.append(_flatten(parsed))
    frame = pl.DataFrame(flat, schema=OUT_SCHEMA) if flat else pl.DataFrame(schema=OUT_SCHEMA)
    return (_finish(frame) if not rows or flat else frame), errors


def _flatten(p: Parsed) -> dict[str, Any]:
    d = p.data
    h = d["header"]
    claim: customers.Claim = d["claim"]
    keys = {k[0]: k[2] for k in claim.strong}
    weak = {k[0]: k[2] for k in claim.weak}
    line: commerce.LineInput | None = d["line"]
    return {
        "n": p.row,
        "shop_id": d["shop"].id,
        "order_id": d["order_id"],
        "status": h["status"],
        "raw_status": h["raw_status"],
        "currency": h["currency"],
        "placed_at": h["placed_at"],
        "paid_at": h["paid_at"],
        "shipped_at": h["shipped_at"],
        "delivered_at": h["delivered_at"],
        "updated_at": h["source_updated_at"],
        "subtotal": h["subtotal_minor"],
        "discount": h["discount_minor"],
        "shipping": h["shipping_minor"],
        "order_total": h["total_minor"],
        "coupon_code": h["coupon_code"],
        "carrier": h["carrier"],
        "tracking_no": h["tracking_no"],
        "province": h["province"],
        "city": h["city"],
        "district": h["district"],
        "address": h["address"],
        "country": claim.profile.get("country"),
        "ext_id": keys.get(IdentityKind.external_id),
        "buyer_nick": keys.get(IdentityKind.buyer_nick),
        "phone": keys.get(IdentityKind.phone),
        "masked_phone": weak.get(IdentityKind.masked_phone),
        "email": keys.get(IdentityKind.email),
        "customer_name": claim.profile.get("name"),
        "has_line": line is not None,
        "line_id": line.line_key if line else None,
        "sku": line.sku if line else None,
        "title": line.title if line else None,
        "quantity": line.quantity if line else None,
        "unit_price": line.unit_price_minor if line else None,
        "line_total": line.total_minor if line else None,
        "line_discount": line.discount_minor if line else None,
    }


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Defaults both paths share: inferred status, source time, line totals and keys."""
    if frame.is_empty():
        return frame
    latest = pl.max_horizontal("placed_at", "paid_at", "shipped_at", "delivered_at")
    inferred = (
        pl.when(pl.col("delivered_at").is_not_null())
        .then(pl.lit("delivered"))
        .when(pl.col("shipped_at").is_not_null())
        .then(pl.lit("shipped"))
        .when(pl.col("paid_at").is_not_null())
        .then(pl.lit("paid"))
        .otherwise(pl.lit("pending"))
    )
    total = pl.coalesce(
        "line_total", pl.col("quantity") * pl.col("unit_price") - pl.col("line_discount").fill_null(0)
    )
    return frame.with_columns(
        pl.coalesce("status", inferred).alias("status"),
        pl.coalesce("updated_at", latest, pl.lit(EPOCH)).alias("updated_at"),
        pl.col("discount").fill_null(0),
        pl.col("shipping").fill_null(0),
        pl.when("has_line").then(total).alias("line_total"),
        pl.when("has_line")
        .then(pl.coalesce("unit_price", pl.col("line_total") // pl.col("quantity")).fill_null(0))
        .alias("unit_price"),
        pl.when("has_line").then(pl.col("line_discount").fill_null(0)).alias("line_discount"),
        pl.when("has_line").then(pl.coalesce("line_id", pl.col("sku").fill_null("") + "#1")).alias("line_id"),
    )


# -- apply ------------------------------------------------------------------------------------

HEADER = (
    "status",
    "raw_status",
    "currency",
    "placed_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "subtotal",
    "discount",
    "shipping",
    "order_total",
    "coupon_code",
    "carrier",
    "tracking_no",
    "province",
    "city",
    "district",
    "address",
)
IDENTITY = ("ext_id", "buyer_nick", "phone", "masked_phone", "email", "customer_name", "country")


def _header_text() -> pl.Expr:
    """The order header as one string; with the customer it makes the content hash that tells
    an unchanged re-imported order from a changed one."""
    return pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("\x00") for c in HEADER], separator="\x1f").alias(
        "_header"
    )


def _digests(headers: pl.Series, customer_ids: pl.Series) -> pl.Series:
    return pl.Series(
        "content_hash",
        [
            hashlib.md5(f"{h}\x1f{c}".encode(), usedforsecurity=False).hexdigest()
            for h, c in zip(headers, customer_ids, strict=True)
        ],
        dtype=pl.Utf8,
    )


def apply(session: Session, frame: pl.DataFrame, ctx: Context) -> dict[int, str]:
    """Write a parsed chunk: customers resolved per order, orders and lines written in bulk.
    Orders not stored yet (all of a first import) take the set-wise path; orders already stored
    the upsert with its newer-wins rules. Returns the outcome of every row."""
    if frame.is_empty():
        return {}
    orders = frame.group_by(["shop_id", "order_id"], maintain_order=True).agg(
        *(pl.col(c).first() for c in HEADER),
        pl.col("updated_at").first(),
        *(pl.col(c).drop_nulls().first() for c in IDENTITY),
        pl.col("n"),
        pl.col("has_line").any().alias("has_lines"),
        pl.struct("line_id", "sku", "title", "quantity", "unit_price", "line_discount", "line_total")
        .filter(pl.col("has_line"))
        .alias("lines"),
    )
    orders = orders.with_columns(_header_text())
    stored = commerce.stored_order_ids(session, orders.select("shop_id", "order_id"))
    outcomes: dict[int, str] = {}
    if not stored.is_empty():
        old = orders.join(stored, on=["shop_id", "order_id"], how="semi", maintain_order="left")
        orders = orders.join(stored, on=["shop_id", "order_id"], how="anti", maintain_order="left")
        outcomes |= _upsert(session, old, ctx)
    if not orders.is_empty():
        outcomes |= _insert(session, orders, ctx)
    return outcomes


def _insert(session: Session, orders: pl.DataFrame, ctx: Context) -> dict[int, str]:
    shops = pl.DataFrame(
        [(s.id, s.code, ctx.mapping.platform or s.platform) for s in ctx.shops.values()],
        schema={"shop_id": pl.Int64, "code": pl.Utf8, "platform": pl.Utf8},
        orient="row",
    )
    claims = orders.with_row_index("i").join(shops, on="shop_id", how="left", maintain_order="left")

    def keys(value: str, kind: IdentityKind, namespace: pl.Expr) -> pl.DataFrame:
        return claims.filter(pl.col(value).is_not_null()).select(
            "i", kind=pl.lit(kind.value), namespace=namespace, value=value
        )

    strong = pl.concat(
        [
            keys("ext_id", IdentityKind.external_id, pl.col("code")),
            keys("buyer_nick", IdentityKind.buyer_nick, pl.col("platform")),
            keys("phone", IdentityKind.phone, pl.lit("")),
            keys("email", IdentityKind.email, pl.lit("")),
        ]
    )
    weak = keys("masked_phone", IdentityKind.masked_phone, pl.lit(""))
    profiles = claims.select(
        "i",
        *(c for c in customers.ORDER_PROFILE if c not in ("name", "source_shop_id")),
        name="customer_name",
        source_shop_id="shop_id",
    )
    ids = customers.resolve_frame(session, orders.height, strong, weak, profiles, actor=ctx.actor)
    orders = orders.with_columns(ids, _digests(orders["_header"], ids))
    assert ctx.catalog is not None
    written = commerce.insert_new_orders(session, orders, ctx.catalog)
    ctx.touched_customers |= customers.add_order_stats(session, written, ctx.reporting_currency)
    return dict.fromkeys(orders["n"].explode().to_list(), commerce.INSERTED)


def _upsert(session: Session, orders: pl.DataFrame, ctx: Context) -> dict[int, str]:
    shops = {s.id: s for s in ctx.shops.values()}
    claims: list[customers.Claim] = []
    keys: list[tuple[int, str]] = []
    for o in orders.select(
        "shop_id", "order_id", *IDENTITY, "province", "city", "district", "address"
    ).iter_rows(named=True):
        shop = shops[o["shop_id"]]
        claim = customers.Claim()
        if o["ext_id"] is not None:
            claim.strong.append((IdentityKind.external_id, shop.code, o["ext_id"]))
        if o["buyer_nick"] is not None:
            claim.strong.append(
                (IdentityKind.buyer_nick, ctx.mapping.platform or shop.platform, o["buyer_nick"])
            )
        if o["phone"] is not None:
            claim.strong.append((IdentityKind.phone, "", o["phone"]))
        if o["masked_phone"] is not None:
            claim.weak.append((IdentityKind.masked_phone, "", o["masked_phone"]))
        if o["email"] is not None:
            claim.strong.append((IdentityKind.email, "", o["email"]))
        claim.profile = {
            "name": o["customer_name"],
            "phone": o["phone"],
            "email": o["email"],
            "province": o["province"],
            "city": o["city"],
            "district": o["district"],
            "address": o["address"],
            "source_shop_id": shop.id,
            "country": o["country"],
        }
        claims.append(claim)
        keys.append((o["shop_id"], o["order_id"]))
    # A claim with only weak keys (a masked phone) cannot find its person again: an order
    # imported before keeps its customer instead of getting a new profile on every re-import.
    known = commerce.find_orders(session, [k for k, c in zip(keys, claims, strict=True) if not c.strong])
    kept = {i: known[k][1] for i, k in enumerate(keys) if k in known}
    fresh = [i for i in range(len(claims)) if kept.get(i) is None]
    resolved = customers.resolve(session, [claims[i] for i in fresh], actor=ctx.actor)
    owners = dict(kept) | dict(zip(fresh, resolved.customer_ids, strict=True))
    orders = orders.with_columns(
        pl.Series("customer_id", [owners[i] for i in range(len(keys))], dtype=pl.Int64)
    )
    outcomes: dict[int, str] = {}
    for (shop_id,), part in orders.partition_by("shop_id", as_dict=True, maintain_order=True).items():
        records = part.to_dicts()
        for r, digest in zip(records, _digests(part["_header"], part["customer_id"]), strict=True):
            r["content_hash"] = digest
        result = commerce.upsert_order_records(session, shops[int(shop_id)], records, ctx.catalog)  # type: ignore[arg-type]
        ctx.touched_customers |= result.customer_ids
        for r, outcome in zip(records, result.order_outcomes, strict=True):
            for n in r["n"]:
                outcomes[n] = outcome
    return outcomes
