"""SLA policies applied to tickets: which policy holds, and the clock of each target.

Every target runs on the business calendar of the ticket's team (24/7 in the default time zone
without a team) through :mod:`patron.desk.clock`. The clock is kept incrementally (see
:class:`patron.models.TicketSla`): it stops counting while the ticket sits in a paused status
(``waiting_customer`` by default) and goes on from where it stood when the ticket moves on.

A target is **met** if it is stopped (first reply, next reply, resolution) at or before its
deadline, **missed** once the deadline has passed without that (as :class:`SlaClock` decides):
``breached_at`` is set to the deadline once and never cleared, whatever happens to the ticket
afterwards; a deadline once reached never moves, even through a pause. Reopening a resolved
ticket restarts its resolution clock from the business minutes it had already used.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput
from patron.desk import repository as repo
from patron.desk.clock import BusinessCalendar
from patron.models import SlaPolicy, SlaTarget, Ticket, TicketSla

MATCH_FIELDS = ("priority", "severity", "tier", "channel", "type")
DONE = ("resolved", "closed")


def calendar_of(session: Session, ticket: Ticket, default_timezone: str) -> BusinessCalendar:
    team = repo.get_team(session, ticket.team_id) if ticket.team_id else None
    if team is not None:
        return BusinessCalendar.from_dict(team.calendar)
    return BusinessCalendar(default_timezone, None)


def check_match(match: Mapping[str, Any]) -> dict[str, list[str]]:
    unknown = sorted(set(match) - set(MATCH_FIELDS))
    if unknown:
        raise InvalidInput(
            f"an SLA policy matches on {', '.join(MATCH_FIELDS)}; not on {', '.join(unknown)}",
            code="sla_bad_match",
            data={"unknown": unknown},
        )
    out: dict[str, list[str]] = {}
    for key, values in match.items():
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InvalidInput(f"match {key!r} needs a non-empty list of values", code="sla_bad_match")
        out[key] = values
    return out


def choose(policies: list[SlaPolicy], facts: Mapping[str, str | None]) -> SlaPolicy | None:
    """The first policy (by position) whose every condition holds."""
    for policy in policies:
        if all(facts.get(key) in values for key, values in policy.match.items()):
            return policy
    return None


def _run(sla: TicketSla, now: datetime, cal: BusinessCalendar, warn_before: int) -> None:
    remaining = sla.target_minutes - sla.elapsed_minutes
    sla.running_since = now
    if remaining > 0 or sla.due_at is None:
        sla.due_at = cal.add_business_minutes(now, max(0, remaining))
    # else: the target was used up before a pause; its deadline stays where it was reached.
    sla.warn_at = cal.add_business_minutes(now, max(0, remaining - warn_before))


def _halt(sla: TicketSla, now: datetime, cal: BusinessCalendar) -> None:
    """Stop counting (a pause or a stop). A deadline that was reached stays: it never moves."""
    if sla.running_since is not None:
        sla.elapsed_minutes += cal.business_minutes(sla.running_since, now)
        sla.running_since = sla.warn_at = None
        if sla.elapsed_minutes < sla.target_minutes:
            sla.due_at = None
    if sla.breached_at is None and sla.due_at is not None and sla.due_at < now:
        sla.breached_at = sla.due_at


def _warn_before(session: Session, sla: TicketSla) -> int:
    policy = session.get(SlaPolicy, sla.policy_id) if sla.policy_id else None
    return policy.warn_before_minutes if policy else 0


def _new(
    session: Session,
    ticket: Ticket,
    policy: SlaPolicy,
    target: SlaTarget,
    minutes: int,
    now: datetime,
    cal: BusinessCalendar,
    seq: int = 0,
) -> TicketSla:
    sla = TicketSla(
        ticket_id=ticket.id,
        target=target,
        seq=seq,
        policy_id=policy.id,
        target_minutes=minutes,
        started_at=now,
        elapsed_minutes=0,
    )
    _run(sla, now, cal, policy.warn_before_minutes)
    return repo.add(session, sla)


def start(
    session: Session, ticket: Ticket, *, tier: str | None, now: datetime, cal: BusinessCalendar
) -> SlaPolicy | None:
    """Pick the ticket's policy and start its first-response and resolution clocks."""
    facts = {
        "priority": ticket.priority,
        "severity": ticket.severity,
        "tier": tier,
        "channel": ticket.channel,
        "type": ticket.type,
    }
    policy = choose(repo.active_policies(session), facts)
    ticket.sla_policy_id = policy.id if policy else None
    if policy is None:
        return None
    for target, minutes in (
        (SlaTarget.first_response, policy.first_response_minutes),
        (SlaTarget.resolution, policy.resolution_minutes),
    ):
        if minutes is not None:
            _new(session, ticket, policy, target, minutes, now, cal)
    return policy


def on_reply(session: Session, ticket: Ticket, now: datetime, cal: BusinessCalendar) -> None:
    """A public reply answers the customer: first- and next-response clocks stop."""
    for sla in repo.open_slas_of(session, ticket.id):
        if sla.target in (SlaTarget.first_response, SlaTarget.next_response):
            _halt(sla, now, cal)
            sla.stopped_at = now


def on_customer_message(session: Session, ticket: Ticket, now: datetime, cal: BusinessCalendar) -> None:
    """A customer writing again after the first reply starts a next-response clock (one at a
    time: a second message before the reply does not start another)."""
    policy = session.get(SlaPolicy, ticket.sla_policy_id) if ticket.sla_policy_id else None
    if policy is None or policy.next_response_minutes is None or ticket.first_response_at is None:
        return
    if any(s.target == SlaTarget.next_response for s in repo.open_slas_of(session, ticket.id)):
        return
    seq = repo.last_seq(session, ticket.id, SlaTarget.next_response)
    _new(
        session,
        ticket,
        policy,
        SlaTarget.next_response,
        policy.next_response_minutes,
        now,
        cal,
        seq=0 if seq is None else seq + 1,
    )


def on_status(
    session: Session,
    ticket: Ticket,
    old: str,
    new: str,
    now: datetime,
    cal: BusinessCalendar,
    paused: frozenset[str],
) -> None:
    """Stop every clock on resolve/close, restart resolution on reopen, pause and resume."""
    if new in DONE:
        for sla in repo.open_slas_of(session, ticket.id):
            _halt(sla, now, cal)
            sla.stopped_at = now
        return
    if new == "reopened":
        for sla in repo.slas_of(session, ticket.id):
            if sla.target == SlaTarget.resolution and sla.stopped_at is not None:
                sla.stopped_at = None
                _run(sla, now, cal, _warn_before(session, sla))
        return
    if new in paused and old not in paused:
        for sla in repo.open_slas_of(session, ticket.id):
            _halt(sla, now, cal)
    elif new not in paused and old in paused:
        for sla in repo.open_slas_of(session, ticket.id):
            if sla.running_since is None:
                _run(sla, now, cal, _warn_before(session, sla))


def recalendar(
    session: Session, ticket: Ticket, old: BusinessCalendar, new: BusinessCalendar, now: datetime
) -> None:
    """The ticket moved to a team with other hours: the minutes counted so far stay, the rest
    of each running clock counts on the new calendar."""
    for row in repo.open_slas_of(session, ticket.id):
        if row.running_since is not None:
            _halt(row, now, old)
            _run(row, now, new, _warn_before(session, row))


def stop_all(session: Session, ticket: Ticket, now: datetime, cal: BusinessCalendar) -> None:
    for sla in repo.open_slas_of(session, ticket.id):
        _halt(sla, now, cal)
        sla.stopped_at = now


def state(sla: TicketSla, now: datetime) -> str:
    """met, missed, breached (running past its deadline), paused, warning or running."""
    if sla.stopped_at is not None:
        return "missed" if sla.breached_at is not None else "met"
    if sla.breached_at is not None or (sla.due_at is not None and sla.due_at < now):
        return "breached"
    if sla.running_since is None:
        return "paused"
    if sla.warn_at is not None and sla.warn_at <= now:
        return "warning"
    return "running"
