"""Import 1,000,000 generated order lines into SQLite and PostgreSQL through the real importer.

Targets (issue 2): SQLite >= 50,000 lines/s with peak memory <= 1.5 GB; PostgreSQL >= 100,000
lines/s. Each import runs in its own process so its peak RSS is its own. After each import the
same process times writing only the rows that import produced into a fresh database of the same
schema (``floor_lines_per_s``): what the schema and the machine allow before any parsing.

    python -m benchmarks.import_bench [--lines N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.common import PG_URL, run_measured, write

TARGETS = {"sqlite": 50_000, "postgresql": 100_000}


def make_orders(path: Path, lines: int, seed: int = 1) -> Path:
    """Native-format order lines: ~1.8 lines per order, a quarter as many customers as orders."""
    rng = np.random.default_rng(seed)
    per_order = rng.choice([1, 1, 2, 3], size=lines)
    order_of_line = np.repeat(np.arange(lines), per_order)[:lines]
    n_orders = int(order_of_line[-1]) + 1
    customer = rng.integers(1, max(2, n_orders // 4), size=n_orders)[order_of_line]
    line_no = np.arange(lines) - np.searchsorted(order_of_line, order_of_line)
    day = rng.integers(0, 700, size=n_orders)[order_of_line]
    placed = (np.datetime64("2024-01-01T10:00:00") + day.astype("timedelta64[D]")).astype(str)
    price = rng.integers(100, 50_000, size=lines)
    qty = rng.integers(1, 4, size=lines)
    frame = pl.DataFrame(
        {
            "order_id": np.char.add("O", order_of_line.astype(str)),
            "line_id": line_no.astype(str),
            "customer_external_id": np.char.add("c", customer.astype(str)),
            "phone": np.char.add("139", np.char.zfill(customer.astype(str), 8)),
            "status": np.where(rng.random(lines) < 0.95, "completed", "cancelled"),
            "currency": "CNY",
            "placed_at": np.char.replace(placed, "T", " "),
            "sku": np.char.add("SKU", rng.integers(1, 5000, size=lines).astype(str)),
            "quantity": qty.astype(str),
            "unit_price": [f"{p // 100}.{p % 100:02d}" for p in price.tolist()],
            "province": "浙江省",
            "city": "杭州市",
        }
    )
    frame.write_csv(path)
    return path


FLOOR_TABLES = ("customers", "identities", "orders", "order_lines")


def write_floor(source: Any, url: str, chunk: int = 50_000) -> float:
    """Seconds to write only the rows the import wrote (customers, identities, orders, lines)
    into a fresh database with the same schema, with the importer's own bulk writer in its chunk
    size and a commit per chunk: the least any importer could take for this schema here."""
    from patron.commerce import service as commerce
    from patron.core import bulk
    from patron.core.db import make_engine, session_scope
    from patron.core.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        commerce.create_shop(
            s, code="site", name="Site", platform="own_site", currency="CNY", timezone="Asia/Shanghai"
        )
    seconds = 0.0
    for table in FLOOR_TABLES:
        frame = pl.read_database(f"SELECT * FROM {table}", connection=source)
        if "custom" in frame.columns:
            frame = frame.with_columns(custom=pl.lit("{}"))
        start = time.perf_counter()
        for offset in range(0, frame.height, chunk):
            with session_scope(engine) as s:
                bulk.insert_frame(s, table, frame.slice(offset, chunk))
        seconds += time.perf_counter() - start
    engine.dispose()
    return seconds


def child(url: str, file: str, floor_url: str) -> None:
    from patron.commerce import service as commerce
    from patron.core.db import make_engine, session_scope
    from patron.core.migrate import upgrade
    from patron.ingest.tasks import ImportRequest, run_import

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        commerce.create_shop(
            s, code="site", name="Site", platform="own_site", currency="CNY", timezone="Asia/Shanghai"
        )
    start = time.perf_counter()
    summary = run_import(ImportRequest(kind="orders", path=Path(file), shop="site"), engine=engine)
    wall = time.perf_counter() - start
    peak_mb = _peak_mb()
    floor = write_floor(engine, floor_url)
    print(
        json.dumps(
            {
                "seconds": round(wall, 2),
                "floor_seconds": round(floor, 2),
                "rows": summary.rows_read,
                "inserted": summary.inserted,
                "quarantined": summary.quarantined,
                "peak_mb": peak_mb,
            }
        )
    )


def _peak_mb() -> int:
    """This process's own peak RSS: VmHWM belongs to the address space exec created, whereas
    getrusage's ru_maxrss survives exec and would report the parent's peak (the file writer's)."""
    with contextlib.suppress(OSError):  # no /proc: not Linux
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def fresh_pg(name: str = "patron_bench") -> str:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + f"/{name}"


def main(lines: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_orders(Path(tmp) / "orders.csv", lines)
        results = {}
        for backend in ("sqlite", "postgresql"):
            if backend == "sqlite":
                url, floor_url = f"sqlite:///{tmp}/bench.db", f"sqlite:///{tmp}/floor.db"
            else:
                url, floor_url = fresh_pg(), fresh_pg("patron_bench_floor")
            _, _, out = run_measured(
                [sys.executable, "-m", "benchmarks.import_bench", "--child", url, str(path), floor_url]
            )
            r = json.loads(out.strip().splitlines()[-1])
            r["lines_per_s"] = round(r["rows"] / r["seconds"])
            # The rows alone, written with nothing else to do: the most this schema allows here.
            r["floor_lines_per_s"] = round(r["rows"] / r["floor_seconds"])
            r["target_lines_per_s"] = TARGETS[backend]
            r["meets_target"] = r["lines_per_s"] >= TARGETS[backend] and (
                backend != "sqlite" or r["peak_mb"] <= 1536
            )
            results[backend] = r
    write("import", {"lines": lines, "results": results})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
    else:
        main(args.lines)
