"""Platform status words -> Patron enums, shared by the Chinese marketplaces.

Marketplaces word the same state differently (交易成功 on Taobao, 已完成 on 抖店, 已签收 on
拼多多); one dictionary keeps them consistent. Unknown words are an import error, never guessed.
"""

from __future__ import annotations

CN_ORDER_STATUS = {
    "交易成功": "completed",
    "已完成": "completed",
    "完成": "completed",
    "已签收": "delivered",
    "已收货": "delivered",
    "交易关闭": "closed",
    "已关闭": "closed",
    "未支付，交易关闭": "closed",  # 拼多多
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
    "卖家部分发货": "shipped",  # Taobao SELLER_CONSIGNED_PART
    "等待确认收货": "shipped",
    "买家已付款，等待卖家发货": "paid",
    "买家已付款,等待卖家发货": "paid",
    "等待卖家发货": "paid",
    "备货中": "paid",  # 抖店: paid, being packed
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
    "未发货，退款成功": "refunded",  # 拼多多
    "未发货,退款成功": "refunded",
    "已发货，退款成功": "refunded",
    "已发货,退款成功": "refunded",
}
CN_REFUND_STATUS = {
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
CN_REFUND_TYPE = {
    "仅退款": "refund_only",
    "退货退款": "return_refund",
    "换货": "exchange",
    "补寄": "reship",
    "否": "refund_only",  # 是否需要退货 = 否
    "是": "return_refund",
}
EN_ORDER_STATUS = {
    s: s
    for s in (
        "pending",
        "paid",
        "shipped",
        "delivered",
        "completed",
        "cancelled",
        "closed",
        "refunded",
    )
}
EN_REFUND_STATUS = {
    **{s: s for s in ("requested", "approved", "rejected", "completed", "cancelled")},
    "pending": "requested",
    "processing": "approved",
    "refunded": "completed",
    "declined": "rejected",
    "canceled": "cancelled",
}
EN_REFUND_TYPE = {s: s for s in ("refund_only", "return_refund", "exchange", "reship")}
CN_GENDER = {"男": "male", "女": "female", "未知": "unknown", "M": "male", "F": "female"}
