"""Test fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is this machine's server (``PATRON_TEST_PG``, default 127.0.0.1:5432, trust auth);
each xdist worker gets its own database. Without a server the PostgreSQL half is skipped with a
message, except in CI (``CI=true``) where that is a failure.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, create_engine, text

from patron.core.db import Base, make_engine
from patron.core.migrate import upgrade
from patron.core.settings import Settings

PG_ADMIN_URL = os.environ.get("PATRON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session", autouse=True)
def _settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    from patron.core import settings

    var = tmp_path_factory.mktemp("var")
    os.environ["PATRON_VAR_DIR"] = str(var)
    os.environ["PATRON_DATABASE_URL"] = f"sqlite:///{var / 'unused.db'}"
    os.environ["PATRON_IMPORT_CHUNK_ROWS"] = "100"
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


def _db_name() -> str:
    """One database per test process, so parallel workers and parallel runs never collide."""
    return f"patron_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _pg_engine() -> Engine:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = _db_name()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); set PATRON_TEST_PG to run these")
    finally:
        admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    return make_engine(url)


_engines: dict[str, Engine] = {}


def backend_engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    if backend not in _engines:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("sqlite") / "patron.db"
            engine = make_engine(f"sqlite:///{path}")
        else:
            engine = _pg_engine()
        upgrade(engine)
        _engines[backend] = engine
    return _engines[backend]


def wipe(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sequence(conn) else None


def _has_sequence(conn: object) -> bool:
    return bool(
        conn.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first()  # type: ignore[attr-defined]
    )


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated, empty database; wiped after the test (tests may commit freely)."""
    eng = backend_engine(request.param, tmp_path_factory)
    wipe(eng)
    yield eng
    wipe(eng)


@pytest.fixture
def session(engine: Engine) -> Iterator[object]:
    from patron.core.db import session_factory

    s = session_factory(engine)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for eng in _engines.values():
        eng.dispose()
    if "postgresql" in _engines:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_db_name()}" WITH (FORCE)'))
        admin.dispose()


# -- helpers shared by the storage tests ---------------------------------------------------------


@pytest.fixture
def shops(engine: Engine) -> dict[str, object]:
    """Four shops like the demo's: own site and WeChat (CNY), Tmall (CNY), Shopify (USD)."""
    from patron.commerce import service as commerce
    from patron.core.db import session_scope

    specs = [
        ("site", "Own site", "own_site", "CNY", "Asia/Shanghai"),
        ("wechat", "WeChat mini-program", "wechat_mini", "CNY", "Asia/Shanghai"),
        ("tmall", "Tmall flagship", "taobao", "CNY", "Asia/Shanghai"),
        ("shopify", "Shopify US", "shopify", "USD", "America/New_York"),
    ]
    out: dict[str, object] = {}
    with session_scope(engine) as s:
        for code, name, platform, currency, tz in specs:
            out[code] = commerce.create_shop(
                s, code=code, name=name, platform=platform, currency=currency, timezone=tz
            )
    return out


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[object]],
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def api_key(engine: Engine, role: str, scopes: list[str]) -> dict[str, str]:
    """The Authorization header of a new user with ``role`` holding an API key with ``scopes``."""
    from patron.accounts import service as accounts
    from patron.core.db import session_scope

    with session_scope(engine) as s:
        user = accounts.create_user(s, email=f"{role}@x.test", name=role, password="password1", role=role)
        token = accounts.create_api_key(s, user, "test", scopes)
    return {"Authorization": f"Bearer {token}"}


def table_rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def run_jobs(engine: Engine) -> int:
    """Run every job that is due now, as a worker would; how many ran."""
    from patron.worker import runner

    done = 0
    while runner.run_one(engine, "test") is not None:
        done += 1
    return done


def utc(value: object) -> str | None:
    """A stored timestamp as 'YYYY-MM-DD HH:MM:SS' UTC, whatever the driver returns."""
    from datetime import UTC, datetime

    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)[:19]


# -- CDNOW (Fader, Hardie & Lee): the data the analytics tests reproduce published figures on ---

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_log() -> pl.DataFrame:
    """The raw sample log: one row per transaction (customer, day, amount)."""
    cells = np.array((CDNOW / "CDNOW_sample.txt").read_text().split()).reshape(-1, 5)
    return pl.DataFrame(
        {
            "customer_id": cells[:, 1].astype(int),
            "at": pl.Series(cells[:, 2]).str.to_date("%Y%m%d"),
            "amount": cells[:, 4].astype(float),
        }
    )


@pytest.fixture(scope="session")
def cdnow_summary() -> pl.DataFrame:
    return pl.read_csv(CDNOW / "cdnow_customers_summary.csv")


@pytest.fixture(scope="session")
def cdnow_spend() -> pl.DataFrame:
    return pl.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")


# -- a real SMTP server on loopback ----------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1: what it received, and an answer to give instead of accepting
    (``refuse_rcpt = "550 5.1.1 no such user"``, ``refuse_data = "451 4.3.0 try later"``)."""

    port: int
    received: list[Received] = field(default_factory=list)
    refuse_rcpt: str | None = None
    refuse_data: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The ASGI app served by uvicorn on 127.0.0.1:<free port> in a background thread; its URL."""
    import threading
    import time

    import httpx
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2, timeout_keep_alive=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if server.started and httpx.get(f"{url}/login", timeout=1).status_code == 200:
                break
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail(f"the app did not answer on {url}")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer(port=free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def mail_settings(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that mail through ``smtp``: handed to the code under test, and what the
    ``mail.send`` job reads when a worker runs it."""
    from patron.core import mail
    from patron.core.settings import get_settings

    settings = get_settings().model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_timeout_s": 5.0,
            "public_url": "https://help.shop.test",
            "mail_from": "Shop Support <help@shop.test>",
        }
    )
    monkeypatch.setattr(mail, "get_settings", lambda: settings)
    return settings
