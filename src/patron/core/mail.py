"""Outgoing email: composed by a domain, queued as the durable job ``mail.send`` inside the
transaction that decided it, sent over SMTP by a worker.

So a mail goes out only if that transaction committed (a rolled-back reply mails nobody), at
most once per key (``jobs.enqueue`` deduplicates: a retried request or job queues nothing new),
and is retried with back-off while the server is away or answers 4xx. The job row is the outbox
record: its arguments hold the whole message, its attempts and last error every try, its
result the server's answer. A permanent refusal (5xx for every recipient) is not retried: the
job is done with ``{"delivered": false, "refused": {...}}`` so the refusal is on record.

Without ``PATRON_SMTP_HOST`` nothing is queued (:func:`queue` answers False): a demo or a shop
that does not mail loses nothing, the links a mail would carry are on the pages anyway.

The standard library does all of it: ``email.message`` writes the MIME message (UTF-8 bodies,
RFC 2047 subjects and names, so Chinese reads right in every client), ``smtplib`` speaks SMTP
with STARTTLS, implicit TLS and AUTH; no dependency would add anything.
"""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.settings import Settings, get_settings

JOB = "mail.send"


@dataclass(frozen=True)
class Mail:
    """One message to one recipient, plain text."""

    to: str
    subject: str
    text: str
    to_name: str | None = None
    message_id: str | None = None  # chosen by the caller when it must find replies by it
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # RFC 3834: a mail sent by the machine (an acknowledgement, a survey), not by a person, so
    # well-behaved auto-responders do not answer it and no mail loop starts.
    automatic: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


def enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def domain_of(address: str) -> str:
    """The domain of a sender address (``Acme <help@acme.example>`` → ``acme.example``)."""
    _, addr = email.utils.parseaddr(address)
    return addr.rpartition("@")[2] if "@" in addr else "localhost"


def new_message_id(settings: Settings, tag: str) -> str:
    """A fresh ``<…@domain>`` Message-ID under the sender's domain, ``tag`` readable in it."""
    return email.utils.make_msgid(idstring=tag, domain=domain_of(settings.mail_from))


def build(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = email.utils.formataddr((mail.to_name, mail.to)) if mail.to_name else mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = mail.message_id or email.utils.make_msgid(domain=domain_of(sender))
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    refs = [*mail.references, *([mail.in_reply_to] if mail.in_reply_to else [])]
    if refs:
        msg["References"] = " ".join(dict.fromkeys(refs))
    if mail.automatic:
        msg["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    timeout = settings.smtp_timeout_s
    if settings.smtp_security == "tls":
        return smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.smtp_security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def send(settings: Settings, msg: EmailMessage) -> dict[str, Any]:
    """Hand the message to the SMTP server; what it answered. Raises on a temporary failure
    (connection, 4xx), so the job is retried."""
    with _connect(settings) as client:
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        try:
            refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            if all(code >= 500 for code, _ in exc.recipients.values()):
                return {"delivered": False, "refused": _refusals(exc.recipients)}
            raise
    return {"delivered": True, "message_id": msg["Message-ID"], "refused": _refusals(refused)}


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> dict[str, list[Any]]:
    return {addr: [code, reply.decode("utf-8", "replace")] for addr, (code, reply) in recipients.items()}


@jobs.job(JOB, max_attempts=8)
def send_job(session: Session, mail: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    if not enabled(settings):  # switched off since it was queued: keep it, say why
        raise RuntimeError("PATRON_SMTP_HOST is not set: the mail waits for a server")
    msg = build(Mail(**{**mail, "references": tuple(mail.get("references") or ())}), settings.mail_from)
    return send(settings, msg)


def queue(session: Session, settings: Settings, mail: Mail, *, key: str) -> bool:
    """Queue ``mail`` to go out once the caller's transaction commits (never twice for
    ``key``). False, and nothing queued, when this instance has no SMTP server."""
    if not enabled(settings):
        return False
    jobs.enqueue(session, JOB, {"mail": asdict(mail)}, key=key)
    return True
