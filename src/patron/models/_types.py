"""Column helpers shared by the models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import BigID, UTCDateTime
from patron.core.time import utcnow


def id_column() -> Mapped[int]:
    return mapped_column(BigID, primary_key=True, autoincrement=True)


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)
