"""The ``patron`` command."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from patron.cli import admin, customers, imports, jobs, loyalty, mail, scores, tickets, tiers
from patron.cli._common import console, handle_errors, print_json

app = typer.Typer(
    name="patron",
    help="Patron: the customer relationship platform for online shops.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("import")(imports.import_command)
app.add_typer(imports.app, name="imports")
app.add_typer(customers.app, name="customers")
app.add_typer(admin.db, name="db")
app.add_typer(admin.shops, name="shops")
app.add_typer(admin.users, name="users")
app.add_typer(admin.fx, name="fx")
app.command("analyze")(scores.analyze_command)
app.command("kpis")(scores.kpis_command)
app.add_typer(scores.app, name="scores")
app.add_typer(tiers.app, name="tiers")
app.add_typer(jobs.app, name="jobs")
app.add_typer(tickets.app, name="tickets")
app.add_typer(tickets.sla_app, name="sla")
app.add_typer(mail.app, name="mail")
app.add_typer(loyalty.app, name="loyalty")
app.command("worker")(jobs.worker_command)


@app.command("generate")
@handle_errors
def generate(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("var/demo"),
    customers_n: Annotated[int, typer.Option("--customers", min=100, max=10_000_000)] = 20_000,
    seed: int = 7,
) -> None:
    """Generate a realistic demo shop as platform export files (deterministic for a seed)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.demo.generator import generate as run

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("generating", total=1.0)
        manifest = run(
            out,
            customers=customers_n,
            seed=seed,
            progress=lambda stage, frac: bar.update(task, description=stage, completed=frac),
        )
    console.print(f"demo shop with {customers_n:,} customers written to {out} ({len(manifest.files)} files)")


@app.command("demo")
@handle_errors
def demo(
    customers_n: Annotated[int, typer.Option("--customers")] = 20_000,
    seed: int = 7,
    directory: Path = Path("var/demo"),
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Migrate, generate the demo shop, import it through the real importers, score every
    customer, then serve the UI."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from patron.core.db import get_engine, session_scope
    from patron.core.migrate import upgrade
    from patron.core.settings import get_settings
    from patron.core.time import utcnow
    from patron.demo import desk as desk_demo
    from patron.demo import loyalty as loyalty_demo
    from patron.demo.generator import Manifest
    from patron.demo.load import DEMO_ADMIN, load
    from patron.scoring import service as scoring

    engine = get_engine()
    upgrade(engine)
    if not (directory / "manifest.json").exists():
        generate(out=directory, customers_n=customers_n, seed=seed)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:

        def progress_for(name: str):  # type: ignore[no-untyped-def]
            task = bar.add_task(f"import {name}", total=1.0, rows=0)
            return lambda rows, frac: bar.update(task, completed=frac or 0, rows=rows)

        summaries = load(directory, engine, progress=progress_for)
    if as_json:
        print_json([s.to_dict() for s in summaries])
    for s in summaries:
        codes = ", ".join(f"{k} {v}" for k, v in s.quarantined_by_code.items())
        console.print(
            f"{s.file:28} {s.status:9} {s.rows_read:>9,} rows  +{s.inserted:,} ~{s.updated:,} "
            f"={s.unchanged:,}  quarantined {s.quarantined:,} {('(' + codes + ')') if codes else ''}"
        )
    # Scored as of the last day of the data and a month before, so the analytics page has
    # segment and tier moves to show (and the same pictures whatever day the demo is built).
    manifest = Manifest.from_dict(json.loads((directory / "manifest.json").read_text(encoding="utf-8")))
    last, currency = manifest.end - timedelta(days=1), get_settings().reporting_currency
    for day in (last - timedelta(days=30), last):
        with console.status(f"scoring customers as of {day}…"), session_scope(engine) as session:
            run = scoring.analyze(session, as_of=day, currency=currency, actor="demo")
            scored, notes = run.customers, run.params.get("notes", [])
    console.print(f"scored {scored:,} customers: segments, tiers, lifecycle, churn risk, CLV")
    for note in notes:
        console.print(f"[yellow]note[/] {note}")
    with console.status("opening the service desk…"), session_scope(engine) as session:
        tickets = desk_demo.seed(session, now=utcnow(), password=DEMO_ADMIN[1])
    console.print(f"service desk: {tickets} tickets, SLA policies, agents, knowledge base")
    with console.status("replaying the loyalty program…") as status, session_scope(engine) as session:
        club = loyalty_demo.seed(
            session, start=manifest.start, end=manifest.end, now=utcnow(),
            step=lambda month: status.update(f"replaying the loyalty program: {month}…"),
        )  # fmt: skip
    console.print(
        f"loyalty: {club['orders']:,} orders credited with {club['points']:,} points, "
        f"{club['rewards']:,} rewards taken"
    )
    console.print(f"\n[bold]Log in at http://127.0.0.1:8000 as {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}[/]")
    if serve_after:
        serve()


@app.command("serve")
def serve(
    host: str | None = None,
    port: int | None = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="server processes; one per core in production")
    ] = 1,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="also run the scheduled jobs (nightly scoring, quarterly tier recalibration) here",
        ),
    ] = True,
) -> None:
    """Serve the web UI and the REST API (and, by default, the background jobs)."""
    import uvicorn

    from patron.core.settings import get_settings

    settings = get_settings()
    settings.resolved_secret_key()  # created once before workers start, so they all share it
    if with_worker:
        jobs.start_background_worker()
    uvicorn.run(
        "patron.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="warning" if workers > 1 else "info",
        access_log=workers == 1,
    )


if __name__ == "__main__":
    app()
