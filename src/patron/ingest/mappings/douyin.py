"""抖店 (Douyin shop) order export: one row per sub-order (子订单), which is our order line."""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping
from patron.ingest.mappings.statuses import CN_ORDER_STATUS

Row = dict[str, object]


def _orders() -> Callable[[Row], Row]:
    def fix(row: Row) -> Row:
        # The export calls the unit price 商品金额; some versions and ERPs say 商品单价.
        unit = row.pop("unit_price_alt", None)
        if row.get("unit_price") is None and unit is not None:
            row["unit_price"] = unit
        street = row.pop("street", None)
        if street and row.get("address"):
            row["address"] = f"{street} {row['address']}"
        elif street:
            row["address"] = street
        return row

    return fix


ORDERS = Mapping(
    name="douyin_orders",
    kind="orders",
    label="抖店 订单导出",
    platform="douyin",
    columns={
        "order_id": "主订单编号",
        "line_id": "子订单编号",
        "product_id": "商品ID",
        "sku": "商家编码",
        "title": "选购商品",
        "quantity": "商品数量",
        "unit_price": "商品金额",
        "unit_price_alt": "商品单价",
        "order_total": "订单应付金额",
        "shipping": "运费",
        "customer_name": "收件人",
        "phone": "收件人手机号",
        "province": "省",
        "city": "市",
        "district": "区",
        "street": "街道",
        "address": "详细地址",
        "placed_at": "订单提交时间",
        "paid_at": "支付完成时间",
        "status": "订单状态",
        "buyer_nick": "买家昵称",
        "carrier": "快递公司",
        "tracking_no": "快递单号",
    },
    status_map=CN_ORDER_STATUS,
    transform=_orders,
)

MAPPINGS = (ORDERS,)
