"""Import orchestration helpers that run inside a caller-owned transaction.

``tasks.run_import`` owns the transactions (one per chunk, or one for the whole file under the
"reject" policy); the functions here only read and flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.time import utcnow
from patron.ingest import repository as repo
from patron.ingest.mappings import FIELDS, KINDS, Mapping, builtin_mappings, default_mapping_name
from patron.ingest.records import RowError
from patron.models import ImportRun, QuarantineRow, SavedMapping
from patron.privacy import audit

POLICIES = ("keep", "reject")


class UnknownMapping(NotFound):
    code = "unknown_mapping"


class MissingColumns(InvalidInput):
    code = "missing_columns"


@dataclass
class Summary:
    """What an import did; ``--json`` prints exactly this."""

    kind: str
    mapping: str
    file: str
    format: str
    encoding: str | None
    status: str
    run_id: int | None = None
    dry_run: bool = False
    policy: str = "keep"
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantined_by_code: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    rows_per_s: float = 0.0
    resumed_from: int | None = None
    resumed_after_row: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_mapping(session: Session, kind: str, name: str | None) -> Mapping:
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown import kind {kind!r}", code="unknown_kind", data={"allowed": list(KINDS)}
        )
    # "patron" names the native format of whatever kind is imported.
    name = default_mapping_name(kind) if name in (None, "", "patron") else name
    builtin = builtin_mappings()
    mapping = builtin.get(name)
    if mapping is None:
        saved = repo.saved_mapping(session, name)
        if saved is None:
            raise UnknownMapping(
                f"unknown mapping {name!r}",
                data={"available": sorted(builtin) + [m.name for m in repo.saved_mappings(session)]},
            )
        mapping = Mapping(
            name=saved.name,
            kind=saved.kind,
            columns=dict(saved.columns),
            defaults=dict(saved.options.get("defaults", {})),
            label=saved.name,
            builtin=False,
        )
    if mapping.kind != kind:
        raise InvalidInput(
            f"mapping {name!r} is for {mapping.kind}, not {kind}",
            code="mapping_kind_mismatch",
            data={"mapping_kind": mapping.kind},
        )
    return mapping


def check_header(mapping: Mapping, columns: list[str]) -> None:
    missing = mapping.missing_columns(columns)
    if missing:
        wanted = [mapping.columns.get(f, f) for f in missing]
        raise MissingColumns(
            f"the file lacks required column(s): {', '.join(wanted)} (mapping {mapping.name})",
            data={"missing": wanted, "found": columns[:50]},
        )


def all_mappings(session: Session) -> list[dict[str, Any]]:
    out = [
        {"name": m.name, "kind": m.kind, "label": m.label, "builtin": True, "columns": m.columns}
        for m in builtin_mappings().values()
    ]
    out += [
        {"name": m.name, "kind": m.kind, "label": m.name, "builtin": False, "columns": m.columns}
        for m in repo.saved_mappings(session)
    ]
    return out


def save_mapping(
    session: Session,
    name: str,
    kind: str,
    columns: dict[str, str],
    defaults: dict[str, Any] | None = None,
) -> SavedMapping:
    if kind not in KINDS:
        raise InvalidInput(f"unknown import kind {kind!r}", code="unknown_kind")
    if name in builtin_mappings() or repo.saved_mapping(session, name) is not None:
        raise Conflict(f"a mapping named {name!r} exists already", code="mapping_exists")
    unknown = sorted(set(columns) - set(FIELDS[kind]))
    if unknown:
        raise InvalidInput(
            f"unknown field(s) for {kind}: {', '.join(unknown)}",
            code="unknown_field",
            data={"allowed": list(FIELDS[kind])},
        )
    return repo.add_saved_mapping(
        session,
        SavedMapping(name=name, kind=kind, columns=columns, options={"defaults": defaults or {}}),
    )


def start_run(session: Session, summary: Summary, sha256: str, shop: str | None, actor: str) -> ImportRun:
    previous = repo.interrupted_run(session, sha256, summary.kind, summary.mapping, shop)
    run = ImportRun(
        kind=summary.kind,
        mapping=summary.mapping,
        shop_code=shop,
        filename=summary.file,
        sha256=sha256,
        file_format=summary.format,
        encoding=summary.encoding,
        policy=summary.policy,
        dry_run=False,
        status="running",
        actor=actor,
    )
    if previous is not None:
        # The earlier run was killed: its committed chunks stay, this run continues after them.
        previous.status = "failed"
        previous.error = f"interrupted; resumed by a later run at row {previous.checkpoint_row}"
        previous.finished_at = utcnow()
        run.resumed_from = previous.id
        run.checkpoint_row = previous.checkpoint_row
        for name in ("rows_read", "inserted", "updated", "unchanged", "quarantined"):
            setattr(run, name, getattr(previous, name))
    return repo.add_run(session, run)


def quarantine(
    session: Session, run_id: int, errors: Sequence[RowError], raws: dict[int, dict[str, Any]]
) -> None:
    now = utcnow()
    repo.add_quarantine(
        session,
        [
            {
                "import_run_id": run_id,
                "row_number": e.row,
                "column": e.column,
                "code": e.code,
                "message": e.message[:500],
                "value": e.value,
                "raw": _jsonable(raws.get(e.row, {})),
                "status": "open",
                "created_at": now,
            }
            for e in errors
        ],
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | type(None) | dict | list) else str(v)
        for k, v in row.items()
    }


def save_progress(
    session: Session, run_id: int, summary: Summary, checkpoint_row: int, fraction: float | None
) -> None:
    run = repo.get_run(session, run_id)
    assert run is not None
    if fraction is not None:
        run.progress = round(min(max(fraction, 0.0), 1.0), 4)
    for name in ("rows_read", "inserted", "updated", "unchanged", "quarantined"):
        setattr(run, name, getattr(summary, name))
    run.checkpoint_row = checkpoint_row
    session.flush()


def finish_run(session: Session, run_id: int, summary: Summary, error: str | None = None) -> None:
    run = repo.get_run(session, run_id)
    assert run is not None
    for name in ("rows_read", "inserted", "updated", "unchanged", "quarantined", "status"):
        setattr(run, name, getattr(summary, name))
    summary.quarantined_by_code = repo.quarantine_codes(session, run_id)
    run.summary = {k: v for k, v in summary.to_dict().items() if k != "errors"}
    run.error = error
    if error is None:
        run.progress = 1.0
    run.finished_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=run.actor,
        action="import.finish",
        target_type="import_run",
        target_id=run.id,
        data={
            "kind": run.kind,
            "file": run.filename,
            "sha256": run.sha256,
            "status": run.status,
            "rows": run.rows_read,
            "inserted": run.inserted,
            "updated": run.updated,
            "quarantined": run.quarantined,
        },
    )


def get_run(session: Session, run_id: int) -> ImportRun:
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"import run {run_id} not found", code="import_not_found")
    return run


def list_runs(session: Session, offset: int = 0, limit: int = 50) -> tuple[list[ImportRun], int]:
    return repo.list_runs(session, offset, limit)


def quarantine_rows(
    session: Session,
    run_id: int | None = None,
    code: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[QuarantineRow], int]:
    return repo.quarantine_of(session, run_id, code, status, offset, limit)


def shops_by_code(session: Session) -> dict[str, Any]:
    return {s.code: s for s in commerce.list_shops(session)}


def refresh_planner_statistics(session: Session) -> None:
    repo.refresh_planner_statistics(session)
