"""SQL of the service desk (private to ``patron.desk``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from patron.core.repository import chunked
from patron.models import (
    CategoryCorrection,
    KbArticle,
    Refund,
    SlaPolicy,
    Team,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketSla,
)

T = TypeVar("T")


def add(session: Session, row: T) -> T:
    session.add(row)
    session.flush()
    return row


def get_ticket(session: Session, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
    if for_update:
        return session.scalars(select(Ticket).where(Ticket.id == ticket_id).with_for_update()).first()
    return session.get(Ticket, ticket_id)


def ticket_by_token(session: Session, token: str) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.public_token == token)).first()


def ticket_by_refund(session: Session, refund_id: int) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.refund_id == refund_id)).first()


@dataclass(frozen=True)
class QueueFilter:
    status: Sequence[str] = ()
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    type: str | None = None
    category: str | None = None
    customer_id: int | None = None
    breached: bool | None = None  # only tickets with (True) / without (False) a missed target
    q: str | None = None


def _queue_query(session: Session, f: QueueFilter) -> Select[Any]:
    query = select(Ticket).where(Ticket.merged_into_id.is_(None))
    if f.status:
        query = query.where(Ticket.status.in_(f.status))
    if f.assignee_id is not None:
        query = query.where(Ticket.assignee_id == f.assignee_id)
    if f.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if f.team_id is not None:
        query = query.where(Ticket.team_id == f.team_id)
    if f.type:
        query = query.where(Ticket.type == f.type)
    if f.category:
        query = query.where(Ticket.category == f.category)
    if f.customer_id is not None:
        query = query.where(Ticket.customer_id == f.customer_id)
    if f.breached is not None:
        # The few tickets with a miss, from the breach index (not a probe per ticket).
        missed = select(TicketSla.ticket_id).where(TicketSla.breached_at.is_not(None))
        query = query.where(Ticket.id.in_(missed) if f.breached else Ticket.id.not_in(missed))
    if f.q and f.q.strip():
        text = f.q.strip()
        query = query.where(
            or_(_contains(session, Ticket.subject, text), _contains(session, Ticket.requester_email, text))
            if _reference(text) is None
            else Ticket.id == _reference(text)
        )
    return query


def _contains(session: Session, column: Any, text: str) -> Any:
    """Case-insensitive substring match, the user's ``%`` and ``_`` taken literally. SQLite's
    LIKE already ignores ASCII case (and ``lower()`` on every row doubles a scan's cost)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if session.get_bind().dialect.name == "sqlite":
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _reference(text: str) -> int | None:
    """``T-000042``, ``#42`` → 42 (a plain number is searched as text: it may be in a subject)."""
    upper = text.upper()
    digits = upper.removeprefix("T-") if upper.startswith("T-") else upper.removeprefix("#")
    if digits == upper or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


def queue(session: Session, f: QueueFilter, offset: int, limit: int) -> tuple[list[Ticket], int]:
    """Tickets of the queue, most urgent first (priority, then the oldest), and how many."""
    query = _queue_query(session, f)
    order = (Ticket.urgency, Ticket.created_at, Ticket.id)
    if f.q and f.q.strip():
        # A text search reads every ticket anyway: one pass counts and pages at once, sorting
        # the few matches (``+ 0`` keeps SQLite off the order index, a walk through every row).
        rows = session.execute(
            query.add_columns(func.count().over())
            .order_by(Ticket.urgency + 0, *order[1:])
            .offset(offset)
            .limit(limit)
        ).all()
        if rows:
            return [r[0] for r in rows], int(rows[0][1])
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.order_by(*order).offset(offset).limit(limit))), total


def next_due(session: Session, ticket_ids: Sequence[int]) -> dict[int, TicketSla]:
    """Per ticket, its running target due soonest (or its latest missed one if none runs)."""
    out: dict[int, TicketSla] = {}
    if not ticket_ids:
        return out
    rows = session.scalars(
        select(TicketSla)
        .where(TicketSla.ticket_id.in_(ticket_ids), TicketSla.stopped_at.is_(None))
        .order_by(TicketSla.ticket_id, TicketSla.due_at.is_(None), TicketSla.due_at)
    )
    for row in rows:
        out.setdefault(row.ticket_id, row)
    return out


def messages_of(session: Session, ticket_id: int, *, public_only: bool = False) -> list[TicketMessage]:
    query = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
    if public_only:
        query = query.where(TicketMessage.kind != "note")
    return list(session.scalars(query.order_by(TicketMessage.created_at, TicketMessage.id)))


def message_by_email_id(session: Session, message_id: str) -> TicketMessage | None:
    return session.scalars(select(TicketMessage).where(TicketMessage.email_message_id == message_id)).first()


def move_messages(session: Session, from_ticket: int, to_ticket: int) -> int:
    result = session.execute(
        update(TicketMessage).where(TicketMessage.ticket_id == from_ticket).values(ticket_id=to_ticket)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def events_of(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
    )


def tickets_of_customer(session: Session, customer_id: int, limit: int) -> list[Ticket]:
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def count_complaints(session: Session, customer_id: int, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Ticket.customer_id == customer_id, Ticket.type == "complaint", Ticket.created_at >= since
            )
        )
        or 0
    )


# -- SLA ----------------------------------------------------------------------------------------


def active_policies(session: Session) -> list[SlaPolicy]:
    return list(
        session.scalars(select(SlaPolicy).where(SlaPolicy.active.is_(True)).order_by(SlaPolicy.position))
    )


def policies(session: Session) -> list[SlaPolicy]:
    return list(session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))


def policy_by_name(session: Session, name: str) -> SlaPolicy | None:
    return session.scalars(select(SlaPolicy).where(SlaPolicy.name == name)).first()


def get_team(session: Session, team_id: int) -> Team | None:
    return session.get(Team, team_id)


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalars(select(Team).where(Team.name == name)).first()


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def slas_of(session: Session, ticket_id: int) -> list[TicketSla]:
    return list(
        session.scalars(
            select(TicketSla)
            .where(TicketSla.ticket_id == ticket_id)
            .order_by(TicketSla.started_at, TicketSla.id)
        )
    )


def open_slas_of(session: Session, ticket_id: int) -> list[TicketSla]:
    return list(
        session.scalars(
            select(TicketSla)
            .where(TicketSla.ticket_id == ticket_id, TicketSla.stopped_at.is_(None))
            .order_by(TicketSla.id)
        )
    )


def last_seq(session: Session, ticket_id: int, target: str) -> int | None:
    return session.scalar(
        select(func.max(TicketSla.seq)).where(TicketSla.ticket_id == ticket_id, TicketSla.target == target)
    )


def mark_breaches(session: Session, now: datetime) -> list[tuple[int, int, str, datetime | None]]:
    """Record every running target whose deadline has passed as missed at its deadline, once.
    Returns (sla id, ticket id, target, due) of those recorded now."""
    due = and_(
        TicketSla.stopped_at.is_(None),
        TicketSla.breached_at.is_(None),
        TicketSla.due_at < now,
    )
    rows = [
        (int(i), int(t), str(k), d)
        for i, t, k, d in session.execute(
            select(TicketSla.id, TicketSla.ticket_id, TicketSla.target, TicketSla.due_at).where(due)
        )
    ]
    for part in chunked([r[0] for r in rows]):
        session.execute(
            update(TicketSla)
            .where(TicketSla.id.in_(part), TicketSla.breached_at.is_(None))
            .values(breached_at=TicketSla.due_at),
        )
    return rows


def mark_warnings(session: Session, now: datetime) -> list[tuple[int, int, str, datetime | None]]:
    """Targets running into their warning window, not yet warned nor missed (once each)."""
    soon = and_(
        TicketSla.running_since.is_not(None),
        TicketSla.breached_at.is_(None),
        TicketSla.warned_at.is_(None),
        TicketSla.warn_at <= now,
    )
    rows = [
        (int(i), int(t), str(k), d)
        for i, t, k, d in session.execute(
            select(TicketSla.id, TicketSla.ticket_id, TicketSla.target, TicketSla.due_at).where(soon)
        )
    ]
    for part in chunked([r[0] for r in rows]):
        session.execute(update(TicketSla).where(TicketSla.id.in_(part)).values(warned_at=now))
    return rows


def compliance(session: Session, by: str | None) -> list[tuple[Any, str, int, int, int]]:
    """(group, target, met, missed, in progress) over every target, grouped by a ticket column."""
    group = {
        None: literal(""),
        "team": Ticket.team_id,
        "agent": Ticket.assignee_id,
        "type": Ticket.type,
        "priority": Ticket.priority,
    }[by]
    missed = TicketSla.breached_at.is_not(None)
    met = and_(TicketSla.stopped_at.is_not(None), ~missed)
    rows = session.execute(
        select(
            group,
            TicketSla.target,
            func.sum(case((met, 1), else_=0)),
            func.sum(case((missed, 1), else_=0)),
            func.sum(case((and_(TicketSla.stopped_at.is_(None), ~missed), 1), else_=0)),
        )
        .join(Ticket, Ticket.id == TicketSla.ticket_id)
        .group_by(group, TicketSla.target)
        .order_by(group, TicketSla.target)
    )
    return [(g if by else None, str(t), int(a or 0), int(b or 0), int(c or 0)) for g, t, a, b, c in rows]


# -- complaints ---------------------------------------------------------------------------------


def corrections(session: Session) -> list[tuple[str, str]]:
    return [
        (str(t), str(c))
        for t, c in session.execute(
            select(CategoryCorrection.text, CategoryCorrection.category).order_by(CategoryCorrection.id)
        )
    ]


def count_corrections(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CategoryCorrection)) or 0


# -- knowledge base -----------------------------------------------------------------------------


def kb_fingerprint(session: Session) -> tuple[Any, ...]:
    row = session.execute(
        select(func.count(), func.max(KbArticle.updated_at), func.max(KbArticle.id)).where(
            KbArticle.published.is_(True)
        )
    ).one()
    return tuple(row)


def kb_articles(
    session: Session, *, lang: str | None = None, published_only: bool = False
) -> list[KbArticle]:
    query = select(KbArticle)
    if lang:
        query = query.where(KbArticle.lang == lang)
    if published_only:
        query = query.where(KbArticle.published.is_(True))
    return list(session.scalars(query.order_by(KbArticle.slug, KbArticle.lang)))


def kb_article(session: Session, slug: str, lang: str) -> KbArticle | None:
    return session.scalars(select(KbArticle).where(KbArticle.slug == slug, KbArticle.lang == lang)).first()


def refunds_without_ticket(session: Session, statuses: Sequence[str], limit: int) -> list[Refund]:
    """Marketplace refunds still open that no ticket follows yet, oldest first."""
    has_ticket = select(Ticket.id).where(Ticket.refund_id == Refund.id).exists()
    return list(
        session.scalars(
            select(Refund).where(Refund.status.in_(statuses), ~has_ticket).order_by(Refund.id).limit(limit)
        )
    )


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many history rows at once (the SLA scan writes one per recorded miss or warning)."""
    if rows:
        session.execute(insert(TicketEvent), list(rows))


def raise_priorities(
    session: Session, ticket_ids: Sequence[int], order: Sequence[str]
) -> list[tuple[int, str, str]]:
    """Raise each ticket's priority one step along ``order`` (the top one stays); returns
    (ticket id, from, to) of those raised."""
    current: list[tuple[int, str]] = []
    for part in chunked(ticket_ids):
        current += [
            (int(i), str(p))
            for i, p in session.execute(select(Ticket.id, Ticket.priority).where(Ticket.id.in_(part)))
        ]
    raised = [(i, p, order[order.index(p) + 1]) for i, p in current if p in order[:-1]]
    for step, target in pairwise(order):
        ids = [i for i, p, _ in raised if p == step]
        for part in chunked(ids):
            session.execute(update(Ticket).where(Ticket.id.in_(part)).values(priority=target))
    return raised


def slas_of_tickets(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[TicketSla]]:
    out: dict[int, list[TicketSla]] = {i: [] for i in ticket_ids}
    for part in chunked(list(ticket_ids)):
        for row in session.scalars(
            select(TicketSla).where(TicketSla.ticket_id.in_(part)).order_by(TicketSla.id)
        ):
            out[row.ticket_id].append(row)
    return out
