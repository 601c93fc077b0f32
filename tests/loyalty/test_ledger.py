"""The points ledger on both databases, by hand-computed cases: locking through the return
window, spending nearest expiry first, refusals that change nothing, idempotency keys, refunds
clawing back (into a debt or written off), administrators' adjustments, reversals, expiry at
the Shanghai day boundary, and the daily settling run twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from conftest import run_jobs, table_rows, write_csv
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.ingest.tasks import ImportRequest, run_import
from patron.loyalty import ledger, service
from patron.loyalty import repository as repo
from patron.models import LoyaltyProgram

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "S", 1, "120.00"],
    ["B1", "bob", "Bob", "bob@x.test", "completed", "2026-02-02 10:00", "S", 1, "30.00"],
]


@pytest.fixture
def members(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Ada and Bob; program ``club`` (points last 30 days, order points locked 7 days, debts
    repaid by later points) and ``lenient`` (never expire, debts written off)."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    with session_scope(engine) as s:
        service.create_program(s, {"code": "club", "name": "Club", "expiry": "days", "expiry_days": 30,
                                   "lock_days": 7, "timezone": "Asia/Shanghai"})  # fmt: skip
        service.create_program(s, {"code": "lenient", "name": "Lenient", "expiry": "never",
                                   "debt_rule": "write_off", "lock_days": 7})  # fmt: skip
    return {str(n): int(i) for n, i in table_rows(engine, "SELECT name, id FROM customers")}  # type: ignore[call-overload]


def run(engine: Engine, op: str, who: int, *args: Any, program: str = "club", **kw: Any) -> dict[str, Any]:
    kw.setdefault("now", T0)
    if op != "reverse":
        kw.setdefault("key", f"{op}-{args}-{kw['now'].isoformat()}")
    with session_scope(engine) as s:
        prog = service.program(s, program)
        return getattr(ledger, op)(s, prog, who, *args, **kw).result  # type: ignore[no-any-return]


def state(engine: Engine, who: int, program: str = "club") -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """The member's balance (checked against the sums of the ledger and of the lots) and their
    open lots as (points, remaining, state)."""
    with session_scope(engine) as s:
        m = service.member(s, program, who)
        assert m.account is not None
        assert repo.entry_sums(s, m.account.id) == (
            m.account.active,
            m.account.locked,
            m.account.debt,
            m.account.growth,
        )
        by_state = {"active": 0, "locked": 0}
        for lot in m.lots:
            by_state[lot.state] += lot.remaining
        assert (by_state["active"], by_state["locked"]) == (m.account.active, m.account.locked)
        return m.balance, [(lot.points, lot.remaining, lot.state) for lot in m.lots]


def settle(engine: Engine, at: datetime) -> int:
    with session_scope(engine) as s:
        return service.settle_all(s, now=at)


def test_order_points_are_locked_through_the_return_window(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    r = run(engine, "earn", ada, 120, source="order", source_ref="A1")
    assert r["balance"] == {"active": 0, "locked": 120, "debt": 0, "growth": 120}
    assert [(e["kind"], e["locked"]) for e in r["entries"]] == [("earn", 120)]
    with pytest.raises(Conflict) as err:
        run(engine, "redeem", ada, 1)
    assert (err.value.code, err.value.data) == (
        "points_insufficient",
        {"requested": 1, "available": 0, "locked": 120},
    )
    assert settle(engine, T0 + timedelta(days=7) - timedelta(seconds=1)) == 0
    assert settle(engine, T0 + timedelta(days=7)) == 1
    assert settle(engine, T0 + timedelta(days=7)) == 0  # run twice: nothing more
    assert state(engine, ada) == (
        {"active": 120, "locked": 0, "debt": 0, "growth": 120},
        [(120, 120, "active")],
    )


def test_spending_takes_the_nearest_expiry_first(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 50, source="review", now=T0 + timedelta(days=5))  # expires later
    run(engine, "earn", ada, 30, source="survey", now=T0)  # expires first
    r = run(engine, "redeem", ada, 40, now=T0 + timedelta(days=6))
    assert [(e["kind"], e["active"]) for e in r["entries"]] == [("redeem", -30), ("redeem", -10)]
    assert state(engine, ada) == ({"active": 40, "locked": 0, "debt": 0, "growth": 80}, [(50, 40, "active")])


def test_a_refused_redemption_changes_nothing(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 10, source="review")
    with pytest.raises(Conflict) as err:
        run(engine, "redeem", ada, 11, key="r1")
    assert err.value.data == {"requested": 11, "available": 10, "locked": 0}
    with pytest.raises(InvalidInput) as bad:
        run(engine, "redeem", ada, 0, key="r2")
    assert bad.value.code == "points_out_of_range"
    with pytest.raises(InvalidInput):
        run(engine, "redeem", ada, 5, key=" ")
    assert table_rows(engine, "SELECT kind FROM points_operations ORDER BY id") == [("earn",)]
    assert state(engine, ada)[0]["active"] == 10


def test_the_same_key_answers_the_same_and_a_different_request_under_it_is_refused(
    engine: Engine, members: dict[str, int]
) -> None:
    ada, bob = members["Ada"], members["Bob"]
    first = run(engine, "earn", ada, 25, source="review", key="review-7")
    with session_scope(engine) as s:
        again = ledger.earn(
            s,
            service.program(s, "club"),
            ada,
            25,
            source="review",
            key="review-7",
            now=T0 + timedelta(hours=1),
        )
    assert (again.result, again.replayed) == (first, True)
    for other in (
        {"points": 26, "who": ada},
        {"points": 25, "who": bob},  # the key belongs to Ada's request
    ):
        with pytest.raises(Conflict) as err:
            run(engine, "earn", other["who"], other["points"], source="review", key="review-7")
        assert err.value.code == "idempotency_key_reused"
    # Keys are per program: the other program takes the same key for its own request.
    run(engine, "earn", ada, 5, source="review", key="review-7", program="lenient")
    assert state(engine, ada)[0]["active"] == 25
    assert table_rows(engine, "SELECT COUNT(*) FROM points_entries") == [(2,)]


def test_a_refund_claws_back_and_spent_points_become_a_debt_repaid_later(
    engine: Engine, members: dict[str, int]
) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 120, source="order", source_ref="A1")
    r = run(engine, "clawback", ada, 30, order_ref="A1", key="refund-1")  # still locked: taken from the lot
    assert (r["clawed"], r["balance"]) == (30, {"active": 0, "locked": 90, "debt": 0, "growth": 90})
    settle(engine, T0 + timedelta(days=7))
    run(engine, "redeem", ada, 80, now=T0 + timedelta(days=8))
    # A second refund of 50: 10 points are left of the order's lot, 40 were spent: a debt.
    r = run(engine, "clawback", ada, 50, order_ref="A1", key="refund-2", now=T0 + timedelta(days=9))
    assert [(e["kind"], e["active"], e["debt"]) for e in r["entries"]] == [
        ("clawback", -10, 0),
        ("clawback", 0, 40),
    ]
    assert r["balance"] == {"active": 0, "locked": 0, "debt": 40, "growth": 40}
    # Never more than was earned on the order: 120 - 30 - 50 = 40 left to claw, whatever is asked.
    r = run(engine, "clawback", ada, 500, order_ref="A1", key="refund-3", now=T0 + timedelta(days=9))
    assert (r["clawed"], r["balance"]["debt"], r["balance"]["growth"]) == (40, 80, 0)
    r = run(engine, "clawback", ada, 1, order_ref="A1", key="refund-4", now=T0 + timedelta(days=9))
    assert (r["clawed"], r["entries"]) == (0, [])
    with pytest.raises(NotFound):
        run(engine, "clawback", ada, 1, order_ref="Z9", key="refund-5")
    # New points repay the debt first.
    r = run(engine, "earn", ada, 100, source="review", now=T0 + timedelta(days=10))
    assert [(e["kind"], e["active"], e["debt"]) for e in r["entries"]] == [
        ("earn", 100, 0),
        ("repay", -80, -80),
    ]
    assert state(engine, ada) == (
        {"active": 20, "locked": 0, "debt": 0, "growth": 100},
        [(100, 20, "active")],
    )


def test_under_write_off_spent_points_are_forgiven_on_record(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 100, source="order", source_ref="A1", program="lenient", lock=False)
    run(engine, "redeem", ada, 100, program="lenient", key="spend")
    r = run(engine, "clawback", ada, 60, order_ref="A1", key="refund", program="lenient")
    assert [(e["kind"], e["debt"]) for e in r["entries"]] == [("write_off", 0)]
    assert r["balance"] == {"active": 0, "locked": 0, "debt": 0, "growth": 40}
    assert table_rows(
        engine, "SELECT kind, points, growth_delta FROM points_entries WHERE kind = 'write_off'"
    ) == [("write_off", 60, -60)]


def test_under_write_off_a_reversal_does_not_give_back_points_a_refund_forgave(
    engine: Engine, members: dict[str, int]
) -> None:
    """150 points (100 for order A1, 50 for a review), 120 spent (A1's 100 first, then 20 of the
    review's), then 60 of A1 refunded: 60 of its spent points written off. Undoing the
    redemption gives back the 120 less the 60 the refund forgave: the member has what they would
    have had without the redemption (150 - 60 = 90)."""
    ada = members["Ada"]
    run(engine, "earn", ada, 100, source="order", source_ref="A1", program="lenient", lock=False, key="o")
    run(engine, "earn", ada, 50, source="review", program="lenient", key="rv", now=T0 + timedelta(seconds=1))
    run(engine, "redeem", ada, 120, program="lenient", key="spend", now=T0 + timedelta(seconds=2))
    run(
        engine,
        "clawback",
        ada,
        60,
        order_ref="A1",
        key="refund",
        program="lenient",
        now=T0 + timedelta(seconds=3),
    )
    r = run(engine, "reverse", ada, of_key="spend", key="undo", actor="user:1", program="lenient",
            now=T0 + timedelta(seconds=4))  # fmt: skip
    assert [(e["kind"], e["active"]) for e in r["entries"]] == [
        ("reversal", 100),
        ("clawback", -60),
        ("reversal", 20),
    ]
    assert r["balance"] == {"active": 90, "locked": 0, "debt": 0, "growth": 90}
    assert state(engine, ada, "lenient")[1] == [(100, 40, "active"), (50, 50, "active")]
    # Taken back once: a second refund of the rest of A1 takes its 40 left, nothing is forgiven twice.
    r = run(
        engine,
        "clawback",
        ada,
        40,
        order_ref="A1",
        key="refund-2",
        program="lenient",
        now=T0 + timedelta(seconds=5),
    )
    assert r["balance"] == {"active": 50, "locked": 0, "debt": 0, "growth": 50}
    with session_scope(engine) as s:
        account = service.member(s, "lenient", ada).account
        assert account is not None
        assert repo.written_off_unrecovered(s, account.id, "A1") == 0


def test_an_administrator_takes_more_only_as_an_explicit_debt(
    engine: Engine, members: dict[str, int]
) -> None:
    bob = members["Bob"]
    run(engine, "adjust", bob, 15, reason="goodwill", actor="user:1", key="a1")
    with pytest.raises(Conflict) as err:
        run(engine, "adjust", bob, -20, reason="fraud", actor="user:1", key="a2")
    assert err.value.code == "points_insufficient"
    with pytest.raises(InvalidInput) as bad:
        run(engine, "adjust", bob, -5, reason=" ", actor="user:1", key="a3")
    assert bad.value.code == "points_reason_missing"
    r = run(engine, "adjust", bob, -20, reason="fraud", actor="user:1", key="a4", allow_debt=True)
    assert r["balance"] == {"active": 0, "locked": 0, "debt": 5, "growth": 0}  # adjustments are not growth
    assert state(engine, bob)[1] == []


def test_a_reversed_redemption_returns_the_points_to_their_lots(
    engine: Engine, members: dict[str, int]
) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 30, source="survey", now=T0)  # expires at the end of 1 April (Shanghai)
    run(engine, "earn", ada, 50, source="review", now=T0 + timedelta(days=20))
    run(engine, "redeem", ada, 60, key="gift", now=T0 + timedelta(days=25))
    r = run(
        engine, "reverse", ada, of_key="gift", key="gift-undo", actor="user:1", now=T0 + timedelta(days=26)
    )
    assert r["balance"]["active"] == 80
    assert [(e["kind"], e["active"]) for e in r["entries"]] == [("reversal", 30), ("reversal", 30)]
    with pytest.raises(Conflict) as err:
        run(engine, "reverse", ada, of_key="gift", key="gift-undo-2", actor="user:1")
    assert err.value.code == "points_already_reversed"
    with pytest.raises(NotFound):
        run(engine, "reverse", ada, of_key="nope", key="x", actor="user:1")
    # Reversed after the first lot expired: its points come back and expire at once.
    run(engine, "redeem", ada, 60, key="gift-2", now=T0 + timedelta(days=27))
    r = run(
        engine,
        "reverse",
        ada,
        of_key="gift-2",
        key="gift-2-undo",
        actor="user:1",
        now=T0 + timedelta(days=31),
    )
    assert r["balance"]["active"] == 50
    assert state(engine, ada)[1] == [(50, 50, "active")]


def test_points_expire_at_the_end_of_the_local_day(engine: Engine, members: dict[str, int]) -> None:
    ada = members["Ada"]
    # Earned at 23:59 on 31 January in Shanghai (15:59 UTC): 30 days means through 2 March.
    earned = datetime(2026, 1, 31, 15, 59, tzinfo=UTC)
    run(engine, "earn", ada, 10, source="checkin", now=earned)
    last_moment = datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC)  # 23:59:59 on 2 March in Shanghai
    assert settle(engine, last_moment) == 0
    run(engine, "redeem", ada, 1, key="late", now=last_moment)
    with pytest.raises(Conflict):  # one second later they are gone, even before the daily job
        run(engine, "redeem", ada, 1, key="too-late", now=last_moment + timedelta(seconds=1))
    assert settle(engine, last_moment + timedelta(seconds=1)) == 1
    assert settle(engine, last_moment + timedelta(days=1)) == 0
    assert state(engine, ada) == ({"active": 0, "locked": 0, "debt": 0, "growth": 10}, [])
    assert table_rows(engine, "SELECT kind, active_delta FROM points_entries ORDER BY id") == [
        ("earn", 10), ("redeem", -1), ("expire", -9)
    ]  # fmt: skip


def test_rolling_expiry_follows_the_member_s_last_activity(engine: Engine, members: dict[str, int]) -> None:
    bob = members["Bob"]
    with session_scope(engine) as s:
        service.create_program(s, {"code": "rolling", "name": "R", "expiry": "rolling", "expiry_days": 10,
                                   "timezone": "UTC"})  # fmt: skip
    run(engine, "earn", bob, 10, source="checkin", program="rolling", now=T0)
    run(engine, "earn", bob, 5, source="checkin", program="rolling", now=T0 + timedelta(days=9))
    # Both lots now last 10 days after the second check-in.
    assert settle(engine, T0 + timedelta(days=12)) == 0
    run(engine, "redeem", bob, 1, program="rolling", key="r", now=T0 + timedelta(days=19))
    assert settle(engine, datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == 0
    assert settle(engine, datetime(2026, 4, 1, tzinfo=UTC)) == 2
    assert state(engine, bob, "rolling")[0] == {"active": 0, "locked": 0, "debt": 0, "growth": 15}


def test_programs_are_checked(engine: Engine, members: dict[str, int]) -> None:
    with session_scope(engine) as s:
        for values, code in (
            ({"code": "club", "name": "again"}, "loyalty_program_exists"),
            ({"code": "x", "name": "x", "expiry": "days"}, "loyalty_bad_expiry"),
            ({"code": "y", "name": "y", "timezone": "Mars/Olympus"}, "bad_timezone"),
            ({"code": "z", "name": "z", "debt_rule": "forget"}, "loyalty_bad_debt_rule"),
        ):
            with pytest.raises((Conflict, InvalidInput)) as err:
                service.create_program(s, values)
            assert err.value.code == code
        with pytest.raises(NotFound):
            service.program(s, "nope")
        assert isinstance(service.program(s, "club"), LoyaltyProgram)
        with pytest.raises(NotFound):
            ledger.earn(s, service.program(s, "club"), 999_999, 5, source="review", key="k", now=T0)


def test_an_unlock_repays_a_debt_first(engine: Engine, members: dict[str, int]) -> None:
    ada, bob = members["Ada"], members["Bob"]
    run(engine, "earn", ada, 100, source="order", source_ref="A1", lock=False)
    run(engine, "redeem", ada, 100, key="all")
    run(engine, "earn", ada, 50, source="order", source_ref="A2")  # locked for 7 days
    run(engine, "clawback", ada, 60, order_ref="A1", key="refund")
    run(engine, "earn", bob, 20, source="order", source_ref="B1")  # Bob has no debt: the bulk path
    assert state(engine, ada)[0] == {"active": 0, "locked": 50, "debt": 60, "growth": 90}
    assert settle(engine, T0 + timedelta(days=7)) == 3  # Ada's unlock and repayment, Bob's unlock
    assert state(engine, ada) == ({"active": 0, "locked": 0, "debt": 10, "growth": 90}, [])
    assert state(engine, bob)[0] == {"active": 20, "locked": 0, "debt": 0, "growth": 20}


def test_the_nightly_job_settles_in_batches_and_twice_is_once(
    engine: Engine, members: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.core import jobs
    from patron.loyalty import tasks

    for who in members.values():
        for n in range(3):
            run(engine, "earn", who, 10 + n, source="checkin", key=f"c{who}-{n}", now=T0 + timedelta(days=n))
    monkeypatch.setattr(service, "utcnow", lambda: T0 + timedelta(days=40))
    original = service.settle_due
    monkeypatch.setattr(service, "settle_due", lambda s, **kw: original(s, batch=1, **kw))
    for expected in (
        {"entries": 6, "batches": 2, "tier_moves": 0},
        {"entries": 0, "batches": 0, "tier_moves": 0},
    ):
        with session_scope(engine) as s:
            jobs.enqueue(s, "loyalty.settle", key=f"run-{expected['entries']}")
        assert run_jobs(engine) == 1
        assert table_rows(engine, "SELECT result FROM jobs ORDER BY id DESC LIMIT 1")[0][0] in (
            expected,
            json.dumps(expected),
        )
    assert tasks.SETTLE_SCHEDULE == "10 0 * * *"
    assert table_rows(engine, "SELECT kind, COUNT(*) FROM points_entries GROUP BY kind ORDER BY kind") == [
        ("earn", 6), ("expire", 6)
    ]  # fmt: skip


def test_points_that_expired_unused_are_not_owed_when_their_order_is_refunded(
    engine: Engine, members: dict[str, int]
) -> None:
    ada = members["Ada"]
    run(engine, "earn", ada, 100, source="order", source_ref="B1", key="b1")
    run(engine, "redeem", ada, 30, key="some", now=T0 + timedelta(days=8))  # 30 spent, 70 expire unused
    settle(engine, T0 + timedelta(days=60))
    r = run(engine, "clawback", ada, 100, order_ref="B1", key="refund", now=T0 + timedelta(days=61))
    assert [(e["kind"], e["debt"]) for e in r["entries"]] == [("clawback", 30), ("clawback", 0)]
    assert r["balance"] == {"active": 0, "locked": 0, "debt": 30, "growth": 0}


def test_a_reversal_into_an_expired_lot_repays_no_debt(engine: Engine, members: dict[str, int]) -> None:
    bob = members["Bob"]
    run(engine, "earn", bob, 100, source="review", key="e")
    run(engine, "redeem", bob, 100, key="gift", now=T0 + timedelta(days=1))
    run(engine, "adjust", bob, -50, reason="fraud", allow_debt=True, actor="user:1", key="a",
        now=T0 + timedelta(days=40))  # fmt: skip
    r = run(engine, "reverse", bob, of_key="gift", key="undo", actor="user:1", now=T0 + timedelta(days=41))
    assert [(e["kind"], e["active"]) for e in r["entries"]] == [("reversal", 100)]
    assert r["balance"] == {"active": 0, "locked": 0, "debt": 50, "growth": 100}


def test_merging_customers_who_are_both_members(engine: Engine, members: dict[str, int]) -> None:
    """Bob merged into Ada: his account in ``club``, where Ada has one, stays his (not combined,
    nothing lost); his account in ``lenient``, where she has none, becomes hers; undone exactly."""
    from patron.customers import service as customers

    ada, bob = members["Ada"], members["Bob"]
    run(engine, "earn", ada, 10, source="review", key="a")
    run(engine, "earn", bob, 20, source="review", key="b")
    run(engine, "earn", bob, 30, source="review", key="b2", program="lenient")
    with session_scope(engine) as s:
        record = customers.merge(s, ada, bob, reason="same person", actor="user:1")
        merge_id = record.id
    accounts = "SELECT p.code, a.customer_id, a.active FROM points_accounts a JOIN loyalty_programs p " \
               "ON p.id = a.program_id ORDER BY p.code, a.customer_id"  # fmt: skip
    assert table_rows(engine, accounts) == [("club", ada, 10), ("club", bob, 20), ("lenient", ada, 30)]
    with session_scope(engine) as s:
        customers.unmerge(s, merge_id, actor="user:1")
    assert table_rows(engine, accounts) == [("club", ada, 10), ("club", bob, 20), ("lenient", bob, 30)]
