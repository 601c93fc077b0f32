"""All SQL of the ingest domain: import runs, quarantine rows, saved mappings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from patron.models import ImportRun, ImportStatus, QuarantineRow, SavedMapping


def add_run(session: Session, run: ImportRun) -> ImportRun:
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> ImportRun | None:
    return session.get(ImportRun, run_id)


def interrupted_run(
    session: Session, sha256: str, kind: str, mapping: str, shop: str | None
) -> ImportRun | None:
    """The latest run of this very file that never finished (the process was killed)."""
    return session.scalar(
        select(ImportRun)
        .where(
            ImportRun.sha256 == sha256,
            ImportRun.kind == kind,
            ImportRun.mapping == mapping,
            ImportRun.shop_code.is_(None) if shop is None else ImportRun.shop_code == shop,
            ImportRun.status == ImportStatus.running,
        )
        .order_by(ImportRun.id.desc())
        .limit(1)
    )


def list_runs(session: Session, offset: int, limit: int) -> tuple[list[ImportRun], int]:
    total = session.scalar(select(func.count()).select_from(ImportRun)) or 0
    rows = list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).offset(offset).limit(limit)))
    return rows, int(total)


def add_quarantine(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(QuarantineRow), list(rows))


def quarantine_of(
    session: Session,
    run_id: int | None,
    code: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[QuarantineRow], int]:
    query = select(QuarantineRow)
    if run_id is not None:
        query = query.where(QuarantineRow.import_run_id == run_id)
    if code:
        query = query.where(QuarantineRow.code == code)
    if status:
        query = query.where(QuarantineRow.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        session.scalars(
            query.order_by(QuarantineRow.import_run_id.desc(), QuarantineRow.row_number, QuarantineRow.id)
            .offset(offset)
            .limit(limit)
        )
    )
    return rows, int(total)


def quarantine_codes(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        select(QuarantineRow.code, func.count())
        .where(QuarantineRow.import_run_id == run_id)
        .group_by(QuarantineRow.code)
    )
    return {code: int(n) for code, n in rows}


def quarantine_rows_of(session: Session, ids: Sequence[int]) -> list[QuarantineRow]:
    return list(session.scalars(select(QuarantineRow).where(QuarantineRow.id.in_(ids))))


def saved_mappings(session: Session) -> list[SavedMapping]:
    return list(session.scalars(select(SavedMapping).order_by(SavedMapping.name)))


def saved_mapping(session: Session, name: str) -> SavedMapping | None:
    return session.scalar(select(SavedMapping).where(SavedMapping.name == name))


def add_saved_mapping(session: Session, mapping: SavedMapping) -> SavedMapping:
    session.add(mapping)
    session.flush()
    return mapping


IMPORT_TABLES = ("customers", "identities", "orders", "order_lines", "refunds", "events")


def refresh_planner_statistics(session: Session) -> None:
    """PostgreSQL plans from table statistics; a table that grew from empty by bulk COPY inside
    one import still looks empty to the planner, which then scans it for every lookup. ANALYZE
    samples a fixed number of rows, so it stays cheap however large the tables get."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(IMPORT_TABLES)}"))
