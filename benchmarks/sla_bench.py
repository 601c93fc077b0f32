"""SLA clock throughput (:mod:`patron.desk.clock`): deadlines and elapsed business time.

* **Deadlines**: for ``n`` tickets created at random instants of 2026 (seed 11), the
  first-response deadline (4 business hours) and the resolution deadline (3 business days =
  27 business hours) on a Mon-Fri 09:00-18:00 Asia/Shanghai calendar with the public holidays of
  2026 (State Council notice of 2025-11-04). The weekend make-up working days (调休上班) are not
  modelled: the calendar has holidays only. Median of three runs, tickets per second; the first
  run also fills the zone's offset cache.
* **Elapsed**: ``n`` clocks with 0-3 pauses each (waiting on the customer, some still open),
  ``elapsed(now)`` at a random instant up to ten days after creation. Construction (which
  normalises the pauses) is timed separately.
* **One far deadline**: ``add_business_minutes`` 30 business days out, median microseconds.

Every run checks a sample of its results against the definition (``business_minutes`` back to the
target), so a fast wrong answer cannot pass.

    python -m benchmarks.sla_bench [--tickets N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from benchmarks.common import write

ROUNDS = 3
SEED = 11
FIRST_RESPONSE = 4 * 60
RESOLUTION = 3 * 9 * 60


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
CN_HOLIDAYS_2026 = [
    *_days(date(2026, 1, 1), date(2026, 1, 3)),  # 元旦
    *_days(date(2026, 2, 15), date(2026, 2, 23)),  # 春节
    *_days(date(2026, 4, 4), date(2026, 4, 6)),  # 清明节
    *_days(date(2026, 5, 1), date(2026, 5, 5)),  # 劳动节
    *_days(date(2026, 6, 19), date(2026, 6, 21)),  # 端午节
    *_days(date(2026, 9, 25), date(2026, 9, 27)),  # 中秋节
    *_days(date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节
]


def _median_seconds(fn: Callable[[], object]) -> tuple[float, list[float]]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), [round(t, 4) for t in times]


def main(n: int = 100_000) -> None:
    from patron.desk.clock import BusinessCalendar, SlaClock

    calendar = BusinessCalendar(
        "Asia/Shanghai", {d: [(clock_time(9), clock_time(18))] for d in range(5)}, CN_HOLIDAYS_2026
    )
    rng = random.Random(SEED)
    year_start = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight
    created = [year_start + timedelta(seconds=rng.randrange(365 * 86_400)) for _ in range(n)]

    def deadlines() -> list[tuple[datetime, datetime]]:
        add = calendar.add_business_minutes
        return [(add(c, FIRST_RESPONSE), add(c, RESOLUTION)) for c in created]

    deadline_s, deadline_runs = _median_seconds(deadlines)
    due = deadlines()
    for i in rng.sample(range(n), min(n, 500)):
        assert calendar.business_minutes(created[i], due[i][0]) == FIRST_RESPONSE
        assert calendar.business_minutes(created[i], due[i][1]) == RESOLUTION

    specs: list[tuple[datetime, list[tuple[datetime, datetime | None]], datetime]] = []
    for c in created:
        pauses: list[tuple[datetime, datetime | None]] = []
        at = c
        for _ in range(rng.randrange(4)):
            at += timedelta(seconds=rng.randrange(3 * 86_400))
            resumed = None if rng.random() < 0.1 else at + timedelta(seconds=rng.randrange(2 * 86_400))
            pauses.append((at, resumed))
        specs.append((c, pauses, c + timedelta(seconds=rng.randrange(10 * 86_400))))

    def build() -> list[SlaClock]:
        return [SlaClock(calendar, RESOLUTION, c, pauses) for c, pauses, _ in specs]

    build_s, build_runs = _median_seconds(build)
    clocks = build()
    nows = [now for _, _, now in specs]

    def elapsed() -> list[int]:
        return [clk.elapsed(now) for clk, now in zip(clocks, nows, strict=True)]

    elapsed_s, elapsed_runs = _median_seconds(elapsed)
    values = elapsed()
    for i in rng.sample(range(n), min(n, 500)):
        clk, now = clocks[i], nows[i]
        running, cur = 0, clk.start
        for p, r in clk.pauses:
            running += calendar.business_minutes(cur, min(p, now))
            cur = now if r is None else max(r, cur)
        running += calendar.business_minutes(cur, now)
        assert values[i] == running, i

    far = [created[i] for i in range(min(n, 1000))]
    samples = []
    for c in far:
        start = time.perf_counter()
        calendar.add_business_minutes(c, 30 * 540)
        samples.append(time.perf_counter() - start)

    result: dict[str, Any] = {
        "setup": {
            "tickets": n,
            "seed": SEED,
            "calendar": "Mon-Fri 09:00-18:00 Asia/Shanghai",
            "holidays": len(CN_HOLIDAYS_2026),
            "make_up_workdays_modelled": False,
            "targets_business_minutes": {"first_response": FIRST_RESPONSE, "resolution": RESOLUTION},
            "pauses_per_clock": round(sum(len(p) for _, p, _ in specs) / n, 3),
        },
        "deadlines": {
            "seconds_median": round(deadline_s, 4),
            "seconds_runs": deadline_runs,
            "tickets_per_second": round(n / deadline_s),
            "deadlines_per_second": round(2 * n / deadline_s),
        },
        "clocks": {
            "build_seconds_median": round(build_s, 4),
            "build_seconds_runs": build_runs,
            "elapsed_seconds_median": round(elapsed_s, 4),
            "elapsed_seconds_runs": elapsed_runs,
            "elapsed_per_second": round(n / elapsed_s),
        },
        "deadline_30_business_days_us": {
            "n": len(samples),
            "median": round(statistics.median(samples) * 1e6, 1),
            "max": round(max(samples) * 1e6, 1),
        },
    }
    write("sla", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets and clocks")
    args = parser.parse_args()
    main(args.tickets)
