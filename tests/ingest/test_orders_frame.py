"""The vectorised orders parser against the exact row parser: for any rows, the same parsed
values and the same errors (the fast path only takes rows it is sure about)."""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.ingest import mappings, orders_frame
from patron.ingest.records import Context
from patron.models import Shop

SHOP = Shop(id=1, code="site", name="Site", platform="own_site", currency="CNY", timezone="Asia/Shanghai")
CTX = Context(
    mapping=mappings.native("orders"), shops={"site": SHOP}, shop=SHOP, actor="test", reporting_currency="CNY"
)


def cell(*values: str) -> st.SearchStrategy[str | None]:
    """A value, possibly padded or wrapped the way spreadsheets export text."""
    base = st.sampled_from(values)
    return st.one_of(
        st.none(),
        base,
        base.map(lambda v: f"  {v}\u3000"),
        base.map(lambda v: f'="{v}"'),
        base.map(lambda v: f"'{v}"),
    )


ROW = st.fixed_dictionaries(
    {
        "order_id": cell("A1", "A2", "订单3"),
        "placed_at": cell(
            "2024-03-01 10:00:00", "2024-03-01T10:00", "2024-03-01", "2024/03/01 10:00", "2024-13-01", "x"
        ),
        "paid_at": cell("2024-03-01 10:05:00", "2024-03-10 02:30:00"),
        "status": cell("completed", "交易成功", "COMPLETED", "weird"),
        "currency": cell("CNY", "RMB", "USD"),
        "unit_price": cell("12.30", "12.305", "12.3000", "¥12.30", "-1", "1,234.00", "0"),
        "quantity": cell("1", "0", "2", "x", "1.5"),
        "sku": cell("SKU-1", "茶"),
        "phone": cell("13812345678", "+86 138-1234-5678", "138****5678", "12345"),
        "email": cell("A@B.com", "bad", "名@例.中国"),
        "customer_external_id": cell("c1", "c2"),
        "discount": cell("1.00", "abc"),
    }
)


def as_frame(rows: list[tuple[int, dict[str, Any]]]) -> pl.DataFrame:
    names = sorted({k for _, r in rows for k in r} | {"order_id"})
    return pl.DataFrame(
        [[r.get(k) for k in names] + [n] for n, r in rows],
        schema={**dict.fromkeys(names, pl.Utf8), "n": pl.Int64},
        orient="row",
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=8))
def test_fast_path_agrees_with_the_exact_parser(raw_rows: list[dict[str, str | None]]) -> None:
    rows = [(n, {k: v for k, v in r.items() if v is not None}) for n, r in enumerate(raw_rows, start=2)]
    fast, fast_errors = orders_frame.parse_frame(as_frame(rows), CTX, SHOP)
    exact, exact_errors = orders_frame.parse_chunk(rows, CTX, None)  # no shop: every row exact
    assert (
        fast.sort("n").to_dicts() == exact.with_columns(pl.lit(SHOP.id).alias("shop_id")).sort("n").to_dicts()
    )
    assert sorted((e.row, e.column, e.code) for e in fast_errors) == sorted(
        (e.row, e.column, e.code) for e in exact_errors
    )
