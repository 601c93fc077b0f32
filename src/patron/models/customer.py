"""Customer profiles, their identities (OneID), tags and merges."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID, JSONType, UTCDateTime
from patron.core.time import utcnow
from patron.models._types import created_at_column, id_column


class Gender(enum.StrEnum):
    male = "male"
    female = "female"
    unknown = "unknown"


class IdentityKind(enum.StrEnum):
    """What an identity is; ``namespace`` says where it is unique.

    phone/email/wechat_unionid: global (namespace ""); wechat_openid: per app id;
    wecom_external_userid: per corp; buyer_nick/oaid: per platform; external_id: per shop code.
    """

    phone = "phone"
    email = "email"
    wechat_unionid = "wechat_unionid"
    wechat_openid = "wechat_openid"
    wecom_external_userid = "wecom_external_userid"
    buyer_nick = "buyer_nick"
    oaid = "oaid"
    external_id = "external_id"
    masked_phone = "masked_phone"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = id_column()
    name: Mapped[str | None] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(10), default=Gender.unknown)
    birthday: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    country: Mapped[str | None] = mapped_column(String(2))
    province: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    signup_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    custom: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # A merged-away profile points at its survivor and is hidden from lists.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # Denormalised for list filters; recomputed after every import touching the customer.
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    spent_minor: Mapped[int] = mapped_column(BigID, default=0)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Source time of the profile data; an older customer-file row never overwrites a newer one.
    profile_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_customers_name", "name"),
        Index("ix_customers_signup_at", "signup_at"),
    )


class Identity(Base):
    __tablename__ = "identities"

    id: Mapped[int] = id_column()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(254))
    # Strong identities are merge keys; masked phones and the like are kept but never merge.
    strong: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        Index(
            "uq_identities_strong_key",
            "kind",
            "namespace",
            "value",
            unique=True,
            sqlite_where=text("strong = 1"),
            postgresql_where=text("strong"),
        ),
        Index("ix_identities_value", "value"),
    )


class TagGroup(Base):
    __tablename__ = "tag_groups"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = created_at_column()


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("tag_groups.id"))
    created_at: Mapped[datetime] = created_at_column()


class CustomerTag(Base):
    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_at: Mapped[datetime] = created_at_column()


class MergeBlock(Base):
    """An admin undid a merge of these two profiles: never merge them automatically again."""

    __tablename__ = "merge_blocks"

    customer_a: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    customer_b: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()


class CustomerMerge(Base):
    """A merge of ``merged_id`` into ``survivor_id``; ``moved`` lists every row that moved so an
    admin can undo it exactly."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = id_column()
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(300))
    moved: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undone_by: Mapped[str | None] = mapped_column(String(100))
