"""The service desk's web pages without a browser, on both databases: the agents' queue with its
filters and SLA badges, the ticket page and its forms, permissions, and the customers' public
form and tracking page.

The agents' pages read the clock through ``patron.web.desk.utcnow``, pinned here to NOW, and
every ticket is created through the service at a fixed time before it, so the badges are exact.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import SmtpServer, run_jobs, table_rows, write_csv
from patron.accounts import service as accounts
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.desk import quality, service
from patron.desk.service import DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import
from patron.web import desk as desk_pages

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 17:00 in Shanghai (the instance's zone)
CONFIG = DeskConfig()  # Asia/Shanghai, around the clock

HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "S", 1, "1200.00"],
    ["B1", "bob", "Bob", "bob@x.test", "completed", "2026-02-02 10:00", "S", 1, "30.00"],
]
USERS = {
    "eve": ("eve@x.test", "Eve Agent", "agent"),
    "rita": ("rita@x.test", "Rita Reader", "read_only"),
    "mark": ("mark@x.test", "Mark Marketer", "marketer"),
}


@dataclass
class Desk:
    engine: Engine
    app: object
    ids: dict[str, int]  # customers, users and tickets by name

    def client(self, who: str, lang: str = "en") -> TestClient:
        client = TestClient(self.app)  # type: ignore[arg-type]
        client.get(f"/lang/{lang}")
        if who:
            r = client.post(
                "/login", data={"email": USERS[who][0], "password": "password1"}, follow_redirects=False
            )
            assert r.status_code == 303, r.text
        return client


@pytest.fixture
def desk(engine: Engine, shops: object, tmp_path: Path, fast_passwords: None) -> Desk:
    """Ada and Bob with an order each; an agent, a reader and a marketer; two SLA policies:
    urgent tickets 130 min to a first response, all others 60 min (next 120, resolution 480),
    each warned 10 minutes before."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    ids = {str(name): int(cid) for name, cid in table_rows(engine, "SELECT name, id FROM customers")}  # type: ignore[call-overload]
    with session_scope(engine) as s:
        for key, (email, name, role) in USERS.items():
            ids[key] = accounts.create_user(s, email=email, name=name, password="password1", role=role).id
        service.create_policy(
            s,
            {"name": "urgent", "position": 1, "match": {"priority": ["urgent"]}, "first_response_minutes": 130,
             "resolution_minutes": 600, "warn_before_minutes": 10},
        )  # fmt: skip
        service.create_policy(
            s,
            {"name": "standard", "position": 10, "first_response_minutes": 60, "next_response_minutes": 120,
             "resolution_minutes": 480, "warn_before_minutes": 10},
        )  # fmt: skip
    settings = Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32)
    return Desk(engine, create_app(settings, engine=engine), ids)


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_pages, "utcnow", lambda: NOW)


def make(engine: Engine, subject: str, minutes_ago: int, body: str = "Please help.", **kw: object) -> int:
    with session_scope(engine) as s:
        ticket = service.create(
            s,
            NewTicket(subject=subject, body=body, **kw),  # type: ignore[arg-type]
            actor="api",
            config=CONFIG,
            now=NOW - timedelta(minutes=minutes_ago),
        )
        return ticket.id


def ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
def queue(desk: Desk, pinned: None) -> Desk:
    """Six tickets, one in each state a badge can show."""
    e, ids = desk.engine, desk.ids
    ids["parcel"] = make(e, "Where is my parcel?", 10, customer_id=ids["Ada"])  # 50 min left
    ids["twice"] = make(e, "Charged twice", 5, type="refund_only", priority="urgent", customer_id=ids["Bob"])
    ids["zipper"] = make(
        e, "Broken zipper", 55, body="The zipper broke on the first day, poor quality.", type="complaint",
        priority="high", customer_id=ids["Ada"],
    )  # fmt: skip  # 5 min left: warned
    ids["late"] = make(e, "Late answer", 120, customer_id=ids["Bob"])  # missed an hour ago
    ids["size"] = make(
        e, "Size chart?", 30, requester_name="Wang", requester_email="wang@x.test"
    )  # waiting for the customer since 20 min: paused
    ids["thanks"] = make(e, "Thanks, solved", 180, customer_id=ids["Ada"])  # answered in time, resolved
    with session_scope(e) as s:
        service.set_status(s, ids["size"], "waiting_customer", actor="t", config=CONFIG, now=ago(20))
        service.reply(
            s, ids["thanks"], "Done.", author="Eve", author_user_id=None, config=CONFIG, now=ago(170)
        )
        service.set_status(s, ids["thanks"], "resolved", actor="t", config=CONFIG, now=ago(160))
        assert service.scan(s, now=NOW) == (1, 1)  # "late" missed (and raised to high), "zipper" warned
    return desk


def ref(ticket_id: int) -> str:
    return f"T-{ticket_id:06d}"


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def queue_rows(page: str) -> list[list[str]]:
    """The queue's rows, cell by cell (visible text)."""
    table = re.search(r'<table class="tickets">(.*?)</table>', page, re.S)
    if table is None:
        return []
    body = table.group(1).split("<tbody>")[1]
    return [
        [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def refs(page: str) -> list[str]:
    return [row[0] for row in queue_rows(page)]


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</section>", start)]


def table_of(fragment: str) -> list[list[str]]:
    body = fragment.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def scalar(engine: Engine, sql: str) -> object:
    return table_rows(engine, sql)[0][0]


def counts(engine: Engine, ticket_id: int) -> tuple[object, ...]:
    """(status, messages, events) of a ticket: what a refused action must leave alone."""
    return (
        scalar(engine, f"SELECT status FROM tickets WHERE id = {ticket_id}"),
        scalar(engine, f"SELECT count(*) FROM ticket_messages WHERE ticket_id = {ticket_id}"),
        scalar(engine, f"SELECT count(*) FROM ticket_events WHERE ticket_id = {ticket_id}"),
    )


# -- the queue -------------------------------------------------------------------------------------


def test_the_queue_shows_the_open_tickets_most_urgent_first_with_their_clocks(queue: Desk) -> None:
    ids = queue.ids
    severity, category = table_rows(queue.engine, f"SELECT severity, category FROM tickets WHERE id = {ids['zipper']}")[0]  # fmt: skip
    category_name = {"product": "Product", "logistics": "Delivery", "service": "Service", "price": "Price",
                     "promotion": "Promotion"}[str(category)]  # fmt: skip
    page = queue.client("eve").get("/tickets").text
    assert '<p class="muted" id="result-count">5 tickets</p>' in page
    assert queue_rows(page) == [
        [ref(ids["twice"]), "Charged twice", "Bob", "Refund only", "New", "Urgent", "—", "—", "2 h 5 min"],
        [ref(ids["late"]), "Late answer", "Bob", "Inquiry", "New", "High", "—", "—", "breached"],
        [ref(ids["zipper"]), "Broken zipper", "Ada", "Complaint", "New", "High", str(severity), category_name,
         "5 min"],
        [ref(ids["size"]), "Size chart?", "Wang", "Inquiry", "Waiting for customer", "Normal", "—", "—", "paused"],
        [ref(ids["parcel"]), "Where is my parcel?", "Ada", "Inquiry", "New", "Normal", "—", "—", "50 min"],
    ]  # fmt: skip
    # Each badge carries its state: orange when due soon, red once missed.
    states = re.findall(r'<span class="sla sla-(\w+)"', page)
    assert states == ["running", "breached", "warning", "paused", "running"]
    assert re.findall(r'<tr data-ref="(T-\d+)" class="late"', page) == [ref(ids["late"])]
    # The reference and the customer link to the ticket and the 360.
    assert f'<a href="/tickets/{ids["parcel"]}">{ref(ids["parcel"])}</a>' in page
    assert f'<a href="/customers/{ids["Ada"]}">Ada</a>' in page
    # The tickets link in the nav, highlighted.
    assert '<a href="/tickets" id="nav-tickets" class="on">Tickets</a>' in page


def test_the_queue_in_chinese(queue: Desk) -> None:
    rows = queue_rows(queue.client("eve", "zh").get("/tickets").text)
    assert [(r[3], r[4], r[5], r[8]) for r in rows] == [
        ("仅退款", "新建", "紧急", "2 小时 5 分钟"),
        ("咨询", "新建", "高", "已超时"),
        ("投诉", "新建", "高", "5 分钟"),
        ("咨询", "等待客户回复", "普通", "已暂停"),
        ("咨询", "新建", "普通", "50 分钟"),
    ]


def test_queue_filters(queue: Desk) -> None:
    ids, eve = queue.ids, queue.client("eve")
    category = scalar(queue.engine, f"SELECT category FROM tickets WHERE id = {ids['zipper']}")
    with session_scope(queue.engine) as s:
        service.assign(
            s, ids["parcel"], assignee_id=ids["eve"], team_id=None, actor="t", config=CONFIG, now=NOW
        )

    def shown(**params: object) -> list[str]:
        r = eve.get("/tickets", params=params)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        return refs(r.text)

    active = [ref(ids[k]) for k in ("twice", "late", "zipper", "size", "parcel")]
    assert shown() == active
    # A resolved ticket whose clocks all stopped in time: met.
    resolved = queue_rows(eve.get("/tickets", params={"status": "resolved", "filtered": "1"}).text)
    assert [(r[0], r[4], r[8]) for r in resolved] == [(ref(ids["thanks"]), "Resolved", "met")]
    everything = [ref(ids[k]) for k in ("twice", "late", "zipper", "thanks", "size", "parcel")]
    assert shown(filtered=1) == everything  # no status chosen: all of them
    assert shown(status=["new", "waiting_customer"], filtered=1) == active
    assert shown(status="waiting_customer", filtered=1) == [ref(ids["size"])]
    assert shown(assignee="mine") == [ref(ids["parcel"])]
    assert shown(assignee="unassigned") == active[:4]
    assert shown(type="complaint") == [ref(ids["zipper"])]
    assert shown(type="refund_only") == [ref(ids["twice"])]
    assert shown(category=category) == [ref(ids["zipper"])]
    assert shown(breached="yes") == [ref(ids["late"])]
    assert shown(breached="no") == [ref(ids[k]) for k in ("twice", "zipper", "size", "parcel")]
    assert shown(q="parcel") == [ref(ids["parcel"])]
    assert shown(q=ref(ids["late"])) == [ref(ids["late"])]
    assert shown(q="wang@") == [ref(ids["size"])]
    assert shown(q="nothing like this") == []
    assert "No ticket matches." in eve.get("/tickets", params={"q": "nothing like this"}).text
    # The form shows the filters in force.
    page = eve.get("/tickets", params={"status": "open", "filtered": "1", "type": "complaint"}).text
    assert re.findall(r'value="(\w+)" checked', page) == ["open"]
    assert '<option value="complaint" selected>' in page
    # An archived ticket is put away: shown only when asked for.
    with session_scope(queue.engine) as s:
        service.set_status(s, ids["thanks"], "closed", actor="t", config=CONFIG, now=NOW)
        quality.archive(s, ids["thanks"], "t", now=NOW)
    assert shown(filtered=1) == [r for r in everything if r != ref(ids["thanks"])]
    assert shown(filtered=1, archived=1) == everything
    assert 'name="archived" value="1" checked' in eve.get("/tickets", params={"archived": "1"}).text


def test_the_queue_pages_by_25_keeping_the_filters(desk: Desk, pinned: None) -> None:
    for i in range(27):
        make(desk.engine, f"Question {i:02d}", 100 - i, customer_id=desk.ids["Bob"])
    eve = desk.client("eve")
    first = eve.get("/tickets", params={"status": ["new", "open"], "filtered": "1"}).text
    assert len(queue_rows(first)) == 25
    assert "Page 1 of 2" in first
    next_link = html.unescape(re.findall(r'<a href="([^"]+)">Next', first)[0])
    assert next_link == "/tickets?status=new&status=open&filtered=1&page=2"
    second = eve.get(next_link).text
    assert [r[1] for r in queue_rows(second)] == ["Question 25", "Question 26"]


# -- the ticket page -------------------------------------------------------------------------------

PAGE_WORDS = {
    "en": {
        "facts": ["Priority: High", "Complaint", "Category:", "model, {pct}% sure"],
        "clocks": [
            ["First response", "5 min left", "55 min / 1 h", "2026-03-02 17:05"],
            ["Resolution", "7 h 5 min left", "55 min / 8 h", "2026-03-03 00:05"],
        ],
        "meta": "Opened 2026-03-02 16:05 via the API · Assignee: nobody",
        "history": ["SLA policy standard applies", "Opened via the API (Complaint)"],
        "words": ["Conversation", "Your reply", "Internal note (the customer never sees it)", "Previous tickets",
                  "Recent orders", "Change status", "Assign to me", "Correct the category"],
    },
    "zh": {
        "facts": ["优先级: 高", "投诉", "分类:", "模型判断，置信度 {pct}%"],
        "clocks": [
            ["首次响应", "剩余 5 分钟", "55 分钟 / 1 小时", "2026-03-02 17:05"],
            ["解决", "剩余 7 小时 5 分钟", "55 分钟 / 8 小时", "2026-03-03 00:05"],
        ],
        "meta": "2026-03-02 16:05 通过API提交 · 处理人: 未分配",
        "history": ["适用 SLA 策略 standard", "通过API提交（投诉）"],
        "words": ["对话", "回复", "内部备注（客户不可见）", "历史工单", "最近订单", "更改状态", "分配给我", "更正分类"],
    },
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_ticket_page(queue: Desk, lang: str) -> None:
    ids = queue.ids
    tid = ids["zipper"]
    confidence = float(scalar(queue.engine, f"SELECT category_confidence FROM tickets WHERE id = {tid}"))  # type: ignore[arg-type]
    words = PAGE_WORDS[lang]
    page = queue.client("eve", lang).get(f"/tickets/{tid}").text
    head = page[page.index('id="ticket-head"') : page.index('id="ticket-meta"')]
    assert (
        f'<span class="ref" id="ticket-ref">{ref(tid)}</span> <span id="ticket-subject">Broken zipper</span>'
        in head
    )
    facts = [w.format(pct=f"{100 * confidence:.0f}") for w in words["facts"]]
    assert [w for w in facts if w not in text_of(head)] == []
    assert text_of(page[page.index('id="ticket-meta"') :].split("</p>")[0].split(">", 1)[1]) == words["meta"]
    assert table_of(section(page, "slas")) == words["clocks"]
    assert re.findall(r'<span class="sla sla-(\w+)">', section(page, "slas")) == ["warning", "running"]
    assert [w for w in words["words"] if w not in page] == []
    # The conversation: the customer's first message.
    assert "The zipper broke on the first day, poor quality." in section(page, "conversation")
    # The history, newest first, in words.
    history = re.findall(
        r"<li><time>[^<]*</time> <strong>([^<]*)</strong> ([^<]*)</li>", section(page, "history")
    )
    assert [what.strip() for _, what in history][-2:] == words["history"]
    # The customer panel: Ada linked, her order, her other tickets (newest first), no scores yet.
    panel = section(page, "customer-panel")
    assert f'<a href="/customers/{ids["Ada"]}" id="customer-link">Ada</a>' in panel
    assert table_of(panel)[0][0] == "A1"
    assert "1,200.00 CNY" in panel
    assert re.findall(r'<a href="/tickets/(\d+)">', panel) == [str(ids["parcel"]), str(ids["thanks"])]
    # Only the moves the workflow allows from "new".
    moves = re.findall(r'<button name="status" value="(\w+)"', page)
    assert moves == ["open", "waiting_customer", "waiting_third_party", "resolved", "closed"]


def test_the_customer_panel_shows_the_latest_scores(queue: Desk) -> None:
    from patron.models import CustomerScore, ScoreRun

    with session_scope(queue.engine) as s:
        run = ScoreRun(as_of=NOW.date(), status="completed", customers=2, reporting_currency="CNY", actor="t")
        s.add(run)
        s.flush()
        s.add(CustomerScore(run_id=run.id, customer_id=queue.ids["Ada"], orders=1, spent_minor=120000,
                            state="active", segment="champions", tier="high_value", churn_risk=0.13))  # fmt: skip
    page = queue.client("eve").get(f"/tickets/{queue.ids['parcel']}").text
    facts = section(page, "customer-panel")
    dl = re.findall(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>", facts)
    assert dl == [
        ("Value tier", "high value"),
        ("RFM segment", "Champions"),
        ("Churn risk, 90 days", "13%"),
        ("Orders / spent", "1 · 1,200.00 CNY"),
    ]


def test_reply_note_status_assign_category_and_merge_through_the_forms(queue: Desk) -> None:
    ids, e = queue.ids, queue.engine
    eve = queue.client("eve")
    parcel = ids["parcel"]

    def post(path: str, **data: str) -> str:
        r = eve.post(path, data=data, follow_redirects=False)
        assert r.status_code == 303, r.text
        return r.headers["location"]

    assert post(f"/tickets/{parcel}/reply", body="It left the depot this morning.") == f"/tickets/{parcel}"
    assert post(f"/tickets/{parcel}/reply", body="VIP: call her if it is late again.", internal="1") == (
        f"/tickets/{parcel}"
    )
    rows = table_rows(
        e, f"SELECT kind, author_name, body FROM ticket_messages WHERE ticket_id = {parcel} ORDER BY id"
    )
    assert rows == [
        ("customer", "api", "Please help."),
        ("reply", "Eve Agent", "It left the depot this morning."),
        ("note", "Eve Agent", "VIP: call her if it is late again."),
    ]
    # The public reply answered the customer: the ticket is open and its first response met.
    assert scalar(e, f"SELECT status FROM tickets WHERE id = {parcel}") == "open"
    page = eve.get(f"/tickets/{parcel}").text
    assert re.findall(r'<li class="msg msg-(\w+)">', page) == ["customer", "reply", "note"]
    assert [r[:2] for r in table_of(section(page, "slas"))] == [["First response", "met"], ["Resolution", "7 h 50 min left"]]  # fmt: skip

    post(f"/tickets/{parcel}/status", status="waiting_customer")
    assert scalar(e, f"SELECT status FROM tickets WHERE id = {parcel}") == "waiting_customer"
    post(f"/tickets/{parcel}/assign", to="me")
    assert scalar(e, f"SELECT assignee_id FROM tickets WHERE id = {parcel}") == ids["eve"]
    page = eve.get(f"/tickets/{parcel}").text
    assert '<span id="ticket-assignee">Eve Agent</span>' in page
    assert "Assigned to Eve Agent" in page
    assert "Status Waiting for customer → Open" not in page
    assert "Status New → Open" in page
    assert "Status Open → Waiting for customer" in page

    zipper = ids["zipper"]
    post(f"/tickets/{zipper}/category", category="logistics")
    assert table_rows(e, f"SELECT category, category_source FROM tickets WHERE id = {zipper}") == [
        ("logistics", "agent")
    ]
    assert scalar(e, "SELECT count(*) FROM category_corrections") == 1
    page = eve.get(f"/tickets/{zipper}").text
    assert "Category: Delivery <small>(set by agent)</small>" in page
    assert '<option value="logistics" selected>' in page

    # "thanks" (resolved) is a duplicate of "zipper", both Ada's: merged, with its message moved.
    thanks = ids["thanks"]
    assert post(f"/tickets/{thanks}/merge", into=ref(zipper)) == f"/tickets/{zipper}"
    assert table_rows(e, f"SELECT merged_into_id, status FROM tickets WHERE id = {thanks}") == [
        (zipper, "closed")
    ]
    assert scalar(e, f"SELECT count(*) FROM ticket_messages WHERE ticket_id = {zipper}") == 3
    merged = eve.get(f"/tickets/{thanks}").text
    assert f'<a href="/tickets/{zipper}">{ref(zipper)}</a>' in merged
    assert 'id="reply-form"' not in merged
    assert f"Merged into {ref(zipper)}" in merged


@pytest.mark.parametrize(
    ("path", "data", "status", "shown", "code"),
    [
        ("status", {"status": "waiting_customer"}, 409, "The workflow does not allow this status change.",
         "ticket_bad_transition"),
        ("status", {"status": "archived"}, 400, "Unknown status.", "ticket_bad_status"),
        ("merge", {"into": "yesterday's"}, 400, "Give a ticket reference such as T-000042.", "ticket_bad_reference"),
        ("merge", {"into": "late"}, 409, "Only tickets of the same customer can be merged.",
         "ticket_merge_customer"),
        ("category", {"category": "product"}, 409, "Only a complaint has a category.", "ticket_not_complaint"),
        ("reply", {"body": "   "}, 400, "The message is empty.", "ticket_empty"),
    ],
)  # fmt: skip
def test_a_refused_action_shows_why_and_changes_nothing(
    queue: Desk, path: str, data: dict[str, str], status: int, shown: str, code: str
) -> None:
    tid = queue.ids["thanks"]  # resolved
    if data.get("into") == "late":
        data = {"into": ref(queue.ids["late"])}  # Bob's
    before = counts(queue.engine, tid)
    r = queue.client("eve").post(f"/tickets/{tid}/{path}", data=data, follow_redirects=False)
    assert r.status_code == status
    alert = re.search(r'<p class="error" role="alert" id="action-error">(.*?)</p>', r.text, re.S)
    assert alert is not None
    assert text_of(alert.group(1)) == f"{shown} {code}"
    assert counts(queue.engine, tid) == before
    # The page is the ticket's, with the moves that are allowed.
    assert re.findall(r'<button name="status" value="(\w+)"', r.text) == ["reopened", "closed"]


def test_a_refused_reply_keeps_the_draft(queue: Desk) -> None:
    tid = queue.ids["thanks"]
    with session_scope(queue.engine) as s:
        service.set_status(s, tid, "closed", actor="t", config=CONFIG, now=NOW)
    r = queue.client("eve", "zh").post(f"/tickets/{tid}/reply", data={"body": "还有问题吗？"})
    assert r.status_code == 409
    assert "工单已关闭。 <code>ticket_closed</code>" in r.text
    assert ">还有问题吗？</textarea>" in r.text
    assert "该工单已结束，不能再更改状态。" in r.text
    assert scalar(queue.engine, f"SELECT count(*) FROM ticket_messages WHERE ticket_id = {tid}") == 2


def test_a_reader_sees_tickets_but_changes_nothing(queue: Desk) -> None:
    tid = queue.ids["parcel"]
    rita = queue.client("rita")
    assert refs(rita.get("/tickets").text)[-1] == ref(tid)
    page = rita.get(f"/tickets/{tid}").text
    assert 'id="read-only"' in page
    assert 'id="reply-form"' not in page
    assert 'id="actions"' not in page
    before = counts(queue.engine, tid)
    for path, data in (
        ("reply", {"body": "Hello"}),
        ("status", {"status": "open"}),
        ("assign", {"to": "me"}),
    ):
        r = rita.post(f"/tickets/{tid}/{path}", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "Your role may read tickets but not change them. <code>permission_denied</code>" in r.text
    assert counts(queue.engine, tid) == before
    assert scalar(queue.engine, f"SELECT assignee_id FROM tickets WHERE id = {tid}") is None
    # The requester's email is masked for a role without customers:pii.
    size = queue.ids["size"]
    assert "· Requester: Wang w***@x.test" in text_of(rita.get(f"/tickets/{size}").text)
    assert "· Requester: Wang wang@x.test" in text_of(queue.client("eve").get(f"/tickets/{size}").text)
    # A marketer may not read tickets: no link in the nav, and an error page.
    mark = queue.client("mark")
    assert 'id="nav-tickets"' not in mark.get("/customers").text
    assert 'id="nav-tickets"' in rita.get("/customers").text
    r = mark.get("/tickets")
    assert r.status_code == 403
    assert "permission_denied" in r.text


def test_anonymous_agents_pages_go_to_the_login(desk: Desk) -> None:
    anonymous = desk.client("")
    r = anonymous.get("/tickets?status=new", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/tickets%3Fstatus%3Dnew")
    r = anonymous.post("/tickets/1/reply", data={"body": "x"}, follow_redirects=False)
    assert r.status_code == 303
    assert scalar(desk.engine, "SELECT count(*) FROM ticket_messages") == 0


def test_an_unknown_ticket_is_a_404_page(desk: Desk) -> None:
    r = desk.client("eve").get("/tickets/999999")
    assert r.status_code == 404
    assert "ticket_not_found" in r.text


# -- the public form and tracking page ---------------------------------------------------------------

FORM = {
    "name": "Ada",
    "email": " ADA@x.test ",
    "order_number": "A1",
    "type": "exchange",
    "subject": "Wrong size",
    "body": "I need one size larger.",
}


def submit(client: TestClient, **changes: str) -> tuple[int, str]:
    r = client.post("/support", data={**FORM, **changes}, follow_redirects=False)
    return r.status_code, r.headers.get("location", "") if r.status_code == 303 else r.text


def test_the_public_form_opens_one_ticket_and_shows_its_page(desk: Desk) -> None:
    visitor = desk.client("")
    form = visitor.get("/support")
    assert form.status_code == 200
    assert '<form method="post" action="/support" id="support-form"' in form.text
    types = re.findall(r'<option value="(\w+)"', form.text)
    assert types == ["inquiry", "return", "exchange", "refund_only", "repair", "reship", "complaint"]
    status, location = submit(visitor)
    assert status == 303
    token = location.removeprefix("/support/t/")
    ada, order = desk.ids["Ada"], scalar(desk.engine, "SELECT id FROM orders WHERE external_id = 'A1'")
    assert table_rows(
        desk.engine,
        "SELECT public_token, channel, type, status, customer_id, order_id, requester_email, language FROM tickets",
    ) == [(token, "web", "exchange", "new", ada, order, "ada@x.test", "en")]
    page = visitor.get(location)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    tid = int(scalar(desk.engine, "SELECT id FROM tickets"))  # type: ignore[call-overload]
    assert f'<h1 id="ticket-ref">Your request {ref(tid)}</h1>' in page.text
    assert '<span class="badge st-new" id="ticket-status">Received</span>' in page.text
    assert "I need one size larger." in page.text


def test_with_mail_the_link_is_mailed_and_an_agent_s_reply_too(
    desk: Desk, smtp: SmtpServer, mail_settings: Settings
) -> None:
    app = create_app(mail_settings, engine=desk.engine)
    mailing = Desk(desk.engine, app, desk.ids)
    visitor = mailing.client("")
    status, location = submit(visitor)
    assert status == 303
    page = visitor.get(location).text
    assert '<span id="link-mailed">We also sent this link to your email address' in page
    tid = int(scalar(desk.engine, "SELECT id FROM tickets"))  # type: ignore[call-overload]
    agent = mailing.client("eve")
    assert (
        agent.post(f"/tickets/{tid}/reply", data={"body": "A larger one is on its way."}).status_code == 200
    )
    assert (
        agent.post(f"/tickets/{tid}/reply", data={"body": "Sent with SF.", "internal": "1"}).status_code
        == 200
    )
    run_jobs(desk.engine)
    assert [(r.recipients, str(r.message["Subject"]).strip()) for r in smtp.received] == [
        (["ada@x.test"], f"[{ref(tid)}] We received your request: Wrong size"),
        (["ada@x.test"], f"Re: Wrong size [{ref(tid)}]"),
    ]
    history = text_of(section(agent.get(f"/tickets/{tid}").text, "history"))
    assert "Emailed the confirmation with the tracking link to the customer" in history
    assert "Emailed the reply to the customer" in history
    assert "ada@x.test" not in history
    # Without SMTP (the desk fixture's app) the page promises no mail.
    assert "link-mailed" not in desk.client("").get(location).text


def test_the_public_form_in_chinese(desk: Desk) -> None:
    visitor = desk.client("", "zh")
    page = visitor.get("/support").text
    assert [
        w for w in ("联系客服", "您的姓名", "订单号（选填）", "问题类型", "补寄", "仅退款") if w not in page
    ] == []
    status, location = submit(visitor, subject="尺码不对", body="想换大一号", order_number="")
    assert status == 303
    assert scalar(desk.engine, "SELECT language FROM tickets") == "zh"
    assert "您的工单 T-" in visitor.get(location).text


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"email": "not-an-email"}, {"email": "Not a valid email address."}),
        ({"subject": "  ", "name": ""}, {"name": "Required.", "subject": "Required."}),
        ({"type": "praise"}, {"type": "Choose one of the types."}),
        ({"body": "x" * 20_001}, {"body": "Too long."}),
    ],
)
def test_a_bad_public_form_creates_nothing_and_says_why(
    desk: Desk, changes: dict[str, str], errors: dict[str, str]
) -> None:
    status, page = submit(desk.client(""), **changes)
    assert status == 422
    assert "Please correct the fields marked below." in page
    assert dict(re.findall(r'<span class="field-error" id="e-(\w+)">([^<]*)</span>', page)) == errors
    if "subject" not in changes:
        assert 'value="Wrong size"' in page  # what was typed stays
    assert scalar(desk.engine, "SELECT count(*) FROM tickets") == 0


def test_the_tracking_page_hides_internal_notes_and_takes_messages(desk: Desk) -> None:
    visitor = desk.client("")
    _, location = submit(visitor)
    tid = int(scalar(desk.engine, "SELECT id FROM tickets"))  # type: ignore[call-overload]
    with session_scope(desk.engine) as s:
        service.reply(s, tid, "Internal: check the stock first", author="Eve", author_user_id=None, internal=True,
                      config=CONFIG)  # fmt: skip
        service.reply(
            s, tid, "A larger size is on its way.", author="Eve", author_user_id=None, config=CONFIG
        )
        service.set_status(s, tid, "waiting_customer", actor="t", config=CONFIG)
    page = visitor.get(location).text
    assert "check the stock" not in page
    messages = re.findall(r'<div class="msg-body">([^<]*)</div>', page)
    assert messages == ["I need one size larger.", "A larger size is on its way."]
    assert "Waiting for your reply" in page
    r = visitor.post(location, data={"body": "Thank you!"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, location)
    assert table_rows(
        desk.engine,
        f"SELECT kind, author_name, body FROM ticket_messages WHERE ticket_id = {tid} ORDER BY id",
    )[-1] == ("customer", "Ada", "Thank you!")
    assert scalar(desk.engine, f"SELECT status FROM tickets WHERE id = {tid}") == "open"
    # An empty message is refused on the page; a closed ticket takes none.
    r = visitor.post(location, data={"body": "  "})
    assert (r.status_code, "The message is empty." in r.text) == (400, True)
    with session_scope(desk.engine) as s:
        service.set_status(s, tid, "closed", actor="t", config=CONFIG)
    page = visitor.get(location).text
    assert 'id="message-form"' not in page
    assert "This request is closed." in page
    r = visitor.post(location, data={"body": "One more thing"})
    assert r.status_code == 409
    assert scalar(desk.engine, f"SELECT count(*) FROM ticket_messages WHERE ticket_id = {tid}") == 4


def test_an_unknown_tracking_link_is_a_404(desk: Desk) -> None:
    visitor = desk.client("")
    r = visitor.get("/support/t/not-a-token")
    assert r.status_code == 404
    assert "Link not found" in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    r = visitor.post("/support/t/not-a-token", data={"body": "hello?"})
    assert r.status_code == 404
    assert scalar(desk.engine, "SELECT count(*) FROM ticket_messages") == 0
