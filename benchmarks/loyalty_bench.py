"""Loyalty in SQLite: crediting imported orders, one redemption over HTTP, the nightly expiry job.

Targets (issue 5): earning for imported orders (batch) at least 20,000 orders/s; a single
redemption over HTTP p99 at most 50 ms; the daily expiry job over 1,000,000 members with 5 lots
each at most 60 s. No peer runs here (Open Loyalty is a PHP service with its own stack); the
figures stand against the targets.

- **Earn**: 200,000 orders of 50,000 customers (1 to 3 lines each) seeded with bulk SQL, a
  program with two rules (double points on one SKU, a stop rule capped per month, then one
  point per yuan), credited the way the job does (pages of 50,000, each committed); the
  median of three runs on fresh copies of the database.
- **Redeem**: 200 redemptions of 1 point by random members through the ASGI app in process
  (server time, no network), each with its own idempotency key, after the crediting above.
- **Expiry**: 1,000,000 members with 5 lots each (5,000,000 lots) seeded with bulk SQL; on the
  night measured one lot per member expires and one unlocks (2,000,000 ledger entries), settled
  the way the job does (batches of 20,000 members, each committed); then the job again, which
  finds nothing.
- **Reminders**: on the same members, 180 days later, the pre-expiry reminders (lead 30 days):
  every member's remaining lots expire within the month, one ``points_expiring`` event each
  (1,000,000 events); then the job again, which writes nothing. No target: reported.

    python -m benchmarks.loyalty_bench [--orders N] [--members N]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.common import percentiles, write

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
TARGETS = {"earn_orders_per_s": 20_000.0, "redeem_p99_ms": 50.0, "expiry_s": 60.0}
REDEEMS = 200


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _engine(db: Path):  # type: ignore[no-untyped-def]
    from patron.core.db import make_engine

    return make_engine(f"sqlite:///{db}")


def _base(db: Path) -> str:
    """A migrated database with a shop, a program and an admin's API key."""
    from patron.accounts import service as accounts
    from patron.commerce import service as commerce
    from patron.core.db import session_scope
    from patron.core.migrate import upgrade
    from patron.loyalty import earning, service

    engine = _engine(db)
    upgrade(engine)
    with session_scope(engine) as s:
        commerce.create_shop(
            s, code="site", name="Site", platform="own_site", timezone="Asia/Shanghai", currency="CNY"
        )
        user = accounts.create_user(
            s, email="bench@x.test", name="bench", password="benchmark1", role="admin"
        )
        key = accounts.create_api_key(s, user, "bench", ["loyalty:read", "loyalty:write", "loyalty:admin"])
        club = service.create_program(s, {"code": "club", "name": "Club", "lock_days": 7,
                                          "expiry": "end_of_next_year", "timezone": "Asia/Shanghai"})  # fmt: skip
        earning.add_rule(s, club, {"name": "tea x2", "kind": "spend", "points": 2, "skus": ["TEA"], "cap": 2000,
                                   "stop": True, "position": 1})  # fmt: skip
        earning.add_rule(s, club, {"name": "standard", "kind": "spend", "points": 1, "position": 2})
    engine.dispose()
    return key


def seed_orders(db: Path, orders: int, customers: int, seed: int = 5) -> None:
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    now = _ts(NOW)
    conn.executemany(
        "INSERT INTO customers (id, name, gender, custom, orders_count, spent_minor, created_at, updated_at) "
        "VALUES (?, ?, 'unknown', '{}', 0, 0, ?, ?)",
        ((i, f"c{i}", now, now) for i in range(1, customers + 1)),
    )
    who = rng.integers(1, customers + 1, orders)
    days = rng.integers(8, 400, orders)  # older than the return window: points are active at once
    conn.executemany(
        "INSERT INTO orders (id, shop_id, external_id, customer_id, status, currency, subtotal_minor, discount_minor, "
        "shipping_minor, total_minor, placed_at, source_updated_at, content_hash, created_at, updated_at) "
        "VALUES (?, 1, ?, ?, 'completed', 'CNY', 0, 0, 0, 0, ?, ?, '', ?, ?)",
        (
            (i + 1, f"O{i}", int(who[i]), _ts(NOW - timedelta(days=int(days[i]))), now, now, now)
            for i in range(orders)
        ),
    )
    n_lines = rng.integers(1, 4, orders)
    prices = rng.integers(500, 30_000, int(n_lines.sum()))
    skus = np.where(rng.random(len(prices)) < 0.2, "TEA", "MUG")

    def lines() -> Iterator[tuple[object, ...]]:
        k = 0
        for i in range(orders):
            for j in range(int(n_lines[i])):
                yield (k + 1, i + 1, f"L{j}", str(skus[k]), 1, int(prices[k]), 0, int(prices[k]))
                k += 1

    conn.executemany(
        "INSERT INTO order_lines (id, order_id, line_key, sku, quantity, unit_price_minor, discount_minor, "
        "total_minor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        lines(),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def earn(db: Path) -> tuple[float, int, int]:
    """Seconds to credit every order, and how many orders and points."""
    from patron.core.db import session_scope
    from patron.loyalty import earning, service

    engine = _engine(db)
    start = time.perf_counter()
    orders = points = 0
    with session_scope(engine) as s:
        for page in earning.earn_orders(s, service.program(s, "club"), now=NOW):
            s.commit()
            orders += page.orders
            points += page.points
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds, orders, points


def redeem_latency(db: Path, key: str, customers: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from patron.api.app import create_app
    from patron.core.settings import Settings

    engine = _engine(db)
    app = create_app(
        Settings(var_dir=db.parent, database_url=f"sqlite:///{db}", secret_key="k" * 32), engine=engine
    )
    rng = np.random.default_rng(9)
    members = [int(c) for c in rng.integers(1, customers + 1, REDEEMS + 1)]
    samples = []
    with TestClient(app) as client:
        for i, member in enumerate(members):
            start = time.perf_counter()
            r = client.post(
                f"/api/v1/loyalty/programs/club/members/{member}/redeem",
                json={"points": 1},
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-{i}"},
            )
            elapsed = time.perf_counter() - start
            assert r.status_code in (200, 409), r.text  # a member with no order has nothing to spend
            if i:  # the first warms up
                samples.append(elapsed)
    engine.dispose()
    return percentiles(samples)


def seed_lots(db: Path, members: int) -> None:
    """``members`` accounts with 5 lots each: one expired, one to unlock, three quiet."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = _ts(NOW)
    conn.executemany(
        "INSERT INTO customers (id, name, gender, custom, orders_count, spent_minor, created_at, updated_at) "
        "VALUES (?, NULL, 'unknown', '{}', 0, 0, ?, ?)",
        ((i, now, now) for i in range(1, members + 1)),
    )
    conn.executemany(
        "INSERT INTO points_accounts (id, program_id, customer_id, active, locked, debt, growth, version, "
        "created_at, updated_at) VALUES (?, 1, ?, 400, 100, 0, 500, 0, ?, ?)",
        ((i, i, now, now) for i in range(1, members + 1)),
    )
    conn.execute(
        "INSERT INTO points_operations (id, program_id, account_id, key, kind, request_hash, points, source, "
        "actor, result, created_at) VALUES (1, 1, 1, 'seed', 'earn', '', 0, 'order', 'bench', '{}', ?)",
        (now,),
    )
    expired = _ts(NOW - timedelta(hours=1))
    unlocks = _ts(NOW - timedelta(hours=2))
    later = _ts(NOW + timedelta(days=200))

    def lots() -> Iterator[tuple[object, ...]]:
        lot = 0
        for account in range(1, members + 1):
            for kind in range(5):
                lot += 1
                state, unlock, expires = "active", None, later
                if kind == 0:
                    expires = expired
                elif kind == 1:
                    state, unlock = "locked", unlocks
                yield (lot, account, 1, "order", 100, 100, state, now, unlock, expires)

    conn.executemany(
        "INSERT INTO points_lots (id, account_id, operation_id, source, points, remaining, state, earned_at, "
        "unlock_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        lots(),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def expiry(db: Path) -> tuple[float, int, float]:
    """Seconds for the nightly job, the entries it wrote, and seconds for the second run."""
    from patron.core.db import session_scope
    from patron.loyalty import service

    engine = _engine(db)
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        written = 0
        with session_scope(engine) as s:
            for n in service.settle_due(s, now=NOW):
                s.commit()
                written += n
        runs.append((time.perf_counter() - start, written))
    engine.dispose()
    return runs[0][0], runs[0][1], runs[1][0]


def remind(db: Path) -> tuple[float, int, float]:
    """Seconds for the reminders job 180 days on, the events it wrote, seconds for a second run."""
    from patron.core.db import session_scope
    from patron.loyalty import reminders

    engine = _engine(db)
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        with session_scope(engine) as s:
            written = reminders.remind_expiring(s, now=NOW + timedelta(days=180))
        runs.append((time.perf_counter() - start, written))
    engine.dispose()
    return runs[0][0], runs[0][1], runs[1][0]


def main(orders: int = 200_000, members: int = 1_000_000) -> None:
    customers = max(orders // 4, 1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        key = _base(base)
        seed_orders(base, orders, customers)
        runs = []
        for i in range(3):
            copy = Path(tmp) / f"earn{i}.db"
            shutil.copy(base, copy)
            runs.append(earn(copy))
        seconds = statistics.median(r[0] for r in runs)
        _, read, points = runs[0]
        redeem = redeem_latency(Path(tmp) / "earn0.db", key, customers)
        lots_db = Path(tmp) / "lots.db"
        _base(lots_db)
        start = time.perf_counter()
        seed_lots(lots_db, members)
        seeded = time.perf_counter() - start
        night, entries, again = expiry(lots_db)
        reminded, events, reminded_again = remind(lots_db)
    rate = read / seconds
    write(
        "loyalty",
        {
            "earn": {"orders": read, "customers": customers, "points": points,
                     "seconds_median_of_3": round(seconds, 2), "runs_s": [round(r[0], 2) for r in runs],
                     "orders_per_s": round(rate)},
            "redeem_http": redeem,
            "expiry": {"members": members, "lots": members * 5, "seed_s": round(seeded, 1),
                       "entries": entries, "job_s": round(night, 2), "second_run_s": round(again, 2)},
            "reminders": {"members": members, "events": events, "job_s": round(reminded, 2),
                          "second_run_s": round(reminded_again, 2)},
            "targets": TARGETS,
            "meets_targets": rate >= TARGETS["earn_orders_per_s"] and redeem["p99_ms"] <= TARGETS["redeem_p99_ms"]
            and night <= TARGETS["expiry_s"],
        },
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    main(args.orders, args.members)
