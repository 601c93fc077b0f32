"""Taobao/Tmall seller-centre exports through the built-in mappings, end to end.

The files are written the way the seller centre writes them: GBK with CRLF line ends, long ids
Excel-escaped as ``="3612…"`` (or followed by a tab), masked buyer phones and the whole address
in one cell. Three reports are imported in the order a seller does: 订单报表 (orders), 宝贝报表
(their lines) and 退款报表 (refunds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from conftest import table_rows, utc
from patron.ingest.mappings import taobao
from patron.ingest.tasks import ImportRequest, run_import

ORDER_HEADER = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "买家支付积分",
    "总金额",
    "返点积分",
    "买家实际支付金额",
    "买家实际支付积分",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "运送方式",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "宝贝种类",
    "物流单号",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
]
ITEM_HEADER = [
    "订单编号",
    "标题",
    "价格",
    "购买数量",
    "外部系统编号",
    "商品属性",
    "套餐信息",
    "备注",
    "订单状态",
    "商家编码",
]
REFUND_HEADER = [
    "订单编号",
    "退款编号",
    "支付宝交易号",
    "订单付款时间",
    "宝贝ID",
    "宝贝标题",
    "商家编码",
    "买家会员名称",
    "买家实际支付金额",
    "买家退款金额",
    "手工退款/系统退款",
    "是否需要退货",
    "售后类型",
    "退款的申请时间",
    "超时时间",
    "退款状态",
    "货物状态",
    "买家退款原因",
    "买家退款说明",
    "售中或售后",
    "退款完结时间",
]

# Order ids as the seller centre writes them, and as Patron stores them.
O1, O2, O3, O4, O5, O6 = (f"361234567890123{i}" for i in range(1, 7))
ESCAPED = {O1: f'="{O1}"', O2: f"{O2}\t", O3: f'="{O3}"', O4: f"'{O4}", O5: f'="{O5}"\t'}


def order_row(
    oid: str,
    nick: str,
    status: str,
    *,
    receiver: str = "",
    address: str = "",
    mobile: str = "",
    created: str = "2024-01-05 10:00:00",
    paid: str = "",
    goods: str = "0.00",
    postage: str = "0.00",
    actual: str = "0.00",
    carrier: str = "",
    tracking: str = "",
    close_reason: str = "",
) -> list[str]:
    values = {
        "订单编号": ESCAPED.get(oid, oid),
        "买家会员名": nick,
        "买家支付宝账号": "**",
        "买家应付货款": goods,
        "买家应付邮费": postage,
        "买家支付积分": "0",
        "总金额": f"{float(goods) + float(postage):.2f}",
        "返点积分": "0",
        "买家实际支付金额": actual,
        "买家实际支付积分": "0",
        "订单状态": status,
        "买家留言": "",
        "收货人姓名": receiver,
        "收货地址": address,
        "运送方式": "快递",
        "联系电话": "",
        "联系手机": mobile,
        "订单创建时间": created,
        "订单付款时间": paid,
        "宝贝标题": "纯棉T恤 男款",
        "宝贝种类": "1",
        "物流单号": f'="{tracking}"' if tracking else "",
        "物流公司": carrier,
        "订单备注": "",
        "宝贝总数量": "1",
        "店铺Id": "0",
        "店铺名称": "Tmall flagship",
        "订单关闭原因": close_reason,
    }
    return [values[c] for c in ORDER_HEADER]


def write_export(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A seller-centre CSV: GBK, CRLF, fields unquoted unless they hold a comma or a quote that
    is not an Excel escape (the escapes are written raw, like the real export)."""

    def cell(value: str) -> str:
        if value.startswith('="') or not any(c in value for c in ',"\r\n'):
            return value
        return '"' + value.replace('"', '""') + '"'

    lines = [",".join(cell(v) for v in row) for row in [header, *rows]]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def counts(summary: Any) -> tuple[Any, ...]:
    return (
        summary.status,
        summary.rows_read,
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.quarantined,
        summary.quarantined_by_code,
    )


def imp(engine: Engine, kind: str, mapping: str, path: Path) -> Any:
    return run_import(ImportRequest(kind=kind, path=path, mapping=mapping, shop="tmall"), engine=engine)


def order_rows() -> list[list[str]]:
    return [
        order_row(
            O1,
            "小明2024",
            "交易成功",
            receiver="王小明",
            address="浙江省 杭州市 西湖区 文三路100号(310000)",
            mobile="138****5678",
            paid="2024-01-05 10:01:00",
            goods="199.00",
            postage="10.00",
            actual="189.00",
            carrier="中通快递",
            tracking="78812345678901",
        ),
        order_row(
            O2,
            "lily_w",
            "卖家已发货，等待买家确认",
            receiver="林莉",
            address="上海 上海市 浦东新区 张江镇 碧波路690号(201203)",
            mobile="138****5678",
            created="2024-01-06 21:30:00",
            paid="2024-01-06 21:31:05",
            goods="30.00",
            actual="30.00",
            carrier="圆通速递",
            tracking="YT1234567890",
        ),
        order_row(
            O3,
            "bob_zhang",
            "买家已付款，等待卖家发货",
            receiver="张波",
            address="北京 北京市 朝阳区 建国路88号(100022)",
            mobile="'13912345678",
            created="2024-01-07 08:00:00",
            paid="2024-01-07 08:00:30",
            goods="99.50",
            actual="99.50",
        ),
        order_row(
            O4,
            "张波的小号",
            "等待买家付款",
            receiver="张波",
            address="广东省 深圳市 南山区 深南大道9988号",
            mobile="139 1234 5678",
            created="2024-01-08 12:00:00",
            goods="99.50",
            actual="0.00",
        ),
        order_row(
            O5,
            "小明2024",
            "交易关闭",
            receiver="王小明",
            address="浙江省 杭州市 西湖区 文三路100号(310000)",
            mobile="138****5678",
            created="2024-01-09 09:00:00",
            goods="50.00",
            actual="0.00",
            close_reason="买家不想买了",
        ),
        order_row(O6, "火星人", "已被外星人劫持", created="2024-01-09 10:00:00"),
    ]


def import_orders(engine: Engine, tmp_path: Path) -> Any:
    return imp(
        engine, "orders", "taobao_orders", write_export(tmp_path / "订单报表.csv", ORDER_HEADER, order_rows())
    )


def test_order_report(engine: Engine, shops: object, tmp_path: Path) -> None:
    s = import_orders(engine, tmp_path)
    assert counts(s) == ("completed", 6, 5, 0, 0, 1, {"unknown_status": 1})
    assert (s.format, s.encoding, s.mapping) == ("csv", "gb18030", "taobao_orders")
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(7, "订单状态", "unknown_status", "已被外星人劫持")]

    orders = table_rows(
        engine,
        "SELECT external_id, status, raw_status, currency, subtotal_minor, discount_minor, "
        "shipping_minor, total_minor, province, city, district, address, carrier, tracking_no "
        "FROM orders ORDER BY external_id",
    )
    assert orders == [
        (O1, "completed", "交易成功", "CNY", 19900, 0, 1000, 18900, "浙江省", "杭州市", "西湖区",
         "文三路100号", "中通快递", "78812345678901"),
        (O2, "shipped", "卖家已发货，等待买家确认", "CNY", 3000, 0, 0, 3000, "上海", "上海市",
         "浦东新区", "张江镇 碧波路690号", "圆通速递", "YT1234567890"),
        (O3, "paid", "买家已付款，等待卖家发货", "CNY", 9950, 0, 0, 9950, "北京", "北京市",
         "朝阳区", "建国路88号", None, None),
        (O4, "pending", "等待买家付款", "CNY", 9950, 0, 0, 0, "广东省", "深圳市", "南山区",
         "深南大道9988号", None, None),
        (O5, "closed", "交易关闭", "CNY", 5000, 0, 0, 0, "浙江省", "杭州市", "西湖区",
         "文三路100号", None, None),
    ]  # fmt: skip
    times = table_rows(engine, "SELECT external_id, placed_at, paid_at FROM orders ORDER BY external_id")
    # Beijing time in the export, UTC in storage.
    assert [(e, utc(p), utc(q)) for e, p, q in times] == [
        (O1, "2024-01-05 02:00:00", "2024-01-05 02:01:00"),
        (O2, "2024-01-06 13:30:00", "2024-01-06 13:31:05"),
        (O3, "2024-01-07 00:00:00", "2024-01-07 00:00:30"),
        (O4, "2024-01-08 04:00:00", None),
        (O5, "2024-01-09 01:00:00", None),
    ]
    assert table_rows(engine, "SELECT COUNT(*) FROM order_lines") == [(0,)]


def test_masked_phones_never_merge_full_phones_do(engine: Engine, shops: object, tmp_path: Path) -> None:
    import_orders(engine, tmp_path)
    people = table_rows(
        engine,
        "SELECT c.name, c.phone, c.province, c.orders_count, c.spent_minor, "
        "(SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) "
        "FROM customers c WHERE c.merged_into_id IS NULL ORDER BY c.id",
    )
    # 小明 and lily share the masked phone 138****5678 but stay two people; bob_zhang and his
    # second account share the full phone 139 1234 5678 and become one. Closed and unpaid
    # orders do not count as purchases.
    assert people == [
        ("王小明", None, "浙江省", 1, 18900, 2),
        ("林莉", None, "上海", 1, 3000, 1),
        ("张波", "+8613912345678", "北京", 1, 9950, 2),
    ]
    identities = table_rows(
        engine,
        "SELECT c.name, i.kind, i.namespace, i.value, i.strong FROM identities i "
        "JOIN customers c ON c.id = i.customer_id ORDER BY c.id, i.kind, i.value",
    )
    assert [(n, k, ns, v, bool(s)) for n, k, ns, v, s in identities] == [
        ("王小明", "buyer_nick", "taobao", "小明2024", True),
        ("王小明", "masked_phone", "", "138****5678", False),
        ("林莉", "buyer_nick", "taobao", "lily_w", True),
        ("林莉", "masked_phone", "", "138****5678", False),
        ("张波", "buyer_nick", "taobao", "bob_zhang", True),
        ("张波", "buyer_nick", "taobao", "张波的小号", True),
        ("张波", "phone", "", "+8613912345678", True),
    ]
    owners = table_rows(
        engine,
        "SELECT o.external_id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
        "ORDER BY o.external_id",
    )
    assert owners == [(O1, "王小明"), (O2, "林莉"), (O3, "张波"), (O4, "张波"), (O5, "王小明")]


def test_reimport_is_unchanged(engine: Engine, shops: object, tmp_path: Path) -> None:
    import_orders(engine, tmp_path)
    s = import_orders(engine, tmp_path)
    assert counts(s) == ("completed", 6, 0, 0, 5, 1, {"unknown_status": 1})
    assert table_rows(engine, "SELECT COUNT(*) FROM customers") == [(3,)]
    assert table_rows(engine, "SELECT COUNT(*) FROM identities") == [(7,)]


# Every status word of the mapping, with what it must mean. Kept apart from the mapping so a
# word added there needs a reviewed expectation here.
EXPECTED_STATUS = {
    "交易成功": "completed",
    "已完成": "completed",
    "完成": "completed",
    "已签收": "delivered",
    "已收货": "delivered",
    "交易关闭": "closed",
    "已关闭": "closed",
    "未支付，交易关闭": "closed",
    "未支付,交易关闭": "closed",
    "已取消": "cancelled",
    "订单取消": "cancelled",
    "(删除)等待出库": "cancelled",
    "卖家已发货，等待买家确认": "shipped",
    "卖家已发货,等待买家确认": "shipped",
    "卖家已发货": "shipped",
    "已发货": "shipped",
    "已发货，待签收": "shipped",
    "已发货,待签收": "shipped",
    "部分发货": "shipped",
    "卖家部分发货": "shipped",
    "等待确认收货": "shipped",
    "买家已付款，等待卖家发货": "paid",
    "买家已付款,等待卖家发货": "paid",
    "等待卖家发货": "paid",
    "备货中": "paid",
    "待发货": "paid",
    "等待出库": "paid",
    "已付款": "paid",
    "等待买家付款": "pending",
    "待付款": "pending",
    "待支付": "pending",
    "未付款": "pending",
    "锁定": "pending",
    "退款成功": "refunded",
    "已退款": "refunded",
    "未发货，退款成功": "refunded",
    "未发货,退款成功": "refunded",
    "已发货，退款成功": "refunded",
    "已发货,退款成功": "refunded",
}


def test_every_status_word(engine: Engine, shops: object, tmp_path: Path) -> None:
    assert set(taobao.ORDERS.status_map) == set(EXPECTED_STATUS)
    words = [*EXPECTED_STATUS, "交易 成功", "TRADE_FINISHED"]
    rows = [
        order_row(f"9{i:015d}", f"buyer{i}", word, created="2024-02-01 10:00:00")
        for i, word in enumerate(words)
    ]
    s = imp(engine, "orders", "taobao_orders", write_export(tmp_path / "o.csv", ORDER_HEADER, rows))
    assert counts(s) == ("completed", len(words), len(EXPECTED_STATUS), 0, 0, 2, {"unknown_status": 2})
    stored = dict(table_rows(engine, "SELECT raw_status, status FROM orders"))
    assert stored == EXPECTED_STATUS
    q = table_rows(engine, "SELECT value FROM quarantine_rows ORDER BY row_number")
    assert q == [("交易 成功",), ("TRADE_FINISHED",)]


def item_rows() -> list[list[str]]:
    return [
        [f'="{O1}"', "纯棉T恤 男款", "99.50", "1", "", "颜色分类:白色;尺码:L", "", "", "交易成功", "TS-001"],
        [f'="{O1}"', "纯棉T恤 男款", "99.50", "1", "", "颜色分类:黑色;尺码:L", "", "", "交易成功", "TS-001"],
        [f"{O2}\t", "运动袜 三双装", "10.00", "3", "SOCK-9", "", "", "", "卖家已发货，等待买家确认", ""],
        [f'="{O3}"', "渔夫帽", "99.50", "1", "", "", "", "", "买家已付款，等待卖家发货", "HAT-1"],
        ['="3619999999999999"', "没导入的订单", "5.00", "1", "", "", "", "", "交易成功", "X-1"],
        [f'="{O5}"', "纯棉T恤 男款", "50.00", "1", "", "", "", "", "交易成功", "TS-001"],
    ]  # fmt: skip


def test_item_report_adds_lines(engine: Engine, shops: object, tmp_path: Path) -> None:
    import_orders(engine, tmp_path)
    items = write_export(tmp_path / "宝贝报表.csv", ITEM_HEADER, item_rows())
    s = imp(engine, "order_items", "taobao_items", items)
    assert counts(s) == ("completed", 6, 5, 0, 0, 1, {"unknown_order": 1})
    q = table_rows(
        engine,
        f'SELECT row_number, "column", code, value FROM quarantine_rows WHERE import_run_id = {s.run_id}',
    )
    assert q == [(6, "订单编号", "unknown_order", "3619999999999999")]
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.title, l.quantity, l.unit_price_minor, "
        "l.total_minor FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "ORDER BY o.external_id, l.line_key",
    )
    assert lines == [
        (O1, "TS-001#1", "TS-001", "纯棉T恤 男款", 1, 9950, 9950),
        (O1, "TS-001#2", "TS-001", "纯棉T恤 男款", 1, 9950, 9950),
        (O2, "SOCK-9#1", "SOCK-9", "运动袜 三双装", 3, 1000, 3000),
        (O3, "HAT-1#1", "HAT-1", "渔夫帽", 1, 9950, 9950),
        (O5, "TS-001#1", "TS-001", "纯棉T恤 男款", 1, 5000, 5000),
    ]
    subtotals = table_rows(engine, "SELECT external_id, subtotal_minor FROM orders ORDER BY 1")
    assert subtotals == [(O1, 19900), (O2, 3000), (O3, 9950), (O4, 9950), (O5, 5000)]

    again = imp(engine, "order_items", "taobao_items", items)
    assert counts(again) == ("completed", 6, 0, 0, 5, 1, {"unknown_order": 1})

    # A later 订单报表 (same orders, one has moved on) must not drop the lines of 宝贝报表.
    rows = order_rows()
    rows[2][ORDER_HEADER.index("订单状态")] = "卖家已发货，等待买家确认"
    later = write_export(tmp_path / "订单报表2.csv", ORDER_HEADER, rows)
    s = imp(engine, "orders", "taobao_orders", later)
    assert counts(s) == ("completed", 6, 0, 1, 4, 1, {"unknown_status": 1})
    assert table_rows(engine, "SELECT COUNT(*) FROM order_lines") == [(5,)]
    assert table_rows(engine, f"SELECT status FROM orders WHERE external_id = '{O3}'") == [("shipped",)]


def refund_row(
    oid: str,
    refund_id: str,
    amount: str,
    *,
    rtype: str = "",
    needs_return: str = "否",
    status: str = "退款成功",
    requested: str = "2024-01-08 09:00:00",
    completed: str = "",
    sku: str = "",
    reason: str = "",
    nick: str = "",
) -> list[str]:
    values = {
        "订单编号": f'="{oid}"',
        "退款编号": f'="{refund_id}"',
        "支付宝交易号": '="2024010522001100000000000000"',
        "订单付款时间": "2024-01-05 10:01:00",
        "宝贝ID": '="612345678901"',
        "宝贝标题": "纯棉T恤 男款",
        "商家编码": sku,
        "买家会员名称": nick,
        "买家实际支付金额": "189.00",
        "买家退款金额": amount,
        "手工退款/系统退款": "系统退款",
        "是否需要退货": needs_return,
        "售后类型": rtype,
        "退款的申请时间": requested,
        "超时时间": "",
        "退款状态": status,
        "货物状态": "买家已收到货",
        "买家退款原因": reason,
        "买家退款说明": "",
        "售中或售后": "售中",
        "退款完结时间": completed,
    }
    return [values[c] for c in REFUND_HEADER]


def test_refund_report(engine: Engine, shops: object, tmp_path: Path) -> None:
    import_orders(engine, tmp_path)
    rows = [
        refund_row(O1, "R1", "50.00", rtype="仅退款", completed="2024-01-10 12:00:00",
                   sku="TS-001", reason="七天无理由退换货", nick="小明2024"),
        refund_row(O2, "R2", "30.00", rtype="退货退款", needs_return="是",
                   status="买家已经退货，等待卖家确认收货", reason="尺码不合适"),
        refund_row(O3, "R3", "99.50", status="卖家拒绝退款"),  # 售后类型 empty: 是否需要退货 = 否
        refund_row(O4, "R4", "￥99.50", rtype="换货", status="买家已经申请退款，等待卖家同意"),
        refund_row(O1, "R5", "0.01", rtype="补寄", status="退款关闭"),
        refund_row("3619999999999999", "R6", "1.00", rtype="仅退款"),
        refund_row(O1, "R7", "1.00", rtype="仅退款", status="退款进行中"),
        refund_row(O1, "R8", "1.00", rtype="退一赔三"),
    ]  # fmt: skip
    path = write_export(tmp_path / "退款报表.csv", REFUND_HEADER, rows)
    s = imp(engine, "refunds", "taobao_refunds", path)
    assert counts(s) == (
        "completed", 8, 5, 0, 0, 3,
        {"unknown_order": 1, "unknown_refund_type": 1, "unknown_status": 1},
    )  # fmt: skip
    q = table_rows(
        engine,
        'SELECT row_number, "column", code, value FROM quarantine_rows '
        f"WHERE import_run_id = {s.run_id} ORDER BY 1",
    )
    assert q == [
        (7, "订单编号", "unknown_order", "3619999999999999"),
        (8, "退款状态", "unknown_status", "退款进行中"),
        (9, "售后类型", "unknown_refund_type", "退一赔三"),
    ]
    refunds = table_rows(
        engine,
        "SELECT r.external_id, o.external_id, c.name, r.type, r.status, r.amount_minor, "
        "r.currency, r.sku, r.reason FROM refunds r JOIN orders o ON o.id = r.order_id "
        "JOIN customers c ON c.id = r.customer_id ORDER BY r.external_id",
    )
    assert refunds == [
        ("R1", O1, "王小明", "refund_only", "completed", 5000, "CNY", "TS-001", "七天无理由退换货"),
        ("R2", O2, "林莉", "return_refund", "approved", 3000, "CNY", None, "尺码不合适"),
        ("R3", O3, "张波", "refund_only", "rejected", 9950, "CNY", None, None),
        ("R4", O4, "张波", "exchange", "requested", 9950, "CNY", None, None),
        ("R5", O1, "王小明", "reship", "cancelled", 1, "CNY", None, None),
    ]
    times = table_rows(engine, "SELECT external_id, requested_at, completed_at FROM refunds ORDER BY 1")
    assert [(r, utc(a), utc(b)) for r, a, b in times][:2] == [
        ("R1", "2024-01-08 01:00:00", "2024-01-10 04:00:00"),
        ("R2", "2024-01-08 01:00:00", None),
    ]
    again = imp(engine, "refunds", "taobao_refunds", path)
    assert (again.inserted, again.unchanged, again.quarantined) == (0, 5, 3)


EXPECTED_REFUND_STATUS = {
    "退款成功": "completed",
    "退款完成": "completed",
    "已退款": "completed",
    "退款关闭": "cancelled",
    "已关闭": "cancelled",
    "卖家拒绝退款": "rejected",
    "已拒绝": "rejected",
    "买家已经申请退款，等待卖家同意": "requested",
    "买家已经申请退款,等待卖家同意": "requested",
    "待处理": "requested",
    "卖家已经同意退款，等待买家退货": "approved",
    "卖家已经同意退款,等待买家退货": "approved",
    "买家已经退货，等待卖家确认收货": "approved",
    "买家已经退货,等待卖家确认收货": "approved",
    "已同意": "approved",
}
EXPECTED_REFUND_TYPE = {
    "仅退款": "refund_only",
    "退货退款": "return_refund",
    "换货": "exchange",
    "补寄": "reship",
    "否": "refund_only",
    "是": "return_refund",
}


@pytest.mark.parametrize("column", ["status", "type"])
def test_every_refund_word(engine: Engine, shops: object, tmp_path: Path, column: str) -> None:
    table = EXPECTED_REFUND_STATUS if column == "status" else EXPECTED_REFUND_TYPE
    mapping_table = taobao.REFUNDS.refund_status_map if column == "status" else taobao.REFUNDS.refund_type_map
    assert set(mapping_table) == set(table)
    import_orders(engine, tmp_path)
    rows = [
        refund_row(O1, f"W{i}", "1.00", **({column: word} if column == "status" else {"rtype": word}))
        for i, word in enumerate(table)
    ]
    s = imp(engine, "refunds", "taobao_refunds", write_export(tmp_path / "r.csv", REFUND_HEADER, rows))
    assert (s.inserted, s.quarantined) == (len(table), 0)
    stored = dict(table_rows(engine, f"SELECT external_id, {column} FROM refunds"))
    assert stored == {f"W{i}": want for i, want in enumerate(table.values())}
