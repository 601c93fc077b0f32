"""The background worker: enqueue due scheduled jobs, then run queued jobs one at a time.

Each job runs in its own transaction together with its ``done`` mark (see
:mod:`patron.core.jobs`); an exception rolls the job's work back and records the failure in a
fresh transaction, so a failing job never leaves half its effects behind.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from patron.core import jobs
from patron.core.db import session_scope
from patron.core.errors import InvalidInput, PatronError
from patron.core.settings import Settings
from patron.core.time import utcnow

log = logging.getLogger("patron.worker")

#: Modules that declare jobs; importing them registers their handlers and schedules.
JOB_MODULES = ("patron.core.mail", "patron.scoring.tasks", "patron.desk.tasks", "patron.loyalty.tasks")


def load_jobs() -> dict[str, jobs.JobSpec]:
    import importlib

    for module in JOB_MODULES:
        importlib.import_module(module)
    return jobs.JOBS


@dataclass
class Tally:
    scheduled: list[str] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def check_schedules(settings: Settings) -> None:
    """Refuse a bad ``PATRON_SCHEDULES`` before the worker starts (InvalidInput)."""
    for spec in load_jobs().values():
        jobs.schedule_of(spec, settings.schedules)
    unknown = sorted(set(settings.schedules) - set(jobs.JOBS))
    if unknown:
        raise InvalidInput(
            f"PATRON_SCHEDULES names unknown job(s) {unknown}; known: {', '.join(sorted(jobs.JOBS))}",
            code="schedule_unknown_job",
        )


def schedule(engine: Engine, settings: Settings) -> list[str]:
    """Queue the scheduled jobs that are due now; the names queued."""
    load_jobs()
    with session_scope(engine) as session:
        return jobs.enqueue_due(session, utcnow(), settings.default_timezone, settings.schedules)


def run_one(engine: Engine, worker: str, tally: Tally | None = None) -> int | None:
    """Claim and run the next due job; its id, or None when nothing is due."""
    load_jobs()
    with session_scope(engine) as session:
        row = jobs.claim(session, worker, utcnow())
        if row is None:
            return None
        job_id, name, args = row.id, row.name, dict(row.args)
    tally = tally or Tally()
    try:
        spec = jobs.spec_of(name)
        with session_scope(engine) as session:
            result = spec.handler(session, **args)
            jobs.mark_done(session, job_id, result, utcnow())
        tally.done.append(job_id)
        log.info("job %s (%s) done", job_id, name)
    except Exception as exc:  # any failure of a job is recorded, never fatal
        message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        with session_scope(engine) as session:
            status = jobs.mark_failed(session, job_id, message, utcnow())
        (tally.failed if status == jobs.FAILED else tally.retried).append(job_id)
        log.warning("job %s (%s) failed (%s): %s", job_id, name, status, exc)
    return job_id


def drain(engine: Engine, settings: Settings, worker: str | None = None) -> Tally:
    """Schedule, then run every job that is due now; return what happened (``--once``)."""
    try:
        tally = Tally(scheduled=schedule(engine, settings))
    except PatronError as exc:  # a bad schedule must not hold up the queued jobs
        log.error("scheduling failed: %s", exc.message)
        tally = Tally()
    worker = worker or worker_name()
    while run_one(engine, worker, tally) is not None:
        pass
    return tally


def serve(
    engine: Engine,
    settings: Settings,
    stop: threading.Event,
    poll_seconds: float = 5.0,
    on_tally: Callable[[Tally], None] | None = None,
) -> None:
    """Run until ``stop`` is set: drain, then sleep ``poll_seconds``."""
    worker = worker_name()
    while not stop.is_set():
        try:
            tally = drain(engine, settings, worker)
        except Exception:  # the database went away, a bad schedule: say so, keep polling
            log.exception("worker cycle failed; retrying in %s s", poll_seconds)
        else:
            if on_tally is not None and (tally.scheduled or tally.done or tally.retried or tally.failed):
                on_tally(tally)
        stop.wait(poll_seconds)
