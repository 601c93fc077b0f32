"""Shopify's "Export orders" CSV through the built-in ``shopify_orders`` mapping.

One row per line item; the order's own columns (status, money, billing) are filled only on its
first row. Times carry their UTC offset, amounts are US dollars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.ingest.tasks import ImportRequest, run_import

HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Address1",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Notes",
    "Cancelled at",
    "Payment Method",
    "Refunded Amount",
    "Vendor",
    "Id",
    "Tags",
    "Source",
    "Lineitem discount",
    "Phone",
]
ORDER_COLUMNS = {
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Billing Name",
    "Billing Address1",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Notes",
    "Cancelled at",
    "Payment Method",
    "Refunded Amount",
    "Id",
    "Tags",
    "Source",
    "Phone",
}


def order(
    name: str,
    email: str,
    created: str,
    lines: list[tuple[int, str, str, str, str]],
    **fields: str,
) -> list[list[str]]:
    """Rows of one order as Shopify writes them: order columns on the first row only."""
    head = {
        "Name": name,
        "Email": email,
        "Created at": created,
        "Currency": "USD",
        "Accepts Marketing": "no",
        "Shipping Method": "Standard",
        "Payment Method": "Shopify Payments",
        "Refunded Amount": "0.00",
        "Source": "web",
        "Billing Country": "US",
        **{k.replace("_", " "): v for k, v in fields.items()},
    }
    rows = []
    for i, (qty, title, price, sku, discount) in enumerate(lines):
        values = dict(head) if i == 0 else {k: v for k, v in head.items() if k not in ORDER_COLUMNS}
        values |= {
            "Lineitem quantity": str(qty),
            "Lineitem name": title,
            "Lineitem price": price,
            "Lineitem sku": sku,
            "Lineitem discount": discount,
            "Lineitem requires shipping": "true",
            "Lineitem taxable": "true",
            "Lineitem fulfillment status": "pending",
            "Vendor": "Patron Goods",
        }
        rows.append([values.get(c, "") for c in HEADER])
    return rows


def export_rows() -> list[list[str]]:
    return [
        *order(
            "#1001",
            "alice@example.com",
            "2024-01-05 12:00:00 -0500",
            [(2, "Cotton Tee - M", "20.00", "TEE-M", "5.00"), (1, "Sticker", "5.00", "STK", "0.00")],
            Financial_Status="paid",
            Paid_at="2024-01-05 12:01:00 -0500",
            Fulfillment_Status="fulfilled",
            Fulfilled_at="2024-01-06 09:30:00 -0500",
            Subtotal="40.00",
            Shipping="5.00",
            Taxes="3.60",
            Total="48.60",
            Discount_Code="WELCOME5",
            Discount_Amount="5.00",
            Billing_Name="Alice Smith",
            Billing_City="Brooklyn",
            Billing_Province="NY",
            Billing_Phone="'+1 (212) 555-0100",
            Id="5012345678901",
        ),
        *order(
            "#1002",
            "Alice@Example.COM",
            "2024-07-04 12:00:00 -0400",
            [(1, "Cotton Tee - L", "20.00", "TEE-L", "0.00")],
            Financial_Status="pending",
            Subtotal="20.00",
            Shipping="0.00",
            Total="20.00",
            Billing_Name="Alice Smith",
        ),
        *order(
            "#1003",
            "bob@example.com",
            "2024-01-06 08:00:00 -0500",
            [(1, "Mug", "12.50", "MUG", "0.00")],
            Financial_Status="paid",
            Paid_at="2024-01-06 08:00:10 -0500",
            Fulfillment_Status="unfulfilled",
            Subtotal="12.50",
            Shipping="4.00",
            Total="16.50",
            Billing_Name="Bob Jones",
            Cancelled_at="2024-01-07 10:00:00 -0500",
        ),
        *order(
            "#1004",
            "bob@example.com",
            "2024-01-08 08:00:00 -0500",
            [(1, "Mug", "12.50", "MUG", "0.00")],
            Financial_Status="refunded",
            Paid_at="2024-01-08 08:00:10 -0500",
            Fulfillment_Status="fulfilled",
            Subtotal="12.50",
            Total="12.50",
            Billing_Name="Bob Jones",
        ),
        *order(
            "#1005",
            "carol@example.com",
            "2024-01-09 23:30:00 -0500",
            [(1, "Cap", "15.00", "CAP", "0.00"), (1, "Tote", "18.00", "TOTE", "0.00")],
            Financial_Status="paid",
            Paid_at="2024-01-09 23:31:00 -0500",
            Fulfillment_Status="partial",
            Subtotal="33.00",
            Total="33.00",
            Billing_Name="Carol White",
            Phone="+1 415 555 0199",
        ),
        *order(
            "#1006",
            "dave@example.com",
            "2024-01-10 10:00:00 -0500",
            [
                (1, "Tee - S", "20.00", "TEE-S", "0.00"),
                (3, "Sticker", "5.00", "STK", "0.00"),
                (1, "Tee - S", "20.00", "TEE-S", "0.00"),
            ],
            Financial_Status="paid",
            Paid_at="2024-01-10 10:00:05 -0500",
            Subtotal="55.00",
            Total="55.00",
            Billing_Name="Dave Brown",
        ),
        *order(
            "#1007",
            "erin@example.com",
            "2024-01-11 10:00:00 -0500",
            [(1, "Cap", "15.00", "CAP", "0.00")],
            Financial_Status="voided",
            Subtotal="15.00",
            Total="15.00",
            Billing_Name="Erin Black",
        ),
        *order(
            "#1008",
            "frank@example.com",
            "2024-01-12 10:00:00 -0500",
            [(1, "Cap", "15.00", "CAP", "0.00")],
            Financial_Status="expired",
            Subtotal="15.00",
            Total="15.00",
            Billing_Name="Frank Green",
        ),
        *order(
            "#1009",
            "gina@example.com",
            "2024-01-13 10:00:00 -0500",
            [(1, "Cap", "15.00", "CAP", "0.00"), (0, "Tote", "18.00", "TOTE", "0.00")],
            Financial_Status="authorized",
            Subtotal="15.00",
            Total="15.00",
            Billing_Name="Gina Gray",
        ),
    ]


def imp(engine: Engine, path: Path) -> Any:
    return run_import(
        ImportRequest(kind="orders", path=path, mapping="shopify_orders", shop="shopify"),
        engine=engine,
    )


def test_shopify_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders_export.csv", HEADER, export_rows())
    s = imp(engine, path)
    # 14 rows: the lines of 9 orders, one of them with quantity 0 (quarantined).
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", 14, 13, 0, 0, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"out_of_range": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(15, "Lineitem quantity", "out_of_range", "0")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, currency, subtotal_minor, discount_minor, shipping_minor, "
        "total_minor, coupon_code, city, province FROM orders ORDER BY external_id",
    )
    assert orders == [
        ("#1001", "shipped", "USD", 4000, 500, 500, 4860, "WELCOME5", "Brooklyn", "NY"),
        ("#1002", "pending", "USD", 2000, 0, 0, 2000, None, None, None),
        ("#1003", "cancelled", "USD", 1250, 0, 400, 1650, None, None, None),
        ("#1004", "refunded", "USD", 1250, 0, 0, 1250, None, None, None),
        ("#1005", "shipped", "USD", 3300, 0, 0, 3300, None, None, None),
        ("#1006", "paid", "USD", 5500, 0, 0, 5500, None, None, None),
        ("#1007", "cancelled", "USD", 1500, 0, 0, 1500, None, None, None),
        ("#1008", "cancelled", "USD", 1500, 0, 0, 1500, None, None, None),
        ("#1009", "pending", "USD", 1500, 0, 0, 1500, None, None, None),
    ]
    times = table_rows(
        engine,
        "SELECT external_id, placed_at, paid_at, shipped_at FROM orders "
        "WHERE external_id IN ('#1001', '#1002', '#1005') ORDER BY external_id",
    )
    # -0500 in winter, -0400 in summer; stored in UTC (#1005 is the next day in UTC).
    assert [(e, utc(a), utc(b), utc(c)) for e, a, b, c in times] == [
        ("#1001", "2024-01-05 17:00:00", "2024-01-05 17:01:00", "2024-01-06 14:30:00"),
        ("#1002", "2024-07-04 16:00:00", None, None),
        ("#1005", "2024-01-10 04:30:00", "2024-01-10 04:31:00", None),
    ]
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.title, l.quantity, l.unit_price_minor, "
        "l.discount_minor, l.total_minor FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.external_id IN ('#1001', '#1006', '#1009') ORDER BY o.external_id, l.line_key",
    )
    assert lines == [
        ("#1001", "STK#2", "STK", "Sticker", 1, 500, 0, 500),
        ("#1001", "TEE-M#1", "TEE-M", "Cotton Tee - M", 2, 2000, 500, 3500),
        ("#1006", "STK#2", "STK", "Sticker", 3, 500, 0, 1500),
        ("#1006", "TEE-S#1", "TEE-S", "Tee - S", 1, 2000, 0, 2000),
        ("#1006", "TEE-S#3", "TEE-S", "Tee - S", 1, 2000, 0, 2000),
        ("#1009", "CAP#1", "CAP", "Cap", 1, 1500, 0, 1500),
    ]


def test_emails_merge_a_customers_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "orders_export.csv", HEADER, export_rows()))
    people = table_rows(
        engine,
        "SELECT c.name, c.email, c.phone, c.orders_count, "
        "(SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c WHERE c.merged_into_id IS NULL ORDER BY c.id",
    )
    # Alice's two orders share her e-mail (written in two cases); pending, cancelled and
    # voided orders are not purchases. Carol's phone comes from the Phone column, Alice's from
    # the billing phone.
    assert people == [
        ("Alice Smith", "alice@example.com", "+12125550100", 1, 2),
        ("Bob Jones", "bob@example.com", None, 1, 2),
        ("Carol White", "carol@example.com", "+14155550199", 1, 1),
        ("Dave Brown", "dave@example.com", None, 1, 1),
        ("Erin Black", "erin@example.com", None, 0, 1),
        ("Frank Green", "frank@example.com", None, 0, 1),
        ("Gina Gray", "gina@example.com", None, 0, 1),
    ]
    emails = table_rows(
        engine, "SELECT kind, namespace, value FROM identities WHERE kind = 'email' ORDER BY value"
    )
    assert [v for _, _, v in emails] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
        "frank@example.com",
        "gina@example.com",
    ]


def test_reimport_is_unchanged(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders_export.csv", HEADER, export_rows())
    imp(engine, path)
    s = imp(engine, path)
    assert (s.inserted, s.updated, s.unchanged, s.quarantined) == (0, 0, 13, 1)
    assert table_rows(engine, "SELECT COUNT(*) FROM order_lines") == [(13,)]
