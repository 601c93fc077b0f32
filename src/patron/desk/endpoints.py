"""REST endpoints of the service desk: ``/api/v1/tickets``, teams, SLA policies and reports, and
the public ticket form and tracking link (``/api/v1/public/tickets``, no account needed)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from patron.accounts.dependencies import Auth
from patron.core.deps import DB
from patron.core.errors import InvalidInput, NotFound
from patron.core.time import utcnow
from patron.desk import aftersales, inbound, kb, quality, routing, service
from patron.desk.schemas import (
    ActionCreate,
    ActionOut,
    AgentIn,
    AgentKpiOut,
    AgentKpisOut,
    AgentOut,
    ArchiveOut,
    ArticleIn,
    ArticleOut,
    Assignment,
    AttachmentOut,
    BotAnswer,
    BotQuestion,
    CannedIn,
    CannedOut,
    CategoryChange,
    ComplianceRow,
    CountOut,
    CsatAnswer,
    CsatOut,
    CsatPublicOut,
    CsatSkip,
    CsatSkipOut,
    CsatSummaryOut,
    DashboardOut,
    DayCount,
    EventOut,
    HandoverRequest,
    HitOut,
    InboundEmailOut,
    MergeRequest,
    MessageCreate,
    MessageOut,
    ParetoOut,
    ParetoRowOut,
    PublicTicketCreate,
    PublicTicketOut,
    RefusedAttachmentOut,
    RemedyCreate,
    RemedyOut,
    ReturnPolicyIn,
    ReturnPolicyOut,
    ReviewOut,
    RootCauseChange,
    RootCauseOut,
    ScanOut,
    SlaOut,
    SlaPolicyCreate,
    SlaPolicyOut,
    SlaTargetOut,
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
from patron.models import CorrectiveAction, CsatSurvey, Ticket, TicketChannel, TicketSla

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
    archived: bool = False,
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
        archived=archived,
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
def scan(request: Request, session: DB, who: Auth) -> ScanOut:
    """Record missed targets and warnings now (the worker does it every minute)."""
    who.require("desk:admin")
    breached, warned = service.scan(session, config=_config(request))
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


# -- after-sales: review and remedies; agents; return policies; canned replies -------------------


@router.get("/tickets/{ticket_id}/review", response_model=ReviewOut, tags=["after-sales"])
def review(ticket_id: int, session: DB, who: Auth) -> ReviewOut:
    """Step 2 of after-sales: the return window that applies and what is left to refund."""
    who.require("tickets:read")
    return ReviewOut.model_validate(
        aftersales.review(session, service.get(session, ticket_id)), from_attributes=True
    )


@router.post("/tickets/{ticket_id}/remedies", response_model=RemedyOut, tags=["after-sales"])
def add_remedy(ticket_id: int, body: RemedyCreate, response: Response, session: DB, who: Auth) -> RemedyOut:
    """Carry out a remedy (refund, return, exchange, repair, reship, coupon, compensation):
    201 when done now, 200 when this idempotency key was already carried out."""
    who.require("tickets:write")
    remedy, new = aftersales.carry_out(
        session,
        service.live(session, ticket_id),
        aftersales.Decision(body.kind, body.key, body.amount_minor, body.note, body.override_window),
        actor=who.actor,
        actor_user_id=who.user_id,
        unlimited=who.can("desk:admin"),
    )
    response.status_code = 201 if new else 200
    return RemedyOut.model_validate(remedy)


@router.get("/tickets/{ticket_id}/remedies", response_model=list[RemedyOut], tags=["after-sales"])
def list_remedies(ticket_id: int, session: DB, who: Auth) -> list[RemedyOut]:
    who.require("tickets:read")
    return [RemedyOut.model_validate(r) for r in aftersales.remedies_of(session, ticket_id)]


@router.put("/return-policies", response_model=ReturnPolicyOut, tags=["after-sales"])
def set_return_policy(body: ReturnPolicyIn, session: DB, who: Auth) -> ReturnPolicyOut:
    """The return window for a shop and/or category (the most specific applies)."""
    who.require("desk:admin")
    return ReturnPolicyOut.model_validate(aftersales.set_policy(session, **body.model_dump()))


@router.put("/agents/{user_id}", response_model=AgentOut, tags=["routing"])
def set_agent(user_id: int, body: AgentIn, session: DB, who: Auth) -> AgentOut:
    """An agent's refund limit, capacity, skills and VIP flag (the fields given)."""
    who.require("desk:admin")
    return AgentOut.model_validate(aftersales.set_agent(session, user_id, **body.model_dump()))


@router.put("/canned-replies/{name}/{lang}", response_model=CannedOut, tags=["routing"])
def save_canned(name: str, lang: str, body: CannedIn, session: DB, who: Auth) -> CannedOut:
    who.require("desk:admin")
    return CannedOut.model_validate(routing.save_canned(session, name=name, lang=lang, body=body.body))


@router.get("/canned-replies", response_model=list[CannedOut], tags=["routing"])
def list_canned(
    session: DB, who: Auth, lang: Annotated[str | None, Query(pattern="^(zh|en)$")] = None
) -> list[CannedOut]:
    who.require("tickets:read")
    return [CannedOut.model_validate(c) for c in routing.canned_replies(session, lang)]


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


# -- service quality: CSAT, root causes, corrective actions, reports ----------------------------------


def _timezone(request: Request) -> str:
    return str(request.app.state.settings.default_timezone)


def _csat_url(request: Request, token: str) -> str:
    """The customer's survey page (the web route ``/support/csat/{token}``)."""
    return f"{str(request.base_url).rstrip('/')}/support/csat/{token}"


def _csat_public(request: Request, session: DB, survey: CsatSurvey) -> CsatPublicOut:
    return CsatPublicOut(
        reference=service.reference(service.get(session, survey.ticket_id)),
        answered=survey.answered_at is not None,
        score=survey.score,
        url=_csat_url(request, survey.token),
    )


@router.get("/public/csat/{token}", response_model=CsatPublicOut, tags=["public"])
def public_csat(token: str, request: Request, session: DB) -> CsatPublicOut:
    """The survey behind a survey link: answered yet or not."""
    return _csat_public(request, session, quality.survey(session, token))


@router.post("/public/csat/{token}", response_model=CsatPublicOut, tags=["public"])
def public_csat_answer(token: str, body: CsatAnswer, request: Request, session: DB) -> CsatPublicOut:
    """The customer's answer (no account: the link's token is the key). The first answer is
    final: another one is 409 ``csat_answered``; a score outside 1-5 is 400 ``csat_bad_score``."""
    survey = quality.answer(session, token, body.score, body.comment)
    return _csat_public(request, session, survey)


@router.get("/public/tickets/{token}/csat", response_model=CsatPublicOut, tags=["public"])
def public_ticket_csat(token: str, request: Request, session: DB) -> CsatPublicOut:
    """The survey of the ticket behind a tracking link, once it was resolved (404 before)."""
    survey = quality.survey_of(session, service.by_token(session, token).id)
    if survey is None:
        raise NotFound("no survey for this ticket yet", code="csat_not_found")
    return _csat_public(request, session, survey)


@router.get("/tickets/{ticket_id}/csat", response_model=CsatOut, tags=["quality"])
def ticket_csat(ticket_id: int, request: Request, session: DB, who: Auth) -> CsatOut:
    """The ticket's survey: link, agent, answer."""
    who.require("tickets:read")
    ticket = service.get(session, ticket_id)
    survey = quality.survey_of(session, ticket.id)
    if survey is None:
        raise NotFound("this ticket has no survey", code="csat_not_found")
    return CsatOut(
        reference=service.reference(ticket),
        answered=survey.answered_at is not None,
        score=survey.score,
        url=_csat_url(request, survey.token),
        ticket_id=ticket.id,
        agent_id=survey.agent_id,
        sent_at=survey.sent_at,
        comment=survey.comment,
        answered_at=survey.answered_at,
    )


@router.post("/tickets/{ticket_id}/csat-skip", response_model=CsatSkipOut, tags=["quality"])
def csat_skip(ticket_id: int, body: CsatSkip, session: DB, who: Auth) -> CsatSkipOut:
    """No survey when this ticket is resolved (409 ``csat_already_sent`` once it was sent)."""
    who.require("tickets:write")
    ticket = quality.set_csat_skip(session, ticket_id, body.skip, who.actor)
    return CsatSkipOut(ticket_id=ticket.id, csat_skip=ticket.csat_skip)


@router.post("/tickets/{ticket_id}/root-cause", response_model=RootCauseOut, tags=["quality"])
def set_root_cause(ticket_id: int, body: RootCauseChange, session: DB, who: Auth) -> RootCauseOut:
    """Set (or clear, with null) the ticket's root cause (codes: ``quality.ROOT_CAUSES``)."""
    who.require("tickets:write")
    ticket = quality.set_root_cause(session, ticket_id, body.root_cause, who.actor)
    return RootCauseOut(ticket_id=ticket.id, root_cause=ticket.root_cause)


@router.post("/tickets/{ticket_id}/archive", response_model=ArchiveOut, tags=["quality"])
def archive_ticket(ticket_id: int, session: DB, who: Auth) -> ArchiveOut:
    """Archive a closed ticket (409 ``ticket_not_closed`` otherwise); it stays in the reports."""
    who.require("tickets:write")
    ticket = quality.archive(session, ticket_id, who.actor)
    return ArchiveOut(ticket_id=ticket.id, archived_at=ticket.archived_at)


def _action_out(action: CorrectiveAction, on: date) -> ActionOut:
    data = {name: getattr(action, name) for name in ActionOut.model_fields if name != "overdue"}
    return ActionOut.model_validate(data | {"overdue": quality.is_overdue(action, on)})


@router.post("/corrective-actions", response_model=ActionOut, status_code=201, tags=["quality"])
def add_action(body: ActionCreate, request: Request, session: DB, who: Auth) -> ActionOut:
    """A corrective or preventive action against a root cause, with an owner and a due date."""
    who.require("tickets:write")
    action = quality.add_action(session, **body.model_dump(), actor=who.actor)
    return _action_out(action, quality.today(utcnow(), _timezone(request)))


@router.post("/corrective-actions/{action_id}/done", response_model=ActionOut, tags=["quality"])
def complete_action(action_id: int, request: Request, session: DB, who: Auth) -> ActionOut:
    """Mark an open action done (409 ``action_not_open`` if it is not open)."""
    who.require("tickets:write")
    action = quality.complete_action(session, action_id, who.actor)
    return _action_out(action, quality.today(utcnow(), _timezone(request)))


@router.post("/corrective-actions/{action_id}/cancel", response_model=ActionOut, tags=["quality"])
def cancel_action(action_id: int, request: Request, session: DB, who: Auth) -> ActionOut:
    who.require("tickets:write")
    action = quality.complete_action(session, action_id, who.actor, cancel=True)
    return _action_out(action, quality.today(utcnow(), _timezone(request)))


@router.get("/corrective-actions", response_model=list[ActionOut], tags=["quality"])
def list_actions(
    request: Request,
    session: DB,
    who: Auth,
    open: bool = False,
    overdue: bool = False,
    ticket_id: int | None = None,
) -> list[ActionOut]:
    """Actions by due date: all, the open ones (``open=true``) or the overdue (``overdue=true``)."""
    who.require("tickets:read")
    now, tz = utcnow(), _timezone(request)
    actions = quality.list_actions(
        session, open_only=open, overdue_only=overdue, ticket_id=ticket_id, now=now, timezone=tz
    )
    on = quality.today(now, tz)
    return [_action_out(a, on) for a in actions]


@router.get("/desk/pareto", response_model=ParetoOut, tags=["quality"])
def pareto(
    request: Request,
    session: DB,
    who: Auth,
    by: Annotated[str, Query(description="category, root_cause, sku, carrier, shop or agent")],
    since: date | None = None,
    until: date | None = None,
    type: Annotated[str, Query(description="a ticket type, or all")] = "complaint",
) -> ParetoOut:
    """Tickets opened in the period (local days, both included; default the last 30) per value,
    most first, with their share and the cumulative share."""
    who.require("tickets:read")
    start, end = quality.period(since, until, timezone=_timezone(request))
    kind = None if type == "all" else type
    rows = quality.pareto(session, by, since=start, until=end, type=kind)
    return ParetoOut(
        by=by,
        type=kind,
        since=start,
        until=end,
        total=sum(r.count for r in rows),
        rows=[ParetoRowOut.model_validate(r) for r in rows],
    )


@router.get("/desk/agents", response_model=AgentKpisOut, tags=["quality"])
def agent_kpis(
    request: Request, session: DB, who: Auth, since: date | None = None, until: date | None = None
) -> AgentKpisOut:
    """Each agent's KPIs over the tickets opened in the period (local days, both included)."""
    who.require("tickets:read")
    start, end = quality.period(since, until, timezone=_timezone(request))
    agents = quality.agent_kpis(session, since=start, until=end)
    return AgentKpisOut(since=start, until=end, agents=[AgentKpiOut.model_validate(a) for a in agents])


def dashboard_out(d: quality.Dashboard) -> DashboardOut:
    return DashboardOut(
        since=d.since,
        until=d.until,
        days=d.days,
        timezone=d.timezone,
        total=d.total,
        volume=[DayCount(day=day, count=n) for day, n in d.volume],
        by_channel=[CountOut(key=k, count=n) for k, n in d.by_channel],
        by_type=[CountOut(key=k, count=n) for k, n in d.by_type],
        backlog=[CountOut(key=k, count=n) for k, n in d.backlog],
        sla=[SlaTargetOut.model_validate(r) for r in d.sla],
        csat=CsatSummaryOut.model_validate(d.csat),
        complaints_by_category=[ParetoRowOut.model_validate(r) for r in d.complaints_by_category],
        complaints_by_root_cause=[ParetoRowOut.model_validate(r) for r in d.complaints_by_root_cause],
        agents=[AgentKpiOut.model_validate(a) for a in d.agents],
        actions_open=d.actions_open,
        actions_overdue=d.actions_overdue,
    )


@router.get("/desk/dashboard", response_model=DashboardOut, tags=["quality"])
def dashboard(
    request: Request, session: DB, who: Auth, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> DashboardOut:
    """The service dashboard's figures over the last ``days`` days (today included)."""
    who.require("tickets:read")
    return dashboard_out(quality.dashboard(session, utcnow(), days, timezone=_timezone(request)))


# -- inbound email and attachments ------------------------------------------------------------------

RAW_EMAIL_TYPES = ("message/rfc822", "application/octet-stream")


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is longer than ``limit``."""
    too_large = InvalidInput(
        f"the email is larger than {limit // 2**20} MB",
        code="email_too_large",
        status=413,
        data={"limit": limit},
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _inbound_out(result: inbound.InboundResult) -> InboundEmailOut:
    return InboundEmailOut(
        ticket_id=result.ticket.id if result.ticket is not None else None,
        reference=result.reference,
        message_id=result.message.id if result.message is not None else None,
        created=result.created,
        threaded=result.threaded,
        duplicate=result.duplicate,
        ignored=result.ignored,
        automatic=result.automatic,
        follows_up=result.follows_up,
        attachments=[AttachmentOut.model_validate(a) for a in result.attachments],
        refused=[RefusedAttachmentOut.model_validate(r) for r in result.refused],
    )


@router.post(
    "/inbound/email",
    response_model=InboundEmailOut,
    status_code=201,
    tags=["inbound"],
    responses={202: {"model": InboundEmailOut, "description": "automatic mail on no thread: ignored"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in RAW_EMAIL_TYPES},
        }
    },
)
async def inbound_email(request: Request, response: Response, session: DB, who: Auth) -> InboundEmailOut:
    """One raw RFC 822 email from the mail gateway (body ``message/rfc822`` or
    ``application/octet-stream``, at most 30 MB; an API key with ``tickets:write``): a new ticket,
    a message on the ticket it answers, or, delivered again, nothing new (``duplicate``).
    Automatic mail (out-of-office, bounces) on no thread is ignored (202)."""
    who.require("tickets:write")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in RAW_EMAIL_TYPES:
        raise InvalidInput(
            "send the raw email as message/rfc822 or application/octet-stream",
            code="email_bad_content_type",
            status=415,
            data={"allowed": list(RAW_EMAIL_TYPES)},
        )
    raw = await _read_limited(request, inbound.MAX_EMAIL_BYTES)
    config = _config(request)

    def work() -> InboundEmailOut:
        return _inbound_out(inbound.receive_email(session, raw, config=config))

    out = await run_in_threadpool(work)
    if out.ignored is not None:
        response.status_code = 202
    return out


@router.post("/tickets/{ticket_id}/attachments", response_model=AttachmentOut, status_code=201)
def upload_attachment(
    ticket_id: int,
    session: DB,
    who: Auth,
    file: Annotated[UploadFile, File(description="at most 10 MB")],
    message_id: Annotated[int | None, Form()] = None,
) -> AttachmentOut:
    """Attach a file (JPEG, PNG, GIF, WebP, HEIC, PDF, text, CSV, DOCX, XLSX, MP4; at most
    10 MB), to one of the ticket's messages if ``message_id`` is given. The content must be
    what its type says (400 ``attachment_type_mismatch``)."""
    who.require("tickets:write")
    data = file.file.read(inbound.MAX_ATTACHMENT_BYTES + 1)
    row = inbound.add_attachment(
        session, ticket_id, file.filename, file.content_type, data, message_id=message_id, actor=who.actor
    )
    return AttachmentOut.model_validate(row)


@router.get("/tickets/{ticket_id}/attachments", response_model=list[AttachmentOut])
def list_attachments(ticket_id: int, session: DB, who: Auth) -> list[AttachmentOut]:
    who.require("tickets:read")
    return [AttachmentOut.model_validate(a) for a in inbound.attachments_of(session, ticket_id)]


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII name for old clients and the real one (RFC 6266)."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename)
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"description": "the file, as a download", "content": {"application/octet-stream": {}}}},
)
def download_attachment(attachment_id: int, session: DB, who: Auth) -> Response:
    """The file, always as a download, in its stored type, never sniffed or run by the browser."""
    who.require("tickets:read")
    row = inbound.get_attachment(session, attachment_id)
    return Response(
        row.data,
        headers={
            # Set as stored: Starlette would add "; charset=utf-8" to a text type (a GBK .txt).
            "Content-Type": row.content_type,
            "Content-Disposition": _disposition(row.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
