"""The tickets' incremental SLA clock (``patron.desk.sla``: minutes counted at each pause, the
deadline recomputed at each resume) agrees with the reference :class:`SlaClock`, itself checked
against a minute-by-minute oracle in ``test_clock.py``, over random business calendars, time
zones with DST, pauses, resumes, stops and reopenings: elapsed minutes, deadline, state and the
moment a miss is recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from patron.desk import sla
from patron.desk.clock import BusinessCalendar, SlaClock
from patron.models import TicketSla

CALENDARS = [
    BusinessCalendar("UTC", None),
    BusinessCalendar(
        "Asia/Shanghai", {d: [(time(9), time(18))] for d in range(5)}, [date(2026, 10, 1), date(2026, 10, 2)]
    ),
    BusinessCalendar(
        "America/New_York",
        {d: [(time(0, 30), time(3)), (time(8), time(12)), (time(13), None)] for d in (0, 1, 2, 3, 4, 6)},
        [date(2026, 11, 3)],
    ),
    BusinessCalendar("Australia/Lord_Howe", {5: [(time(1), time(3))], 6: [(time(0), None)]}),
]
STARTS = [datetime(2026, 9, 30, 8, 0, tzinfo=UTC), datetime(2026, 10, 31, 22, 0, tzinfo=UTC),
          datetime(2026, 10, 2, 15, 0, tzinfo=UTC)]  # fmt: skip

steps = st.lists(
    st.tuples(st.integers(0, 3 * 24 * 60 * 60), st.sampled_from(["pause", "resume", "stop", "reopen"])),
    max_size=8,
)


def current_elapsed(row: TicketSla, cal: BusinessCalendar, now: datetime) -> int:
    running = cal.business_minutes(row.running_since, now) if row.running_since else 0
    return row.elapsed_minutes + running


@settings(max_examples=300, deadline=None)
@given(
    cal=st.sampled_from(CALENDARS),
    start=st.sampled_from(STARTS),
    offset=st.integers(0, 24 * 60 * 60),
    target=st.integers(1, 3000),
    events=steps,
    tail=st.integers(0, 2 * 24 * 60 * 60),
)
def test_the_incremental_clock_matches_the_reference(
    cal: BusinessCalendar, start: datetime, offset: int, target: int, events: list[tuple[int, str]], tail: int
) -> None:
    t = start + timedelta(seconds=offset)
    row = TicketSla(target_minutes=target, elapsed_minutes=0, started_at=t)
    sla._run(row, t, cal, 0)
    pauses: list[list[datetime | None]] = []
    for gap, action in events:
        t += timedelta(seconds=gap)
        paused = row.running_since is None
        if action == "pause" and not paused and row.stopped_at is None:
            sla._halt(row, t, cal)
            pauses.append([t, None])
        elif action == "resume" and paused and row.stopped_at is None:
            sla._run(row, t, cal, 0)
            pauses[-1][1] = t
        elif action == "stop" and row.stopped_at is None:
            if not paused:
                pauses.append([t, None])
            sla._halt(row, t, cal)
            row.stopped_at = t
        elif action == "reopen" and row.stopped_at is not None:
            row.stopped_at = None
            sla._run(row, t, cal, 0)
            pauses[-1][1] = t
        now = t
        reference = SlaClock(cal, target, row.started_at, [(p, r) for p, r in pauses])
        assert current_elapsed(row, cal, now) == reference.elapsed(now)
        if row.running_since is not None:
            assert row.due_at == reference.due_at(now)
        expected_breach = reference.due_at(now)
        if row.breached_at is not None:
            # A miss is recorded at the deadline, and only once it has passed.
            assert row.breached_at == expected_breach
            assert row.breached_at < now
    now = t + timedelta(seconds=tail)
    reference = SlaClock(cal, target, row.started_at, [(p, r) for p, r in pauses])
    assert current_elapsed(row, cal, now) == reference.elapsed(now)
    stopped_at = row.stopped_at
    want = reference.status(now, stopped_at=stopped_at)
    if stopped_at is not None:
        # Stopped: the reference judges the stop; the row has recorded a miss exactly then.
        assert (want == "breached") == (row.breached_at is not None)
    else:
        got = sla.state(row, now)
        assert {"breached": "breached", "paused": "paused", "running": "running"}[want] == (
            "running" if got == "warning" else got
        )
