"""Import runs, the quarantine of rejected rows, and saved column mappings."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, JSONType, UTCDateTime
from patron.models._types import created_at_column, id_column


class ImportStatus(enum.StrEnum):
    running = "running"
    completed = "completed"
    rejected = "rejected"  # policy "reject" and at least one bad row: nothing written
    failed = "failed"
    dry_run = "dry_run"


class ImportRun(Base):
    __tablename__ = "import_runs"

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(20))
    mapping: Mapped[str] = mapped_column(String(100))
    shop_code: Mapped[str | None] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    policy: Mapped[str] = mapped_column(String(10))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    # Rows up to here are committed: a re-run of the same file resumes after it.
    checkpoint_row: Mapped[int] = mapped_column(Integer, default=0)
    # Share of the file read so far (0..1), for progress bars.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    resumed_from: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class QuarantineStatus(enum.StrEnum):
    open = "open"
    fixed = "fixed"  # re-run after a fix and accepted
    dismissed = "dismissed"


class QuarantineRow(Base):
    __tablename__ = "quarantine_rows"

    id: Mapped[int] = id_column()
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    value: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(12), default=QuarantineStatus.open)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_quarantine_rows_run_row", "import_run_id", "row_number"),)


class SavedMapping(Base):
    """A user's column mapping: source column -> Patron field, plus options."""

    __tablename__ = "saved_mappings"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    columns: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()
