"""``patron customers ...``: search, the 360 view, tags, merges."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.core.money import format_minor
from patron.core.settings import get_settings
from patron.customers import service

app = typer.Typer(help="Find customers and see everything about them.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_customers(
    q: Annotated[str | None, typer.Option(help="name prefix, id, phone, email or any identity")] = None,
    tag: str | None = None,
    min_orders: int | None = None,
    limit: int = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search customers."""
    settings = get_settings()
    with session_scope() as s:
        rows, total = service.search(
            s,
            service.SearchFilter(q=q, tag=tag, min_orders=min_orders),
            offset=0,
            limit=limit,
            reporting_currency=settings.reporting_currency,
            pii=True,
        )
    if as_json:
        print_json({"total": total, "items": [r.model_dump(mode="json") for r in rows]})
        return
    table = Table("id", "name", "phone", "email", "orders", "spent", title=f"{total:,} customers")
    for r in rows:
        table.add_row(
            str(r.id),
            r.name or "",
            r.phone or "",
            r.email or "",
            str(r.orders_count),
            format_minor(r.spent_minor, r.spent_currency),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(customer_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The customer 360: profile, identities, tags, orders, refunds, events, timeline."""
    settings = get_settings()
    with session_scope() as s:
        view = service.profile_360(s, customer_id, reporting_currency=settings.reporting_currency, pii=True)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    c = view.customer
    console.rule(f"#{c.id} {c.name or ''}")
    console.print(
        f"phone {c.phone or '—'}   email {c.email or '—'}   gender {c.gender}   birthday {c.birthday or '—'}"
    )
    console.print(f"address {' '.join(p for p in (c.province, c.city, c.district, c.address) if p) or '—'}")
    console.print(
        f"orders {c.orders_count}   spent {format_minor(c.spent_minor, c.spent_currency)} {c.spent_currency}"
        f"   last order {c.last_order_at or '—'}   tags {', '.join(view.tags) or '—'}"
    )
    ids = Table("kind", "namespace", "value", "strong", title="identities")
    for i in view.identities:
        ids.add_row(i.kind, i.namespace, i.value, "yes" if i.strong else "no")
    console.print(ids)
    orders = Table(
        "order", "shop", "status", "total", "placed", "lines", title=f"orders ({view.orders_total})"
    )
    for o in view.orders:
        orders.add_row(
            o.external_id,
            o.shop,
            o.status,
            f"{format_minor(o.total_minor, o.currency)} {o.currency}",
            str(o.placed_at),
            "; ".join(f"{ln.sku} ×{ln.quantity}" for ln in o.lines),
        )
    console.print(orders)
    timeline = Table("when", "what", "detail", title="timeline")
    for t in view.timeline[:30]:
        timeline.add_row(str(t.at), f"{t.kind} {t.title}", t.detail or "")
    console.print(timeline)


@app.command("merge")
@handle_errors
def merge(survivor_id: int, merged_id: int, reason: str = "manual merge") -> None:
    """Merge MERGED_ID into SURVIVOR_ID (recorded and reversible)."""
    with session_scope() as s:
        record = service.merge(s, survivor_id, merged_id, reason=reason, actor="cli")
        console.print(f"merged #{merged_id} into #{survivor_id} (merge {record.id})")


@app.command("unmerge")
@handle_errors
def unmerge(merge_id: int) -> None:
    """Undo a merge exactly; the pair is never merged automatically again."""
    with session_scope() as s:
        record = service.unmerge(s, merge_id, actor="cli")
        console.print(
            f"undid merge {merge_id}: #{record.merged_id} is separate from #{record.survivor_id} again"
        )


@app.command("tag")
@handle_errors
def tag(customer_id: int, name: str) -> None:
    """Add a tag to a customer."""
    with session_scope() as s:
        service.add_tag(s, customer_id, name, actor="cli")
    console.print(f"tagged #{customer_id} with {name}")
