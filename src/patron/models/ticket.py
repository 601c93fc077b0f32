"""Service desk: teams with their business hours, tickets, their messages and history, SLA
policies and the clock of every SLA target of every ticket.

An SLA target is a row (``ticket_slas``), not a few columns on the ticket: a ticket has one
first-response and one resolution target and a next-response target per customer message, each
with its own clock, and the breach scan is one indexed query over the rows still running.
A target's clock is kept incrementally: ``elapsed_minutes`` holds the business minutes counted up
to ``running_since`` (null while paused or stopped), and ``due_at`` is recomputed whenever the
clock starts again, so reading or scanning a clock never walks its history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Computed,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, BigID, JSONType, UTCDateTime
from patron.core.time import utcnow
from patron.models._types import created_at_column, id_column


class TicketType(enum.StrEnum):
    inquiry = "inquiry"
    return_ = "return"
    exchange = "exchange"
    refund_only = "refund_only"  # 仅退款
    repair = "repair"
    reship = "reship"  # 补寄
    complaint = "complaint"


class TicketChannel(enum.StrEnum):
    web = "web"  # the public form
    api = "api"
    email = "email"
    marketplace = "marketplace"  # a refund record from a marketplace import
    agent = "agent"  # created by an agent (phone, chat, walk-in)


class TicketStatus(enum.StrEnum):
    new = "new"
    open = "open"
    waiting_customer = "waiting_customer"
    waiting_third_party = "waiting_third_party"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"


class Priority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class SlaTarget(enum.StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # patron.desk.clock.BusinessCalendar.to_dict(): time zone, weekly hours, holidays.
    calendar: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = created_at_column()


class SlaPolicy(Base):
    """Targets in business minutes for the tickets that ``match`` (every listed field must hold
    one of its values; an empty match catches all). The first active policy by ``position``
    applies."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    match: Mapped[dict[str, list[str]]] = mapped_column(JSONType, default=dict)
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    # A warning is raised this many business minutes before a target is due.
    warn_before_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # Escalation: a missed target reassigns the ticket to this user (a team lead), and every
    # warning and miss is posted (signed) to this URL.
    escalate_to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notify_url: Mapped[str | None] = mapped_column(String(500))
    notify_email: Mapped[str | None] = mapped_column(String(254))  # warnings and misses mailed here
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = id_column()
    # The secret in the customer's tracking link (the public page needs no account).
    public_token: Mapped[str] = mapped_column(String(43), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10))
    # The queue's order (0 urgent .. 3 low), kept by the database itself so that a bulk priority
    # change cannot leave it stale; indexed with the age, the queue reads its first page from
    # the index instead of sorting every open ticket.
    urgency: Mapped[int] = mapped_column(
        SmallInteger,
        Computed(
            "CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END",
            persisted=True,
        ),
    )
    # Complaints: S1 (most severe) .. S4, the category (product, logistics, service, price,
    # promotion), who set it (model or agent) and the model's confidence.
    severity: Mapped[str | None] = mapped_column(String(2))
    category: Mapped[str | None] = mapped_column(String(20))
    category_source: Mapped[str | None] = mapped_column(String(10))
    category_confidence: Mapped[float | None] = mapped_column(Float)
    severity_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    customer_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("orders.id"))
    order_line_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("order_lines.id"))
    refund_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("refunds.id"), unique=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    requester_name: Mapped[str | None] = mapped_column(String(200))
    requester_email: Mapped[str | None] = mapped_column(String(254))
    merged_into_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("tickets.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Root-cause code of a complaint (what caused it: supplier defect, packaging, carrier, …).
    root_cause: Mapped[str | None] = mapped_column(String(50))
    csat_skip: Mapped[bool] = mapped_column(Boolean, default=False)  # no survey for this one
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_tickets_queue", "urgency", "created_at", "id"),
        # Covers the queue's count (status, not merged, not archived) without reading rows.
        Index("ix_tickets_status", "status", "merged_into_id", "archived_at"),
    )


class TicketMessage(Base):
    """What the customer wrote (``customer``), an agent's public ``reply``, or an internal
    ``note`` the customer never sees."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # The RFC 822 Message-ID of an email, so a re-delivered message is stored once.
    email_message_id: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = created_at_column()


class TicketEvent(Base):
    """The ticket's full history: every change, who made it and what it was."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()


class TicketSla(Base):
    __tablename__ = "ticket_slas"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(20))
    # next_response: one per customer message awaiting a reply (0, 1, ...); else 0.
    seq: Mapped[int] = mapped_column(Integer, default=0)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    target_minutes: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    elapsed_minutes: Mapped[int] = mapped_column(Integer, default=0)
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set once, when the target is missed, and never cleared (a reopened ticket keeps it).
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("ticket_id", "target", "seq"),
        Index("ix_ticket_slas_due", "due_at"),
        Index("ix_ticket_slas_breached", "breached_at"),
    )


class CategoryCorrection(Base):
    """An agent's correction of a complaint's category: the classifier retrains on these."""

    __tablename__ = "category_corrections"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    predicted: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()


class TicketAttachment(Base):
    """A file a customer or agent attached (size-capped and content-type checked on the way in;
    kept in the database so both backends back it up the same way)."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("ticket_messages.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()


class ReturnPolicy(Base):
    """How long after delivery (or the order, without a delivery date) a shop accepts returns,
    for a category (a path prefix) or the whole shop; the most specific policy applies."""

    __tablename__ = "return_policies"

    id: Mapped[int] = id_column()
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    category: Mapped[str | None] = mapped_column(String(300))
    window_days: Mapped[int] = mapped_column(Integer)
    requires_proof: Mapped[bool] = mapped_column(Boolean, default=False)  # photos for damage claims
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("shop_id", "category"),)


class Remedy(Base):
    """What the shop did about a ticket (refund, return, exchange, repair, re-ship, coupon,
    compensation), with who, when and how much. ``key`` makes an action idempotent: the same
    action sent twice is recorded once."""

    __tablename__ = "ticket_remedies"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigID, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    refund_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("refunds.id"))
    coupon_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("ticket_id", "key"),)


class AgentProfile(Base):
    """An agent's desk settings: refund limit, how many open tickets they take, their skills
    (languages, shops, ticket types) and whether they take VIP customers."""

    __tablename__ = "agent_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    refund_limit_minor: Mapped[int] = mapped_column(BigID, default=0)
    limit_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    languages: Mapped[list[str]] = mapped_column(JSONType, default=list)
    shops: Mapped[list[str]] = mapped_column(JSONType, default=list)
    types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Round-robin: the last time a ticket was routed to the agent.
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CannedReply(Base):
    __tablename__ = "canned_replies"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)  # placeholders: {customer_name}, {ticket}, {order}, {agent}
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("name", "lang"),)


class CsatSurvey(Base):
    """The satisfaction question sent when a ticket is resolved, and the answer (1-5)."""

    __tablename__ = "csat_surveys"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who resolved it
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CorrectiveAction(Base):
    """What will stop a complaint's root cause from happening again, who owns it, by when."""

    __tablename__ = "corrective_actions"

    id: Mapped[int] = id_column()
    ticket_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("tickets.id", ondelete="SET NULL"))
    cause: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))  # corrective or preventive
    description: Mapped[str] = mapped_column(Text)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, done, cancelled
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
