"""Fixtures for the browser tests: the real app under uvicorn, a seeded database, headless chromium.

The server is started per test because the ``engine`` fixture (SQLite and PostgreSQL) is
per test and wiped after it; starting uvicorn on an already bound socket takes a few
milliseconds. The browser is started once per session (about a second); every test gets a
fresh context, so cookies (session, language) never leak between tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import Engine

# Two cores run the server, the browser and the other test worker at once: give the page time
# to answer before calling an expectation failed (Playwright's default is 5 s).
expect.set_options(timeout=15_000)


def _root_conftest() -> Any:
    """tests/conftest.py, loaded from its file under a private module name, for its helpers."""
    name = "_patron_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "conftest.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_NOT_DELEGATED = frozenset({"collect_ignore", "collect_ignore_glob", "pytest_plugins"})


def __getattr__(name: str) -> Any:
    """Serve tests/conftest.py's helpers (``from conftest import table_rows, wipe``).

    Directories without ``__init__.py`` all name their conftest module ``conftest``, and pytest
    drops the previous one from ``sys.modules`` before importing the next. Once this file is
    loaded (``pytest tests/web tests/ingest``, or a test directory sorted after ``web``), a test
    module's ``from conftest import write_csv`` finds *this* module; delegating unknown names
    keeps such imports working whatever order pytest collects directories in. Hooks and
    pytest's own conftest variables are never delegated, so they are not registered twice.
    """
    if name.startswith(("_", "pytest_")) or name in _NOT_DELEGATED:
        raise AttributeError(name)
    try:
        return getattr(_root_conftest(), name)
    except AttributeError:
        raise AttributeError(f"module 'conftest' has no attribute {name!r}") from None


write_csv = _root_conftest().write_csv
serve = _root_conftest().serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ADMIN = ("admin@patron.test", "Ada Admin", "correct-horse-1")
READER = ("reader@patron.test", "Rita Reader", "read-only-pass-2")

# Patron's native order format (see tests/ingest/test_import_orders.py).
HEADER = [
    "order_id",
    "customer_external_id",
    "customer_name",
    "phone",
    "email",
    "status",
    "currency",
    "placed_at",
    "paid_at",
    "shipping",
    "discount",
    "order_total",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "line_total",
    "updated_at",
]


def order_row(
    order_id: str,
    customer: str,
    name: str,
    *,
    phone: str = "",
    email: str = "",
    status: str = "completed",
    currency: str = "CNY",
    placed_at: str = "2024-01-05 10:00:00",
    shipping: str = "0",
    discount: str = "0",
    total: str = "1.00",
    sku: str = "SKU1",
    title: str = "T恤",
    quantity: str = "1",
    unit_price: str = "1.00",
    line_total: str = "1.00",
    updated_at: str = "",
) -> list[object]:
    return [
        order_id,
        customer,
        name,
        phone,
        email,
        status,
        currency,
        placed_at,
        "",
        shipping,
        discount,
        total,
        sku,
        title,
        quantity,
        unit_price,
        line_total,
        updated_at,
    ]


SEED_ROWS = [
    # 张三: two orders, one of them with two lines, found by phone.
    order_row(
        "W1001",
        "c-zhang",
        "张三",
        phone="13812345678",
        placed_at="2024-01-05 10:00:00",
        shipping="10.00",
        total="209.00",
        sku="SKU1",
        title="T恤",
        quantity="2",
        unit_price="99.50",
        line_total="199.00",
    ),
    order_row(
        "W1001",
        "c-zhang",
        "张三",
        phone="13812345678",
        placed_at="2024-01-05 10:00:00",
        shipping="10.00",
        total="209.00",
        sku="SKU2",
        title="袜子",
        quantity="1",
        unit_price="0",
        line_total="0",
    ),
    order_row(
        "W1002",
        "c-zhang",
        "张三",
        phone="13812345678",
        status="delivered",
        placed_at="2024-03-03 15:30:00",
        total="30.00",
        sku="SKU3",
        title="帽子",
        unit_price="30.00",
        line_total="30.00",
    ),
    # Emily Carter: English name, found by email.
    order_row(
        "W2001",
        "c-emily",
        "Emily Carter",
        email="Emily.Carter@Example.com",
        status="shipped",
        placed_at="2024-02-01 09:30:00",
        discount="5.00",
        total="45.00",
        sku="SKU1",
        title="T-shirt",
        unit_price="50.00",
        line_total="50.00",
    ),
    # Two more people so that a search has something to leave out.
    order_row(
        "W3001",
        "c-li",
        "李四",
        phone="13900001111",
        placed_at="2024-02-10 12:00:00",
        total="88.00",
        sku="SKU4",
        title="围巾",
        unit_price="88.00",
        line_total="88.00",
    ),
    order_row(
        "W4001",
        "c-john",
        "John Smith",
        email="john.smith@example.com",
        placed_at="2024-02-11 08:00:00",
        total="12.50",
        sku="SKU5",
        title="Mug",
        unit_price="12.50",
        line_total="12.50",
    ),
]


@dataclass
class LiveApp:
    url: str
    engine: Engine
    var_dir: Path


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters (the hash records them, so verifying is cheap too): the default
    cost is about 0.4 s per hash or login here, which would dominate these tests."""
    from argon2 import PasswordHasher

    from patron.accounts import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def seeded(engine: Engine, shops: dict[str, object], tmp_path: Path, fast_passwords: None) -> Engine:
    """Two users (admin, read_only), four shops, and six orders of four customers imported for real."""
    from patron.accounts.service import create_user
    from patron.core.db import session_scope
    from patron.ingest.tasks import ImportRequest, run_import

    with session_scope(engine) as s:
        for (email, name, password), role in ((ADMIN, "admin"), (READER, "read_only")):
            create_user(s, email=email, name=name, password=password, role=role)
    path = write_csv(tmp_path / "seed-orders.csv", HEADER, SEED_ROWS)
    summary = run_import(ImportRequest(kind="orders", path=path, shop="site"), engine=engine)
    assert (summary.status, summary.inserted, summary.quarantined) == ("completed", 6, 0), summary
    return engine


@pytest.fixture
def live_app(seeded: Engine, tmp_path: Path) -> Iterator[LiveApp]:
    """The real ASGI app on 127.0.0.1:<free port>, served by uvicorn in a background thread."""
    from patron.api.app import create_app
    from patron.core.settings import Settings

    var_dir = tmp_path / "var"
    var_dir.mkdir()
    settings = Settings(
        var_dir=var_dir,
        database_url=seeded.url.render_as_string(hide_password=False),
        secret_key="browser-test-secret",  # type: ignore[arg-type]
    )
    app = create_app(settings, seeded)
    with serve(app) as url:
        yield LiveApp(url=url, engine=seeded, var_dir=var_dir)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, live_app: LiveApp) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_app.url, locale="en-US", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(5_000)
    yield ctx
    ctx.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed browser test's report shows what the page showed then (CI keeps no files)."""
    report = yield
    pages = [p for p in getattr(item, "funcargs", {}).values() if isinstance(p, Page)]
    if report.when == "call" and report.failed:
        for pg in pages:
            with contextlib.suppress(Exception):  # the page may be gone
                text = pg.locator("body").inner_text(timeout=2_000)
                report.sections.append((f"page {pg.url} when the test failed", text[:3000]))
    return report


@pytest.fixture
def phone(browser: Browser, live_app: LiveApp) -> Iterator[Page]:
    """A phone: a small touch screen, Chinese first."""
    ctx = browser.new_context(
        base_url=live_app.url,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    ctx.set_default_timeout(5_000)
    page = ctx.new_page()
    yield page
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    pg = context.new_page()
    yield pg
    pg.close()
