"""Tracking events (page/product views, carts, checkouts, ...), idempotent on event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, JSONType, UTCDateTime
from patron.models._types import created_at_column, id_column


class TrackingEvent(Base):
    __tablename__ = "events"

    id: Mapped[int] = id_column()
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    anonymous_id: Mapped[str | None] = mapped_column(String(100))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_events_customer_time", "customer_id", "occurred_at"),)
