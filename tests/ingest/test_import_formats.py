"""The same orders in every file format Patron reads, and the native format of every kind.

Orders go in as CSV (UTF-8, UTF-8 with BOM, UTF-16 as Excel's "Unicode text"), XLSX (real date
and number cells), JSON Lines (JSON numbers, ISO times with offsets) and Parquet (typed
columns); each must give exactly the same orders. Then customers, products, refunds and events
in Patron's native format (the ``FIELDS`` of each kind as the header).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.ingest.mappings import FIELDS
from patron.ingest.tasks import ImportRequest, run_import

ORDER_HEADER = [
    "order_id",
    "customer_external_id",
    "customer_name",
    "phone",
    "email",
    "status",
    "placed_at",
    "paid_at",
    "shipping",
    "discount",
    "order_total",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "line_total",
]
BJ = "+08:00"


def typed_orders() -> list[dict[str, Any]]:
    """The orders with typed values, as a spreadsheet or a typed file holds them."""
    return [
        {"order_id": "A1", "customer_external_id": "c1", "customer_name": "张三",
         "phone": 13812345678, "email": None, "status": "completed",
         "placed_at": datetime(2024, 1, 5, 10, 0), "paid_at": datetime(2024, 1, 5, 10, 1),
         "shipping": 10.0, "discount": 0.0, "order_total": 209.0, "sku": "SKU1", "title": "T恤",
         "quantity": 2, "unit_price": 99.5, "line_total": 199.0},
        {"order_id": "A1", "customer_external_id": "c1", "customer_name": "张三",
         "phone": 13812345678, "email": None, "status": "completed",
         "placed_at": datetime(2024, 1, 5, 10, 0), "paid_at": datetime(2024, 1, 5, 10, 1),
         "shipping": 10.0, "discount": 0.0, "order_total": 209.0, "sku": "SKU2", "title": "袜子",
         "quantity": 1, "unit_price": 0.0, "line_total": 0.0},
        {"order_id": "A2", "customer_external_id": "c2", "customer_name": "Li Si", "phone": None,
         "email": "Li@Example.com", "status": "shipped", "placed_at": datetime(2024, 2, 1, 9, 30),
         "paid_at": None, "shipping": 0.0, "discount": 5.0, "order_total": 45.0, "sku": "SKU1",
         "title": "T恤", "quantity": 1, "unit_price": 50.0, "line_total": 50.0},
        {"order_id": "A3", "customer_external_id": "c3", "customer_name": "王五",
         "phone": 8613812345678, "email": None, "status": "delivered",
         "placed_at": datetime(2024, 3, 3, 23, 59, 59), "paid_at": None, "shipping": 0.0,
         "discount": 0.0, "order_total": 0.3, "sku": "SKU3", "title": "帽子", "quantity": 3,
         "unit_price": 0.1, "line_total": 0.3},
    ]  # fmt: skip


def text_rows() -> list[list[str]]:
    """The same orders as text cells, as a CSV holds them."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    return [[text(row[c]) for c in ORDER_HEADER] for row in typed_orders()]


EXPECTED_ORDERS = [
    ("A1", "completed", "CNY", 19900, 0, 1000, 20900),
    ("A2", "shipped", "CNY", 5000, 500, 0, 4500),
    ("A3", "delivered", "CNY", 30, 0, 0, 30),
]
EXPECTED_LINES = [
    ("A1", "SKU1#1", 2, 9950, 19900),
    ("A1", "SKU2#1", 1, 0, 0),
    ("A2", "SKU1#1", 1, 5000, 5000),
    ("A3", "SKU3#1", 3, 10, 30),
]
EXPECTED_TIMES = [
    ("A1", "2024-01-05 02:00:00", "2024-01-05 02:01:00"),
    ("A2", "2024-02-01 01:30:00", None),
    ("A3", "2024-03-03 15:59:59", None),
]


def as_json(value: Any) -> Any:
    """A JSON column as Python (SQLite hands back text, PostgreSQL a dict)."""
    return json.loads(value) if isinstance(value, str) else value


def write_utf16_tab(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Excel's "Unicode text": UTF-16 with a BOM, tab-separated, CRLF."""
    buf = io.StringIO()
    csv.writer(buf, delimiter="\t", lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode("utf-16"))
    return path


def write_xlsx(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "订单"
    ws.append(ORDER_HEADER)
    for row in typed_orders():
        ws.append([row[c] for c in ORDER_HEADER])
    ws.append([None] * len(ORDER_HEADER))  # a trailing blank row, as Excel often leaves
    wb.save(path)
    return path


def write_jsonl(path: Path) -> Path:
    lines = []
    for row in typed_orders():
        obj = {k: v for k, v in row.items() if v is not None}
        for k in ("placed_at", "paid_at"):
            if k in obj:
                obj[k] = obj[k].isoformat() + BJ
        obj["phone"] = str(obj["phone"]) if "phone" in obj else None
        lines.append(json.dumps(obj, ensure_ascii=False))
    lines.insert(2, '{"order_id": "A9", "placed_at": "2024-01-01 00:00:00",')  # cut short
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet(path: Path) -> Path:
    rows = typed_orders()
    frame = pl.DataFrame(
        {c: [r[c] for r in rows] for c in ORDER_HEADER},
        schema_overrides={"phone": pl.Int64, "email": pl.Utf8, "paid_at": pl.Datetime("us")},
    )
    frame.write_parquet(path)
    return path


FORMATS = {
    # name: (writer, expected format, expected encoding, rows read, quarantined)
    "csv": (lambda p: write_csv(p / "o.csv", ORDER_HEADER, text_rows()), "csv", "utf-8", 4, 0),
    "csv-bom": (
        lambda p: write_csv(p / "o.csv", ORDER_HEADER, text_rows(), encoding="utf-8-sig"),
        "csv", "utf-8-sig", 4, 0,
    ),
    "csv-utf16": (
        lambda p: write_utf16_tab(p / "o.txt", ORDER_HEADER, text_rows()), "csv", "utf-16", 4, 0
    ),
    "xlsx": (lambda p: write_xlsx(p / "o.xlsx"), "xlsx", None, 4, 0),
    "jsonl": (lambda p: write_jsonl(p / "o.jsonl"), "jsonl", "utf-8", 5, 1),
    "parquet": (lambda p: write_parquet(p / "o.parquet"), "parquet", None, 4, 0),
}  # fmt: skip


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_same_orders_in_every_format(engine: Engine, shops: object, tmp_path: Path, fmt: str) -> None:
    writer, file_format, encoding, rows_read, quarantined = FORMATS[fmt]
    path = writer(tmp_path)
    s = run_import(ImportRequest(kind="orders", path=path, shop="site"), engine=engine)
    assert (s.format, s.encoding) == (file_format, encoding)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", rows_read, 4, 0, 0, quarantined,
    )  # fmt: skip
    if fmt == "jsonl":
        assert s.quarantined_by_code == {"bad_json": 1}
        q = table_rows(engine, 'SELECT row_number, "column", code FROM quarantine_rows')
        assert q == [(3, None, "bad_json")]
    else:
        assert s.quarantined_by_code == {}

    orders = table_rows(
        engine,
        "SELECT external_id, status, currency, subtotal_minor, discount_minor, shipping_minor, "
        "total_minor FROM orders ORDER BY external_id",
    )
    assert orders == EXPECTED_ORDERS
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.quantity, l.unit_price_minor, l.total_minor "
        "FROM order_lines l JOIN orders o ON o.id = l.order_id ORDER BY o.external_id, l.line_key",
    )
    assert lines == EXPECTED_LINES
    times = table_rows(engine, "SELECT external_id, placed_at, paid_at FROM orders ORDER BY external_id")
    assert [(e, utc(a), utc(b)) for e, a, b in times] == EXPECTED_TIMES
    # 张三 and 王五 share a phone (written as a number in typed files): one person.
    people = table_rows(
        engine,
        "SELECT name, phone, email, orders_count FROM customers WHERE merged_into_id IS NULL ORDER BY id",
    )
    assert people == [
        ("张三", "+8613812345678", None, 2),
        ("Li Si", None, "li@example.com", 1),
    ]

    again = run_import(ImportRequest(kind="orders", path=path, shop="site"), engine=engine)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)


# -- native customers ---------------------------------------------------------------------------

CUSTOMER_HEADER = [
    "external_id",
    "name",
    "gender",
    "birthday",
    "phone",
    "email",
    "wechat_unionid",
    "wechat_openid",
    "wechat_appid",
    "province",
    "city",
    "tags",
    "custom.会员等级",
    "custom.来源",
    "updated_at",
]


def customer_rows() -> list[list[str]]:
    return [
        ["u1", "张三", "男", "1990-05-01", "138 1234 5678", "", "oUnion_zhang", "oOpen_zhang",
         "wx1234567890abcdef", "浙江省", "杭州市", "VIP;老客", "金卡", "小程序", "2024-03-01 10:00:00"],
        ["u2", "李四", "女", "1985/12/31", "", "LiSi@Example.com", "", "oOpen_li", "", "", "",
         "新客，VIP", "银卡", "", "2024-03-01 10:00:00"],
        ["u3", "Wang Wu", "F", "", "", "wangwu@example.com", "", "", "", "", "", "", "", "", ""],
        ["u4", "坏性别", "其他", "", "13900000000", "", "", "", "", "", "", "", "", "", ""],
        ["u5", "坏生日", "男", "1990-13-01", "13900000001", "", "", "", "", "", "", "", "", "", ""],
        ["", "无身份", "男", "", "", "", "", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip


def test_native_customers(engine: Engine, shops: object, tmp_path: Path) -> None:
    assert set(CUSTOMER_HEADER) - {"custom.会员等级", "custom.来源"} <= set(FIELDS["customers"])
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, customer_rows())
    s = run_import(
        ImportRequest(kind="customers", path=path, mapping="patron_customers", shop="wechat"),
        engine=engine,
    )
    assert (s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (6, 3, 0, 0, 3)
    assert s.quarantined_by_code == {"bad_date": 1, "bad_gender": 1, "no_identity": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows ORDER BY 1')
    assert q == [
        (5, "gender", "bad_gender", "其他"),
        (6, "birthday", "bad_date", "1990-13-01"),
        (7, "external_id", "no_identity", None),
    ]
    people = table_rows(
        engine,
        "SELECT name, gender, birthday, phone, email, province, city, custom FROM customers ORDER BY id",
    )
    assert [(*r[:2], str(r[2]) if r[2] else None, *r[3:7], as_json(r[7])) for r in people] == [
        ("张三", "male", "1990-05-01", "+8613812345678", None, "浙江省", "杭州市",
         {"会员等级": "金卡", "来源": "小程序"}),
        ("李四", "female", "1985-12-31", None, "lisi@example.com", None, None, {"会员等级": "银卡"}),
        ("Wang Wu", "female", None, None, "wangwu@example.com", None, None, {}),
    ]  # fmt: skip
    identities = table_rows(
        engine,
        "SELECT c.name, i.kind, i.namespace, i.value FROM identities i "
        "JOIN customers c ON c.id = i.customer_id ORDER BY c.id, i.kind",
    )
    assert identities == [
        ("张三", "external_id", "wechat", "u1"),
        ("张三", "phone", "", "+8613812345678"),
        ("张三", "wechat_openid", "wx1234567890abcdef", "oOpen_zhang"),
        ("张三", "wechat_unionid", "", "oUnion_zhang"),
        ("李四", "email", "", "lisi@example.com"),
        ("李四", "external_id", "wechat", "u2"),
        ("李四", "wechat_openid", "wechat", "oOpen_li"),  # no app id: the shop's
        ("Wang Wu", "email", "", "wangwu@example.com"),
        ("Wang Wu", "external_id", "wechat", "u3"),
    ]
    tags = table_rows(
        engine,
        "SELECT c.name, t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id "
        "JOIN customers c ON c.id = ct.customer_id",
    )
    assert sorted(tags) == sorted([("张三", "VIP"), ("张三", "老客"), ("李四", "新客"), ("李四", "VIP")])

    # The same file again changes nothing; an orders file finds these people by phone/unionid.
    again = run_import(
        ImportRequest(kind="customers", path=path, mapping="patron_customers", shop="wechat"),
        engine=engine,
    )
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 3, 3)


# -- native products ----------------------------------------------------------------------------

PRODUCT_HEADER = ["sku", "title", "title_en", "category_path", "brand", "price", "currency", "shop"]


def product_rows() -> list[list[str]]:
    return [
        ["SKU1", "纯棉T恤", "Cotton tee", "服饰 > 上衣 > T恤", "Patron", "99.50", "", ""],
        ["SKU2", "运动袜", "Socks", "服饰 > 袜子", "Patron", "10", "", ""],
        ["SKU3", "渔夫帽", "Bucket hat", "服饰/配饰/帽子", "", "59.00", "", ""],
        ["SKU4", "长袖T恤", "", "服饰 > 上衣 > T恤", "Patron", "", "", ""],
        ["SKU1", "纯棉T恤（天猫）", "", "服饰 > 上衣 > T恤", "Patron", "109.00", "", "tmall"],
        ["SKU9", "", "", "服饰", "", "1.00", "", ""],
        ["SKU8", "无店", "", "", "", "1.00", "", "nowhere"],
        ["SKU7", "美元价", "", "", "", "5.00", "USD", "shopify"],
    ]


def test_native_products_build_the_category_tree_once(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "products.csv", PRODUCT_HEADER, product_rows())
    req = ImportRequest(kind="products", path=path, mapping="patron_products")
    s = run_import(req, engine=engine)
    assert (s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (8, 6, 0, 0, 2)
    assert s.quarantined_by_code == {"missing": 1, "unknown_shop": 1}
    categories = table_rows(
        engine,
        "SELECT c.path, c.name, p.path FROM categories c LEFT JOIN categories p "
        "ON p.id = c.parent_id ORDER BY c.id",
    )
    assert categories == [
        ("服饰", "服饰", None),
        ("服饰 > 上衣", "上衣", "服饰"),
        ("服饰 > 上衣 > T恤", "T恤", "服饰 > 上衣"),
        ("服饰 > 袜子", "袜子", "服饰"),
        ("服饰 > 配饰", "配饰", "服饰"),
        ("服饰 > 配饰 > 帽子", "帽子", "服饰 > 配饰"),
    ]
    products = table_rows(
        engine,
        "SELECT p.shop_code, p.sku, p.title, p.brand, p.price_minor, p.currency, c.path "
        "FROM products p LEFT JOIN categories c ON c.id = p.category_id ORDER BY p.id",
    )
    assert products == [
        ("", "SKU1", "纯棉T恤", "Patron", 9950, "CNY", "服饰 > 上衣 > T恤"),
        ("", "SKU2", "运动袜", "Patron", 1000, "CNY", "服饰 > 袜子"),
        ("", "SKU3", "渔夫帽", None, 5900, "CNY", "服饰 > 配饰 > 帽子"),
        ("", "SKU4", "长袖T恤", "Patron", None, None, "服饰 > 上衣 > T恤"),
        ("tmall", "SKU1", "纯棉T恤（天猫）", "Patron", 10900, "CNY", "服饰 > 上衣 > T恤"),
        ("shopify", "SKU7", "美元价", None, 500, "USD", None),
    ]
    again = run_import(req, engine=engine)
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 6, 2)
    assert table_rows(engine, "SELECT COUNT(*) FROM categories") == [(6,)]

    # Order lines find their product by SKU, the shop's own product first.
    orders = write_csv(tmp_path / "o.csv", ORDER_HEADER, text_rows())
    run_import(ImportRequest(kind="orders", path=orders, shop="tmall"), engine=engine)
    linked = table_rows(
        engine,
        "SELECT l.sku, p.shop_code, p.title FROM order_lines l LEFT JOIN products p "
        "ON p.id = l.product_id ORDER BY l.id",
    )
    assert linked == [
        ("SKU1", "tmall", "纯棉T恤（天猫）"),
        ("SKU2", "", "运动袜"),
        ("SKU1", "tmall", "纯棉T恤（天猫）"),
        ("SKU3", "", "渔夫帽"),
    ]


# -- native refunds -----------------------------------------------------------------------------

REFUND_HEADER = ["refund_id", "order_id", "sku", "type", "reason", "amount", "currency", "status",
                 "requested_at", "completed_at"]  # fmt: skip


def test_native_refunds(engine: Engine, shops: object, tmp_path: Path) -> None:
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", ORDER_HEADER, text_rows()),
                      shop="site"),
        engine=engine,
    )  # fmt: skip
    rows = [
        ["RF1", "A1", "SKU1", "refund_only", "尺码不合适", "99.50", "CNY", "completed",
         "2024-01-08 09:00:00", "2024-01-09 09:00:00"],
        ["RF2", "A2", "", "return_refund", "", "50", "", "requested", "2024-02-03 10:00:00", ""],
        ["RF3", "A3", "", "exchange", "", "0", "", "", "2024-03-04 10:00:00", ""],
        ["RF4", "A9", "", "refund_only", "", "1.00", "", "completed", "", ""],
        ["RF5", "A1", "", "refund_only", "", "1.00", "USD", "completed", "", ""],
        ["RF6", "A1", "", "teleport", "", "1.00", "", "completed", "", ""],
        ["RF7", "A1", "", "refund_only", "", "-1.00", "", "completed", "", ""],
    ]  # fmt: skip
    path = write_csv(tmp_path / "refunds.csv", REFUND_HEADER, rows)
    req = ImportRequest(kind="refunds", path=path, mapping="patron_refunds", shop="site")
    s = run_import(req, engine=engine)
    assert (s.rows_read, s.inserted, s.quarantined) == (7, 3, 4)
    assert s.quarantined_by_code == {
        "currency_mismatch": 1,
        "out_of_range": 1,
        "unknown_order": 1,
        "unknown_refund_type": 1,
    }
    refunds = table_rows(
        engine,
        "SELECT r.external_id, o.external_id, c.name, r.type, r.status, r.amount_minor, r.currency "
        "FROM refunds r JOIN orders o ON o.id = r.order_id JOIN customers c ON c.id = r.customer_id "
        "ORDER BY r.external_id",
    )
    assert refunds == [
        ("RF1", "A1", "张三", "refund_only", "completed", 9950, "CNY"),
        ("RF2", "A2", "Li Si", "return_refund", "requested", 5000, "CNY"),
        ("RF3", "A3", "张三", "exchange", "requested", 0, "CNY"),  # no status, not completed
    ]
    again = run_import(req, engine=engine)
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 3, 4)


# -- native events ------------------------------------------------------------------------------

EVENT_HEADER = ["event_id", "type", "occurred_at", "shop", "customer_external_id", "anonymous_id",
                "phone", "email", "properties"]  # fmt: skip


def test_native_events_are_idempotent(engine: Engine, shops: object, tmp_path: Path) -> None:
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", ORDER_HEADER, text_rows()),
                      shop="site"),
        engine=engine,
    )  # fmt: skip
    rows = [
        ["e1", "page_view", "2024-03-01T10:00:00+08:00", "site", "c1", "", "", "", '{"url": "/"}'],
        ["e2", "product_view", "2024-03-01 10:00:05", "site", "", "anon-1", "", "",
         '{"sku": "SKU1", "price": 99.5}'],
        ["e3", "add_to_cart", "2024-03-01 10:01:00", "site", "", "", "13812345678", "", ""],
        ["e4", "custom:live_watch", "2024-03-01 20:00:00", "", "", "anon-2", "", "", "{}"],
        ["e5", "teleport", "2024-03-01 20:00:00", "site", "", "anon-3", "", "", ""],
        ["e6", "search", "2024-03-01 20:00:00", "site", "", "anon-3", "", "", "{not json"],
        ["e1", "page_view", "2024-03-01T10:00:00+08:00", "site", "c1", "", "", "", '{"url": "/"}'],
    ]  # fmt: skip
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, rows)
    req = ImportRequest(kind="events", path=path, mapping="patron_events")
    s = run_import(req, engine=engine)
    # e1 twice in one file is stored once.
    assert (s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (7, 4, 0, 1, 2)
    assert s.quarantined_by_code == {"bad_json": 1, "unknown_event_type": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code FROM quarantine_rows ORDER BY 1')
    assert q == [(6, "type", "unknown_event_type"), (7, "properties", "bad_json")]
    events = table_rows(
        engine,
        "SELECT e.event_id, e.type, e.occurred_at, c.name, s.code, e.anonymous_id, e.properties "
        "FROM events e LEFT JOIN customers c ON c.id = e.customer_id "
        "LEFT JOIN shops s ON s.id = e.shop_id ORDER BY e.event_id",
    )
    assert [(a, b, utc(t), c, d, e, as_json(p)) for a, b, t, c, d, e, p in events] == [
        ("e1", "page_view", "2024-03-01 02:00:00", "张三", "site", None, {"url": "/"}),
        ("e2", "product_view", "2024-03-01 02:00:05", None, "site", "anon-1",
         {"sku": "SKU1", "price": 99.5}),
        ("e3", "add_to_cart", "2024-03-01 02:01:00", "张三", "site", None, {}),
        ("e4", "custom:live_watch", "2024-03-01 20:00:00", None, None, "anon-2", {}),
    ]  # fmt: skip
    again = run_import(req, engine=engine)
    assert (again.rows_read, again.inserted, again.updated, again.unchanged, again.quarantined) == (
        7, 0, 0, 5, 2,
    )  # fmt: skip
    assert table_rows(engine, "SELECT COUNT(*) FROM events") == [(4,)]
