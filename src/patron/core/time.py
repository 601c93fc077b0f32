"""Times are stored in UTC and shown in the shop's (or user's) time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.core.errors import InvalidInput


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}", code="unknown_timezone") from exc


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC, so attach it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | None, tz_name: str) -> datetime | None:
    if value is None:
        return None
    return as_utc(value).astimezone(zone(tz_name))
