"""抖店 (Douyin shop) order export through the built-in ``douyin_orders`` mapping.

One row per 子订单 (sub-order), which is Patron's order line: 主订单编号 is the order and
子订单编号 the line id. Ids carry a trailing tab (the export's guard against Excel), phones are
masked unless decrypted, and the address comes in 省/市/区/街道/详细地址 columns.
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
    "主订单编号",
    "子订单编号",
    "选购商品",
    "商品规格",
    "商品数量",
    "商品ID",
    "商家编码",
    "商品金额",
    "订单应付金额",
    "运费",
    "优惠总金额",
    "支付方式",
    "收件人",
    "收件人手机号",
    "省",
    "市",
    "区",
    "街道",
    "详细地址",
    "买家留言",
    "订单提交时间",
    "支付完成时间",
    "订单完成时间",
    "快递公司",
    "快递单号",
    "订单状态",
    "售后状态",
    "取消原因",
]

A, B, C, D = "6921000000000001", "6921000000000010", "6921000000000020", "6921000000000030"


def sub_order(order: str, line: str, title: str, qty: str, price: str, sku: str, **kw: str) -> list[str]:
    values = {
        "主订单编号": f"{order}\t",
        "子订单编号": f"{line}\t",
        "选购商品": title,
        "商品规格": "默认",
        "商品数量": qty,
        "商品ID": "3600000000000001\t",
        "商家编码": sku,
        "商品金额": price,
        "运费": "0.00",
        "优惠总金额": "0.00",
        "支付方式": "抖音支付",
        "省": "浙江省",
        "市": "杭州市",
        "区": "余杭区",
        "售后状态": "-",
        **kw,
    }
    return [values.get(c, "") for c in HEADER]


def export_rows() -> list[list[str]]:
    a = {
        "订单应付金额": "119.70", "收件人": "陈*", "收件人手机号": "138****5678",
        "街道": "五常街道", "详细地址": "文一西路969号", "订单提交时间": "2024/03/08 20:15:33",
        "支付完成时间": "2024/03/08 20:16:01", "订单完成时间": "2024/03/12 10:00:00",
        "快递公司": "中通快递", "快递单号": "75123456789012", "订单状态": "已完成",
    }  # fmt: skip
    b = {
        "订单应付金额": "49.00", "运费": "5.00", "收件人": "赵六", "收件人手机号": "13700001111",
        "详细地址": "良渚街道 古墩路1号", "订单提交时间": "2024/3/9 9:05:00",
        "支付完成时间": "2024/3/9 9:05:10", "订单状态": "已发货",
    }  # fmt: skip
    c = {
        "订单应付金额": "44.00", "收件人": "赵六", "收件人手机号": "137 0000 1111",
        "订单提交时间": "2024-03-10 11:00:00", "支付完成时间": "2024-03-10 11:00:05",
        "订单状态": "备货中",
    }  # fmt: skip
    d = {
        "订单应付金额": "44.00", "收件人": "陈*", "收件人手机号": "138****5678",
        "订单提交时间": "2024-03-11 11:00:00", "订单状态": "已退货待处理",
    }  # fmt: skip
    return [
        sub_order(A, "6921000000000002", "龙井茶 礼盒装", "1", "59.90", "TEA-BOX", **a),
        sub_order(A, "6921000000000003", "青瓷茶杯", "2", "29.90", "CUP-QC", **a),
        sub_order(B, "6921000000000011", "茶巾", "1", "44.00", "", **b),
        sub_order(C, "6921000000000021", "茶巾", "1", "44.00", "", **c),
        sub_order(D, "6921000000000031", "茶巾", "1", "44.00", "", **d),
    ]


def imp(engine: Engine, path: Path) -> Any:
    with session_scope(engine) as s:
        if not any(shop.code == "douyin" for shop in commerce.list_shops(s)):
            commerce.create_shop(
                s, code="douyin", name="抖店旗舰店", platform="douyin", currency="CNY",
                timezone="Asia/Shanghai",
            )  # fmt: skip
    return run_import(
        ImportRequest(kind="orders", path=path, mapping="douyin_orders", shop="douyin"),
        engine=engine,
    )


def test_douyin_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "抖店订单.csv", HEADER, export_rows(), encoding="utf-8-sig")
    s = imp(engine, path)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", 5, 4, 0, 0, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"unknown_status": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(6, "订单状态", "unknown_status", "已退货待处理")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, subtotal_minor, shipping_minor, total_minor, province, city, "
        "district, address, carrier, tracking_no FROM orders ORDER BY external_id",
    )
    assert orders == [
        (A, "completed", 11970, 0, 11970, "浙江省", "杭州市", "余杭区", "五常街道 文一西路969号",
         "中通快递", "75123456789012"),
        (B, "shipped", 4400, 500, 4900, "浙江省", "杭州市", "余杭区", "良渚街道 古墩路1号",
         None, None),
        (C, "paid", 4400, 0, 4400, "浙江省", "杭州市", "余杭区", None, None, None),
    ]  # fmt: skip
    # 子订单编号 is the line id, so a line keeps its identity across exports.
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.title, l.quantity, l.unit_price_minor, "
        "l.total_minor FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "ORDER BY l.line_key",
    )
    assert lines == [
        (A, "6921000000000002", "TEA-BOX", "龙井茶 礼盒装", 1, 5990, 5990),
        (A, "6921000000000003", "CUP-QC", "青瓷茶杯", 2, 2990, 5980),
        (B, "6921000000000011", None, "茶巾", 1, 4400, 4400),
        (C, "6921000000000021", None, "茶巾", 1, 4400, 4400),
    ]
    times = table_rows(
        engine, f"SELECT placed_at, paid_at FROM orders WHERE external_id IN ('{A}', '{B}') "
        "ORDER BY external_id",
    )  # fmt: skip
    assert [(utc(p), utc(q)) for p, q in times] == [
        ("2024-03-08 12:15:33", "2024-03-08 12:16:01"),
        ("2024-03-09 01:05:00", "2024-03-09 01:05:10"),
    ]


def test_douyin_buyers(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "抖店订单.csv", HEADER, export_rows(), encoding="utf-8-sig"))
    people = table_rows(
        engine,
        "SELECT c.name, c.phone, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c WHERE c.merged_into_id IS NULL ORDER BY c.id",
    )
    # A masked phone identifies nobody; the decrypted phone joins 赵六's two orders.
    assert people == [("陈*", None, 1), ("赵六", "+8613700001111", 2)]
    weak = table_rows(engine, "SELECT kind, value, strong FROM identities WHERE NOT strong")
    assert [(k, v) for k, v, _ in weak] == [("masked_phone", "138****5678")]


def test_reimport_and_a_changed_sub_order(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "v1.csv", HEADER, export_rows(), encoding="utf-8-sig"))
    rows = export_rows()
    rows[1][HEADER.index("商品数量")] = "3"
    s = imp(engine, write_csv(tmp_path / "v2.csv", HEADER, rows, encoding="utf-8-sig"))
    # The order's content changed: both of its rows count as updated.
    assert (s.inserted, s.updated, s.unchanged, s.quarantined) == (0, 2, 2, 1)
    assert table_rows(
        engine, "SELECT quantity, total_minor FROM order_lines WHERE line_key = '6921000000000003'"
    ) == [(3, 8970)]
    # 陈*'s order is known by a masked phone only: it keeps its customer, no new profile.
    assert table_rows(engine, "SELECT COUNT(*) FROM customers") == [(2,)]
