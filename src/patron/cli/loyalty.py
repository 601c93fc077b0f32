"""``patron loyalty ...``: programs, earning rules, crediting orders, members, settling, reminders."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.cli._common import console, handle_errors, print_json
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.core.time import local, utcnow
from patron.loyalty import earning, membership, reminders, service

app = typer.Typer(help="Loyalty: programs, rules, points.", no_args_is_help=True)


@app.command("program")
@handle_errors
def program_command(
    code: str,
    name: Annotated[str, typer.Option(help="what members see")],
    currency: str = "CNY",
    timezone: str = "Asia/Shanghai",
    lock_days: Annotated[int, typer.Option(help="order points stay locked this long (return window)")] = 7,
    expiry: Annotated[
        str, typer.Option(help="days, end_of_next_year, rolling or never")
    ] = "end_of_next_year",
    expiry_days: int | None = None,
    debt_rule: Annotated[str, typer.Option(help="offset or write_off")] = "offset",
) -> None:
    """Create a loyalty program."""
    with session_scope() as s:
        p = service.create_program(s, {"code": code, "name": name, "currency": currency, "timezone": timezone,
                                       "lock_days": lock_days, "expiry": expiry, "expiry_days": expiry_days,
                                       "debt_rule": debt_rule})  # fmt: skip
        console.print(f"program {p.code} created (id {p.id})")


@app.command("rule")
@handle_errors
def rule_command(
    program: str,
    spec: Annotated[
        str, typer.Argument(help='the rule as JSON, e.g. {"name": "standard", "kind": "spend", "points": 1}')
    ],
) -> None:
    """Add an earning rule (the fields of patron.loyalty.rules.Rule)."""
    try:
        values = json.loads(spec)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the rule is not JSON: {exc}", code="loyalty_bad_rule") from None
    with session_scope() as s:
        row = earning.add_rule(s, service.program(s, program), values)
        console.print(f"rule {row.name!r} added to {program}")


@app.command("tiers")
@handle_errors
def tiers_command(
    program: str,
    spec: Annotated[
        str,
        typer.Argument(
            help='the tier policy as JSON, or @FILE: {"basis": "growth", "review": "anniversary", "tiers": '
            '[{"code": "member", "name_en": "Member", "name_zh": "会员", "rank": 0, "threshold": 0}, ...]}'
        ),
    ],
) -> None:
    """Set a program's tiers (会员等级) and review schedule, then place its members."""
    text = Path(spec[1:]).read_text(encoding="utf-8") if spec.startswith("@") else spec
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the tier policy is not JSON: {exc}", code="loyalty_bad_tiers") from None
    if not isinstance(values, dict):
        raise InvalidInput("the tier policy is a JSON object", code="loyalty_bad_tiers")
    with session_scope() as s:
        prog = service.program(s, program)
        policy = membership.set_policy(s, prog, values)
        s.commit()
        moves = 0
        for moved in membership.refresh_due(s, prog, at=utcnow()):
            s.commit()
            moves += moved
        names = ", ".join(f"{t.code} ≥ {t.threshold:,}" for t in policy.tiers)
        console.print(f"{program}: tiers {names} on {membership.basis_of(prog)}; {moves:,} members placed")


@app.command("earn")
@handle_errors
def earn_command(program: str) -> None:
    """Credit every order not credited yet (a page of 50,000 orders at a time, each committed),
    then take back the points of refunded amounts."""
    orders = points = credited = 0
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with session_scope() as s, Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("crediting orders")
        for page in earning.earn_orders(s, service.program(s, program), now=utcnow()):
            s.commit()
            orders, credited, points = orders + page.orders, credited + page.credited, points + page.points
            bar.update(task, description=f"{orders:,} orders read, {credited:,} credited, {points:,} points")
        clawed = 0
        for taken in earning.claw_back_refunds(s, service.program(s, program), now=utcnow()):
            s.commit()
            clawed += taken
    console.print(f"{orders:,} orders read, {credited:,} credited with {points:,} points")
    if clawed:
        console.print(f"{clawed:,} points taken back for refunds")


@app.command("action")
@handle_errors
def action_command(
    program: str,
    customer_id: int,
    action: Annotated[str, typer.Argument(help="signup, birthday, review, survey, checkin or referral")],
    ref: Annotated[str | None, typer.Option(help="the review's id, the referred friend, …")] = None,
    key: Annotated[str | None, typer.Option(help="idempotency key (default: a new one)")] = None,
) -> None:
    """A member did something the program rewards: its rules decide the points."""
    with session_scope() as s:
        prog, key = service.program(s, program), key or f"cli:{uuid.uuid4()}"
        out = earning.earn_action(s, prog, customer_id, action, key=key, ref=ref, actor="cli", now=utcnow())
        awards = out.result["awards"]
        why = ", ".join(f"{a['rule']} {a['points']} ({a['reason']})" for a in awards) or "no rule"
        console.print(f"{out.result['points']:,} points for {action}: {why}")


@app.command("member")
@handle_errors
def member_command(
    program: str, customer_id: int, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """A member's balances, lots (nearest expiry first) and latest entries."""
    with session_scope() as s:
        m = service.member(s, program, customer_id, entries=20)
        tz = m.program.timezone
        if as_json:
            print_json({"balance": m.balance,
                        "lots": [{"points": lot.points, "remaining": lot.remaining, "state": lot.state,
                                  "expires_at": lot.expires_at} for lot in m.lots]})  # fmt: skip
            return
        b = m.balance
        console.print(
            f"active {b['active']:,} · locked {b['locked']:,} · debt {b['debt']:,} · growth {b['growth']:,}"
        )
        table = Table("lot", "source", "points", "left", "state", "unlocks", "expires")

        def shown(at: datetime | None, empty: str) -> str:
            when = local(at, tz)
            return when.strftime("%Y-%m-%d %H:%M") if when else empty

        for lot in m.lots:
            source = f"{lot.source} {lot.source_ref or ''}".strip()
            table.add_row(str(lot.id), source, f"{lot.points:,}", f"{lot.remaining:,}", lot.state,
                          shown(lot.unlock_at, ""), shown(lot.expires_at, "never"))  # fmt: skip
        console.print(table)


@app.command("settle")
@handle_errors
def settle_command() -> None:
    """Unlock and expire every member's due lots now (the worker does it every night)."""
    total = 0
    with session_scope() as s:
        for written in service.settle_due(s):
            s.commit()
            total += written
    console.print(f"{total:,} ledger entries written")


@app.command("remind")
@handle_errors
def remind_command() -> None:
    """Record the pre-expiry reminders due today, events for marketing (the worker does it every
    night; run again, it writes none)."""
    with session_scope() as s:
        written = reminders.remind_expiring(s, now=utcnow())
    console.print(f"{written:,} reminder{'' if written == 1 else 's'} written")


@app.command("report")
@handle_errors
def report_command(
    program: str,
    start: Annotated[str, typer.Option(help="first local day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="the day after the last, YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The liability and the points issued, redeemed, expired and clawed back per month."""
    from dataclasses import asdict

    from patron.core.settings import get_settings
    from patron.loyalty import expiry, reports

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD", code="loyalty_bad_period") from None
    with session_scope() as s:
        tz = service.program(s, program).timezone
        r = reports.report(s, program, start=expiry.start_of(first, tz), end=expiry.start_of(last, tz),
                           reporting_currency=get_settings().reporting_currency)  # fmt: skip
    if as_json:
        print_json(
            {**asdict(r), "months": [{**asdict(m), "redemption_rate": m.redemption_rate} for m in r.months]}
        )
        return
    console.print(f"{r.members:,} members · {r.active + r.locked:,} points owed ({r.locked:,} locked) · "
                  f"{r.debt:,} owed back")  # fmt: skip
    table = Table("month", "issued", "redeemed", "expired", "clawed back", "adjusted", "redemption rate")
    for m in r.months:
        rate = "—" if m.redemption_rate is None else f"{m.redemption_rate:.1%}"
        table.add_row(m.month, f"{m.issued:,}", f"{m.redeemed:,}", f"{m.expired:,}", f"{m.clawed:,}",
                      f"{m.adjusted:,}", rate)  # fmt: skip
    console.print(table)
