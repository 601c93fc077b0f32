"""京东 (JD) POP merchant order export: one row per order item."""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping
from patron.ingest.mappings._common import line_key_by_sku, split_cn_address
from patron.ingest.mappings.statuses import CN_ORDER_STATUS

Row = dict[str, object]


def _orders() -> Callable[[Row], Row]:
    keyed = line_key_by_sku()

    def fix(row: Row) -> Row:
        return keyed(split_cn_address(row))

    return fix


ORDERS = Mapping(
    name="jd_orders",
    kind="orders",
    label="京东 订单导出",
    platform="jd",
    columns={
        "order_id": "订单号",
        "sku": "商品ID",
        "title": "商品名称",
        "quantity": "订购数量",
        "unit_price": "京东价",
        "subtotal": "订单金额",
        "order_total": "应付金额",
        "shipping": "运费金额",
        "status": "订单状态",
        "placed_at": "下单时间",
        "paid_at": "付款确认时间",
        "customer_name": "客户姓名",
        "buyer_nick": "下单帐号",
        "address": "客户地址",
        "phone": "联系电话",
    },
    status_map=CN_ORDER_STATUS,
    transform=_orders,
)

MAPPINGS = (ORDERS,)
