"""Shopify's "Export orders" CSV: one row per line item; order-level columns are filled only on
an order's first row, so the transform carries them forward."""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping

Row = dict[str, object]

ORDER_LEVEL = (
    "email",
    "financial_status",
    "paid_at",
    "fulfillment_status",
    "shipped_at",
    "currency",
    "subtotal",
    "shipping",
    "taxes",
    "order_total",
    "coupon_code",
    "discount",
    "placed_at",
    "customer_name",
    "phone",
    "city",
    "province",
    "country",
    "billing_phone",
    "cancelled_at",
    "customer_external_id",
)


def _status(row: Row) -> str:
    if row.get("cancelled_at"):
        return "cancelled"
    financial = str(row.get("financial_status") or "").lower()
    fulfilment = str(row.get("fulfillment_status") or "").lower()
    if financial in ("refunded",):
        return "refunded"
    if financial in ("voided", "expired"):  # an expired authorisation was never captured
        return "cancelled"
    if financial in ("pending", "authorized", ""):
        return "pending"
    if fulfilment in ("fulfilled", "partial", "shipped"):
        return "shipped"
    return "paid"


def _orders() -> Callable[[Row], Row]:
    state: dict[str, object] = {}

    def fix(row: Row) -> Row:
        order = row.get("order_id")
        if order != state.get("order_id"):
            state.clear()
            state["order_id"] = order
            state["line_no"] = 0
            state.update({k: row.get(k) for k in ORDER_LEVEL})
        else:
            for k in ORDER_LEVEL:
                if row.get(k) is None and state.get(k) is not None:
                    row[k] = state[k]
        state["line_no"] = int(str(state["line_no"])) + 1
        row["line_id"] = f"{row.get('sku') or ''}#{state['line_no']}"
        if row.get("phone") is None and row.get("billing_phone") is not None:
            row["phone"] = row["billing_phone"]
        row["status"] = _status(row)
        for k in (
            "financial_status",
            "fulfillment_status",
            "billing_phone",
            "cancelled_at",
            "taxes",
        ):
            row.pop(k, None)
        return row

    return fix


ORDERS = Mapping(
    name="shopify_orders",
    kind="orders",
    label="Shopify orders export",
    platform="shopify",
    columns={
        "order_id": "Name",
        "customer_external_id": "Customer ID",
        "email": "Email",
        "financial_status": "Financial Status",
        "paid_at": "Paid at",
        "fulfillment_status": "Fulfillment Status",
        "shipped_at": "Fulfilled at",
        "currency": "Currency",
        "subtotal": "Subtotal",
        "shipping": "Shipping",
        "taxes": "Taxes",
        "order_total": "Total",
        "coupon_code": "Discount Code",
        "discount": "Discount Amount",
        "placed_at": "Created at",
        "cancelled_at": "Cancelled at",
        "quantity": "Lineitem quantity",
        "title": "Lineitem name",
        "unit_price": "Lineitem price",
        "sku": "Lineitem sku",
        "line_discount": "Lineitem discount",
        "customer_name": "Billing Name",
        "billing_phone": "Billing Phone",
        "city": "Billing City",
        "province": "Billing Province",
        "country": "Billing Country",
        "phone": "Phone",
    },
    transform=_orders,
)

MAPPINGS = (ORDERS,)
