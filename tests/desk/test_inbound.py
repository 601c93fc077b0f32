"""Inbound email and attachments on both databases: parsing (charsets, RFC 2047, HTML), the
quoted history of English and Chinese mail clients, threading by subject reference and by
In-Reply-To, duplicates (also delivered at the same moment), closed and merged tickets,
automatic mail, the attachment checks, and the HTTP endpoints with their permissions."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows, write_csv
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.settings import Settings
from patron.desk import inbound, service
from patron.desk.inbound import InboundResult
from patron.desk.service import DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import

DESK = DeskConfig(timezone="UTC")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200))
PDF_BYTES = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
EXE_BYTES = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"This program cannot be run"
)


def b64(text: str, charset: str) -> str:
    return base64.b64encode(text.encode(charset)).decode()


def ooxml(main: str, extra: Sequence[str] = ()) -> bytes:
    """A minimal Office Open XML package (a .docx with ``word/document.xml``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in ("[Content_Types].xml", "_rels/.rels", main, *extra):
            z.writestr(name, "<x/>")
    return buf.getvalue()


def mail(
    body: str = "My parcel has not arrived.",
    *,
    sender: str = "Ada Lovelace <ADA@x.test>",
    subject: str = "Where is my parcel?",
    message_id: str = "<m1@mail.x.test>",
    in_reply_to: str | None = None,
    references: str | None = None,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "support@shop.test"
    m["Subject"] = subject
    m["Date"] = "Mon, 02 Mar 2026 17:30:00 +0800"
    if message_id:
        m["Message-ID"] = message_id
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    if references:
        m["References"] = references
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(body)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return m.as_bytes()


def receive(engine: Engine, raw: bytes, now: datetime = T0) -> InboundResult:
    with session_scope(engine) as s:
        return inbound.receive_email(s, raw, config=DESK, now=now)


def messages(engine: Engine, ticket_id: int) -> list[tuple[object, ...]]:
    return table_rows(
        engine,
        "SELECT kind, author_name, body, email_message_id FROM ticket_messages "
        f"WHERE ticket_id = {ticket_id} ORDER BY id",
    )


def actions(engine: Engine, ticket_id: int) -> list[str]:
    rows = table_rows(engine, f"SELECT action FROM ticket_events WHERE ticket_id = {ticket_id} ORDER BY id")
    return [str(a) for (a,) in rows]


def events(engine: Engine, ticket_id: int, action: str) -> list[dict[str, Any]]:
    with session_scope(engine) as s:
        return [e.data for e in service.view(s, ticket_id).events if e.action == action]


def count(engine: Engine, table: str) -> int:
    return int(table_rows(engine, f"SELECT count(*) FROM {table}")[0][0])  # type: ignore[call-overload]


HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "S", 1, "120.00"],
    ["B1", "wang", "小王", "wang@x.test", "completed", "2026-02-02 10:00", "S", 1, "30.00"],
]


@pytest.fixture
def people(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Two customers known by their email addresses."""
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    rows = table_rows(engine, "SELECT o.external_id, o.customer_id FROM orders o")
    ids = {str(ext): int(cid) for ext, cid in rows}  # type: ignore[call-overload]
    return {"ada": ids["A1"], "wang": ids["B1"]}


# -- a new email, parsing --------------------------------------------------------------------------


def test_a_new_email_opens_a_ticket_linked_to_the_customer(engine: Engine, people: dict[str, int]) -> None:
    result = receive(engine, mail())
    assert (result.created, result.threaded, result.duplicate, result.reference) == (
        True,
        False,
        False,
        "T-000001",
    )
    tid = result.ticket.id  # type: ignore[union-attr]
    assert table_rows(
        engine,
        "SELECT subject, channel, status, requester_email, requester_name, customer_id, language "
        f"FROM tickets WHERE id = {tid}",
    ) == [("Where is my parcel?", "email", "new", "ada@x.test", "Ada Lovelace", people["ada"], "en")]
    assert messages(engine, tid) == [
        ("customer", "Ada Lovelace", "My parcel has not arrived.", "<m1@mail.x.test>")
    ]
    assert actions(engine, tid) == ["created", "email_received"]
    assert events(engine, tid, "email_received") == [
        {
            "message_id": "<m1@mail.x.test>",
            "sender": "ada@x.test",
            "sent_at": "2026-03-02T09:30:00+00:00",
            "attachments": 0,
            "refused": 0,
        }
    ]


# A hand-written message as Chinese clients send it: the subject and name RFC 2047-encoded in
# GBK and GB2312, the body labelled gb2312 yet holding 喆 (only in GBK), base64-encoded, with
# Foxmail's unquoted history under "原始邮件".
GBK_BODY = (
    "您好：\r\n订单 A1 到现在还没收到，收件人王喆，麻烦帮忙查一下物流。\r\n\r\n"
    "------------------ 原始邮件 ------------------\r\n"
    '发件人: "Patron 客服"<support@shop.test>;\r\n'
    "发送时间: 2026年3月1日(星期天) 上午10:00\r\n"
    '收件人: "小王"<wang@x.test>;\r\n'
    "主题: 订单已发货\r\n\r\n您的订单已发货。\r\n"
)
GBK_EMAIL = (
    f"From: =?GB2312?B?{b64('小王', 'gb2312')}?= <Wang@X.test>\r\n"
    "To: support@shop.test\r\n"
    f"Subject: =?GBK?B?{b64('订单一直没收到，麻烦查一下', 'gbk')}?=\r\n"
    "Message-ID: <gbk-0001@mail.x.test>\r\n"
    "Date: Mon, 2 Mar 2026 18:05:00 +0800\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="gb2312"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n"
).encode("ascii") + base64.encodebytes(GBK_BODY.encode("gbk"))


def test_a_gbk_email_with_an_encoded_chinese_subject(engine: Engine, people: dict[str, int]) -> None:
    result = receive(engine, GBK_EMAIL)
    tid = result.ticket.id  # type: ignore[union-attr]
    assert table_rows(
        engine,
        f"SELECT subject, requester_email, requester_name, customer_id, language FROM tickets WHERE id = {tid}",
    ) == [("订单一直没收到，麻烦查一下", "wang@x.test", "小王", people["wang"], "zh")]
    assert messages(engine, tid) == [
        (
            "customer",
            "小王",
            "您好：\n订单 A1 到现在还没收到，收件人王喆，麻烦帮忙查一下物流。",
            "<gbk-0001@mail.x.test>",
        )
    ]


def test_headers_in_any_charset() -> None:
    word = "喆的订单到了吗".encode("gbk")
    split = f"=?gb2312?B?{base64.b64encode(word[:3]).decode()}?=\r\n =?gb2312?B?{base64.b64encode(word[3:]).decode()}?="
    jis = "=?ISO-2022-JP?B?" + base64.b64encode("注文が届きません".encode("iso2022_jp")).decode() + "?="
    raw = (
        b"From: " + "张三".encode("gbk") + b" <zhang@x.test>\r\n"  # raw 8-bit GBK, no encoding
        b"Subject: " + split.encode() + b"\r\n"
        b"X-Jp: " + jis.encode() + b"\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
        b"--BB\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
        + "届きません".encode("iso2022_jp")
        + b"\r\n"
        b'--BB\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="'
        + "截图.png".encode("gbk")
        + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(PNG_BYTES)
        + b"--BB\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        b" filename*=utf-8''%E5%8F%91%E7%A5%A8.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PDF_BYTES)
        + b"--BB--\r\n"
    )
    parsed = inbound.parse_email(raw)
    assert (parsed.sender_name, parsed.sender_email, parsed.subject, parsed.body) == (
        "张三",
        "zhang@x.test",
        "喆的订单到了吗",
        "届きません",
    )
    assert inbound.decode_header(jis) == "注文が届きません"
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("截图.png", "image/png", PNG_BYTES),
        ("发票.pdf", "application/pdf", PDF_BYTES),
    ]
    # No Message-ID: one derived from the message, the same on every delivery.
    assert parsed.message_id == inbound.parse_email(raw).message_id
    assert parsed.message_id.endswith("@no-message-id.patron>")


def test_an_html_only_email_becomes_text() -> None:
    html = (
        "<html><head><style>p { color: red }</style><title>x</title></head><body>"
        '<div dir="ltr">Hello,&nbsp;the lamp &amp; its shade arrived <b>broken</b>.'
        "<div><br></div><div>Photos attached.<br>Order A1</div><ul><li>lamp</li><li>shade</li></ul>"
        "<p>Ada</p></div>"
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Mar 2, 2026 at 9:00 AM Support wrote:</div>'
        "<blockquote>Please send photos.</blockquote></div></body></html>"
    )
    m = EmailMessage()
    m["From"] = "ada@x.test"
    m["Subject"] = "Broken"
    m.set_content(html, subtype="html")
    assert inbound.parse_email(m.as_bytes()).body == (
        "Hello, the lamp & its shade arrived broken.\n\nPhotos attached.\nOrder A1\n- lamp\n- shade\n\nAda"
    )
    # Plain text is preferred when both are sent.
    both = mail("Plain wins.", html="<p>HTML loses.</p>")
    assert inbound.parse_email(both).body == "Plain wins."


QUOTED = [
    (  # Gmail, English, the attribution wrapped over two lines
        "Thanks, it arrived today.\n\nAda\n\nOn Mon, Mar 2, 2026 at 9:00 AM Patron Support <\n"
        "support@shop.test> wrote:\n\n> Your parcel is on its way.\n>\n> Patron\n",
        "Thanks, it arrived today.\n\nAda",
    ),
    (  # Outlook: unquoted history under a From/Sent/To/Subject block
        "Still broken, see the photo.\n\nSent from Outlook\n________________________________\n"
        "From: Patron Support <support@shop.test>\nSent: Monday, March 2, 2026 9:00 AM\n"
        "To: Ada <ada@x.test>\nSubject: RE: [T-000001] Broken lamp\n\nPlease send a photo.\n",
        "Still broken, see the photo.\n\nSent from Outlook",
    ),
    (
        "Fine by me.\n\n-----Original Message-----\nFrom: Support\nPlease confirm.\n",
        "Fine by me.",
    ),
    (  # bottom-posting: the answer below the quote stays
        "On 2 Mar 2026, at 09:00, Support <s@shop.test> wrote:\n> Did it arrive?\n> Tell us.\n\nYes, it did.\n",
        "Yes, it did.",
    ),
    (  # inline answers between quoted lines
        "> Which size?\nXL\n> Which colour?\nBlue\n",
        "XL\nBlue",
    ),
    (  # QQ Mail / Foxmail
        "收到了，谢谢！\n\n------------------&nbsp;原始邮件&nbsp;------------------\n".replace("&nbsp;", " ")
        + '发件人: "Patron 客服"<support@shop.test>;\n发送时间: 2026年3月2日(星期一) 上午9:00\n'
        '收件人: "小王"<wang@x.test>;\n主题: 回复：[T-000001] 尺码不对\n\n已安排换货。\n',
        "收到了，谢谢！",
    ),
    (  # NetEase 163: unquoted history after "写道："
        '好的，等你们消息。\n\n在 2026-03-02 09:00:00，"Patron 客服" <support@shop.test> 写道：\n您好，已经安排换货。\n',
        "好的，等你们消息。",
    ),
    (  # Gmail in Chinese
        "可以，谢谢\n\nPatron Support <support@shop.test> 于2026年3月2日周一 09:00写道：\n\n> 您好\n",
        "可以，谢谢",
    ),
    (  # Outlook in Chinese
        "照片在附件里。\n\n发件人: Patron 客服 <support@shop.test>\n发送时间: 2026年3月2日 9:00\n"
        "收件人: 小王 <wang@x.test>\n主题: 答复: 灯坏了\n\n请提供照片。\n",
        "照片在附件里。",
    ),
    (  # not a reply header: no date, no address
        "On Monday my sister wrote:\nthe box was empty\n",
        "On Monday my sister wrote:\nthe box was empty",
    ),
]


@pytest.mark.parametrize(("text", "new"), QUOTED)
def test_the_quoted_history_is_stripped(text: str, new: str) -> None:
    assert inbound.strip_quoted(text) == new


def test_quoted_html_of_outlook_and_apple_mail() -> None:
    outlook = '<p>Yes please.</p><hr><div id="divRplyFwdMsg"><b>From:</b> Support<br><b>Sent:</b> x</div><div>old</div>'
    apple = (
        '<div>Sure.</div><div><br><blockquote type="cite"><div>On 2 Mar 2026, at 09:00, Support wrote:</div>'
        "<div>old</div></blockquote></div><div>Ada</div>"
    )
    assert inbound.html_to_text(outlook) == "Yes please."
    assert inbound.html_to_text(apple) == "Sure.\n\nAda"


# -- threading -------------------------------------------------------------------------------------


def test_replies_thread_by_subject_reference_and_by_in_reply_to(
    engine: Engine, people: dict[str, int]
) -> None:
    first = receive(engine, mail("The lamp arrived broken.", subject="Broken lamp"))
    tid = first.ticket.id  # type: ignore[union-attr]
    with session_scope(engine) as s:
        service.reply(s, tid, "Please send a photo.", author="Li", author_user_id=None, config=DESK, now=T0)
        service.set_status(s, tid, "waiting_customer", actor="Li", config=DESK, now=T0)
    by_subject = receive(
        engine,
        mail(
            "Here it is.\n\nOn Mon, Mar 2, 2026 at 9:00 AM Patron Support <support@shop.test> wrote:\n"
            "> Please send a photo.\n",
            sender="ada@x.test",  # the same person, another spelling and no name
            subject=f"Re: [{first.reference}] Broken lamp",
            message_id="<m2@mail.x.test>",
        ),
        T0 + timedelta(hours=1),
    )
    assert (by_subject.ticket.id, by_subject.created, by_subject.threaded) == (tid, False, True)  # type: ignore[union-attr]
    by_header = receive(
        engine,
        mail(
            "还有灯罩也裂了。\n\n在 2026年3月2日 10:00，Patron 客服 <support@shop.test> 写道：\n> 收到照片\n",
            subject="another subject, no reference",
            message_id="<m3@mail.x.test>",
            in_reply_to="<m2@mail.x.test>",
            references="<m1@mail.x.test> <m2@mail.x.test>",
        ),
        T0 + timedelta(hours=2),
    )
    assert (by_header.ticket.id, by_header.threaded) == (tid, True)  # type: ignore[union-attr]
    assert messages(engine, tid) == [
        ("customer", "Ada Lovelace", "The lamp arrived broken.", "<m1@mail.x.test>"),
        ("reply", "Li", "Please send a photo.", None),
        ("customer", "ada@x.test", "Here it is.", "<m2@mail.x.test>"),
        ("customer", "Ada Lovelace", "还有灯罩也裂了。", "<m3@mail.x.test>"),
    ]
    assert table_rows(engine, f"SELECT status FROM tickets WHERE id = {tid}") == [("open",)]
    assert count(engine, "tickets") == 1
    assert actions(engine, tid) == [
        "created", "email_received",
        "status", "reply",  # the agent's reply opens the new ticket
        "status",  # waiting for the customer
        "status", "customer_message", "email_received",  # the answer opens it again
        "customer_message", "email_received",
    ]  # fmt: skip


def test_a_reference_from_another_sender_opens_a_new_ticket(engine: Engine, people: dict[str, int]) -> None:
    first = receive(engine, mail("Broken.", subject="Broken lamp"))
    other = receive(
        engine,
        mail(
            "Please refund me.",
            sender="Mallory <mallory@evil.test>",
            subject=f"Re: [{first.reference}] Broken lamp",
            message_id="<evil@evil.test>",
        ),
    )
    assert (other.created, other.threaded, other.follows_up) == (True, False, first.reference)
    new = other.ticket.id  # type: ignore[union-attr]
    assert table_rows(engine, f"SELECT subject, customer_id FROM tickets WHERE id = {new}") == [
        ("Broken lamp", None)
    ]
    assert events(engine, new, "follow_up_of") == [
        {"ticket_id": first.ticket.id, "reference": first.reference, "reason": "sender_not_requester"}  # type: ignore[union-attr]
    ]
    assert len(messages(engine, first.ticket.id)) == 1  # type: ignore[union-attr]
    assert actions(engine, first.ticket.id) == ["created", "email_received"]  # type: ignore[union-attr]


def test_a_reply_to_a_closed_ticket_opens_a_new_one(engine: Engine, people: dict[str, int]) -> None:
    first = receive(engine, mail("Broken.", subject="Broken lamp"))
    old = first.ticket.id  # type: ignore[union-attr]
    with session_scope(engine) as s:
        service.set_status(s, old, "closed", actor="Li", config=DESK, now=T0)
    again = receive(
        engine,
        mail(
            "It broke again.",
            subject=f"RE: 回复: [{first.reference}] Broken lamp",
            message_id="<m2@mail.x.test>",
            in_reply_to="<m1@mail.x.test>",
        ),
    )
    new = again.ticket.id  # type: ignore[union-attr]
    assert (new != old, again.created, again.follows_up) == (True, True, "T-000001")
    assert table_rows(engine, f"SELECT subject, status, customer_id FROM tickets WHERE id = {new}") == [
        ("Broken lamp", "new", people["ada"])
    ]
    assert messages(engine, new) == [("customer", "Ada Lovelace", "It broke again.", "<m2@mail.x.test>")]
    assert events(engine, new, "follow_up_of") == [
        {"ticket_id": old, "reference": "T-000001", "reason": "closed"}
    ]
    assert events(engine, old, "followed_up") == [{"ticket_id": new, "reference": again.reference}]
    assert len(messages(engine, old)) == 1


def test_a_merged_ticket_is_followed_to_the_survivor(engine: Engine, people: dict[str, int]) -> None:
    a = receive(
        engine, mail("Lamp broken.", subject="Lamp", attachments=[("lamp.jpg", "image/jpeg", JPEG_BYTES)])
    )
    b = receive(engine, mail("Lamp still broken!", subject="Lamp again", message_id="<m2@mail.x.test>"))
    with session_scope(engine) as s:
        service.merge(s, a.ticket.id, b.ticket.id, actor="Li", config=DESK, now=T0)  # type: ignore[union-attr]
    reply = receive(
        engine,
        mail("Any news?", subject=f"Re: [{a.reference}] Lamp", message_id="<m3@mail.x.test>"),
    )
    assert (reply.ticket.id, reply.threaded) == (b.ticket.id, True)  # type: ignore[union-attr]
    by_header = receive(engine, mail("Hello?", message_id="<m4@mail.x.test>", in_reply_to="<m1@mail.x.test>"))
    assert by_header.ticket.id == b.ticket.id  # type: ignore[union-attr]
    assert count(engine, "tickets") == 2
    # The duplicate's photo went over with its message.
    assert table_rows(engine, "SELECT ticket_id, filename FROM ticket_attachments") == [
        (b.ticket.id, "lamp.jpg")  # type: ignore[union-attr]
    ]


def test_the_same_message_is_stored_once(engine: Engine, people: dict[str, int]) -> None:
    raw = mail(attachments=[("photo.jpg", "image/jpeg", JPEG_BYTES)])
    first = receive(engine, raw)
    again = receive(engine, raw, T0 + timedelta(minutes=5))
    assert (again.duplicate, again.created, again.threaded, again.ticket.id, again.message.id) == (  # type: ignore[union-attr]
        True,
        False,
        False,
        first.ticket.id,  # type: ignore[union-attr]
        first.message.id,  # type: ignore[union-attr]
    )
    assert (again.attachments, again.refused) == ([], [])
    assert (
        count(engine, "tickets"),
        count(engine, "ticket_messages"),
        count(engine, "ticket_attachments"),
    ) == (
        1,
        1,
        1,
    )
    assert actions(engine, first.ticket.id) == ["created", "email_received"]  # type: ignore[union-attr]


def test_the_same_message_delivered_twice_at_once(engine: Engine, people: dict[str, int]) -> None:
    barrier = threading.Barrier(2, timeout=10)
    local = threading.local()
    lookup: Callable[..., Any] = inbound.repo.message_by_email_id
    write_lock: Callable[..., Any] = inbound.repo.write_lock

    def after_both_checked(session: Any, message_id: str) -> Any:
        found = lookup(session, message_id)
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()  # both deliveries have seen "not received yet"
        return found

    def slow_lock(session: Any) -> None:
        write_lock(session)
        time.sleep(0.3)  # the other delivery is waiting for the lock by now

    results: list[InboundResult] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            results.append(receive(engine, mail()))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    with pytest.MonkeyPatch.context() as mp:
        if engine.dialect.name == "postgresql":
            # Both pass the check before either stores: the unique index decides, and the
            # loser's savepoint is rolled back.
            mp.setattr(inbound.repo, "message_by_email_id", after_both_checked)
        else:
            # SQLite: the first takes the write lock before checking; the second waits for it.
            mp.setattr(inbound.repo, "write_lock", slow_lock)
        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert sorted((r.created, r.duplicate) for r in results) == [(False, True), (True, False)]
    assert len({r.ticket.id for r in results}) == 1  # type: ignore[union-attr]
    assert (count(engine, "tickets"), count(engine, "ticket_messages"), count(engine, "ticket_events")) == (
        1,
        1,
        2,
    )


def test_automatic_mail_never_opens_a_ticket(engine: Engine, people: dict[str, int]) -> None:
    first = receive(engine, mail())
    tid = first.ticket.id  # type: ignore[union-attr]
    with session_scope(engine) as s:
        service.set_status(s, tid, "resolved", actor="Li", config=DESK, now=T0)
    ooo = receive(
        engine,
        mail(
            "I am out of the office until 9 March.",
            subject="Automatic reply: Where is my parcel?",
            message_id="<ooo@mail.x.test>",
            in_reply_to="<m1@mail.x.test>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    assert (ooo.threaded, ooo.automatic, ooo.ignored, ooo.ticket.id) == (True, "auto_submitted", None, tid)  # type: ignore[union-attr]
    assert messages(engine, tid)[-1] == (
        "note",
        "Ada Lovelace",
        "I am out of the office until 9 March.",
        "<ooo@mail.x.test>",
    )
    assert table_rows(engine, f"SELECT status FROM tickets WHERE id = {tid}") == [
        ("resolved",)
    ]  # not reopened
    bounce = receive(
        engine,
        mail(
            "Delivery failed.", sender="MAILER-DAEMON@shop.test", subject="Undeliverable", message_id="<b@x>"
        ),
    )
    bulk = receive(
        engine, mail("50% off!", subject="Sale", message_id="<s@x>", headers={"Precedence": "bulk"})
    )
    assert [(r.ticket, r.ignored) for r in (bounce, bulk)] == [(None, "delivery_report"), (None, "bulk")]
    assert (count(engine, "tickets"), count(engine, "ticket_messages")) == (1, 2)


def test_bad_emails_are_refused(engine: Engine) -> None:
    with session_scope(engine) as s:
        for raw, code in [
            (b"  \r\n", "email_empty"),
            (mail(sender="not an address"), "email_no_sender"),
        ]:
            with pytest.raises(InvalidInput) as e:
                inbound.receive_email(s, raw, config=DESK, now=T0)
            assert e.value.code == code
    assert count(engine, "tickets") == 0


# -- attachments -----------------------------------------------------------------------------------


def test_attachments_are_stored_or_refused_with_the_email_kept(
    engine: Engine, people: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * inbound.MAX_ATTACHMENT_BYTES
    result = receive(
        engine,
        mail(
            "Photos of the damage and the invoice.",
            attachments=[
                ("damage.jpg", "image/jpeg", JPEG_BYTES),
                ("发票.pdf", "application/pdf", PDF_BYTES),
                ("photo.jpg", "image/jpeg", EXE_BYTES),  # an .exe renamed .jpg
                ("all.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 40),
                ("huge.png", "image/png", big),
            ],
        ),
    )
    tid, mid = result.ticket.id, result.message.id  # type: ignore[union-attr]
    assert [(a.filename, a.content_type, a.size, a.sha256) for a in result.attachments] == [
        ("damage.jpg", "image/jpeg", len(JPEG_BYTES), hashlib.sha256(JPEG_BYTES).hexdigest()),
        ("发票.pdf", "application/pdf", len(PDF_BYTES), hashlib.sha256(PDF_BYTES).hexdigest()),
    ]
    assert table_rows(
        engine,
        "SELECT ticket_id, message_id, filename, content_type, size, sha256 FROM ticket_attachments ORDER BY id",
    ) == [
        (tid, mid, "damage.jpg", "image/jpeg", len(JPEG_BYTES), hashlib.sha256(JPEG_BYTES).hexdigest()),
        (tid, mid, "发票.pdf", "application/pdf", len(PDF_BYTES), hashlib.sha256(PDF_BYTES).hexdigest()),
    ]
    assert [(r.filename, r.code) for r in result.refused] == [
        ("photo.jpg", "attachment_type_mismatch"),
        ("all.zip", "attachment_type_not_allowed"),
        ("huge.png", "attachment_too_large"),
    ]
    assert messages(engine, tid) == [
        ("customer", "Ada Lovelace", "Photos of the damage and the invoice.", "<m1@mail.x.test>")
    ]
    refused = events(engine, tid, "attachment_refused")
    assert [(e["filename"], e["content_type"], e["size"], e["code"], e["message_id"]) for e in refused] == [
        ("photo.jpg", "image/jpeg", len(EXE_BYTES), "attachment_type_mismatch", mid),
        ("all.zip", "application/zip", 44, "attachment_type_not_allowed", mid),
        ("huge.png", "image/png", len(big), "attachment_too_large", mid),
    ]
    assert actions(engine, tid) == ["created", "attachment_refused", "attachment_refused", "attachment_refused",
                                    "email_received"]  # fmt: skip
    with session_scope(engine) as s:
        stored = inbound.get_attachment(s, result.attachments[0].id)
        assert stored.data == JPEG_BYTES

    # Together, an email's attachments may not pass the per-message cap: the one that would is refused.
    monkeypatch.setattr(inbound, "MAX_MESSAGE_ATTACHMENT_BYTES", len(JPEG_BYTES) + len(PDF_BYTES))
    capped = receive(
        engine,
        mail(
            "Three files.",
            message_id="<m2@mail.x.test>",
            attachments=[
                ("a.jpg", "image/jpeg", JPEG_BYTES),
                ("b.png", "image/png", PNG_BYTES),
                ("c.pdf", "application/pdf", PDF_BYTES),
            ],
        ),
    )
    assert [a.filename for a in capped.attachments] == ["a.jpg", "c.pdf"]
    assert [(r.filename, r.code) for r in capped.refused] == [("b.png", "attachment_too_large")]


def test_the_attachment_checks(engine: Engine, people: dict[str, int]) -> None:
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ok = [
        (("a.png", "image/png", PNG_BYTES), ("a.png", "image/png")),
        (("a.jpg", "image/jpeg", PNG_BYTES), ("a.jpg.png", "image/png")),  # a PNG named .jpg is a PNG
        (("scan", "application/octet-stream", PDF_BYTES), ("scan.pdf", "application/pdf")),
        (
            ("C:\\Users\\ada\\list.csv", "application/vnd.ms-excel", b"sku,qty\nA,1\n"),
            ("list.csv", "text/csv"),
        ),
        (("notes.txt", "text/plain; charset=gbk", "你好".encode("gbk")), ("notes.txt", "text/plain")),
        (("r.docx", docx, ooxml("word/document.xml")), ("r.docx", docx)),
        (("r.xlsx", xlsx, ooxml("xl/workbook.xml")), ("r.xlsx", xlsx)),
        (("v.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), ("v.mp4", "video/mp4")),
        (
            ("i.heic", "image/heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
            ("i.heic", "image/heic"),
        ),
        (("photo\u202egpj.exe", "image/jpeg", JPEG_BYTES), ("photogpj.exe.jpg", "image/jpeg")),
    ]
    for (name, ctype, data), expected in ok:
        assert inbound.check_attachment(name, ctype, data) == expected, name
    refused = [
        (("e.txt", "text/plain", b""), "attachment_empty"),
        (
            ("e.pdf", "application/pdf", b"%PDF-" + b"x" * inbound.MAX_ATTACHMENT_BYTES),
            "attachment_too_large",
        ),
        (("a.zip", "application/zip", b"PK\x03\x04"), "attachment_type_not_allowed"),
        (("a.exe", "application/octet-stream", EXE_BYTES), "attachment_type_not_allowed"),
        (
            ("m.mov", "video/quicktime", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "),
            "attachment_type_not_allowed",
        ),
        (("a.jpg", "image/jpeg", EXE_BYTES), "attachment_type_mismatch"),
        (("a.pdf", "application/pdf", JPEG_BYTES), "attachment_type_mismatch"),
        (("a.txt", "text/plain", EXE_BYTES), "attachment_type_mismatch"),
        (("a.txt", "text/plain", b"abc\x00def"), "attachment_type_mismatch"),
        (("m.docx", docx, ooxml("word/document.xml", ["word/vbaProject.bin"])), "attachment_type_mismatch"),
        (("z.docx", docx, b"PK\x03\x04" + b"\x00" * 30), "attachment_type_mismatch"),
        (("v.mp4", "video/mp4", b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "), "attachment_type_mismatch"),
    ]
    for (name, ctype, data), code in refused:
        with pytest.raises(InvalidInput) as e:
            inbound.check_attachment(name, ctype, data)
        assert e.value.code == code, name

    with session_scope(engine) as s:
        t = service.create(s, NewTicket(subject="s", body="b"), actor="api", config=DESK, now=T0)
        other = service.create(s, NewTicket(subject="s2", body="b2"), actor="api", config=DESK, now=T0)
        first_message = service.view(s, t.id).messages[0].id
        row = inbound.add_attachment(
            s, t.id, "a.png", "image/png", PNG_BYTES, message_id=first_message, actor="user:1", now=T0
        )
        assert (row.ticket_id, row.message_id, row.size) == (t.id, first_message, len(PNG_BYTES))
        with pytest.raises(NotFound) as nf:
            inbound.add_attachment(
                s, other.id, "a.png", "image/png", PNG_BYTES, message_id=first_message, actor="x"
            )
        assert nf.value.code == "ticket_message_not_found"
        with pytest.raises(NotFound):
            inbound.add_attachment(s, 999, "a.png", "image/png", PNG_BYTES, actor="x")
        service.merge(s, t.id, other.id, actor="x", config=DESK, now=T0)
        with pytest.raises(Conflict) as c:
            inbound.add_attachment(s, t.id, "a.png", "image/png", PNG_BYTES, actor="x")
        assert c.value.code == "ticket_merged"
        # The attachment moved with its message to the ticket it was merged into.
        assert [a.id for a in inbound.attachments_of(s, other.id)] == [row.id]
        tid = t.id
    assert events(engine, tid, "attachment_added") == [
        {"attachment_id": row.id, "filename": "a.png", "content_type": "image/png", "size": len(PNG_BYTES)}
    ]
    assert count(engine, "ticket_attachments") == 1


# -- HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32, default_timezone="UTC"
    )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


RFC822 = {"Content-Type": "message/rfc822"}


def test_the_inbound_endpoint(client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = api_key(engine, "agent", ["tickets:write"])
    raw = mail(attachments=[("damage.jpg", "image/jpeg", JPEG_BYTES), ("x.jpg", "image/jpeg", EXE_BYTES)])
    r = client.post("/api/v1/inbound/email", content=raw, headers=gateway | RFC822)
    assert r.status_code == 201, r.text
    body = r.json()
    attachment = body["attachments"][0]
    assert {k: v for k, v in body.items() if k != "attachments"} == {
        "ticket_id": 1,
        "reference": "T-000001",
        "message_id": 1,
        "created": True,
        "threaded": False,
        "duplicate": False,
        "ignored": None,
        "automatic": None,
        "follows_up": None,
        "refused": [
            {
                "filename": "x.jpg",
                "content_type": "image/jpeg",
                "size": len(EXE_BYTES),
                "code": "attachment_type_mismatch",
                "detail": "x.jpg is not the image/jpeg it claims to be",
            }
        ],
    }
    assert {k: attachment[k] for k in ("ticket_id", "message_id", "filename", "content_type", "size")} == {
        "ticket_id": 1,
        "message_id": 1,
        "filename": "damage.jpg",
        "content_type": "image/jpeg",
        "size": len(JPEG_BYTES),
    }
    again = client.post(
        "/api/v1/inbound/email", content=raw, headers=gateway | {"Content-Type": "application/octet-stream"}
    )
    assert (again.status_code, again.json()["duplicate"], again.json()["ticket_id"]) == (201, True, 1)
    ooo = mail("Away.", message_id="<ooo@x>", headers={"Auto-Submitted": "auto-replied"})
    r = client.post("/api/v1/inbound/email", content=ooo, headers=gateway | RFC822)
    assert (r.status_code, r.json()["ignored"], r.json()["ticket_id"]) == (202, "auto_submitted", None)

    r = client.post("/api/v1/inbound/email", content=raw, headers=gateway | {"Content-Type": "text/plain"})
    assert (r.status_code, r.json()["error"]) == (415, "email_bad_content_type")
    monkeypatch.setattr(inbound, "MAX_EMAIL_BYTES", 1000)
    r = client.post("/api/v1/inbound/email", content=raw, headers=gateway | RFC822)
    assert (r.status_code, r.json()["error"], r.json()["data"]) == (413, "email_too_large", {"limit": 1000})
    assert (
        count(engine, "tickets"),
        count(engine, "ticket_messages"),
        count(engine, "ticket_attachments"),
    ) == (
        1,
        1,
        1,
    )


def test_inbound_permissions_and_nothing_written_when_denied(client: TestClient, engine: Engine) -> None:
    reader = api_key(engine, "read_only", ["tickets:read"])
    r = client.post("/api/v1/inbound/email", content=mail(), headers=reader | RFC822)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    assert client.post("/api/v1/inbound/email", content=mail(), headers=RFC822).status_code == 401
    assert (count(engine, "tickets"), count(engine, "ticket_messages")) == (0, 0)


def test_upload_list_and_download(client: TestClient, engine: Engine) -> None:
    agent = api_key(engine, "agent", ["tickets:read", "tickets:write"])
    writer = api_key(engine, "admin", ["tickets:write"])
    reader = api_key(engine, "read_only", ["tickets:read"])
    tid = client.post(
        "/api/v1/tickets", json={"subject": "Broken", "body": "See photo"}, headers=agent
    ).json()["ticket"]["id"]
    r = client.post(
        f"/api/v1/tickets/{tid}/attachments",
        files={"file": ("照片 (1).png", PNG_BYTES, "image/png")},
        data={"message_id": "1"},
        headers=agent,
    )
    assert r.status_code == 201, r.text
    up = r.json()
    assert {k: up[k] for k in ("ticket_id", "message_id", "filename", "content_type", "size", "sha256")} == {
        "ticket_id": tid,
        "message_id": 1,
        "filename": "照片 (1).png",
        "content_type": "image/png",
        "size": len(PNG_BYTES),
        "sha256": hashlib.sha256(PNG_BYTES).hexdigest(),
    }
    r = client.post(
        f"/api/v1/tickets/{tid}/attachments",
        files={"file": ("cat.jpg", EXE_BYTES, "image/jpeg")},
        headers=agent,
    )
    assert (r.status_code, r.json()["error"], r.json()["data"]["detected"]) == (
        400,
        "attachment_type_mismatch",
        "application/x-msdownload",
    )
    r = client.post(
        f"/api/v1/tickets/{tid}/attachments",
        files={"file": ("a.png", PNG_BYTES, "image/png")},
        headers=reader,
    )
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    assert (
        client.post(
            "/api/v1/tickets/999/attachments",
            files={"file": ("a.png", PNG_BYTES, "image/png")},
            headers=agent,
        ).json()["error"]
        == "ticket_not_found"
    )

    listed = client.get(f"/api/v1/tickets/{tid}/attachments", headers=reader).json()
    assert [(a["id"], a["filename"]) for a in listed] == [(up["id"], "照片 (1).png")]
    r = client.get(f"/api/v1/attachments/{up['id']}", headers=reader)
    assert r.status_code == 200
    assert r.content == PNG_BYTES
    assert {k: r.headers[k] for k in ("content-type", "content-disposition", "x-content-type-options")} == {
        "content-type": "image/png",
        "content-disposition": "attachment; filename=\"____1_.png\"; filename*=UTF-8''%E7%85%A7%E7%89%87%20%281%29.png",
        "x-content-type-options": "nosniff",
    }
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert client.get(f"/api/v1/attachments/{up['id']}", headers=writer).status_code == 403
    assert client.get(f"/api/v1/tickets/{tid}/attachments", headers=writer).status_code == 403
    assert client.get("/api/v1/attachments/999", headers=reader).json()["error"] == "attachment_not_found"
    assert count(engine, "ticket_attachments") == 1
