"""``patron tickets ...`` and ``patron sla ...``: the queue, one ticket, SLA scan and compliance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.core.settings import get_settings
from patron.core.time import local, utcnow
from patron.desk import service
from patron.desk.service import QueueFilter
from patron.desk.sla import state

app = typer.Typer(help="Service desk tickets: the queue and one ticket.", no_args_is_help=True)
sla_app = typer.Typer(help="SLA clocks: scan for missed targets, compliance report.", no_args_is_help=True)


def _when(value: str | None) -> str:
    """An ISO instant in the instance's time zone."""
    shown = local(datetime.fromisoformat(value), get_settings().default_timezone) if value else None
    return shown.strftime("%Y-%m-%d %H:%M") if shown else "—"


@app.command("list")
@handle_errors
def list_command(
    status: Annotated[
        list[str] | None, typer.Option(help="repeatable: new, open, waiting_customer, …")
    ] = None,
    breached: Annotated[bool | None, typer.Option("--breached/--not-breached")] = None,
    limit: int = 25,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The queue, most urgent first, with the clock due soonest."""
    with session_scope() as s:
        items, total = service.queue(
            s, QueueFilter(status=status or (), breached=breached), offset=0, limit=limit
        )
        clocks, now = service.clocks_of(s, items), utcnow()
        due = {i: c.due_at.isoformat() if c.due_at else None for i, c in clocks.items()}
        rows = [
            {
                "reference": service.reference(t),
                "subject": t.subject,
                "type": t.type,
                "status": t.status,
                "priority": t.priority,
                "category": t.category,
                "sla": state(clocks[t.id], now) if t.id in clocks else None,
                "due_at": due.get(t.id),
            }
            for t in items
        ]
    if as_json:
        print_json({"total": total, "items": rows})
        return
    table = Table("ticket", "subject", "type", "status", "priority", "SLA", "due", title=f"{total:,} tickets")
    for r in rows:
        table.add_row(
            r["reference"],
            r["subject"],
            r["type"],
            r["status"],
            r["priority"],
            r["sla"] or "—",
            _when(r["due_at"]),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show_command(ticket: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One ticket: messages (notes included), clocks and history. TICKET is T-000042 or 42."""
    ticket_id = service.parse_reference(ticket)
    if ticket_id is None:
        raise typer.BadParameter(f"not a ticket reference: {ticket!r}")
    with session_scope() as s:
        v, now = service.view(s, ticket_id), utcnow()
        data: dict[str, Any] = {
            "reference": service.reference(v.ticket),
            "subject": v.ticket.subject,
            "status": v.ticket.status,
            "priority": v.ticket.priority,
            "severity": v.ticket.severity,
            "category": v.ticket.category,
            "messages": [
                {"kind": m.kind, "author": m.author_name, "at": m.created_at.isoformat(), "body": m.body}
                for m in v.messages
            ],
            "slas": [
                {
                    "target": c.target,
                    "seq": c.seq,
                    "state": state(c, now),
                    "elapsed": c.elapsed_minutes,
                    "target_minutes": c.target_minutes,
                    "due_at": c.due_at.isoformat() if c.due_at else None,
                }
                for c in v.slas
            ],
            "history": [
                {"at": e.created_at.isoformat(), "actor": e.actor, "action": e.action, "data": e.data}
                for e in v.events
            ],
        }
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{data['reference']}[/] {data['subject']} · {data['status']} · {data['priority']}")
    for m in data["messages"]:
        console.print(f"[dim]{_when(m['at'])} {m['kind']} {m['author']}[/]\n{m['body']}")
    for c in data["slas"]:
        console.print(
            f"SLA {c['target']}#{c['seq']}: {c['state']} ({c['elapsed']}/{c['target_minutes']} min)"
        )


@sla_app.command("scan")
@handle_errors
def scan_command() -> None:
    """Record missed targets and warnings now (the worker runs this every minute)."""
    with session_scope() as s:
        breached, warned = service.scan(s, config=service.config_of(get_settings()))
    console.print(f"{breached} target(s) missed, {warned} warning(s)")


@sla_app.command("report")
@handle_errors
def report_command(
    by: Annotated[str | None, typer.Option(help="team, agent, type or priority")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """SLA compliance: targets met, missed and in progress."""
    with session_scope() as s:
        rows = service.compliance(s, by)
    if as_json:
        print_json(rows)
        return
    table = Table(by or "", "target", "met", "missed", "in progress", "compliance", title="SLA compliance")
    for r in rows:
        rate = "—" if r["compliance"] is None else f"{100 * r['compliance']:.1f}%"
        table.add_row(
            str(r["group"] or ""), r["target"], str(r["met"]), str(r["missed"]), str(r["in_progress"]), rate
        )
    console.print(table)
