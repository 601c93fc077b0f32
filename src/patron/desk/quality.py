"""Service quality: satisfaction surveys (CSAT), root causes with corrective and preventive
actions, Pareto reports, agents' KPIs and the service dashboard's figures.

This module must not import :mod:`patron.desk.service` (the service calls :func:`on_resolved`
when a ticket is resolved); it reads and writes through :mod:`patron.desk.repository` and writes
the ticket's history itself.

**CSAT.** A ticket gets one survey, ever: the first time it is resolved (unless ``csat_skip`` is
set), with a random 256-bit token and the agent the ticket was assigned to at that moment. A
ticket reopened and resolved again keeps its first survey. The survey is not mailed from here
(delivery belongs to marketing's channels): its link is on the customer's tracking page and in
the API, and ``csat_requested`` is written in the ticket's history. The first answer (a score
1-5 and an optional comment) is final; a second one is refused (409 ``csat_answered``).

**Root causes** (:data:`ROOT_CAUSES`) say what caused a complaint (or a return, an exchange):
set by an agent, written in the history. A corrective action removes a cause that happened, a
preventive one stops it from happening elsewhere; each has an owner and a due date, and is open,
done or cancelled. An action is **overdue** while it is open and its due date is before today (in
the desk's time zone): due today is not late yet.

**Periods.** Every report is about the tickets *opened* in a period ``[since, until)`` (merged
duplicates left out), whatever happened to them later: a month's figures are those of the
tickets of that month, and recent months still move while their tickets are worked on and their
surveys answered. The API takes local days (``since``, ``until`` inclusive) in the instance's
time zone; :func:`period` turns them into UTC instants.

**Pareto** (:func:`pareto`): tickets of one type (complaints by default) counted per value of a
dimension, most frequent first, the tickets without a value ("not set") last whatever their
number; ``share = count / total`` and ``cumulative`` the running sum of counts over the total,
so the last row is exactly 1. By ``sku`` a ticket about an order line counts for that line's SKU,
a ticket about a whole order once for each distinct SKU on it (so the total is of ticket-SKU
pairs, not tickets); ``carrier`` is the order's carrier, ``shop`` the shop's code, ``agent`` the
assignee.

**Agents' KPIs** (:func:`agent_kpis`): see :class:`AgentKpi` for each figure's definition.
"""

from __future__ import annotations

import secrets
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from patron.accounts import service as accounts
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.time import as_utc, utcnow, zone
from patron.desk import repository as repo
from patron.models import CorrectiveAction, CsatSurvey, Ticket, TicketEvent

#: Root-cause codes, each with what it means (the UI translates them: ``rootcause.<code>``).
ROOT_CAUSES: dict[str, str] = {
    "supplier_defect": "the product left the supplier faulty (manufacturing, materials)",
    "design": "the product works as designed, and the design is the problem",
    "wrong_description": "the listing (photos, size chart, text) did not match the product",
    "packaging": "the packaging did not protect the product",
    "carrier_damage": "damaged in transit by the carrier",
    "carrier_delay": "the carrier was late or lost the parcel",
    "warehouse_error": "picked or packed wrong: wrong item, size, colour or quantity; item missing",
    "stock_error": "sold while out of stock; stock figures wrong",
    "pricing_error": "wrong price, charge or invoice",
    "promotion_setup": "a coupon or promotion set up wrongly or its rules unclear",
    "agent_error": "a service agent's mistake or conduct",
    "policy_gap": "no policy, or a policy that gave the customer a bad answer",
    "customer_misuse": "the customer used the product against its instructions",
    "other": "none of the above (say which in a note)",
}
ACTION_KINDS = ("corrective", "preventive")
ACTION_STATUSES = ("open", "done", "cancelled")
PARETO_BY = ("category", "root_cause", "sku", "carrier", "shop", "agent")
#: Statuses still to be worked on: the backlog.
BACKLOG_STATUSES = ("new", "open", "waiting_customer", "waiting_third_party", "reopened")
SLA_TARGETS = ("first_response", "next_response", "resolution")
MAX_COMMENT = 2000
MAX_DESCRIPTION = 5000
CSAT_ACTOR = "CSAT"


def _event(session: Session, ticket_id: int, actor: str, action: str, at: datetime, **data: Any) -> None:
    repo.add(session, TicketEvent(ticket_id=ticket_id, actor=actor, action=action, data=data, created_at=at))


def _ticket(session: Session, ticket: Ticket | int, *, live: bool = True) -> Ticket:
    """The ticket (locked for the change); a merged duplicate takes no more changes."""
    ticket_id = ticket if isinstance(ticket, int) else ticket.id
    row = repo.get_ticket(session, ticket_id, for_update=True)
    if row is None:
        raise NotFound(
            f"ticket {ticket_id} not found", code="ticket_not_found", data={"ticket_id": ticket_id}
        )
    if live and row.merged_into_id is not None:
        raise Conflict(
            f"ticket T-{row.id:06d} was merged into T-{row.merged_into_id:06d}",
            code="ticket_merged",
            data={"into": row.merged_into_id},
        )
    return row


# -- CSAT ------------------------------------------------------------------------------------------


def on_resolved(session: Session, ticket: Ticket, now: datetime) -> CsatSurvey | None:
    """The ticket was just resolved: send its survey, unless it is skipped or it has one already
    (one survey per ticket, ever). Returns the new survey, or None."""
    if ticket.csat_skip or repo.survey_of_ticket(session, ticket.id) is not None:
        return None
    survey = repo.add(
        session,
        CsatSurvey(
            ticket_id=ticket.id, token=secrets.token_urlsafe(32), agent_id=ticket.assignee_id, sent_at=now
        ),
    )
    _event(session, ticket.id, CSAT_ACTOR, "csat_requested", now, agent_id=ticket.assignee_id)
    return survey


def survey_of(session: Session, ticket_id: int) -> CsatSurvey | None:
    return repo.survey_of_ticket(session, ticket_id)


def survey(session: Session, token: str) -> CsatSurvey:
    found = repo.survey_by_token(session, token) if token else None
    if found is None:
        raise NotFound("no survey for this link", code="csat_not_found")
    return found


def answer(
    session: Session, token: str, score: int, comment: str | None = None, *, now: datetime | None = None
) -> CsatSurvey:
    """The customer's answer: a score from 1 (very unhappy) to 5 (very happy) and an optional
    comment (at most 2,000 characters). The first answer is final: another one is refused
    (``csat_answered``), also when two arrive at the same moment."""
    now = now or utcnow()
    found = survey(session, token)
    if found.answered_at is not None:
        raise Conflict("this survey was already answered", code="csat_answered")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput("the score is a whole number from 1 to 5", code="csat_bad_score")
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_COMMENT:
        raise InvalidInput(f"a comment holds at most {MAX_COMMENT} characters", code="csat_comment_too_long")
    if not repo.answer_survey(session, found.id, score, text, now):
        raise Conflict("this survey was already answered", code="csat_answered")
    session.refresh(found)
    _event(session, found.ticket_id, "customer", "csat_answered", now, score=score)
    return found


def set_csat_skip(
    session: Session, ticket: Ticket | int, skip: bool, actor: str, *, now: datetime | None = None
) -> Ticket:
    """No survey for this ticket (an abusive customer, a test, an internal request), or a survey
    after all. Too late once the survey was sent (``csat_already_sent``)."""
    now = now or utcnow()
    row = _ticket(session, ticket)
    if row.csat_skip == skip:
        return row
    if skip and repo.survey_of_ticket(session, row.id) is not None:
        raise Conflict("the survey was already sent", code="csat_already_sent")
    row.csat_skip = skip
    _event(session, row.id, actor, "csat_skipped" if skip else "csat_unskipped", now)
    return row


# -- root causes, actions, archive -------------------------------------------------------------------


def set_root_cause(
    session: Session, ticket_id: int, code: str | None, actor: str, *, now: datetime | None = None
) -> Ticket:
    """Set (or clear, with None) the ticket's root cause; the change goes into its history."""
    now = now or utcnow()
    code = code or None
    if code is not None and code not in ROOT_CAUSES:
        raise InvalidInput(
            f"unknown root cause {code!r}", code="root_cause_unknown", data={"allowed": list(ROOT_CAUSES)}
        )
    ticket = _ticket(session, ticket_id)
    if ticket.root_cause != code:
        _event(session, ticket.id, actor, "root_cause", now, **{"from": ticket.root_cause, "to": code})
        ticket.root_cause = code
    return ticket


def add_action(
    session: Session,
    *,
    description: str,
    kind: str = "corrective",
    cause: str | None = None,
    ticket_id: int | None = None,
    owner_user_id: int | None = None,
    due_on: date | None = None,
    actor: str,
    now: datetime | None = None,
) -> CorrectiveAction:
    """A corrective or preventive action against a root cause, maybe for a ticket (whose root
    cause it takes when none is given), with an owner and a due date."""
    now = now or utcnow()
    if kind not in ACTION_KINDS:
        raise InvalidInput(
            f"unknown action kind {kind!r}", code="action_bad_kind", data={"allowed": list(ACTION_KINDS)}
        )
    text = description.strip()
    if not text:
        raise InvalidInput("an action needs a description", code="action_empty")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"a description holds at most {MAX_DESCRIPTION} characters", code="action_too_long"
        )
    ticket = _ticket(session, ticket_id, live=False) if ticket_id is not None else None
    cause = cause or (ticket.root_cause if ticket is not None else None)
    if cause is None:
        raise InvalidInput("say which root cause the action is against", code="action_no_cause")
    if cause not in ROOT_CAUSES:
        raise InvalidInput(
            f"unknown root cause {cause!r}", code="root_cause_unknown", data={"allowed": list(ROOT_CAUSES)}
        )
    if owner_user_id is not None and accounts.get_user(session, owner_user_id) is None:
        raise NotFound(f"user {owner_user_id} not found", code="user_not_found")
    action = repo.add(
        session,
        CorrectiveAction(
            ticket_id=ticket.id if ticket is not None else None,
            cause=cause,
            kind=kind,
            description=text,
            owner_user_id=owner_user_id,
            due_on=due_on,
            status="open",
            created_at=now,
        ),
    )
    if ticket is not None:
        _event(session, ticket.id, actor, "action_added", now, action_id=action.id, kind=kind, cause=cause)
    return action


def get_action(session: Session, action_id: int, *, for_update: bool = False) -> CorrectiveAction:
    action = repo.get_action(session, action_id, for_update=for_update)
    if action is None:
        raise NotFound(
            f"action {action_id} not found", code="action_not_found", data={"action_id": action_id}
        )
    return action


def complete_action(
    session: Session, action_id: int, actor: str, *, cancel: bool = False, now: datetime | None = None
) -> CorrectiveAction:
    """Mark an open action done (or cancelled); a closed one stays as it is (``action_not_open``)."""
    now = now or utcnow()
    action = get_action(session, action_id, for_update=True)
    if action.status != "open":
        raise Conflict(
            f"the action is {action.status}", code="action_not_open", data={"status": action.status}
        )
    action.status = "cancelled" if cancel else "done"
    action.done_at = now
    if action.ticket_id is not None:
        _event(session, action.ticket_id, actor, f"action_{action.status}", now, action_id=action.id)
    return action


def today(now: datetime, timezone: str) -> date:
    return as_utc(now).astimezone(zone(timezone)).date()


def is_overdue(action: CorrectiveAction, on: date) -> bool:
    return action.status == "open" and action.due_on is not None and action.due_on < on


def list_actions(
    session: Session,
    *,
    open_only: bool = False,
    overdue_only: bool = False,
    ticket_id: int | None = None,
    now: datetime | None = None,
    timezone: str = "UTC",
) -> list[CorrectiveAction]:
    """Actions by due date (none last), then as entered; open ones only, or only the overdue."""
    due_before = today(now or utcnow(), timezone) if overdue_only else None
    return repo.list_actions(
        session, open_only=open_only or overdue_only, due_before=due_before, ticket_id=ticket_id
    )


def open_actions(
    session: Session, *, now: datetime | None = None, timezone: str = "UTC", overdue_only: bool = False
) -> list[CorrectiveAction]:
    return list_actions(session, open_only=True, overdue_only=overdue_only, now=now, timezone=timezone)


def archive(session: Session, ticket_id: int, actor: str, *, now: datetime | None = None) -> Ticket:
    """Archive a closed ticket (kept for the reports); again is a no-op. Only a closed ticket."""
    now = now or utcnow()
    ticket = _ticket(session, ticket_id, live=False)
    if ticket.status != "closed":
        raise Conflict(
            "only a closed ticket can be archived", code="ticket_not_closed", data={"status": ticket.status}
        )
    if ticket.archived_at is None:
        ticket.archived_at = now
        _event(session, ticket.id, actor, "archived", now)
    return ticket


# -- periods -----------------------------------------------------------------------------------------


def period(
    since: date | None, until: date | None, *, timezone: str, now: datetime | None = None, days: int = 30
) -> tuple[datetime, datetime]:
    """Local days ``since`` .. ``until`` (both included) as UTC instants ``[start, end)``; without
    them, the last ``days`` days up to today."""
    last = until or today(now or utcnow(), timezone)
    first = since or last - timedelta(days=days - 1)
    if first > last:
        raise InvalidInput("the period ends before it starts", code="period_bad", data={"since": str(first)})
    tz = zone(timezone)
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    return as_utc(start), as_utc(end)


# -- Pareto --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoRow:
    value: str | int | None  # None: not set (no category, no root cause, no order, ...)
    label: str | None  # the shop's or the agent's name; else None (the UI translates the value)
    count: int
    share: float  # count / total
    cumulative: float  # running sum of counts / total


def pareto_rows(counts: Iterable[tuple[str | int | None, str | None, int]]) -> list[ParetoRow]:
    """Most frequent first (ties by value), "not set" last; shares of the total."""
    merged: dict[str | int | None, list[Any]] = {}
    for value, label, n in counts:
        entry = merged.setdefault(value, [label, 0])
        entry[1] += int(n)
    known = sorted(
        ((v, e) for v, e in merged.items() if v is not None),
        key=lambda x: (-x[1][1], (0, x[0], "") if isinstance(x[0], int) else (1, 0, str(x[0]))),
    )
    ordered = [*known, (None, merged[None])] if None in merged else known
    total = sum(e[1] for _, e in ordered)
    rows, running = [], 0
    for value, (label, n) in ordered:
        if n == 0:
            continue
        running += n
        rows.append(ParetoRow(value, label, n, n / total, running / total))
    return rows


def pareto(
    session: Session,
    by: str,
    *,
    since: datetime,
    until: datetime,
    type: str | None = "complaint",
) -> list[ParetoRow]:
    """Tickets of ``type`` (None: every type) opened in ``[since, until)`` per value of ``by``:
    category, root_cause, sku, carrier, shop or agent (see the module's docstring)."""
    if by not in PARETO_BY:
        raise InvalidInput(
            f"cannot make a Pareto by {by!r}", code="pareto_bad_by", data={"allowed": list(PARETO_BY)}
        )
    counts = repo.pareto_counts(session, by, since, until, type)
    if by == "agent":
        names = _names(session, [v for v, _, _ in counts if isinstance(v, int)])
        counts = [(v, names.get(v) if isinstance(v, int) else None, n) for v, _, n in counts]
    return pareto_rows(counts)


# -- agents' KPIs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentKpi:
    """One agent's figures over the tickets opened in a period (their current assignee's).

    - ``handled``: tickets assigned to the agent.
    - ``resolved``: of those, the ones resolved now (``resolved_at`` set: resolved, or resolved
      and then closed; a ticket closed without being resolved is not counted, a reopened one not
      until it is resolved again).
    - ``first_response_minutes``: median of ``first_response_at - created_at`` (wall-clock
      minutes, not business minutes) over the handled tickets with a public reply.
    - ``resolution_minutes``: median of ``resolved_at - created_at`` (wall clock; the last
      resolution of a reopened ticket) over the resolved tickets.
    - ``reopened`` / ``reopen_rate``: tickets reopened at least once, over the tickets resolved
      at least once (``resolved``, plus the reopened ones not resolved again): at most 1.
    - ``csat_average`` / ``csat_responses``: mean score of the answered surveys of the period's
      tickets that were sent while the ticket was the agent's (``csat_surveys.agent_id``), and
      how many; ``csat_sent`` how many were sent.
    - ``sla_met``, ``sla_missed``, ``sla_compliance``: the SLA targets (first response, next
      responses, resolution) of the handled tickets, met (stopped in time) and missed (deadline
      passed, stopped or not); compliance ``met / (met + missed)``, targets still running in
      time left out.
    """

    agent_id: int
    name: str | None
    handled: int = 0
    resolved: int = 0
    first_response_minutes: float | None = None
    resolution_minutes: float | None = None
    reopened: int = 0
    reopen_rate: float | None = None
    csat_average: float | None = None
    csat_responses: int = 0
    csat_sent: int = 0
    sla_met: int = 0
    sla_missed: int = 0
    sla_compliance: float | None = None


def _minutes(later: datetime, earlier: datetime) -> float:
    return (as_utc(later) - as_utc(earlier)).total_seconds() / 60


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    out = {}
    for user_id in sorted(set(user_ids)):
        user = accounts.get_user(session, user_id)
        if user is not None:
            out[user_id] = user.name
    return out


def agent_kpis(session: Session, *, since: datetime, until: datetime) -> list[AgentKpi]:
    """Every agent with a ticket or a survey among the tickets opened in ``[since, until)``, by
    tickets handled (most first), then id. Definitions: :class:`AgentKpi`."""
    tickets: dict[int, list[tuple[datetime, datetime | None, datetime | None, int]]] = defaultdict(list)
    for assignee, created, first, done, reopens in repo.kpi_tickets(session, since, until):
        tickets[assignee].append((created, first, done, reopens))
    sla: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for holder, _target, n_met, n_missed, _running in repo.sla_counts(session, since, until):
        if holder is not None:
            sla[holder][0] += n_met
            sla[holder][1] += n_missed
    scores: dict[int, list[int]] = defaultdict(list)
    sent: Counter[int] = Counter()
    for surveyed, score in repo.csat_scores(session, since, until):
        if surveyed is not None:
            sent[surveyed] += 1
            if score is not None:
                scores[surveyed].append(score)
    agents = set(tickets) | set(sent)
    names = _names(session, agents)
    out = []
    for agent in agents:
        rows = tickets.get(agent, [])
        resolved = [r for r in rows if r[2] is not None]
        reopened = [r for r in rows if r[3] > 0]
        ever_resolved = len(resolved) + sum(1 for r in reopened if r[2] is None)
        met, missed = sla.get(agent, [0, 0])
        answered = scores.get(agent, [])
        out.append(
            AgentKpi(
                agent_id=agent,
                name=names.get(agent),
                handled=len(rows),
                resolved=len(resolved),
                first_response_minutes=_median([_minutes(r[1], r[0]) for r in rows if r[1] is not None]),
                resolution_minutes=_median([_minutes(r[2], r[0]) for r in resolved if r[2] is not None]),
                reopened=len(reopened),
                reopen_rate=_ratio(len(reopened), ever_resolved),
                csat_average=sum(answered) / len(answered) if answered else None,
                csat_responses=len(answered),
                csat_sent=sent.get(agent, 0),
                sla_met=met,
                sla_missed=missed,
                sla_compliance=_ratio(met, met + missed),
            )
        )
    return sorted(out, key=lambda k: (-k.handled, k.agent_id))


# -- the dashboard -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaRow:
    target: str
    met: int
    missed: int
    in_progress: int
    compliance: float | None  # met / (met + missed)


@dataclass(frozen=True)
class CsatSummary:
    sent: int
    responses: int
    average: float | None  # mean score, 1-5
    satisfied: float | None  # share of answers scoring 4 or 5
    response_rate: float | None  # responses / sent
    distribution: dict[int, int] = field(default_factory=dict)  # score -> answers, 1..5


def csat_summary(session: Session, *, since: datetime, until: datetime) -> CsatSummary:
    """The surveys of the tickets opened in ``[since, until)``."""
    rows = repo.csat_scores(session, since, until)
    scores = [s for _, s in rows if s is not None]
    dist = Counter(scores)
    return CsatSummary(
        sent=len(rows),
        responses=len(scores),
        average=sum(scores) / len(scores) if scores else None,
        satisfied=_ratio(sum(1 for s in scores if s >= 4), len(scores)),
        response_rate=_ratio(len(scores), len(rows)),
        distribution={s: dist.get(s, 0) for s in range(1, 6)},
    )


def sla_by_target(session: Session, *, since: datetime, until: datetime) -> list[SlaRow]:
    """Met, missed and running targets of the tickets opened in ``[since, until)``, per target."""
    totals: dict[str, list[int]] = {t: [0, 0, 0] for t in SLA_TARGETS}
    for _agent, target, met, missed, running in repo.sla_counts(session, since, until):
        entry = totals.setdefault(target, [0, 0, 0])
        entry[0] += met
        entry[1] += missed
        entry[2] += running
    return [
        SlaRow(target, met, missed, running, _ratio(met, met + missed))
        for target, (met, missed, running) in totals.items()
        if met + missed + running
    ]


@dataclass(frozen=True)
class Dashboard:
    since: datetime
    until: datetime
    days: int
    timezone: str
    total: int  # tickets opened in the period
    volume: list[tuple[date, int]]  # per local day, every day of the period
    by_channel: list[tuple[str, int]]  # most first
    by_type: list[tuple[str, int]]
    backlog: list[tuple[str, int]]  # now, per status still to be worked on (BACKLOG_STATUSES)
    sla: list[SlaRow]
    csat: CsatSummary
    complaints_by_category: list[ParetoRow]
    complaints_by_root_cause: list[ParetoRow]
    agents: list[AgentKpi]
    actions_open: int  # now
    actions_overdue: int


def _most_first(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def dashboard(session: Session, now: datetime, days: int = 30, *, timezone: str = "UTC") -> Dashboard:
    """The service dashboard over the last ``days`` local days, today included: volumes per day,
    channel and type, the backlog now, SLA compliance per target, CSAT, complaints' Pareto by
    category and by root cause, agents' KPIs, open and overdue actions."""
    if not 1 <= days <= 366:
        raise InvalidInput("a dashboard covers 1 to 366 days", code="period_bad")
    since, until = period(None, None, timezone=timezone, now=now, days=days)
    tz = zone(timezone)
    per_day: Counter[date] = Counter()
    channels: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for created, channel, kind in repo.ticket_facts(session, since, until):
        per_day[as_utc(created).astimezone(tz).date()] += 1
        channels[channel] += 1
        types[kind] += 1
    first_day = as_utc(since).astimezone(tz).date()
    volume = [
        (first_day + timedelta(days=i), per_day.get(first_day + timedelta(days=i), 0)) for i in range(days)
    ]
    backlog = dict(repo.backlog(session, BACKLOG_STATUSES))
    on = today(now, timezone)
    open_count, overdue = repo.count_actions(session, on)
    return Dashboard(
        since=since,
        until=until,
        days=days,
        timezone=timezone,
        total=sum(per_day.values()),
        volume=volume,
        by_channel=_most_first(channels),
        by_type=_most_first(types),
        backlog=[(s, backlog.get(s, 0)) for s in BACKLOG_STATUSES],
        sla=sla_by_target(session, since=since, until=until),
        csat=csat_summary(session, since=since, until=until),
        complaints_by_category=pareto(session, "category", since=since, until=until),
        complaints_by_root_cause=pareto(session, "root_cause", since=since, until=until),
        agents=agent_kpis(session, since=since, until=until),
        actions_open=open_count,
        actions_overdue=overdue,
    )
