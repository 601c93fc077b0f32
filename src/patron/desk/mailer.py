"""The desk's mail to customers and agents, in the ticket's language (English or Chinese).

- **Acknowledgement** of a ticket a customer opened (public form, email): its number and the
  tracking link, so a customer without an account can follow it and add to it.
- **Agent replies** (public ones; never a note) to the requester. The subject carries
  ``[T-000042]`` and the reply's own Message-ID is stored on the message, so the customer's
  answer threads back to the ticket by ``In-Reply-To`` (see :mod:`patron.desk.inbound`); it
  answers the customer's last email, so their mail client threads it too.
- **CSAT survey** when a ticket is resolved: one link per score (the page opens with that score
  chosen; only submitting it records an answer, so a link scanner that follows links records
  nothing).
- **SLA mail** to staff: the lead a miss reassigned the ticket to, and the policy's
  ``notify_email`` for every warning and miss.

Everything goes through :func:`patron.core.mail.queue`: sent only if the transaction commits,
never twice for the same key, and nothing at all when the instance has no SMTP server (the
history then says nothing was mailed). A mail queued is a line of the ticket's history
(``mailed``, with what and to whom).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from patron.core import mail
from patron.core.mail import Mail
from patron.customers import service as customers
from patron.desk import repository as repo
from patron.models import CsatSurvey, Ticket, TicketEvent, TicketMessage

if TYPE_CHECKING:
    from patron.core.settings import Settings

ACTOR = "mail"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "ack.subject": "[{ref}] We received your request: {subject}",
        "ack.body": (
            "Hello {name},\n\nwe received your request “{subject}” and will answer as soon as we "
            "can. Its number is {ref}.\n\nFollow it or add to it here:\n{link}\n\nOr simply answer "
            "this email.\n"
        ),
        "reply.subject": "Re: {subject} [{ref}]",
        "reply.footer": "\n\n--\n{ref} · follow or answer your request: {link}\n",
        "csat.subject": "[{ref}] How did we do?",
        "csat.body": (
            "Hello {name},\n\nyour request “{subject}” ({ref}) is resolved. How satisfied are you "
            "with our help? Choose a score:\n\n{links}\n\nThank you: every answer is read.\n"
        ),
        "csat.score": "{stars} {score} – {label}: {link}",
        "sla.subject.breached": "[{ref}] SLA missed: {target} - {subject}",
        "sla.subject.warning": "[{ref}] SLA warning: {target} due {due} - {subject}",
        "sla.body": (
            "Ticket {ref} “{subject}” ({priority}): {what}.\n\nTarget: {target}\nDue: {due}\n"
            "Policy: {policy}\n\n{link}\n"
        ),
        "sla.what.breached": "the {target} target was missed",
        "sla.what.warning": "the {target} target is due soon",
        "sla.what.reassigned": "the {target} target was missed and the ticket is now yours",
        "name.default": "there",
    },
    "zh": {
        "ack.subject": "[{ref}] 我们已收到您的请求：{subject}",
        "ack.body": (
            "{name}，您好：\n\n我们已收到您的请求“{subject}”，会尽快答复。编号 {ref}。\n\n"
            "查看进度或补充信息：\n{link}\n\n也可以直接回复本邮件。\n"
        ),
        "reply.subject": "回复：{subject} [{ref}]",
        "reply.footer": "\n\n--\n{ref} · 查看或回复您的请求：{link}\n",
        "csat.subject": "[{ref}] 请为本次服务评分",
        "csat.body": (
            "{name}，您好：\n\n您的请求“{subject}”（{ref}）已解决。您对我们的服务满意吗？"
            "请选择一个分数：\n\n{links}\n\n感谢您的反馈，每一条我们都会认真阅读。\n"
        ),
        "csat.score": "{stars} {score} 分 – {label}：{link}",
        "sla.subject.breached": "[{ref}] SLA 已超时：{target} - {subject}",
        "sla.subject.warning": "[{ref}] SLA 即将超时：{target} 截止 {due} - {subject}",
        "sla.body": (
            "工单 {ref}“{subject}”（{priority}）：{what}。\n\n目标：{target}\n截止：{due}\n"
            "策略：{policy}\n\n{link}\n"
        ),
        "sla.what.breached": "{target}目标已超时",
        "sla.what.warning": "{target}目标即将到期",
        "sla.what.reassigned": "{target}目标已超时，工单已转给您",
        "name.default": "顾客",
    },
}
SCALE = {
    "en": {1: "very dissatisfied", 2: "dissatisfied", 3: "neutral", 4: "satisfied", 5: "very satisfied"},
    "zh": {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"},
}
TARGETS = {
    "en": {"first_response": "first response", "next_response": "next response", "resolution": "resolution"},
    "zh": {"first_response": "首次响应", "next_response": "后续响应", "resolution": "解决"},
}


def _lang(ticket: Ticket) -> str:
    return "zh" if (ticket.language or "").lower().startswith("zh") else "en"


def _t(lang: str, key: str, **values: object) -> str:
    return TEXTS[lang][key].format(**values)


def _ref(ticket: Ticket) -> str:
    return f"T-{ticket.id:06d}"


def recipient(session: Session, ticket: Ticket) -> tuple[str | None, str | None]:
    """Who a customer mail goes to: the requester, else the linked customer's address."""
    if ticket.requester_email:
        return ticket.requester_email, ticket.requester_name
    if ticket.customer_id is not None:
        customer = customers.get(session, ticket.customer_id)
        return customer.email, ticket.requester_name or customer.name
    return None, None


def _thread(session: Session, ticket: Ticket) -> tuple[str | None, tuple[str, ...]]:
    """The last email of the ticket's conversation and the ones before it (at most 10)."""
    ids = [
        m.email_message_id
        for m in repo.messages_of(session, ticket.id, public_only=True)
        if m.email_message_id
    ]
    return (ids[-1] if ids else None), tuple(ids[-10:])


def _send(
    session: Session, ticket: Ticket, settings: Settings, what: str, message: Mail, key: str, now: datetime
) -> bool:
    """Queue ``message`` (once per ``key``) and write it in the ticket's history."""
    sent = mail.queue(session, settings, message, key=key)
    if sent:
        repo.add(
            session,
            TicketEvent(ticket_id=ticket.id, actor=ACTOR, action="mailed",
                        data={"what": what, "to": message.to}, created_at=now),
        )  # fmt: skip
    return sent


def _link(settings: Settings, ticket: Ticket) -> str:
    return f"{settings.resolved_public_url()}/support/t/{ticket.public_token}"


def acknowledge(session: Session, ticket: Ticket, settings: Settings, now: datetime) -> bool:
    """The customer's copy of a ticket they opened, with its tracking link."""
    to, name = recipient(session, ticket)
    if not to:
        return False
    lang = _lang(ticket)
    values = {"ref": _ref(ticket), "subject": ticket.subject, "name": name or _t(lang, "name.default"),
              "link": _link(settings, ticket)}  # fmt: skip
    last, refs = _thread(session, ticket)
    message = Mail(
        to=to,
        to_name=name,
        subject=_t(lang, "ack.subject", **values),
        text=_t(lang, "ack.body", **values),
        message_id=mail.new_message_id(settings, f"{_ref(ticket)}.ack"),
        in_reply_to=last,
        references=refs,
        automatic=True,
    )
    return _send(session, ticket, settings, "acknowledgement", message, f"desk.ack:{ticket.id}", now)


def reply(
    session: Session, ticket: Ticket, message: TicketMessage, settings: Settings, now: datetime
) -> bool:
    """An agent's public reply to the customer. Its Message-ID is stored on the message so an
    answer by email threads back here."""
    to, name = recipient(session, ticket)
    if not to or message.kind != "reply":
        return False
    lang, ref = _lang(ticket), _ref(ticket)
    last, refs = _thread(session, ticket)
    outgoing = Mail(
        to=to,
        to_name=name,
        subject=_t(lang, "reply.subject", subject=ticket.subject, ref=ref),
        text=message.body + _t(lang, "reply.footer", ref=ref, link=_link(settings, ticket)),
        message_id=mail.new_message_id(settings, f"{ref}.m{message.id}"),
        in_reply_to=last,
        references=refs,
        headers={"Reply-To": settings.mail_from},
    )
    sent = _send(session, ticket, settings, "reply", outgoing, f"desk.reply:{message.id}", now)
    if sent:
        message.email_message_id = outgoing.message_id
    return sent


def survey(session: Session, ticket: Ticket, row: CsatSurvey, settings: Settings, now: datetime) -> bool:
    """The CSAT request of a resolved ticket: a link per score."""
    to, name = recipient(session, ticket)
    if not to:
        return False
    lang = _lang(ticket)
    base = f"{settings.resolved_public_url()}/support/csat/{row.token}"
    links = "\n".join(
        _t(lang, "csat.score", stars="★" * score + "☆" * (5 - score), score=score,
           label=SCALE[lang][score], link=f"{base}?score={score}")
        for score in range(5, 0, -1)
    )  # fmt: skip
    values = {"ref": _ref(ticket), "subject": ticket.subject, "name": name or _t(lang, "name.default")}
    message = Mail(
        to=to,
        to_name=name,
        subject=_t(lang, "csat.subject", **values),
        text=_t(lang, "csat.body", **values, links=links),
        automatic=True,
    )
    return _send(session, ticket, settings, "csat", message, f"desk.csat:{row.id}", now)


def sla_notice(
    session: Session,
    *,
    ticket: Ticket,
    to: str,
    event: str,
    target: str,
    due: datetime | None,
    policy: str,
    key: str,
    settings: Settings,
    timezone: str,
    now: datetime,
) -> bool:
    """A warning, a miss, or a miss that made ``to`` the ticket's new owner (``event``
    ``sla.warning`` / ``sla.breached`` / ``sla.reassigned``), to staff. Staff mail is in the
    ticket's language too: the agents of a shop read what its customers write."""
    lang = _lang(ticket)
    kind = event.removeprefix("sla.")
    target_name = TARGETS[lang].get(target, target)
    shown_due = due.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z") if due else "-"
    values = {
        "ref": _ref(ticket),
        "subject": ticket.subject,
        "target": target_name,
        "due": shown_due,
        "priority": ticket.priority,
        "policy": policy,
        "link": f"{settings.resolved_public_url()}/tickets/{ticket.id}",
    }
    subject_key = "sla.subject.warning" if kind == "warning" else "sla.subject.breached"
    message = Mail(
        to=to,
        subject=_t(lang, subject_key, **values),
        text=_t(lang, "sla.body", **values, what=_t(lang, f"sla.what.{kind}", target=target_name)),
        automatic=True,
    )
    return _send(session, ticket, settings, event, message, key, now)
