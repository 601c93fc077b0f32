"""``patron analyze`` and ``patron scores ...``: the scoring run and what it says per customer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from patron.analytics.explain import label
from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.core.money import format_minor
from patron.core.settings import get_settings
from patron.core.time import utcnow
from patron.scoring import reports, service

app = typer.Typer(help="Customer scores: segments, tiers, lifecycle, churn risk, CLV.", no_args_is_help=True)


@handle_errors
def analyze_command(
    as_of: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="score as known at the end of this day (UTC)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every customer: RFM segment, value tier, lifecycle state, churn risk and CLV."""
    settings = get_settings()
    day: date | None = as_of.date() if as_of else None
    with console.status("scoring customers…"), session_scope() as s:
        run = service.analyze(s, as_of=day, currency=settings.reporting_currency, actor="cli")
        summary: dict[str, Any] = {
            "run_id": run.id,
            "as_of": run.as_of.isoformat(),
            "customers": run.customers,
            "params": run.params,
        }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"scoring run #{summary['run_id']} as of {summary['as_of']}: {summary['customers']:,} customers"
    )
    for note in summary["params"].get("notes", []):
        console.print(f"[yellow]note[/] {note}")
    bg = summary["params"].get("bgnbd")
    if bg:
        console.print("BG/NBD " + ", ".join(f"{k} {v:.4g}" for k, v in bg.items()))


@app.command("show")
@handle_errors
def show(
    customer_id: int,
    lang: Annotated[str, typer.Option(help="en or zh")] = "en",
    limit: int = 6,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A customer's scores in the latest runs, with the explanation."""
    with session_scope() as s:
        rows = service.scores_of(s, customer_id, lang=lang, limit=limit)
    if as_json:
        print_json([{k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()} for r in rows])
        return
    if not rows:
        console.print(f"no scores for customer {customer_id} yet: run `patron analyze`")
        return
    table = Table(
        "as of", "segment", "tier", "state", "P(buy 90d)", "CLV 12m", title=f"customer #{customer_id}"
    )
    for r in rows:
        table.add_row(
            r["as_of"].isoformat(),
            label(r["segment"], lang) if r["segment"] else "—",
            label(r["tier"], lang) if r["tier"] else "—",
            label(r["state"], lang),
            "—" if r["purchase_probability"] is None else f"{r['purchase_probability']:.0%}",
            "—" if r["clv_minor"] is None else format_minor(r["clv_minor"], r["currency"]),
        )
    console.print(table)
    console.print(rows[0]["explanation"])


@handle_errors
def kpis_command(
    as_of: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="default: today (UTC)")] = None,
    period: Annotated[str, typer.Option(help="day, week, month, quarter or year")] = "month",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Revenue, orders, AOV, orders per buyer and repurchase rate (12 months against the 12
    before), and retention and churn rate per period over the last year."""
    settings = get_settings()
    day = as_of.date() if as_of else utcnow().date()
    with session_scope() as s:
        report = reports.kpi_report(s, as_of=day, currency=settings.reporting_currency, period=period)
    cards, retention = report["cards"], report["retention"]
    if as_json:
        print_json(
            {
                "as_of": day.isoformat(),
                "currency": report["currency"],
                "cards": cards,
                "retention": [
                    {k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()}
                    for r in retention.to_dicts()
                ],
            }
        )
        return
    currency = report["currency"]

    def money(minor: int | None) -> str:
        return "—" if minor is None else f"{format_minor(minor, currency)} {currency}"

    def ratio(value: float | None, pct: bool = False) -> str:
        return "—" if value is None else (f"{value:.0%}" if pct else f"{value:.2f}")

    table = Table("KPI", "last 12 months", "12 months before", title=f"KPIs as of {day}")
    now, before = cards["current"], cards["previous"]
    table.add_row("revenue", money(now["revenue_minor"]), money(before["revenue_minor"]))
    table.add_row("orders", f"{now['orders']:,}", f"{before['orders']:,}")
    table.add_row("average order value", money(now["aov_minor"]), money(before["aov_minor"]))
    table.add_row("orders per buyer", ratio(now["frequency"]), ratio(before["frequency"]))
    table.add_row(
        "repurchase rate", ratio(now["repurchase_rate"], True), ratio(before["repurchase_rate"], True)
    )
    console.print(table)
    ret = Table(period, "active before", "retained", "retention", "churn rate", title="retention")
    for r in retention.iter_rows(named=True):
        ret.add_row(
            str(r["period"]),
            f"{r['previous_active']:,}",
            f"{r['retained']:,}",
            ratio(r["retention"], True),
            ratio(r["churn_rate"], True),
        )
    console.print(ret)
