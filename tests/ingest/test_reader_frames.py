"""The frame reader (Polars, for large CSV files) against the row reader: same rows, same row
numbers, or no frames at all when the file is one it cannot read the same way."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.ingest.mappings import line_keys
from patron.ingest.mappings._common import line_key_by_sku
from patron.ingest.readers import ERROR_KEY, EXTRA_KEY, open_rows


def rows_of(path: Path) -> list[tuple[int, dict[str, object]]]:
    with open_rows(path) as src:
        return [(n, {k: v for k, v in r.items() if k != EXTRA_KEY}) for n, r in src]


def frame_rows_of(path: Path, size: int = 3) -> list[tuple[int, dict[str, object]]] | None:
    with open_rows(path) as src:
        frames = src.frames(size)
        if frames is None:
            return None
        out = []
        for frame in frames:
            for r in frame.iter_rows(named=True):
                n, bad = r.pop("__row"), r.pop("__bad")
                out.append((n, r | ({ERROR_KEY: "extra_fields"} if bad else {})))
        return out


def test_same_rows_and_numbers_as_the_row_reader(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        'a,b,c\n1,2,3\n4,,6\n\n,,\n7,8\n9,10,11,12\n 13 ,"x,""y""",z\n="5",\'6,7\n', encoding="utf-8"
    )
    expected = rows_of(path)
    assert [n for n, _ in expected] == [2, 3, 6, 7, 8, 9]
    assert frame_rows_of(path) == expected


def test_bom_crlf_and_sep_line(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes("\ufeffsep=;\r\na;b\r\n1;2\r\n\r\n3;4\r\n".encode())
    assert frame_rows_of(path) == rows_of(path) == [(3, {"a": "1", "b": "2"}), (5, {"a": "3", "b": "4"})]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ('a,b\n"two\nlines",2\n3,4\n', "utf-8"),  # a quoted field spanning lines
        ("a,b\r1,2\r3,4\r", "utf-8"),  # old Mac line ends
        ("订单编号,金额\n1,2\n", "gb18030"),  # Polars reads UTF-8 only
    ],
)
def test_files_it_cannot_number_give_no_frames(tmp_path: Path, data: str, encoding: str) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(data.encode(encoding))
    assert frame_rows_of(path) is None
    assert rows_of(path)  # the row reader still reads them


cell = st.one_of(
    st.just(""),
    st.text(alphabet=st.sampled_from("ab 1,\"'=订单\t;"), min_size=1, max_size=6),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(table=st.lists(st.lists(cell, min_size=1, max_size=5), min_size=1, max_size=12))
def test_frames_match_rows_for_any_well_formed_file(tmp_path: Path, table: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["h1", "h2", "h3"])
    writer.writerows(table)
    path = tmp_path / "h.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    got = frame_rows_of(path, size=4)
    assert got is not None
    assert got == rows_of(path)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", None]),
            st.sampled_from(["S1", "S2", None]),
            st.sampled_from(["t", None]),
            st.sampled_from(["L1", None]),
        ),
        max_size=15,
    )
)
def test_line_keys_match_the_row_transform(rows: list[tuple[str | None, ...]]) -> None:
    names = ("order_id", "sku", "title", "line_id")
    fix = line_key_by_sku()
    expected = [
        fix({k: v for k, v in zip(names, r, strict=True) if v is not None}).get("line_id") for r in rows
    ]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.Utf8), orient="row")
    assert line_keys(frame)["line_id"].to_list() == expected
