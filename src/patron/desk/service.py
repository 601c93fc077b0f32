"""Tickets: intake from every channel, the status workflow, replies and notes, assignment,
merging, complaint categories, and the SLA clocks that follow all of it.

Every change writes a :class:`TicketEvent` (the ticket's full history) in the same transaction.
Services never commit: the request, job or command does.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.accounts import service as accounts
from patron.commerce import service as commerce
from patron.core import jobs, mail
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.settings import Settings
from patron.core.time import utcnow
from patron.customers import service as customers
from patron.desk import complaints, mailer, notify, quality, routing, sla
from patron.desk import repository as repo
from patron.desk.clock import BusinessCalendar
from patron.desk.repository import QueueFilter as QueueFilter
from patron.loyalty import service as loyalty
from patron.models import (
    CategoryCorrection,
    Priority,
    SlaPolicy,
    Team,
    Ticket,
    TicketChannel,
    TicketEvent,
    TicketMessage,
    TicketSla,
    TicketStatus,
    TicketType,
)
from patron.scoring import service as scoring

#: The default workflow: which status may follow which. ``closed`` is final (a customer who
#: writes again after that opens a new ticket); ``resolved`` can be reopened.
WORKFLOW: dict[str, tuple[str, ...]] = {
    "new": ("open", "waiting_customer", "waiting_third_party", "resolved", "closed"),
    "open": ("waiting_customer", "waiting_third_party", "resolved", "closed"),
    "waiting_customer": ("open", "waiting_third_party", "resolved", "closed"),
    "waiting_third_party": ("open", "waiting_customer", "resolved", "closed"),
    "resolved": ("reopened", "closed"),
    "closed": (),
    "reopened": ("open", "waiting_customer", "waiting_third_party", "resolved", "closed"),
}
SEVERITY_PRIORITY = {"S1": Priority.urgent, "S2": Priority.high, "S3": Priority.normal, "S4": Priority.low}
PRIORITY_ORDER = (Priority.low, Priority.normal, Priority.high, Priority.urgent)


@dataclass(frozen=True)
class DeskConfig:
    """What the desk takes from the settings."""

    timezone: str = "Asia/Shanghai"
    paused_statuses: frozenset[str] = frozenset({"waiting_customer"})
    routing: str = "least_loaded"
    workflow: Mapping[str, Sequence[str]] = field(default_factory=lambda: WORKFLOW)
    # The settings to mail with (patron.desk.mailer); None: this instance mails nobody.
    mail: Settings | None = None


def config_of(settings: Settings) -> DeskConfig:
    return DeskConfig(
        timezone=settings.default_timezone,
        paused_statuses=frozenset(settings.sla_paused_statuses),
        routing=settings.desk_routing,
        workflow=check_workflow(settings.ticket_workflow) if settings.ticket_workflow else WORKFLOW,
        mail=settings if mail.enabled(settings) else None,
    )


def check_workflow(workflow: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """A workflow of the known statuses, each of them present (``PATRON_TICKET_WORKFLOW``)."""
    known = {str(s) for s in TicketStatus}
    named = set(workflow) | {n for moves in workflow.values() for n in moves}
    if named - known or set(workflow) != known:
        raise InvalidInput(
            "a ticket workflow lists every status once with the statuses that may follow it; "
            f"unknown: {sorted(named - known)}, missing: {sorted(known - set(workflow))}",
            code="ticket_bad_workflow",
        )
    return {k: tuple(v) for k, v in workflow.items()}


def reference(ticket: Ticket) -> str:
    return f"T-{ticket.id:06d}"


def parse_reference(text: str) -> int | None:
    """``T-000042``, ``#42`` or ``42`` → 42."""
    digits = text.strip().upper().removeprefix("T-").lstrip("#")
    return int(digits) if digits.isdigit() and len(digits) < 18 else None


def _event(
    session: Session, ticket: Ticket | int, actor: str, action: str, at: datetime | None = None, **data: Any
) -> None:
    """A line of the ticket's history, at the time the change happened (``at``, default now)."""
    ticket_id = ticket if isinstance(ticket, int) else ticket.id
    repo.add(
        session,
        TicketEvent(ticket_id=ticket_id, actor=actor, action=action, data=data, created_at=at or utcnow()),
    )


def _calendar(session: Session, ticket: Ticket, config: DeskConfig) -> BusinessCalendar:
    return sla.calendar_of(session, ticket, config.timezone)


@dataclass
class NewTicket:
    """A ticket as any channel hands it in (the API, the public form, email, an import)."""

    subject: str
    body: str
    type: str = TicketType.inquiry
    channel: str = TicketChannel.api
    priority: str | None = None
    customer_id: int | None = None
    order_id: int | None = None
    order_line_id: int | None = None
    refund_id: int | None = None
    team_id: int | None = None
    language: str = "zh"
    requester_name: str | None = None
    requester_email: str | None = None
    author_name: str | None = None
    email_message_id: str | None = None


def _check(new: NewTicket) -> None:
    for name, value, allowed in (
        ("type", new.type, TicketType),
        ("channel", new.channel, TicketChannel),
        ("priority", new.priority or "normal", Priority),
    ):
        if value not in {str(v) for v in allowed}:
            raise InvalidInput(
                f"unknown ticket {name} {value!r}",
                code=f"ticket_bad_{name}",
                data={"allowed": [str(v) for v in allowed]},
            )
    if not new.subject.strip() or not new.body.strip():
        raise InvalidInput("a ticket needs a subject and a message", code="ticket_empty")


def _links(session: Session, new: NewTicket) -> tuple[int | None, int | None, int | None, str]:
    """Check the customer, order, line and refund belong together; the customer defaults to the
    order's (or the requester's email's); returns (customer id, shop id, order value, currency)."""
    customer_id, shop_id, value, currency = new.customer_id, None, None, "CNY"
    if new.refund_id is not None:
        refund = commerce.get_refund(session, new.refund_id)
        new.order_id = new.order_id or refund.order_id
        customer_id = customer_id or refund.customer_id
        shop_id = refund.shop_id
    if new.order_line_id is not None:
        line = commerce.get_line(session, new.order_line_id)
        if new.order_id is not None and line.order_id != new.order_id:
            raise InvalidInput("the order line is not on that order", code="ticket_line_not_on_order")
        new.order_id = line.order_id
    if new.order_id is not None:
        order = commerce.get_order(session, new.order_id)
        if customer_id is not None and order.customer_id not in (None, customer_id):
            owner = customers.get(session, order.customer_id).id
            if owner != customers.get(session, customer_id).id:
                raise InvalidInput("the order belongs to another customer", code="ticket_order_not_customers")
        customer_id = customer_id or order.customer_id
        shop_id, value, currency = order.shop_id, order.total_minor, order.currency
    if customer_id is None and new.requester_email:
        customer_id = customers.find_by_email(session, new.requester_email)
    if customer_id is not None:
        customer_id = customers.get(session, customer_id).id  # follows merges; 404 if unknown
    return customer_id, shop_id, value, currency


def member_priority(session: Session, customer_id: int, priority: str) -> str:
    """``priority`` raised to the customer's loyalty tier benefit ``priority_service`` (the
    highest their memberships give, :func:`patron.loyalty.service.benefits`), never lowered."""
    order = [str(p) for p in PRIORITY_ORDER]
    wanted = loyalty.benefits(session, customer_id).get("priority_service")
    if isinstance(wanted, str) and wanted in order and order.index(wanted) > order.index(priority):
        return wanted
    return priority


def create(
    session: Session, new: NewTicket, *, actor: str, config: DeskConfig, now: datetime | None = None
) -> Ticket:
    """Open a ticket: link it, classify and grade a complaint, raise its priority to the
    customer's loyalty benefit (``member_priority`` in its history), route it, start its SLA
    clocks."""
    now = now or utcnow()
    _check(new)
    if new.refund_id is not None and repo.ticket_by_refund(session, new.refund_id) is not None:
        raise Conflict("this refund already has a ticket", code="ticket_refund_exists")
    if new.team_id is not None and repo.get_team(session, new.team_id) is None:
        raise NotFound(f"team {new.team_id} not found", code="team_not_found")
    customer_id, shop_id, order_value, currency = _links(session, new)
    tier = scoring.current_tier(session, customer_id) if customer_id else None
    ticket = Ticket(
        public_token=secrets.token_urlsafe(32),
        subject=new.subject.strip(),
        type=new.type,
        channel=new.channel,
        status=TicketStatus.new,
        priority=new.priority or Priority.normal,
        customer_id=customer_id,
        order_id=new.order_id,
        order_line_id=new.order_line_id,
        refund_id=new.refund_id,
        shop_id=shop_id,
        team_id=new.team_id,
        language=new.language,
        requester_name=new.requester_name,
        requester_email=new.requester_email,
        severity_reasons=[],
        created_at=now,
        updated_at=now,
    )
    if new.type == TicketType.complaint:
        text = f"{new.subject}\n{new.body}"
        ticket.category, ticket.category_confidence = complaints.classify(session, text)
        ticket.category_source = "model"
        graded = complaints.severity(
            session,
            category=ticket.category,
            customer_id=customer_id,
            tier=tier,
            order_value_minor=order_value,
            currency=currency,
            text=text,
            now=now,
        )
        ticket.severity, ticket.severity_reasons = graded.level, list(graded.reasons)
        if new.priority is None:
            ticket.priority = SEVERITY_PRIORITY[graded.level]
    asked = ticket.priority
    if customer_id is not None:
        # Before routing and the SLA policy see it: both go by the raised priority.
        ticket.priority = member_priority(session, customer_id, ticket.priority)
    repo.add(session, ticket)
    repo.add(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            kind="customer",
            author_name=new.author_name or new.requester_name or actor,
            body=new.body,
            email_message_id=new.email_message_id,
            created_at=now,
        ),
    )
    _event(
        session,
        ticket,
        actor,
        "created",
        now,
        channel=ticket.channel,
        type=ticket.type,
        priority=asked,
        severity=ticket.severity,
        category=ticket.category,
    )
    if ticket.priority != asked:
        _event(session, ticket, "loyalty", "member_priority", now,
               **{"from": asked, "to": ticket.priority, "benefit": "priority_service"})  # fmt: skip
    shop_code = commerce.shop_codes(session).get(shop_id) if shop_id is not None else None
    agent = routing.route(session, ticket, shop_code=shop_code, tier=tier, strategy=config.routing, now=now)
    if agent is not None:
        _event(
            session,
            ticket,
            "routing",
            "assigned",
            now,
            assignee_id=agent,
            team_id=ticket.team_id,
            by=config.routing,
        )
    policy = sla.start(session, ticket, tier=tier, now=now, cal=_calendar(session, ticket, config))
    if policy is not None:
        _event(session, ticket, "sla", "sla_policy", now, policy=policy.name)
    if config.mail is not None and ticket.channel in (TicketChannel.web, TicketChannel.email):
        mailer.acknowledge(session, ticket, config.mail, now)
    return ticket


def create_public(session: Session, form: Mapping[str, Any], *, config: DeskConfig) -> Ticket:
    """The public form: the order number is linked only when the order belongs to the customer
    of the email given (nobody can attach a stranger's order to their ticket); otherwise it is
    kept in the ticket's history for the agent."""
    customer_id = customers.find_by_email(session, form["email"])
    order_id = None
    if form.get("order_number") and customer_id is not None:
        owner = customers.get(session, customer_id).id
        for oid, cid in commerce.orders_by_number(session, form["order_number"]):
            if cid is not None and customers.get(session, cid).id == owner:
                order_id = oid
                break
    ticket = create(
        session,
        NewTicket(
            subject=form["subject"],
            body=form["body"],
            type=form.get("type") or TicketType.inquiry,
            channel=TicketChannel.web,
            customer_id=customer_id,
            order_id=order_id,
            language=form.get("language") or "zh",
            requester_name=form["name"],
            requester_email=form["email"],
        ),
        actor="customer",
        config=config,
    )
    if form.get("order_number") and order_id is None:
        # Kept for the agent (the history), not shown to the customer as if they had written it.
        _event(session, ticket, "customer", "order_not_linked", order_number=form["order_number"])
    return ticket


REFUND_TICKET_TYPES = {
    "refund_only": TicketType.refund_only,
    "return_refund": TicketType.return_,
    "exchange": TicketType.exchange,
    "reship": TicketType.reship,
}


def tickets_from_refunds(session: Session, *, config: DeskConfig, limit: int = 1000) -> int:
    """Open a ticket for every imported marketplace refund still requested that has none (a
    refund gets one ticket, ever: ``tickets.refund_id`` is unique). Returns how many."""
    made = 0
    for refund in repo.refunds_without_ticket(session, ("requested",), limit):
        reason = refund.reason or refund.type
        create(
            session,
            NewTicket(
                subject=f"{refund.type} {refund.external_id}: {reason}"[:300],
                body=reason,
                type=REFUND_TICKET_TYPES.get(refund.type, TicketType.return_),
                channel=TicketChannel.marketplace,
                refund_id=refund.id,
                author_name="marketplace",
            ),
            actor="import",
            config=config,
            now=refund.requested_at or utcnow(),
        )
        made += 1
    return made


def get(session: Session, ticket_id: int, *, for_update: bool = False) -> Ticket:
    ticket = repo.get_ticket(session, ticket_id, for_update=for_update)
    if ticket is None:
        raise NotFound(
            f"ticket {ticket_id} not found", code="ticket_not_found", data={"ticket_id": ticket_id}
        )
    return ticket


def by_token(session: Session, token: str) -> Ticket:
    ticket = repo.ticket_by_token(session, token) if token else None
    if ticket is None:
        raise NotFound("no ticket for this link", code="ticket_not_found")
    return survivor(session, ticket)


def survivor(session: Session, ticket: Ticket) -> Ticket:
    """The ticket a merged one went into (itself when not merged)."""
    seen: set[int] = set()
    while ticket.merged_into_id is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = get(session, ticket.merged_into_id)
    return ticket


def _move(
    session: Session, ticket: Ticket, new: str, *, actor: str, config: DeskConfig, now: datetime
) -> None:
    old = ticket.status
    if new == old:
        return
    if new not in config.workflow:
        raise InvalidInput(
            f"unknown status {new!r}", code="ticket_bad_status", data={"allowed": list(config.workflow)}
        )
    if new not in config.workflow[old]:
        raise Conflict(
            f"a {old} ticket cannot become {new}",
            code="ticket_bad_transition",
            data={"from": old, "allowed": list(config.workflow[old])},
        )
    ticket.status = new
    if new == TicketStatus.resolved:
        ticket.resolved_at = now
        survey = quality.on_resolved(session, ticket, now)
        if survey is not None and config.mail is not None:
            mailer.survey(session, ticket, survey, config.mail, now)
    elif new == TicketStatus.closed:
        ticket.closed_at = now
    elif new == TicketStatus.reopened:
        ticket.reopen_count += 1
        ticket.resolved_at = None
    sla.on_status(session, ticket, old, new, now, _calendar(session, ticket, config), config.paused_statuses)
    _event(session, ticket, actor, "status", now, **{"from": old, "to": new})


def set_status(
    session: Session,
    ticket_id: int,
    status: str,
    *,
    actor: str,
    config: DeskConfig,
    now: datetime | None = None,
) -> Ticket:
    ticket = live(session, ticket_id)
    _move(session, ticket, status, actor=actor, config=config, now=now or utcnow())
    return ticket


def live(session: Session, ticket_id: int) -> Ticket:
    """The ticket, locked for a change (refused once merged into another)."""
    ticket = get(session, ticket_id, for_update=True)
    if ticket.merged_into_id is not None:
        raise Conflict(
            f"ticket {reference(ticket)} was merged into T-{ticket.merged_into_id:06d}",
            code="ticket_merged",
            data={"into": ticket.merged_into_id},
        )
    return ticket


def reply(
    session: Session,
    ticket_id: int,
    body: str,
    *,
    author: str,
    author_user_id: int | None,
    internal: bool = False,
    config: DeskConfig,
    now: datetime | None = None,
) -> TicketMessage:
    """An agent's public reply (stops the response clocks; a new ticket becomes open) or an
    internal note (changes nothing else)."""
    now = now or utcnow()
    ticket = live(session, ticket_id)
    if not body.strip():
        raise InvalidInput("the message is empty", code="ticket_empty")
    if ticket.status == TicketStatus.closed and not internal:
        raise Conflict("the ticket is closed", code="ticket_closed")
    message = repo.add(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            kind="note" if internal else "reply",
            author_user_id=author_user_id,
            author_name=author,
            body=body,
            created_at=now,
        ),
    )
    if internal:
        _event(session, ticket, author, "note", now)
        return message
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    sla.on_reply(session, ticket, now, _calendar(session, ticket, config))
    if ticket.status in (TicketStatus.new, TicketStatus.reopened):
        _move(session, ticket, TicketStatus.open, actor=author, config=config, now=now)
    _event(session, ticket, author, "reply", now)
    ticket.updated_at = now
    if config.mail is not None:
        mailer.reply(session, ticket, message, config.mail, now)
    return message


def customer_message(
    session: Session,
    ticket: Ticket,
    body: str,
    *,
    author: str,
    config: DeskConfig,
    email_message_id: str | None = None,
    now: datetime | None = None,
) -> TicketMessage:
    """The customer writes again: a waiting ticket opens, a resolved one reopens, and a
    next-response clock starts. A closed ticket takes no more messages."""
    now = now or utcnow()
    if email_message_id and repo.message_by_email_id(session, email_message_id) is not None:
        raise Conflict("this email was already received", code="ticket_message_duplicate")
    if ticket.status == TicketStatus.closed:
        raise Conflict("the ticket is closed: open a new one", code="ticket_closed")
    message = repo.add(
        session,
        TicketMessage(
            ticket_id=ticket.id,
            kind="customer",
            author_name=author,
            body=body,
            email_message_id=email_message_id,
            created_at=now,
        ),
    )
    if ticket.status in (TicketStatus.waiting_customer, TicketStatus.waiting_third_party):
        _move(session, ticket, TicketStatus.open, actor=author, config=config, now=now)
    elif ticket.status == TicketStatus.resolved:
        _move(session, ticket, TicketStatus.reopened, actor=author, config=config, now=now)
    sla.on_customer_message(session, ticket, now, _calendar(session, ticket, config))
    _event(session, ticket, author, "customer_message", now)
    ticket.updated_at = now
    return message


def assign(
    session: Session,
    ticket_id: int,
    *,
    assignee_id: int | None,
    team_id: int | None,
    actor: str,
    config: DeskConfig,
    now: datetime | None = None,
) -> Ticket:
    """Give the ticket to an agent and/or a team. A new team's business hours apply to the
    clocks from now on (the minutes already counted stay)."""
    now = now or utcnow()
    ticket = live(session, ticket_id)
    if team_id is not None and repo.get_team(session, team_id) is None:
        raise NotFound(f"team {team_id} not found", code="team_not_found")
    if team_id is not None and team_id != ticket.team_id:
        old_cal = _calendar(session, ticket, config)
        ticket.team_id = team_id
        sla.recalendar(session, ticket, old_cal, _calendar(session, ticket, config), now)
    ticket.assignee_id = assignee_id
    _event(session, ticket, actor, "assigned", now, assignee_id=assignee_id, team_id=ticket.team_id)
    return ticket


def correct_category(session: Session, ticket_id: int, category: str, *, actor: str) -> Ticket:
    """An agent sets the complaint category; the correction trains the classifier."""
    now = utcnow()
    if category not in complaints.CATEGORIES:
        raise InvalidInput(
            f"unknown complaint category {category!r}",
            code="ticket_bad_category",
            data={"allowed": list(complaints.CATEGORIES)},
        )
    ticket = live(session, ticket_id)
    if ticket.type != TicketType.complaint:
        raise Conflict("only a complaint has a category", code="ticket_not_complaint")
    first = repo.messages_of(session, ticket.id)[0]
    repo.add(
        session,
        CategoryCorrection(
            ticket_id=ticket.id,
            text=f"{ticket.subject}\n{first.body}",
            predicted=ticket.category if ticket.category_source == "model" else None,
            category=category,
            actor=actor,
        ),
    )
    _event(session, ticket, actor, "category", now, **{"from": ticket.category, "to": category})
    ticket.category, ticket.category_source, ticket.category_confidence = category, "agent", None
    return ticket


def merge(
    session: Session,
    ticket_id: int,
    into_id: int,
    *,
    actor: str,
    config: DeskConfig,
    now: datetime | None = None,
) -> Ticket:
    """Merge a duplicate into another ticket of the same customer: its messages move over, its
    clocks stop (their record stays), and it is closed pointing at the survivor."""
    now = now or utcnow()
    if ticket_id == into_id:
        raise InvalidInput("a ticket cannot be merged into itself", code="ticket_merge_self")
    source, target = live(session, ticket_id), live(session, into_id)
    if source.customer_id != target.customer_id:
        raise Conflict("only tickets of the same customer can be merged", code="ticket_merge_customer")
    if target.status == TicketStatus.closed:
        raise Conflict("cannot merge into a closed ticket", code="ticket_closed")
    moved = repo.move_messages(session, source.id, target.id)
    sla.stop_all(session, source, now, _calendar(session, source, config))
    source.merged_into_id, source.status, source.closed_at = target.id, TicketStatus.closed, now
    _event(session, source, actor, "merged_into", now, into=target.id)
    _event(session, target, actor, "merged_from", now, source=source.id, messages=moved)
    return target


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    messages: list[TicketMessage]
    events: list[TicketEvent]
    slas: list[TicketSla]


def view(session: Session, ticket_id: int) -> TicketView:
    ticket = get(session, ticket_id)
    return TicketView(
        ticket,
        repo.messages_of(session, ticket.id),
        repo.events_of(session, ticket.id),
        repo.slas_of(session, ticket.id),
    )


def public_messages(session: Session, ticket: Ticket) -> list[TicketMessage]:
    return repo.messages_of(session, ticket.id, public_only=True)


def queue(session: Session, f: QueueFilter, *, offset: int, limit: int) -> tuple[list[Ticket], int]:
    return repo.queue(session, f, offset, limit)


def clocks_of(session: Session, tickets: Sequence[Ticket]) -> dict[int, TicketSla]:
    return repo.next_due(session, [t.id for t in tickets])


def slas_of(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[TicketSla]]:
    """Every SLA clock of each ticket, in one query."""
    return repo.slas_of_tickets(session, ticket_ids)


def tickets_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[Ticket]:
    return repo.tickets_of_customer(session, customer_id, limit)


# -- SLA scan, teams and policies ---------------------------------------------------------------


def scan(
    session: Session, *, now: datetime | None = None, config: DeskConfig | None = None
) -> tuple[int, int]:
    """Record missed targets (once, at their deadline) and warn of those about to be missed;
    each goes into the ticket's history and a miss raises the ticket's priority a step. A
    policy's escalation applies too: a miss reassigns the ticket to its lead (mailed, when this
    instance mails), and every warning and miss is posted to its webhook (job ``desk.notify``)
    and mailed to its ``notify_email``: sent only once this transaction commits, once per clock
    and event. Works in bulk: a scan after a quiet spell may find thousands at once."""
    now = now or utcnow()
    breaches = repo.mark_breaches(session, now)
    warnings = repo.mark_warnings(session, now)
    events: list[dict[str, Any]] = []
    for action, rows in (("sla_breached", breaches), ("sla_warning", warnings)):
        events += [
            {"ticket_id": m.ticket_id, "actor": "sla", "action": action, "created_at": now,
             "data": {"target": m.target, "due": m.due.isoformat() if m.due else None}}
            for m in rows
        ]  # fmt: skip
    order = [str(p) for p in PRIORITY_ORDER]
    for ticket_id, old, new in repo.raise_priorities(session, sorted({m.ticket_id for m in breaches}), order):
        events.append(
            {"ticket_id": ticket_id, "actor": "sla", "action": "escalated", "created_at": now,
             "data": {"from": old, "to": new}}
        )  # fmt: skip
    events += _escalate(session, breaches, warnings, now, config or DeskConfig())
    repo.add_events(session, sorted(events, key=lambda e: (e["ticket_id"], e["action"] != "sla_breached")))
    return len(breaches), len(warnings)


def _escalate(
    session: Session, breaches: list[repo.Mark], warnings: list[repo.Mark], now: datetime, config: DeskConfig
) -> list[dict[str, Any]]:
    policies = {
        p.id: p
        for p in repo.policies(session)
        if p.escalate_to_user_id or p.notify_url or (p.notify_email and config.mail is not None)
    }
    if not policies:
        return []
    events: list[dict[str, Any]] = []
    leads: dict[int, list[repo.Mark]] = {}
    for m in breaches:
        policy = policies.get(m.policy_id or 0)
        if policy is not None and policy.escalate_to_user_id is not None:
            leads.setdefault(policy.escalate_to_user_id, []).append(m)
    for lead, marks in leads.items():
        ticket_ids = sorted({m.ticket_id for m in marks})
        repo.reassign(session, ticket_ids, lead)
        events += [
            {"ticket_id": t, "actor": "sla", "action": "assigned", "created_at": now,
             "data": {"assignee_id": lead, "by": "escalation"}}
            for t in ticket_ids
        ]  # fmt: skip
        user = accounts.get_user(session, lead) if config.mail is not None else None
        if user is not None:
            for m in marks:
                _sla_mail(session, m, "sla.reassigned", user.email, policies[m.policy_id or 0], config, now)
    marked = [("sla.breached", m) for m in breaches] + [("sla.warning", m) for m in warnings]
    noted = [(kind, m, policies[m.policy_id]) for kind, m in marked if m.policy_id in policies]
    brief = repo.tickets_brief(session, [m.ticket_id for _, m, p in noted if p.notify_url])
    for kind, m, policy in noted:
        if policy.notify_email and config.mail is not None:
            _sla_mail(session, m, kind, policy.notify_email, policy, config, now)
        if not policy.notify_url:
            continue
        subject, priority, assignee = brief[m.ticket_id]
        payload = {
            "event": kind,
            "ticket": f"T-{m.ticket_id:06d}",
            "ticket_id": m.ticket_id,
            "subject": subject,
            "priority": priority,
            "assignee_id": assignee,
            "target": m.target,
            "due": m.due.isoformat() if m.due else None,
            "policy": policy.name,
        }
        jobs.enqueue(session, notify.JOB, {"url": policy.notify_url, "payload": payload},
                     key=f"desk.notify:{m.sla_id}:{kind}")  # fmt: skip
    return events


def _sla_mail(
    session: Session, m: repo.Mark, event: str, to: str, policy: SlaPolicy, config: DeskConfig, now: datetime
) -> None:
    assert config.mail is not None
    mailer.sla_notice(
        session,
        ticket=get(session, m.ticket_id),
        to=to,
        event=event,
        target=m.target,
        due=m.due,
        policy=policy.name,
        key=f"desk.mail:{m.sla_id}:{event}:{to}"[:200],
        settings=config.mail,
        timezone=config.timezone,
        now=now,
    )


def create_team(
    session: Session,
    *,
    name: str,
    timezone: str,
    hours: Mapping[int, Sequence[tuple[Any, Any]]] | None,
    holidays: Sequence[Any] = (),
    workdays: Mapping[Any, int] | None = None,
) -> Team:
    """A team with its business calendar (time zone, weekly hours, holidays, make-up days)."""
    if repo.team_by_name(session, name) is not None:
        raise Conflict(f"team {name!r} exists", code="team_exists")
    calendar = BusinessCalendar(timezone, hours, holidays, workdays)
    return repo.add(session, Team(name=name, calendar=calendar.to_dict()))


def teams(session: Session) -> list[Team]:
    return repo.teams(session)


def create_policy(session: Session, values: Mapping[str, Any]) -> SlaPolicy:
    if repo.policy_by_name(session, values["name"]) is not None:
        raise Conflict(f"SLA policy {values['name']!r} exists", code="sla_policy_exists")
    match = sla.check_match(values.get("match") or {})
    if all(
        values.get(k) is None
        for k in ("first_response_minutes", "next_response_minutes", "resolution_minutes")
    ):
        raise InvalidInput("an SLA policy needs at least one target", code="sla_no_target")
    return repo.add(session, SlaPolicy(**{**values, "match": match}))


def policies(session: Session) -> list[SlaPolicy]:
    return repo.policies(session)


def compliance(session: Session, by: str | None = None) -> list[dict[str, Any]]:
    """Met / missed / in progress per target (and team, agent, type or priority)."""
    if by not in (None, "team", "agent", "type", "priority"):
        raise InvalidInput(f"cannot group SLA compliance by {by!r}", code="sla_bad_group")
    return [
        {
            "group": group,
            "target": target,
            "met": met,
            "missed": missed,
            "in_progress": running,
            "compliance": met / (met + missed) if met + missed else None,
        }
        for group, target, met, missed, running in repo.compliance(session, by)
    ]
