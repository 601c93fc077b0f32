"""An import killed half way (SIGKILL) and run again ends in exactly the state of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from conftest import table_rows, wipe, write_csv
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.ingest.tasks import ImportRequest, run_import

HEADER = [
    "order_id",
    "customer_external_id",
    "phone",
    "status",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
    "updated_at",
]
N_ORDERS = 3000

SNAPSHOT = [
    "SELECT o.external_id, o.status, o.total_minor, o.placed_at, i.value FROM orders o "
    "JOIN identities i ON i.customer_id = o.customer_id AND i.kind = 'external_id' ORDER BY o.external_id",
    "SELECT o.external_id, l.line_key, l.quantity, l.total_minor FROM order_lines l JOIN orders o ON o.id = l.order_id "
    "ORDER BY o.external_id, l.line_key",
    "SELECT COUNT(*), SUM(orders_count), SUM(spent_minor) FROM customers WHERE merged_into_id IS NULL",
    "SELECT kind, namespace, value FROM identities ORDER BY kind, namespace, value",
]


def big_file(tmp_path: Path) -> Path:
    rows = []
    for i in range(N_ORDERS):
        for line in range(1 + i % 3):
            rows.append(
                [
                    f"O{i:06d}",
                    f"c{i % 2500}",
                    f"139{i % 2500:08d}",
                    "completed",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00",
                    f"SKU{line}",
                    1 + line,
                    "12.34",
                    "2024-12-31 00:00:00",
                ]
            )
    return write_csv(tmp_path / "big.csv", HEADER, rows)


def snapshot(engine: Engine) -> list[list[tuple[object, ...]]]:
    return [table_rows(engine, sql) for sql in SNAPSHOT]


def make_shop(engine: Engine) -> None:
    with session_scope(engine) as s:
        commerce.create_shop(
            s,
            code="site",
            name="Site",
            platform="own_site",
            currency="CNY",
            timezone="Asia/Shanghai",
        )


def test_kill_and_resume_equals_clean_run(engine: Engine, tmp_path: Path) -> None:
    path = big_file(tmp_path)
    make_shop(engine)
    clean = run_import(ImportRequest(kind="orders", path=path, shop="site"), engine=engine)
    expected = snapshot(engine)
    wipe(engine)
    make_shop(engine)

    env = {
        **os.environ,
        "PATRON_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "PATRON_IMPORT_CHUNK_ROWS": "200",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patron.cli.main",
            "import",
            "orders",
            str(path),
            "--shop",
            "site",
            "--json",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            done = table_rows(engine, "SELECT COALESCE(MAX(checkpoint_row), 0) FROM import_runs")[0][0]
            if done and int(str(done)) >= 600:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = int(str(table_rows(engine, "SELECT checkpoint_row FROM import_runs")[0][0]))
    assert 600 <= killed_at < clean.rows_read, "the import finished before it could be killed"
    assert table_rows(engine, "SELECT status FROM import_runs") == [("running",)]

    resumed = run_import(ImportRequest(kind="orders", path=path, shop="site"), engine=engine)
    assert resumed.resumed_after_row == killed_at
    assert resumed.resumed_from is not None
    assert resumed.rows_read == clean.rows_read
    assert (resumed.inserted + resumed.updated + resumed.unchanged) == clean.inserted
    assert snapshot(engine) == expected
    assert table_rows(engine, "SELECT status FROM import_runs ORDER BY id") == [
        ("failed",),
        ("completed",),
    ]
