"""Tests for patron.ingest.readers: formats, encodings, row numbers, row errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.ingest.readers import (
    ReaderError,
    RowSource,
    detect_encoding,
    detect_format,
    file_sha256,
    open_rows,
)

TAOBAO_HEADER = [
    "订单编号",
    "买家会员名",
    "买家应付货款",
    "总金额",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "订单创建时间",
]
TAOBAO_ROWS = [
    [
        '="3612345678901234567"',
        "tb_张三丰",
        "12.50",
        "12.50",
        "12.50",
        "交易成功",
        "张三",
        "浙江省 杭州市 西湖区 文三路1号",
        "138****5678",
        "2024-01-05 12:00:00",
    ],
    [
        '="3612345678901234568"',
        "李四",
        '"1,234.00"',
        '"1,244.00"',
        "1244.00",
        "卖家已发货，等待买家确认",
        "李四",
        "北京市 北京市 朝阳区 建国路88号",
        "13812345678",
        "2024-01-06 08:30:00",
    ],
]


def read_all(path: Path, **kwargs: str) -> tuple[RowSource, list[tuple[int, dict[str, object]]]]:
    with open_rows(path, **kwargs) as src:
        rows = list(src)
    return src, rows


def write_taobao_csv(path: Path) -> None:
    lines = [",".join(TAOBAO_HEADER)] + [",".join(r) for r in TAOBAO_ROWS]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.TXT", "csv"),
        ("a.tsv", "csv"),
        ("a.xlsx", "xlsx"),
        ("a.xlsm", "xlsx"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
    ],
)
def test_detect_format_by_extension(tmp_path: Path, name: str, fmt: str) -> None:
    assert detect_format(tmp_path / name) == fmt  # the file need not exist


def test_detect_format_by_magic_bytes(tmp_path: Path) -> None:
    zipped = tmp_path / "export.bin"
    zipped.write_bytes(b"PK\x03\x04rest")
    parquet = tmp_path / "export"
    parquet.write_bytes(b"PAR1rest")
    assert detect_format(zipped) == "xlsx"
    assert detect_format(parquet) == "parquet"


@pytest.mark.parametrize(("name", "data"), [("a.xls", b"\xd0\xcf\x11\xe0"), ("a.dat", b"hello")])
def test_detect_format_unsupported(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ReaderError) as info:
        detect_format(path)
    assert info.value.code == "unsupported_format"
    assert name in info.value.message


def test_open_rows_rejects_unknown_format_argument(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ReaderError) as info:
        open_rows(path, format="xls")
    assert info.value.code == "unsupported_format"


@pytest.mark.parametrize(
    ("sample", "encoding"),
    [
        (b"", "utf-8"),
        (b"plain ascii,1,2\r\n", "utf-8"),
        ("订单编号,金额\n".encode(), "utf-8"),
        ("\ufeff订单编号".encode(), "utf-8-sig"),
        ("订单编号".encode("utf-16"), "utf-16"),
        (b"\xff\xfeA\x00", "utf-16"),
        (b"\xfe\xff\x00A", "utf-16"),
    ],
)
def test_detect_encoding_boms_and_utf8(sample: bytes, encoding: str) -> None:
    assert detect_encoding(sample) == encoding


def test_detect_encoding_tolerates_character_cut_at_sample_end() -> None:
    text = "收货地址,浙江省杭州市西湖区" * 100
    data = text.encode()
    for cut in (1, 2):  # "区" is 3 bytes: cut inside it
        assert detect_encoding(data[:-cut]) == "utf-8"


def test_detect_encoding_gbk_taobao_export() -> None:
    lines = [",".join(TAOBAO_HEADER)] + [",".join(r) for r in TAOBAO_ROWS] * 50
    sample = "\r\n".join(lines).encode("gbk")
    assert detect_encoding(sample) == "gb18030"
    assert detect_encoding(sample[:-1]) == "gb18030"  # cut inside a double-byte char


@pytest.mark.parametrize("text", ["张三", "交易成功", "联系手机", "订单编号,买家会员名"])
def test_detect_encoding_short_gbk_prefers_gb18030(text: str) -> None:
    # A handful of bytes cannot tell GBK from Big5/EUC-KR; Patron's market decides.
    assert detect_encoding(text.encode("gbk")) == "gb18030"


def test_detect_encoding_western_single_byte_is_not_forced_to_gb18030() -> None:
    text = "name,city\r\n" + "José,Málaga\r\nFrançois,Besançon\r\nJürgen,Köln\r\n" * 20
    sample = text.encode("cp1252")
    encoding = detect_encoding(sample)
    assert encoding != "gb18030"
    assert sample.decode(encoding) == text


# --------------------------------------------------------------------------- CSV


def test_csv_taobao_gbk_crlf(tmp_path: Path) -> None:
    path = tmp_path / "ExportOrderList202401.csv"
    write_taobao_csv(path)
    src, rows = read_all(path)
    assert src.format == "csv"
    assert src.encoding == "gb18030"
    assert src.columns == TAOBAO_HEADER
    assert [n for n, _ in rows] == [2, 3]
    first = rows[0][1]
    assert first["订单编号"] == '="3612345678901234567"'  # readers do not clean values
    assert first["收货地址"] == "浙江省 杭州市 西湖区 文三路1号"
    assert first["联系手机"] == "138****5678"
    assert rows[1][1]["订单状态"] == "卖家已发货，等待买家确认"
    assert rows[1][1]["总金额"] == "1,244.00"
    assert rows[1][1]["买家实际支付金额"] == "1244.00"


def test_csv_utf8_bom_header_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes("\ufeffphone , name\r\n13812345678,王五\r\n".encode())
    src, rows = read_all(path)
    assert src.encoding == "utf-8-sig"
    assert src.columns == ["phone", "name"]
    assert rows == [(2, {"phone": "13812345678", "name": "王五"})]


def test_csv_utf8_bom_with_explicit_utf8_encoding(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes('\ufeff"phone",name\n1,a\n'.encode())
    src, rows = read_all(path, encoding="UTF8")
    assert src.encoding == "utf-8-sig"
    assert src.columns == ["phone", "name"]
    assert rows == [(2, {"phone": "1", "name": "a"})]


def test_csv_utf16_tab_separated_excel_unicode_text(tmp_path: Path) -> None:
    # Excel's "Unicode Text" export: UTF-16 LE with BOM, tab-separated.
    path = tmp_path / "export.txt"
    path.write_bytes("手机\t姓名\r\n13812345678\t赵六\r\n".encode("utf-16"))
    src, rows = read_all(path)
    assert src.encoding == "utf-16"
    assert src.columns == ["手机", "姓名"]
    assert rows == [(2, {"手机": "13812345678", "姓名": "赵六"})]


def test_csv_tab_and_semicolon_sniffing(tmp_path: Path) -> None:
    tsv = tmp_path / "a.tsv"
    tsv.write_text("a\tb\n1,5\t2\n")
    semi = tmp_path / "b.csv"
    semi.write_text("a;b;c\n1,5;2;\n")
    assert read_all(tsv)[1] == [(2, {"a": "1,5", "b": "2"})]
    assert read_all(semi)[1] == [(2, {"a": "1,5", "b": "2", "c": None})]


def test_csv_excel_sep_hint_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("sep=;\r\na;b\r\n1;2\r\n")
    src, rows = read_all(path)
    assert src.columns == ["a", "b"]
    assert rows == [(3, {"a": "1", "b": "2"})]


def test_csv_embedded_newlines_keep_editor_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'id,note\r\n1,plain\r\n2,"two\r\nlines"\r\n3,"three\nmore\nlines"\r\n4,after\r\n')
    _, rows = read_all(path)
    assert [(n, r["id"]) for n, r in rows] == [(2, "1"), (3, "2"), (5, "3"), (8, "4")]
    assert rows[1][1]["note"] == "two\r\nlines"
    assert rows[2][1]["note"] == "three\nmore\nlines"


def test_csv_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("\n\na,b\n1,2\n\n,\n3,4\n")
    _, rows = read_all(path)
    assert rows == [(4, {"a": "1", "b": "2"}), (7, {"a": "3", "b": "4"})]


def test_csv_empty_cells_are_none_and_whitespace_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('a,b,c\n"",  ,x\n')
    assert read_all(path)[1] == [(2, {"a": None, "b": "  ", "c": "x"})]


def test_csv_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b,c\n1,2,3,4\n1\n1,2,3,,\n1,2,3,,x\n")
    _, rows = read_all(path)
    assert rows[0] == (
        2,
        {"a": "1", "b": "2", "c": "3", "__error__": "extra_fields", "__extra__": ["4"]},
    )
    assert rows[1] == (3, {"a": "1", "b": None, "c": None})
    assert rows[2] == (4, {"a": "1", "b": "2", "c": "3"})  # trailing empty fields are fine
    assert rows[3][1]["__error__"] == "extra_fields"
    assert rows[3][1]["__extra__"] == ["", "x"]


def test_csv_header_trailing_comma_blank_and_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("金额,,金额, 金额 ,\n1,2,3,4,\n")
    src, rows = read_all(path)
    assert src.columns == ["金额", "column_2", "金额_2", "金额_3"]
    assert rows == [(2, {"金额": "1", "column_2": "2", "金额_2": "3", "金额_3": "4"})]


def test_csv_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(b"a,b\r\n")
    assert read_all(empty)[0].columns == []
    assert read_all(empty)[1] == []
    assert read_all(header_only)[0].columns == ["a", "b"]
    assert read_all(header_only)[1] == []


def test_csv_explicit_gbk_is_widened_to_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("名字\n𠀀\n".encode("gb18030"))  # not representable in GBK
    src, rows = read_all(path, encoding="GBK")
    assert src.encoding == "gb18030"
    assert rows == [(2, {"名字": "𠀀"})]


def test_csv_unknown_encoding_argument(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ReaderError) as info:
        open_rows(path, encoding="no-such-codec")
    assert info.value.code == "unknown_encoding"


def test_csv_bad_bytes_after_the_sample_raise_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    body = b"a,b\n" + b"x,y\n" * 300_000  # > 1 MiB of ASCII: detected as UTF-8
    path.write_bytes(body + "张,三\n".encode("gbk"))
    with open_rows(path) as src, pytest.raises(ReaderError) as info:
        for _ in src:
            pass
    assert info.value.code == "bad_encoding"
    assert "utf-8" in info.value.message


def test_csv_fraction_done_and_close(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n" + "1\n" * 10)
    src = open_rows(path)
    assert 0.0 <= src.fraction_done() <= 1.0
    assert len(list(src)) == 10
    assert src.fraction_done() == 1.0
    src.close()
    src.close()  # idempotent
    assert list(src) == []


ALPHABET = st.characters(codec="utf-8")  # any character UTF-8 can carry


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.lists(st.text(ALPHABET, max_size=6), min_size=3, max_size=3).filter(any),
        max_size=8,
    )
)
def test_csv_round_trips_arbitrary_values(tmp_path: Path, table: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["a", "b", "c"])
    expected = []
    for row in table:
        # Physical line where this record starts, as an editor counts lines.
        line = len(io.StringIO(buffer.getvalue(), newline="").readlines()) + 1
        writer.writerow(row)
        expected.append((line, {k: v or None for k, v in zip("abc", row, strict=True)}))
    path = tmp_path / "roundtrip.csv"
    path.write_bytes(buffer.getvalue().encode())
    assert read_all(path)[1] == expected


# --------------------------------------------------------------------------- XLSX


def write_xlsx(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "订单"
    ws.append([])  # row 1 empty: the header is on row 2
    ws.append(["订单编号", "金额", "数量", "下单时间", "生日", " 备注 "])
    ws.append(["3612345678901234567", 12.5, 3, datetime(2024, 1, 5, 12, 0), date(1990, 1, 5), ""])
    ws.append([])  # empty row 4 is skipped
    ws.append(["3612345678901234568", Decimal("7.10"), 1, None, None, "加急", "stray"])
    other = wb.create_sheet("Customers")
    other.append(["phone"])
    other.append([13812345678])
    wb.active = 0
    wb.save(path)


def test_xlsx_rows_values_and_sheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    write_xlsx(path)
    src, rows = read_all(path)
    assert (src.format, src.encoding, src.sheet) == ("xlsx", None, "订单")
    assert src.columns == ["订单编号", "金额", "数量", "下单时间", "生日", "备注"]
    assert [n for n, _ in rows] == [3, 5]
    first = rows[0][1]
    assert first == {
        "订单编号": "3612345678901234567",
        "金额": 12.5,
        "数量": 3,
        "下单时间": datetime(2024, 1, 5, 12, 0),
        "生日": datetime(1990, 1, 5, 0, 0),  # Excel has no date-only type
        "备注": None,
    }
    second = rows[1][1]
    assert second["金额"] == 7.1
    assert second["__error__"] == "extra_fields"
    assert second["__extra__"] == ["stray"]


def test_xlsx_sheet_selection(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    write_xlsx(path)
    src, rows = read_all(path, sheet="Customers")
    assert src.sheet == "Customers"
    assert rows == [(2, {"phone": 13812345678})]
    with pytest.raises(ReaderError) as info:
        open_rows(path, sheet="Nope")
    assert info.value.code == "sheet_not_found"
    assert "Customers" in info.value.message


def test_xlsx_detected_by_magic_without_extension(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    write_xlsx(path)
    renamed = path.rename(tmp_path / "download")
    src, rows = read_all(renamed)
    assert src.format == "xlsx"
    assert len(rows) == 2


def test_xlsx_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ReaderError) as info:
        open_rows(path)
    assert info.value.code == "bad_xlsx"


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_bad_lines_are_yielded_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + b'{"id": 1, "tags": ["a", "b"], "address": {"city": "\xe6\x9d\xad\xe5\xb7\x9e"}}\n'
        + b'{"id": 2, "amount": "12.50", "paid": null}\n'
        + b"\n"
        + b'{"id": 3, oops}\n'
        + b"[1, 2]\n"
        + b'{"id": "\xff"}\n'
        + b'{"id": 7, "price": 1.5}'
    )
    src, rows = read_all(path)
    assert (src.format, src.encoding) == ("jsonl", "utf-8-sig")
    assert src.columns == ["id", "tags", "address"]
    assert rows[0] == (1, {"id": 1, "tags": ["a", "b"], "address": {"city": "杭州"}})
    assert rows[1] == (2, {"id": 2, "amount": "12.50", "paid": None})
    assert rows[2][0] == 4
    assert str(rows[2][1]["__error__"]).startswith("bad_json: ")
    assert rows[3] == (5, {"__error__": "bad_json: expected an object, got list"})
    assert rows[4][0] == 6
    assert str(rows[4][1]["__error__"]).startswith("bad_json: ")
    assert rows[5] == (7, {"id": 7, "price": 1.5})


def test_jsonl_columns_from_first_good_object(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_text('not json\n{"b": 1, "a": 2}\n')
    src, rows = read_all(path)
    assert src.columns == ["b", "a"]
    assert [n for n, _ in rows] == [1, 2]


def test_jsonl_utf16(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes('{"name": "钱七"}\n{"name": "孙八"}\n'.encode("utf-16"))
    src, rows = read_all(path)
    assert src.encoding == "utf-16"
    assert rows == [(1, {"name": "钱七"}), (2, {"name": "孙八"})]


def test_json_array_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"a": 1}, {"a": 2}], indent=2))
    with pytest.raises(ReaderError) as info:
        open_rows(path)
    assert info.value.code == "unsupported_format"
    assert "JSON Lines" in info.value.message


# --------------------------------------------------------------------------- Parquet


def test_parquet_rows_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    n = 40_000  # more than one batch
    table = pa.table(
        {
            "order_id": pa.array([f"T{i}" for i in range(n)]),
            "amount_fen": pa.array(range(n), type=pa.int64()),
            "paid_at": pa.array(
                [datetime(2024, 1, 5, 4, 0, tzinfo=UTC)] * n, type=pa.timestamp("us", tz="UTC")
            ),
            "tags": pa.array([["vip"] if i % 2 else [] for i in range(n)]),
            "note": pa.array([None if i % 3 else "x" for i in range(n)], type=pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=10_000)
    src = open_rows(path)
    with src:
        assert (src.format, src.encoding) == ("parquet", None)
        assert src.columns == ["order_id", "amount_fen", "paid_at", "tags", "note"]
        first = next(iter(src))
        assert first == (
            1,
            {
                "order_id": "T0",
                "amount_fen": 0,
                "paid_at": datetime(2024, 1, 5, 4, 0, tzinfo=UTC),
                "tags": [],
                "note": "x",
            },
        )
        rest = list(src)
        assert 0.0 <= src.fraction_done() <= 1.0
    assert len(rest) == n - 1
    assert rest[-1][0] == n
    assert rest[-1][1]["order_id"] == f"T{n - 1}"
    assert rest[0][1]["tags"] == ["vip"]


def test_parquet_written_by_polars(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "customers.parquet"
    pl.DataFrame({"phone": ["13812345678", None], "n": [1, 2]}).write_parquet(path)
    _, rows = read_all(path)
    assert rows == [(1, {"phone": "13812345678", "n": 1}), (2, {"phone": None, "n": 2})]


def test_parquet_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 truncated")
    with pytest.raises(ReaderError) as info:
        open_rows(path)
    assert info.value.code == "bad_parquet"


# --------------------------------------------------------------------------- fingerprint


def test_file_sha256_and_fingerprint(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    write_taobao_csv(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == digest
    with open_rows(path) as src:
        assert src.fingerprint == digest
