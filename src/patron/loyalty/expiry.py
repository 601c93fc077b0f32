"""When points expire: pure date arithmetic in the program's time zone.

A lot is usable while ``now < expires_at``. Expiry falls at the start (local midnight) of the
day after the last valid day, converted to UTC, so "valid for 30 days" and "until the end of
next year" mean whole local days whatever the zone: points earned at 23:59 in Shanghai on
31 January belong to 31 January (15:59 UTC), not to the UTC day. In a DST zone local midnight
always exists (clocks change at 02:00 or later), so ``ZoneInfo`` gives it unambiguously.

Rules (``ExpiryRule``): ``days`` (N days after the day earned), ``end_of_next_year`` (through
31 December of the following year), ``rolling`` (N days after the member's last activity; every
lot of the member moves with it), ``never``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

RULES = ("days", "end_of_next_year", "rolling", "never")


def local_day(at: datetime, timezone: str) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()


def start_of(day: date, timezone: str) -> datetime:
    """Local midnight at the start of ``day``, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def expires_at(rule: str, days: int | None, at: datetime, timezone: str) -> datetime | None:
    """When points earned (or, for ``rolling``, last touched) at ``at`` stop being usable."""
    if rule == "never":
        return None
    day = local_day(at, timezone)
    if rule == "end_of_next_year":
        return start_of(date(day.year + 2, 1, 1), timezone)
    if rule in ("days", "rolling"):
        if days is None or days < 1:
            raise ValueError(f"the {rule!r} expiry rule needs a number of days of at least 1")
        return start_of(day + timedelta(days=days + 1), timezone)
    raise ValueError(f"unknown expiry rule {rule!r} (known: {', '.join(RULES)})")


def last_valid_day(expiry: datetime, timezone: str) -> date:
    """The last local day on which points expiring at ``expiry`` can be spent (for people)."""
    return local_day(expiry - timedelta(microseconds=1), timezone)
