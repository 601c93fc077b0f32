"""拼多多 merchant backend order export through the built-in ``pinduoduo_orders`` mapping.

One row per order (one goods item each). Discounts come in two columns, the shop's and the
platform's, which add up to the order's discount.
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
    "商品",
    "订单号",
    "订单状态",
    "商品总价(元)",
    "店铺优惠折扣(元)",
    "平台优惠折扣(元)",
    "多多支付立减金额(元)",
    "邮费(元)",
    "用户实付金额(元)",
    "商家实收金额(元)",
    "商品数量(件)",
    "身份证姓名",
    "身份证号码",
    "收货人",
    "手机",
    "是否审核中",
    "省",
    "市",
    "区",
    "街道",
    "支付时间",
    "拼单成功时间",
    "订单成交时间",
    "发货时间",
    "确认收货时间",
    "商品id",
    "商品规格",
    "用户购买手机号",
    "样式ID",
    "商家编码-SKU维度",
    "商家编码-商品维度",
    "商家备注",
    "快递单号",
    "快递公司",
    "售后状态",
]


def order(oid: str, status: str, goods: str, shop_d: str, platform_d: str, paid: str, **kw: str) -> list[str]:
    values = {
        "商品": "高山绿茶 500g",
        "订单号": oid,
        "订单状态": status,
        "商品总价(元)": goods,
        "店铺优惠折扣(元)": shop_d,
        "平台优惠折扣(元)": platform_d,
        "多多支付立减金额(元)": "0",
        "邮费(元)": "0",
        "用户实付金额(元)": paid,
        "商家实收金额(元)": paid,
        "商品数量(件)": "1",
        "收货人": "刘**",
        "手机": "150****1234",
        "是否审核中": "否",
        "省": "四川省",
        "市": "成都市",
        "区": "武侯区",
        "街道": "科华北路65号",
        "支付时间": "2024-03-08 20:00:05",
        "拼单成功时间": "2024-03-08 20:00:06",
        "订单成交时间": "2024-03-08 20:00:06",
        "商品id": "512345678901",
        "商品规格": "500g",
        "样式ID": "1234567890",
        "商家编码-SKU维度": "TEA-500",
        "商家编码-商品维度": "TEA",
        "售后状态": "无售后或售后取消",
        **kw,
    }
    return [values.get(c, "") for c in HEADER]


def export_rows() -> list[list[str]]:
    return [
        order("240308-000000000000001", "已签收", "59.80", "3.00", "5.00", "51.80",
              **{"商品数量(件)": "2", "发货时间": "2024-03-09 10:00:00",
                 "确认收货时间": "2024-03-12 18:00:00", "快递公司": "韵达快递",
                 "快递单号": "4312345678901"}),
        order("240308-000000000000002", "已发货，待签收", "29.90", "2.50", "", "27.40",
              **{"商家编码-SKU维度": "", "发货时间": "2024-03-09 10:00:00"}),
        order("240308-000000000000003", "未发货，退款成功", "29.90", "", "1.00", "28.90",
              售后状态="退款成功"),
        order("240308-000000000000004", "待发货", "29.90", "0.00", "0.00", "32.90",
              **{"邮费(元)": "3.00", "支付时间": ""}),
        order("240308-000000000000005", "待发货", "29.90", "一元", "0.00", "28.90"),
    ]  # fmt: skip


def imp(engine: Engine, path: Path) -> Any:
    with session_scope(engine) as s:
        if not any(shop.code == "pdd" for shop in commerce.list_shops(s)):
            commerce.create_shop(
                s, code="pdd", name="拼多多店", platform="pinduoduo", currency="CNY",
                timezone="Asia/Shanghai",
            )  # fmt: skip
    return run_import(
        ImportRequest(kind="orders", path=path, mapping="pinduoduo_orders", shop="pdd"),
        engine=engine,
    )


def test_pinduoduo_orders(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders_export.csv", HEADER, export_rows(), encoding="utf-8-sig")
    s = imp(engine, path)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed", 5, 4, 0, 0, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"bad_money": 1}
    q = table_rows(engine, "SELECT row_number, code, value FROM quarantine_rows")
    assert q == [(6, "bad_money", "一元")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, subtotal_minor, discount_minor, shipping_minor, total_minor, "
        "province, city, district, address FROM orders ORDER BY external_id",
    )
    # Shop discount + platform discount = the order's discount; either may be blank.
    assert orders == [
        ("240308-000000000000001", "delivered", 5980, 800, 0, 5180, "四川省", "成都市", "武侯区",
         "科华北路65号"),
        ("240308-000000000000002", "shipped", 2990, 250, 0, 2740, "四川省", "成都市", "武侯区",
         "科华北路65号"),
        ("240308-000000000000003", "refunded", 2990, 100, 0, 2890, "四川省", "成都市", "武侯区",
         "科华北路65号"),
        ("240308-000000000000004", "paid", 2990, 0, 300, 3290, "四川省", "成都市", "武侯区",
         "科华北路65号"),
    ]  # fmt: skip
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.quantity, l.unit_price_minor, l.total_minor "
        "FROM order_lines l JOIN orders o ON o.id = l.order_id ORDER BY o.external_id",
    )
    assert lines == [
        ("240308-000000000000001", "TEA-500#1", "TEA-500", 2, 2990, 5980),
        ("240308-000000000000002", "TEA#1", "TEA", 1, 2990, 2990),
        ("240308-000000000000003", "TEA-500#1", "TEA-500", 1, 2990, 2990),
        ("240308-000000000000004", "TEA-500#1", "TEA-500", 1, 2990, 2990),
    ]
    times = table_rows(
        engine,
        "SELECT placed_at, paid_at, shipped_at, delivered_at, carrier, tracking_no FROM orders "
        "WHERE external_id = '240308-000000000000001'",
    )
    assert [(utc(a), utc(b), utc(c), utc(d), e, f) for a, b, c, d, e, f in times] == [
        ("2024-03-08 12:00:06", "2024-03-08 12:00:05", "2024-03-09 02:00:00",
         "2024-03-12 10:00:00", "韵达快递", "4312345678901"),
    ]  # fmt: skip
    # Every buyer's phone is masked: four orders, four people, nobody merged.
    assert table_rows(engine, "SELECT COUNT(*) FROM customers") == [(4,)]
    assert table_rows(
        engine, "SELECT kind, COUNT(*), COUNT(DISTINCT customer_id) FROM identities GROUP BY kind"
    ) == [("masked_phone", 4, 4)]


def test_reimport_is_unchanged(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders_export.csv", HEADER, export_rows(), encoding="utf-8-sig")
    imp(engine, path)
    s = imp(engine, path)
    assert (s.inserted, s.updated, s.unchanged, s.quarantined) == (0, 0, 4, 1)
    # A masked phone cannot find its owner again: known orders keep their customers instead of
    # getting a new profile on every re-import.
    assert table_rows(engine, "SELECT COUNT(*) FROM customers") == [(4,)]
    assert table_rows(engine, "SELECT COUNT(DISTINCT customer_id) FROM orders") == [(4,)]
