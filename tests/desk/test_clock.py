"""The SLA business-time clock: hand-computed cases, validation, and a minute-by-minute oracle.

The oracle applies the module's definition literally: it walks UTC minutes one by one and asks
``zoneinfo`` for each one's local date and wall-clock time. The property tests compare it with
the day-walking kernel on random calendars, biased toward DST transitions.
"""

from __future__ import annotations

import json
import statistics
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.core.errors import InvalidInput
from patron.desk.clock import BusinessCalendar, SlaClock

MIN = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 86_400
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
LDN = ZoneInfo("Europe/London")
LHI = ZoneInfo("Australia/Lord_Howe")
WORKWEEK = {d: [(time(9), time(18))] for d in range(5)}
ALL_DAY = {d: [(time(0), None)] for d in range(7)}
NATIONAL_DAY = date(2026, 10, 1)  # a Thursday


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


@pytest.fixture
def office() -> BusinessCalendar:
    return BusinessCalendar("Asia/Shanghai", WORKWEEK, [NATIONAL_DAY])


# ---------------------------------------------------------------- hand-computed


def test_office_hours_counts(office: BusinessCalendar) -> None:
    assert office.business_minutes(sh(2026, 9, 28, 10), sh(2026, 9, 28, 18)) == 480
    assert office.business_minutes(sh(2026, 9, 28, 10), sh(2026, 9, 29, 10)) == 540
    # Wednesday 17:00 to Friday 10:00 over the Thursday holiday: 60 + 60.
    assert office.business_minutes(sh(2026, 9, 30, 17), sh(2026, 10, 2, 10)) == 120
    # Friday 17:30 to Monday 09:30 over the weekend: 30 + 30.
    assert office.business_minutes(sh(2026, 10, 2, 17, 30), sh(2026, 10, 5, 9, 30)) == 60
    # Seconds are dropped: [10:00, 10:59) whatever the seconds.
    assert office.business_minutes(sh(2026, 9, 28, 10, 0, 59), sh(2026, 9, 28, 10, 59, 59)) == 59
    assert office.business_minutes(sh(2026, 9, 28, 12), sh(2026, 9, 28, 11)) == 0
    assert office.business_minutes(sh(2026, 9, 28, 12), sh(2026, 9, 28, 12, 0, 30)) == 0


def test_office_hours_deadlines(office: BusinessCalendar) -> None:
    start = sh(2026, 9, 28, 10)  # Monday
    assert office.add_business_minutes(start, 0) == utc(2026, 9, 28, 2)
    assert office.add_business_minutes(start, 240) == sh(2026, 9, 28, 14)
    # Exactly used up at the close: the close itself, not the next opening.
    assert office.add_business_minutes(start, 480) == sh(2026, 9, 28, 18)
    assert office.add_business_minutes(start, 481) == sh(2026, 9, 29, 9, 1)
    # Over the holiday: Wednesday 17:00 + 61 -> Friday 09:01.
    assert office.add_business_minutes(sh(2026, 9, 30, 17), 61) == sh(2026, 10, 2, 9, 1)
    # From a Saturday afternoon: Monday opening plus 90.
    assert office.add_business_minutes(sh(2026, 10, 3, 15, 12, 7), 90) == sh(2026, 10, 5, 10, 30)
    # Zero minutes: the start floored to its minute, even outside business hours.
    assert office.add_business_minutes(sh(2026, 10, 3, 15, 12, 7), 0) == sh(2026, 10, 3, 15, 12)
    # Three business days (27 h) from Monday 10:00, Thursday a holiday: Friday 10:00.
    assert office.add_business_minutes(start, 3 * 540) == sh(2026, 10, 2, 10)
    result = office.add_business_minutes(start, 1)
    assert result.tzinfo is UTC


def test_twenty_four_seven() -> None:
    cal = BusinessCalendar("UTC")
    start = datetime(2026, 5, 17, 23, 59, 59, 999_999, tzinfo=NY)
    assert cal.always_open
    # [23:59, 00:00 three days later + 1 min): the end's seconds are dropped too.
    assert cal.business_minutes(start, start + timedelta(days=3, seconds=30)) == 3 * 1440 + 1
    assert cal.add_business_minutes(start, 100) == utc(2026, 5, 18, 3, 59) + 100 * MIN
    # Holidays still apply: Christmas in UTC is closed.
    xmas = BusinessCalendar("UTC", None, [date(2026, 12, 25)])
    assert xmas.business_minutes(utc(2026, 12, 24), utc(2026, 12, 27)) == 2 * 1440
    assert xmas.add_business_minutes(utc(2026, 12, 24, 23, 59), 2) == utc(2026, 12, 26, 0, 1)


def test_split_shift() -> None:
    cal = BusinessCalendar(
        "Asia/Shanghai", {d: [(time(9), time(12)), (time(13), time(18))] for d in range(5)}
    )
    assert cal.business_minutes(sh(2026, 9, 28, 0), sh(2026, 9, 29, 0)) == 480
    assert cal.add_business_minutes(sh(2026, 9, 28, 11), 60) == sh(2026, 9, 28, 12)
    assert cal.add_business_minutes(sh(2026, 9, 28, 11), 61) == sh(2026, 9, 28, 13, 1)
    assert cal.add_business_minutes(sh(2026, 9, 28, 11), 120) == sh(2026, 9, 28, 14)
    assert cal.add_business_minutes(sh(2026, 9, 28, 12, 30), 1) == sh(2026, 9, 28, 13, 1)


def test_end_of_day_and_touching_intervals() -> None:
    # Saturday 20:00-24:00 and Sunday 00:00-02:00: one evening shift across midnight.
    cal = BusinessCalendar("Asia/Shanghai", {5: [(time(20), None)], 6: [(time(0), time(2))]})
    assert cal.business_minutes(sh(2026, 10, 3, 20), sh(2026, 10, 4, 2)) == 360
    assert cal.add_business_minutes(sh(2026, 10, 3, 23), 120) == sh(2026, 10, 4, 1)
    assert cal.add_business_minutes(sh(2026, 10, 3, 23), 60) == sh(2026, 10, 4, 0)
    assert cal.add_business_minutes(sh(2026, 10, 4, 1), 120) == sh(2026, 10, 10, 21)
    # Touching intervals are one interval.
    touching = BusinessCalendar("UTC", {0: [(time(12), time(13)), (time(9), time(12))]})
    assert touching == BusinessCalendar("UTC", {0: [(time(9), time(13))]})
    assert touching.hours[0] == ((time(9), time(13)),)
    assert touching.hours[1] == ()


def test_new_york_dst_days() -> None:
    cal = BusinessCalendar("America/New_York", ALL_DAY)
    # Spring forward (02:00 -> 03:00) and fall back (02:00 -> 01:00): 23 h and 25 h days.
    assert cal.business_minutes(datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY)) == 1380
    assert cal.business_minutes(datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)) == 1500
    assert cal.add_business_minutes(utc(2026, 3, 8, 5), 120) == utc(2026, 3, 8, 7)
    assert cal.add_business_minutes(utc(2026, 3, 8, 5), 120) == datetime(2026, 3, 8, 3, tzinfo=NY)
    # 00:00 EDT + 120: the second 01:00, in EST.
    assert cal.add_business_minutes(utc(2026, 11, 1, 4), 120) == utc(2026, 11, 1, 6)
    # Hours 01:00-04:00: the skipped hour gives nothing, the repeated one counts twice.
    night = BusinessCalendar("America/New_York", {6: [(time(1), time(4))]})
    assert night.business_minutes(utc(2026, 3, 8), utc(2026, 3, 9)) == 120
    assert night.business_minutes(utc(2026, 11, 1), utc(2026, 11, 2)) == 240
    # 01:30 EDT (05:30Z) + 60 -> 01:30 EST (06:30Z), the same wall-clock time an hour later.
    assert night.add_business_minutes(utc(2026, 11, 1, 5, 30), 60) == utc(2026, 11, 1, 6, 30)
    # Spring forward: 01:30 EST (06:30Z) + 60 -> 03:30 EDT (07:30Z).
    assert night.add_business_minutes(utc(2026, 3, 8, 6, 30), 60) == utc(2026, 3, 8, 7, 30)


def test_london_dst() -> None:
    cal = BusinessCalendar("Europe/London", ALL_DAY)
    assert cal.business_minutes(datetime(2026, 3, 29, tzinfo=LDN), datetime(2026, 3, 30, tzinfo=LDN)) == 1380
    assert (
        cal.business_minutes(datetime(2026, 10, 25, tzinfo=LDN), datetime(2026, 10, 26, tzinfo=LDN)) == 1500
    )
    office = BusinessCalendar("Europe/London", {d: [(time(9), time(17, 30))] for d in range(5)})
    # Friday 17:00 GMT + 60 over the weekend the clocks go forward: Monday 09:30 BST = 08:30Z.
    assert office.add_business_minutes(datetime(2026, 3, 27, 17, tzinfo=LDN), 60) == utc(2026, 3, 30, 8, 30)
    assert office.business_minutes(utc(2026, 3, 27, 17), utc(2026, 3, 30, 8, 30)) == 60


def test_lord_howe_half_hour_dst() -> None:
    cal = BusinessCalendar("Australia/Lord_Howe", ALL_DAY)
    # 2026-04-05 02:00 +11 -> 01:30 +10:30 (a 24.5 h day); 2026-10-04 02:00 -> 02:30 (23.5 h).
    assert cal.business_minutes(datetime(2026, 4, 5, tzinfo=LHI), datetime(2026, 4, 6, tzinfo=LHI)) == 1470
    assert cal.business_minutes(datetime(2026, 10, 4, tzinfo=LHI), datetime(2026, 10, 5, tzinfo=LHI)) == 1410
    assert cal.add_business_minutes(utc(2026, 4, 4, 13), 1470) == utc(2026, 4, 5, 13, 30)
    assert cal.add_business_minutes(utc(2026, 4, 4, 13), 1470) == datetime(2026, 4, 6, tzinfo=LHI)
    # Hours 01:00-03:00 on Sundays: 01:30-02:00 twice in April (150), 02:00-02:30 skipped in October (90).
    night = BusinessCalendar("Australia/Lord_Howe", {6: [(time(1), time(3))]})
    assert night.business_minutes(utc(2026, 4, 4), utc(2026, 4, 6)) == 150
    assert night.business_minutes(utc(2026, 10, 3), utc(2026, 10, 5)) == 90
    # 01:59 local (+10:30 = 15:29Z) + 1 -> 02:30 local (+11 = 15:30Z).
    assert night.add_business_minutes(utc(2026, 10, 3, 15, 29), 1) == utc(2026, 10, 3, 15, 30)


@pytest.mark.parametrize(
    ("zone", "opening_utc"),
    [("Asia/Kolkata", utc(2026, 9, 28, 3, 30)), ("Asia/Kathmandu", utc(2026, 9, 28, 3, 15))],
)
def test_non_hour_offsets(zone: str, opening_utc: datetime) -> None:
    cal = BusinessCalendar(zone, WORKWEEK)
    assert cal.add_business_minutes(utc(2026, 9, 28), 1) == opening_utc + MIN
    assert cal.add_business_minutes(utc(2026, 9, 28), 540) == opening_utc + 540 * MIN
    assert cal.business_minutes(opening_utc - MIN, opening_utc + MIN) == 1


def test_offset_with_seconds() -> None:
    # Kolkata in 1905 ran on Madras time, +05:21:10: UTC minutes land on local hh:mm:10, so
    # [09:00, 10:00) holds the 60 minutes from 09:00:10 (03:39Z) to 09:59:10 (04:38Z).
    cal = BusinessCalendar("Asia/Kolkata", {d: [(time(9), time(10))] for d in range(7)})
    assert cal.add_business_minutes(utc(1905, 6, 1), 1) == utc(1905, 6, 1, 3, 40)
    assert cal.add_business_minutes(utc(1905, 6, 1), 60) == utc(1905, 6, 1, 4, 39)
    assert cal.business_minutes(utc(1905, 6, 1, 3, 39), utc(1905, 6, 1, 4, 39)) == 60


def test_long_spans_and_holiday_stretches() -> None:
    # Only Mondays, and two years of Mondays off: the walk still terminates.
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(104)]
    cal = BusinessCalendar("Asia/Shanghai", {0: [(time(9), time(10))]}, mondays)
    assert cal.add_business_minutes(sh(2026, 1, 1), 1) == sh(2028, 1, 3, 9, 1)
    assert cal.business_minutes(sh(2026, 1, 1), sh(2028, 1, 4)) == 60
    year = BusinessCalendar("America/New_York", WORKWEEK)
    assert year.business_minutes(utc(2026, 1, 1), utc(2027, 1, 1)) == 261 * 540


def test_one_deadline_is_well_under_a_millisecond(office: BusinessCalendar) -> None:
    start = sh(2026, 9, 28, 10)
    office.add_business_minutes(start, 30 * 540)  # warm the zone cache
    samples = []
    for _ in range(101):
        t0 = clock.perf_counter()
        office.add_business_minutes(start, 30 * 540)
        samples.append(clock.perf_counter() - t0)
    assert statistics.median(samples) < 0.001


def test_serialisation_round_trip(office: BusinessCalendar) -> None:
    data = office.to_dict()
    assert data == {
        "version": 1,
        "timezone": "Asia/Shanghai",
        "hours": {str(d): [["09:00", "18:00"]] if d < 5 else [] for d in range(7)},
        "holidays": ["2026-10-01"],
        "workdays": {},
    }
    assert BusinessCalendar.from_dict(json.loads(json.dumps(data))) == office
    night = BusinessCalendar("UTC", {5: [(time(20), None)]})
    assert night.to_dict()["hours"]["5"] == [["20:00", "24:00"]]
    assert BusinessCalendar.from_dict(night.to_dict()) == night
    always = BusinessCalendar("UTC")
    assert always.to_dict() == {
        "version": 1,
        "timezone": "UTC",
        "hours": None,
        "holidays": [],
        "workdays": {},
    }
    assert BusinessCalendar.from_dict(always.to_dict()) == always
    assert BusinessCalendar("UTC", ALL_DAY) == always
    assert hash(BusinessCalendar("UTC", ALL_DAY)) == hash(always)


# ---------------------------------------------------------------- validation


def _code(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.code


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "America", "../etc/passwd", "utc"])
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar(zone)
    assert _code(exc) == "sla_bad_timezone"
    assert exc.value.status == 400


@pytest.mark.parametrize(
    "hours",
    [
        {0: [(time(18), time(9))]},
        {0: [(time(9), time(9))]},
        {0: [(time(9), time(12)), (time(11), time(13))]},
        {0: [(time(9), None), (time(23), None)]},
        {7: [(time(9), time(18))]},
        {-1: [(time(9), time(18))]},
        {0: [(time(9, 0, 30), time(18))]},
        {0: [(time(9, tzinfo=UTC), time(18))]},
        {0: [(time(9),)]},
        {},
        {d: [] for d in range(7)},
    ],
)
def test_bad_hours(hours: dict[int, list[tuple[time, time | None]]]) -> None:
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar("UTC", hours)
    assert _code(exc) == "sla_bad_hours"


def test_bad_inputs(office: BusinessCalendar) -> None:
    naive = datetime(2026, 9, 28, 10)
    for call in (
        lambda: office.business_minutes(naive, sh(2026, 9, 29)),
        lambda: office.business_minutes(sh(2026, 9, 29), naive),
        lambda: office.add_business_minutes(naive, 10),
        lambda: SlaClock(office, 60, naive),
        lambda: SlaClock(office, 60, sh(2026, 9, 28), [(naive, None)]),
        lambda: SlaClock(office, 60, sh(2026, 9, 28)).elapsed(naive),
    ):
        with pytest.raises(InvalidInput) as exc:
            call()
        assert _code(exc) == "sla_naive_datetime"
    for minutes in (-1, 1.5, True):
        with pytest.raises(InvalidInput) as exc:
            office.add_business_minutes(sh(2026, 9, 28), minutes)  # type: ignore[arg-type]
        assert _code(exc) == "sla_bad_minutes"
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar("UTC", None, [datetime(2026, 1, 1, tzinfo=UTC)])
    assert _code(exc) == "sla_bad_holidays"
    with pytest.raises(InvalidInput) as exc:
        SlaClock(office, -1, sh(2026, 9, 28))
    assert _code(exc) == "sla_bad_target"
    with pytest.raises(InvalidInput) as exc:
        SlaClock(office, 60, sh(2026, 9, 28), [(sh(2026, 9, 28, 12), sh(2026, 9, 28, 11))])
    assert _code(exc) == "sla_bad_pause"
    with pytest.raises(InvalidInput) as exc:
        office.add_business_minutes(utc(9999, 12, 1), 10**9)
    assert _code(exc) == "sla_out_of_range"


@pytest.mark.parametrize(
    "data",
    [
        {"version": 2, "timezone": "UTC", "hours": None, "holidays": []},
        {"timezone": "UTC", "hours": None},
        {"version": 1, "hours": None},
        {"version": 1, "timezone": "UTC", "hours": {"0": [["09:00", "25:00"]]}},
        {"version": 1, "timezone": "UTC", "hours": {"0": [["24:00", "24:00"]]}},
        {"version": 1, "timezone": "UTC", "hours": {"0": [["9:00", "18:00"]]}},
        {"version": 1, "timezone": "UTC", "hours": {"mon": [["09:00", "18:00"]]}},
        {"version": 1, "timezone": "UTC", "hours": {"0": [["09:00"]]}},
        {"version": 1, "timezone": "UTC", "hours": [], "holidays": []},
        {"version": 1, "timezone": "UTC", "hours": None, "holidays": ["2026-13-01"]},
        {"version": 1, "timezone": "UTC", "hours": None, "holidays": [20260101]},
    ],
)
def test_bad_serialised_calendar(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar.from_dict(data)
    assert _code(exc) == "sla_bad_calendar"


def test_serialised_calendar_keeps_the_constructor_codes() -> None:
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar.from_dict({"version": 1, "timezone": "Nowhere/Land", "hours": None})
    assert _code(exc) == "sla_bad_timezone"
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar.from_dict({"version": 1, "timezone": "UTC", "hours": {"8": [["09:00", "10:00"]]}})
    assert _code(exc) == "sla_bad_hours"


# ---------------------------------------------------------------- SLA clock


def test_clock_without_pauses(office: BusinessCalendar) -> None:
    c = SlaClock(office, 240, sh(2026, 9, 28, 10, 0, 42))
    assert c.start == utc(2026, 9, 28, 2)
    assert c.elapsed(sh(2026, 9, 28, 11, 30)) == 90
    assert c.remaining(sh(2026, 9, 28, 11, 30)) == 150
    assert c.due_at(sh(2026, 9, 28, 11, 30)) == sh(2026, 9, 28, 14)
    assert c.status(sh(2026, 9, 28, 11, 30)) == "running"
    assert c.status(sh(2026, 9, 28, 14)) == "running"  # at the deadline, not past it
    assert c.status(sh(2026, 9, 28, 14, 0, 1)) == "breached"
    assert c.remaining(sh(2026, 9, 28, 15)) == -60
    assert c.status(sh(2026, 9, 28, 15), stopped_at=sh(2026, 9, 28, 14)) == "met"
    assert c.status(sh(2026, 9, 28, 15), stopped_at=sh(2026, 9, 28, 14, 0, 1)) == "breached"
    assert c.status(sh(2026, 9, 28, 12), stopped_at=sh(2026, 9, 28, 13)) == "running"  # not yet stopped


def test_clock_stop_after_hours_past_the_deadline_is_late(office: BusinessCalendar) -> None:
    c = SlaClock(office, 60, sh(2026, 10, 2, 17))  # Friday 17:00, due Friday 18:00
    assert c.due_at(sh(2026, 10, 2, 17)) == sh(2026, 10, 2, 18)
    assert c.elapsed(sh(2026, 10, 2, 19)) == 60
    assert c.status(sh(2026, 10, 2, 19), stopped_at=sh(2026, 10, 2, 19)) == "breached"
    assert c.status(sh(2026, 10, 2, 19), stopped_at=sh(2026, 10, 2, 17, 59)) == "met"


def test_clock_with_pauses(office: BusinessCalendar) -> None:
    # Waiting on the customer 11:00-15:00: 60 + 180 -> due at the close.
    c = SlaClock(office, 240, sh(2026, 9, 28, 10), [(sh(2026, 9, 28, 11), sh(2026, 9, 28, 15))])
    assert c.elapsed(sh(2026, 9, 28, 16)) == 120
    assert c.elapsed(sh(2026, 9, 28, 13)) == 60
    assert c.due_at(sh(2026, 9, 28, 13)) is None
    assert c.status(sh(2026, 9, 28, 13)) == "paused"
    assert c.is_paused(sh(2026, 9, 28, 13))
    assert not c.is_paused(sh(2026, 9, 28, 15))
    assert c.due_at(sh(2026, 9, 28, 10, 30)) == sh(2026, 9, 28, 14)  # the pause not yet begun
    assert c.due_at(sh(2026, 9, 28, 16)) == sh(2026, 9, 28, 18)
    assert c.status(sh(2026, 9, 28, 13), stopped_at=sh(2026, 9, 28, 12)) == "met"  # resolved while waiting
    # Still waiting (no resume): no deadline, whatever the hour.
    waiting = SlaClock(office, 240, sh(2026, 9, 28, 10), [(sh(2026, 9, 28, 11), None)])
    assert waiting.due_at(sh(2026, 12, 1)) is None
    assert waiting.elapsed(sh(2026, 12, 1)) == 60
    assert waiting.status(sh(2026, 12, 1)) == "paused"


def test_clock_pauses_are_normalised(office: BusinessCalendar) -> None:
    messy = [
        (sh(2026, 9, 28, 12), sh(2026, 9, 28, 13)),
        (sh(2026, 9, 28, 11), sh(2026, 9, 28, 12, 30)),
        (sh(2026, 9, 28, 8), sh(2026, 9, 28, 10, 30)),  # before the start: clipped
        (sh(2026, 9, 27), sh(2026, 9, 28, 9)),  # wholly before the start: dropped
        (sh(2026, 9, 28, 16), sh(2026, 9, 28, 16, 0, 40)),  # inside one minute: empty
    ]
    c = SlaClock(office, 240, sh(2026, 9, 28, 10), messy)
    assert c.pauses == (
        (sh(2026, 9, 28, 10), sh(2026, 9, 28, 10, 30)),
        (sh(2026, 9, 28, 11), sh(2026, 9, 28, 13)),
    )
    assert c == SlaClock(office, 240, sh(2026, 9, 28, 10), list(reversed(messy)))
    assert c.elapsed(sh(2026, 9, 28, 18)) == 480 - 30 - 120
    assert c.due_at(sh(2026, 9, 28, 18)) == sh(2026, 9, 28, 16, 30)
    # An open pause swallows the later ones.
    open_pause = SlaClock(
        office,
        60,
        sh(2026, 9, 28, 10),
        [(sh(2026, 9, 28, 14), sh(2026, 9, 28, 15)), (sh(2026, 9, 28, 11), None)],
    )
    assert open_pause.pauses == ((sh(2026, 9, 28, 11), None),)


def test_clock_breached_then_paused(office: BusinessCalendar) -> None:
    c = SlaClock(office, 60, sh(2026, 9, 28, 10), [(sh(2026, 9, 28, 12), None)])
    assert c.due_at(sh(2026, 9, 28, 13)) == sh(2026, 9, 28, 11)  # reached before the pause: fixed
    assert c.status(sh(2026, 9, 28, 13)) == "breached"
    assert c.status(sh(2026, 9, 28, 13), stopped_at=sh(2026, 9, 28, 12, 30)) == "breached"


def test_clock_zero_target(office: BusinessCalendar) -> None:
    c = SlaClock(office, 0, sh(2026, 10, 3, 12, 0, 30))  # a Saturday
    assert c.due_at(sh(2026, 10, 3, 12)) == sh(2026, 10, 3, 12)
    assert c.status(sh(2026, 10, 3, 12), stopped_at=sh(2026, 10, 3, 12)) == "met"
    assert c.status(sh(2026, 10, 3, 12, 1)) == "breached"


# ---------------------------------------------------------------- the oracle

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
]
YEARS = (utc(2026, 1, 1).timestamp(), utc(2028, 1, 1).timestamp())
# Windows scanned for transitions: 2026-2027 for every zone, plus history with odd offsets:
# Sao Paulo's midnight transitions (2018-19), Kolkata's +05:21:10 -> +05:30 (1906),
# Kathmandu's +05:30 -> +05:45 (1986).
SCANS = [(utc(2026, 1, 1), utc(2028, 1, 1)), (utc(2018, 10, 1), utc(2019, 3, 1))]
SCANS += [(utc(1905, 12, 1), utc(1906, 2, 1)), (utc(1985, 12, 1), utc(1986, 2, 1))]


def _offset(zone: ZoneInfo, t: int) -> timedelta | None:
    return datetime.fromtimestamp(t, zone).utcoffset()


def _transitions(key: str) -> list[int]:
    """UTC seconds (to the second) at which the zone's offset changes, in the scanned windows."""
    zone, found = ZoneInfo(key), []
    for a_dt, b_dt in SCANS:
        a, b = int(a_dt.timestamp()), int(b_dt.timestamp())
        for t in range(a, b, DAY // 2):
            if _offset(zone, t) != _offset(zone, t + DAY // 2):
                lo, hi = t, t + DAY // 2
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if _offset(zone, mid) == _offset(zone, lo) else (lo, mid)
                found.append(hi)
    return found


TRANSITIONS = {key: _transitions(key) for key in ZONES}


def test_oracle_scan_found_the_transitions() -> None:
    assert int(utc(2026, 3, 8, 7).timestamp()) in TRANSITIONS["America/New_York"]
    assert int(utc(2026, 10, 3, 15, 30).timestamp()) in TRANSITIONS["Australia/Lord_Howe"]
    assert len(TRANSITIONS["America/Sao_Paulo"]) == 2
    assert len(TRANSITIONS["Asia/Kolkata"]) == 1
    assert TRANSITIONS["UTC"] == TRANSITIONS["Asia/Shanghai"] == []


@dataclass(frozen=True)
class Scenario:
    zone: str
    hours: dict[int, list[tuple[time, time | None]]] | None
    holidays: list[date]
    workdays: dict[date, int]
    start: datetime
    span: timedelta
    pauses: list[tuple[datetime, datetime | None]]
    target: int
    stop: timedelta

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.zone, self.hours, self.holidays, self.workdays)


def _clock_time(minutes: int) -> time | None:
    return None if minutes == 1440 else time(minutes // 60, minutes % 60)


@st.composite
def weekly_hours(draw: st.DrawFn) -> dict[int, list[tuple[time, time | None]]] | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    step = draw(st.sampled_from([15, 30]))
    hours: dict[int, list[tuple[time, time | None]]] = {}
    for weekday in range(7):
        kind = draw(st.sampled_from(["closed", "all_day", "intervals", "intervals", "intervals"]))
        if kind == "all_day":
            hours[weekday] = [(time(0), None)]
        elif kind == "intervals":
            n = draw(st.integers(1, 3))
            points = sorted(
                draw(st.lists(st.integers(0, 1440 // step), min_size=2 * n, max_size=2 * n, unique=True))
            )
            if n > 1 and draw(st.booleans()):
                points[2] = points[1]  # touching intervals
            grid = [p * step for p in points]
            hours[weekday] = [
                (time(grid[i] // 60, grid[i] % 60), _clock_time(grid[i + 1])) for i in range(0, 2 * n, 2)
            ]
    if not any(hours.values()):
        hours[draw(st.integers(0, 6))] = [(time(9), time(17))]
    return hours


def _seconds(draw: st.DrawFn, hours: int) -> int:
    """Up to ``hours`` hours, in seconds, spread evenly: Hypothesis draws an integer from a wide
    range mostly near its low end, from a narrow one evenly."""
    return draw(st.integers(0, hours - 1)) * 3600 + draw(st.integers(0, 3599))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    transitions = TRANSITIONS[zone]
    if transitions and draw(st.integers(0, 2)) > 0:
        # Start up to two days before a transition; the span usually crosses it.
        before = _seconds(draw, 48)
        t = draw(st.sampled_from(transitions)) - before
        seconds = max(0, before - 7200 + _seconds(draw, 72))
    else:
        t = int(YEARS[0]) + draw(st.integers(0, 729)) * DAY + _seconds(draw, 24)
        seconds = _seconds(draw, 8 * 24)
    viewer = ZoneInfo(draw(st.sampled_from(ZONES)))  # the start may be given in any zone
    micro = draw(st.sampled_from([0, 1, 999_999]))
    start = datetime.fromtimestamp(t, UTC).astimezone(viewer) + timedelta(microseconds=micro)
    span = timedelta(seconds=seconds)
    first = start.astimezone(ZoneInfo(zone)).date()
    holidays = [first + timedelta(days=d) for d in draw(st.lists(st.integers(-2, 10), max_size=4))]
    workdays = {
        first + timedelta(days=d): draw(st.integers(0, 6))
        for d in draw(st.lists(st.integers(-2, 10), max_size=3))
        if first + timedelta(days=d) not in holidays
    }
    pauses: list[tuple[datetime, datetime | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        at = start + timedelta(seconds=_seconds(draw, seconds // 3600 + 48) - DAY)
        length = draw(st.one_of(st.none(), st.integers(0, 48).map(lambda h: h * 3600)))
        pauses.append(
            (at, None if length is None else at + timedelta(seconds=length + draw(st.integers(0, 3599))))
        )
    target = draw(st.integers(0, 50)) * 60 + draw(st.integers(0, 59))
    stop = span * draw(st.integers(0, 100)) / 100
    return Scenario(zone, draw(weekly_hours()), holidays, workdays, start, span, pauses, target, stop)


class Oracle:
    """The definition applied literally, one UTC minute at a time, from floor(start)."""

    EXTRA = 2 * 1440  # minutes past the span, so most projected deadlines fall inside

    def __init__(self, s: Scenario) -> None:
        zone = ZoneInfo(s.zone)
        holidays = set(s.holidays)
        days = s.hours if s.hours is not None else {d: [(time(0), None)] for d in range(7)}
        week = {
            d: [
                (a.hour * 3600 + a.minute * 60, 86400 if b is None else b.hour * 3600 + b.minute * 60)
                for a, b in iv
            ]
            for d, iv in days.items()
        }
        self.t0 = (s.start - EPOCH) // MIN * 60
        self.n = int(s.span.total_seconds()) // 60 + 1 + self.EXTRA
        self.flags = []
        for i in range(self.n):
            local = datetime.fromtimestamp(self.t0 + 60 * i, zone)
            tod = local.hour * 3600 + local.minute * 60 + local.second
            weekday = s.workdays.get(local.date(), local.weekday())
            ok = local.date() not in holidays and any(a <= tod < b for a, b in week.get(weekday, ()))
            self.flags.append(ok)

    def index(self, at: datetime) -> int:
        """The minute of ``at`` as an index from floor(start)."""
        return (at - EPOCH) // MIN - self.t0 // 60

    def count(self, end: datetime, paused: Sequence[tuple[int, int]] = ()) -> int:
        stop = self.index(end)
        return sum(1 for i in range(max(stop, 0)) if self.flags[i] and not any(p <= i < r for p, r in paused))

    def kth(self, k: int, paused: Sequence[tuple[int, int]] = ()) -> datetime | None:
        """The instant right after the k-th counted minute (k >= 1), if inside the window."""
        for i, flag in enumerate(self.flags):
            if flag and not any(p <= i < r for p, r in paused):
                k -= 1
                if k == 0:
                    return datetime.fromtimestamp(self.t0 + 60 * (i + 1), UTC)
        return None

    def pause_indices(
        self, pauses: list[tuple[datetime, datetime | None]], now: datetime
    ) -> list[tuple[int, int]]:
        """The pauses begun by ``now`` as index ranges (open ones run past the window)."""
        n = self.index(now)
        return [
            (self.index(p), self.n + 1 if r is None else self.index(r))
            for p, r in pauses
            if self.index(p) <= n
        ]


def _check(s: Scenario) -> None:
    cal = s.calendar()
    oracle = Oracle(s)
    end = s.start + s.span
    assert cal.business_minutes(s.start, end) == oracle.count(end)
    total = sum(oracle.flags)
    ks = {0, min(total, 1), total, total // 2, total // 3, min(total, 7)}
    for k in sorted(ks):
        if k == 0:
            assert cal.add_business_minutes(s.start, 0) == datetime.fromtimestamp(oracle.t0, UTC)
            continue
        t = cal.add_business_minutes(s.start, k)
        assert t == oracle.kth(k)
        assert cal.business_minutes(s.start, t) == k
        assert cal.business_minutes(s.start, t - MIN) == k - 1

    clock_ = SlaClock(cal, s.target, s.start, s.pauses)
    paused = oracle.pause_indices(s.pauses, end)
    assert clock_.elapsed(end) == oracle.count(end, paused)
    n = oracle.index(end)
    paused_now = any(p <= n < r for p, r in paused)
    assert clock_.is_paused(end) == paused_now
    expected = datetime.fromtimestamp(oracle.t0, UTC) if s.target == 0 else oracle.kth(s.target, paused)
    due = clock_.due_at(end)
    if expected is not None and expected <= end:
        assert due == expected
    elif paused_now:
        assert due is None
    elif expected is not None:
        assert due == expected
    else:
        assert due is not None
        assert due > datetime.fromtimestamp(oracle.t0 + 60 * oracle.n, UTC)

    # The status at the stop follows from the oracle's deadline known at the stop.
    stopped_at = s.start + s.stop
    known = oracle.pause_indices(s.pauses, stopped_at)
    stop_due = datetime.fromtimestamp(oracle.t0, UTC) if s.target == 0 else oracle.kth(s.target, known)
    # None: paused at the stop before reaching it, or the deadline lies past the window.
    want = "met" if stop_due is None or stopped_at <= stop_due else "breached"
    assert clock_.status(end, stopped_at=stopped_at) == want


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_matches_the_minute_oracle(s: Scenario) -> None:
    _check(s)


@settings(max_examples=150, deadline=None)
@given(weekly_hours(), st.sampled_from(ZONES), st.integers(int(YEARS[0]), int(YEARS[1])), st.data())
def test_deadlines_round_trip_and_are_monotone(
    hours: dict[int, list[tuple[time, time | None]]] | None, zone: str, t: int, data: st.DataObject
) -> None:
    cal = BusinessCalendar(zone, hours)
    start = datetime.fromtimestamp(t, UTC)
    ks = sorted(data.draw(st.lists(st.integers(0, 150_000), min_size=2, max_size=5)))
    deadlines = [cal.add_business_minutes(start, k) for k in ks]
    assert deadlines == sorted(deadlines)
    for k, due in zip(ks, deadlines, strict=True):
        assert cal.business_minutes(start, due) == k
        if k:
            assert cal.business_minutes(start, due - MIN) == k - 1
    # Counting is additive over any split point.
    a, b = sorted(data.draw(st.lists(st.integers(0, 400 * DAY), min_size=2, max_size=2)))
    mid, last = start + timedelta(seconds=a), start + timedelta(seconds=b)
    assert cal.business_minutes(start, mid) + cal.business_minutes(mid, last) == cal.business_minutes(
        start, last
    )
    assert BusinessCalendar.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_make_up_working_days_take_the_hours_of_the_weekday_they_name() -> None:
    """2026 Spring Festival in Shanghai: 15-23 Feb off, Saturday 14 Feb and Saturday 28 Feb worked."""
    weekdays = {d: [(time(9), time(18))] for d in range(5)}
    off = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
    worked = {date(2026, 2, 14): 0, date(2026, 2, 28): 4}
    cal = BusinessCalendar("Asia/Shanghai", weekdays, off, worked)
    friday_1700 = datetime(2026, 2, 13, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    # 60 minutes left on Friday, then the worked Saturday from 09:00: due Saturday 10:00 local.
    assert cal.add_business_minutes(friday_1700, 120) == datetime(2026, 2, 14, 2, 0, tzinfo=UTC)
    # Saturday 14th (540), then nothing until Tuesday 24th: 9 days off.
    assert cal.business_minutes(friday_1700, datetime(2026, 2, 24, 1, 0, tzinfo=UTC)) == 60 + 540
    assert (
        cal.business_minutes(datetime(2026, 2, 28, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)) == 540
    )
    assert BusinessCalendar.from_dict(cal.to_dict()) == cal
    assert cal.to_dict()["workdays"] == {"2026-02-14": 0, "2026-02-28": 4}
    assert cal != BusinessCalendar("Asia/Shanghai", weekdays, off)
    with pytest.raises(InvalidInput) as both:
        BusinessCalendar("Asia/Shanghai", weekdays, off, {date(2026, 2, 16): 0})
    assert both.value.code == "sla_bad_holidays"
    with pytest.raises(InvalidInput) as weekday:
        BusinessCalendar("Asia/Shanghai", weekdays, off, {date(2026, 2, 14): 7})
    assert weekday.value.code == "sla_bad_hours"
