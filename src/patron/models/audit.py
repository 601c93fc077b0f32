"""Append-only audit log; each entry chains the previous entry's hash (tamper-evident)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, JSONType
from patron.models._types import created_at_column, id_column


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = id_column()
    created_at: Mapped[datetime] = created_at_column()
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
