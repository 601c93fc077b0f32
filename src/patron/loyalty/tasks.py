"""Loyalty's job: every night, unlock the points whose return window closed and expire those past
their expiry (``loyalty.settle``), a batch of members at a time.

Each batch commits on its own, so a member's lock is held for one batch only and a redemption
waits at most that long; a job that dies half-way leaves the done batches done, and its retry
(or tomorrow's run) settles the rest. Running it twice changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.loyalty import service

SETTLE_SCHEDULE = "10 0 * * *"  # 00:10 in the instance's time zone, after the day's expiry instant


@jobs.job("loyalty.settle", schedule=SETTLE_SCHEDULE)
def settle(session: Session) -> dict[str, Any]:
    entries = batches = 0
    for written in service.settle_due(session):
        session.commit()
        entries += written
        batches += 1
    return {"entries": entries, "batches": batches}
