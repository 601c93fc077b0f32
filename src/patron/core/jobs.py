"""Durable jobs: stored in the database, released only after the enqueuing transaction commits.

A job is a row in ``jobs`` added to the caller's session, so it becomes visible to workers
exactly when the caller's transaction commits and vanishes with a rollback: no separate "after
commit" hook is needed and a job can never run for work that did not happen.

Jobs are named ``domain.action``, take JSON arguments (ids, dates), and must be idempotent: a
worker that dies mid-job leaves a lease that expires, and the job runs again. A handler's own
writes and the job's ``done`` status commit in one transaction, so a job whose effects landed is
never repeated. Failures are retried with exponential back-off up to ``max_attempts``.

Scheduled jobs are declared beside the job (``@job("scoring.analyze", schedule="0 2 * * *")``)
as cron expressions in the instance's time zone; ``PATRON_SCHEDULES`` overrides one per name
(``{"scoring.analyze": "30 1 * * *"}``) or switches it off (``"off"``). The scheduler enqueues
each due occurrence once under the key ``name@occurrence``; the unique key makes concurrent
schedulers harmless, and a worker that was down enqueues only the latest missed occurrence.

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1)``: PostgreSQL adds ``FOR UPDATE
SKIP LOCKED`` so workers never wait on each other; SQLite serialises writers, which makes the
statement atomic there as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Index, Integer, String, Text, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from patron.core.db import Base, BigID, JSONType, UTCDateTime
from patron.core.errors import InvalidInput, NotFound
from patron.core.time import utcnow

__all__ = [
    "JOBS",
    "Job",
    "JobSpec",
    "claim",
    "enqueue",
    "enqueue_due",
    "job",
    "list_jobs",
    "mark_done",
    "mark_failed",
    "schedule_of",
]

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
RETRY_BASE_SECONDS = 30.0
DEFAULT_LEASE = timedelta(hours=1)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Deduplication: a scheduled occurrence or a caller-chosen key is enqueued at most once.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    worker: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_jobs_due", "status", "run_at"),)


Handler = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    schedule: str | None = None  # cron expression, instance time zone
    max_attempts: int = 5
    lease: timedelta = DEFAULT_LEASE  # a running job whose lease ran out is taken again


#: Every declared job by name; modules declaring jobs register on import.
JOBS: dict[str, JobSpec] = {}


def job(
    name: str, *, schedule: str | None = None, max_attempts: int = 5, lease: timedelta = DEFAULT_LEASE
) -> Callable[[Handler], Handler]:
    """Declare ``fn(session, **args) -> dict | None`` as the handler of job ``name``."""
    if schedule is not None and not croniter.is_valid(schedule):
        raise ValueError(f"job {name}: invalid cron expression {schedule!r}")

    def register(fn: Handler) -> Handler:
        JOBS[name] = JobSpec(name, fn, schedule, max_attempts, lease)
        return fn

    return register


def spec_of(name: str) -> JobSpec:
    try:
        return JOBS[name]
    except KeyError:
        known = ", ".join(sorted(JOBS)) or "none"
        raise NotFound(f"unknown job {name!r} (known: {known})", code="job_unknown") from None


def enqueue(
    session: Session,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    key: str | None = None,
) -> Job:
    """Queue job ``name``; it runs once the caller's transaction commits. With a ``key`` that
    was queued before, the earlier job is returned and nothing new is queued."""
    spec = spec_of(name)
    if key is not None:
        existing = session.scalar(select(Job).where(Job.key == key))
        if existing is not None:
            return existing
    row = Job(
        name=name,
        args=args or {},
        key=key,
        status=QUEUED,
        run_at=run_at or utcnow(),
        attempts=0,
        max_attempts=spec.max_attempts,
    )
    session.add(row)
    session.flush()
    return row


def schedule_of(spec: JobSpec, overrides: dict[str, str]) -> str | None:
    """The cron expression in force for a job (None when unscheduled or switched off)."""
    expr = overrides.get(spec.name, spec.schedule)
    if expr is None or expr.strip().lower() == "off":
        return None
    if not croniter.is_valid(expr):
        raise InvalidInput(
            f"schedule of {spec.name}: {expr!r} is not a cron expression (e.g. '0 2 * * *' or 'off')",
            code="schedule_invalid",
        )
    return expr


def latest_occurrence(expr: str, now: datetime, tz: str) -> datetime:
    """The most recent time at or before ``now`` the cron expression fires (UTC)."""
    local = now.astimezone(ZoneInfo(tz))
    it = croniter(expr, local + timedelta(seconds=1))
    prev: datetime = it.get_prev(datetime)
    return prev.astimezone(ZoneInfo("UTC"))


def next_occurrence(expr: str, now: datetime, tz: str) -> datetime:
    nxt: datetime = croniter(expr, now.astimezone(ZoneInfo(tz))).get_next(datetime)
    return nxt.astimezone(ZoneInfo("UTC"))


def enqueue_due(session: Session, now: datetime, tz: str, overrides: dict[str, str]) -> list[str]:
    """Queue the latest due occurrence of every scheduled job not queued yet; the names queued."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    queued = []
    for spec in sorted(JOBS.values(), key=lambda s: s.name):
        expr = schedule_of(spec, overrides)
        if expr is None:
            continue
        when = latest_occurrence(expr, now, tz)
        key = f"{spec.name}@{when.isoformat()}"
        stmt = (
            insert(Job)
            .values(
                name=spec.name,
                args={},
                key=key,
                status=QUEUED,
                run_at=when,
                attempts=0,
                max_attempts=spec.max_attempts,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Job.id)
        )
        if session.execute(stmt).first() is not None:  # nothing returned: queued before
            queued.append(spec.name)
    return queued


def claim(session: Session, worker: str, now: datetime) -> Job | None:
    """Take the next due job (or one whose lease ran out) for ``worker``; the caller commits."""
    due = (
        select(Job.id)
        .where(
            or_(
                (Job.status == QUEUED) & (Job.run_at <= now),
                (Job.status == RUNNING) & (Job.locked_until < now),
            )
        )
        .order_by(Job.run_at, Job.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    job_id = session.execute(
        update(Job)
        .where(Job.id == due.scalar_subquery())
        .values(
            status=RUNNING,
            attempts=Job.attempts + 1,
            worker=worker,
            started_at=now,
            locked_until=now + DEFAULT_LEASE,
        )
        .returning(Job.id)
    ).scalar()
    if job_id is None:
        return None
    row = session.get(Job, job_id, populate_existing=True)
    assert row is not None
    spec = JOBS.get(row.name)
    if spec is not None and spec.lease != DEFAULT_LEASE:
        row.locked_until = now + spec.lease
    return row


def mark_done(session: Session, job_id: int, result: dict[str, Any] | None, now: datetime) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=DONE, result=result, error=None, finished_at=now, locked_until=None)
    )


def mark_failed(session: Session, job_id: int, error: str, now: datetime) -> str:
    """Record a failure: back to the queue after a back-off, or ``failed`` after the last
    attempt. Returns the new status."""
    row = session.get(Job, job_id, populate_existing=True)
    if row is None:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    row.error = error[-4000:]
    row.locked_until = None
    if row.attempts >= row.max_attempts:
        row.status = FAILED
        row.finished_at = now
    else:
        row.status = QUEUED
        row.run_at = now + timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (row.attempts - 1))
    return row.status


def retry(session: Session, job_id: int, now: datetime) -> Job:
    """Put a failed job back in the queue with a fresh set of attempts."""
    row = session.get(Job, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found", code="job_not_found")
    if row.status != FAILED:
        raise InvalidInput(
            f"job {job_id} is {row.status}, only failed jobs can be retried", code="job_not_failed"
        )
    row.status, row.attempts, row.run_at, row.finished_at = QUEUED, 0, now, None
    return row


def list_jobs(
    session: Session, *, status: str | None = None, name: str | None = None, limit: int = 50
) -> list[Job]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown job status {status!r} (one of {', '.join(STATUSES)})", code="job_status")
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    if name is not None:
        query = query.where(Job.name == name)
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: int(n) for status, n in rows}
