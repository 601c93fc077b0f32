"""Business-time clock for SLA targets: a pure, exact kernel (stdlib and ``patron.core.errors``).

**Definitions (the contract).**

* Time is counted in whole UTC minutes: every instant is floored to its UTC minute. Datetimes
  must be timezone-aware (any zone; naive ones are refused, code ``sla_naive_datetime``).
* The UTC minute starting at instant ``m`` is a **business minute** of a calendar iff ``m``,
  converted to the calendar's IANA time zone (``zoneinfo``), has a local date that is not a
  holiday and a local wall-clock time inside one of that local weekday's business intervals
  ``[start, end)`` (``end`` may be 24:00, the end of the day). A **make-up working day**
  (China's 调休上班, a Saturday worked in exchange for a longer holiday) is a local date that
  takes the hours of the weekday it names instead of its own. The rule is applied to UTC
  minutes, never to local ones, so:

  - on a spring-forward day the skipped local hour contributes nothing (New York, 2026-03-08,
    hours 00:00-24:00: 1380 minutes);
  - on a fall-back day the repeated local hour counts twice, both of its UTC passes map into
    business hours (New York, 2026-11-01: 1500 minutes);
  - 30-minute DST shifts (Australia/Lord_Howe) and non-hour offsets (Asia/Kolkata +05:30,
    Asia/Kathmandu +05:45) need no special case.

* ``business_minutes(start, end)``: the number of business minutes ``m`` with
  ``floor(start) <= m < floor(end)``; 0 when ``end <= start``.
* ``add_business_minutes(start, n)``: the earliest minute boundary ``t`` (UTC) with
  ``business_minutes(start, t) == n``, i.e. the instant right after the n-th business minute.
  A deadline can therefore be an interval's end (last counted minute 17:59, returned 18:00),
  never the next opening. ``n == 0`` returns ``floor(start)``. This is how a deadline is made:
  first response due = ``add_business_minutes(created, target)``.

**Algorithm.** The UTC line is cut into spans of constant UTC offset. Inside one span local time
is UTC plus a constant, strictly increasing, so the business minutes of a UTC span are the
local-wall-clock business minutes of the shifted span: a walk over local days (a holiday lookup
and that weekday's intervals each), O(local days spanned), never minute by minute. The spans
come from probing the zone every 12 hours and bisecting to the second wherever the offset
differs, cached per (zone, UTC year). This assumes a zone's offset never changes and changes
back within 12 hours: the closest two offset changes in the tz database (2025b, checked over
every zone) are about four days apart (Africa/Freetown, 1939); rule-based future transitions
are months apart.

**SLA clock** (:class:`SlaClock`, one target of one ticket). A pause ``(paused_at, resumed_at)``
takes the minutes ``floor(paused_at) <= m < floor(resumed_at)`` off the clock (``resumed_at``
``None``: still paused); pauses may be unsorted or overlap (they are merged) and are clipped to
the start. ``elapsed(now)`` counts the business minutes in ``[start, now)`` outside pauses.
``due_at(now)`` is the deadline, the earliest ``t`` with ``elapsed(t) == target``, knowing the
pauses begun by ``now`` and assuming no further one; ``None`` while paused before reaching it.
The SLA is **met** iff stopped (first response sent, resolved) at or before the deadline and
**breached** once ``now`` is past the deadline without such a stop. This is "elapsed >= target
and not stopped before the deadline" except at the deadline instant itself, where a stop still
counts as on time (the target used, not exceeded). The deadline is an instant and ``now`` and
``stopped_at`` are compared with it exactly, not floored. A stop in the closed hours right after
the deadline is late even though no further business minute elapsed: the customer was promised
the deadline.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.core.errors import InvalidInput

__all__ = ["BusinessCalendar", "SlaClock", "SlaStatus"]

SlaStatus = Literal["running", "paused", "met", "breached"]

DAY = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)
# Supported instants, a day inside datetime's range so a zone's offset never overflows it.
_MIN_T = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // _SECOND
_MAX_T = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // _SECOND
_PROBE = 12 * 3600
_UNBOUNDED = 1 << 62
_HHMM = re.compile(r"(\d{2}):(\d{2})")

Interval = tuple[int, int]  # seconds after local midnight, [start, end)
_ALWAYS: tuple[tuple[Interval, ...], ...] = (((0, DAY),),) * 7


# ---------------------------------------------------------------- zone offsets


def _offset_at(zone: ZoneInfo, t: int) -> int:
    """UTC offset of ``zone`` (seconds) at UTC second ``t``."""
    offset = datetime.fromtimestamp(min(max(t, _MIN_T), _MAX_T), zone).utcoffset()
    assert offset is not None
    return offset // _SECOND


@lru_cache(maxsize=1024)
def _year_spans(key: str, year: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Constant-offset spans of one UTC year: their starts, offsets, and the year's end."""
    zone = ZoneInfo(key)
    lo = (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * DAY
    hi = (date(year, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * DAY
    starts, offsets = [lo], [_offset_at(zone, lo)]
    a = lo
    while a < hi - 1:
        b = min(a + _PROBE, hi - 1)
        while _offset_at(zone, b) != offsets[-1]:  # one or more changes in (a, b]
            left, right = a, b
            while right - left > 1:
                mid = (left + right) // 2
                if _offset_at(zone, mid) == offsets[-1]:
                    left = mid
                else:
                    right = mid
            starts.append(right)
            offsets.append(_offset_at(zone, right))
            a = right
        a = b
    return tuple(starts), tuple(offsets), hi


def _year_of(t: int) -> int:
    return date.fromordinal(_EPOCH_ORDINAL + t // DAY).year


def _spans(key: str, t: int) -> Iterator[tuple[int, int, int]]:
    """``(start, end, offset)`` spans of constant offset, from the one holding ``t`` on."""
    year = _year_of(t)
    starts, offsets, end = _year_spans(key, year)
    i = bisect_right(starts, t) - 1
    while True:
        last = len(starts) - 1
        for j in range(i, last):
            yield starts[j], starts[j + 1], offsets[j]
        yield starts[last], end, offsets[last]
        year += 1
        if year > 9999:
            return
        starts, offsets, end = _year_spans(key, year)
        i = 0


# ---------------------------------------------------------------- instants


def _instant(value: datetime, what: str) -> int:
    """``value`` floored to its UTC minute, as seconds since the epoch."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime", code="sla_naive_datetime")
    t = (value - _EPOCH) // _MINUTE * 60
    if not _MIN_T <= t <= _MAX_T:
        raise InvalidInput(f"{what} is outside the supported years", code="sla_out_of_range")
    return t


def _datetime(t: int) -> datetime:
    if t > _MAX_T:
        raise InvalidInput("the deadline is beyond the supported years", code="sla_out_of_range")
    return _EPOCH + timedelta(seconds=t)


# ---------------------------------------------------------------- calendar


def _seconds_of(value: object, what: str) -> int:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise InvalidInput(f"{what} must be a naive time of day", code="sla_bad_hours")
    if value.second or value.microsecond:
        raise InvalidInput(f"{what} must be a whole minute: {value}", code="sla_bad_hours")
    return value.hour * 3600 + value.minute * 60


def _parse_hours(
    hours: Mapping[int, Sequence[tuple[time, time | None]]] | None,
) -> tuple[tuple[Interval, ...], ...]:
    """Validated weekly hours: per weekday, sorted intervals, touching ones merged."""
    if hours is None:
        return _ALWAYS
    days: list[list[Interval]] = [[] for _ in range(7)]
    for weekday, intervals in hours.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise InvalidInput(f"weekday must be 0 (Monday) .. 6, not {weekday!r}", code="sla_bad_hours")
        for interval in intervals:
            try:
                start, end = interval
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"an interval is a (start, end) pair, not {interval!r}", code="sla_bad_hours"
                ) from None
            s = _seconds_of(start, "an interval's start")
            e = DAY if end is None else _seconds_of(end, "an interval's end")
            if s >= e:
                raise InvalidInput(
                    f"weekday {weekday}: interval {start}-{end or '24:00'} starts at or after its end",
                    code="sla_bad_hours",
                )
            days[weekday].append((s, e))
    week: list[tuple[Interval, ...]] = []
    for weekday, day in enumerate(days):
        merged: list[Interval] = []
        for s, e in sorted(day):
            if merged and s < merged[-1][1]:
                raise InvalidInput(f"weekday {weekday}: intervals overlap", code="sla_bad_hours")
            if merged and s == merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        week.append(tuple(merged))
    if not any(week):
        # Refused rather than allowed: add_business_minutes would never find a minute.
        raise InvalidInput("the calendar has no business hours at all", code="sla_bad_hours")
    return tuple(week)


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _parse_hhmm(text: object, *, end: bool) -> time | None:
    match = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"a time of day is 'HH:MM', not {text!r}", code="sla_bad_calendar")
    hour, minute = int(match[1]), int(match[2])
    if end and (hour, minute) == (24, 0):
        return None
    if hour > 23 or minute > 59:
        raise InvalidInput(f"not a time of day: {text!r}", code="sla_bad_calendar")
    return time(hour, minute)


class BusinessCalendar:
    """A time zone, weekly business hours and holidays: which UTC minutes are business minutes.

    ``hours`` maps weekday (0 = Monday .. 6) to ``(start, end)`` intervals of local wall-clock
    time on a minute grid, ``end`` ``None`` meaning 24:00; a missing weekday has no hours;
    ``hours=None`` means 24/7. Holidays are local dates; ``workdays`` maps a make-up working
    date to the weekday whose hours it keeps (``{date(2026, 2, 14): 0}``: Monday's hours).
    Read-only and hashable; equal calendars count the same minutes (touching intervals are
    merged).
    """

    version = 1
    __slots__ = ("_holiday_days", "_holidays", "_key", "_week", "_workday_days", "_workdays")

    def __init__(
        self,
        timezone: str,
        hours: Mapping[int, Sequence[tuple[time, time | None]]] | None = None,
        holidays: Iterable[date] = (),
        workdays: Mapping[date, int] | None = None,
    ) -> None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise InvalidInput(f"unknown time zone {timezone!r}", code="sla_bad_timezone") from None
        days = frozenset(holidays)
        for day in days:
            if isinstance(day, datetime) or not isinstance(day, date):
                raise InvalidInput(f"a holiday is a date, not {day!r}", code="sla_bad_holidays")
        workdays = dict(workdays or {})
        for day, weekday in workdays.items():
            if isinstance(day, datetime) or not isinstance(day, date) or day in days:
                raise InvalidInput(
                    f"a make-up working day is a date that is not a holiday, not {day!r}",
                    code="sla_bad_holidays",
                )
            if isinstance(weekday, bool) or weekday not in range(7):
                raise InvalidInput(
                    f"a make-up working day keeps the hours of a weekday 0-6, not {weekday!r}",
                    code="sla_bad_hours",
                )
        self._key = timezone
        self._week = _parse_hours(hours)
        self._holidays = days
        self._workdays = workdays
        self._workday_days = {d.toordinal() - _EPOCH_ORDINAL: w for d, w in workdays.items()}
        # Local days as integers (days since 1970-01-01), the walk's own unit.
        self._holiday_days = frozenset(d.toordinal() - _EPOCH_ORDINAL for d in days)

    @property
    def timezone(self) -> str:
        return self._key

    @property
    def holidays(self) -> frozenset[date]:
        return self._holidays

    @property
    def workdays(self) -> dict[date, int]:
        return dict(self._workdays)

    @property
    def always_open(self) -> bool:
        return self._week == _ALWAYS

    @property
    def hours(self) -> dict[int, tuple[tuple[time, time | None], ...]]:
        """The canonical weekly hours, every weekday present (an empty tuple: closed)."""
        return {
            weekday: tuple(
                (time(s // 3600, s % 3600 // 60), None if e == DAY else time(e // 3600, e % 3600 // 60))
                for s, e in intervals
            )
            for weekday, intervals in enumerate(self._week)
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return (self._key, self._week, self._holidays, self._workdays) == (
            other._key,
            other._week,
            other._holidays,
            other._workdays,
        )

    def __hash__(self) -> int:
        return hash((self._key, self._week, self._holidays, tuple(sorted(self._workdays.items()))))

    def __repr__(self) -> str:
        hours = "24/7" if self.always_open else self.to_dict()["hours"]
        return f"BusinessCalendar({self._key!r}, hours={hours}, holidays={len(self._holidays)})"

    # -- serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``Team.calendar``); ``hours`` is ``None`` for 24/7."""
        return {
            "version": self.version,
            "timezone": self._key,
            "hours": None
            if self.always_open
            else {str(wd): [[_hhmm(s), _hhmm(e)] for s, e in iv] for wd, iv in enumerate(self._week)},
            "holidays": sorted(d.isoformat() for d in self._holidays),
            "workdays": {d.isoformat(): w for d, w in sorted(self._workdays.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Inverse of :meth:`to_dict`; malformed input raises ``sla_bad_calendar``."""
        if not isinstance(data, Mapping) or data.get("version") != cls.version:
            raise InvalidInput("not a version-1 business calendar", code="sla_bad_calendar")
        timezone, raw_hours, raw_holidays = data.get("timezone"), data.get("hours"), data.get("holidays", [])
        if not isinstance(timezone, str):
            raise InvalidInput("a business calendar needs a time zone", code="sla_bad_calendar")
        hours: dict[int, list[tuple[time, time | None]]] | None = None
        try:
            if raw_hours is not None:
                if not isinstance(raw_hours, Mapping):
                    raise TypeError(raw_hours)
                hours = {}
                for key, intervals in raw_hours.items():
                    if not str(key).isdigit():
                        raise ValueError(key)
                    hours[int(key)] = []
                    for start, end in intervals:
                        parsed = _parse_hhmm(start, end=False)
                        assert parsed is not None
                        hours[int(key)].append((parsed, _parse_hhmm(end, end=True)))
            holidays = [date.fromisoformat(d) for d in raw_holidays]
            workdays = {date.fromisoformat(d): w for d, w in dict(data.get("workdays") or {}).items()}
        except (TypeError, ValueError):
            raise InvalidInput("malformed business calendar", code="sla_bad_calendar") from None
        return cls(timezone, hours, holidays, workdays)

    # -- counting

    def business_minutes(self, start: datetime, end: datetime) -> int:
        """Business minutes ``m`` with ``floor(start) <= m < floor(end)``; 0 if ``end <= start``."""
        a, b = _instant(start, "start"), _instant(end, "end")
        return self._walk(a, _UNBOUNDED, b)[1] if a < b else 0

    def add_business_minutes(self, start: datetime, minutes: int) -> datetime:
        """The earliest minute boundary ``t`` with ``business_minutes(start, t) == minutes``."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
            raise InvalidInput(
                f"business minutes must be a non-negative integer, not {minutes!r}", code="sla_bad_minutes"
            )
        return _datetime(self._add(_instant(start, "start"), minutes))

    def _add(self, t: int, minutes: int) -> int:
        if minutes == 0:
            return t
        found = self._walk(t, minutes, None)[0]
        if found is None:
            raise InvalidInput("the deadline is beyond the supported years", code="sla_out_of_range")
        return found

    def _walk(self, t: int, k: int, stop: int | None) -> tuple[int | None, int]:
        """Walk business minutes from minute boundary ``t`` (UTC seconds) up to ``stop``
        (exclusive; ``None``: unbounded). Returns the instant right after the ``k``-th one and
        ``k``, or ``None`` and the number found before ``stop``."""
        week, holidays, workdays = self._week, self._holiday_days, self._workday_days
        found = 0
        for span_start, span_end, off in _spans(self._key, t):
            x = t if t > span_start else span_start
            y = span_end if stop is None or stop > span_end else stop
            lo, hi = x + off, y + off  # the span in local wall-clock seconds
            day = lo // DAY
            base = day * DAY
            while base < hi:
                if day not in holidays:
                    weekday = workdays.get(day)
                    for s, e in week[(day + _EPOCH_WEEKDAY) % 7 if weekday is None else weekday]:
                        a, b = base + s, base + e
                        if b <= lo:
                            continue
                        if a >= hi:
                            break
                        if a < lo:
                            a = lo
                        if b > hi:
                            b = hi
                        # UTC minutes m (multiples of 60) with m + off in [a, b).
                        first = -((off - a) // 60)
                        count = -((off - b) // 60) - first
                        if count >= k - found:
                            return (first + k - found) * 60, k
                        found += count
                day += 1
                base += DAY
            if stop is not None and y >= stop:
                break
        return None, found


# ---------------------------------------------------------------- SLA clock


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One SLA target of one ticket: ``target`` business minutes from ``start``, minus pauses.

    ``start`` and the pauses are normalised on construction (UTC, floored to the minute; pauses
    clipped to the start, sorted, merged), so equal clocks compare equal. A pure value: callers
    store the inputs and rebuild it; nothing here reads the clock on the wall.
    """

    calendar: BusinessCalendar
    target: int
    start: datetime
    pauses: Sequence[tuple[datetime, datetime | None]] = ()
    _start: int = field(init=False, repr=False, compare=False)
    _pauses: tuple[tuple[int, int | None], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.target, bool) or not isinstance(self.target, int) or self.target < 0:
            raise InvalidInput(
                f"an SLA target is a non-negative number of minutes, not {self.target!r}",
                code="sla_bad_target",
            )
        start = _instant(self.start, "start")
        spans: list[tuple[int, int | None]] = []
        for pause in self.pauses:
            try:
                paused_at, resumed_at = pause
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"a pause is a (paused_at, resumed_at) pair, not {pause!r}", code="sla_bad_pause"
                ) from None
            p = max(_instant(paused_at, "paused_at"), start)
            r = None if resumed_at is None else _instant(resumed_at, "resumed_at")
            if resumed_at is not None and resumed_at < paused_at:
                raise InvalidInput("a pause resumes before it starts", code="sla_bad_pause")
            if r is None or r > p:
                spans.append((p, r))
        merged: list[tuple[int, int | None]] = []
        for p, r in sorted(spans, key=lambda span: span[0]):
            if merged:
                mp, mr = merged[-1]
                if mr is None:
                    break  # an open pause swallows every later one
                if p <= mr:
                    merged[-1] = (mp, None if r is None else max(r, mr))
                    continue
            merged.append((p, r))
        object.__setattr__(self, "_start", start)
        object.__setattr__(self, "_pauses", tuple(merged))
        object.__setattr__(self, "start", _datetime(start))
        object.__setattr__(
            self, "pauses", tuple((_datetime(p), None if r is None else _datetime(r)) for p, r in merged)
        )

    def elapsed(self, now: datetime) -> int:
        """Business minutes in ``[start, now)`` outside pauses."""
        n = _instant(now, "now")
        count, cur = self.calendar._walk, self._start
        total = 0
        for p, r in self._pauses:
            if p >= n:
                break
            if p > cur:
                total += count(cur, _UNBOUNDED, p)[1]
            if r is None or r >= n:
                return total
            cur = r
        return total + count(cur, _UNBOUNDED, n)[1] if cur < n else total

    def remaining(self, now: datetime) -> int:
        """``target - elapsed(now)``: negative when overdue, by that many business minutes."""
        return self.target - self.elapsed(now)

    def is_paused(self, now: datetime) -> bool:
        n = _instant(now, "now")
        return any(p <= n and (r is None or n < r) for p, r in self._pauses)

    def due_at(self, now: datetime) -> datetime | None:
        """The deadline knowing the pauses begun by ``now``, none after; ``None`` while paused
        at ``now`` before reaching it. Once reached it never changes."""
        due = self._due(_instant(now, "now"))
        return None if due is None else _datetime(due)

    def _due(self, n: int) -> int | None:
        cal, need, cur = self.calendar, self.target, self._start
        if need == 0:
            return cur
        for p, r in self._pauses:
            if p > n:
                break
            if p > cur:
                found, count = cal._walk(cur, need, p)
                if found is not None:
                    return found
                need -= count
            if r is None or r > n:
                return None
            cur = r
        return cal._add(cur, need)

    def status(self, now: datetime, stopped_at: datetime | None = None) -> SlaStatus:
        """``met`` / ``breached`` once stopped (``stopped_at <= now``; a later stop has not
        happened yet), else ``breached`` past the deadline, else ``paused`` or ``running``."""
        n = _instant(now, "now")
        if stopped_at is not None and stopped_at <= now:
            due = self._due(_instant(stopped_at, "stopped_at"))
            return "met" if due is None or stopped_at <= _datetime(due) else "breached"
        due = self._due(n)
        if due is not None and now > _datetime(due):
            return "breached"
        return "paused" if self.is_paused(now) else "running"
