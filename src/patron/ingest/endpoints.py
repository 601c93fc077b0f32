"""REST endpoints of the ingest domain: file imports, runs, quarantine, mappings."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel

from patron.accounts.dependencies import Auth
from patron.core.deps import DB
from patron.core.errors import InvalidInput
from patron.ingest import service
from patron.ingest.tasks import ImportRequest, run_import

router = APIRouter(prefix="/api/v1", tags=["imports"])
MAX_UPLOAD = 2 * 1024**3


class ImportRunOut(BaseModel):
    id: int
    kind: str
    mapping: str
    shop_code: str | None
    filename: str
    status: str
    file_format: str
    encoding: str | None
    policy: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    progress: float
    summary: dict[str, Any]
    error: str | None


class QuarantineOut(BaseModel):
    id: int
    row_number: int
    column: str | None
    code: str
    message: str
    value: str | None
    raw: dict[str, Any]
    status: str


class QuarantinePage(BaseModel):
    items: list[QuarantineOut]
    total: int


def save_upload(upload: UploadFile, uploads: Path) -> Path:
    """Store an upload under var/uploads with a content-derived name (no user-chosen paths)."""
    uploads.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = uploads / f".upload-{id(upload)}"
    size = 0
    with tmp.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD:
                tmp.unlink(missing_ok=True)
                raise InvalidInput("the file is larger than 2 GiB", code="file_too_large")
            digest.update(chunk)
            out.write(chunk)
    safe = re.sub(r"[^\w.\-]+", "_", Path(upload.filename or "upload").name)[-100:]
    final = uploads / f"{digest.hexdigest()[:16]}_{safe}"
    tmp.replace(final)
    return final


@router.post("/imports")
def create_import(
    request: Request,
    who: Auth,
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    mapping: Annotated[str | None, Form()] = None,
    shop: Annotated[str | None, Form()] = None,
    policy: Annotated[str, Form()] = "keep",
    dry_run: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Upload and import a file; answers with the import summary when it is done."""
    who.require("imports:write")
    settings = request.app.state.settings
    path = save_upload(file, settings.var_dir / "uploads")
    summary = run_import(
        ImportRequest(
            kind=kind,
            path=path,
            mapping=mapping or None,
            shop=shop or None,
            policy=policy,
            dry_run=dry_run,
            actor=who.actor,
            display_name=file.filename,
        ),
        engine=request.app.state.engine,
        settings=request.app.state.settings,
    )
    return summary.to_dict()


def _run_out(run: Any) -> ImportRunOut:
    return ImportRunOut.model_validate(run, from_attributes=True)


@router.get("/imports", response_model=list[ImportRunOut])
def list_imports(session: DB, who: Auth, page: Annotated[int, Query(ge=1)] = 1) -> list[ImportRunOut]:
    who.require("customers:read")
    runs, _ = service.list_runs(session, (page - 1) * 50, 50)
    return [_run_out(r) for r in runs]


@router.get("/imports/{run_id}", response_model=ImportRunOut)
def get_import(run_id: int, session: DB, who: Auth) -> ImportRunOut:
    who.require("customers:read")
    return _run_out(service.get_run(session, run_id))


@router.get("/imports/{run_id}/quarantine", response_model=QuarantinePage)
def get_quarantine(
    run_id: int,
    session: DB,
    who: Auth,
    code: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> QuarantinePage:
    who.require("imports:write")
    service.get_run(session, run_id)
    rows, total = service.quarantine_rows(session, run_id, code, None, (page - 1) * 100, 100)
    return QuarantinePage(
        items=[QuarantineOut.model_validate(r, from_attributes=True) for r in rows], total=total
    )


@router.get("/mappings")
def list_mappings(session: DB, who: Auth) -> list[dict[str, Any]]:
    who.require("customers:read")
    return service.all_mappings(session)
