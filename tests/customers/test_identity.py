"""OneID: automatic merges on strong identities, masked phones never merge, reversible merges."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.core.db import session_scope
from patron.core.errors import PatronError
from patron.customers import service
from patron.ingest.tasks import ImportRequest, run_import
from patron.privacy import audit

HEADER = [
    "order_id",
    "customer_external_id",
    "customer_name",
    "phone",
    "email",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
    "status",
]


def orders(engine: Engine, tmp_path: Path, shop: str, rows: list[list[object]], name: str = "o.csv") -> None:
    path = write_csv(tmp_path / f"{shop}-{name}", HEADER, rows)
    s = run_import(ImportRequest(kind="orders", path=path, shop=shop), engine=engine)
    assert s.quarantined == 0, s.errors


def live(engine: Engine) -> list[tuple[object, ...]]:
    return table_rows(
        engine,
        "SELECT id, name, phone, email, orders_count FROM customers WHERE merged_into_id IS NULL ORDER BY id",
    )


def test_same_phone_in_two_shops_is_one_person(engine: Engine, shops: object, tmp_path: Path) -> None:
    orders(
        engine,
        tmp_path,
        "site",
        [["S1", "u1", "张三", "13812345678", "", "2024-01-01 10:00", "A", 1, "10", "completed"]],
    )
    orders(
        engine,
        tmp_path,
        "wechat",
        [
            [
                "W1",
                "w9",
                "",
                "+86 138-1234-5678",
                "zs@example.com",
                "2024-02-01 10:00",
                "A",
                1,
                "20",
                "completed",
            ]
        ],
    )
    assert live(engine) == [(1, "张三", "+8613812345678", "zs@example.com", 2)]
    kinds = table_rows(engine, "SELECT kind, namespace, value FROM identities ORDER BY kind, namespace")
    assert kinds == [
        ("email", "", "zs@example.com"),
        ("external_id", "site", "u1"),
        ("external_id", "wechat", "w9"),
        ("phone", "", "+8613812345678"),
    ]


def test_masked_phone_never_merges(engine: Engine, shops: object, tmp_path: Path) -> None:
    orders(
        engine,
        tmp_path,
        "tmall",
        [
            [
                "T1",
                "nick-a",
                "甲",
                "138****5678",
                "",
                "2024-01-01 10:00",
                "A",
                1,
                "10",
                "completed",
            ],
            [
                "T2",
                "nick-b",
                "乙",
                "138****5678",
                "",
                "2024-01-02 10:00",
                "A",
                1,
                "10",
                "completed",
            ],
        ],
    )
    assert [r[1] for r in live(engine)] == ["甲", "乙"]
    weak = table_rows(
        engine,
        "SELECT customer_id, kind, strong FROM identities WHERE kind = 'masked_phone' ORDER BY 1",
    )
    assert [(r[0], r[1]) for r in weak] == [(1, "masked_phone"), (2, "masked_phone")]
    assert all(not r[2] for r in weak)


def test_a_row_linking_two_profiles_merges_them_and_moves_everything(
    engine: Engine, shops: object, tmp_path: Path
) -> None:
    orders(
        engine,
        tmp_path,
        "site",
        [
            ["S1", "u1", "张三", "13812345678", "", "2024-01-01 10:00", "A", 1, "10", "completed"],
            [
                "S2",
                "u2",
                "Zhang",
                "",
                "zs@example.com",
                "2024-01-05 10:00",
                "A",
                2,
                "10",
                "completed",
            ],
        ],
    )
    with session_scope(engine) as s:
        service.add_tag(s, 2, "vip", actor="test")
    assert len(live(engine)) == 2
    # One order that carries both the phone of #1 and the email of #2.
    orders(
        engine,
        tmp_path,
        "wechat",
        [
            [
                "W1",
                "w1",
                "",
                "13812345678",
                "zs@example.com",
                "2024-03-01 10:00",
                "A",
                1,
                "5",
                "completed",
            ]
        ],
        name="link.csv",
    )
    assert live(engine) == [(1, "张三", "+8613812345678", "zs@example.com", 3)]
    assert table_rows(engine, "SELECT survivor_id, merged_id, undone_at FROM customer_merges") == [
        (1, 2, None)
    ]
    assert table_rows(engine, "SELECT customer_id FROM orders ORDER BY external_id") == [
        (1,),
        (1,),
        (1,),
    ]
    assert table_rows(engine, "SELECT customer_id FROM customer_tags") == [(1,)]
    assert table_rows(engine, "SELECT action FROM audit_log WHERE action LIKE 'customer.%'") == [
        ("customer.merge",)
    ]

    with session_scope(engine) as s:
        merge_id = service.merges_of(s, 1)[0].id
        service.unmerge(s, merge_id, actor="user:1")
    assert table_rows(engine, "SELECT external_id, customer_id FROM orders ORDER BY external_id") == [
        ("S1", 1),
        ("S2", 2),
        ("W1", 1),
    ]
    assert table_rows(engine, "SELECT customer_id FROM customer_tags") == [(2,)]
    assert live(engine) == [
        (1, "张三", "+8613812345678", None, 2),
        (2, "Zhang", None, "zs@example.com", 1),
    ]
    with session_scope(engine) as s, pytest.raises(PatronError) as err:
        service.unmerge(s, merge_id, actor="user:1")
    assert err.value.code == "merge_conflict"

    # The same linking row again must not merge the pair an admin separated.
    orders(
        engine,
        tmp_path,
        "wechat",
        [
            [
                "W2",
                "w1",
                "",
                "13812345678",
                "zs@example.com",
                "2024-04-01 10:00",
                "A",
                1,
                "5",
                "completed",
            ]
        ],
        name="again.csv",
    )
    assert [r[0] for r in live(engine)] == [1, 2]
    assert table_rows(engine, "SELECT COUNT(*) FROM customer_merges WHERE undone_at IS NULL") == [(0,)]
    with session_scope(engine) as s:
        assert audit.verify_chain(s) is None


def test_merge_refuses_nonsense(engine: Engine, shops: object, tmp_path: Path) -> None:
    orders(
        engine,
        tmp_path,
        "site",
        [
            ["S1", "u1", "a", "", "", "2024-01-01 10:00", "A", 1, "10", "completed"],
            ["S2", "u2", "b", "", "", "2024-01-01 10:00", "A", 1, "10", "completed"],
        ],
    )
    with session_scope(engine) as s:
        with pytest.raises(PatronError) as err:
            service.merge(s, 1, 1, reason="x", actor="t")
        assert err.value.code == "merge_conflict"
        with pytest.raises(PatronError) as err:
            service.merge(s, 1, 99, reason="x", actor="t")
        assert err.value.code == "customer_not_found"
        service.merge(s, 1, 2, reason="manual", actor="t")
        with pytest.raises(PatronError) as err:
            service.merge(s, 2, 1, reason="again", actor="t")
        assert err.value.code == "merge_conflict"
        # A merged-away id resolves to its survivor.
        assert service.get(s, 2).id == 1


def test_audit_chain_detects_tampering(engine: Engine, shops: object) -> None:
    with session_scope(engine) as s:
        for i in range(3):
            audit.record(s, actor="t", action="x", data={"i": i})
    with engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE audit_log SET actor = 'mallory' WHERE id = (SELECT MIN(id) + 1 FROM audit_log)")
        )
    with session_scope(engine) as s:
        broken = audit.verify_chain(s)
    first = table_rows(engine, "SELECT MIN(id) FROM audit_log")[0][0]
    assert broken == first + 1
