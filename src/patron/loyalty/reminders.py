"""Pre-expiry reminders: events for marketing before a member's points expire.

A reminder is a ``points_expiring`` row of the customer ``events`` table (where marketing reads
what customers did and what happened to them), written through
:func:`patron.customers.service.record_event_frame`, which stores an event id once: running the job
twice (or again after a crash) writes nothing the second time.

**The rule.** A program's days are local days in its time zone. A member's open lots (locked or
active, with points left, not expired at ``now``: ``now < expires_at``) are grouped by their
last valid day (:func:`patron.loyalty.expiry.last_valid_day`). For each lead ``L`` (days) in
``leads``, a group is reminded when its last valid day falls within the next ``L`` local days
counting today::

    today <= last_day <= today + (L - 1)        (today: the local day of ``now``)

that is, when at most ``L`` days are left to spend the points, today included: lead 7 fires on
the 7th last day, lead 1 on the last day itself. Each lead is judged on its own and its event
id names it, so each (member, last day, lead) is written once, on the first run that finds it
due: lead 30 about 30 days before, lead 7 about a week before. A lot that is already inside
the 7-day window when first seen (the job's first run, points that only last a few days)
qualifies for both leads, and both events are written that day; marketing reads ``lead_days``.

**The event.** ``event_id`` = ``loyalty-expiring:{program id}:{account id}:{last day}:{L}``,
``customer_id`` the member's customer, ``shop_id`` the program's shop (none for a program across
every shop), ``occurred_at`` = ``now``, ``properties``: ``program`` (its code), ``points`` (what
is left of the group's lots, locked points included: they will be spendable before they go),
``expires_at`` (ISO, UTC: the moment they go), ``last_day`` (ISO local date), ``lead_days`` and
``balance`` (the member's active points at ``now``). The points are those left when the event
is written; a member who spends them before the next lead gets that lead with what is left, or
none at all. Lots of one member that share a last day but not an expiry instant (possible only
after the program's time zone changed) are one group, with the earliest instant.

**Cost.** One statement per program (the expiry index, grouped by member and instant in the
database), the rest in polars; the events are written ``CHUNK`` at a time. Under
``end_of_next_year`` every member of the program has points expiring in December: a million
members make a million events on the day lead 30 fires, and again for lead 7.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl
from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput
from patron.customers import service as customers
from patron.loyalty import expiry
from patron.loyalty import repository as repo
from patron.models.loyalty import LoyaltyProgram

LEADS = (30, 7)  # days before the last day: about a month, about a week
EVENT_TYPE = "points_expiring"
CHUNK = 200_000  # events per write


def remind_expiring(session: Session, *, now: datetime, leads: Sequence[int] = LEADS) -> int:
    """Record the reminders due at ``now`` for every active program (the rule is in the module's
    docstring); how many events were written (those written before are not counted again).
    Does not commit."""
    wanted = sorted(set(leads))
    if any(lead < 1 for lead in wanted):
        raise InvalidInput("reminder leads are whole days of at least 1", code="loyalty_bad_leads")
    if not wanted:
        return 0
    return sum(_remind(session, p, now, wanted) for p in repo.programs(session) if p.active)


def _remind(session: Session, program: LoyaltyProgram, now: datetime, leads: list[int]) -> int:
    tz = program.timezone
    today = expiry.local_day(now, tz)
    # last_day <= today + (L - 1)  <=>  expires_at <= local midnight starting day today + L
    found = repo.expiring(session, program.id, now, expiry.start_of(today + timedelta(days=max(leads)), tz))
    if found.is_empty():
        return 0
    # The program's lots expire at a few instants (one a day at most, as a rule): each is
    # converted once, in Python, with the kernel's own function.
    instants = found.get_column("expires_at").unique().sort().to_list()
    days = pl.DataFrame(
        {
            "expires_at": instants,
            "last": [expiry.last_valid_day(at, tz) for at in instants],
            "expires_iso": [at.isoformat() for at in instants],
        },
        schema={"expires_at": pl.Datetime("us", "UTC"), "last": pl.Date, "expires_iso": pl.Utf8},
    )
    groups = (
        found.join(days, on="expires_at")
        .group_by("account_id", "customer_id", "balance", "last")
        .agg(pl.col("points").sum(), pl.col("expires_iso").sort_by("expires_at").first())
    )
    due = pl.concat(
        [
            groups.filter(pl.col("last") <= _day(today, lead)).with_columns(lead=pl.lit(lead, pl.Int64))
            for lead in leads
        ]
    ).sort("account_id", "last", "lead")
    last_iso = pl.col("last").dt.to_string("%Y-%m-%d")
    events = due.select(
        event_id=pl.format(
            "loyalty-expiring:{}:{}:{}:{}", pl.lit(program.id), "account_id", last_iso, "lead"
        ),
        type=pl.lit(EVENT_TYPE),
        occurred_at=pl.lit(now, pl.Datetime("us", "UTC")),
        customer_id="customer_id",
        shop_id=pl.lit(program.shop_id, pl.Int64),
        properties=pl.struct(
            program=pl.lit(program.code),
            points="points",
            expires_at="expires_iso",
            last_day=last_iso,
            lead_days="lead",
            balance="balance",
        ).struct.json_encode(),
    )
    return sum(
        customers.record_event_frame(session, events.slice(start, CHUNK))
        for start in range(0, events.height, CHUNK)
    )


def _day(today: date, lead: int) -> date:
    """The last of the next ``lead`` local days, today included."""
    return today + timedelta(days=lead - 1)
