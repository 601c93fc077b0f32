"""API shapes of the customers domain (``XBase / X / XCreate / XUpdate``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CustomerBase(BaseModel):
    name: str | None = None
    gender: str = "unknown"
    birthday: date | None = None
    phone: str | None = None
    email: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None


class CustomerSummary(CustomerBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    signup_at: datetime | None = None
    source_shop: str | None = None
    orders_count: int = 0
    spent_minor: int = 0
    spent_currency: str
    last_order_at: datetime | None = None


class IdentityOut(BaseModel):
    kind: str
    namespace: str
    value: str
    strong: bool


class LineOut(BaseModel):
    sku: str | None
    title: str | None
    quantity: int
    unit_price_minor: int
    total_minor: int


class OrderOut(BaseModel):
    id: int
    shop: str
    external_id: str
    status: str
    raw_status: str | None
    currency: str
    total_minor: int
    discount_minor: int
    shipping_minor: int
    coupon_code: str | None
    placed_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    lines: list[LineOut]


class RefundOut(BaseModel):
    id: int
    shop: str
    external_id: str
    order_id: int | None
    type: str
    status: str
    reason: str | None
    amount_minor: int
    currency: str
    requested_at: datetime | None
    completed_at: datetime | None


class EventOut(BaseModel):
    event_id: str
    type: str
    occurred_at: datetime
    properties: dict[str, Any]


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survivor_id: int
    merged_id: int
    reason: str
    actor: str
    created_at: datetime
    undone_at: datetime | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    title: str
    detail: str | None = None
    ref: str | None = None


class Customer360(BaseModel):
    customer: CustomerSummary
    custom: dict[str, Any] = Field(default_factory=dict)
    masked: bool
    identities: list[IdentityOut]
    tags: list[str]
    orders: list[OrderOut]
    orders_total: int
    refunds: list[RefundOut]
    events: list[EventOut]
    merges: list[MergeOut]
    timeline: list[TimelineEntry]


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    page: int
    per_page: int
    total: int


class TagCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
