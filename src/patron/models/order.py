"""Orders, order lines and refunds. Money is integer minor units of ``currency``."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID, UTCDateTime
from patron.core.time import utcnow
from patron.models._types import created_at_column, id_column


class OrderStatus(enum.StrEnum):
    pending = "pending"
    paid = "paid"
    shipped = "shipped"
    delivered = "delivered"
    completed = "completed"
    cancelled = "cancelled"
    closed = "closed"
    refunded = "refunded"


class RefundType(enum.StrEnum):
    refund_only = "refund_only"  # 仅退款
    return_refund = "return_refund"  # 退货退款
    exchange = "exchange"  # 换货
    reship = "reship"  # 补寄


class RefundStatus(enum.StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    completed = "completed"
    cancelled = "cancelled"


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = id_column()
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    raw_status: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigID, default=0)
    discount_minor: Mapped[int] = mapped_column(BigID, default=0)
    shipping_minor: Mapped[int] = mapped_column(BigID, default=0)
    total_minor: Mapped[int] = mapped_column(BigID, default=0)
    coupon_code: Mapped[str | None] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    province: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_no: Mapped[str | None] = mapped_column(String(100))
    # The source's own modification time: a re-import only overwrites with a newer one.
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Digest of the imported content: an identical re-import is "unchanged", not "updated".
    content_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        Index("ix_orders_placed_at", "placed_at"),
        # Partial: most orders carry no coupon, so imports barely pay for it (loyalty asks whether
        # a coupon it issued was used before cancelling the reward).
        Index(
            "ix_orders_coupon",
            "coupon_code",
            sqlite_where=text("coupon_code IS NOT NULL"),
            postgresql_where=text("coupon_code IS NOT NULL"),
        ),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = id_column()
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    # The source's line id, or "<sku>#<n>" when the export has none.
    line_key: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigID)
    discount_minor: Mapped[int] = mapped_column(BigID, default=0)
    total_minor: Mapped[int] = mapped_column(BigID)

    __table_args__ = (UniqueConstraint("order_id", "line_key"),)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = id_column()
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    sku: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    amount_minor: Mapped[int] = mapped_column(BigID)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("shop_id", "external_id"),)


class FxRate(Base):
    """Rate to convert one unit of ``currency`` into ``quote`` (the reporting currency) on a day;
    stored as a decimal string to stay exact."""

    __tablename__ = "fx_rates"

    id: Mapped[int] = id_column()
    currency: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    valid_on: Mapped[date] = mapped_column(Date)
    rate: Mapped[str] = mapped_column(String(40))

    __table_args__ = (UniqueConstraint("currency", "quote", "valid_on"),)
