"""Web pages of the service desk: the agents' queue and ticket page, and the customers' public
support form and tracking page (no account: the secret token in the tracking link is the key).

Conventions are those of :mod:`patron.web.pages`: server-rendered Jinja through ``render``,
every text from :mod:`patron.web.i18n`, times in the instance's time zone.

* **Forms and CSRF.** The same defence as every other page: the session cookie is
  ``SameSite=Lax``, so a POST from another site carries no session and is refused as anonymous.
  The public forms need no session at all.
* **Errors.** A failed action (a :class:`PatronError`: a move the workflow forbids, a closed
  ticket, a role without ``tickets:write``) rolls the request's transaction back and renders the
  ticket page again with the error (translated when the catalogue knows its code) and the reply's
  draft, with the error's HTTP status. A successful action redirects back (303).
* **Now.** Every page and action reads the clock through this module's ``utcnow`` so that tests
  can pin it; the SLA badges show the wall-clock time left to the deadline.
* **The nav link.** ``base.html`` shows *Tickets* only to those who may read tickets, through the
  ``can(scope)`` Jinja global registered here on the shared template environment (``render``
  does not pass the principal): a desk page hands over its principal, other pages look the
  user up once per request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context
from pydantic import ValidationError
from sqlalchemy.orm import Session, object_session

from patron.accounts import service as accounts
from patron.accounts.service import Principal
from patron.analytics.explain import label as explain_label
from patron.commerce import service as commerce
from patron.core.deps import DB
from patron.core.errors import InvalidInput, NotFound, PatronError
from patron.core.masking import mask_email
from patron.core.money import format_minor
from patron.core.parsing import FieldError, parse_money
from patron.core.time import as_utc, utcnow
from patron.customers import service as customers
from patron.desk import aftersales, complaints, kb, quality, routing, service, sla
from patron.desk.schemas import PublicTicketCreate
from patron.models import CsatSurvey, Ticket, TicketEvent, TicketSla, TicketType
from patron.scoring import service as scoring
from patron.web.i18n import MESSAGES, label, translate
from patron.web.pages import WebUser, lang_of, render, templates

router = APIRouter(include_in_schema=False)

PER_PAGE = 25
STATUSES = tuple(service.WORKFLOW)
#: What the queue shows when no status is chosen: everything still to be worked on.
ACTIVE = ("new", "open", "waiting_customer", "waiting_third_party", "reopened")
TYPES = tuple(str(t) for t in TicketType)
BREACHED = {"yes": True, "no": False}
PUBLIC_HEADERS = {
    # The tracking link is the customer's only key: never leak it to another site, a cache or
    # a search engine.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def _config(request: Request) -> service.DeskConfig:
    return service.config_of(request.app.state.settings)


# -- who may see the Tickets link ------------------------------------------------------------------


@pass_context
def _can(ctx: Any, scope: str) -> bool:
    """``can('tickets:read')`` in templates: the signed-in user's scope, as the request's
    authentication found it (anonymous pages: nothing)."""
    request = ctx.get("request")
    who = getattr(request.state, "principal", None) if request is not None else None
    return isinstance(who, Principal) and who.can(scope)


templates.env.globals["can"] = _can


# -- SLA badges and clocks -------------------------------------------------------------------------


def span(minutes: int, lang: str) -> str:
    """42 min, 2 h 5 min, 3 h, 1 d 4 h."""
    minutes = max(0, minutes)
    if minutes < 60:
        return translate("sla.min", lang, m=minutes)
    if minutes < 24 * 60:
        h, m = divmod(minutes, 60)
        return translate("sla.h_min", lang, h=h, m=m) if m else translate("sla.h", lang, h=h)
    d, rest = divmod(minutes, 24 * 60)
    h = rest // 60
    return translate("sla.d_h", lang, d=d, h=h) if h else translate("sla.d", lang, d=d)


def _minutes_left(due: datetime, now: datetime) -> int:
    return int((as_utc(due) - now).total_seconds() // 60)


@dataclass(frozen=True)
class Badge:
    state: str  # running, warning, breached, paused, met, missed
    text: str
    title: str


def clock_badge(clock: TicketSla, now: datetime, lang: str) -> Badge:
    state = sla.state(clock, now)
    target = label("sla.target", clock.target, lang)
    if state in ("running", "warning") and clock.due_at is not None:
        text = span(_minutes_left(clock.due_at, now), lang)
        return Badge(state, text, translate("sla.left_of", lang, target=target))
    return Badge(state, label("sla.state", state, lang), target)


def _done_badge(clocks: Sequence[TicketSla], lang: str) -> Badge | None:
    if not clocks:
        return None
    state = "missed" if any(c.breached_at is not None for c in clocks) else "met"
    return Badge(state, label("sla.state", state, lang), "")


def badges(session: Session, tickets: Sequence[Ticket], now: datetime, lang: str) -> dict[int, Badge]:
    """Per ticket the badge of its clock due soonest; met or missed once every clock stopped."""
    out: dict[int, Badge] = {}
    for ticket_id, clock in service.clocks_of(session, tickets).items():
        out[ticket_id] = clock_badge(clock, now, lang)
    stopped = [t.id for t in tickets if t.id not in out and t.sla_policy_id is not None]
    for ticket_id, clocks in service.slas_of(session, stopped).items():
        done = _done_badge(clocks, lang)
        if done is not None:
            out[ticket_id] = done
    return out


@dataclass(frozen=True)
class ClockRow:
    target: str
    state: str
    state_text: str
    elapsed: str
    goal: str
    due: datetime | None


def clock_rows(
    session: Session,
    ticket: Ticket,
    clocks: Iterable[TicketSla],
    now: datetime,
    lang: str,
    config: service.DeskConfig,
) -> list[ClockRow]:
    cal = sla.calendar_of(session, ticket, config.timezone)
    rows = []
    for c in clocks:
        elapsed = c.elapsed_minutes
        if c.running_since is not None and c.stopped_at is None:
            elapsed += cal.business_minutes(as_utc(c.running_since), now)
        target = label("sla.target", c.target, lang)
        if c.target == "next_response":
            target = f"{target} #{c.seq + 1}"
        badge = clock_badge(c, now, lang)
        running = badge.state in ("running", "warning")
        text = translate("sla.left", lang, left=badge.text) if running else badge.text
        rows.append(
            ClockRow(target, badge.state, text, span(elapsed, lang), span(c.target_minutes, lang), c.due_at)
        )
    return rows


# -- the queue -------------------------------------------------------------------------------------


def _customer_names(session: Session, tickets: Iterable[Ticket]) -> dict[int, tuple[int, str | None]]:
    """Ticket's customer id -> (the customer's id after merges, name)."""
    out: dict[int, tuple[int, str | None]] = {}
    for t in tickets:
        if t.customer_id is not None and t.customer_id not in out:
            c = customers.get(session, t.customer_id)
            out[t.customer_id] = (c.id, c.name)
    return out


@router.get("/tickets")
def queue_page(
    request: Request,
    session: DB,
    who: WebUser,
    status: Annotated[list[str] | None, Query()] = None,
    filtered: str | None = None,
    assignee: str = "",
    type: str = "",
    category: str = "",
    breached: str = "",
    archived: str = "",
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    who.require("tickets:read")
    lang = lang_of(request)
    chosen = [s for s in (status or []) if s in STATUSES]
    if not chosen and filtered is None:
        chosen = list(ACTIVE)
    f = service.QueueFilter(
        status=tuple(chosen),
        assignee_id=who.user_id if assignee == "mine" else None,
        unassigned=assignee == "unassigned",
        type=type or None,
        category=category or None,
        breached=BREACHED.get(breached),
        q=(q or "").strip() or None,
        archived=archived == "1",
    )
    items, total = service.queue(session, f, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    now = utcnow()

    def url_with(**changes: object) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
        params += [(k, str(v)) for k, v in changes.items()]
        return f"{request.url.path}?{urlencode(params)}"

    return render(
        request,
        "tickets.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        badges=badges(session, items, now, lang),
        names=_customer_names(session, items),
        reference=service.reference,
        statuses=STATUSES,
        types=TYPES,
        categories=complaints.CATEGORIES,
        chosen=chosen,
        filters={
            "assignee": assignee,
            "type": type,
            "category": category,
            "breached": breached,
            "archived": archived == "1",
            "q": q or "",
        },
        url_with=url_with,
    )


# -- the ticket ------------------------------------------------------------------------------------


def _user_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    out = {}
    for user_id in set(ids):
        user = accounts.get_user(session, user_id)
        if user is not None:
            out[user_id] = user.name
    return out


def _actor_ids(events: Iterable[TicketEvent]) -> set[int]:
    ids = set()
    for e in events:
        if e.actor.startswith("user:") and e.actor[5:].isdigit():
            ids.add(int(e.actor[5:]))
        if e.action == "assigned" and isinstance(e.data.get("assignee_id"), int):
            ids.add(e.data["assignee_id"])
    return ids


def _actor(actor: str, users: dict[int, str], lang: str) -> str:
    if actor.startswith("user:") and actor[5:].isdigit():
        return users.get(int(actor[5:]), actor)
    if actor in ("sla", "customer", "import", "api"):
        return translate(f"ticket.actor.{actor}", lang)
    return actor


def _ref(ticket_id: object) -> str:
    return f"T-{ticket_id:06d}" if isinstance(ticket_id, int) else str(ticket_id)


def describe(event: TicketEvent, users: dict[int, str], lang: str) -> str:
    """One line of the history in words."""
    d = event.data

    def name(group: str, value: object) -> str:
        return label(group, str(value), lang) if value is not None else "—"

    values: dict[str, object] = {}
    match event.action:
        case "created":
            values = {
                "channel": name("ticket.channel", d.get("channel")),
                "type": name("ticket.type", d.get("type")),
            }
        case "sla_policy":
            values = {"policy": d.get("policy", "")}
        case "status":
            values = {
                "before": name("ticket.status", d.get("from")),
                "after": name("ticket.status", d.get("to")),
            }
        case "category":
            values = {
                "before": name("ticket.category", d.get("from")),
                "after": name("ticket.category", d.get("to")),
            }
        case "escalated" | "member_priority":
            values = {
                "before": name("ticket.priority", d.get("from")),
                "after": name("ticket.priority", d.get("to")),
            }
        case "assigned":
            assignee = d.get("assignee_id")
            if assignee is None:
                return translate("ticket.event.unassigned", lang)
            values = {"name": users.get(assignee, f"#{assignee}") if isinstance(assignee, int) else assignee}
        case "merged_into":
            values = {"ref": _ref(d.get("into"))}
        case "merged_from":
            values = {"ref": _ref(d.get("source")), "n": d.get("messages", 0)}
        case "sla_breached" | "sla_warning":
            values = {"target": name("sla.target", d.get("target"))}
        case "mailed":
            what = str(d.get("what", ""))
            if what.startswith("sla."):  # staff mail: the address is a colleague's, not PII
                values = {"what": name("mail.what", what), "to": d.get("to", "")}
                return translate("ticket.event.mailed_staff", lang, **values)
            values = {"what": name("mail.what", what)}
        case "remedy":
            amount = int(d.get("amount_minor") or 0)
            currency = str(d.get("currency") or "")
            values = {
                "kind": name("remedy.kind", d.get("kind")),
                "amount": f"{format_minor(amount, currency)} {currency}" if amount else "",
            }
    key = f"ticket.event.{event.action}"
    if key not in MESSAGES:
        return event.action
    return translate(key, lang, **values)


def error_text(error: PatronError, lang: str) -> str:
    key = f"desk.error.{error.code}"
    return translate(key, lang) if key in MESSAGES else error.message


def _customer_panel(
    request: Request, session: Session, who: Principal, ticket: Ticket, lang: str
) -> dict[str, Any] | None:
    if ticket.customer_id is None or not who.can("customers:read"):
        return None
    view = customers.profile_360(
        session,
        ticket.customer_id,
        reporting_currency=request.app.state.settings.reporting_currency,
        pii=who.can("customers:pii"),
        limit=5,
    )
    scores = scoring.scores_of(session, view.customer.id, lang=lang, limit=1)
    previous = [
        t for t in service.tickets_of_customer(session, view.customer.id, limit=6) if t.id != ticket.id
    ]
    return {
        "c": view.customer,
        "score": scores[0] if scores else None,
        "orders": view.orders[:5],
        "orders_total": view.orders_total,
        "previous": previous[:5],
        "score_label": lambda key: explain_label(key, lang) if key else "—",
    }


def _ticket_page(
    request: Request,
    session: Session,
    who: Principal,
    ticket_id: int,
    *,
    error: PatronError | None = None,
    draft: str = "",
    draft_internal: bool = False,
) -> Response:
    lang, config, now = lang_of(request), _config(request), utcnow()
    v = service.view(session, ticket_id)
    tk = v.ticket
    users = _user_names(session, _actor_ids(v.events) | ({tk.assignee_id} if tk.assignee_id else set()))
    pii = who.can("customers:pii")
    requester = " ".join(
        part
        for part in (tk.requester_name, tk.requester_email if pii else mask_email(tk.requester_email))
        if part
    )
    policy = next((p for p in service.policies(session) if p.id == tk.sla_policy_id), None)
    return render(
        request,
        "ticket.html",
        status=error.status if error else 200,
        tk=tk,
        ref=service.reference(tk),
        reference=service.reference,
        messages=v.messages,
        clocks=clock_rows(session, tk, v.slas, now, lang, config),
        policy_name=policy.name if policy else None,
        history=[
            (e.created_at, _actor(e.actor, users, lang), describe(e, users, lang)) for e in reversed(v.events)
        ],
        assignee=users.get(tk.assignee_id) if tk.assignee_id else None,
        mine=tk.assignee_id is not None and tk.assignee_id == who.user_id,
        requester=requester,
        order=commerce.get_order(session, tk.order_id) if tk.order_id else None,
        moves=config.workflow.get(tk.status, ()),
        categories=complaints.CATEGORIES,
        can_write=who.can("tickets:write"),
        cust=_customer_panel(request, session, who, tk, lang),
        error=error,
        error_text=error_text(error, lang) if error else "",
        draft=draft or _canned_draft(request, session, tk, who, lang),
        draft_internal=draft_internal,
        review=aftersales.review(session, tk, now=now) if tk.order_id else None,
        remedies=aftersales.remedies_of(session, tk.id),
        remedy_kinds=tuple(aftersales.KINDS),
        # A fresh idempotency key per page: submitting the form twice carries out the remedy once.
        remedy_key=secrets.token_urlsafe(12),
        canned=routing.canned_replies(session, tk.language),
    )


def _canned_draft(request: Request, session: Session, tk: Ticket, who: Principal, lang: str) -> str:
    """The reply box pre-filled with the canned reply chosen (``?canned=name``)."""
    name = request.query_params.get("canned")
    if not name:
        return ""
    customer = customers.get(session, tk.customer_id).name if tk.customer_id else tk.requester_name
    values = {
        "customer_name": customer or "",
        "ticket": service.reference(tk),
        "order": commerce.get_order(session, tk.order_id).external_id if tk.order_id else "",
        "agent": who.name,
    }
    try:
        return routing.render_canned(session, name, tk.language, values)
    except PatronError:
        return ""


@router.get("/tickets/{ticket_id}")
def ticket_page(ticket_id: int, request: Request, session: DB, who: WebUser) -> Response:
    who.require("tickets:read")
    return _ticket_page(request, session, who, ticket_id)


@router.post("/tickets/{ticket_id}/remedy")
def remedy(
    ticket_id: int,
    request: Request,
    session: DB,
    who: WebUser,
    kind: Annotated[str, Form()] = "",
    key: Annotated[str, Form(max_length=100)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    override_window: Annotated[str | None, Form()] = None,
) -> Response:
    """Carry out a remedy from the ticket page (the page's key makes a double submit harmless)."""

    def act() -> None:
        ticket = service.live(session, ticket_id)
        checked = aftersales.review(session, ticket)
        currency = checked.currency or request.app.state.settings.reporting_currency
        try:
            minor = parse_money(amount, currency) if amount.strip() else 0
        except FieldError as e:
            raise InvalidInput(f"not an amount: {amount!r}", code="remedy_bad_amount") from e
        decision = aftersales.Decision(kind, key, minor, note.strip() or None, bool(override_window))
        aftersales.carry_out(
            session,
            ticket,
            decision,
            actor=who.actor,
            actor_user_id=who.user_id,
            unlimited=who.can("desk:admin"),
        )

    return _act(request, session, who, ticket_id, act)


MAX_MESSAGE = 20_000


def _check_length(body: str) -> None:
    if len(body) > MAX_MESSAGE:
        raise InvalidInput(f"a message holds at most {MAX_MESSAGE} characters", code="ticket_too_long")


def _act(
    request: Request,
    session: Session,
    who: Principal,
    ticket_id: int,
    action: Callable[[], str | None],
    *,
    draft: str = "",
    draft_internal: bool = False,
) -> Response:
    """Run an agent's action; redirect back (or where it says), or show why it was not done."""
    try:
        who.require("tickets:write")
        target = action()
    except PatronError as exc:
        session.rollback()
        return _ticket_page(
            request, session, who, ticket_id, error=exc, draft=draft, draft_internal=draft_internal
        )
    return RedirectResponse(target or f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/reply")
def reply(
    ticket_id: int,
    request: Request,
    session: DB,
    who: WebUser,
    body: Annotated[str, Form()] = "",
    internal: Annotated[str | None, Form()] = None,
) -> Response:
    def act() -> None:
        _check_length(body)
        service.reply(
            session,
            ticket_id,
            body,
            author=who.name,
            author_user_id=who.user_id,
            internal=bool(internal),
            config=_config(request),
            now=utcnow(),
        )

    return _act(request, session, who, ticket_id, act, draft=body, draft_internal=bool(internal))


@router.post("/tickets/{ticket_id}/status")
def change_status(
    ticket_id: int, request: Request, session: DB, who: WebUser, status: Annotated[str, Form()] = ""
) -> Response:
    def act() -> None:
        service.set_status(session, ticket_id, status, actor=who.actor, config=_config(request), now=utcnow())

    return _act(request, session, who, ticket_id, act)


@router.post("/tickets/{ticket_id}/assign")
def assign(
    ticket_id: int, request: Request, session: DB, who: WebUser, to: Annotated[str, Form()] = "me"
) -> Response:
    def act() -> None:
        service.assign(
            session,
            ticket_id,
            assignee_id=None if to == "nobody" else who.user_id,
            team_id=None,  # the team stays
            actor=who.actor,
            config=_config(request),
            now=utcnow(),
        )

    return _act(request, session, who, ticket_id, act)


@router.post("/tickets/{ticket_id}/category")
def correct_category(
    ticket_id: int, request: Request, session: DB, who: WebUser, category: Annotated[str, Form()] = ""
) -> Response:
    def act() -> None:
        service.correct_category(session, ticket_id, category, actor=who.actor)

    return _act(request, session, who, ticket_id, act)


@router.post("/tickets/{ticket_id}/merge")
def merge(
    ticket_id: int,
    request: Request,
    session: DB,
    who: WebUser,
    into: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    def act() -> str:
        into_id = service.parse_reference(into)
        if into_id is None:
            raise InvalidInput(f"not a ticket reference: {into!r}", code="ticket_bad_reference")
        target = service.merge(
            session, ticket_id, into_id, actor=who.actor, config=_config(request), now=utcnow()
        )
        return f"/tickets/{target.id}"

    return _act(request, session, who, ticket_id, act)


# -- the public form and tracking page ---------------------------------------------------------------


FIELD_ERRORS = {
    "missing": "public.required",
    "string_too_short": "public.required",
    "string_too_long": "public.too_long",
    "enum": "public.bad_type",
}


def _field_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "form"
        key = FIELD_ERRORS.get(e["type"], "public.bad_email" if field == "email" else "public.invalid")
        errors.setdefault(field, translate(key, lang))
    return errors


def _form_page(
    request: Request,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: PatronError | None = None,
) -> Response:
    lang = lang_of(request)
    return render(
        request,
        "public_ticket_form.html",
        status=status,
        form=form or {"type": "inquiry"},
        errors=errors or {},
        types=TYPES,
        error=error,
        error_text=error_text(error, lang) if error else "",
    )


@router.get("/support")
def support_form(
    request: Request,
    subject: Annotated[str, Query(max_length=300)] = "",
    body: Annotated[str, Query(max_length=5000)] = "",
) -> Response:
    """The form; the FAQ bot hands over with the customer's question already in it."""
    return _form_page(request, form={"type": "inquiry", "subject": subject, "body": body})


@router.get("/support/help")
def help_page(request: Request, session: DB, q: Annotated[str, Query(max_length=2000)] = "") -> Response:
    """The FAQ bot for customers: the best article's passages, or a hand-over to a person (the
    support form, filled with the question and the bot's answer)."""
    lang = lang_of(request)
    answer = kb.ask(session, q, lang=lang) if q.strip() else None
    handover = ""
    if answer is not None:
        said = answer.title if answer.confident else translate("help.unsure", lang)
        transcript = f"{translate('help.you', lang)}: {q.strip()}\n{translate('help.bot', lang)}: {said}"
        handover = "/support?" + urlencode({"subject": q.strip()[:120], "body": transcript})
    return render(request, "public_help.html", q=q, answer=answer, handover=handover)


@router.post("/support")
def support_submit(
    request: Request,
    session: DB,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    order_number: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "inquiry",
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> Response:
    """Open a ticket from the public form: nothing is created unless every field is right."""
    lang = lang_of(request)
    form = {
        "name": name.strip(),
        "email": email.strip(),
        "order_number": order_number.strip(),
        "type": type,
        "subject": subject.strip(),
        "body": body.strip(),
    }
    try:
        data = PublicTicketCreate.model_validate(
            {**form, "order_number": form["order_number"] or None, "language": lang}
        )
    except ValidationError as exc:
        return _form_page(request, status=422, form=form, errors=_field_errors(exc, lang))
    try:
        ticket = service.create_public(session, data.model_dump(mode="json"), config=_config(request))
    except PatronError as exc:
        session.rollback()
        return _form_page(request, status=exc.status, form=form, error=exc)
    return RedirectResponse(f"/support/t/{ticket.public_token}", status_code=303)


def _tracking_page(
    request: Request,
    session: Session,
    ticket: Ticket | None,
    *,
    status: int = 200,
    error: PatronError | None = None,
    draft: str = "",
) -> Response:
    lang = lang_of(request)
    response = render(
        request,
        "public_ticket.html",
        status=status,
        ticket=ticket,
        token=request.path_params.get("token", ""),
        ref=service.reference(ticket) if ticket else "",
        mailed=ticket is not None and bool(ticket.requester_email) and _config(request).mail is not None,
        messages=service.public_messages(session, ticket) if ticket else [],
        error=error,
        error_text=error_text(error, lang) if error else "",
        draft=draft,
    )
    response.headers.update(PUBLIC_HEADERS)
    return response


def _by_token(session: Session, token: str) -> Ticket | None:
    try:
        return service.by_token(session, token)
    except NotFound:
        return None


@router.get("/support/t/{token}")
def tracking_page(token: str, request: Request, session: DB) -> Response:
    ticket = _by_token(session, token)
    return _tracking_page(request, session, ticket, status=200 if ticket else 404)


@router.post("/support/t/{token}")
def tracking_message(
    token: str,
    request: Request,
    session: DB,
    body: Annotated[str, Form()] = "",
) -> Response:
    ticket = _by_token(session, token)
    if ticket is None:
        return _tracking_page(request, session, None, status=404)
    try:
        if not body.strip():
            raise InvalidInput("the message is empty", code="ticket_empty")
        _check_length(body)
        service.customer_message(
            session,
            ticket,
            body,
            author=ticket.requester_name or "customer",
            config=_config(request),
            now=utcnow(),
        )
    except PatronError as exc:
        session.rollback()
        return _tracking_page(
            request, session, _by_token(session, token), status=exc.status, error=exc, draft=body
        )
    response = RedirectResponse(f"/support/t/{token}", status_code=303)
    response.headers.update(PUBLIC_HEADERS)
    return response


# -- service quality: the dashboard, root causes, CSAT (patron.desk.quality) ------------------------
#
# The ticket and tracking pages read a ticket's survey through the ``csat_of`` Jinja global
# (the ticket's own session, so the same transaction), and the root-cause codes through
# ``root_causes``: their handlers above stay as they are.

DASHBOARD_DAYS = (7, 30, 90)


def _csat_of(ticket: Ticket | None) -> CsatSurvey | None:
    session = object_session(ticket) if ticket is not None else None
    if ticket is None or session is None:
        return None
    return quality.survey_of(session, ticket.id)


templates.env.globals["csat_of"] = _csat_of
templates.env.globals["root_causes"] = tuple(quality.ROOT_CAUSES)


def duration(minutes: float | None, lang: str) -> str:
    """A median in words (rounded to the minute), or a dash."""
    return "—" if minutes is None else span(int(minutes + 0.5), lang)


@router.get("/desk")
def dashboard_page(
    request: Request,
    session: DB,
    who: WebUser,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    """The service dashboard: volumes, backlog, SLA compliance, CSAT, complaints' Pareto by
    category and root cause, agents' KPIs (figures: :func:`patron.desk.quality.dashboard`)."""
    who.require("tickets:read")
    lang = lang_of(request)
    d = quality.dashboard(session, utcnow(), days, timezone=_config(request).timezone)
    return render(
        request,
        "desk_dashboard.html",
        d=d,
        days_options=DASHBOARD_DAYS,
        duration=lambda minutes: duration(minutes, lang),
    )


@router.post("/tickets/{ticket_id}/root-cause")
def root_cause_form(
    ticket_id: int, request: Request, session: DB, who: WebUser, root_cause: Annotated[str, Form()] = ""
) -> Response:
    def act() -> None:
        quality.set_root_cause(session, ticket_id, root_cause or None, who.actor, now=utcnow())

    return _act(request, session, who, ticket_id, act)


@router.post("/tickets/{ticket_id}/csat-skip")
def csat_skip_form(
    ticket_id: int, request: Request, session: DB, who: WebUser, skip: Annotated[str, Form()] = "1"
) -> Response:
    def act() -> None:
        quality.set_csat_skip(session, ticket_id, skip == "1", who.actor, now=utcnow())

    return _act(request, session, who, ticket_id, act)


def _survey(session: Session, token: str) -> CsatSurvey | None:
    try:
        return quality.survey(session, token)
    except NotFound:
        return None


def _csat_page(
    request: Request,
    session: Session,
    survey: CsatSurvey | None,
    *,
    status: int = 200,
    error: PatronError | None = None,
    score: str = "",
    comment: str = "",
) -> Response:
    lang = lang_of(request)
    ticket = service.get(session, survey.ticket_id) if survey is not None else None
    key = f"csat.error.{error.code}" if error else ""
    response = render(
        request,
        "public_csat.html",
        status=status,
        survey=survey,
        ticket=ticket,
        ref=service.reference(ticket) if ticket else "",
        token=request.path_params.get("token", ""),
        error=error,
        error_text=(translate(key, lang) if key in MESSAGES else error.message) if error else "",
        score=score,
        comment=comment,
    )
    response.headers.update(PUBLIC_HEADERS)
    return response


@router.get("/support/csat/{token}")
def csat_page(token: str, request: Request, session: DB, score: str = "") -> Response:
    """The customer's survey: five stars and a comment, or their answer once given. The mailed
    survey links a score each (``?score=4``): the page opens with it chosen, and only
    submitting records it (a mail scanner following the links answers nothing)."""
    survey = _survey(session, token)
    chosen = score if score in {"1", "2", "3", "4", "5"} else ""
    return _csat_page(request, session, survey, status=200 if survey else 404, score=chosen)


@router.post("/support/csat/{token}")
def csat_answer(
    token: str,
    request: Request,
    session: DB,
    score: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Record the answer (the first one is final) and show the thanks."""
    survey = _survey(session, token)
    if survey is None:
        return _csat_page(request, session, None, status=404)
    try:
        value = int(score) if score.strip().isdigit() and len(score.strip()) < 3 else 0
        quality.answer(session, token, value, comment, now=utcnow())
    except PatronError as exc:
        session.rollback()
        again = _survey(session, token)
        return _csat_page(request, session, again, status=exc.status, error=exc, score=score, comment=comment)
    response = RedirectResponse(f"/support/csat/{token}", status_code=303)
    response.headers.update(PUBLIC_HEADERS)
    return response
