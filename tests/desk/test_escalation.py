"""SLA escalation on both databases: a miss reassigns the ticket to the policy's lead, and
warnings and misses reach a real HTTP receiver on loopback, signed, once each, after commit,
retried while the receiver fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, text
from test_tickets import T0, UTC_DESK

from conftest import run_jobs, table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.settings import get_settings
from patron.desk import notify, service
from patron.desk.service import NewTicket


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.fail = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/sla"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((dict(self.headers), body))
        self.send_response(500 if self.server.fail else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_warning_and_miss_reach_the_webhook_once_and_the_lead_takes_over(
    engine: Engine, receiver: Receiver
) -> None:
    with session_scope(engine) as s:
        lead = accounts.create_user(
            s, email="lead@x.test", name="Lead", password="password1", role="agent"
        ).id
        service.create_policy(s, {"name": "p", "position": 1, "first_response_minutes": 60, "warn_before_minutes": 10,
                                  "escalate_to_user_id": lead, "notify_url": receiver.url})  # fmt: skip
        tid = service.create(s, NewTicket(subject="Late", body="b"), actor="api", config=UTC_DESK, now=T0).id
    with session_scope(engine) as s:
        assert service.scan(s, now=T0 + timedelta(minutes=50)) == (0, 1)
        assert receiver.seen == []  # not before the scan's transaction commits
    assert run_jobs(engine) == 1
    with session_scope(engine) as s:
        assert service.scan(s, now=T0 + timedelta(minutes=61)) == (1, 0)
        assert service.scan(s, now=T0 + timedelta(minutes=62)) == (0, 0)
    assert run_jobs(engine) == 1
    assert run_jobs(engine) == 0
    events = [json.loads(body)["event"] for _, body in receiver.seen]
    assert events == ["sla.warning", "sla.breached"]
    headers, body = receiver.seen[1]
    assert headers["X-Patron-Signature"] == notify.signature(body, get_settings().resolved_secret_key())
    assert headers["X-Patron-Event"] == "sla.breached"
    assert json.loads(body) == {
        "event": "sla.breached", "ticket": f"T-{tid:06d}", "ticket_id": tid, "subject": "Late", "priority": "high",
        "assignee_id": lead, "target": "first_response", "due": "2026-03-02T10:00:00+00:00", "policy": "p",
    }  # fmt: skip
    assert table_rows(engine, f"SELECT assignee_id, priority FROM tickets WHERE id = {tid}") == [
        (lead, "high")
    ]


def test_a_failing_receiver_is_retried_and_nothing_is_lost(engine: Engine, receiver: Receiver) -> None:
    receiver.fail = True
    with session_scope(engine) as s:
        service.create_policy(
            s, {"name": "p", "position": 1, "first_response_minutes": 60, "notify_url": receiver.url}
        )
        service.create(s, NewTicket(subject="Late", body="b"), actor="api", config=UTC_DESK, now=T0)
    with session_scope(engine) as s:
        # Missed before any scan saw it coming: a miss, and no warning after the fact.
        assert service.scan(s, now=T0 + timedelta(minutes=61)) == (1, 0)
    run_jobs(engine)
    assert len(receiver.seen) == 1
    rows = table_rows(
        engine, "SELECT status, attempts, error IS NOT NULL FROM jobs WHERE name = 'desk.notify'"
    )
    assert rows == [("queued", 1, True)]  # kept, to be tried again after a back-off
    receiver.fail = False
    with session_scope(engine) as s:
        s.execute(text("UPDATE jobs SET run_at = created_at"))  # the back-off is over
    assert run_jobs(engine) == 1
    assert len(receiver.seen) == 2
    assert table_rows(engine, "SELECT status, attempts FROM jobs WHERE name = 'desk.notify'") == [("done", 2)]
