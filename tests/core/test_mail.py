"""Outgoing mail through a real SMTP server on loopback: the message as clients read it, the
answers a server gives (accepted, refused for good, refused for now), and the outbox: a mail
leaves only after its transaction commits, once per key, retried while the server is away."""

from __future__ import annotations

import contextlib
import email
import email.policy
import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, text

from conftest import SmtpServer, free_port, run_jobs, table_rows
from patron.core import mail
from patron.core.db import session_scope
from patron.core.mail import Mail
from patron.core.settings import Settings, get_settings

ZH = Mail(
    to="zhang@example.cn",
    to_name="张三",
    subject="[T-000042] 我们已收到您的请求：收到的T恤有破洞",
    text="张三，您好：\n\n我们已收到您的请求。\n",
    message_id="<T-000042.ack@shop.test>",
    in_reply_to="<abc@mail.example.cn>",
    references=("<first@mail.example.cn>",),
    automatic=True,
    headers={"Reply-To": "help@shop.test"},
)


class Abandoned(Exception):
    """Raised to roll a transaction back."""


def test_a_chinese_message_reads_back_exactly_as_written() -> None:
    raw = mail.build(ZH, "Shop Support <help@shop.test>").as_bytes()
    assert raw.isascii()  # RFC 2047 headers and a quoted-printable body: any server takes it
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    assert back["Subject"] == ZH.subject
    assert back["To"] == "张三 <zhang@example.cn>"
    assert back["From"] == "Shop Support <help@shop.test>"
    assert back["Message-ID"] == "<T-000042.ack@shop.test>"
    assert back["In-Reply-To"] == "<abc@mail.example.cn>"
    assert back["References"] == "<first@mail.example.cn> <abc@mail.example.cn>"
    assert back["Auto-Submitted"] == "auto-generated"
    assert back["Reply-To"] == "help@shop.test"
    body = back.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == ZH.text  # CRLF on the wire


def test_a_person_s_message_is_not_marked_automatic_and_gets_an_id_of_the_sender_s_domain() -> None:
    msg = mail.build(Mail(to="a@x.test", subject="Hi", text="Hello"), "Shop <help@shop.test>")
    assert msg["Auto-Submitted"] is None
    assert msg["In-Reply-To"] is None
    assert msg["References"] is None
    assert str(msg["Message-ID"]).endswith("@shop.test>")
    assert mail.domain_of("no address") == "localhost"


def test_the_server_receives_it(smtp: SmtpServer, mail_settings: Settings) -> None:
    result = mail.send(mail_settings, mail.build(ZH, mail_settings.mail_from))
    assert result == {"delivered": True, "message_id": "<T-000042.ack@shop.test>", "refused": {}}
    [got] = smtp.received
    assert (got.sender, got.recipients) == ("help@shop.test", ["zhang@example.cn"])
    assert got.message["Subject"] == ZH.subject


def test_a_permanent_refusal_is_recorded_not_retried(smtp: SmtpServer, mail_settings: Settings) -> None:
    smtp.refuse_rcpt = "550 5.1.1 no such user"
    result = mail.send(mail_settings, mail.build(ZH, mail_settings.mail_from))
    assert result == {"delivered": False, "refused": {"zhang@example.cn": [550, "5.1.1 no such user"]}}
    assert smtp.received == []


def test_a_temporary_refusal_raises_so_the_job_is_retried(smtp: SmtpServer, mail_settings: Settings) -> None:
    smtp.refuse_rcpt = "451 4.3.0 try again later"
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        mail.send(mail_settings, mail.build(ZH, mail_settings.mail_from))
    smtp.refuse_rcpt = None
    smtp.refuse_data = "452 4.3.1 out of storage"
    with pytest.raises(smtplib.SMTPDataError):
        mail.send(mail_settings, mail.build(ZH, mail_settings.mail_from))
    assert smtp.received == []


def test_without_an_smtp_host_nothing_is_queued(engine: Engine) -> None:
    settings = get_settings()
    assert settings.smtp_host == ""
    with session_scope(engine) as s:
        assert mail.queue(s, settings, ZH, key="k") is False
    assert table_rows(engine, "SELECT COUNT(*) FROM jobs") == [(0,)]


def test_mail_leaves_once_after_commit_and_never_for_a_rollback(
    engine: Engine, smtp: SmtpServer, mail_settings: Settings
) -> None:
    with contextlib.suppress(Abandoned), session_scope(engine) as s:
        assert mail.queue(s, mail_settings, ZH, key="reply:1") is True
        raise Abandoned("the reply failed after all")
    assert table_rows(engine, "SELECT COUNT(*) FROM jobs") == [(0,)]
    with session_scope(engine) as s:
        mail.queue(s, mail_settings, ZH, key="reply:1")
        assert smtp.received == []  # not before the commit
    with session_scope(engine) as s:
        mail.queue(s, mail_settings, ZH, key="reply:1")  # a retried request: the same key
    assert run_jobs(engine) == 1
    assert run_jobs(engine) == 0
    assert [r.message["Message-ID"] for r in smtp.received] == ["<T-000042.ack@shop.test>"]
    assert table_rows(engine, "SELECT name, status, attempts FROM jobs") == [("mail.send", "done", 1)]


def test_a_server_that_is_away_is_tried_again_and_nothing_is_lost(
    engine: Engine, smtp: SmtpServer, mail_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = mail_settings.model_copy(update={"smtp_port": free_port()})  # nobody listens there
    monkeypatch.setattr(mail, "get_settings", lambda: away)
    with session_scope(engine) as s:
        mail.queue(s, away, ZH, key="ack:42")
    assert run_jobs(engine) == 1
    [(status, attempts, error)] = table_rows(engine, "SELECT status, attempts, error FROM jobs")
    assert (status, attempts) == ("queued", 1)
    assert isinstance(error, str)
    assert error.startswith("ConnectionRefusedError")
    monkeypatch.setattr(mail, "get_settings", lambda: mail_settings)  # the server is back
    with session_scope(engine) as s:
        s.execute(text("UPDATE jobs SET run_at = created_at"))  # the back-off is over
    assert run_jobs(engine) == 1
    assert len(smtp.received) == 1
    assert table_rows(engine, "SELECT status, attempts FROM jobs") == [("done", 2)]


def test_a_queued_mail_waits_when_mail_is_switched_off(
    engine: Engine, mail_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(engine) as s:
        mail.queue(s, mail_settings, ZH, key="ack:42")
    monkeypatch.setattr(mail, "get_settings", get_settings)  # no SMTP host any more
    assert run_jobs(engine) == 1
    [(status, error)] = table_rows(engine, "SELECT status, error FROM jobs")
    assert status == "queued"
    assert "PATRON_SMTP_HOST is not set" in str(error)
