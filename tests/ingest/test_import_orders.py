"""Importing orders in Patron's native format: counts, quarantine, idempotence, policies."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.core.db import session_scope
from patron.core.errors import PatronError
from patron.ingest import service as ingest_service
from patron.ingest.tasks import ImportRequest, run_import

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


def good_rows() -> list[list[object]]:
    return [
        [
            "A1",
            "c1",
            "张三",
            "13812345678",
            "",
            "completed",
            "CNY",
            "2024-01-05 10:00:00",
            "2024-01-05 10:01:00",
            "10.00",
            "0",
            "209.00",
            "SKU1",
            "T恤",
            "2",
            "99.50",
            "199.00",
            "2024-01-06 00:00:00",
        ],
        [
            "A1",
            "c1",
            "张三",
            "13812345678",
            "",
            "completed",
            "CNY",
            "2024-01-05 10:00:00",
            "2024-01-05 10:01:00",
            "10.00",
            "0",
            "209.00",
            "SKU2",
            "袜子",
            "1",
            "0",
            "0",
            "2024-01-06 00:00:00",
        ],
        [
            "A2",
            "c2",
            "Li Si",
            "",
            "Li@Example.com",
            "shipped",
            "CNY",
            "2024-02-01 09:30:00",
            "",
            "0",
            "5.00",
            "45.00",
            "SKU1",
            "T恤",
            "1",
            "50.00",
            "50.00",
            "2024-02-01 09:30:00",
        ],
        [
            "A3",
            "c3",
            "王五",
            "+86 138 1234 5678",
            "",
            "delivered",
            "CNY",
            "2024-03-03 10:00:00",
            "",
            "0",
            "0",
            "30.00",
            "SKU3",
            "帽子",
            "1",
            "30.00",
            "30.00",
            "2024-03-03 10:00:00",
        ],
    ]


def bad_rows() -> list[list[object]]:
    return [
        [
            "B1",
            "c9",
            "坏日期",
            "",
            "",
            "completed",
            "CNY",
            "2024-02-30 10:00:00",
            "",
            "0",
            "0",
            "1.00",
            "SKU1",
            "x",
            "1",
            "1.00",
            "1.00",
            "",
        ],
        [
            "B2",
            "c9",
            "坏币种",
            "",
            "",
            "completed",
            "XYZ",
            "2024-02-01 10:00:00",
            "",
            "0",
            "0",
            "1.00",
            "SKU1",
            "x",
            "-1",
            "1.00",
            "1.00",
            "",
        ],
        [
            "",
            "c9",
            "没有单号",
            "",
            "",
            "completed",
            "CNY",
            "2024-02-01 10:00:00",
            "",
            "0",
            "0",
            "1.00",
            "SKU1",
            "x",
            "1",
            "1.00",
            "1.00",
            "",
        ],
        [
            "B4",
            "c9",
            "坏状态",
            "",
            "",
            "teleported",
            "CNY",
            "2024-02-01 10:00:00",
            "",
            "0",
            "0",
            "1.00",
            "SKU1",
            "x",
            "1",
            "1.2.3",
            "",
            "",
        ],
    ]


def imp(engine: Engine, path: Path, **kw: object) -> object:
    return run_import(ImportRequest(kind="orders", path=path, shop="site", **kw), engine=engine)  # type: ignore[arg-type]


def test_good_and_bad_rows(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", HEADER, good_rows() + bad_rows())
    s = imp(engine, path)
    assert (s.status, s.rows_read, s.inserted, s.updated, s.unchanged, s.quarantined) == (
        "completed",
        8,
        4,
        0,
        0,
        4,
    )
    assert s.quarantined_by_code == {
        "bad_datetime": 1,
        "bad_money": 1,
        "missing": 1,
        "out_of_range": 1,
        "unknown_currency": 1,
        "unknown_status": 1,
    }
    q = table_rows(
        engine,
        'SELECT row_number, "column", code, value FROM quarantine_rows ORDER BY row_number, code',
    )
    assert q == [
        (6, "placed_at", "bad_datetime", "2024-02-30 10:00:00"),
        (7, "quantity", "out_of_range", "-1"),
        (7, "currency", "unknown_currency", "XYZ"),
        (8, "order_id", "missing", None),
        (9, "unit_price", "bad_money", "1.2.3"),
        (9, "status", "unknown_status", "teleported"),
    ]
    orders = table_rows(
        engine,
        "SELECT external_id, status, currency, subtotal_minor, discount_minor, shipping_minor, "
        "total_minor FROM orders ORDER BY external_id",
    )
    assert orders == [
        ("A1", "completed", "CNY", 19900, 0, 1000, 20900),
        ("A2", "shipped", "CNY", 5000, 500, 0, 4500),
        ("A3", "delivered", "CNY", 3000, 0, 0, 3000),
    ]
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.quantity, l.unit_price_minor, l.total_minor "
        "FROM order_lines l JOIN orders o ON o.id = l.order_id ORDER BY o.external_id, l.line_key",
    )
    assert lines == [
        ("A1", "SKU1#1", 2, 9950, 19900),
        ("A1", "SKU2#1", 1, 0, 0),
        ("A2", "SKU1#1", 1, 5000, 5000),
        ("A3", "SKU3#1", 1, 3000, 3000),
    ]
    # A1 and A3 share a phone: one person. Naive times are Beijing time, stored in UTC.
    people = table_rows(
        engine,
        "SELECT name, phone, email, orders_count, spent_minor FROM customers "
        "WHERE merged_into_id IS NULL ORDER BY id",
    )
    assert people == [
        ("张三", "+8613812345678", None, 2, 23900),
        ("Li Si", None, "li@example.com", 1, 4500),
    ]
    placed = table_rows(engine, "SELECT placed_at FROM orders WHERE external_id = 'A1'")[0][0]
    assert str(placed).startswith("2024-01-05 02:00:00")


def test_reimport_adds_nothing(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", HEADER, good_rows() + bad_rows())
    imp(engine, path)
    before = table_rows(
        engine,
        "SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM order_lines "
        "UNION ALL SELECT COUNT(*) FROM customers UNION ALL SELECT COUNT(*) FROM identities",
    )
    s = imp(engine, path)
    assert (s.inserted, s.updated, s.unchanged, s.quarantined) == (0, 0, 4, 4)
    after = table_rows(
        engine,
        "SELECT COUNT(*) FROM orders UNION ALL SELECT COUNT(*) FROM order_lines "
        "UNION ALL SELECT COUNT(*) FROM customers UNION ALL SELECT COUNT(*) FROM identities",
    )
    assert before == after == [(3,), (4,), (2,), (5,)]


def test_newer_source_wins_older_never_overwrites(engine: Engine, shops: object, tmp_path: Path) -> None:
    imp(engine, write_csv(tmp_path / "v1.csv", HEADER, good_rows()))
    newer = good_rows()
    newer[2][5], newer[2][-1] = "completed", "2024-02-05 00:00:00"
    s = imp(engine, write_csv(tmp_path / "v2.csv", HEADER, newer))
    assert (s.inserted, s.updated, s.unchanged) == (0, 1, 3)
    older = good_rows()
    older[2][5], older[2][-1] = "cancelled", "2024-01-01 00:00:00"
    s = imp(engine, write_csv(tmp_path / "v0.csv", HEADER, older))
    assert (s.inserted, s.updated, s.unchanged) == (0, 0, 4)
    assert table_rows(engine, "SELECT status FROM orders WHERE external_id = 'A2'") == [("completed",)]


def test_imports_are_audited(engine: Engine, shops: object, tmp_path: Path) -> None:
    s = imp(engine, write_csv(tmp_path / "orders.csv", HEADER, good_rows() + bad_rows()))
    rows = table_rows(engine, "SELECT actor, action, target_type, target_id FROM audit_log ORDER BY id")
    assert rows[-1] == ("cli", "import.finish", "import_run", str(s.run_id))


def test_dry_run_writes_nothing(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", HEADER, good_rows() + bad_rows())
    s = imp(engine, path, dry_run=True)
    assert (s.status, s.run_id, s.inserted, s.quarantined) == ("dry_run", None, 4, 4)
    assert [e["row"] for e in s.errors] == [6, 7, 7, 8, 9, 9]
    for table in (
        "orders",
        "order_lines",
        "customers",
        "identities",
        "import_runs",
        "quarantine_rows",
    ):
        assert table_rows(engine, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


def test_reject_policy_is_all_or_nothing(engine: Engine, shops: object, tmp_path: Path) -> None:
    s = imp(engine, write_csv(tmp_path / "bad.csv", HEADER, good_rows() + bad_rows()), policy="reject")
    assert (s.status, s.inserted, s.quarantined) == ("rejected", 0, 4)
    assert table_rows(engine, "SELECT COUNT(*) FROM orders") == [(0,)]
    assert table_rows(engine, "SELECT status FROM import_runs") == [("rejected",)]
    assert table_rows(engine, "SELECT COUNT(*) FROM quarantine_rows") == [(6,)]
    with session_scope(engine) as ses:
        rows, _ = ingest_service.quarantine_rows(ses, code="bad_datetime")
        assert [(r.row_number, r.raw["order_id"]) for r in rows] == [(6, "B1")]  # the source row is kept
    s = imp(engine, write_csv(tmp_path / "good.csv", HEADER, good_rows()), policy="reject")
    assert (s.status, s.inserted) == ("completed", 4)
    assert table_rows(engine, "SELECT COUNT(*) FROM orders") == [(3,)]


def test_missing_column_and_unknown_shop(engine: Engine, shops: object, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", ["order_id", "sku"], [["A1", "x"]])
    with pytest.raises(PatronError) as err:
        imp(engine, path)
    assert err.value.code == "missing_columns"
    assert err.value.data["missing"] == ["placed_at"]
    with pytest.raises(PatronError) as err:
        run_import(ImportRequest(kind="orders", path=path, shop="nope"), engine=engine)
    assert err.value.code == "shop_not_found"
    with pytest.raises(PatronError) as err:
        run_import(ImportRequest(kind="orders", path=path, shop="site", mapping="nope"), engine=engine)
    assert err.value.code == "unknown_mapping"
    assert table_rows(engine, "SELECT COUNT(*) FROM import_runs") == [(0,)]
