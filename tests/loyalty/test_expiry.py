"""Expiry dates by hand: local days in Shanghai and in a DST zone, month ends, leap days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.loyalty import expiry

SH = "Asia/Shanghai"
NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_local_day_counts_not_the_utc_day() -> None:
    # 31 Dec 2026 23:59 in Shanghai is 15:59 UTC the same day; 00:30 on 1 Jan is still 31 Dec UTC.
    assert expiry.expires_at("end_of_next_year", None, utc(2026, 12, 31, 15, 59), SH) == utc(2027, 12, 31, 16)
    assert expiry.expires_at("end_of_next_year", None, utc(2026, 12, 31, 16, 30), SH) == utc(2028, 12, 31, 16)
    # 30 days from 31 January (Shanghai): valid through 2 March 2026, gone at its end.
    assert expiry.expires_at("days", 30, utc(2026, 1, 31, 15, 59), SH) == utc(2026, 3, 2, 16)
    assert expiry.last_valid_day(utc(2026, 3, 2, 16), SH) == date(2026, 3, 2)


def test_month_ends_and_leap_days() -> None:
    # Earned on 29 February 2028 (a leap day): one day later is 1 March, 365 days is 28 Feb 2029.
    leap = datetime(2028, 2, 29, 12, tzinfo=ZoneInfo(SH))
    assert expiry.last_valid_day(expiry.expires_at("days", 1, leap, SH), SH) == date(2028, 3, 1)  # type: ignore[arg-type]
    assert expiry.last_valid_day(expiry.expires_at("days", 365, leap, SH), SH) == date(2029, 2, 28)  # type: ignore[arg-type]
    assert expiry.expires_at("end_of_next_year", None, leap, SH) == utc(2029, 12, 31, 16)
    # 30 April + 31 days: through 31 May.
    april = datetime(2026, 4, 30, 23, 59, tzinfo=ZoneInfo(SH))
    assert expiry.last_valid_day(expiry.expires_at("days", 31, april, SH), SH) == date(2026, 5, 31)  # type: ignore[arg-type]


def test_a_dst_zone_keeps_whole_local_days() -> None:
    # New York springs forward on 8 March 2026 and falls back on 1 November 2026: local midnight
    # is 05:00 UTC in winter and 04:00 UTC in summer.
    before_spring = datetime(2026, 3, 7, 23, 30, tzinfo=ZoneInfo(NY))
    assert expiry.expires_at("days", 1, before_spring, NY) == utc(
        2026, 3, 9, 4
    )  # ends 8 March, a 23-hour day
    before_fall = datetime(2026, 10, 31, 12, tzinfo=ZoneInfo(NY))
    assert expiry.expires_at("days", 1, before_fall, NY) == utc(2026, 11, 2, 5)  # ends 1 November, 25 hours
    assert expiry.expires_at("end_of_next_year", None, before_fall, NY) == utc(2028, 1, 1, 5)


def test_never_and_bad_rules() -> None:
    assert expiry.expires_at("never", None, utc(2026, 1, 1), SH) is None
    with pytest.raises(ValueError, match="needs a number of days"):
        expiry.expires_at("days", None, utc(2026, 1, 1), SH)
    with pytest.raises(ValueError, match="needs a number of days"):
        expiry.expires_at("rolling", 0, utc(2026, 1, 1), SH)
    with pytest.raises(ValueError, match="unknown expiry rule 'monthly'"):
        expiry.expires_at("monthly", 3, utc(2026, 1, 1), SH)


@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    days=st.integers(1, 3000),
    zone=st.sampled_from([SH, NY, "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]),
)
def test_points_last_exactly_the_days_promised(at: datetime, days: int, zone: str) -> None:
    """Usable through the N-th local day after the day earned, and not a moment longer."""
    ends = expiry.expires_at("days", days, at, zone)
    assert ends is not None
    earned = at.astimezone(ZoneInfo(zone)).date()
    assert expiry.last_valid_day(ends, zone) == earned + timedelta(days=days)
    assert ends.astimezone(ZoneInfo(zone)).time().isoformat() == "00:00:00"
    assert expiry.local_day(ends, zone) == earned + timedelta(days=days + 1)
