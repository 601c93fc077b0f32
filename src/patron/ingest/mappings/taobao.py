"""Taobao / Tmall seller-centre exports: 订单报表 (orders), 宝贝报表 (items), 退款报表 (refunds).

They come as GBK CSV with Excel-escaped ids (``="3612…"``). The order report has no line items
(those are in 宝贝报表) and no buyer id other than the member name (买家会员名); phones are
usually masked.
"""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping
from patron.ingest.mappings._common import line_key_by_sku, split_cn_address
from patron.ingest.mappings.statuses import CN_ORDER_STATUS, CN_REFUND_STATUS, CN_REFUND_TYPE

Row = dict[str, object]


def _orders() -> Callable[[Row], Row]:
    def fix(row: Row) -> Row:
        split_cn_address(row)
        if row.get("customer_name") is None and row.get("receiver_name"):
            row["customer_name"] = row["receiver_name"]
        row.pop("receiver_name", None)
        return row

    return fix


ORDERS = Mapping(
    name="taobao_orders",
    kind="orders",
    label="Taobao/Tmall 订单报表",
    platform="taobao",
    columns={
        "order_id": "订单编号",
        "buyer_nick": "买家会员名",
        "subtotal": "买家应付货款",
        "shipping": "买家应付邮费",
        "order_total": "买家实际支付金额",
        "gross_total": "总金额",
        "item_count": "宝贝总数量",
        "status": "订单状态",
        "receiver_name": "收货人姓名",
        "address": "收货地址",
        "phone": "联系手机",
        "placed_at": "订单创建时间",
        "paid_at": "订单付款时间",
        "carrier": "物流公司",
        "tracking_no": "物流单号",
        "close_reason": "订单关闭原因",
    },
    status_map=CN_ORDER_STATUS,
    transform=_orders,
)


def _items() -> Callable[[Row], Row]:
    keyed = line_key_by_sku()

    def fix(row: Row) -> Row:
        # 商家编码 is often left blank where 外部系统编号 holds the seller's code.
        outer = row.pop("outer_id", None)
        if row.get("sku") is None and outer is not None:
            row["sku"] = outer
        return keyed(row)

    return fix


ITEMS = Mapping(
    name="taobao_items",
    kind="order_items",
    label="Taobao/Tmall 宝贝报表",
    platform="taobao",
    columns={
        "order_id": "订单编号",
        "title": "标题",
        "unit_price": "价格",
        "quantity": "购买数量",
        "sku": "商家编码",
        "outer_id": "外部系统编号",
        "status": "订单状态",
    },
    status_map=CN_ORDER_STATUS,
    transform=_items,
)

REFUNDS = Mapping(
    name="taobao_refunds",
    kind="refunds",
    label="Taobao/Tmall 退款报表",
    platform="taobao",
    columns={
        "order_id": "订单编号",
        "refund_id": "退款编号",
        "completed_at": "退款完结时间",
        "requested_at": "退款的申请时间",
        "amount": "买家退款金额",
        "sku": "商家编码",
        "sku_tmall": "商品编码",
        "buyer_nick": "买家会员名称",
        "status": "退款状态",
        "reason": "买家退款原因",
        "reason_short": "退款原因",
        "type": "售后类型",
        "needs_return": "是否需要退货",
    },
    refund_status_map=CN_REFUND_STATUS,
    refund_type_map=CN_REFUND_TYPE,
    transform=lambda: _refunds,
)


def _refunds(row: Row) -> Row:
    """Older reports have no 售后类型: 是否需要退货 (是/否) tells the type. Tmall's report calls
    商家编码 商品编码; some exports shorten 买家退款原因 to 退款原因."""
    needs_return = row.pop("needs_return", None)
    if row.get("type") is None and needs_return is not None:
        row["type"] = needs_return
    for alias, canon in (("sku_tmall", "sku"), ("reason_short", "reason")):
        value = row.pop(alias, None)
        if row.get(canon) is None and value is not None:
            row[canon] = value
    return row


MAPPINGS = (ORDERS, ITEMS, REFUNDS)
