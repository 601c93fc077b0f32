"""``patron worker`` and ``patron jobs ...``: the background worker and its queue."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from patron.cli._common import console, handle_errors, print_json
from patron.core import jobs
from patron.core.db import get_engine, session_scope
from patron.core.errors import InvalidInput
from patron.core.settings import get_settings
from patron.core.time import utcnow
from patron.worker import runner

app = typer.Typer(help="The job queue: scheduled and queued background work.", no_args_is_help=True)


def _tally_line(tally: runner.Tally) -> str:
    return (
        f"scheduled {', '.join(tally.scheduled) or 'nothing'}; done {len(tally.done)}, "
        f"retrying {len(tally.retried)}, failed {len(tally.failed)}"
    )


@handle_errors
def worker_command(
    once: Annotated[bool, typer.Option("--once", help="run what is due now, then exit")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="seconds between queue polls")] = 5.0,
) -> None:
    """Run scheduled and queued jobs (scoring every night, tier recalibration every quarter)."""
    settings, engine = get_settings(), get_engine()
    runner.check_schedules(settings)
    if once:
        console.print(_tally_line(runner.drain(engine, settings)))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"worker {runner.worker_name()} running; Ctrl+C stops it")
    runner.serve(engine, settings, stop, poll, on_tally=lambda t: console.print(_tally_line(t)))


def start_background_worker(poll_seconds: float = 30.0) -> threading.Thread:
    """The worker as a daemon thread of a server process: one command runs a whole small
    installation. Several processes doing this is safe (claims skip each other's jobs)."""
    settings, engine = get_settings(), get_engine()
    thread = threading.Thread(
        target=runner.serve,
        args=(engine, settings, threading.Event(), poll_seconds),
        name="patron-worker",
        daemon=True,
    )
    thread.start()
    return thread


def _row(j: jobs.Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "name": j.name,
        "status": j.status,
        "args": j.args,
        "run_at": j.run_at,
        "attempts": j.attempts,
        "result": j.result,
        "error": (j.error or "").splitlines()[0] if j.error else None,
    }


@app.command("list")
@handle_errors
def list_command(
    status: Annotated[str | None, typer.Option(help="queued, running, done or failed")] = None,
    name: str | None = None,
    limit: int = 30,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recent jobs, newest first, and when each scheduled job runs next."""
    runner.load_jobs()
    with session_scope() as s:
        rows = [_row(j) for j in jobs.list_jobs(s, status=status, name=name, limit=limit)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "job", "status", "run at (UTC)", "tries", "result / error", title="jobs")
    for r in rows:
        outcome = r["error"] or (json.dumps(r["result"], default=str) if r["result"] else "")
        table.add_row(
            str(r["id"]), r["name"], r["status"], f"{r['run_at']:%Y-%m-%d %H:%M}", str(r["attempts"]), outcome
        )
    console.print(table)
    settings, now = get_settings(), utcnow()
    for spec in sorted(jobs.JOBS.values(), key=lambda s: s.name):
        expr = jobs.schedule_of(spec, settings.schedules)
        if expr:
            nxt = jobs.next_occurrence(expr, now, settings.default_timezone)
            console.print(
                f"{spec.name}: '{expr}' ({settings.default_timezone}), next {nxt:%Y-%m-%d %H:%M} UTC"
            )


@app.command("run")
@handle_errors
def run_command(
    name: str,
    args: Annotated[str, typer.Option(help='JSON arguments, e.g. \'{"as_of": "2026-09-30"}\'')] = "{}",
) -> None:
    """Queue a job now (the worker runs it; `patron worker --once` runs it at once)."""
    runner.load_jobs()
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--args is not JSON: {exc}", code="bad_json") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("--args must be a JSON object", code="bad_json")
    with session_scope() as s:
        row = jobs.enqueue(s, name, parsed)
        job_id = row.id
    console.print(f"queued job #{job_id} ({name})")


@app.command("retry")
@handle_errors
def retry_command(job_id: int) -> None:
    """Queue a failed job again with a fresh set of attempts."""
    with session_scope() as s:
        jobs.retry(s, job_id, utcnow())
    console.print(f"job #{job_id} queued again")
