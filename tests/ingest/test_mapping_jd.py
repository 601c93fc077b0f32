"""京东 (JD) POP merchant order export through the built-in ``jd_orders`` mapping.

One row per order item with the order's columns repeated on each; 下单帐号 is the buyer's
account, 客户地址 one cell (space-separated in most exports, run together in some).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.ingest.tasks import ImportRequest, run_import

HEADER = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
    "余额支付",
    "应付金额",
    "订单状态",
    "订单类型",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "订单备注",
    "商家备注",
    "运费金额",
    "付款确认时间",
    "订单完成时间",
]


def item(order: dict[str, str], sku: str, title: str, qty: str, price: str) -> list[str]:
    values = order | {"商品ID": sku, "商品名称": title, "订购数量": qty, "京东价": price}
    return [values.get(c, "") for c in HEADER]


def order(oid: str, status: str, account: str, name: str, address: str, **kw: str) -> dict[str, str]:
    return {
        "订单号": oid,
        "支付方式": "在线支付",
        "订单状态": status,
        "订单类型": "SOP",
        "下单帐号": account,
        "客户姓名": name,
        "客户地址": address,
        "联系电话": "138****5678",
        "运费金额": "0.00",
        "余额支付": "0.00",
        **kw,
    }


def export_rows() -> list[list[str]]:
    a = order(
        "281234567890", "完成", "jd_sun", "孙**", "北京 北京市 朝阳区 建国路88号",
        下单时间="2024-03-08 20:00:00", 付款确认时间="2024-03-08 20:00:30", 订单完成时间="2024-03-12 09:00:00", 订单金额="277.00", 结算金额="267.00", 应付金额="267.00",
    )  # fmt: skip
    b = order(
        "281234567891", "等待出库", "jd_sun", "孙**", "北京 北京市 朝阳区 建国路88号",
        下单时间="2024-03-09 08:00:00", 付款确认时间="2024-03-09 08:01:00", 订单金额="39.00", 应付金额="45.00", 运费金额="6.00",
    )  # fmt: skip
    c = order(
        "281234567892", "(删除)等待出库", "jd_li", "李**", "上海市浦东新区张江镇碧波路690号",
        下单时间="2024-03-10 08:00:00", 订单金额="39.00", 应付金额="39.00",
    )  # fmt: skip
    d = order(
        "281234567893", "等待确认收货", "jd_li", "李**", "上海 上海市 浦东新区 张江镇 碧波路690号",
        下单时间="2024-03-11 08:00:00", 付款确认时间="2024-03-11 08:00:09", 订单金额="39.00", 应付金额="39.00",
    )  # fmt: skip
    e = order("281234567894", "神秘状态", "jd_wu", "吴**", "", 下单时间="2024-03-11 09:00:00")
    return [
        item(a, "100012345678", "西湖龙井 礼盒装", "1", "199.00"),
        item(a, "100012345679", "青瓷茶杯", "2", "39.00"),
        item(b, "100012345679", "青瓷茶杯", "1", "39.00"),
        item(c, "100012345679", "青瓷茶杯", "1", "39.00"),
        item(d, "100012345679", "青瓷茶杯", "1", "39.00"),
        item(e, "100012345679", "青瓷茶杯", "1", "39.00"),
    ]


def imp(engine: Engine, path: Path) -> Any:
    with session_scope(engine) as s:
        if not any(shop.code == "jd" for shop in commerce.list_shops(s)):
            commerce.create_shop(
                s, code="jd", name="京东自营店", platform="jd", currency="CNY",
                timezone="Asia/Shanghai",
            )  # fmt: skip
    return run_import(ImportRequest(kind="orders", path=path, mapping="jd_orders", shop="jd"), engine=engine)


def test_jd_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jd.csv", HEADER, export_rows(), encoding="gbk", newline="\r\n")
    s = imp(engine, path)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", 6, 5, 0, 0, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"unknown_status": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(7, "订单状态", "unknown_status", "神秘状态")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, subtotal_minor, shipping_minor, total_minor, province, city, "
        "district, address FROM orders ORDER BY external_id",
    )
    assert orders == [
        ("281234567890", "completed", 27700, 0, 26700, "北京", "北京市", "朝阳区", "建国路88号"),
        ("281234567891", "paid", 3900, 600, 4500, "北京", "北京市", "朝阳区", "建国路88号"),
        ("281234567892", "cancelled", 3900, 0, 3900, None, None, None,
         "上海市浦东新区张江镇碧波路690号"),
        ("281234567893", "shipped", 3900, 0, 3900, "上海", "上海市", "浦东新区",
         "张江镇 碧波路690号"),
    ]  # fmt: skip
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.title, l.quantity, l.unit_price_minor, "
        "l.total_minor FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "ORDER BY o.external_id, l.line_key",
    )
    assert lines == [
        ("281234567890", "100012345678#1", "100012345678", "西湖龙井 礼盒装", 1, 19900, 19900),
        ("281234567890", "100012345679#1", "100012345679", "青瓷茶杯", 2, 3900, 7800),
        ("281234567891", "100012345679#1", "100012345679", "青瓷茶杯", 1, 3900, 3900),
        ("281234567892", "100012345679#1", "100012345679", "青瓷茶杯", 1, 3900, 3900),
        ("281234567893", "100012345679#1", "100012345679", "青瓷茶杯", 1, 3900, 3900),
    ]
    times = table_rows(engine, "SELECT placed_at, paid_at FROM orders WHERE external_id = '281234567890'")
    assert [(utc(a), utc(b)) for a, b in times] == [("2024-03-08 12:00:00", "2024-03-08 12:00:30")]


def test_jd_buyers_by_account(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "jd.csv", HEADER, export_rows(), encoding="gbk"))
    people = table_rows(
        engine,
        "SELECT c.name, c.phone, c.orders_count, "
        "(SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c WHERE c.merged_into_id IS NULL ORDER BY c.id",
    )
    # The account links a buyer's orders; the masked phone they all share links nobody.
    assert people == [("孙**", None, 2, 2), ("李**", None, 1, 2)]
    nicks = table_rows(
        engine, "SELECT namespace, value FROM identities WHERE kind = 'buyer_nick' ORDER BY value"
    )
    assert nicks == [("jd", "jd_li"), ("jd", "jd_sun")]
