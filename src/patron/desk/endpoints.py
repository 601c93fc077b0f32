"""REST endpoints of the service desk: ``/api/v1/tickets``, teams, SLA policies and reports, and
the public ticket form and tracking link (``/api/v1/public/tickets``, no account needed)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from patron.accounts.dependencies import Auth
from patron.core.deps import DB
from patron.core.time import utcnow
from patron.desk import kb, service
from patron.desk.schemas import (
    ArticleIn,
    ArticleOut,
    Assignment,
    BotAnswer,
    BotQuestion,
    CategoryChange,
    ComplianceRow,
    EventOut,
    HandoverRequest,
    HitOut,
    MergeRequest,
    MessageCreate,
    MessageOut,
    PublicTicketCreate,
    PublicTicketOut,
    ScanOut,
    SlaOut,
    SlaPolicyCreate,
    SlaPolicyOut,
    StatusChange,
    TeamCreate,
    TeamOut,
    TicketCreate,
    TicketDetail,
    TicketOut,
    TicketPage,
)
from patron.desk.service import QueueFilter
from patron.desk.sla import state
from patron.models import Ticket, TicketChannel, TicketSla

router = APIRouter(prefix="/api/v1", tags=["tickets"])


def _config(request: Request) -> service.DeskConfig:
    return service.config_of(request.app.state.settings)


def sla_out(row: TicketSla, now: datetime) -> SlaOut:
    data = {name: getattr(row, name) for name in SlaOut.model_fields if name != "state"}
    return SlaOut.model_validate(data | {"state": state(row, now)})


def ticket_out(ticket: Ticket, clock: TicketSla | None = None, now: datetime | None = None) -> TicketOut:
    data = {
        name: getattr(ticket, name) for name in TicketOut.model_fields if name not in ("reference", "sla")
    }
    data["reference"] = service.reference(ticket)
    data["sla"] = sla_out(clock, now or utcnow()) if clock is not None else None
    return TicketOut.model_validate(data)


def _detail(session: DB, ticket_id: int) -> TicketDetail:
    v = service.view(session, ticket_id)
    now = utcnow()
    running = [s for s in v.slas if s.stopped_at is None]
    clock = min(running, key=lambda s: (s.due_at is None, s.due_at or now)) if running else None
    return TicketDetail(
        ticket=ticket_out(v.ticket, clock, now),
        messages=[MessageOut.model_validate(m) for m in v.messages],
        events=[EventOut.model_validate(e) for e in v.events],
        slas=[sla_out(s, now) for s in v.slas],
    )


@router.post("/tickets", response_model=TicketDetail, status_code=201)
def create_ticket(body: TicketCreate, request: Request, session: DB, who: Auth) -> TicketDetail:
    """Open a ticket for a customer (API or agent-created); a complaint is classified and
    graded, and the SLA policy that matches starts its clocks."""
    who.require("tickets:write")
    ticket = service.create(
        session,
        service.NewTicket(
            **body.model_dump(exclude={"type", "priority"}),
            type=body.type,
            priority=body.priority,
            channel=TicketChannel.agent if request.session.get("user_id") else TicketChannel.api,
            author_name=body.requester_name or who.name,
        ),
        actor=who.actor,
        config=_config(request),
    )
    return _detail(session, ticket.id)


@router.get("/tickets", response_model=TicketPage)
def list_tickets(
    session: DB,
    who: Auth,
    status: Annotated[list[str] | None, Query()] = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    type: str | None = None,
    category: str | None = None,
    customer_id: int | None = None,
    breached: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 25,
) -> TicketPage:
    """The queue, most urgent first, each ticket with the clock due soonest."""
    who.require("tickets:read")
    f = QueueFilter(
        status=status or (),
        assignee_id=assignee_id,
        unassigned=unassigned,
        team_id=team_id,
        type=type,
        category=category,
        customer_id=customer_id,
        breached=breached,
        q=q,
    )
    items, total = service.queue(session, f, offset=(page - 1) * per_page, limit=per_page)
    clocks, now = service.clocks_of(session, items), utcnow()
    return TicketPage(
        items=[ticket_out(t, clocks.get(t.id), now) for t in items], page=page, per_page=per_page, total=total
    )


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: int, session: DB, who: Auth) -> TicketDetail:
    """The ticket with its messages (notes included), full history and every SLA clock."""
    who.require("tickets:read")
    return _detail(session, ticket_id)


@router.post("/tickets/{ticket_id}/messages", response_model=MessageOut, status_code=201)
def add_message(ticket_id: int, body: MessageCreate, request: Request, session: DB, who: Auth) -> MessageOut:
    """A public reply to the customer, or an internal note (``internal: true``)."""
    who.require("tickets:write")
    message = service.reply(
        session,
        ticket_id,
        body.body,
        author=who.name,
        author_user_id=who.user_id,
        internal=body.internal,
        config=_config(request),
    )
    return MessageOut.model_validate(message)


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut)
def change_status(ticket_id: int, body: StatusChange, request: Request, session: DB, who: Auth) -> TicketOut:
    """Move the ticket along the workflow (409 ``ticket_bad_transition`` names the allowed)."""
    who.require("tickets:write")
    return ticket_out(
        service.set_status(session, ticket_id, body.status, actor=who.actor, config=_config(request))
    )


@router.post("/tickets/{ticket_id}/assign", response_model=TicketOut)
def assign(ticket_id: int, body: Assignment, request: Request, session: DB, who: Auth) -> TicketOut:
    who.require("tickets:write")
    ticket = service.assign(
        session,
        ticket_id,
        assignee_id=body.assignee_id,
        team_id=body.team_id,
        actor=who.actor,
        config=_config(request),
    )
    return ticket_out(ticket)


@router.post("/tickets/{ticket_id}/category", response_model=TicketOut)
def set_category(ticket_id: int, body: CategoryChange, session: DB, who: Auth) -> TicketOut:
    """Correct a complaint's category; the classifier learns from it."""
    who.require("tickets:write")
    return ticket_out(service.correct_category(session, ticket_id, body.category, actor=who.actor))


@router.post("/tickets/{ticket_id}/merge", response_model=TicketOut)
def merge(ticket_id: int, body: MergeRequest, request: Request, session: DB, who: Auth) -> TicketOut:
    """Merge this (duplicate) ticket into another of the same customer."""
    who.require("tickets:write")
    return ticket_out(
        service.merge(session, ticket_id, body.into_ticket_id, actor=who.actor, config=_config(request))
    )


# -- teams, SLA policies, reports ----------------------------------------------------------------


@router.post("/teams", response_model=TeamOut, status_code=201, tags=["sla"])
def create_team(body: TeamCreate, session: DB, who: Auth) -> TeamOut:
    """A team with its business hours (time zone, weekly hours, holidays)."""
    who.require("desk:admin")
    hours = (
        {day: [(i.start, i.end) for i in intervals] for day, intervals in body.hours.items()}
        if body.hours is not None
        else None
    )
    team = service.create_team(
        session,
        name=body.name,
        timezone=body.timezone,
        hours=hours,
        holidays=body.holidays,
        workdays=body.workdays,
    )
    return TeamOut.model_validate(team)


@router.get("/teams", response_model=list[TeamOut], tags=["sla"])
def list_teams(session: DB, who: Auth) -> list[TeamOut]:
    who.require("tickets:read")
    return [TeamOut.model_validate(t) for t in service.teams(session)]


@router.post("/sla-policies", response_model=SlaPolicyOut, status_code=201, tags=["sla"])
def create_policy(body: SlaPolicyCreate, session: DB, who: Auth) -> SlaPolicyOut:
    """Targets in business minutes for the tickets that match; the first by position applies."""
    who.require("desk:admin")
    return SlaPolicyOut.model_validate(service.create_policy(session, body.model_dump()))


@router.get("/sla-policies", response_model=list[SlaPolicyOut], tags=["sla"])
def list_policies(session: DB, who: Auth) -> list[SlaPolicyOut]:
    who.require("tickets:read")
    return [SlaPolicyOut.model_validate(p) for p in service.policies(session)]


@router.get("/sla/compliance", response_model=list[ComplianceRow], tags=["sla"])
def compliance(
    session: DB,
    who: Auth,
    by: Annotated[str | None, Query(description="team, agent, type or priority")] = None,
) -> list[ComplianceRow]:
    """Targets met, missed and in progress, per target (and group)."""
    who.require("tickets:read")
    return [ComplianceRow.model_validate(r) for r in service.compliance(session, by)]


@router.post("/sla/scan", response_model=ScanOut, tags=["sla"])
def scan(session: DB, who: Auth) -> ScanOut:
    """Record missed targets and warnings now (the worker does it every minute)."""
    who.require("desk:admin")
    breached, warned = service.scan(session)
    return ScanOut(breached=breached, warned=warned)


# -- the public form and tracking link -------------------------------------------------------------


def _public(request: Request, session: DB, ticket: Ticket) -> PublicTicketOut:
    return PublicTicketOut(
        reference=service.reference(ticket),
        subject=ticket.subject,
        status=ticket.status,
        created_at=ticket.created_at,
        messages=[MessageOut.model_validate(m) for m in service.public_messages(session, ticket)],
        tracking_url=str(request.url_for("public_ticket", token=ticket.public_token)),
    )


@router.post("/public/tickets", response_model=PublicTicketOut, status_code=201, tags=["public"])
def public_create(body: PublicTicketCreate, request: Request, session: DB) -> PublicTicketOut:
    """The customer's own form: no account; the answer carries the tracking link."""
    ticket = service.create_public(session, body.model_dump(), config=_config(request))
    return _public(request, session, ticket)


@router.get("/public/tickets/{token}", response_model=PublicTicketOut, tags=["public"], name="public_ticket")
def public_ticket(token: str, request: Request, session: DB) -> PublicTicketOut:
    return _public(request, session, service.by_token(session, token))


@router.post(
    "/public/tickets/{token}/messages", response_model=PublicTicketOut, status_code=201, tags=["public"]
)
def public_message(token: str, body: MessageCreate, request: Request, session: DB) -> PublicTicketOut:
    ticket = service.by_token(session, token)
    service.customer_message(
        session, ticket, body.body, author=ticket.requester_name or "customer", config=_config(request)
    )
    return _public(request, session, ticket)


# -- knowledge base and FAQ bot ------------------------------------------------------------------


@router.get("/kb/articles", response_model=list[ArticleOut], tags=["kb"])
def list_articles(
    session: DB, who: Auth, lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None
) -> list[ArticleOut]:
    who.require("tickets:read")
    return [ArticleOut.model_validate(a) for a in kb.articles(session, lang=lang)]


@router.put("/kb/articles/{slug}/{lang}", response_model=ArticleOut, tags=["kb"])
def save_article(slug: str, lang: str, body: ArticleIn, session: DB, who: Auth) -> ArticleOut:
    """Create or replace one language version of an article."""
    who.require("desk:admin")
    return ArticleOut.model_validate(kb.save(session, slug=slug, lang=lang, **body.model_dump()))


@router.get("/kb/search", response_model=list[HitOut], tags=["kb"])
def search_articles(
    session: DB,
    who: Auth,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None,
    k: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[HitOut]:
    """The best articles for a query, each with its best passage (for agents' replies)."""
    who.require("tickets:read")
    return [HitOut.model_validate(h) for h in kb.search(session, q, lang=lang, k=k)]


@router.post("/public/bot/ask", response_model=BotAnswer, tags=["public"])
def bot_ask(body: BotQuestion, session: DB) -> BotAnswer:
    """The FAQ bot: the best article's passages, or ``handover`` when it is not confident."""
    answer = kb.ask(session, body.question, lang=body.lang)
    return BotAnswer.model_validate(
        {
            "question": answer.question,
            "lang": answer.lang,
            "article_id": answer.article_id,
            "title": answer.title,
            "passages": list(answer.passages),
            "confidence": answer.confidence,
            "confident": answer.confident,
            "reason": answer.reason,
            "related": [HitOut.model_validate(h) for h in answer.related],
            "handover": not answer.confident,
        }
    )


@router.post("/public/bot/handover", response_model=PublicTicketOut, status_code=201, tags=["public"])
def bot_handover(body: HandoverRequest, request: Request, session: DB) -> PublicTicketOut:
    """Hand the conversation over to a person: a ticket holding it, with a tracking link."""
    ticket = kb.handover(
        session,
        [kb.Turn(t.who, t.text) for t in body.conversation],
        name=body.name,
        email=body.email,
        lang=body.lang,
        config=_config(request),
    )
    return _public(request, session, ticket)
