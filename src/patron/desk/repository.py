"""SQL of the service desk (private to ``patron.desk``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, and_, case, func, insert, literal, or_, select, union, update
from sqlalchemy.orm import Session, defer

from patron.core.repository import chunked
from patron.models import (
    AgentProfile,
    CannedReply,
    CategoryCorrection,
    CorrectiveAction,
    CsatSurvey,
    KbArticle,
    Order,
    OrderLine,
    Refund,
    Remedy,
    ReturnPolicy,
    Shop,
    SlaPolicy,
    Team,
    Ticket,
    TicketAttachment,
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
    """The ticket; ``for_update`` locks it for the rest of the transaction: its row on
    PostgreSQL, the database's write lock on SQLite (which has no row locks: a write that changes
    nothing takes it, and starts the transaction, so a savepoint after it nests properly)."""
    if for_update:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(
                update(Ticket).where(Ticket.id == ticket_id).values(reopen_count=Ticket.reopen_count)
            )
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
    archived: bool = False  # archived (closed, put away) tickets too


def _queue_query(session: Session, f: QueueFilter) -> Select[Any]:
    query = select(Ticket).where(Ticket.merged_into_id.is_(None))
    if not f.archived:
        query = query.where(Ticket.archived_at.is_(None))
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
    """A merge: the messages move, and the attachments with them (also those on no message);
    how many messages moved."""
    result = session.execute(
        update(TicketMessage).where(TicketMessage.ticket_id == from_ticket).values(ticket_id=to_ticket)
    )
    session.execute(
        update(TicketAttachment).where(TicketAttachment.ticket_id == from_ticket).values(ticket_id=to_ticket)
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


class Mark(NamedTuple):
    """A clock the scan just recorded (missed or warned)."""

    sla_id: int
    ticket_id: int
    target: str
    due: datetime | None
    policy_id: int | None


def _marks(session: Session, where: Any) -> list[Mark]:
    columns = (TicketSla.id, TicketSla.ticket_id, TicketSla.target, TicketSla.due_at, TicketSla.policy_id)
    return [
        Mark(int(i), int(t), str(k), d, p) for i, t, k, d, p in session.execute(select(*columns).where(where))
    ]


def mark_breaches(session: Session, now: datetime) -> list[Mark]:
    """Record every running target whose deadline has passed as missed at its deadline, once."""
    rows = _marks(
        session, and_(TicketSla.stopped_at.is_(None), TicketSla.breached_at.is_(None), TicketSla.due_at < now)
    )
    for part in chunked([r.sla_id for r in rows]):
        session.execute(
            update(TicketSla)
            .where(TicketSla.id.in_(part), TicketSla.breached_at.is_(None))
            .values(breached_at=TicketSla.due_at),
        )
    return rows


def mark_warnings(session: Session, now: datetime) -> list[Mark]:
    """Targets running into their warning window, not yet warned nor missed (once each)."""
    rows = _marks(
        session,
        and_(
            TicketSla.running_since.is_not(None),
            TicketSla.breached_at.is_(None),
            TicketSla.warned_at.is_(None),
            TicketSla.warn_at <= now,
        ),
    )
    for part in chunked([r.sla_id for r in rows]):
        session.execute(update(TicketSla).where(TicketSla.id.in_(part)).values(warned_at=now))
    return rows


def reassign(session: Session, ticket_ids: Sequence[int], user_id: int) -> None:
    for part in chunked(list(ticket_ids)):
        session.execute(update(Ticket).where(Ticket.id.in_(part)).values(assignee_id=user_id))


def tickets_brief(session: Session, ticket_ids: Sequence[int]) -> dict[int, tuple[str, str, int | None]]:
    """Subject, priority and assignee per ticket (for notifications)."""
    out: dict[int, tuple[str, str, int | None]] = {}
    for part in chunked(list(ticket_ids)):
        rows = session.execute(
            select(Ticket.id, Ticket.subject, Ticket.priority, Ticket.assignee_id).where(Ticket.id.in_(part))
        )
        out |= {int(i): (str(s), str(p), a) for i, s, p, a in rows}
    return out


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


def corrections_fingerprint(session: Session) -> tuple[int, int | None]:
    count, last = session.execute(select(func.count(), func.max(CategoryCorrection.id))).one()
    return int(count or 0), last


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


# -- after-sales and agents -------------------------------------------------------------------


def return_policies(session: Session) -> list[ReturnPolicy]:
    return list(session.scalars(select(ReturnPolicy).order_by(ReturnPolicy.id)))


def return_policy(session: Session, shop_id: int | None, category: str | None) -> ReturnPolicy | None:
    return session.scalars(
        select(ReturnPolicy).where(
            ReturnPolicy.shop_id.is_(None) if shop_id is None else ReturnPolicy.shop_id == shop_id,
            ReturnPolicy.category.is_(None) if category is None else ReturnPolicy.category == category,
        )
    ).first()


def remedy_by_key(session: Session, ticket_id: int, key: str) -> Remedy | None:
    return session.scalars(select(Remedy).where(Remedy.ticket_id == ticket_id, Remedy.key == key)).first()


def remedies_of(session: Session, ticket_id: int) -> list[Remedy]:
    return list(session.scalars(select(Remedy).where(Remedy.ticket_id == ticket_id).order_by(Remedy.id)))


def agent_profile(session: Session, user_id: int | None) -> AgentProfile | None:
    return session.get(AgentProfile, user_id) if user_id is not None else None


def agent_profiles(session: Session, *, active_only: bool = False) -> list[AgentProfile]:
    query = select(AgentProfile)
    if active_only:
        query = query.where(AgentProfile.active.is_(True))
    return list(session.scalars(query.order_by(AgentProfile.user_id)))


def open_load(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """Open tickets (not resolved, closed or merged) per agent."""
    rows = session.execute(
        select(Ticket.assignee_id, func.count())
        .where(
            Ticket.assignee_id.in_(user_ids),
            Ticket.status.not_in(("resolved", "closed")),
            Ticket.merged_into_id.is_(None),
        )
        .group_by(Ticket.assignee_id)
    )
    return {int(a): int(n) for a, n in rows if a is not None}


def canned_reply(session: Session, name: str, lang: str) -> CannedReply | None:
    return session.scalars(
        select(CannedReply).where(CannedReply.name == name, CannedReply.lang == lang)
    ).first()


def canned_replies(session: Session, lang: str | None) -> list[CannedReply]:
    query = select(CannedReply)
    if lang:
        query = query.where(CannedReply.lang == lang)
    return list(session.scalars(query.order_by(CannedReply.name, CannedReply.lang)))


# -- service quality: CSAT, root causes, corrective actions, reports (patron.desk.quality) ------


def survey_of_ticket(session: Session, ticket_id: int) -> CsatSurvey | None:
    return session.scalars(select(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id)).first()


def survey_by_token(session: Session, token: str) -> CsatSurvey | None:
    return session.scalars(select(CsatSurvey).where(CsatSurvey.token == token)).first()


def answer_survey(session: Session, survey_id: int, score: int, comment: str | None, now: datetime) -> bool:
    """Record the answer only if none was recorded (one statement: two answers at once, one wins)."""
    result = session.execute(
        update(CsatSurvey)
        .where(CsatSurvey.id == survey_id, CsatSurvey.answered_at.is_(None))
        .values(score=score, comment=comment, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def get_action(session: Session, action_id: int, *, for_update: bool = False) -> CorrectiveAction | None:
    if for_update:
        return session.scalars(
            select(CorrectiveAction).where(CorrectiveAction.id == action_id).with_for_update()
        ).first()
    return session.get(CorrectiveAction, action_id)


def list_actions(
    session: Session, *, open_only: bool, due_before: date | None, ticket_id: int | None
) -> list[CorrectiveAction]:
    query = select(CorrectiveAction)
    if open_only:
        query = query.where(CorrectiveAction.status == "open")
    if due_before is not None:
        query = query.where(CorrectiveAction.due_on < due_before)
    if ticket_id is not None:
        query = query.where(CorrectiveAction.ticket_id == ticket_id)
    order = (CorrectiveAction.due_on.is_(None), CorrectiveAction.due_on, CorrectiveAction.id)
    return list(session.scalars(query.order_by(*order)))


def count_actions(session: Session, today: date) -> tuple[int, int]:
    """(open, open and due before ``today``)."""
    late = and_(CorrectiveAction.due_on.is_not(None), CorrectiveAction.due_on < today)
    row = session.execute(
        select(func.count(), func.sum(case((late, 1), else_=0))).where(CorrectiveAction.status == "open")
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def _opened(since: datetime, until: datetime, type_: str | None = None) -> list[Any]:
    """Tickets opened in ``[since, until)`` (of a type), merged duplicates left out."""
    conditions = [Ticket.merged_into_id.is_(None), Ticket.created_at >= since, Ticket.created_at < until]
    if type_ is not None:
        conditions.append(Ticket.type == type_)
    return conditions


def pareto_counts(
    session: Session, by: str, since: datetime, until: datetime, type_: str | None
) -> list[tuple[Any, str | None, int]]:
    """(value, label, tickets) per value of ``by``; see :func:`patron.desk.quality.pareto`."""
    where = _opened(since, until, type_)
    if by == "sku":
        of_line = (
            select(Ticket.id.label("ticket_id"), OrderLine.sku.label("value"))
            .join(OrderLine, OrderLine.id == Ticket.order_line_id)
            .where(*where)
        )
        of_order = (
            select(Ticket.id.label("ticket_id"), OrderLine.sku.label("value"))
            .outerjoin(OrderLine, OrderLine.order_id == Ticket.order_id)
            .where(*where, Ticket.order_line_id.is_(None))
        )
        pairs = union(of_line, of_order).subquery()
        rows = session.execute(
            select(pairs.c.value, func.count(func.distinct(pairs.c.ticket_id))).group_by(pairs.c.value)
        )
        return [(v, None, int(n)) for v, n in rows]
    if by == "shop":
        rows = session.execute(
            select(Shop.code, Shop.name, func.count())
            .select_from(Ticket)
            .outerjoin(Shop, Shop.id == Ticket.shop_id)
            .where(*where)
            .group_by(Shop.code, Shop.name)
        )
        return [(c, n, int(k)) for c, n, k in rows]
    if by == "carrier":
        rows = session.execute(
            select(Order.carrier, func.count())
            .select_from(Ticket)
            .outerjoin(Order, Order.id == Ticket.order_id)
            .where(*where)
            .group_by(Order.carrier)
        )
        return [(c or None, None, int(k)) for c, k in rows]
    column = {"category": Ticket.category, "root_cause": Ticket.root_cause, "agent": Ticket.assignee_id}[by]
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    return [(v, None, int(k)) for v, k in rows]


def kpi_tickets(
    session: Session, since: datetime, until: datetime
) -> list[tuple[int, datetime, datetime | None, datetime | None, int]]:
    """(assignee, created, first response, resolved, reopens) of the assigned tickets opened then."""
    rows = session.execute(
        select(
            Ticket.assignee_id,
            Ticket.created_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.reopen_count,
        ).where(*_opened(since, until), Ticket.assignee_id.is_not(None))
    )
    return [(int(a or 0), c, f, r, int(n or 0)) for a, c, f, r, n in rows]


def sla_counts(
    session: Session, since: datetime, until: datetime
) -> list[tuple[int | None, str, int, int, int]]:
    """(assignee, target, met, missed, running in time) over the targets of the tickets opened
    in ``[since, until)``: met = stopped without a miss, missed = deadline passed (stopped or not)."""
    missed = TicketSla.breached_at.is_not(None)
    met = and_(TicketSla.stopped_at.is_not(None), ~missed)
    running = and_(TicketSla.stopped_at.is_(None), ~missed)
    rows = session.execute(
        select(
            Ticket.assignee_id,
            TicketSla.target,
            func.sum(case((met, 1), else_=0)),
            func.sum(case((missed, 1), else_=0)),
            func.sum(case((running, 1), else_=0)),
        )
        .join(Ticket, Ticket.id == TicketSla.ticket_id)
        .where(*_opened(since, until))
        .group_by(Ticket.assignee_id, TicketSla.target)
    )
    return [(a, str(t), int(m or 0), int(x or 0), int(r or 0)) for a, t, m, x, r in rows]


def csat_scores(session: Session, since: datetime, until: datetime) -> list[tuple[int | None, int | None]]:
    """(agent, score or None if unanswered) of every survey of the tickets opened then."""
    rows = session.execute(
        select(CsatSurvey.agent_id, CsatSurvey.score)
        .join(Ticket, Ticket.id == CsatSurvey.ticket_id)
        .where(*_opened(since, until))
        .order_by(CsatSurvey.id)
    )
    return [(a, None if s is None else int(s)) for a, s in rows]


def ticket_facts(session: Session, since: datetime, until: datetime) -> list[tuple[datetime, str, str]]:
    """(created, channel, type) of the tickets opened in ``[since, until)``."""
    rows = session.execute(
        select(Ticket.created_at, Ticket.channel, Ticket.type).where(*_opened(since, until))
    )
    return [(c, str(ch), str(t)) for c, ch, t in rows]


def backlog(session: Session, statuses: Sequence[str]) -> list[tuple[str, int]]:
    """Tickets per status now (merged duplicates left out)."""
    rows = session.execute(
        select(Ticket.status, func.count())
        .where(Ticket.status.in_(statuses), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.status)
    )
    return [(str(s), int(n)) for s, n in rows]


# -- attachments ------------------------------------------------------------------------------


def attachments_of(session: Session, ticket_id: int) -> list[TicketAttachment]:
    """Without their content: on the ticket, or on a message now on it (merged in)."""
    on_messages = select(TicketMessage.id).where(TicketMessage.ticket_id == ticket_id)
    return list(
        session.scalars(
            select(TicketAttachment)
            .options(defer(TicketAttachment.data))
            .where(or_(TicketAttachment.ticket_id == ticket_id, TicketAttachment.message_id.in_(on_messages)))
            .order_by(TicketAttachment.id)
        )
    )


def get_attachment(session: Session, attachment_id: int) -> TicketAttachment | None:
    return session.get(TicketAttachment, attachment_id)


def write_lock(session: Session) -> None:
    """SQLite: take the database's write lock now, with a write that changes nothing, so that a
    second delivery of the same email waits for the first to commit and then finds it."""
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.id == -1)
        .values(kind=TicketMessage.kind)
        .execution_options(synchronize_session=False)
    )
