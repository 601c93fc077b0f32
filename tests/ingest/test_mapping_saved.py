"""User-defined column mappings: saved once with ``save_mapping``, then used by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.core.db import session_scope
from patron.core.errors import PatronError
from patron.ingest.service import save_mapping
from patron.ingest.tasks import ImportRequest, run_import

# An ERP's order export that no built-in mapping knows.
ERP_HEADER = [
    "单据编号",
    "下单日期",
    "会员名",
    "手机号码",
    "货品编码",
    "货品名称",
    "数量",
    "单价",
    "实收金额",
    "仓库",
]
ERP_COLUMNS = {
    "order_id": "单据编号",
    "placed_at": "下单日期",
    "buyer_nick": "会员名",
    "phone": "手机号码",
    "sku": "货品编码",
    "title": "货品名称",
    "quantity": "数量",
    "unit_price": "单价",
    "order_total": "实收金额",
}


def erp_rows() -> list[list[str]]:
    return [
        ["XS2403080001", "2024-03-08 10:00:00", "老王", "13812345678", "TEA-1", "龙井", "1", "100.00", "140.00", "杭州仓"],
        # The same goods twice in one order, and a line without a code: three lines, not one.
        ["XS2403080001", "2024-03-08 10:00:00", "老王", "13812345678", "TEA-1", "龙井", "1", "20.00", "140.00", "杭州仓"],
        ["XS2403080001", "2024-03-08 10:00:00", "老王", "13812345678", "", "赠品 茶巾", "1", "20.00", "140.00", "杭州仓"],
        ["XS2403080002", "2024-03-09 11:00:00", "小李", "", "", "赠品 茶巾", "2", "0", "0", "杭州仓"],
        ["XS2403080003", "2024-03-09 12:00:00", "老王", "138 1234 5678", "CUP", "茶杯", "x", "10.00", "10.00", "杭州仓"],
    ]  # fmt: skip


def save(engine: Engine, name: str, kind: str, columns: dict[str, str], **defaults: Any) -> None:
    with session_scope(engine) as s:
        save_mapping(s, name, kind, columns, defaults or None)


def imp(engine: Engine, kind: str, path: Path, mapping: str, shop: str = "site") -> Any:
    return run_import(ImportRequest(kind=kind, path=path, mapping=mapping, shop=shop), engine=engine)


def test_saved_order_mapping_is_used_by_name(engine: Engine, shops: object, tmp_path: Path) -> None:
    save(engine, "erp_orders", "orders", ERP_COLUMNS, status="paid")
    path = write_csv(tmp_path / "erp.csv", ERP_HEADER, erp_rows())
    s = imp(engine, "orders", path, "erp_orders")
    assert (s.mapping, s.status, s.rows_read, s.inserted, s.quarantined) == (
        "erp_orders", "completed", 5, 4, 1,
    )  # fmt: skip
    assert s.quarantined_by_code == {"bad_int": 1}
    q = table_rows(engine, 'SELECT row_number, "column", code, value FROM quarantine_rows')
    assert q == [(6, "数量", "bad_int", "x")]
    orders = table_rows(
        engine,
        "SELECT external_id, status, currency, subtotal_minor, total_minor FROM orders ORDER BY external_id",
    )
    # The default fills the status the export does not have.
    assert orders == [("XS2403080001", "paid", "CNY", 14000, 14000), ("XS2403080002", "paid", "CNY", 0, 0)]
    lines = table_rows(
        engine,
        "SELECT o.external_id, l.line_key, l.sku, l.title, l.quantity, l.total_minor "
        "FROM order_lines l JOIN orders o ON o.id = l.order_id ORDER BY o.external_id, l.id",
    )
    assert lines == [
        ("XS2403080001", "TEA-1#1", "TEA-1", "龙井", 1, 10000),
        ("XS2403080001", "TEA-1#2", "TEA-1", "龙井", 1, 2000),
        ("XS2403080001", "赠品 茶巾#1", None, "赠品 茶巾", 1, 2000),
        ("XS2403080002", "赠品 茶巾#1", None, "赠品 茶巾", 2, 0),
    ]
    people = table_rows(
        engine, "SELECT phone, orders_count FROM customers WHERE merged_into_id IS NULL ORDER BY id"
    )
    assert people == [("+8613812345678", 1), (None, 1)]
    nicks = table_rows(
        engine, "SELECT namespace, value FROM identities WHERE kind = 'buyer_nick' ORDER BY id"
    )
    assert nicks == [("own_site", "老王"), ("own_site", "小李")]

    again = imp(engine, "orders", path, "erp_orders")
    assert (again.inserted, again.updated, again.unchanged, again.quarantined) == (0, 0, 4, 1)


def test_saved_customer_mapping(engine: Engine, shops: object, tmp_path: Path) -> None:
    save(engine, "crm_members", "customers", {"external_id": "会员编号", "name": "姓名", "phone": "手机",
                                              "gender": "性别", "tags": "标签"})  # fmt: skip
    path = write_csv(
        tmp_path / "members.csv",
        ["会员编号", "姓名", "手机", "性别", "标签", "custom.等级", "积分"],
        [["M001", "王芳", "13900001111", "女", "VIP，老客", "金卡", "1200"],
         ["M002", "赵强", "13900002222", "男", "", "", "0"]],
    )  # fmt: skip
    s = imp(engine, "customers", path, "crm_members", shop="wechat")
    assert (s.rows_read, s.inserted, s.quarantined) == (2, 2, 0)
    people = table_rows(engine, "SELECT name, gender, phone, custom FROM customers ORDER BY id")
    assert [(n, g, p) for n, g, p, _ in people] == [
        ("王芳", "female", "+8613900001111"),
        ("赵强", "male", "+8613900002222"),
    ]
    custom = people[0][3] if isinstance(people[0][3], dict) else json.loads(people[0][3])
    assert custom == {"等级": "金卡"}  # custom.* columns are kept; unmapped ones are not
    tags = table_rows(
        engine,
        "SELECT t.name FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id ORDER BY t.name",
    )
    assert sorted(t for (t,) in tags) == ["VIP", "老客"]


def test_unknown_field_is_refused(engine: Engine, shops: object) -> None:
    with pytest.raises(PatronError) as err:
        save(engine, "bad", "orders", {"order_id": "单号", "warehouse": "仓库", "colour": "颜色"})
    assert err.value.code == "unknown_field"
    assert "order_id" in err.value.data["allowed"]
    assert "colour, warehouse" in err.value.message
    # A field of another kind is unknown too.
    with pytest.raises(PatronError) as err:
        save(engine, "bad", "refunds", {"refund_id": "退款单号", "placed_at": "下单时间"})
    assert err.value.code == "unknown_field"
    assert table_rows(engine, "SELECT COUNT(*) FROM saved_mappings") == [(0,)]


def test_mapping_of_the_wrong_kind_is_refused(engine: Engine, shops: object, tmp_path: Path) -> None:
    save(engine, "crm_members", "customers", {"external_id": "会员编号"})
    path = write_csv(tmp_path / "erp.csv", ERP_HEADER, erp_rows())
    with pytest.raises(PatronError) as err:
        imp(engine, "orders", path, "crm_members")
    assert (err.value.code, err.value.data) == ("mapping_kind_mismatch", {"mapping_kind": "customers"})
    with pytest.raises(PatronError) as err:
        imp(engine, "orders", path, "taobao_items")  # built-in, for 宝贝报表
    assert (err.value.code, err.value.data) == (
        "mapping_kind_mismatch",
        {"mapping_kind": "order_items"},
    )
    assert table_rows(engine, "SELECT COUNT(*) FROM import_runs") == [(0,)]


def test_names_and_missing_columns(engine: Engine, shops: object, tmp_path: Path) -> None:
    with pytest.raises(PatronError) as err:
        save(engine, "taobao_orders", "orders", {"order_id": "订单编号"})
    assert err.value.code == "mapping_exists"
    save(engine, "erp_orders", "orders", ERP_COLUMNS)
    with pytest.raises(PatronError) as err:
        save(engine, "erp_orders", "orders", ERP_COLUMNS)
    assert err.value.code == "mapping_exists"
    path = write_csv(tmp_path / "erp.csv", [c for c in ERP_HEADER if c != "下单日期"], [["XS1", "老王"]])
    with pytest.raises(PatronError) as err:
        imp(engine, "orders", path, "erp_orders")
    assert (err.value.code, err.value.data["missing"]) == ("missing_columns", ["下单日期"])
    # A default stands in for a required column the file lacks.
    with session_scope(engine) as s:
        save_mapping(s, "erp_dated", "orders", ERP_COLUMNS, {"placed_at": "2024-03-01 00:00:00"})
    s = imp(engine, "orders", path, "erp_dated")
    assert (s.inserted, s.quarantined) == (1, 0)
    assert table_rows(engine, "SELECT external_id FROM orders") == [("XS1",)]
