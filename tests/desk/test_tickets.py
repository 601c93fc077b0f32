"""Tickets on both databases: the life of a ticket with its SLA clocks minute by minute, the
workflow, merging, complaint categories, and what the public form may link."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from conftest import table_rows, utc, write_csv
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.desk import service
from patron.desk.service import DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import Refund

UTC_DESK = DeskConfig(timezone="UTC")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def at(hh: int, mm: int = 0, day: int = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm) + timedelta(days=day)


HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "S", 1, "1200.00"],
    ["B1", "bob", "Bob", "bob@x.test", "completed", "2026-02-02 10:00", "S", 1, "30.00"],
]


@pytest.fixture
def shop(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Two customers with an order each; a catch-all SLA policy (1 h / 2 h / 8 h, warned 10 min
    before)."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    with session_scope(engine) as s:
        service.create_policy(
            s,
            {"name": "standard", "position": 10, "first_response_minutes": 60, "next_response_minutes": 120,
             "resolution_minutes": 480, "warn_before_minutes": 10},
        )  # fmt: skip
    rows = table_rows(engine, "SELECT o.external_id, o.id, o.customer_id FROM orders o")
    ids = {str(ext): (int(oid), int(cid)) for ext, oid, cid in rows}  # type: ignore[call-overload]
    return {"ada": ids["A1"][1], "bob": ids["B1"][1], "ada_order": ids["A1"][0], "bob_order": ids["B1"][0]}


def clocks(engine: Engine, ticket_id: int) -> list[tuple[object, ...]]:
    rows = table_rows(
        engine,
        "SELECT target, seq, elapsed_minutes, due_at, stopped_at, breached_at FROM ticket_slas "
        f"WHERE ticket_id = {ticket_id} ORDER BY target, seq",
    )
    return [(t, q, e, utc(d), utc(st), utc(b)) for t, q, e, d, st, b in rows]


def actions(engine: Engine, ticket_id: int) -> list[str]:
    rows = table_rows(engine, f"SELECT action FROM ticket_events WHERE ticket_id = {ticket_id} ORDER BY id")
    return [str(a) for (a,) in rows]


def test_the_life_of_a_ticket_and_its_clocks(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        t = service.create(
            s,
            NewTicket(subject="Where is my parcel?", body="Ordered a month ago.", customer_id=shop["ada"]),
            actor="api",
            config=UTC_DESK,
            now=T0,
        )
        tid = t.id
    assert clocks(engine, tid) == [
        ("first_response", 0, 0, "2026-03-02 10:00:00", None, None),
        ("resolution", 0, 0, "2026-03-02 17:00:00", None, None),
    ]
    with session_scope(engine) as s:
        service.reply(
            s, tid, "Looking into it.", author="Eve", author_user_id=None, config=UTC_DESK, now=at(9, 30)
        )
        service.set_status(s, tid, "waiting_customer", actor="Eve", config=UTC_DESK, now=at(10))
    # First response met after 30 minutes; resolution paused after 60 minutes.
    assert clocks(engine, tid) == [
        ("first_response", 0, 30, None, "2026-03-02 09:30:00", None),
        ("resolution", 0, 60, None, None, None),
    ]
    with session_scope(engine) as s:
        service.customer_message(
            s, service.get(s, tid), "Any news?", author="Ada", config=UTC_DESK, now=at(12)
        )
        assert service.get(s, tid).status == "open"
    # Resolution resumes with 420 minutes left; the customer's message starts a next response.
    assert clocks(engine, tid)[1:] == [
        ("next_response", 0, 0, "2026-03-02 14:00:00", None, None),
        ("resolution", 0, 60, "2026-03-02 19:00:00", None, None),
    ]
    with session_scope(engine) as s:
        assert service.scan(s, now=at(13, 49)) == (0, 0)
        assert service.scan(s, now=at(13, 50)) == (0, 1)  # warned 10 minutes before
        assert service.scan(s, now=at(14, 30)) == (1, 0)  # missed, at its deadline
        assert service.scan(s, now=at(14, 31)) == (0, 0)  # and only once
        assert service.get(s, tid).priority == "high"  # escalated a step
        service.reply(
            s, tid, "It left the depot.", author="Eve", author_user_id=None, config=UTC_DESK, now=at(15)
        )
        service.set_status(s, tid, "resolved", actor="Eve", config=UTC_DESK, now=at(16))
    assert clocks(engine, tid)[1:] == [
        ("next_response", 0, 180, "2026-03-02 14:00:00", "2026-03-02 15:00:00", "2026-03-02 14:00:00"),
        ("resolution", 0, 300, None, "2026-03-02 16:00:00", None),
    ]
    # The customer writes again: the ticket reopens and resolution goes on from 300 minutes.
    with session_scope(engine) as s:
        service.customer_message(
            s, service.get(s, tid), "Still not here!", author="Ada", config=UTC_DESK, now=at(17)
        )
        assert (service.get(s, tid).status, service.get(s, tid).reopen_count) == ("reopened", 1)
    assert clocks(engine, tid)[3] == ("resolution", 0, 300, "2026-03-02 20:00:00", None, None)
    with session_scope(engine) as s:
        service.set_status(s, tid, "resolved", actor="Eve", config=UTC_DESK, now=at(21))
    assert clocks(engine, tid)[3] == (
        "resolution",
        0,
        540,
        "2026-03-02 20:00:00",
        "2026-03-02 21:00:00",
        "2026-03-02 20:00:00",
    )
    with session_scope(engine) as s:
        report = {(r["target"]): (r["met"], r["missed"], r["in_progress"]) for r in service.compliance(s)}
    # Both next responses were late: the one of 12:00 (answered 15:00), the one of 17:00 (due 19:00).
    assert report == {"first_response": (1, 0, 0), "next_response": (0, 2, 0), "resolution": (0, 1, 0)}
    assert actions(engine, tid) == [
        "created", "sla_policy", "status", "reply", "status", "status", "customer_message", "sla_warning",
        "sla_breached", "escalated", "reply", "csat_requested", "status", "status", "customer_message", "status",
    ]  # fmt: skip


def test_business_hours_of_the_team_hold_the_clock_over_the_weekend(
    engine: Engine, shop: dict[str, int]
) -> None:
    weekdays = {d: [(time(9), time(18))] for d in range(5)}
    friday_1730_shanghai = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        team = service.create_team(s, name="CN desk", timezone="Asia/Shanghai", hours=weekdays, holidays=[])
        t = service.create(
            s,
            NewTicket(subject="发票", body="需要开发票", customer_id=shop["bob"], team_id=team.id),
            actor="api",
            config=UTC_DESK,
            now=friday_1730_shanghai,
        )
        tid = t.id
    # 30 minutes on Friday, the other 30 on Monday from 09:00 Shanghai (01:00 UTC).
    assert clocks(engine, tid)[0] == ("first_response", 0, 0, "2026-03-09 01:30:00", None, None)
    with session_scope(engine) as s, pytest.raises(Conflict) as err:
        service.create_team(s, name="CN desk", timezone="UTC", hours=None, holidays=[])
    assert err.value.code == "team_exists"


def test_the_workflow_refuses_a_move_and_records_nothing(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = service.create(s, NewTicket(subject="s", body="b"), actor="api", config=UTC_DESK, now=T0).id
        service.set_status(s, tid, "closed", actor="Eve", config=UTC_DESK, now=at(10))
    before = actions(engine, tid)
    with session_scope(engine) as s, pytest.raises(Conflict) as err:
        service.set_status(s, tid, "open", actor="Eve", config=UTC_DESK, now=at(11))
    assert (err.value.code, err.value.data) == ("ticket_bad_transition", {"from": "closed", "allowed": []})
    with session_scope(engine) as s, pytest.raises(InvalidInput) as bad:
        service.set_status(s, tid, "archived", actor="Eve", config=UTC_DESK)
    assert bad.value.code == "ticket_bad_status"
    with session_scope(engine) as s, pytest.raises(Conflict) as closed:
        service.customer_message(s, service.get(s, tid), "hello?", author="x", config=UTC_DESK)
    assert closed.value.code == "ticket_closed"
    assert actions(engine, tid) == before
    assert table_rows(engine, f"SELECT count(*) FROM ticket_messages WHERE ticket_id = {tid}") == [(1,)]


def test_bad_tickets_are_refused(engine: Engine, shop: dict[str, int]) -> None:
    cases = [
        (NewTicket(subject="s", body="b", type="praise"), InvalidInput, "ticket_bad_type"),
        (NewTicket(subject=" ", body="b"), InvalidInput, "ticket_empty"),
        (NewTicket(subject="s", body="b", customer_id=999_999), NotFound, "customer_not_found"),
        (NewTicket(subject="s", body="b", order_id=999_999), NotFound, "order_not_found"),
        (NewTicket(subject="s", body="b", customer_id=shop["bob"], order_id=shop["ada_order"]), InvalidInput,
         "ticket_order_not_customers"),
        (NewTicket(subject="s", body="b", team_id=42), NotFound, "team_not_found"),
    ]  # fmt: skip
    for new, error, code in cases:
        with session_scope(engine) as s, pytest.raises(error) as err:
            service.create(s, new, actor="api", config=UTC_DESK)
        assert err.value.code == code
    assert table_rows(engine, "SELECT count(*) FROM tickets") == [(0,)]


def test_an_order_links_its_customer(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        t = service.create(
            s, NewTicket(subject="s", body="b", order_id=shop["ada_order"]), actor="api", config=UTC_DESK
        )
        assert (t.customer_id, t.order_id) == (shop["ada"], shop["ada_order"])


def test_merge_moves_the_messages_and_closes_the_duplicate(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        first = service.create(
            s,
            NewTicket(subject="a", body="one", customer_id=shop["ada"]),
            actor="api",
            config=UTC_DESK,
            now=T0,
        ).id
        dup = service.create(
            s,
            NewTicket(subject="a", body="two", customer_id=shop["ada"]),
            actor="api",
            config=UTC_DESK,
            now=at(9, 5),
        ).id
        other = service.create(
            s, NewTicket(subject="b", body="three", customer_id=shop["bob"]), actor="api", config=UTC_DESK
        ).id
    for source, into, error, code in (
        (dup, dup, InvalidInput, "ticket_merge_self"),
        (dup, other, Conflict, "ticket_merge_customer"),
    ):
        with session_scope(engine) as s, pytest.raises(error) as err:
            service.merge(s, source, into, actor="Eve", config=UTC_DESK)
        assert err.value.code == code
    with session_scope(engine) as s:
        service.merge(s, dup, first, actor="Eve", config=UTC_DESK, now=at(9, 10))
    assert table_rows(engine, f"SELECT body FROM ticket_messages WHERE ticket_id = {first} ORDER BY id") == [
        ("one",),
        ("two",),
    ]
    assert table_rows(engine, f"SELECT status, merged_into_id FROM tickets WHERE id = {dup}") == [
        ("closed", first)
    ]
    # The duplicate's clocks stopped (met: within their targets); its history says where it went.
    assert [c[4] for c in clocks(engine, dup)] == ["2026-03-02 09:10:00", "2026-03-02 09:10:00"]
    assert actions(engine, dup)[-1] == "merged_into"
    with session_scope(engine) as s, pytest.raises(Conflict) as err:
        service.reply(s, dup, "hi", author="Eve", author_user_id=None, config=UTC_DESK)
    assert (err.value.code, err.value.data) == ("ticket_merged", {"into": first})
    with session_scope(engine) as s:
        assert service.by_token(s, service.get(s, dup).public_token).id == first


def test_public_form_links_only_the_customers_own_order(engine: Engine, shop: dict[str, int]) -> None:
    form = {"subject": "Broken", "body": "Arrived broken", "name": "Ada", "email": "ADA@x.test"}
    with session_scope(engine) as s:
        own = service.create_public(s, form | {"order_number": "A1"}, config=UTC_DESK)
        stranger = service.create_public(s, form | {"order_number": "B1"}, config=UTC_DESK)
        anonymous = service.create_public(
            s, form | {"email": "who@x.test", "order_number": "A1"}, config=UTC_DESK
        )
        got = [(t.channel, t.customer_id, t.order_id) for t in (own, stranger, anonymous)]
        bodies = [service.public_messages(s, t)[0].body for t in (own, stranger, anonymous)]
        notes = [[(e.action, e.data) for e in service.view(s, t.id).events if e.action == "order_not_linked"]
                 for t in (own, stranger, anonymous)]  # fmt: skip
    assert got == [("web", shop["ada"], shop["ada_order"]), ("web", shop["ada"], None), ("web", None, None)]
    assert bodies == ["Arrived broken"] * 3  # the customer's words, nothing added
    assert notes == [
        [],
        [("order_not_linked", {"order_number": "B1"})],
        [("order_not_linked", {"order_number": "A1"})],
    ]


def test_internal_notes_stay_internal(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        t = service.create(s, NewTicket(subject="s", body="b"), actor="api", config=UTC_DESK, now=T0)
        service.reply(
            s,
            t.id,
            "VIP, be nice",
            author="Eve",
            author_user_id=None,
            internal=True,
            config=UTC_DESK,
            now=at(9, 1),
        )
        # A note is not a response: the clock still runs and the ticket stays new.
        assert (t.status, t.first_response_at) == ("new", None)
        assert [m.kind for m in service.public_messages(s, t)] == ["customer"]
    assert clocks(engine, t.id)[0][4] is None


def test_a_complaint_is_classified_graded_and_corrected(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        t = service.create(
            s,
            NewTicket(subject="快递太慢", body="下单一个星期了快递还没到，物流信息也不更新", type="complaint",
                      customer_id=shop["ada"], order_id=shop["ada_order"]),
            actor="api",
            config=UTC_DESK,
            now=T0,
        )  # fmt: skip
        assert (t.category, t.category_source) == ("logistics", "model")
        assert 0 < (t.category_confidence or 0) <= 1
        assert t.severity in ("S1", "S2", "S3", "S4")
        assert t.priority == service.SEVERITY_PRIORITY[t.severity]
        with pytest.raises(InvalidInput) as err:
            service.correct_category(s, t.id, "weather", actor="Eve")
        assert err.value.code == "ticket_bad_category"
        service.correct_category(s, t.id, "service", actor="Eve")
        assert (t.category, t.category_source, t.category_confidence) == ("service", "agent", None)
    assert table_rows(engine, "SELECT predicted, category, actor FROM category_corrections") == [
        ("logistics", "service", "Eve")
    ]
    with session_scope(engine) as s:
        inquiry = service.create(s, NewTicket(subject="q", body="b"), actor="api", config=UTC_DESK)
        with pytest.raises(Conflict) as not_complaint:
            service.correct_category(s, inquiry.id, "price", actor="Eve")
        assert not_complaint.value.code == "ticket_not_complaint"
        assert (inquiry.category, inquiry.severity) == (None, None)


def test_marketplace_refunds_become_tickets_once(
    engine: Engine, shop: dict[str, int], shops: dict[str, Any]
) -> None:
    with session_scope(engine) as s:
        for ext, kind, status in (
            ("R1", "refund_only", "requested"),
            ("R2", "reship", "requested"),
            ("R3", "refund_only", "completed"),
        ):
            s.add(Refund(shop_id=shops["tmall"].id, external_id=ext, order_id=shop["ada_order"], customer_id=shop["ada"],
                         type=kind, reason="破损" if ext == "R1" else None, amount_minor=1000, currency="CNY",
                         status=status, requested_at=T0, source_updated_at=T0, content_hash=ext))  # fmt: skip
    with session_scope(engine) as s:
        assert service.tickets_from_refunds(s, config=UTC_DESK) == 2
    with session_scope(engine) as s:
        assert service.tickets_from_refunds(s, config=UTC_DESK) == 0  # a refund gets one ticket, ever
    rows = table_rows(engine, "SELECT subject, type, channel, customer_id, order_id FROM tickets ORDER BY id")
    assert rows == [
        ("refund_only R1: 破损", "refund_only", "marketplace", shop["ada"], shop["ada_order"]),
        ("reship R2: reship", "reship", "marketplace", shop["ada"], shop["ada_order"]),
    ]
    assert [utc(c) for (c,) in table_rows(engine, "SELECT created_at FROM tickets")] == [
        "2026-03-02 09:00:00"
    ] * 2


def test_a_shop_can_set_its_own_workflow(engine: Engine, shop: dict[str, int]) -> None:
    strict = {s: list(moves) for s, moves in service.WORKFLOW.items()} | {"new": ["open"]}
    config = DeskConfig(timezone="UTC", workflow=service.check_workflow(strict))
    with session_scope(engine) as s:
        tid = service.create(s, NewTicket(subject="s", body="b"), actor="api", config=config).id
        with pytest.raises(Conflict) as err:  # a new ticket must be opened first here
            service.set_status(s, tid, "resolved", actor="Eve", config=config)
        assert err.value.data == {"from": "new", "allowed": ["open"]}
        service.set_status(s, tid, "open", actor="Eve", config=config)
    for bad in ({"new": ["open"]}, strict | {"archived": []}, strict | {"new": ["gone"]}):
        with pytest.raises(InvalidInput) as wrong:
            service.check_workflow(bad)
        assert wrong.value.code == "ticket_bad_workflow"
