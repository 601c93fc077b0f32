"""Durable jobs and the scheduler on SQLite and PostgreSQL: release on commit only, one
transaction with the job's work, retries with back-off, leases, dedup keys, cron schedules."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from conftest import table_rows
from patron.core import jobs
from patron.core.db import session_scope
from patron.core.errors import InvalidInput, NotFound
from patron.core.settings import Settings
from patron.models import TagGroup
from patron.worker import runner

CALLS: list[dict[str, Any]] = []


@jobs.job("test.tag", max_attempts=3)
def make_tag(session: Any, name: str, fail: bool = False) -> dict[str, Any]:
    """Writes a tag group, then fails if asked: the write must vanish with the failure."""
    CALLS.append({"name": name})
    session.add(TagGroup(name=name))
    session.flush()
    if fail:
        raise RuntimeError(f"cannot tag {name}")
    return {"made": name}


@jobs.job("test.nightly", schedule="0 2 * * *")
def nightly(session: Any) -> None:
    CALLS.append({"nightly": True})


# The product's own scheduled jobs switched off: these tests schedule theirs alone.
ONLY_TEST = {name: "off" for name in runner.load_jobs() if not name.startswith("test.")}


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def _settings(**overrides: Any) -> Settings:
    return Settings(default_timezone="Asia/Shanghai", schedules=ONLY_TEST | overrides)


def groups(engine: Engine) -> list[str]:
    return [r[0] for r in table_rows(engine, "SELECT name FROM tag_groups ORDER BY name")]


def _enqueue_then_fail(engine: Engine) -> None:
    with session_scope(engine) as s:
        jobs.enqueue(s, "test.tag", {"name": "lost"})
        raise RuntimeError("the caller's work failed")


def test_a_job_is_released_only_when_its_transaction_commits(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="the caller's work failed"):
        _enqueue_then_fail(engine)
    assert table_rows(engine, "SELECT count(*) FROM jobs") == [(0,)]
    with session_scope(engine) as s:
        jobs.enqueue(s, "test.tag", {"name": "kept"})
        # Not visible to any other connection (so to no worker) before the commit.
        assert table_rows(engine, "SELECT count(*) FROM jobs") == [(0,)]
    assert runner.run_one(engine, "w") is not None
    assert groups(engine) == ["kept"]
    assert table_rows(engine, "SELECT status, attempts, worker FROM jobs") == [("done", 1, "w")]
    assert runner.run_one(engine, "w") is None  # done jobs never run again


def test_a_failing_job_leaves_no_effect_retries_with_backoff_then_fails(engine: Engine) -> None:
    with session_scope(engine) as s:
        job_id = jobs.enqueue(s, "test.tag", {"name": "bad", "fail": True}).id
    t0 = datetime.now(UTC)
    tally = runner.Tally()
    runner.run_one(engine, "w", tally)
    assert tally.retried == [job_id]
    assert groups(engine) == []
    with session_scope(engine) as s:
        row = s.get(jobs.Job, job_id)
        assert row is not None
        assert (row.status, row.attempts) == ("queued", 1)
        assert "RuntimeError: cannot tag bad" in (row.error or "")
        wait = (row.run_at - t0).total_seconds()
        assert jobs.RETRY_BASE_SECONDS - 1 <= wait <= jobs.RETRY_BASE_SECONDS + 5
    assert runner.run_one(engine, "w") is None  # not due before its back-off
    for _ in (2, 3):
        with session_scope(engine) as s:
            s.get(jobs.Job, job_id).run_at = datetime.now(UTC) - timedelta(seconds=1)  # type: ignore[union-attr]
        runner.run_one(engine, "w", tally)
    assert tally.failed == [job_id]
    assert len(CALLS) == 3
    assert groups(engine) == []
    assert table_rows(engine, "SELECT status, attempts FROM jobs") == [("failed", 3)]
    with session_scope(engine) as s:
        jobs.retry(s, job_id, datetime.now(UTC))
    with session_scope(engine) as s, pytest.raises(InvalidInput, match="only failed jobs"):
        jobs.retry(s, job_id, datetime.now(UTC))
    assert table_rows(engine, "SELECT status, attempts FROM jobs") == [("queued", 0)]


def test_an_unknown_job_is_refused_and_a_stale_one_fails(engine: Engine) -> None:
    with session_scope(engine) as s, pytest.raises(NotFound, match=r"unknown job 'nope\.nothing'"):
        jobs.enqueue(s, "nope.nothing")
    # A job stored by an older version whose handler no longer exists fails, never crashes.
    with session_scope(engine) as s:
        s.add(jobs.Job(name="gone.away", args={}, status="queued", max_attempts=1))
    tally = runner.Tally()
    runner.run_one(engine, "w", tally)
    assert len(tally.failed) == 1
    assert table_rows(engine, "SELECT status FROM jobs") == [("failed",)]


def test_a_key_queues_a_job_once(engine: Engine) -> None:
    with session_scope(engine) as s:
        a = jobs.enqueue(s, "test.tag", {"name": "x"}, key="k1").id
        b = jobs.enqueue(s, "test.tag", {"name": "y"}, key="k1").id
    assert a == b
    assert table_rows(engine, "SELECT count(*) FROM jobs") == [(1,)]


def test_an_expired_lease_is_taken_again(engine: Engine) -> None:
    with session_scope(engine) as s:
        job_id = jobs.enqueue(s, "test.tag", {"name": "slow"}).id
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        assert jobs.claim(s, "dead-worker", now) is not None
    with session_scope(engine) as s:  # its lease still runs: nobody else takes it
        assert jobs.claim(s, "w2", now + timedelta(minutes=59)) is None
    with session_scope(engine) as s:
        row = jobs.claim(s, "w2", now + timedelta(minutes=61))
        assert row is not None
        assert (row.id, row.attempts, row.worker) == (job_id, 2, "w2")


def test_the_scheduler_queues_the_latest_occurrence_once(engine: Engine) -> None:
    # 2026-11-23 19:30 UTC is 03:30 on the 24th in Shanghai: the 02:00 run of the 24th is due.
    now = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        assert jobs.enqueue_due(s, now, "Asia/Shanghai", ONLY_TEST) == ["test.nightly"]
        assert jobs.enqueue_due(s, now + timedelta(hours=1), "Asia/Shanghai", ONLY_TEST) == []
    with session_scope(engine) as s:
        row = s.scalars(select(jobs.Job)).one()
        assert row.key == "test.nightly@2026-11-23T18:00:00+00:00"
        assert row.run_at == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        # The next day's occurrence is a new job; missed days in between are not replayed.
        assert jobs.enqueue_due(s, now + timedelta(days=3), "Asia/Shanghai", ONLY_TEST) == ["test.nightly"]
        assert s.scalar(select(func.count()).select_from(jobs.Job)) == 2


def test_schedules_can_be_changed_or_switched_off(engine: Engine) -> None:
    now = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)
    with session_scope(engine) as s:
        assert jobs.enqueue_due(s, now, "UTC", ONLY_TEST | {"test.nightly": "off"}) == []
        assert jobs.enqueue_due(s, now, "UTC", ONLY_TEST | {"test.nightly": "15 19 * * *"}) == [
            "test.nightly"
        ]
        assert s.scalars(select(jobs.Job.run_at)).one() == datetime(2026, 11, 23, 19, 15, tzinfo=UTC)
        with pytest.raises(InvalidInput, match="not a cron expression"):
            jobs.enqueue_due(s, now, "UTC", ONLY_TEST | {"test.nightly": "every night"})
    with pytest.raises(ValueError, match="invalid cron"):
        jobs.job("test.bad", schedule="61 * * * *")


def test_drain_schedules_and_runs_everything_due(engine: Engine) -> None:
    with session_scope(engine) as s:
        jobs.enqueue(s, "test.tag", {"name": "a"})
        jobs.enqueue(s, "test.tag", {"name": "b"}, run_at=datetime.now(UTC) + timedelta(hours=1))
    tally = runner.drain(engine, _settings(), "w")
    assert tally.scheduled == ["test.nightly"]
    assert len(tally.done) == 2  # "a" and the nightly job
    assert groups(engine) == ["a"]
    assert {"nightly": True} in CALLS


def test_concurrent_workers_never_run_a_job_twice(engine: Engine) -> None:
    with session_scope(engine) as s:
        for i in range(30):
            jobs.enqueue(s, "test.tag", {"name": f"g{i:02d}"})
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while runner.run_one(engine, name) is not None:
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert groups(engine) == [f"g{i:02d}" for i in range(30)]  # each exactly once (names are unique)
    assert table_rows(engine, "SELECT count(*) FROM jobs WHERE status = 'done' AND attempts = 1") == [(30,)]


def test_list_jobs_checks_the_status(engine: Engine) -> None:
    with session_scope(engine) as s:
        jobs.enqueue(s, "test.tag", {"name": "a"})
        assert [j.name for j in jobs.list_jobs(s, status="queued")] == ["test.tag"]
        assert jobs.counts(s) == {"queued": 1}
        with pytest.raises(InvalidInput, match="unknown job status 'nope'"):
            jobs.list_jobs(s, status="nope")


def test_the_serving_loop_runs_jobs_despite_a_bad_schedule_and_stops_on_request(engine: Engine) -> None:
    stop = threading.Event()
    seen: list[runner.Tally] = []
    bad = Settings(schedules=ONLY_TEST | {"test.nightly": "never"})
    with pytest.raises(InvalidInput, match="'never' is not a cron expression"):
        runner.check_schedules(bad)
    with pytest.raises(InvalidInput, match=r"unknown job\(s\) \['test\.typo'\]"):
        runner.check_schedules(_settings(**{"test.typo": "off"}))
    thread = threading.Thread(target=runner.serve, args=(engine, bad, stop, 0.05, seen.append))
    thread.start()
    with session_scope(engine) as s:
        jobs.enqueue(s, "test.tag", {"name": "x"})
    deadline = time.monotonic() + 10
    while groups(engine) != ["x"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert thread.is_alive()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert groups(engine) == ["x"]
    assert [(t.scheduled, len(t.done)) for t in seen] == [([], 1)]
    assert table_rows(engine, "SELECT count(*) FROM jobs") == [(1,)]  # nothing scheduled
