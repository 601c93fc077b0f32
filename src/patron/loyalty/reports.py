"""Loyalty reports: what the shop owes in points (the liability, in points and money), the points
issued, redeemed, expired and taken back per month, the redemption rate, and the members' tiers.

Months are calendar months in the program's time zone. Issued = points earned; redeemed = points
spent, less redemptions reversed; expired; clawed back by refunds; adjusted = administrators'
net adjustments. The redemption rate of a month is redeemed / issued in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.money import convert_minor
from patron.loyalty import repository as repo
from patron.loyalty import service
from patron.loyalty.batch import period_of


@dataclass
class Month:
    month: str  # YYYY-MM, local
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    clawed: int = 0
    adjusted: int = 0  # administrators' net adjustments

    @property
    def redemption_rate(self) -> float | None:
        return self.redeemed / self.issued if self.issued else None


@dataclass
class Report:
    program: str
    members: int
    active: int
    locked: int
    debt: int
    liability_minor: int  # (active + locked) x the point's value, in the program's currency
    currency: str
    liability_reporting_minor: int | None  # the same in the reporting currency (None: no rate)
    reporting_currency: str
    months: list[Month] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)
    tier_moves: dict[str, int] = field(default_factory=dict)


def report(session: Session, code: str, *, start: datetime, end: datetime, reporting_currency: str) -> Report:
    program = service.program(session, code)
    members, active, locked, debt = repo.balances(session, program.id)
    liability = (active + locked) * program.point_value_minor
    rates = commerce.fx_rates(session, reporting_currency)
    out = Report(
        program=program.code,
        members=members,
        active=active,
        locked=locked,
        debt=debt,
        liability_minor=liability,
        currency=program.currency,
        liability_reporting_minor=convert_minor(liability, program.currency, reporting_currency, rates),
        reporting_currency=reporting_currency,
        tiers=repo.tier_counts(session, program.id),
        tier_moves=repo.tier_move_counts(session, program.id, start, end),
    )
    flows = repo.flows(session, program.id, start, end)
    if flows.is_empty():
        return out
    delta = pl.col("active_delta") + pl.col("locked_delta")
    monthly = (
        flows.with_columns(
            month=period_of(pl.col("at"), "month", program.timezone)
            .dt.convert_time_zone(program.timezone)
            .dt.strftime("%Y-%m"),
            delta=delta,
        )
        .group_by("month")
        .agg(
            issued=pl.col("delta").filter(pl.col("kind") == "earn").sum(),
            redeemed=-pl.col("delta").filter(pl.col("kind").is_in(["redeem", "reversal"])).sum(),
            expired=-pl.col("delta").filter(pl.col("kind") == "expire").sum(),
            clawed=-pl.col("delta").filter(pl.col("kind") == "clawback").sum(),
            adjusted=pl.col("delta").filter(pl.col("kind") == "adjust").sum(),
        )
        .sort("month")
    )
    out.months = [Month(**row) for row in monthly.iter_rows(named=True)]
    return out
