"""``patron import KIND PATH`` and the import history / quarantine commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.ingest import service
from patron.ingest.mappings import KINDS
from patron.ingest.tasks import ImportRequest, run_import

app = typer.Typer(help="Import history, quarantine and mappings.", no_args_is_help=True)


@handle_errors
def import_command(
    kind: Annotated[str, typer.Argument(help=f"one of: {', '.join(KINDS)}")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    mapping: Annotated[
        str | None, typer.Option(help="column mapping (see `patron imports mappings`)")
    ] = None,
    shop: Annotated[str | None, typer.Option(help="shop code the file belongs to")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report every error, write nothing")] = False,
    policy: Annotated[
        str,
        typer.Option(help="keep: import good rows, quarantine bad ones; reject: all or nothing"),
    ] = "keep",
    encoding: Annotated[str | None, typer.Option(help="override the detected text encoding")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a machine-readable summary")] = False,
) -> None:
    """Import orders, order_items, customers, products, refunds or events from CSV/XLSX/JSONL/Parquet."""
    req = ImportRequest(
        kind=kind,
        path=path,
        mapping=mapping,
        shop=shop,
        policy=policy,
        dry_run=dry_run,
        encoding=encoding,
        actor="cli",
    )
    if as_json:
        summary = run_import(req)
        print_json(summary.to_dict())
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{kind} ← {path.name}", total=1.0, rows=0)

            def progress(rows: int, fraction: float | None) -> None:
                bar.update(task, completed=fraction if fraction is not None else 0, rows=rows)

            summary = run_import(req, progress=progress)
        _print_summary(summary)
    if summary.status in ("rejected", "failed"):
        raise typer.Exit(1)


def _print_summary(s: service.Summary) -> None:
    table = Table(title=f"{s.kind} import: {s.status}", show_header=False)
    for label, value in (
        ("file", f"{s.file} ({s.format}, {s.encoding or 'binary'})"),
        ("mapping", s.mapping),
        ("run", s.run_id if s.run_id is not None else "— (dry run)"),
        ("rows read", f"{s.rows_read:,}"),
        ("inserted", f"{s.inserted:,}"),
        ("updated", f"{s.updated:,}"),
        ("unchanged", f"{s.unchanged:,}"),
        ("quarantined rows", f"{s.quarantined:,}"),
        ("duration", f"{s.duration_s:.2f} s ({s.rows_per_s:,.0f} rows/s)"),
    ):
        table.add_row(label, str(value))
    if s.resumed_from:
        table.add_row("resumed", f"after row {s.resumed_after_row:,} of run {s.resumed_from}")
    for code, n in s.quarantined_by_code.items():
        table.add_row(f"  error {code}", f"{n:,}")
    console.print(table)
    for e in s.errors[:20]:
        console.print(f"  row {e['row']} [{e['code']}] {e['column'] or ''}: {e['message']}", highlight=False)
    if len(s.errors) > 20:
        console.print(f"  … {len(s.errors) - 20} more (use --json)")


@app.command("list")
@handle_errors
def list_runs(limit: int = 20, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recent imports."""
    with session_scope() as s:
        runs, _ = service.list_runs(s, 0, limit)
        rows = [
            {
                "id": r.id,
                "kind": r.kind,
                "file": r.filename,
                "status": r.status,
                "rows": r.rows_read,
                "inserted": r.inserted,
                "updated": r.updated,
                "quarantined": r.quarantined,
                "started_at": r.started_at,
            }
            for r in runs
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "file", "status", "rows", "inserted", "updated", "quarantined", "started")
    for r in rows:
        table.add_row(
            *(
                str(r[k])
                for k in (
                    "id",
                    "kind",
                    "file",
                    "status",
                    "rows",
                    "inserted",
                    "updated",
                    "quarantined",
                    "started_at",
                )
            )
        )
    console.print(table)


@app.command("quarantine")
@handle_errors
def quarantine(
    run_id: int,
    code: str | None = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Rows an import rejected, with row, column, code and value."""
    with session_scope() as s:
        service.get_run(s, run_id)
        rows, total = service.quarantine_rows(s, run_id, code, None, 0, limit)
        data = [
            {
                "row": r.row_number,
                "column": r.column,
                "code": r.code,
                "message": r.message,
                "value": r.value,
                "status": r.status,
            }
            for r in rows
        ]
    if as_json:
        print_json({"total": total, "rows": data})
        return
    table = Table(
        "row",
        "column",
        "code",
        "value",
        "message",
        title=f"quarantine of run {run_id}: {total} entries",
    )
    for r in data:
        table.add_row(*(str(r[k] or "") for k in ("row", "column", "code", "value", "message")))
    console.print(table)


@app.command("mappings")
@handle_errors
def mappings(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Built-in and saved column mappings."""
    with session_scope() as s:
        data = service.all_mappings(s)
    if as_json:
        print_json(data)
        return
    table = Table("name", "kind", "label", "builtin")
    for m in data:
        table.add_row(m["name"], m["kind"], m["label"], "yes" if m["builtin"] else "no")
    console.print(table)


@app.command("save-mapping")
@handle_errors
def save_mapping(
    name: str,
    kind: str,
    column: Annotated[list[str], typer.Option(help="FIELD=Source column, repeatable")],
) -> None:
    """Save a mapping for another export: `--column order_id="Order No." --column placed_at=Date`."""
    from patron.core.errors import InvalidInput

    pairs = {}
    for item in column:
        field, sep, source = item.partition("=")
        if not sep or not field or not source:
            raise InvalidInput(f"expected FIELD=Source column, got {item!r}", code="bad_column_option")
        pairs[field.strip()] = source.strip()
    with session_scope() as s:
        service.save_mapping(s, name, kind, pairs)
    console.print(f"saved mapping [bold]{name}[/] for {kind}")
