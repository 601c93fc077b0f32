"""Pre-expiry reminders on both databases, by hand-built lots: the exact events written (lots
expiring together summed, locked points counted, spent and expired ones not), the Shanghai day
boundary, a second run writing nothing, the week's lead firing later, the nightly job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from conftest import run_jobs, table_rows, write_csv
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.ingest.tasks import ImportRequest, run_import
from patron.loyalty import ledger, reminders, service
from patron.models.event import TrackingEvent

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 on 2 March in Shanghai
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-03-02 09:30", "S", 1, "20.00"],
    ["B1", "bob", "Bob", "bob@x.test", "completed", "2026-02-02 10:00", "S", 1, "30.00"],
    ["C1", "cy", "Cy", "cy@x.test", "completed", "2026-02-03 10:00", "S", 1, "30.00"],
    ["D1", "dan", "Dan", "dan@x.test", "completed", "2026-02-04 10:00", "S", 1, "30.00"],
]


@pytest.fixture
def members(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Ada, Bob, Cy and Dan; program ``club`` of the own site (Shanghai time, points last 30
    days after the day earned, order points locked 7 days)."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    [(site,)] = table_rows(engine, "SELECT id FROM shops WHERE code = 'site'")
    with session_scope(engine) as s:
        service.create_program(s, {"code": "club", "name": "Club", "expiry": "days", "expiry_days": 30,
                                   "lock_days": 7, "timezone": "Asia/Shanghai", "shop_id": site})  # fmt: skip
    return {str(n): int(i) for n, i in table_rows(engine, "SELECT name, id FROM customers")}  # type: ignore[call-overload]


def run(
    engine: Engine, op: str, who: int, points: int, *, now: datetime, program: str = "club", **kw: Any
) -> None:
    kw.setdefault("key", f"{op}-{who}-{points}-{now.isoformat()}")
    with session_scope(engine) as s:
        getattr(ledger, op)(s, service.program(s, program), who, points, now=now, **kw)


def remind(engine: Engine, now: datetime, **kw: Any) -> int:
    with session_scope(engine) as s:
        return reminders.remind_expiring(s, now=now, **kw)


def events(engine: Engine) -> list[tuple[Any, ...]]:
    """Every event as (event_id, type, occurred_at, customer_id, shop_id, properties)."""
    with session_scope(engine) as s:
        rows = s.scalars(select(TrackingEvent).order_by(TrackingEvent.id))
        return [(e.event_id, e.type, e.occurred_at, e.customer_id, e.shop_id, e.properties) for e in rows]


def ids(engine: Engine) -> dict[str, int]:
    """Program and account ids: ``club`` and one per customer's name."""
    rows = table_rows(engine, "SELECT c.name, a.id, a.program_id FROM points_accounts a "
                              "JOIN customers c ON c.id = a.customer_id")  # fmt: skip
    return {"club": int(rows[0][2]), **{str(n): int(a) for n, a, _ in rows}}  # type: ignore[call-overload]


def test_the_reminders_written_for_hand_built_lots(engine: Engine, members: dict[str, int]) -> None:
    ada, bob, cy, dan = members["Ada"], members["Bob"], members["Cy"], members["Dan"]
    # Ada: 10 + 5 points earned on 2 March (Shanghai) last through 1 April; 20 points of her
    # order the next day last through 2 April and are still locked (return window) when reminded.
    run(engine, "earn", ada, 10, source="checkin", now=T0)
    run(engine, "earn", ada, 5, source="review", now=T0 + timedelta(hours=2))
    run(engine, "earn", ada, 20, source="order", source_ref="A1", now=T0 + timedelta(days=1))
    # Bob spent all his points; Cy spent 3 of 8 (5 are left).
    run(engine, "earn", bob, 10, source="checkin", now=T0)
    run(engine, "redeem", bob, 10, now=T0 + timedelta(hours=1))
    run(engine, "earn", cy, 8, source="checkin", now=T0)
    run(engine, "redeem", cy, 3, now=T0 + timedelta(hours=1))
    # Dan's points lasted through 20 February and are not settled yet: gone, so not reminded.
    run(engine, "earn", dan, 7, source="checkin", now=T0 - timedelta(days=40))
    now = T0 + timedelta(days=3)  # 5 March: 1 and 2 April are within 30 days, not within 7
    assert remind(engine, now) == 3
    n = ids(engine)
    club, site = n["club"], table_rows(engine, "SELECT id FROM shops WHERE code = 'site'")[0][0]

    def props(points: int, expires: str, last: str, balance: int) -> dict[str, Any]:
        return {"program": "club", "points": points, "expires_at": expires, "last_day": last,
                "lead_days": 30, "balance": balance}  # fmt: skip

    assert events(engine) == [
        (f"loyalty-expiring:{club}:{n['Ada']}:2026-04-01:30", "points_expiring", now, ada, site,
         props(15, "2026-04-01T16:00:00+00:00", "2026-04-01", 15)),
        (f"loyalty-expiring:{club}:{n['Ada']}:2026-04-02:30", "points_expiring", now, ada, site,
         props(20, "2026-04-02T16:00:00+00:00", "2026-04-02", 15)),
        (f"loyalty-expiring:{club}:{n['Cy']}:2026-04-01:30", "points_expiring", now, cy, site,
         props(5, "2026-04-01T16:00:00+00:00", "2026-04-01", 5)),
    ]  # fmt: skip
    assert table_rows(engine, "SELECT state, remaining FROM points_lots WHERE points = 20") == [
        ("locked", 20)
    ]
    # Run again, the same day or the next: nothing new.
    assert remind(engine, now) == 0
    assert remind(engine, now + timedelta(days=1)) == 0
    assert len(events(engine)) == 3


def test_the_week_s_lead_fires_later_and_once(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 10, source="checkin", now=T0)  # through 1 April
    run(engine, "earn", ada, 4, source="checkin", now=T0 + timedelta(days=1))  # through 2 April
    assert remind(engine, T0 + timedelta(days=2)) == 2  # 4 March: both within 30 days
    assert remind(engine, datetime(2026, 3, 25, 1, tzinfo=UTC)) == 0  # 25 March: 8 days left
    run(engine, "redeem", ada, 3, now=datetime(2026, 3, 25, 2, tzinfo=UTC))
    assert remind(engine, datetime(2026, 3, 26, 1, tzinfo=UTC)) == 1  # 26 March: 7 days left of 1 April
    assert remind(engine, datetime(2026, 3, 26, 2, tzinfo=UTC)) == 0
    assert remind(engine, datetime(2026, 3, 27, 1, tzinfo=UTC)) == 1  # and of 2 April
    assert remind(engine, datetime(2026, 4, 10, 1, tzinfo=UTC)) == 0  # all expired
    n = ids(engine)
    prefix = f"loyalty-expiring:{n['club']}:{n['Ada']}:"
    written = [(e[0].removeprefix(prefix), e[5]["points"], e[5]["balance"]) for e in events(engine)]
    assert written == [
        ("2026-04-01:30", 10, 14),
        ("2026-04-02:30", 4, 14),
        ("2026-04-01:7", 7, 11),  # what is left when each is written
        ("2026-04-02:7", 4, 11),
    ]


def test_the_day_boundary_is_the_program_s_local_midnight(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    # Earned at 23:59 on 1 March in Shanghai (15:59 UTC): through 31 March, gone at 16:00 UTC.
    run(engine, "earn", ada, 10, source="checkin", now=datetime(2026, 3, 1, 15, 59, tzinfo=UTC))
    # 23:59:59 on 24 March in Shanghai: 8 days left (24..31 March). One second later, 25 March
    # 00:00 in Shanghai (still 24 March in UTC): 7 days left.
    assert remind(engine, datetime(2026, 3, 24, 15, 59, 59, tzinfo=UTC), leads=[7]) == 0
    assert remind(engine, datetime(2026, 3, 24, 16, 0, tzinfo=UTC), leads=[7]) == 1
    # A one-day lead is the last day itself, to its last second; then the points are gone.
    assert remind(engine, datetime(2026, 3, 30, 15, 59, 59, tzinfo=UTC), leads=[1]) == 0
    assert remind(engine, datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC), leads=[1]) == 1
    assert remind(engine, datetime(2026, 3, 31, 16, 0, tzinfo=UTC), leads=[2]) == 0
    assert [(e[0].rsplit(":", 2)[1:], e[5]["expires_at"], e[5]["last_day"]) for e in events(engine)] == [
        (["2026-03-31", "7"], "2026-03-31T16:00:00+00:00", "2026-03-31"),
        (["2026-03-31", "1"], "2026-03-31T16:00:00+00:00", "2026-03-31"),
    ]


def test_the_nightly_job_writes_once(
    engine: Engine, members: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.core import jobs
    from patron.loyalty import tasks

    run(engine, "earn", members["Ada"], 10, source="checkin", now=T0)
    run(engine, "earn", members["Bob"], 10, source="checkin", now=T0)
    monkeypatch.setattr(tasks, "utcnow", lambda: datetime(2026, 3, 27, 16, 20, tzinfo=UTC))  # 00:20
    for expected in ({"events": 4}, {"events": 0}):
        with session_scope(engine) as s:
            jobs.enqueue(s, "loyalty.remind", key=f"run-{expected['events']}")
        assert run_jobs(engine) == 1
        assert table_rows(engine, "SELECT result FROM jobs ORDER BY id DESC LIMIT 1")[0][0] in (
            expected,
            json.dumps(expected),
        )
    assert tasks.REMIND_SCHEDULE == "20 0 * * *"
    assert sorted(e[5]["lead_days"] for e in events(engine)) == [7, 7, 30, 30]


def test_a_program_across_shops_and_an_inactive_program(engine: Engine, members: dict[str, int]) -> None:
    ada, bob = members["Ada"], members["Bob"]
    with session_scope(engine) as s:
        every = service.create_program(s, {"code": "all", "name": "All shops", "expiry": "days",
                                           "expiry_days": 30, "timezone": "Asia/Shanghai"}).id  # fmt: skip
        club = service.program(s, "club").id
    run(engine, "earn", ada, 10, source="checkin", now=T0, program="all")
    run(engine, "earn", bob, 10, source="checkin", now=T0)
    with session_scope(engine) as s:
        service.program(s, "club").active = False
    assert remind(engine, T0 + timedelta(days=1), leads=[30]) == 1  # 3 March: 30 days left of 1 April
    [(event_id, _, _, customer, shop, properties)] = events(engine)
    assert (event_id.split(":")[1], customer, shop, properties["program"]) == (str(every), ada, None, "all")
    with session_scope(engine) as s:
        service.program(s, "club").active = True
    assert remind(engine, T0 + timedelta(days=1), leads=[30]) == 1
    assert events(engine)[-1][0].startswith(f"loyalty-expiring:{club}:")


def test_lots_of_one_last_day_expiring_at_two_instants_are_one_reminder(
    engine: Engine, members: dict[str, int]
) -> None:
    ada = members["Ada"]
    # Gone at midnight in Shanghai (16:00 UTC on 1 April), then, the zone changed to UTC, 6
    # points gone at midnight UTC after 1 April: both last through 1 April in UTC.
    run(engine, "earn", ada, 10, source="checkin", now=T0)
    with session_scope(engine) as s:
        service.program(s, "club").timezone = "UTC"
    noon = datetime(2026, 3, 2, 12, tzinfo=UTC)
    run(engine, "earn", ada, 6, source="review", now=noon)
    assert table_rows(engine, "SELECT COUNT(DISTINCT expires_at) FROM points_lots") == [(2,)]
    assert remind(engine, noon + timedelta(hours=1), leads=[31]) == 1
    assert events(engine)[0][5] == {"program": "club", "points": 16, "expires_at": "2026-04-01T16:00:00+00:00",
                                    "last_day": "2026-04-01", "lead_days": 31, "balance": 16}  # fmt: skip


def test_leads_are_whole_days(engine: Engine, members: dict[str, int]) -> None:
    with pytest.raises(InvalidInput) as err:
        remind(engine, T0, leads=[7, 0])
    assert err.value.code == "loyalty_bad_leads"
    assert remind(engine, T0, leads=[]) == 0
    assert events(engine) == []
