"""WooCommerce order export (the "Customer / Order / Coupon Export" CSV, one row per line item)."""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping
from patron.ingest.mappings._common import line_key_by_sku

Row = dict[str, object]

STATUS = {
    "completed": "completed",
    "processing": "paid",
    "on-hold": "pending",
    "pending": "pending",
    "cancelled": "cancelled",
    "refunded": "refunded",
    "failed": "cancelled",
    "wc-completed": "completed",
    "wc-processing": "paid",
    "wc-on-hold": "pending",
    "wc-pending": "pending",
    "wc-cancelled": "cancelled",
    "wc-refunded": "refunded",
    "wc-failed": "cancelled",
    "checkout-draft": "pending",
    "wc-checkout-draft": "pending",
}


def _coupon_codes(value: object) -> object:
    """coupon_items holds 'code:spring10|amount:10.00' per coupon, coupons separated by ';'."""
    if not isinstance(value, str) or "code:" not in value:
        return value
    codes = []
    for coupon in value.split(";"):
        for part in coupon.split("|"):
            key, _, code = part.partition(":")
            if key.strip() == "code" and code.strip():
                codes.append(code.strip())
    return ",".join(codes) or None


def _orders() -> Callable[[Row], Row]:
    keyed = line_key_by_sku()

    def fix(row: Row) -> Row:
        first, last = row.pop("first_name", None), row.pop("last_name", None)
        if row.get("customer_name") is None and (first or last):
            row["customer_name"] = " ".join(str(p) for p in (first, last) if p)
        if row.get("customer_external_id") in ("0", 0):
            row["customer_external_id"] = None  # guest checkout
        if row.get("coupon_code") is not None:
            row["coupon_code"] = _coupon_codes(row["coupon_code"])
        return keyed(row)

    return fix


ORDERS = Mapping(
    name="woocommerce_orders",
    kind="orders",
    label="WooCommerce orders export",
    platform="woocommerce",
    columns={
        "order_id": "order_id",
        "placed_at": "order_date",
        "status": "status",
        "shipping": "shipping_total",
        "discount": "discount_total",
        "order_total": "order_total",
        "currency": "order_currency",
        "customer_external_id": "customer_id",
        "first_name": "billing_first_name",
        "last_name": "billing_last_name",
        "email": "billing_email",
        "phone": "billing_phone",
        "city": "billing_city",
        "province": "billing_state",
        "country": "billing_country",
        "address": "billing_address_1",
        "coupon_code": "coupon_items",
        "line_id": "item_id",
        "sku": "item_sku",
        "title": "item_name",
        "quantity": "item_quantity",
        "line_total": "item_total",
        "paid_at": "paid_date",
        "delivered_at": "completed_date",
    },
    status_map=STATUS,
    transform=_orders,
)

MAPPINGS = (ORDERS,)
