"""``patron tiers ...``: value-tier policy versions, recalibration and who moved tier."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from patron.analytics.explain import label
from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.scoring import tiering

app = typer.Typer(help="Value tiers: policy versions, recalibration, tier moves.", no_args_is_help=True)


def _weights(pairs: list[str]) -> dict[str, float] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInput(f"--weight takes NAME=NUMBER, got {pair!r}", code="tiers_bad_weights")
    return out


@app.command("policies")
@handle_errors
def policies_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The tier policy versions, newest first (the first one is in force)."""
    with session_scope() as s:
        rows = tiering.policies(s)
    if as_json:
        print_json(rows)
        return
    table = Table("version", "reason", "fitted on", "customers", "weights", "cuts", title="tier policies")
    for r in rows:
        table.add_row(
            f"v{r['version']}",
            r["reason"],
            r["as_of"].isoformat(),
            f"{r['customers']:,}",
            ", ".join(f"{k} {v:.2f}" for k, v in r["weights"].items()),
            ", ".join(f"{k} > {v:.3f}" for k, v in r["cuts"].items()),
        )
    console.print(table)


@app.command("recalibrate")
@handle_errors
def recalibrate_command(
    weight: Annotated[
        list[str] | None, typer.Option(help="NAME=NUMBER, repeatable (recency_days, orders, spent, clv)")
    ] = None,
) -> None:
    """Fit a new tier policy version on the latest scoring run; the next run applies it."""
    with session_scope() as s:
        policy = tiering.recalibrate(s, actor="cli", reason="manual", weights=_weights(weight or []))
        version, customers = policy.id, policy.customers
    console.print(
        f"tier policy v{version} fitted on {customers:,} customers; run `patron analyze` to apply it"
    )


@app.command("changes")
@handle_errors
def changes_command(
    customer: Annotated[int | None, typer.Option(help="one customer's moves")] = None,
    run: Annotated[int | None, typer.Option(help="the moves shown in one scoring run")] = None,
    lang: str = "en",
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who moved tier and why (their value score crossed a cut, or the cuts were recalibrated)."""
    with session_scope() as s:
        rows = tiering.changes(s, customer_id=customer, run_id=run, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("as of", "customer", "from", "to", "score", "cause", title="tier moves")
    for r in rows:
        score = "—" if r["from_score"] is None else f"{r['from_score']:.2f} → {r['to_score']:.2f}"
        table.add_row(
            r["as_of"].isoformat(),
            str(r["customer_id"]),
            label(r["from_tier"], lang),
            label(r["to_tier"], lang),
            score,
            r["cause"],
        )
    console.print(table)
