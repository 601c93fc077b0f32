"""Bulk writes that bypass the ORM for the import hot path.

The ORM's bulk insert costs tens of microseconds a row in type processing and bookkeeping; an
import writes millions. These helpers send plain driver calls: ``COPY … FROM STDIN`` on
PostgreSQL (psycopg 3) and ``executemany`` on SQLite, with values converted the way SQLAlchemy
stores them (SQLite keeps UTC timestamps as naive ``YYYY-MM-DD HH:MM:SS.ffffff`` text).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Table
from sqlalchemy.orm import Session


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})


def _first_value(rows: Sequence[Sequence[Any]], i: int) -> Any:
    return next((r[i] for r in rows if r[i] is not None), None)


def _for_sqlite(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Convert only the columns that need it (times, JSON), found once per batch."""
    special = [i for i in range(len(rows[0])) if type(_first_value(rows, i)) not in _PLAIN]
    if not special:
        return [tuple(r) for r in rows]
    # Import chunks repeat the same instants (the chunk's "now", shared order times): convert once.
    seen: dict[Any, Any] = {}
    out = []
    for r in rows:
        row = list(r)
        for i in special:
            v = row[i]
            if type(v) is datetime:
                c = seen.get(v)
                if c is None:
                    c = seen[v] = _sqlite_value(v)
                row[i] = c
            elif v is not None:
                row[i] = _sqlite_value(v)
        out.append(tuple(row))
    return out


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in one round of driver calls."""
    if not rows:
        return
    conn = session.connection()
    cols = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        from psycopg.types.json import Jsonb

        driver = conn.connection.driver_connection
        with driver.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([Jsonb(v) if isinstance(v, dict | list) else v for v in row])
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})', _for_sqlite(rows))


def update_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: str = "id",
    *,
    fill_blanks: bool = False,
) -> None:
    """``UPDATE table SET columns… WHERE key = ?`` for each row (the key is the row's last value).

    ``fill_blanks`` only sets columns that are NULL (``col = COALESCE(col, ?)``)."""
    if not rows:
        return
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    sets = ", ".join(
        f'"{c}" = COALESCE("{c}", {mark})' if fill_blanks else f'"{c}" = {mark}' for c in columns
    )
    sql = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = {mark}'
    if pg:
        from psycopg.types.json import Jsonb

        params = [tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in rows]
    else:
        params = _for_sqlite(rows)
    conn.exec_driver_sql(sql, params)


def insert_returning_ids(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert rows and return their new ids in order, without a RETURNING round trip per batch.

    PostgreSQL: ids are drawn from the table's sequence first and sent with the rows (safe with
    concurrent writers). SQLite: the first insert takes the database's single write lock, so the
    rows get consecutive rowids ending at ``last_insert_rowid()``.
    """
    if not rows:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        seq = f"{table.name}_id_seq"
        ids = [
            r[0]
            for r in conn.exec_driver_sql(f"SELECT nextval('{seq}') FROM generate_series(1, {len(rows)})")
        ]
        insert_rows(session, table, ("id", *columns), [(i, *row) for i, row in zip(ids, rows, strict=True)])
        return ids
    insert_rows(session, table, columns, rows)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return list(range(last - len(rows) + 1, last + 1))


# -- frames -----------------------------------------------------------------------------------
# The columnar import path keeps rows in Polars frames from the file to the database: values are
# converted per column, never per cell in Python, and PostgreSQL receives them as CSV for COPY.

_SQL_TYPES = {pl.Int64: "BIGINT", pl.Int32: "BIGINT", pl.Utf8: "TEXT", pl.Boolean: "BOOLEAN"}


def _sqlite_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Times as SQLAlchemy stores them in SQLite: naive UTC text with microseconds."""
    return frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        if frame.schema[c].time_zone  # type: ignore[attr-defined]
        else pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    )


def _copy_frame(session: Session, table: str, frame: pl.DataFrame) -> None:
    driver = session.connection().connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    data = frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC") for c, t in frame.schema.items() if isinstance(t, pl.Datetime)
    ).write_csv(include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.6f+00", null_value="")
    with driver.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN (FORMAT csv)') as copy:  # type: ignore[union-attr]
        copy.write(data.encode())


def insert_frame(session: Session, table: Table | str, frame: pl.DataFrame) -> None:
    """Insert every row of ``frame`` (columns named as the table's) with COPY or executemany.
    Empty strings must already be null: PostgreSQL's CSV reads an empty field as NULL."""
    if frame.is_empty():
        return
    name = table if isinstance(table, str) else table.name
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _copy_frame(session, name, frame)
        return
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    conn.exec_driver_sql(f'INSERT INTO "{name}" ({cols}) VALUES ({marks})', _sqlite_frame(frame).rows())


def insert_frame_returning_ids(session: Session, table: Table, frame: pl.DataFrame) -> pl.Series:
    """:func:`insert_returning_ids` for a frame: the new ids in row order."""
    if frame.is_empty():
        return pl.Series("id", [], dtype=pl.Int64)
    conn = session.connection()
    n = frame.height
    if conn.dialect.name == "postgresql":
        seq = f"{table.name}_id_seq"
        ids = pl.Series(
            "id",
            [r[0] for r in conn.exec_driver_sql(f"SELECT nextval('{seq}') FROM generate_series(1, {n})")],
            dtype=pl.Int64,
        )
        insert_frame(session, table, frame.insert_column(0, ids))
        return ids
    insert_frame(session, table, frame)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return pl.Series("id", range(last - n + 1, last + 1), dtype=pl.Int64)


@contextmanager
def staged(session: Session, frame: pl.DataFrame) -> Iterator[str]:
    """A temporary table holding ``frame``, for joining a batch of keys against a big table in
    one statement instead of thousands of ``IN`` lists. Dropped on exit."""
    name = f"patron_stage_{next(_STAGE_IDS)}"
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    types = {**_SQL_TYPES, pl.Datetime: "TIMESTAMP WITH TIME ZONE" if pg else "TEXT"}
    cols = ", ".join(f'"{c}" {types[t.base_type()]}' for c, t in frame.schema.items())
    conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{name}" ({cols})')
    try:
        insert_frame(session, name, frame)
        if pg:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
        yield name
    finally:
        conn.exec_driver_sql(f'DROP TABLE "{name}"')


_STAGE_IDS = itertools.count(1)


def fetch_all(session: Session, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a raw SQL query (no parameters), in the session's transaction, read from the
    driver's own cursor: SQLAlchemy's result layer costs about 5 µs a row, which is most of the
    read when crediting hundreds of thousands of orders."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def read_frame(session: Session, sql: str, schema: dict[str, Any]) -> pl.DataFrame:
    """The rows of a raw SQL query as a frame with ``schema`` (names and types in select order)."""
    return pl.DataFrame(fetch_all(session, sql), schema=schema, orient="row")


def sql_time(conn: Any, value: datetime) -> str:
    """A timestamp as an SQL literal, stored the way the ORM stores it (for raw statements)."""
    if conn.dialect.name == "postgresql":
        return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"
    return f"'{_sqlite_value(value)}'"


def reserve_ids(session: Session, table: str, n: int) -> list[int]:
    """``n`` ids for rows the caller then inserts with them (so other rows can name them first).
    PostgreSQL: from the table's sequence. SQLite: after the largest id, which is only safe under
    the database's write lock: the caller must have written in this transaction already."""
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, {int(n)})")
        return [int(r[0]) for r in rows]
    last = int(conn.exec_driver_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').scalar_one())
    return list(range(last + 1, last + n + 1))


def update_by_id(session: Session, table: str, frame: pl.DataFrame, *, add: Sequence[str] = ()) -> None:
    """Update rows by ``id`` from ``frame`` (an ``id`` column and the columns to change): columns
    in ``add`` are added to (``c = c + value``), the others set. SQLite: one ``executemany`` by
    rowid (an ``UPDATE … FROM`` a temporary table walks the whole target table there); PostgreSQL:
    one ``UPDATE … FROM`` a staged table (a hash join)."""
    if frame.is_empty():
        return
    columns = [c for c in frame.columns if c != "id"]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sets = ", ".join(
            f'"{c}" = "{table}"."{c}" + s."{c}"' if c in add else f'"{c}" = s."{c}"' for c in columns
        )
        with staged(session, frame) as t:
            conn.exec_driver_sql(f'UPDATE "{table}" SET {sets} FROM "{t}" s WHERE "{table}".id = s.id')
        return
    sets = ", ".join(f'"{c}" = "{c}" + ?' if c in add else f'"{c}" = ?' for c in columns)
    rows = _sqlite_frame(frame.select(*columns, "id")).rows()
    conn.exec_driver_sql(f'UPDATE "{table}" SET {sets} WHERE id = ?', rows)
