"""Loyalty's jobs: every night, unlock the points whose return window closed and expire those
past their expiry (``loyalty.settle``), a batch of members at a time; every quarter of an hour,
credit the orders imported since (``loyalty.earn_orders``), a page of orders at a time.

Each batch commits on its own, so a member's lock is held for one batch only and a redemption
waits at most that long; a job that dies half-way leaves the done batches done, and its retry
(or tomorrow's run) settles the rest. Running it twice changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.time import utcnow
from patron.loyalty import earning, membership, service

SETTLE_SCHEDULE = "10 0 * * *"  # 00:10 in the instance's time zone, after the day's expiry instant
EARN_SCHEDULE = "*/15 * * * *"


@jobs.job("loyalty.settle", schedule=SETTLE_SCHEDULE)
def settle(session: Session) -> dict[str, Any]:
    entries = batches = 0
    for written in service.settle_due(session):
        session.commit()
        entries += written
        batches += 1
    moves = sum(membership.refresh(session, p, at=utcnow()) for p in service.programs(session) if p.active)
    return {"entries": entries, "batches": batches, "tier_moves": moves}


@jobs.job("loyalty.earn_orders", schedule=EARN_SCHEDULE)
def earn_orders(session: Session) -> dict[str, Any]:
    """Every active program credits the orders not credited yet (each page commits)."""
    totals = {"orders": 0, "credited": 0, "points": 0, "tier_moves": 0}
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
    return totals
