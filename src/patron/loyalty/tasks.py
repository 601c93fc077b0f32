"""Loyalty's jobs: every night, unlock the points whose return window closed and expire those
past their expiry (``loyalty.settle``), a batch of members at a time; every quarter of an hour,
credit the orders imported since (``loyalty.earn_orders``), a page of orders at a time, and claw
back the points of refunds imported since. When a
program's tiers are set, ``loyalty.tiers`` places its members (queued by the API and web UI).

Each batch commits on its own, so a member's lock is held for one batch only and a redemption
waits at most that long; a job that dies half-way leaves the done batches done, and its retry
(or tomorrow's run) settles the rest. Running it twice changes nothing the second time.

After the settling, ``loyalty.remind`` records the pre-expiry reminders due that day as events
for marketing (:mod:`patron.loyalty.reminders`), in the job's own transaction (the runner
commits them with the job's status); each is stored once per event id, so a second run writes
none. ``loyalty.birthdays`` (00:30) gives members born that day what their program gives
(:mod:`patron.loyalty.birthdays`), once a year by key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.time import utcnow
from patron.loyalty import birthdays, earning, membership, reminders, service

SETTLE_SCHEDULE = "10 0 * * *"  # 00:10 in the instance's time zone, after the day's expiry instant
REMIND_SCHEDULE = "20 0 * * *"  # 00:20, after the night's settling
BIRTHDAY_SCHEDULE = "30 0 * * *"
EARN_SCHEDULE = "*/15 * * * *"


@jobs.job("loyalty.settle", schedule=SETTLE_SCHEDULE)
def settle(session: Session) -> dict[str, Any]:
    entries = batches = 0
    for written in service.settle_due(session):
        session.commit()
        entries += written
        batches += 1
    moves = 0
    for program in service.programs(session):
        for moved in membership.refresh_due(session, program, at=utcnow()) if program.active else ():
            session.commit()
            moves += moved
    return {"entries": entries, "batches": batches, "tier_moves": moves}


@jobs.job("loyalty.remind", schedule=REMIND_SCHEDULE)
def remind(session: Session) -> dict[str, Any]:
    """Pre-expiry reminders (``points_expiring`` events) due today, 30 and 7 days ahead."""
    return {"events": reminders.remind_expiring(session, now=utcnow())}


@jobs.job("loyalty.earn_orders", schedule=EARN_SCHEDULE)
def earn_orders(session: Session) -> dict[str, Any]:
    """Every active program credits the orders not credited yet (each page commits), then takes
    back the points of the refunds imported since."""
    totals = {"orders": 0, "credited": 0, "points": 0, "tier_moves": 0, "clawed_back": 0}
    for program in service.programs(session):
        if not program.active:
            continue
        for page in earning.earn_orders(session, program, now=utcnow()):
            totals["tier_moves"] += membership.refresh(
                session, program, at=utcnow(), account_ids=page.members
            )
            session.commit()
            totals["orders"] += page.orders
            totals["credited"] += page.credited
            totals["points"] += page.points
        for taken in earning.claw_back_refunds(session, program, now=utcnow()):
            session.commit()
            totals["clawed_back"] += taken
    return totals


TIERS_JOB = "loyalty.tiers"


@jobs.job(TIERS_JOB)
def place_members(session: Session, program: str) -> dict[str, Any]:
    """After a program's tiers were set: members without a tier get one, due reviews are done
    (a batch of members at a time, each committed)."""
    moves = 0
    for moved in membership.refresh_due(session, service.program(session, program), at=utcnow()):
        session.commit()
        moves += moved
    return {"tier_moves": moves}


@jobs.job("loyalty.birthdays", schedule=BIRTHDAY_SCHEDULE)
def celebrate(session: Session) -> dict[str, Any]:
    """Today's birthdays in every active program (each program commits on its own)."""
    totals = {"members": 0, "points": 0}
    for program in service.programs(session):
        if program.active:
            done = birthdays.celebrate(session, program, now=utcnow())
            session.commit()
            totals = {k: totals[k] + done[k] for k in totals}
    return totals
