"""Service desk at 100,000 open tickets in SQLite: the queue over HTTP and the SLA breach scan.

Targets (issue 4): the ticket queue with 100,000 tickets, server time p99 <= 100 ms; the SLA
breach scan over 100,000 open tickets <= 2 s. Tickets and their clocks are seeded with bulk SQL
(the write path has its own tests); each ticket has a first-response and a resolution clock,
due over the last and the next days. The queue is read in-process through the ASGI app (server
time, no network): the agents' queue page (HTML, logged in, and its breached filter), and over
the API the default queue (most urgent first, page 1), the open statuses, a late page, one
agent's queue and a subject search. The scan is timed twice on fresh copies of the
database: the first scan after a quiet spell that records every overdue clock (10 % of them,
20,000 events and 10,000 escalations), and the steady scan a minute later that finds nothing
new.

    python -m benchmarks.desk_bench [--tickets N]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.common import percentiles, write

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DASHBOARD_REQUESTS = 30
TARGETS = {"queue_p99_ms": 100.0, "scan_s": 2.0}
REQUESTS = 200


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, object]]) -> None:
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    conn.executemany(sql, rows)


def seed(db: Path, tickets: int, seed_: int = 4) -> str:
    from patron.accounts import service as accounts
    from patron.core.db import make_engine, session_scope
    from patron.core.migrate import upgrade

    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with session_scope(engine) as s:
        user = accounts.create_user(
            s, email="bench@x.test", name="bench", password="benchmark1", role="admin"
        )
        key = accounts.create_api_key(s, user, "bench", ["tickets:read", "tickets:write", "desk:admin"])
        agents = [
            accounts.create_user(
                s, email=f"a{i}@x.test", name=f"agent {i}", password="benchmark1", role="agent"
            ).id
            for i in range(20)
        ]
    engine.dispose()
    rng = np.random.default_rng(seed_)
    statuses = np.array(["new", "open", "waiting_customer", "waiting_third_party", "reopened"])
    priorities = np.array(["low", "normal", "high", "urgent"])
    types = np.array(["inquiry", "return", "exchange", "refund_only", "repair", "reship", "complaint"])
    created = [NOW - timedelta(minutes=int(m)) for m in rng.integers(10, 60 * 24 * 20, tickets)]
    status = rng.choice(statuses, tickets, p=[0.3, 0.4, 0.15, 0.05, 0.1])
    rows = [
        {"id": i + 1, "public_token": f"tok{i}", "subject": f"Order question {i} about parcel {rng.integers(1e6)}",
         "type": str(types[i % 7]), "channel": "api", "status": str(status[i]),
         "priority": str(priorities[rng.integers(4)]), "severity_reasons": "[]",
         "assignee_id": int(agents[i % 20]) if i % 3 else None, "language": "zh", "reopen_count": 0,
         "created_at": _ts(created[i]), "updated_at": _ts(created[i])}
        for i in range(tickets)
    ]  # fmt: skip
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    _insert(conn, "tickets", rows)
    # Clocks: 10 % of the tickets are overdue (due in the last day, not yet recorded), the rest
    # due in the next days or paused (waiting on the customer).
    slas = []
    sid = 0
    for i in range(tickets):
        overdue = i % 10 == 0
        for target in ("first_response", "resolution"):
            sid += 1
            paused = status[i] == "waiting_customer" and not overdue
            due = NOW - timedelta(minutes=int(rng.integers(1, 1440))) if overdue else (
                NOW + timedelta(minutes=int(rng.integers(1, 5 * 1440))))  # fmt: skip
            slas.append(
                {"id": sid, "ticket_id": i + 1, "target": target, "seq": 0,
                 "target_minutes": 240 if target == "first_response" else 2880, "started_at": _ts(created[i]),
                 "elapsed_minutes": 0, "running_since": None if paused else _ts(created[i]),
                 "due_at": None if paused else _ts(due),
                 "warn_at": None if paused else _ts(due - timedelta(minutes=30))}
            )  # fmt: skip
    _insert(conn, "ticket_slas", slas)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return key


def _scan(db: Path, at: datetime) -> tuple[float, tuple[int, int]]:
    from patron.core.db import make_engine, session_scope
    from patron.desk import service

    engine = make_engine(f"sqlite:///{db}")
    with session_scope(engine) as s:
        start = time.perf_counter()
        found = service.scan(s, now=at)
        s.flush()
        seconds = time.perf_counter() - start
    engine.dispose()
    return seconds, found


def scan_rounds(db: Path, rounds: int = 3) -> dict[str, object]:
    first, steady, found = [], [], (0, 0)
    for r in range(rounds):
        copy = db.with_name(f"scan{r}.db")
        shutil.copy(db, copy)
        seconds, found = _scan(copy, NOW)
        first.append(seconds)
        steady.append(_scan(copy, NOW + timedelta(minutes=1))[0])
    return {
        "first_scan_s": round(statistics.median(first), 3),
        "first_scan_found": {"breached": found[0], "warned": found[1]},
        "steady_scan_s": round(statistics.median(steady), 3),
        "rounds": rounds,
    }


def queue_latency(db: Path, key: str) -> dict[str, object]:
    from fastapi.testclient import TestClient

    from patron.api.app import create_app
    from patron.core.db import make_engine
    from patron.core.settings import Settings

    engine = make_engine(f"sqlite:///{db}")
    app = create_app(
        Settings(var_dir=db.parent, database_url=f"sqlite:///{db}", secret_key="k" * 32), engine=engine
    )
    headers = {"Authorization": f"Bearer {key}"}
    views = {
        "default": "/api/v1/tickets",
        "open_statuses": "/api/v1/tickets?status=new&status=open&status=reopened",
        "page_100": "/api/v1/tickets?page=100",
        "one_agent": "/api/v1/tickets?assignee_id=5",
        "search": "/api/v1/tickets?q=parcel%204242",
    }
    pages = {"page_queue": "/tickets", "page_queue_breached": "/tickets?breached=yes"}
    out: dict[str, object] = {}
    with TestClient(app) as client:
        r = client.post(
            "/login", data={"email": "bench@x.test", "password": "benchmark1"}, follow_redirects=False
        )
        assert r.status_code == 303, r.text

        def timed(url: str, requests: int = REQUESTS, **kw: object) -> dict[str, float]:
            assert client.get(url, **kw).status_code == 200  # type: ignore[arg-type]
            samples = []
            for _ in range(requests):
                start = time.perf_counter()
                r = client.get(url, **kw)  # type: ignore[arg-type]
                samples.append(time.perf_counter() - start)
                assert r.status_code == 200
            return percentiles(samples)

        for name, url in pages.items():
            out[name] = timed(url)
        for name, url in views.items():
            out[name] = timed(url, headers=headers)
        # The service dashboard (volumes, backlog, SLA, CSAT, Pareto) over the last 30 days:
        # no target in the issue, reported beside the queue.
        out["dashboard"] = timed("/desk", requests=DASHBOARD_REQUESTS)
    engine.dispose()
    return out


def main(tickets: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "desk.db"
        start = time.perf_counter()
        key = seed(db, tickets)
        seeded = time.perf_counter() - start
        queue = queue_latency(db, key)
        scan = scan_rounds(db)
    worst = max(float(v["p99_ms"]) for k, v in queue.items() if k != "dashboard")  # type: ignore[index]
    write(
        "desk",
        {
            "tickets": tickets,
            "seed_s": round(seeded, 1),
            "queue": queue,
            "scan": scan,
            "targets": TARGETS,
            "meets_targets": worst <= TARGETS["queue_p99_ms"]
            and float(scan["first_scan_s"]) <= TARGETS["scan_s"],  # type: ignore[arg-type]
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    main(parser.parse_args().tickets)
