"""拼多多 merchant backend order export: one row per order (one goods item per order)."""

from __future__ import annotations

from collections.abc import Callable

from patron.ingest.mappings import Mapping
from patron.ingest.mappings._common import line_key_by_sku
from patron.ingest.mappings.statuses import CN_ORDER_STATUS

Row = dict[str, object]


def _orders() -> Callable[[Row], Row]:
    keyed = line_key_by_sku()

    def fix(row: Row) -> Row:
        goods_code = row.pop("sku_goods", None)  # 商家编码 at goods level when no SKU code
        if row.get("sku") is None and goods_code is not None:
            row["sku"] = goods_code
        street = row.pop("street", None)
        if street:
            row["address"] = f"{street} {row.get('address') or ''}".strip()
        # Discounts are given in two columns (shop and platform); the importer adds up the
        # parts of a tuple.
        shop_d, platform_d = row.pop("shop_discount", None), row.pop("platform_discount", None)
        if row.get("discount") is None and (shop_d is not None or platform_d is not None):
            row["discount"] = (shop_d, platform_d)
        return keyed(row)

    return fix


ORDERS = Mapping(
    name="pinduoduo_orders",
    kind="orders",
    label="拼多多 订单导出",
    platform="pinduoduo",
    columns={
        "order_id": "订单号",
        "title": "商品",
        "product_id": "商品id",
        "sku": "商家编码-SKU维度",
        "sku_goods": "商家编码-商品维度",
        "quantity": "商品数量(件)",
        "line_total": "商品总价(元)",
        "shop_discount": "店铺优惠折扣(元)",
        "platform_discount": "平台优惠折扣(元)",
        "shipping": "邮费(元)",
        "order_total": "用户实付金额(元)",
        "status": "订单状态",
        "placed_at": "订单成交时间",
        "paid_at": "支付时间",
        "shipped_at": "发货时间",
        "delivered_at": "确认收货时间",
        "customer_name": "收货人",
        "phone": "手机",
        "province": "省",
        "city": "市",
        "district": "区",
        "street": "街道",
        "carrier": "快递公司",
        "tracking_no": "快递单号",
    },
    status_map=CN_ORDER_STATUS,
    transform=_orders,
)

MAPPINGS = (ORDERS,)
