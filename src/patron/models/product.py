"""Products and the category tree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID
from patron.models._types import created_at_column, id_column


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = id_column()
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    name: Mapped[str] = mapped_column(String(200))
    # Full path "服饰 Apparel > 上衣 Tops": unique, so imports find a category in one lookup.
    path: Mapped[str] = mapped_column(String(1000), unique=True)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = id_column()
    sku: Mapped[str] = mapped_column(String(100))
    # Empty string means "sold in every shop"; a shop-specific SKU names its shop.
    shop_code: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    brand: Mapped[str | None] = mapped_column(String(200))
    price_minor: Mapped[int | None] = mapped_column(BigID)
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("shop_code", "sku"),)
