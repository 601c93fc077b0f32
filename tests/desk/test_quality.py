"""Service quality on both databases: one CSAT survey per ticket and its answer rules, root causes
and corrective actions, Pareto reports, agents' KPIs and the dashboard's figures, each against
numbers worked out by hand from tickets created, answered and resolved at fixed times; and the
same over the API.

The shop: Ada, Bob, Cai and Dan bought on the own site, Eve on Tmall; orders O1 (SKU-A and
SKU-B, carrier SF), O2 (SKU-A, ZTO), O3 (SKU-C, SF), O4 (SKU-B, no carrier), O5 on Tmall
(SKU-C, YTO). Agents Wu and Ma; one SLA policy for everything (first response 60 min, next
response 120, resolution 480) on a 24/7 UTC clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from conftest import api_key, table_rows, utc, write_csv
from patron.accounts import service as accounts
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.settings import Settings
from patron.desk import endpoints, quality, service
from patron.desk.quality import AgentKpi, ParetoRow
from patron.desk.service import DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import
from patron.models import Ticket

UTC_DESK = DeskConfig(timezone="UTC")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def at(hh: int, mm: int = 0, day: int = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm) + timedelta(days=day)


HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price", "carrier"]  # fmt: skip
SITE = [
    ["O1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "SKU-A", 1, "100.00", "SF"],
    ["O1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "SKU-B", 1, "50.00", "SF"],
    ["O2", "bob", "Bob", "bob@x.test", "completed", "2026-02-02 10:00", "SKU-A", 1, "100.00", "ZTO"],
    ["O3", "cai", "Cai", "cai@x.test", "completed", "2026-02-03 10:00", "SKU-C", 1, "80.00", "SF"],
    ["O4", "dan", "Dan", "dan@x.test", "completed", "2026-02-04 10:00", "SKU-B", 2, "50.00", ""],
]
TMALL = [["O5", "eve", "Eve", "eve@x.test", "completed", "2026-02-05 10:00", "SKU-C", 1, "80.00", "YTO"]]


@pytest.fixture
def world(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    for shop, rows in (("site", SITE), ("tmall", TMALL)):
        path = write_csv(tmp_path / f"{shop}.csv", HEADER, rows)  # type: ignore[arg-type]
        assert run_import(ImportRequest(kind="orders", path=path, shop=shop), engine=engine).quarantined == 0
    ids: dict[str, int] = {}
    for ext, oid in table_rows(engine, "SELECT external_id, id FROM orders"):
        ids[str(ext)] = int(oid)  # type: ignore[call-overload]
    for ext, sku, lid in table_rows(
        engine, "SELECT o.external_id, l.sku, l.id FROM order_lines l JOIN orders o ON o.id = l.order_id"
    ):
        ids[f"{ext}/{sku}"] = int(lid)  # type: ignore[call-overload]
    with session_scope(engine) as s:
        for key, name in (("wu", "Wu Agent"), ("ma", "Ma Agent")):
            ids[key] = accounts.create_user(
                s, email=f"{key}@x.test", name=name, password="password1", role="agent"
            ).id
        service.create_policy(
            s,
            {"name": "standard", "position": 10, "first_response_minutes": 60, "next_response_minutes": 120,
             "resolution_minutes": 480, "warn_before_minutes": 10},
        )  # fmt: skip
    return ids


def open_ticket(
    s: Session,
    subject: str,
    when: datetime,
    *,
    assignee: int | None = None,
    category: str | None = None,
    **kw: object,
) -> Ticket:
    ticket = service.create(
        s,
        NewTicket(subject=subject, body=subject, **kw),
        actor="api",
        config=UTC_DESK,
        now=when,  # type: ignore[arg-type]
    )
    if assignee is not None:
        service.assign(
            s, ticket.id, assignee_id=assignee, team_id=None, actor="lead", config=UTC_DESK, now=when
        )
    if category is not None:
        service.correct_category(s, ticket.id, category, actor="lead")
    return ticket


def reply(s: Session, ticket_id: int, when: datetime) -> None:
    service.reply(s, ticket_id, "On it.", author="agent", author_user_id=None, config=UTC_DESK, now=when)


def move(s: Session, ticket_id: int, status: str, when: datetime) -> None:
    service.set_status(s, ticket_id, status, actor="agent", config=UTC_DESK, now=when)


def actions_of(engine: Engine, ticket_id: int) -> list[str]:
    rows = table_rows(engine, f"SELECT action FROM ticket_events WHERE ticket_id = {ticket_id} ORDER BY id")
    return [str(a) for (a,) in rows]


def events(engine: Engine, ticket_id: int, action: str) -> list[tuple[str, dict[str, object]]]:
    """(actor, data) of a ticket's history lines of one kind, oldest first."""
    with session_scope(engine) as s:
        return [(e.actor, e.data) for e in service.view(s, ticket_id).events if e.action == action]


def surveys(engine: Engine) -> list[tuple[object, ...]]:
    return table_rows(engine, "SELECT ticket_id, agent_id, score, comment FROM csat_surveys ORDER BY id")


# -- CSAT ------------------------------------------------------------------------------------------


def test_a_ticket_gets_one_survey_ever(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = open_ticket(s, "Where is O2?", at(9), assignee=world["wu"], order_id=world["O2"]).id
        assert quality.survey_of(s, tid) is None
        reply(s, tid, at(9, 10))
        move(s, tid, "resolved", at(10))
    assert surveys(engine) == [(tid, world["wu"], None, None)]
    token, sent = table_rows(engine, "SELECT token, sent_at FROM csat_surveys")[0]
    assert len(str(token)) == 43  # 256 random bits, URL-safe
    assert utc(sent) == "2026-03-02 10:00:00"
    # The customer writes again (reopened), another agent resolves it: still the first survey.
    with session_scope(engine) as s:
        service.customer_message(
            s, service.get(s, tid), "Still nothing", author="Bob", config=UTC_DESK, now=at(11)
        )
        service.assign(
            s, tid, assignee_id=world["ma"], team_id=None, actor="lead", config=UTC_DESK, now=at(11)
        )
        move(s, tid, "resolved", at(12))
        move(s, tid, "closed", at(13))
    assert surveys(engine) == [(tid, world["wu"], None, None)]
    assert actions_of(engine, tid).count("csat_requested") == 1
    assert events(engine, tid, "csat_requested") == [("CSAT", {"agent_id": world["wu"]})]


def test_no_survey_for_a_skipped_ticket(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        skipped = open_ticket(s, "Internal test", at(9)).id
        quality.set_csat_skip(s, skipped, True, "user:1", now=at(9, 5))
        quality.set_csat_skip(s, skipped, True, "user:1", now=at(9, 6))  # again: nothing new
        move(s, skipped, "resolved", at(10))
    assert surveys(engine) == []
    assert [a for a in actions_of(engine, skipped) if a.startswith("csat")] == ["csat_skipped"]
    # Switched back on: the next resolution sends it; once sent, it cannot be skipped any more.
    with session_scope(engine) as s:
        move(s, skipped, "reopened", at(11))
        quality.set_csat_skip(s, skipped, False, "user:1", now=at(11))
        move(s, skipped, "resolved", at(12))
    assert surveys(engine) == [(skipped, None, None, None)]
    with session_scope(engine) as s, pytest.raises(Conflict) as err:
        quality.set_csat_skip(s, skipped, True, "user:1")
    assert err.value.code == "csat_already_sent"
    assert table_rows(engine, f"SELECT csat_skip FROM tickets WHERE id = {skipped}") == [(False,)]
    assert [a for a in actions_of(engine, skipped) if a.startswith("csat")] == [
        "csat_skipped", "csat_unskipped", "csat_requested"
    ]  # fmt: skip


def test_the_first_answer_is_final(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = open_ticket(s, "Wrong size", at(9), assignee=world["ma"]).id
        move(s, tid, "resolved", at(10))
        token = quality.survey_of(s, tid).token  # type: ignore[union-attr]
    for score, comment, error, code in (
        (0, None, InvalidInput, "csat_bad_score"),
        (6, None, InvalidInput, "csat_bad_score"),
        (True, None, InvalidInput, "csat_bad_score"),
        ("5", None, InvalidInput, "csat_bad_score"),
        (4, "x" * 2001, InvalidInput, "csat_comment_too_long"),
    ):
        with session_scope(engine) as s, pytest.raises(error) as err:
            quality.answer(s, token, score, comment, now=at(11))  # type: ignore[arg-type]
        assert err.value.code == code
    with session_scope(engine) as s, pytest.raises(NotFound) as missing:
        quality.answer(s, "no-such-token", 5, now=at(11))
    assert missing.value.code == "csat_not_found"
    assert surveys(engine) == [(tid, world["ma"], None, None)]
    with session_scope(engine) as s:
        answered = quality.answer(s, token, 4, "  Quick and kind.  ", now=at(11))
        assert (answered.score, answered.comment, answered.answered_at) == (4, "Quick and kind.", at(11))
    with session_scope(engine) as s, pytest.raises(Conflict) as again:
        quality.answer(s, token, 1, "Changed my mind", now=at(12))
    assert again.value.code == "csat_answered"
    assert surveys(engine) == [(tid, world["ma"], 4, "Quick and kind.")]
    assert events(engine, tid, "csat_answered") == [("customer", {"score": 4})]


def test_two_answers_at_once_one_wins(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = open_ticket(s, "Refund?", at(9)).id
        move(s, tid, "resolved", at(10))
        token = quality.survey_of(s, tid).token  # type: ignore[union-attr]

    def answer(score: int) -> str:
        try:
            with session_scope(engine) as s:
                quality.answer(s, token, score, now=at(11))
        except Conflict as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(answer, (2, 5)))
    assert results == ["csat_answered", "ok"]
    assert len(table_rows(engine, "SELECT id FROM csat_surveys WHERE score IS NOT NULL")) == 1
    assert actions_of(engine, tid).count("csat_answered") == 1


# -- root causes, corrective actions, archive ---------------------------------------------------------


def test_root_causes_and_corrective_actions(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = open_ticket(
            s, "Torn seam", at(9), type="complaint", category="product", order_id=world["O1"]
        ).id
        dup = open_ticket(s, "Torn seam again", at(9, 5), type="complaint", order_id=world["O1"]).id
        service.merge(s, dup, tid, actor="lead", config=UTC_DESK, now=at(9, 6))
    with session_scope(engine) as s, pytest.raises(InvalidInput) as bad:
        quality.set_root_cause(s, tid, "gremlins", "user:1")
    assert (bad.value.code, bad.value.data["allowed"][:2]) == (
        "root_cause_unknown",
        ["supplier_defect", "design"],
    )
    with session_scope(engine) as s, pytest.raises(Conflict) as merged:
        quality.set_root_cause(s, dup, "packaging", "user:1")
    assert merged.value.code == "ticket_merged"
    with session_scope(engine) as s:
        quality.set_root_cause(s, tid, "packaging", "user:1", now=at(10))
        quality.set_root_cause(s, tid, "packaging", "user:1", now=at(10, 1))  # unchanged: no history
        quality.set_root_cause(s, tid, "supplier_defect", "user:1", now=at(10, 2))
    assert table_rows(engine, f"SELECT root_cause FROM tickets WHERE id = {tid}") == [("supplier_defect",)]
    assert events(engine, tid, "root_cause") == [
        ("user:1", {"from": None, "to": "packaging"}),
        ("user:1", {"from": "packaging", "to": "supplier_defect"}),
    ]

    refused = [
        ({"description": "Check", "kind": "punitive", "cause": "packaging"}, InvalidInput, "action_bad_kind"),
        ({"description": "  ", "cause": "packaging"}, InvalidInput, "action_empty"),
        ({"description": "Check"}, InvalidInput, "action_no_cause"),
        ({"description": "Check", "cause": "bad_luck"}, InvalidInput, "root_cause_unknown"),
        (
            {"description": "Check", "cause": "packaging", "owner_user_id": 999_999},
            NotFound,
            "user_not_found",
        ),
        ({"description": "Check", "ticket_id": 999_999}, NotFound, "ticket_not_found"),
    ]
    for kw, error, code in refused:
        with session_scope(engine) as s, pytest.raises(error) as err:
            quality.add_action(s, **kw, actor="user:1")  # type: ignore[arg-type]
        assert err.value.code == code, kw
    with session_scope(engine) as s:
        a1 = quality.add_action(s, description="Inspect every SKU-A batch at receiving", ticket_id=tid,
                                owner_user_id=world["wu"], due_on=date(2026, 3, 9), actor="user:1", now=at(11)).id  # fmt: skip
        a2 = quality.add_action(s, description="Supplier audit", kind="preventive", cause="supplier_defect",
                                owner_user_id=world["ma"], due_on=date(2026, 3, 20), actor="user:1", now=at(11)).id  # fmt: skip
        a3 = quality.add_action(s, description="New carton", cause="packaging", actor="user:1", now=at(11)).id
    assert table_rows(
        engine, "SELECT id, ticket_id, cause, kind, status FROM corrective_actions ORDER BY id"
    ) == [
        (a1, tid, "supplier_defect", "corrective", "open"),  # the ticket's root cause
        (a2, None, "supplier_defect", "preventive", "open"),
        (a3, None, "packaging", "corrective", "open"),
    ]

    def listed(**kw: object) -> list[int]:
        with session_scope(engine) as s:
            return [a.id for a in quality.list_actions(s, timezone="UTC", **kw)]  # type: ignore[arg-type]

    # By due date, none last; overdue = open and due before today.
    assert listed(open_only=True, now=at(9, day=7)) == [a1, a2, a3]
    assert listed(overdue_only=True, now=at(23, day=7)) == []  # due the 9th: on the 9th not late yet
    assert listed(overdue_only=True, now=at(0, day=8)) == [a1]
    assert listed(ticket_id=tid) == [a1]
    with session_scope(engine) as s:
        done = quality.complete_action(s, a1, "user:2", now=at(12, day=3))
        assert (done.status, done.done_at) == ("done", at(12, day=3))
        quality.complete_action(s, a3, "user:2", cancel=True, now=at(12, day=3))
    with session_scope(engine) as s, pytest.raises(Conflict) as closed:
        quality.complete_action(s, a1, "user:2")
    assert (closed.value.code, closed.value.data) == ("action_not_open", {"status": "done"})
    with session_scope(engine) as s, pytest.raises(NotFound) as missing:
        quality.complete_action(s, 999_999, "user:2")
    assert missing.value.code == "action_not_found"
    assert listed(open_only=True, now=at(0, day=30)) == [a2]
    assert listed(overdue_only=True, now=at(0, day=30)) == [a2]
    assert listed() == [a1, a2, a3]
    assert [a for a in actions_of(engine, tid) if a.startswith("action")] == ["action_added", "action_done"]


def test_only_a_closed_ticket_is_archived(engine: Engine, world: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = open_ticket(s, "Invoice", at(9)).id
        move(s, tid, "resolved", at(10))
    with session_scope(engine) as s, pytest.raises(Conflict) as err:
        quality.archive(s, tid, "user:1")
    assert (err.value.code, err.value.data) == ("ticket_not_closed", {"status": "resolved"})
    with session_scope(engine) as s:
        move(s, tid, "closed", at(11))
        quality.archive(s, tid, "user:1", now=at(12))
        quality.archive(s, tid, "user:1", now=at(13))  # again: nothing changes
    assert [utc(v) for (v,) in table_rows(engine, f"SELECT archived_at FROM tickets WHERE id = {tid}")] == [
        "2026-03-02 12:00:00"
    ]
    assert actions_of(engine, tid).count("archived") == 1
    # Put away: not in the queue any more, not even among the closed, unless asked for.
    with session_scope(engine) as s:
        closed = service.QueueFilter(status=("closed",))
        assert service.queue(s, closed, offset=0, limit=10)[1] == 0
        both = service.QueueFilter(status=("closed",), archived=True)
        assert [t.id for t in service.queue(s, both, offset=0, limit=10)[0]] == [tid]


# -- Pareto ----------------------------------------------------------------------------------------------


@pytest.fixture
def complaints(engine: Engine, world: dict[str, int]) -> dict[str, int]:
    """Seven complaints in March (c1-c7), one in February, a merged duplicate and an inquiry.

    ====  =================  =========  ========  =====  ===============  =========
    c     about              skus       carrier   shop   root cause       assignee
    ====  =================  =========  ========  =====  ===============  =========
    c1    order O1           A, B       SF        site   supplier_defect  Wu
    c2    line O1/SKU-A      A          SF        site   supplier_defect  Wu
    c3    order O2           A          ZTO       site   carrier_delay    Ma
    c4    order O3           C          SF        site   carrier_damage   Ma
    c5    order O5           C          YTO       tmall  packaging        Wu
    c6    nothing            —          —         —      —                —
    c7    order O4           B          —         site   supplier_defect  Wu
    ====  =================  =========  ========  =====  ===============  =========
    Categories: product c1 c2 c5 c7, logistics c3 c4, service c6.
    """
    wu, ma = world["wu"], world["ma"]
    spec = [
        ("c1", {"order_id": world["O1"]}, "product", "supplier_defect", wu),
        ("c2", {"order_line_id": world["O1/SKU-A"]}, "product", "supplier_defect", wu),
        ("c3", {"order_id": world["O2"]}, "logistics", "carrier_delay", ma),
        ("c4", {"order_id": world["O3"]}, "logistics", "carrier_damage", ma),
        ("c5", {"order_id": world["O5"]}, "product", "packaging", wu),
        ("c6", {}, "service", None, None),
        ("c7", {"order_id": world["O4"]}, "product", "supplier_defect", wu),
    ]
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        for i, (key, link, category, cause, agent) in enumerate(spec):
            t = open_ticket(s, f"Complaint {key}", at(9, i), type="complaint", category=category, assignee=agent,
                            **link)  # fmt: skip
            if cause:
                quality.set_root_cause(s, t.id, cause, "lead")
            ids[key] = t.id
        ids["february"] = open_ticket(
            s, "Old", datetime(2026, 2, 28, 23, 59, tzinfo=UTC), type="complaint", category="price",
            order_id=world["O2"],
        ).id  # fmt: skip
        ids["dup"] = open_ticket(
            s, "Dup", at(10), type="complaint", category="price", order_id=world["O1"]
        ).id
        service.merge(s, ids["dup"], ids["c1"], actor="lead", config=UTC_DESK, now=at(10, 1))
        ids["inquiry"] = open_ticket(s, "Question", at(11), order_id=world["O1"], assignee=ma).id
    return ids


def pareto(engine: Engine, by: str, type: str | None = "complaint") -> list[tuple[object, ...]]:
    with session_scope(engine) as s:
        rows = quality.pareto(s, by, since=MARCH[0], until=MARCH[1], type=type)
    return [(r.value, r.label, r.count, round(r.share, 6), round(r.cumulative, 6)) for r in rows]


def test_pareto_counts_and_shares_by_hand(
    engine: Engine, world: dict[str, int], complaints: dict[str, int]
) -> None:
    def s(n: int, d: int) -> float:
        return round(n / d, 6)

    assert pareto(engine, "category") == [
        ("product", None, 4, s(4, 7), s(4, 7)),
        ("logistics", None, 2, s(2, 7), s(6, 7)),
        ("service", None, 1, s(1, 7), 1.0),
    ]
    # Ties by name; "not set" last whatever its count.
    assert pareto(engine, "root_cause") == [
        ("supplier_defect", None, 3, s(3, 7), s(3, 7)),
        ("carrier_damage", None, 1, s(1, 7), s(4, 7)),
        ("carrier_delay", None, 1, s(1, 7), s(5, 7)),
        ("packaging", None, 1, s(1, 7), s(6, 7)),
        (None, None, 1, s(1, 7), 1.0),
    ]
    # c1 (the whole order O1) counts once for each of its SKUs: 8 ticket-SKU pairs.
    assert pareto(engine, "sku") == [
        ("SKU-A", None, 3, 0.375, 0.375),
        ("SKU-B", None, 2, 0.25, 0.625),
        ("SKU-C", None, 2, 0.25, 0.875),
        (None, None, 1, 0.125, 1.0),
    ]
    assert pareto(engine, "carrier") == [
        ("SF", None, 3, s(3, 7), s(3, 7)),
        ("YTO", None, 1, s(1, 7), s(4, 7)),
        ("ZTO", None, 1, s(1, 7), s(5, 7)),
        (None, None, 2, s(2, 7), 1.0),
    ]
    assert pareto(engine, "shop") == [
        ("site", "Own site", 5, s(5, 7), s(5, 7)),
        ("tmall", "Tmall flagship", 1, s(1, 7), s(6, 7)),
        (None, None, 1, s(1, 7), 1.0),
    ]
    assert pareto(engine, "agent") == [
        (world["wu"], "Wu Agent", 4, s(4, 7), s(4, 7)),
        (world["ma"], "Ma Agent", 2, s(2, 7), s(6, 7)),
        (None, None, 1, s(1, 7), 1.0),
    ]
    # Every type: the inquiry (Ma's, about O1) too.
    assert pareto(engine, "agent", type=None)[:2] == [
        (world["wu"], "Wu Agent", 4, 0.5, 0.5),
        (world["ma"], "Ma Agent", 3, 0.375, 0.875),
    ]
    assert pareto(engine, "category", type="return") == []
    with session_scope(engine) as s_, pytest.raises(InvalidInput) as err:
        quality.pareto(s_, "weather", since=MARCH[0], until=MARCH[1])
    assert err.value.code == "pareto_bad_by"


def test_pareto_rows_kernel() -> None:
    rows = quality.pareto_rows(
        [("b", None, 2), (None, None, 5), ("a", None, 2), ("c", None, 1), ("z", None, 0)]
    )
    assert rows == [
        ParetoRow("a", None, 2, 0.2, 0.2),
        ParetoRow("b", None, 2, 0.2, 0.4),
        ParetoRow("c", None, 1, 0.1, 0.5),
        ParetoRow(None, None, 5, 0.5, 1.0),
    ]
    assert quality.pareto_rows([]) == []
    assert [r.value for r in quality.pareto_rows([(12, None, 1), (7, None, 1)])] == [7, 12]  # numeric order


def test_a_period_is_local_days(engine: Engine) -> None:
    start, end = quality.period(date(2026, 3, 1), date(2026, 3, 31), timezone="Asia/Shanghai")
    assert (start, end) == (datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 31, 16, tzinfo=UTC))
    assert quality.period(None, None, timezone="UTC", now=at(15), days=7) == (
        datetime(2026, 2, 24, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    with pytest.raises(InvalidInput) as err:
        quality.period(date(2026, 3, 2), date(2026, 3, 1), timezone="UTC")
    assert err.value.code == "period_bad"


# -- agents' KPIs and the dashboard --------------------------------------------------------------------


@pytest.fixture
def day(engine: Engine, world: dict[str, int]) -> dict[str, int]:
    """Monday 2 March, all times UTC (T = ticket created, R = first public reply, S = resolved):

    - e1 Wu: T 09:00, R 09:20, S 11:00; rated 5.
    - e2 Wu: T 09:30, R 10:10, S 10:30 (survey sent to Wu: rated 3), the customer writes 12:00
      (reopened, next response clock), R 12:30, S 14:30.
    - e3 Wu, a return: T 10:00, R 11:30 (first response missed), still open.
    - e4 Wu, a complaint (product), no survey: T 10:00, S 10:45 without a reply.
    - m1 Ma: T 09:00, R 10:30 (missed), S 11:00; rated 1, "Too slow".
    - m2 Ma, a complaint by email (service, agent_error): T 11:00, R 11:10, waiting for the
      customer since 11:10.
    - u1 nobody's, from the web form: T 09:00, S 09:50 without a reply; survey not answered.
    - x Wu: Sunday 1 March 20:00, nothing since (both targets missed by the scan at 15:00).
    Corrective actions: one due Sunday (overdue), one due Monday, one done.
    """
    wu, ma = world["wu"], world["ma"]
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        ids["x"] = open_ticket(s, "x", at(20, day=-1), assignee=wu).id
        ids["e1"] = open_ticket(s, "e1", at(9), assignee=wu).id
        ids["e2"] = open_ticket(s, "e2", at(9, 30), assignee=wu).id
        ids["e3"] = open_ticket(s, "e3", at(10), assignee=wu, type="return").id
        ids["e4"] = open_ticket(s, "e4", at(10), assignee=wu, type="complaint", category="product").id
        ids["m1"] = open_ticket(s, "m1", at(9), assignee=ma).id
        ids["m2"] = open_ticket(
            s, "m2", at(11), assignee=ma, type="complaint", category="service", channel="email"
        ).id
        ids["u1"] = open_ticket(s, "u1", at(9), channel="web").id
        quality.set_root_cause(s, ids["m2"], "agent_error", "lead")
        quality.set_csat_skip(s, ids["e4"], True, "lead")
    with session_scope(engine) as s:
        reply(s, ids["e1"], at(9, 20))
        move(s, ids["e1"], "resolved", at(11))
        reply(s, ids["e2"], at(10, 10))
        move(s, ids["e2"], "resolved", at(10, 30))
        service.customer_message(
            s, service.get(s, ids["e2"]), "It broke again", author="c", config=UTC_DESK, now=at(12)
        )
        reply(s, ids["e2"], at(12, 30))
        move(s, ids["e2"], "resolved", at(14, 30))
        reply(s, ids["e3"], at(11, 30))
        move(s, ids["e4"], "resolved", at(10, 45))
        reply(s, ids["m1"], at(10, 30))
        move(s, ids["m1"], "resolved", at(11))
        reply(s, ids["m2"], at(11, 10))
        move(s, ids["m2"], "waiting_customer", at(11, 10))
        move(s, ids["u1"], "resolved", at(9, 50))
        for key, score, comment in (("e1", 5, None), ("e2", 3, None), ("m1", 1, "Too slow")):
            quality.answer(s, quality.survey_of(s, ids[key]).token, score, comment, now=at(15))  # type: ignore[union-attr]
        service.scan(s, now=at(15))
        for due, done in ((date(2026, 3, 1), False), (date(2026, 3, 2), False), (date(2026, 2, 20), True)):
            action = quality.add_action(
                s, description=f"due {due}", cause="agent_error", due_on=due, actor="lead"
            )
            if done:
                quality.complete_action(s, action.id, "lead")
    return ids


def test_agent_kpis_by_hand(engine: Engine, world: dict[str, int], day: dict[str, int]) -> None:
    with session_scope(engine) as s:
        kpis = quality.agent_kpis(s, since=at(0), until=at(0, day=1))
    assert kpis == [
        # handled e1-e4; resolved e1 e2 e4; first responses 20, 40, 90; resolutions 120, 300, 45;
        # e2 reopened of 3 resolved; CSAT 5 and 3; SLA: e1 2 met, e2 3 met (first, next,
        # resolution), e3 first missed (resolution running), e4 2 met (stopped in time).
        AgentKpi(world["wu"], "Wu Agent", handled=4, resolved=3, first_response_minutes=40.0,
                 resolution_minutes=120.0, reopened=1, reopen_rate=1 / 3, csat_average=4.0, csat_responses=2,
                 csat_sent=2, sla_met=7, sla_missed=1, sla_compliance=7 / 8),
        # m1 (90 min, missed; resolved in 120) and m2 (10 min; waiting): medians 50 and 120.
        AgentKpi(world["ma"], "Ma Agent", handled=2, resolved=1, first_response_minutes=50.0,
                 resolution_minutes=120.0, reopened=0, reopen_rate=0.0, csat_average=1.0, csat_responses=1,
                 csat_sent=1, sla_met=2, sla_missed=1, sla_compliance=2 / 3),
    ]  # fmt: skip
    with session_scope(engine) as s:
        sunday = quality.agent_kpis(s, since=at(0, day=-1), until=at(0))
    assert sunday == [
        AgentKpi(world["wu"], "Wu Agent", handled=1, sla_met=0, sla_missed=2, sla_compliance=0.0)
    ]
    with session_scope(engine) as s:
        assert quality.agent_kpis(s, since=at(0, day=1), until=at(0, day=2)) == []


def test_the_dashboard_by_hand(engine: Engine, world: dict[str, int], day: dict[str, int]) -> None:
    with session_scope(engine) as s:
        d = quality.dashboard(s, at(15), 7, timezone="UTC")
    assert (d.since, d.until, d.total) == (
        datetime(2026, 2, 24, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
        8,
    )
    assert d.volume == [
        (date(2026, 2, 24) + timedelta(days=i), n) for i, n in enumerate([0, 0, 0, 0, 0, 1, 7])
    ]
    assert d.by_channel == [("api", 6), ("email", 1), ("web", 1)]
    assert d.by_type == [("inquiry", 5), ("complaint", 2), ("return", 1)]
    assert d.backlog == [
        ("new", 1),
        ("open", 1),
        ("waiting_customer", 1),
        ("waiting_third_party", 0),
        ("reopened", 0),
    ]
    assert [(r.target, r.met, r.missed, r.in_progress, r.compliance) for r in d.sla] == [
        ("first_response", 5, 3, 0, 5 / 8),  # missed: e3, m1, x
        ("next_response", 1, 0, 0, 1.0),  # e2's
        ("resolution", 5, 1, 2, 5 / 6),  # running: e3, m2 (paused); missed: x
    ]
    c = d.csat
    assert (c.sent, c.responses, c.average, c.satisfied, c.response_rate) == (4, 3, 3.0, 1 / 3, 0.75)
    assert c.distribution == {1: 1, 2: 0, 3: 1, 4: 0, 5: 1}
    assert [(r.value, r.count, r.cumulative) for r in d.complaints_by_category] == [
        ("product", 1, 0.5),
        ("service", 1, 1.0),
    ]
    assert [(r.value, r.count) for r in d.complaints_by_root_cause] == [("agent_error", 1), (None, 1)]
    assert [(a.agent_id, a.handled, a.sla_met, a.sla_missed) for a in d.agents] == [
        (world["wu"], 5, 7, 3),  # x is in these 7 days
        (world["ma"], 2, 2, 1),
    ]
    assert (d.actions_open, d.actions_overdue) == (2, 1)
    # Shanghai's days: Sunday 20:00 UTC is already Monday there.
    with session_scope(engine) as s:
        shanghai = quality.dashboard(s, at(15), 2, timezone="Asia/Shanghai")
    assert shanghai.volume == [(date(2026, 3, 1), 0), (date(2026, 3, 2), 8)]
    with session_scope(engine) as s, pytest.raises(InvalidInput):
        quality.dashboard(s, at(15), 0)


# -- over the API ------------------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32, default_timezone="UTC"
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_the_quality_api(
    client: TestClient,
    engine: Engine,
    world: dict[str, int],
    day: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(endpoints, "utcnow", lambda: at(15))  # Monday 2 March, 15:00 UTC
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    reader = api_key(engine, "read_only", ["tickets:read"])
    e3 = day["e3"]
    r = client.post(
        f"/api/v1/tickets/{e3}/root-cause", json={"root_cause": "wrong_description"}, headers=reader
    )
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    r = client.post(f"/api/v1/tickets/{e3}/root-cause", json={"root_cause": "nope"}, headers=agent)
    assert (r.status_code, r.json()["error"]) == (400, "root_cause_unknown")
    r = client.post(
        f"/api/v1/tickets/{e3}/root-cause", json={"root_cause": "wrong_description"}, headers=agent
    )
    assert r.json() == {"ticket_id": e3, "root_cause": "wrong_description"}
    r = client.post(
        "/api/v1/corrective-actions",
        json={
            "description": "Fix the size chart",
            "ticket_id": e3,
            "owner_user_id": world["wu"],
            "due_on": "2026-01-31",
        },
        headers=agent,
    )
    assert r.status_code == 201, r.text
    action = r.json()
    assert (action["cause"], action["kind"], action["status"], action["overdue"]) == (
        "wrong_description", "corrective", "open", True
    )  # fmt: skip
    overdue = client.get("/api/v1/corrective-actions", params={"overdue": "true"}, headers=reader).json()
    assert [(a["description"], a["overdue"]) for a in overdue] == [
        ("Fix the size chart", True),
        ("due 2026-03-01", True),
    ]
    listed = client.get("/api/v1/corrective-actions", headers=reader).json()
    assert [(a["description"], a["status"], a["overdue"]) for a in listed] == [
        ("Fix the size chart", "open", True), ("due 2026-02-20", "done", False), ("due 2026-03-01", "open", True),
        ("due 2026-03-02", "open", False),
    ]  # fmt: skip
    r = client.post(f"/api/v1/corrective-actions/{action['id']}/done", headers=agent)
    assert (r.json()["status"], r.json()["overdue"]) == ("done", False)
    r = client.post(f"/api/v1/corrective-actions/{action['id']}/done", headers=agent)
    assert (r.status_code, r.json()["error"]) == (409, "action_not_open")
    assert len(client.get("/api/v1/corrective-actions", params={"open": "true"}, headers=reader).json()) == 2

    r = client.get("/api/v1/desk/pareto", params={"by": "category", "since": "2026-03-02", "until": "2026-03-02"},
                   headers=reader)  # fmt: skip
    body = r.json()
    assert (body["total"], body["type"], body["since"][:10], body["until"][:10]) == (
        2,
        "complaint",
        "2026-03-02",
        "2026-03-03",
    )
    assert [(x["value"], x["count"], x["share"], x["cumulative"]) for x in body["rows"]] == [
        ("product", 1, 0.5, 0.5), ("service", 1, 0.5, 1.0)
    ]  # fmt: skip
    everything = client.get("/api/v1/desk/pareto", params={"by": "agent", "type": "all", "since": "2026-03-02",
                            "until": "2026-03-02"}, headers=reader).json()  # fmt: skip
    assert [(x["label"], x["count"]) for x in everything["rows"]] == [
        ("Wu Agent", 4),
        ("Ma Agent", 2),
        (None, 1),
    ]
    r = client.get("/api/v1/desk/pareto", params={"by": "moon"}, headers=reader)
    assert (r.status_code, r.json()["error"]) == (400, "pareto_bad_by")

    kpis = client.get(
        "/api/v1/desk/agents", params={"since": "2026-03-02", "until": "2026-03-02"}, headers=reader
    )
    wu = kpis.json()["agents"][0]
    assert (wu["name"], wu["handled"], wu["first_response_minutes"], wu["csat_average"], wu["sla_compliance"]) == (
        "Wu Agent", 4, 40.0, 4.0, 0.875
    )  # fmt: skip
    dash = client.get("/api/v1/desk/dashboard", params={"days": 7}, headers=reader)
    assert dash.status_code == 200, dash.text
    assert dash.json()["csat"]["distribution"] == {"1": 1, "2": 0, "3": 1, "4": 0, "5": 1}
    assert client.get("/api/v1/desk/dashboard").status_code == 401


def test_the_public_survey_api(client: TestClient, engine: Engine, world: dict[str, int]) -> None:
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    with session_scope(engine) as s:
        t = open_ticket(s, "Late", at(9), assignee=world["wu"])
        tid, tracking = t.id, t.public_token
    assert client.get(f"/api/v1/public/tickets/{tracking}/csat").json()["error"] == "csat_not_found"
    r = client.post(f"/api/v1/tickets/{tid}/csat-skip", json={"skip": True}, headers=agent)
    assert r.json() == {"ticket_id": tid, "csat_skip": True}
    client.post(f"/api/v1/tickets/{tid}/csat-skip", json={"skip": False}, headers=agent)
    client.post(f"/api/v1/tickets/{tid}/status", json={"status": "resolved"}, headers=agent)
    link = client.get(f"/api/v1/public/tickets/{tracking}/csat").json()
    token = link["url"].rsplit("/", 1)[1]
    assert link == {"reference": f"T-{tid:06d}", "answered": False, "score": None,
                    "url": f"http://testserver/support/csat/{token}"}  # fmt: skip
    r = client.post(f"/api/v1/public/csat/{token}", json={"score": 9})
    assert (r.status_code, r.json()["error"]) == (400, "csat_bad_score")
    r = client.post(f"/api/v1/public/csat/{token}", json={"score": 5, "comment": "Thanks!"})
    assert (r.status_code, r.json()["answered"], r.json()["score"]) == (200, True, 5)
    r = client.post(f"/api/v1/public/csat/{token}", json={"score": 1})
    assert (r.status_code, r.json()["error"]) == (409, "csat_answered")
    assert client.get("/api/v1/public/csat/nope").status_code == 404
    seen = client.get(f"/api/v1/tickets/{tid}/csat", headers=agent).json()
    assert (seen["agent_id"], seen["score"], seen["comment"]) == (world["wu"], 5, "Thanks!")
    r = client.post(f"/api/v1/tickets/{tid}/csat-skip", json={"skip": True}, headers=agent)
    assert (r.status_code, r.json()["error"]) == (409, "csat_already_sent")
    r = client.post(f"/api/v1/tickets/{tid}/archive", headers=agent)
    assert (r.status_code, r.json()["error"]) == (409, "ticket_not_closed")
    client.post(f"/api/v1/tickets/{tid}/status", json={"status": "closed"}, headers=agent)
    assert client.post(f"/api/v1/tickets/{tid}/archive", headers=agent).json()["archived_at"] is not None
