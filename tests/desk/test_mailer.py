"""The desk's outgoing mail on both databases, received by a real SMTP server on loopback: the
acknowledgement with the tracking link, agent replies that the customer's answer threads back
from, the CSAT survey once per ticket, SLA mail to staff; and the mail that must not go out
(notes, rolled-back replies, an instance without SMTP)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine
from test_inbound import mail as raw_mail
from test_tickets import T0, UTC_DESK, actions, shop

from conftest import SmtpServer, run_jobs, table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.desk import inbound, service
from patron.desk.service import DeskConfig, NewTicket

__all__ = ["shop"]


@pytest.fixture
def desk(mail_settings: Settings) -> DeskConfig:
    return dataclasses.replace(UTC_DESK, mail=mail_settings)


class Abandoned(Exception):
    """Raised to roll a transaction back."""


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def subject(message: EmailMessage) -> str:
    """The subject as a mail client shows it (a long one is folded onto the next line, RFC 5322
    FWS, and the client drops the whitespace before it)."""
    return str(message["Subject"]).strip()


def form(**extra: str) -> dict[str, str]:
    return {"name": "张三", "email": "zhang@example.cn", "subject": "收到的T恤有破洞",
            "body": "昨天收到，领口有个洞。", "language": "zh", **extra}  # fmt: skip


def mail_jobs(engine: Engine) -> int:
    return int(table_rows(engine, "SELECT COUNT(*) FROM jobs WHERE name = 'mail.send'")[0][0])  # type: ignore[call-overload]


def test_the_public_form_mails_the_tracking_link(engine: Engine, smtp: SmtpServer, desk: DeskConfig) -> None:
    with session_scope(engine) as s:
        ticket = service.create_public(s, form(), config=desk)
        tid, token = ticket.id, ticket.public_token
    assert smtp.received == []  # only a worker sends, after the commit
    assert run_jobs(engine) == 1
    [got] = smtp.received
    assert got.recipients == ["zhang@example.cn"]
    assert got.message["To"] == "张三 <zhang@example.cn>"
    assert got.message["From"] == "Shop Support <help@shop.test>"
    assert subject(got.message) == f"[T-{tid:06d}] 我们已收到您的请求：收到的T恤有破洞"
    assert got.message["Auto-Submitted"] == "auto-generated"
    text = body_of(got.message)
    assert f"https://help.shop.test/support/t/{token}\n" in text
    assert text.startswith("张三，您好：\n\n我们已收到您的请求“收到的T恤有破洞”，会尽快答复。")
    assert actions(engine, tid)[-1] == "mailed"
    [(data,)] = table_rows(
        engine, f"SELECT data FROM ticket_events WHERE ticket_id = {tid} AND action = 'mailed'"
    )
    assert (json.loads(data) if isinstance(data, str) else data) == {
        "what": "acknowledgement", "to": "zhang@example.cn"
    }  # fmt: skip


def test_an_agent_ticket_is_not_acknowledged_and_a_note_is_never_mailed(
    engine: Engine, smtp: SmtpServer, desk: DeskConfig, shop: dict[str, int]
) -> None:
    with session_scope(engine) as s:
        tid = service.create(
            s, NewTicket(subject="Called about a parcel", body="b", customer_id=shop["ada"], language="en"),
            actor="agent", config=desk, now=T0,
        ).id  # fmt: skip
        service.reply(s, tid, "Customer sounded upset", author="Li", author_user_id=None, internal=True,
                      config=desk, now=T0)  # fmt: skip
    assert mail_jobs(engine) == 0
    with session_scope(engine) as s:
        service.reply(s, tid, "We are on it.", author="Li", author_user_id=None, config=desk, now=T0)
    assert run_jobs(engine) == 1
    # No requester given: the reply goes to the linked customer's address.
    [got] = smtp.received
    assert got.recipients == ["ada@x.test"]
    assert subject(got.message) == f"Re: Called about a parcel [T-{tid:06d}]"


def test_a_reply_threads_with_the_customer_s_email_and_their_answer_threads_back(
    engine: Engine, smtp: SmtpServer, desk: DeskConfig, shop: dict[str, int]
) -> None:
    with session_scope(engine) as s:
        tid = inbound.receive_email(s, raw_mail(), config=desk, now=T0).ticket.id  # type: ignore[union-attr]
    with session_scope(engine) as s:
        message = service.reply(s, tid, "Sorry! It leaves today.", author="Li", author_user_id=None,
                                config=desk, now=T0 + timedelta(minutes=5))  # fmt: skip
        reply_id = message.email_message_id
    assert reply_id is not None
    assert re.fullmatch(rf"<\S+\.T-{tid:06d}\.m\d+@shop\.test>", reply_id)
    assert run_jobs(engine) == 2
    ack, answer = smtp.received
    assert ack.message["In-Reply-To"] == "<m1@mail.x.test>"
    assert subject(ack.message) == f"[T-{tid:06d}] We received your request: Where is my parcel?"
    assert answer.recipients == ["ada@x.test"]  # the address as stored (normalised)
    assert answer.message["Message-ID"] == reply_id
    assert answer.message["In-Reply-To"] == "<m1@mail.x.test>"
    assert answer.message["Reply-To"] == "Shop Support <help@shop.test>"
    assert answer.message["Auto-Submitted"] is None  # a person wrote it
    assert body_of(answer.message).startswith("Sorry! It leaves today.\n\n--\n")
    # The customer answers from another client that drops the reference from the subject.
    back = raw_mail("Thanks, got the tracking number.", subject="Re: your parcel",
                    message_id="<m2@mail.x.test>", in_reply_to=reply_id)  # fmt: skip
    with session_scope(engine) as s:
        result = inbound.receive_email(s, back, config=desk, now=T0 + timedelta(minutes=30))
        assert (result.threaded, result.reference) == (True, f"T-{tid:06d}")
    assert run_jobs(engine) == 0  # a message on a ticket is not acknowledged again


def test_a_reply_rolled_back_mails_nobody(engine: Engine, smtp: SmtpServer, desk: DeskConfig) -> None:
    with session_scope(engine) as s:
        tid = service.create_public(s, form(), config=desk).id
    with contextlib.suppress(Abandoned), session_scope(engine) as s:
        service.reply(s, tid, "好的", author="Li", author_user_id=None, config=desk, now=T0)
        raise Abandoned("the request failed after the reply")
    assert run_jobs(engine) == 1
    assert [subject(r.message)[:10] for r in smtp.received] == [f"[T-{tid:06d}]"]
    assert table_rows(engine, f"SELECT COUNT(*) FROM ticket_messages WHERE ticket_id = {tid}") == [(1,)]


def test_the_survey_is_mailed_once_with_a_link_per_score(
    engine: Engine, smtp: SmtpServer, desk: DeskConfig
) -> None:
    with session_scope(engine) as s:
        tid = service.create_public(s, form(), config=desk).id
        service.reply(s, tid, "新的已寄出。", author="Li", author_user_id=None, config=desk, now=T0)
        service.set_status(s, tid, "resolved", actor="Li", config=desk, now=T0)
    with session_scope(engine) as s:
        service.set_status(s, tid, "reopened", actor="customer", config=desk, now=T0)
        service.set_status(s, tid, "resolved", actor="Li", config=desk, now=T0)  # resolved again
    assert run_jobs(engine) == 3  # acknowledgement, reply, one survey
    survey = smtp.received[2].message
    [(token,)] = table_rows(engine, f"SELECT token FROM csat_surveys WHERE ticket_id = {tid}")
    assert subject(survey) == f"[T-{tid:06d}] 请为本次服务评分"
    text = body_of(survey)
    links = re.findall(r"https://help\.shop\.test/support/csat/(\S+)\?score=(\d)", text)
    assert links == [(token, "5"), (token, "4"), (token, "3"), (token, "2"), (token, "1")]
    assert "★★★★★ 5 分 – 非常满意：" in text


def test_a_skipped_survey_is_not_mailed(engine: Engine, smtp: SmtpServer, desk: DeskConfig) -> None:
    from patron.desk import quality

    with session_scope(engine) as s:
        tid = service.create_public(s, form(), config=desk).id
        quality.set_csat_skip(s, tid, True, "Li", now=T0)
        service.set_status(s, tid, "resolved", actor="Li", config=desk, now=T0)
    assert run_jobs(engine) == 1  # the acknowledgement only
    assert "评分" not in subject(smtp.received[0].message)


def test_without_smtp_the_desk_mails_nothing_and_says_nothing(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        tid = service.create_public(s, form(), config=UTC_DESK).id
        service.reply(s, tid, "好的", author="Li", author_user_id=None, config=UTC_DESK, now=T0)
        service.set_status(s, tid, "resolved", actor="Li", config=UTC_DESK, now=T0)
    assert mail_jobs(engine) == 0
    assert "mailed" not in actions(engine, tid)
    assert table_rows(engine, f"SELECT email_message_id FROM ticket_messages WHERE ticket_id = {tid}") == [
        (None,),
        (None,),
    ]


def test_sla_warnings_and_misses_reach_the_lead_and_the_policy_address_once(
    engine: Engine, smtp: SmtpServer, desk: DeskConfig
) -> None:
    with session_scope(engine) as s:
        lead = accounts.create_user(
            s, email="lead@shop.test", name="Lead", password="password1", role="agent"
        ).id
        service.create_policy(s, {"name": "vip", "position": 1, "first_response_minutes": 60,
                                  "warn_before_minutes": 10, "escalate_to_user_id": lead,
                                  "notify_email": "desk-leads@shop.test"})  # fmt: skip
        tid = service.create(s, NewTicket(subject="Late", body="b", language="en"), actor="api",
                             config=desk, now=T0).id  # fmt: skip
    with session_scope(engine) as s:
        assert service.scan(s, now=T0 + timedelta(minutes=50), config=desk) == (0, 1)
    with session_scope(engine) as s:
        assert service.scan(s, now=T0 + timedelta(minutes=61), config=desk) == (1, 0)
        assert service.scan(s, now=T0 + timedelta(minutes=62), config=desk) == (0, 0)
    assert run_jobs(engine) == 3
    got = sorted((r.recipients[0], subject(r.message)) for r in smtp.received)
    assert got == [
        ("desk-leads@shop.test", f"[T-{tid:06d}] SLA missed: first response - Late"),
        (
            "desk-leads@shop.test",
            f"[T-{tid:06d}] SLA warning: first response due 2026-03-02 10:00 UTC - Late",
        ),
        ("lead@shop.test", f"[T-{tid:06d}] SLA missed: first response - Late"),
    ]
    lead_mail = next(r for r in smtp.received if r.recipients == ["lead@shop.test"])
    text = body_of(lead_mail.message)
    assert "the first response target was missed and the ticket is now yours" in text
    assert f"https://help.shop.test/tickets/{tid}\n" in text
