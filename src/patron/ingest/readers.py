"""Streaming readers for import files (CSV, XLSX, JSON Lines, Parquet).

:func:`open_rows` opens a file and yields ``(row_number, row)`` pairs, where
``row_number`` is what the user sees in Excel or a text editor, so a rejected
row can be found again, and ``row`` maps the (cleaned) header names to raw
cell values. Readers do not interpret values: type conversion and validation
belong to :mod:`patron.core.parsing` and the importers. Memory stays flat
whatever the file size.

Problems with the whole file raise :class:`ReaderError` with a stable code:
``unsupported_format``, ``unknown_encoding``, ``bad_encoding``, ``bad_csv``,
``bad_xlsx``, ``bad_parquet``, ``sheet_not_found``. Problems with one row do not
abort the file: the row carries an ``"__error__"`` key (``"extra_fields"``,
``"bad_json: …"``) so the caller can quarantine it and go on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Protocol, Self

import numpy as np
import polars as pl

__all__ = [
    "FORMATS",
    "ReaderError",
    "Row",
    "RowSource",
    "detect_encoding",
    "detect_format",
    "file_sha256",
    "open_rows",
]

#: One row: header name -> cell value. CSV gives ``str | None``; XLSX, JSON
#: Lines and Parquet give whatever Python value the format holds.
Row = dict[str, Any]

FORMATS: Final = ("csv", "xlsx", "jsonl", "parquet")

#: Bytes read to guess the encoding and the CSV delimiter.
SAMPLE_SIZE: Final = 1 << 20

ERROR_KEY: Final = "__error__"
EXTRA_KEY: Final = "__extra__"


class ReaderError(Exception):
    """A file that cannot be read; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------

_EXTENSIONS: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


def detect_format(path: Path) -> str:
    """Return ``"csv"``, ``"xlsx"``, ``"jsonl"`` or ``"parquet"`` for ``path``.

    The extension decides; for unknown extensions the magic bytes do (``PK``
    zip -> xlsx, ``PAR1`` -> parquet). Legacy ``.xls`` and anything else raise
    ``unsupported_format``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = _EXTENSIONS.get(suffix)
    if fmt is not None:
        return fmt
    if suffix == ".xls":
        raise ReaderError("unsupported_format", f"{path.name}: legacy .xls; save it as .xlsx or CSV")
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        return "xlsx"
    if head == b"PAR1":
        return "parquet"
    raise ReaderError(
        "unsupported_format",
        f"{path.name}: unknown file type; use .csv, .xlsx, .jsonl or .parquet",
    )


_GB_FAMILY: Final = frozenset({"gbk", "gb2312", "gb18030", "cp936", "euc_cn", "ms936"})
# Other double-byte CJK encodings whose byte ranges overlap GBK's.
_OTHER_CJK: Final = frozenset(
    {
        "big5",
        "big5hkscs",
        "cp950",
        "cp949",
        "euc_kr",
        "johab",
        "shift_jis",
        "cp932",
        "shift_jis_2004",
        "shift_jisx0213",
        "euc_jp",
        "euc_jis_2004",
        "euc_jisx0213",
    }
)
_ASCII: Final = bytes(range(128))
# Below this many non-ASCII bytes, charset_normalizer's choice among CJK codecs
# is close to a coin toss (two Chinese names can look like Korean or Big5).
_SHORT_CJK_EVIDENCE: Final = 1024


def _decodes(sample: bytes, encoding: str) -> bool:
    """Strict decode that tolerates a multi-byte character cut at the end."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _canonical(encoding: str) -> str:
    """Python's canonical codec name; GBK and GB2312 are widened to GB18030."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ReaderError("unknown_encoding", f"unknown encoding {encoding!r}") from None
    return "gb18030" if name.replace("-", "_") in _GB_FAMILY else name


def detect_encoding(sample: bytes) -> str:
    """Guess the text encoding of a file from its first bytes (say 1 MiB).

    Returns ``"utf-8-sig"`` / ``"utf-16"`` when there is a BOM, ``"utf-8"``
    when the sample is valid UTF-8 (ASCII included), ``"gb18030"`` for
    GBK/GB2312 (Taobao and Excel-in-China exports; GB18030 is a superset, so
    decoding with it never loses characters). Other files go to
    charset_normalizer, whose answer is returned as a Python codec name (e.g.
    ``"big5"``, ``"cp1252"``); undetectable bytes raise ``unknown_encoding``.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(sample, "utf-8"):
        return "utf-8"

    from charset_normalizer import from_bytes  # slow import, rarely needed

    best = from_bytes(sample).best()
    gb_ok = _decodes(sample, "gb18030")
    if best is None:
        if gb_ok:
            return "gb18030"
        raise ReaderError("unknown_encoding", "cannot tell the text encoding; pass encoding=")
    name = _canonical(best.encoding)
    non_ascii = len(sample.translate(None, _ASCII))
    if name in _OTHER_CJK and gb_ok and non_ascii < _SHORT_CJK_EVIDENCE:
        return "gb18030"
    return name


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of the file's bytes (for re-import detection)."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---------------------------------------------------------------------------
# RowSource
# ---------------------------------------------------------------------------


class RowSource:
    """An open import file: iterate it for ``(row_number, row)`` pairs.

    Single pass, like a file object. Use it as a context manager (or call
    :meth:`close`) to release the file handle. ``columns`` holds the cleaned
    header names: surrounding whitespace and BOMs stripped, blank names replaced
    by ``column_<n>`` (1-based position), repeated names suffixed ``_2``,
    ``_3``…, trailing blank header cells dropped. For JSON Lines, ``columns``
    are the keys of the first object.
    """

    def __init__(
        self,
        *,
        path: Path,
        format: str,
        encoding: str | None,
        columns: list[str],
        rows: Iterator[tuple[int, Row]],
        close: Callable[[], None],
        progress: Callable[[], float] | None = None,
        sheet: str | None = None,
        frames: Callable[[int], Iterator[pl.DataFrame] | None] | None = None,
    ) -> None:
        self.path = path
        self.format = format
        self.encoding = encoding
        self.columns = columns
        self.sheet = sheet
        self._rows = rows
        self._close = close
        self._progress = progress
        self._closed = False
        self._fingerprint: str | None = None
        self._frames = frames

    def frames(self, size: int) -> Iterator[pl.DataFrame] | None:
        """The same rows as iteration, in Polars frames of about ``size`` rows, or ``None`` when
        this file cannot be read that way (see :func:`_csv_frames`). Each frame holds the source
        columns as text (empty cells null), ``__row`` (the row number) and ``__bad`` (the row has
        more non-empty fields than the header; its surplus is not kept). Use either this or
        iteration, not both."""
        return self._frames(size) if self._frames is not None else None

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return self._rows

    def __next__(self) -> tuple[int, Row]:
        return next(self._rows)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close_rows = getattr(self._rows, "close", None)
            if close_rows is not None:
                close_rows()
            self._close()

    def fraction_done(self) -> float:
        """Rough share of the file consumed so far, 0.0..1.0 (for progress bars).

        Bytes read for CSV and JSON Lines (the decoder reads ahead a little),
        rows for Parquet and XLSX (XLSX uses the sheet's declared size, which
        some exporters leave out: then 0.0 until the end).
        """
        if self._closed:
            return 1.0
        if self._progress is None:
            return 0.0
        try:
            return min(1.0, max(0.0, self._progress()))
        except (OSError, ValueError, ZeroDivisionError):
            return 0.0

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the file bytes, computed on first use."""
        if self._fingerprint is None:
            self._fingerprint = file_sha256(self.path)
        return self._fingerprint

    def __repr__(self) -> str:
        return (
            f"RowSource({str(self.path)!r}, format={self.format!r}, "
            f"encoding={self.encoding!r}, columns={len(self.columns)})"
        )


class _Closable(Protocol):
    def close(self) -> object: ...


def _closer(*resources: _Closable) -> Callable[[], None]:
    """Close several resources in order, even if one of them fails."""

    def close() -> None:
        errors: list[BaseException] = []
        for resource in resources:
            try:
                resource.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    return close


# Whitespace and invisible marks to strip from header names.
_STRIP: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b\u200c\u200d\u200e\u200f\u2060"
)


def _clean_header(cells: Sequence[object]) -> list[str]:
    names = ["" if c is None else str(c).strip(_STRIP) for c in cells]
    while names and not names[-1]:
        names.pop()
    seen: dict[str, int] = {}
    columns: list[str] = []
    for i, name in enumerate(names, 1):
        base = name or f"column_{i}"
        name = base
        while name in seen:
            seen[base] += 1
            name = f"{base}_{seen[base]}"
        seen.setdefault(name, 1)
        columns.append(name)
    return columns


def open_rows(
    path: Path | str,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> RowSource:
    """Open an import file for streaming.

    ``format`` defaults to :func:`detect_format`, ``encoding`` (CSV and JSON
    Lines) to :func:`detect_encoding` on the first 1 MiB, ``sheet`` (XLSX) to the
    sheet that was active when the workbook was saved. Row numbers:

    * CSV: physical line where the record starts (header = line 1; a quoted
      field with line breaks spans several lines), blank lines skipped.
      Values are ``str``, empty cells ``None``. A row with more non-empty
      fields than the header gets ``"__error__": "extra_fields"`` and the
      surplus under ``"__extra__"``; short rows are padded with ``None``.
    * XLSX: the sheet row number; the first non-empty row is the header.
      Values are what openpyxl gives (``datetime``, ``int``, ``float``, ``str``).
    * JSON Lines: the line number; each line must hold an object, nested
      values are kept as ``dict``/``list``. A bad line yields
      ``{"__error__": "bad_json: <reason>"}``.
    * Parquet: the 1-based row index; values converted by pyarrow.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt == "csv":
        return _open_csv(path, encoding)
    if fmt == "xlsx":
        return _open_xlsx(path, sheet)
    if fmt == "jsonl":
        return _open_jsonl(path, encoding)
    if fmt == "parquet":
        return _open_parquet(path)
    raise ReaderError("unsupported_format", f"unknown format {fmt!r}; use one of {FORMATS}")


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
_SEP_LINE: Final = re.compile(r"sep=(.)")  # Excel's "sep=;" hint line
_DELIMITERS: Final = (",", "\t", ";")


def _sniff_delimiter(text: str, suffix: str) -> tuple[str, bool]:
    """Delimiter from the first non-blank line, and whether that line is ``sep=X``."""
    first = ""
    for line in _LINE_BREAK.split(text.lstrip("\ufeff"), maxsplit=20):
        if line.strip():
            first = line
            break
    hint = _SEP_LINE.fullmatch(first.strip())
    if hint is not None:
        return hint[1], True
    if suffix == ".tsv":
        return "\t", False
    counts = [first.count(d) for d in _DELIMITERS]
    best = max(counts)
    return (_DELIMITERS[counts.index(best)] if best else ","), False


def _open_csv(path: Path, encoding: str | None) -> RowSource:
    raw = path.open("rb")
    try:
        sample = raw.read(SAMPLE_SIZE)
        enc = _canonical(encoding) if encoding else detect_encoding(sample)
        if enc == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            enc = "utf-8-sig"  # else the BOM would hide a quote opening the first field
        head = codecs.getincrementaldecoder(enc)(errors="replace").decode(sample[:65536])
        delimiter, sep_line = _sniff_delimiter(head, path.suffix.lower())
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=enc, newline="")
    except BaseException:
        raw.close()
        raise
    try:
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] = []
        try:
            for cells in reader:
                if not any(cells):
                    continue
                if sep_line and _SEP_LINE.fullmatch(delimiter.join(cells).strip()):
                    sep_line = False
                    continue
                header = cells
                break
        except UnicodeDecodeError as exc:
            raise _decode_error(path, enc, reader.line_num + 1, exc) from None
        except csv.Error as exc:
            raise ReaderError("bad_csv", f"{path.name} line {reader.line_num}: {exc}") from None
        columns = _clean_header(header)
        header_lines = reader.line_num
    except BaseException:
        text.close()
        raise
    source = RowSource(
        path=path,
        format="csv",
        encoding=enc,
        columns=columns,
        rows=_csv_rows(reader, columns, path, enc),
        close=text.close,
        progress=_byte_progress(raw),
    )

    def frames(size: int) -> Iterator[pl.DataFrame] | None:
        if enc not in ("utf-8", "utf-8-sig") or not _one_line_per_record(path):
            return None
        position = [0]
        total_lines = max(1, _count_lines(path) - header_lines)
        source._progress = lambda: position[0] / total_lines
        return _csv_frames(path, delimiter, columns, header_lines, size, position)

    source._frames = frames
    return source


# Surplus fields a frame-read row may have and still be checked for non-empty extras.
_EXTRA_COLUMNS: Final = 16
_SCAN_WINDOW: Final = 16 << 20


def _one_line_per_record(path: Path) -> bool:
    """Whether every CSV record of the file is exactly one physical line, so that Polars' reader
    (which does not count lines) gives the same row numbers as the csv module: no lone CR line
    ends, and no quoted field spanning lines (the quotes seen before every line break are an even
    number). Reads the file in windows; memory stays flat."""
    carry = 0  # parity of the quotes seen so far
    with path.open("rb") as f:
        while window := f.read(_SCAN_WINDOW):
            lone_cr = window.count(b"\r") - window.count(b"\r\n")
            if lone_cr > 1 or (lone_cr == 1 and not window.endswith(b"\r")):
                return False
            if b'"' not in window:
                if carry and b"\n" in window:
                    return False
                continue
            a = np.frombuffer(window, dtype=np.uint8)
            quotes = np.flatnonzero(a == 34)
            breaks = np.flatnonzero(a == 10)
            if np.any((np.searchsorted(quotes, breaks) + carry) % 2):
                return False
            carry = (carry + len(quotes)) % 2
    return True


def _csv_frames(
    path: Path,
    delimiter: str,
    columns: list[str],
    header_lines: int,
    size: int,
    position: list[int],
) -> Iterator[pl.DataFrame]:
    """Polars' CSV reader in batches: ten times the csv module's speed on large exports.
    ``position`` receives the lines read so far (for the progress bar)."""
    extra = [f"__extra_{i}" for i in range(_EXTRA_COLUMNS)]
    scan = pl.scan_csv(
        path,
        has_header=False,
        separator=delimiter,
        skip_lines=header_lines,
        schema=dict.fromkeys([*columns, *extra], pl.Utf8),
        truncate_ragged_lines=True,
        missing_columns="insert",
        row_index_name="__row",
        row_index_offset=header_lines + 1,
        encoding="utf8",
    )
    try:
        for batch in scan.collect_batches(chunk_size=size):
            position[0] = int(batch["__row"][-1]) - header_lines if batch.height else position[0]
            # A quoted empty field ("") is an empty cell too.
            batch = batch.with_columns(pl.col([*columns, *extra]).replace("", None))
            batch = batch.filter(pl.any_horizontal(pl.col([*columns, *extra]).is_not_null()))
            yield batch.select(
                pl.col(columns),
                pl.col("__row").cast(pl.Int64),
                pl.any_horizontal(pl.col(extra).is_not_null()).alias("__bad"),
            )
    except pl.exceptions.ComputeError as exc:
        raise ReaderError("bad_csv", f"{path.name}: {exc}") from None


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while window := f.read(_SCAN_WINDOW):
            n += window.count(b"\n")
    return n


def _byte_progress(raw: IO[bytes]) -> Callable[[], float]:
    size = os.fstat(raw.fileno()).st_size

    def progress() -> float:
        return raw.tell() / size if size else 1.0

    return progress


def _decode_error(path: Path, enc: str, line: int, exc: UnicodeDecodeError) -> ReaderError:
    return ReaderError(
        "bad_encoding",
        f"{path.name} near line {line}: not valid {enc} ({exc.reason}); pass the right encoding=",
    )


def _csv_rows(
    reader: Any, columns: list[str], path: Path, enc: str
) -> Generator[tuple[int, Row], None, None]:
    # Hot loop (runs per row of multi-million-row files): keep it to one
    # dict comprehension; ragged rows take the slow path.
    n = len(columns)
    line: int = reader.line_num
    try:
        for row in reader:
            start = line + 1
            line = reader.line_num
            if not any(row):  # blank line or only empty fields
                continue
            if len(row) == n:
                yield start, {k: v or None for k, v in zip(columns, row, strict=True)}
            else:
                yield start, _ragged(columns, row)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, enc, reader.line_num + 1, exc) from None
    except csv.Error as exc:
        raise ReaderError("bad_csv", f"{path.name} line {reader.line_num}: {exc}") from None


def _ragged(columns: list[str], row: list[str]) -> Row:
    n = len(columns)
    if len(row) < n:
        padded = row + [""] * (n - len(row))
        return {k: v or None for k, v in zip(columns, padded, strict=True)}
    out: Row = {k: v or None for k, v in zip(columns, row, strict=False)}
    extra = row[n:]
    if any(extra):  # trailing empty fields (a comma at the end) are harmless
        out[ERROR_KEY] = "extra_fields"
        out[EXTRA_KEY] = extra
    return out


# ---------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------


def _open_xlsx(path: Path, sheet: str | None) -> RowSource:
    import openpyxl  # heavy import, only when needed

    # A file object, not the path: openpyxl refuses names without an Excel
    # extension, and format detection may have gone by magic bytes.
    raw = path.open("rb")
    try:
        wb = openpyxl.load_workbook(raw, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raw.close()
        raise ReaderError("bad_xlsx", f"{path.name}: not a readable .xlsx file ({exc})") from None
    close = _closer(wb, raw)
    try:
        ws: Any  # openpyxl's stubs type worksheets loosely
        if sheet is None:
            ws = wb.active
            if ws is None or not hasattr(ws, "iter_rows"):  # e.g. a chartsheet
                ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise ReaderError(
                "sheet_not_found",
                f"{path.name}: no sheet {sheet!r}; sheets are {wb.sheetnames}",
            )
        declared_rows = ws.max_row if isinstance(ws.max_row, int) else 0
        if hasattr(ws, "reset_dimensions"):
            # Some exporters write a wrong <dimension>; read the cells as they are.
            ws.reset_dimensions()
        it: Iterator[tuple[Any, ...]] = ws.iter_rows(min_row=1, values_only=True)
        header_row = 0
        header: tuple[Any, ...] = ()
        for cells in it:
            header_row += 1
            if any(v is not None and v != "" for v in cells):
                header = cells
                break
        columns = _clean_header(header)
        title = str(ws.title)
        position = [header_row]
    except BaseException:
        close()
        raise
    return RowSource(
        path=path,
        format="xlsx",
        encoding=None,
        columns=columns,
        rows=_xlsx_rows(it, columns, header_row, position),
        close=close,
        progress=lambda: position[0] / declared_rows if declared_rows else 0.0,
        sheet=title,
    )


def _xlsx_rows(
    it: Iterator[tuple[Any, ...]], columns: list[str], header_row: int, position: list[int]
) -> Generator[tuple[int, Row], None, None]:
    n = len(columns)
    for row_number, cells in enumerate(it, header_row + 1):
        position[0] = row_number
        values = [None if v == "" else v for v in cells]
        if values.count(None) == len(values):
            continue
        if len(values) < n:
            values.extend([None] * (n - len(values)))
        row: Row = dict(zip(columns, values, strict=False))
        if len(values) > n:
            extra = values[n:]
            if extra.count(None) != len(extra):
                row[ERROR_KEY] = "extra_fields"
                row[EXTRA_KEY] = extra
        yield row_number, row


# ---------------------------------------------------------------------------
# JSON Lines
# ---------------------------------------------------------------------------


def _open_jsonl(path: Path, encoding: str | None) -> RowSource:
    raw = path.open("rb")
    try:
        sample = raw.read(SAMPLE_SIZE)
        enc = _canonical(encoding) if encoding else detect_encoding(sample)
        if sample.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"["):
            raise ReaderError(
                "unsupported_format",
                f"{path.name} holds a JSON array; convert it to JSON Lines (one object per line)",
            )
        raw.seek(0)
        # For UTF-8, json.loads decodes the bytes itself, so a bad byte spoils one line only.
        stream: IO[bytes] | IO[str] = (
            raw if enc in ("utf-8", "utf-8-sig") else io.TextIOWrapper(raw, encoding=enc, newline="\n")
        )
        rows = _jsonl_rows(stream)
        # Columns are the keys of the first object: read ahead up to it.
        head: list[tuple[int, Row]] = []
        columns: list[str] = []
        for item in rows:
            head.append(item)
            if ERROR_KEY not in item[1]:
                columns = [str(k) for k in item[1]]
                break
    except BaseException:
        raw.close()
        raise
    return RowSource(
        path=path,
        format="jsonl",
        encoding=enc,
        columns=columns,
        rows=chain(head, rows),
        close=_closer(rows, stream, raw),
        progress=_byte_progress(raw),
    )


def _jsonl_rows(stream: IO[bytes] | IO[str]) -> Generator[tuple[int, Row], None, None]:
    loads = json.loads
    lines: Iterator[Any] = iter(stream)  # bytes or str lines, json.loads takes both
    for line_no, line in enumerate(lines, 1):
        if line_no == 1:
            bom = "\ufeff" if isinstance(line, str) else codecs.BOM_UTF8
            line = line.removeprefix(bom)
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            yield line_no, {ERROR_KEY: f"bad_json: {exc}"}
            continue
        if isinstance(obj, dict):
            yield line_no, obj
        else:
            yield line_no, {ERROR_KEY: f"bad_json: expected an object, got {type(obj).__name__}"}


# ---------------------------------------------------------------------------
# Parquet
# ---------------------------------------------------------------------------

_PARQUET_BATCH: Final = 16_384


def _open_parquet(path: Path) -> RowSource:
    import pyarrow.parquet as pq  # heavy import, only when needed

    try:
        pf = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow.ArrowInvalid and friends
        raise ReaderError("bad_parquet", f"{path.name}: not a readable Parquet file ({exc})") from None
    columns = [str(name) for name in pf.schema_arrow.names]
    total = int(pf.metadata.num_rows)
    position = [0]
    return RowSource(
        path=path,
        format="parquet",
        encoding=None,
        columns=columns,
        rows=_parquet_rows(pf, position),
        close=pf.close,
        progress=lambda: position[0] / total if total else 1.0,
    )


def _parquet_rows(pf: Any, position: list[int]) -> Generator[tuple[int, Row], None, None]:
    row_number = 0
    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            row_number += 1
            yield row_number, row
        position[0] = row_number
