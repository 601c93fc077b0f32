"""Column mappings: how each platform's export becomes Patron's canonical record.

A mapping renames source columns to canonical field names (the native ``patron`` format uses the
canonical names directly), translates platform status words to Patron's enums, and may carry a
small per-file ``transform`` for what renaming cannot express (Shopify writes order fields only
on an order's first line; Taobao writes the whole address in one cell). Users save their own
mappings (column renames plus defaults) for any other export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

Row = dict[str, Any]

KINDS = ("orders", "order_items", "customers", "products", "refunds", "events")

# Canonical fields per kind; the native format's header is exactly these names.
FIELDS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id",
        "line_id",
        "shop",
        "customer_external_id",
        "buyer_nick",
        "customer_name",
        "phone",
        "email",
        "status",
        "currency",
        "placed_at",
        "paid_at",
        "shipped_at",
        "delivered_at",
        "subtotal",
        "shipping",
        "discount",
        "coupon_code",
        "order_total",
        "sku",
        "title",
        "quantity",
        "unit_price",
        "line_total",
        "line_discount",
        "province",
        "city",
        "district",
        "address",
        "country",
        "carrier",
        "tracking_no",
        "updated_at",
        "item_count",
    ),
    "order_items": (
        "order_id",
        "line_id",
        "sku",
        "title",
        "quantity",
        "unit_price",
        "line_total",
        "status",
    ),
    "customers": (
        "external_id",
        "shop",
        "name",
        "gender",
        "birthday",
        "phone",
        "email",
        "wechat_unionid",
        "wechat_openid",
        "wechat_appid",
        "wecom_external_userid",
        "buyer_nick",
        "oaid",
        "country",
        "province",
        "city",
        "district",
        "address",
        "signup_at",
        "tags",
        "updated_at",
    ),
    "products": ("sku", "title", "title_en", "category_path", "brand", "price", "currency", "shop"),
    "refunds": (
        "refund_id",
        "order_id",
        "shop",
        "sku",
        "type",
        "reason",
        "amount",
        "currency",
        "status",
        "requested_at",
        "completed_at",
        "buyer_nick",
        "updated_at",
    ),
    "events": (
        "event_id",
        "type",
        "occurred_at",
        "shop",
        "customer_external_id",
        "anonymous_id",
        "phone",
        "email",
        "properties",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "placed_at"),
    "order_items": ("order_id", "quantity", "unit_price"),
    "customers": (),
    "products": ("sku", "title"),
    "refunds": ("refund_id", "order_id", "amount"),
    "events": ("event_id", "type", "occurred_at"),
}


@dataclass
class Mapping:
    name: str
    kind: str
    # canonical field -> source column
    columns: dict[str, str]
    label: str = ""
    platform: str | None = None
    status_map: dict[str, str] = field(default_factory=dict)
    refund_type_map: dict[str, str] = field(default_factory=dict)
    refund_status_map: dict[str, str] = field(default_factory=dict)
    gender_map: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    # Called once per file; the returned function fixes up each renamed row in order.
    transform: Callable[[], Callable[[Row], Row]] | None = None
    builtin: bool = True

    def missing_columns(self, header: list[str]) -> list[str]:
        """Required canonical fields whose source column is absent from the file."""
        have = set(header)
        return [
            f for f in REQUIRED[self.kind] if self.columns.get(f, f) not in have and f not in self.defaults
        ]

    def renamer(self, header: list[str]) -> Callable[[Row], Row]:
        """A fast function turning a source row into a canonical row (unknown columns dropped,
        ``custom.*`` columns of customer files kept)."""
        # Every mapped column, not only those of the header: a JSON Lines file's header is the
        # keys of its first object, and later objects may hold keys that one left out.
        pairs = list(self.columns.items())
        custom = self.kind == "customers"
        defaults = dict(self.defaults)
        if self.transform is not None:
            fix: Callable[[Row], Row] | None = self.transform()
        elif self.kind in ("orders", "order_items"):
            # Native and saved mappings: without line ids, key lines "<sku>#<n>" so that two
            # lines with the same (or no) SKU in one order stay two lines.
            from patron.ingest.mappings._common import line_key_by_sku

            fix = line_key_by_sku()
        else:
            fix = None

        def rename(row: Row) -> Row:
            out = dict(defaults)
            for canon, src in pairs:
                value = row.get(src)
                if value is not None:
                    out[canon] = value
            if custom:
                for c, value in row.items():
                    if value is not None and c.startswith("custom."):
                        out[c] = value
            return fix(out) if fix else out

        return rename

    def frame_renamer(self, header: list[str]) -> Callable[[pl.DataFrame], pl.DataFrame] | None:
        """The renamer for a whole frame of text columns (the fast path of large files), or
        ``None`` when the mapping needs the row renamer (a per-row transform, custom fields).
        Line keys of order files are left to :func:`line_keys`, which needs whole orders."""
        if self.transform is not None or self.kind == "customers":
            return None
        have = set(header)
        exprs: list[pl.Expr] = []
        for canon, src in self.columns.items():
            default = self.defaults.get(canon)
            if src in have:
                col = pl.col(src)
                exprs.append((col if default is None else pl.coalesce(col, pl.lit(default))).alias(canon))
            elif default is not None:
                exprs.append(pl.lit(default).alias(canon))
        exprs += [pl.lit(v).alias(k) for k, v in self.defaults.items() if k not in self.columns]
        return lambda frame: frame.select(*exprs, pl.col("__row").alias("n"))


def line_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`~patron.ingest.mappings._common.line_key_by_sku` for a frame of whole orders:
    lines without an id are keyed "<sku>#<n>" in file order within each run of an order's rows."""
    if "order_id" not in frame.columns:
        return frame
    if "line_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias("line_id"))
    cols = set(frame.columns)
    line_id = pl.col("line_id")
    base = pl.coalesce(*(pl.col(c) for c in ("sku", "title") if c in cols), pl.lit(""))
    run = pl.col("order_id").ne_missing(pl.col("order_id").shift(1)).fill_null(True).cum_sum()
    need = line_id.is_null()
    nth = need.cast(pl.Int64).cum_sum().over(run, base)
    return frame.with_columns(
        pl.when(need).then(base + "#" + nth.cast(pl.Utf8)).otherwise(line_id).alias("line_id")
    )


def native(kind: str) -> Mapping:
    return Mapping(
        name="patron" if kind == "orders" else f"patron_{kind}",
        kind=kind,
        columns={f: f for f in FIELDS[kind]},
        label="Patron native format",
    )


def builtin_mappings() -> dict[str, Mapping]:
    from patron.ingest.mappings import douyin, jd, pinduoduo, shopify, taobao, woocommerce

    out: dict[str, Mapping] = {}
    for kind in KINDS:
        m = native(kind)
        out[m.name] = m
    for module in (shopify, woocommerce, taobao, douyin, pinduoduo, jd):
        for m in module.MAPPINGS:
            out[m.name] = m
    return out


def default_mapping_name(kind: str) -> str:
    return native(kind).name
