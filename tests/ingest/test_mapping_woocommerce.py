"""WooCommerce's "Customer / Order / Coupon Export" CSV (one row per line item) through the
built-in ``woocommerce_orders`` mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.ingest.mappings import woocommerce
from patron.ingest.tasks import ImportRequest, run_import

HEADER = [
    "order_id",
    "order_number",
    "order_date",
    "status",
    "shipping_total",
    "shipping_tax_total",
    "fee_total",
    "tax_total",
    "cart_discount",
    "discount_total",
    "order_total",
    "refunded_total",
    "order_currency",
    "payment_method",
    "customer_id",
    "billing_first_name",
    "billing_last_name",
    "billing_company",
    "billing_email",
    "billing_phone",
    "billing_address_1",
    "billing_postcode",
    "billing_city",
    "billing_state",
    "billing_country",
    "item_id",
    "item_name",
    "item_sku",
    "item_quantity",
    "item_subtotal",
    "item_total",
    "coupon_items",
    "paid_date",
    "completed_date",
]


def row(order: dict[str, str], item: tuple[str, str, str, str, str]) -> list[str]:
    item_id, name, sku, qty, total = item
    values = order | {
        "item_id": item_id,
        "item_name": name,
        "item_sku": sku,
        "item_quantity": qty,
        "item_subtotal": total,
        "item_total": total,
    }
    return [values.get(c, "") for c in HEADER]


def order(
    oid: str, status: str, customer: str, first: str, last: str, email: str, **kw: str
) -> dict[str, str]:
    return {
        "order_id": oid,
        "order_number": oid,
        "order_date": kw.pop("date", "2024-03-01 10:00:00"),
        "status": status,
        "order_currency": "CNY",
        "payment_method": "alipay",
        "customer_id": customer,
        "billing_first_name": first,
        "billing_last_name": last,
        "billing_email": email,
        "billing_country": "CN",
        "shipping_total": "0.00",
        "discount_total": "0.00",
        **kw,
    }


def export_rows() -> list[list[str]]:
    o101 = order(
        "101", "completed", "7", "Lei", "Li", "lilei@example.com",
        billing_phone="138 0013 8000", billing_city="杭州", billing_state="浙江",
        billing_address_1="文三路100号", shipping_total="8.00", discount_total="10.00",
        order_total="167.00", coupon_items="code:spring10|amount:10.00",
        paid_date="2024-03-01 10:02:00", completed_date="2024-03-04 18:00:00",
    )  # fmt: skip
    o102 = order(
        "102", "wc-processing", "0", "Meimei", "Han", "han@example.com",
        order_total="39.90", paid_date="2024-03-02 09:00:00", date="2024-03-02 08:59:00",
    )  # fmt: skip
    o103 = order("103", "on-hold", "7", "Lei", "Li", "", order_total="20.00", date="2024-03-03 10:00:00")
    o104 = order("104", "refunded", "8", "Tom", "Wu", "tom@example.com", order_total="20.00")
    o105 = order("105", "failed", "9", "Ann", "Xu", "ann@example.com", order_total="20.00")
    o106 = order("106", "trash", "9", "Ann", "Xu", "ann@example.com", order_total="20.00")
    o107 = order(
        "107", "cancelled", "0", "Meimei", "Han", "HAN@example.com",
        order_total="20.00", coupon_items="code:vip|amount:5.00;code:free-ship|amount:8.00",
    )  # fmt: skip
    return [
        row(o101, ("1", "龙井茶 250g", "TEA-250", "2", "138.00")),
        row(o101, ("2", "茶杯", "CUP", "1", "31.00")),
        row(o102, ("3", "茶杯", "CUP", "1", "39.90")),
        row(o103, ("4", "Gift card", "", "1", "20.00")),
        row(o104, ("5", "茶杯", "CUP", "1", "20.00")),
        row(o105, ("6", "茶杯", "CUP", "1", "20.00")),
        row(o106, ("7", "茶杯", "CUP", "1", "20.00")),
        row(o107, ("8", "茶杯", "CUP", "1", "20.00")),
    ]


def imp(engine: Engine, path: Path) -> Any:
    return run_import(
        ImportRequest(kind="orders", path=path, mapping="woocommerce_orders", shop="site"),
        engine=engine,
    )


def test_woocommerce_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "wc-orders.csv", HEADER, export_rows())
    s = imp(engine, path)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", 8, 7, 0, 0, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"unknown_status": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(8, "status", "unknown_status", "trash")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, raw_status, subtotal_minor, discount_minor, shipping_minor, "
        "total_minor, coupon_code, province, city, address FROM orders ORDER BY external_id",
    )
    assert orders == [
        ("101", "completed", "completed", 16900, 1000, 800, 16700, "spring10", "浙江", "杭州",
         "文三路100号"),
        ("102", "paid", "wc-processing", 3990, 0, 0, 3990, None, None, None, None),
        ("103", "pending", "on-hold", 2000, 0, 0, 2000, None, None, None, None),
        ("104", "refunded", "refunded", 2000, 0, 0, 2000, None, None, None, None),
        ("105", "cancelled", "failed", 2000, 0, 0, 2000, None, None, None, None),
        ("107", "cancelled", "cancelled", 2000, 0, 0, 2000, "vip,free-ship", None, None, None),
    ]  # fmt: skip
    times = table_rows(
        engine,
        "SELECT placed_at, paid_at, delivered_at FROM orders WHERE external_id = '101'",
    )
    # The shop's clock is Beijing time.
    assert [tuple(utc(t) for t in r) for r in times] == [
        ("2024-03-01 02:00:00", "2024-03-01 02:02:00", "2024-03-04 10:00:00")
    ]
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.quantity, l.unit_price_minor, l.total_minor "
        "FROM order_lines l JOIN orders o ON o.id = l.order_id ORDER BY o.external_id, l.line_key",
    )
    assert lines == [
        ("101", "1", "TEA-250", 2, 6900, 13800),
        ("101", "2", "CUP", 1, 3100, 3100),
        ("102", "3", "CUP", 1, 3990, 3990),
        ("103", "4", None, 1, 2000, 2000),
        ("104", "5", "CUP", 1, 2000, 2000),
        ("105", "6", "CUP", 1, 2000, 2000),
        ("107", "8", "CUP", 1, 2000, 2000),
    ]


def test_customers_by_id_and_guest_email(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "wc-orders.csv", HEADER, export_rows()))
    people = table_rows(
        engine,
        "SELECT c.name, c.email, c.phone, c.country, "
        "(SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c WHERE c.merged_into_id IS NULL ORDER BY c.id",
    )
    # Li Lei is customer 7 on both his orders; guest Han Meimei (customer_id 0) is known by
    # her e-mail only, whatever its case.
    assert people == [
        ("Lei Li", "lilei@example.com", "+8613800138000", "CN", 2),
        ("Meimei Han", "han@example.com", None, "CN", 2),
        ("Tom Wu", "tom@example.com", None, "CN", 1),
        ("Ann Xu", "ann@example.com", None, "CN", 1),
    ]
    ids = table_rows(
        engine,
        "SELECT namespace, value FROM identities WHERE kind = 'external_id' ORDER BY value",
    )
    assert ids == [("site", "7"), ("site", "8"), ("site", "9")]


def test_coupon_items() -> None:
    codes = woocommerce._coupon_codes
    assert codes("code:spring10|amount:10.00") == "spring10"
    assert codes("code:a|amount:1.00|description:x;code:b|amount:2.00") == "a,b"
    assert codes("SPRING10") == "SPRING10"  # a plain column of codes is kept as it is
