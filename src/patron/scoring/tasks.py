"""The scoring domain's jobs: the nightly scoring run and the quarterly tier recalibration.

Schedules are cron expressions in the instance time zone (``PATRON_DEFAULT_TIMEZONE``);
``PATRON_SCHEDULES`` changes or switches them off. Both jobs are safe to repeat: a scoring run
is one transaction with the job's completion, and a recalibration only adds a policy version.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.errors import InvalidInput
from patron.core.settings import get_settings
from patron.scoring import repository as repo
from patron.scoring import service, tiering

ANALYZE_SCHEDULE = "0 2 * * *"  # every night at 02:00
RECALIBRATE_SCHEDULE = "0 3 1 1,4,7,10 *"  # first day of each quarter, 03:00


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"as_of must be a date YYYY-MM-DD, got {value!r}", code="bad_date") from None


@jobs.job("scoring.analyze", schedule=ANALYZE_SCHEDULE)
def analyze(session: Session, as_of: str | None = None) -> dict[str, Any]:
    run = service.analyze(
        session, as_of=_day(as_of), currency=get_settings().reporting_currency, actor="scheduler"
    )
    return {"run_id": run.id, "as_of": run.as_of.isoformat(), "customers": run.customers}


@jobs.job("scoring.recalibrate", schedule=RECALIBRATE_SCHEDULE)
def recalibrate(session: Session) -> dict[str, Any]:
    """Fit a new tier policy on the latest run, then score again under it."""
    if not repo.latest_completed_runs(session, 1):
        return {"skipped": "no completed scoring run yet"}
    policy = tiering.recalibrate(session, actor="scheduler", reason="scheduled")
    follow = jobs.enqueue(session, "scoring.analyze", key=f"scoring.analyze@tier-policy-{policy.id}")
    return {"policy_version": policy.id, "customers": policy.customers, "analyze_job": follow.id}
