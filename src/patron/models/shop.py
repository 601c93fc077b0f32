"""Shops are the sales channels a customer buys through."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base
from patron.models._types import created_at_column, id_column


class Platform(enum.StrEnum):
    own_site = "own_site"
    taobao = "taobao"
    tmall = "tmall"
    jd = "jd"
    pinduoduo = "pinduoduo"
    douyin = "douyin"
    wechat_mini = "wechat_mini"
    shopify = "shopify"
    woocommerce = "woocommerce"
    other = "other"


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str | None] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
