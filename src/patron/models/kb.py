"""Knowledge-base articles, one row per article and language (the FAQ bot answers from them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, JSONType, UTCDateTime
from patron.core.time import utcnow
from patron.models._types import created_at_column, id_column


class KbArticle(Base):
    __tablename__ = "kb_articles"

    id: Mapped[int] = id_column()
    slug: Mapped[str] = mapped_column(String(100))  # the article, shared by its translations
    lang: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("slug", "lang"),)
