"""All loyalty SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import polars as pl
from sqlalchemy import ColumnElement, and_, case, column, func, or_, select, table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.core import bulk
from patron.core.repository import chunked
from patron.models.loyalty import (
    EarningRule,
    LoyaltyProgram,
    PointsAccount,
    PointsAward,
    PointsEntry,
    PointsLot,
    PointsOperation,
    Reward,
    RewardRedemption,
    TierMove,
)

T = TypeVar("T")


def add(session: Session, row: T) -> T:
    session.add(row)
    session.flush()
    return row


def add_all(session: Session, rows: Sequence[object]) -> None:
    session.add_all(rows)
    session.flush()


def program_by_code(session: Session, code: str) -> LoyaltyProgram | None:
    return session.scalars(select(LoyaltyProgram).where(LoyaltyProgram.code == code)).first()


def get_program(session: Session, program_id: int) -> LoyaltyProgram | None:
    return session.get(LoyaltyProgram, program_id)


def programs(session: Session) -> list[LoyaltyProgram]:
    return list(session.scalars(select(LoyaltyProgram).order_by(LoyaltyProgram.id)))


def ensure_account(session: Session, program_id: int, customer_id: int, now: datetime) -> None:
    """Create the member's account unless it exists (two first requests at once make one)."""
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        ins(PointsAccount)
        .values(program_id=program_id, customer_id=customer_id, active=0, locked=0, debt=0, growth=0,
                version=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["program_id", "customer_id"])
    )  # fmt: skip


def lock_account(session: Session, program_id: int, customer_id: int) -> PointsAccount | None:
    """The member's account, locked for the rest of the transaction.

    The lock is a write (``version + 1``): a row lock on PostgreSQL, the database's write lock on
    SQLite (the first write of a transaction takes it, waiting out the busy timeout), so two
    operations on one member never interleave on either database. The account is read after
    the lock, so it holds what the previous operation committed.
    """
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.program_id == program_id, PointsAccount.customer_id == customer_id)
        .values(version=PointsAccount.version + 1)
        .execution_options(synchronize_session=False)
    )
    return session.scalars(
        select(PointsAccount)
        .where(PointsAccount.program_id == program_id, PointsAccount.customer_id == customer_id)
        .execution_options(populate_existing=True)
    ).first()


def account(session: Session, program_id: int, customer_id: int) -> PointsAccount | None:
    return session.scalars(
        select(PointsAccount).where(
            PointsAccount.program_id == program_id, PointsAccount.customer_id == customer_id
        )
    ).first()


def operation_by_key(session: Session, program_id: int, key: str) -> PointsOperation | None:
    return session.scalars(
        select(PointsOperation)
        .where(PointsOperation.program_id == program_id, PointsOperation.key == key)
        .execution_options(populate_existing=True)
    ).first()


def spendable_lots(session: Session, account_id: int) -> list[PointsLot]:
    """Active lots with points left, nearest expiry first (never-expiring last), then oldest."""
    return list(
        session.scalars(
            select(PointsLot)
            .where(PointsLot.account_id == account_id, PointsLot.state == "active", PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at.is_(None), PointsLot.expires_at, PointsLot.id)
        )
    )


def open_lots(session: Session, account_id: int) -> list[PointsLot]:
    """Locked and active lots, in spending order."""
    return list(
        session.scalars(
            select(PointsLot)
            .where(PointsLot.account_id == account_id, PointsLot.state != "closed")
            .order_by(PointsLot.expires_at.is_(None), PointsLot.expires_at, PointsLot.id)
        )
    )


def lots_of_source(session: Session, account_id: int, source: str, source_ref: str) -> list[PointsLot]:
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.account_id == account_id,
                PointsLot.source == source,
                PointsLot.source_ref == source_ref,
            )
            .order_by(PointsLot.id)
        )
    )


def clawed_back(session: Session, account_id: int, order_ref: str) -> int:
    """Points already taken back for refunds of order ``order_ref`` (spent ones included)."""
    taken = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.growth_delta), 0))
        .join(PointsOperation, PointsOperation.id == PointsEntry.operation_id)
        .where(
            PointsOperation.account_id == account_id,
            PointsOperation.kind == "clawback",
            PointsOperation.source_ref == order_ref,
        )
    )
    return -int(taken or 0)


def spent_of_lots(session: Session, lot_ids: Sequence[int]) -> int:
    """Points of these lots that were spent (redeemed, taken by an adjustment, used to repay a
    debt), less those a reversal gave back."""
    if not lot_ids:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.active_delta + PointsEntry.locked_delta), 0)).where(
            PointsEntry.lot_id.in_(lot_ids), PointsEntry.kind.in_(("redeem", "adjust", "repay", "reversal"))
        )
    )
    return -int(total or 0)


def charged_for_order(session: Session, account_id: int, order_ref: str) -> int:
    """Spent points of order ``order_ref`` its refunds already charged: made a debt or wrote off."""
    total = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.debt_delta + case((PointsEntry.kind == "write_off",
                                                                     PointsEntry.points), else_=0)), 0))
        .join(PointsOperation, PointsOperation.id == PointsEntry.operation_id)
        .where(
            PointsOperation.account_id == account_id,
            PointsOperation.kind == "clawback",
            PointsOperation.source_ref == order_ref,
            PointsEntry.lot_id.is_(None),
        )
    )  # fmt: skip
    return int(total or 0)


def lots(session: Session, lot_ids: Sequence[int]) -> dict[int, PointsLot]:
    if not lot_ids:
        return {}
    return {lot.id: lot for lot in session.scalars(select(PointsLot).where(PointsLot.id.in_(lot_ids)))}


def entries_of_operation(session: Session, operation_id: int) -> list[PointsEntry]:
    return list(
        session.scalars(
            select(PointsEntry).where(PointsEntry.operation_id == operation_id).order_by(PointsEntry.id)
        )
    )


def entries(session: Session, account_id: int, limit: int | None = None) -> list[PointsEntry]:
    query = (
        select(PointsEntry)
        .where(PointsEntry.account_id == account_id)
        .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc())
    )
    return list(session.scalars(query.limit(limit) if limit else query))


def entry_sums(session: Session, account_id: int) -> tuple[int, int, int, int]:
    """Sums of the account's entries: active, locked, debt, growth."""
    row = session.execute(
        select(
            func.coalesce(func.sum(PointsEntry.active_delta), 0),
            func.coalesce(func.sum(PointsEntry.locked_delta), 0),
            func.coalesce(func.sum(PointsEntry.debt_delta), 0),
            func.coalesce(func.sum(PointsEntry.growth_delta), 0),
        ).where(PointsEntry.account_id == account_id)
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _due(now: datetime) -> ColumnElement[bool]:
    """A lot to unlock (its return window closed) or to expire (past its expiry, points left)."""
    return or_(
        and_(PointsLot.state == "locked", PointsLot.unlock_at <= now),
        and_(PointsLot.state != "closed", PointsLot.expires_at <= now, PointsLot.remaining > 0),
    )


def due_accounts(session: Session, now: datetime) -> list[tuple[int, bool]]:
    """(account id, has a debt) of every member with a lot to unlock or expire by ``now``, in id
    order. Two index range scans (unlocks, expiries), not one pass over every lot."""
    unlock = select(PointsLot.account_id).where(PointsLot.state == "locked", PointsLot.unlock_at <= now)
    expire = select(PointsLot.account_id).where(
        PointsLot.state.in_(("active", "locked")), PointsLot.expires_at <= now, PointsLot.remaining > 0
    )
    due = unlock.union(expire).subquery()
    rows = session.execute(
        select(PointsAccount.id, PointsAccount.debt > 0)
        .where(PointsAccount.id.in_(select(due.c.account_id)))
        .order_by(PointsAccount.id)
    )
    return [(int(i), bool(d)) for i, d in rows]


def lock_account_by_id(session: Session, account_id: int) -> PointsAccount | None:
    """:func:`lock_account` by the account's id."""
    session.execute(
        update(PointsAccount)
        .where(PointsAccount.id == account_id)
        .values(version=PointsAccount.version + 1)
        .execution_options(synchronize_session=False)
    )
    return session.scalars(
        select(PointsAccount).where(PointsAccount.id == account_id).execution_options(populate_existing=True)
    ).first()


def settle_batch(session: Session, now: datetime, ids: Sequence[int]) -> int:
    """Unlock and expire the due lots of the debt-free members ``ids`` in a few statements (the
    daily job over a million members cannot afford the ORM per lot); the entries written. A
    member who has a debt by now is left for the one-by-one path.

    The members are locked first (as every operation does), and their lots read after, so a
    redemption running at the same moment either went before (and settled these lots itself)
    or waits. The entries are those :func:`patron.loyalty.ledger.settle` writes one member at a
    time: an unlock moves ``remaining`` from locked to active, an expiry takes what is left.
    """
    if not ids:
        return 0
    conn = session.connection()
    with bulk.staged(session, pl.DataFrame({"id": ids}, schema={"id": pl.Int64})) as locked:
        conn.exec_driver_sql(
            f'UPDATE points_accounts SET version = version + 1 WHERE id IN (SELECT id FROM "{locked}")'  # noqa: S608
        )
        staged_ids = table(locked, column("id"))
        rows = session.execute(
            select(
                PointsLot.id,
                PointsLot.account_id,
                PointsLot.state,
                PointsLot.remaining,
                and_(PointsLot.state == "locked", PointsLot.unlock_at <= now),
                and_(PointsLot.expires_at <= now, PointsLot.remaining > 0),
            )
            .join(PointsAccount, PointsAccount.id == PointsLot.account_id)
            .where(_due(now), PointsAccount.debt == 0, PointsLot.account_id.in_(select(staged_ids.c.id)))
        ).all()
    lots = pl.DataFrame(
        rows,
        schema={"lot_id": pl.Int64, "account_id": pl.Int64, "state": pl.Utf8, "remaining": pl.Int64,
                "unlock": pl.Boolean, "expire": pl.Boolean},
        orient="row",
    )  # fmt: skip
    if lots.is_empty():
        return 0
    rem = pl.col("remaining")
    unlocks = lots.filter("unlock").select(
        "account_id", "lot_id", kind=pl.lit("unlock"), active_delta=rem, locked_delta=-rem, points=rem
    )
    was_locked = (pl.col("state") == "locked") & ~pl.col("unlock")
    expiries = lots.filter("expire").select(
        "account_id",
        "lot_id",
        kind=pl.lit("expire"),
        active_delta=pl.when(was_locked).then(0).otherwise(-rem),
        locked_delta=pl.when(was_locked).then(-rem).otherwise(0),
        points=rem,
    )
    entries = pl.concat([unlocks, expiries]).with_columns(
        debt_delta=pl.lit(0, pl.Int64), growth_delta=pl.lit(0, pl.Int64), created_at=pl.lit(now)
    )
    bulk.insert_frame(session, "points_entries", entries)
    changed = lots.select(
        "lot_id",
        state=pl.when("expire").then(pl.lit("closed")).otherwise(pl.lit("active")),
        remaining=pl.when("expire").then(0).otherwise(rem),
    )
    bulk.update_by_id(session, "points_lots", changed.rename({"lot_id": "id"}), add=())
    sums = entries.group_by("account_id").agg(
        active=pl.col("active_delta").sum(), locked=pl.col("locked_delta").sum()
    )
    bulk.update_by_id(session, "points_accounts", sums.rename({"account_id": "id"}), add=("active", "locked"))
    return entries.height


# -- pre-expiry reminders (patron.loyalty.reminders) -----------------------------------------------


def expiring(session: Session, program_id: int, after: datetime, until: datetime) -> pl.DataFrame:
    """Per member of the program and expiry instant, the points left in their open lots (locked
    or active, points left) that expire in ``(after, until]``: account_id, customer_id, balance
    (the member's active points), expires_at, points. One statement over the expiry index, read
    through the driver: under ``end_of_next_year`` every member of a million has points expiring
    in December."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    rows = conn.exec_driver_sql(
        "SELECT l.account_id, a.customer_id, a.active, l.expires_at, SUM(l.remaining) "  # noqa: S608
        "FROM points_lots l JOIN points_accounts a ON a.id = l.account_id "
        f"WHERE a.program_id = {int(program_id)} AND l.state IN ('active', 'locked') AND l.remaining > 0 "
        f"AND l.expires_at > {bulk.sql_time(conn, after)} AND l.expires_at <= {bulk.sql_time(conn, until)} "
        "GROUP BY l.account_id, a.customer_id, a.active, l.expires_at"
    ).fetchall()
    utc = pl.Datetime("us", "UTC")
    schema: dict[str, Any] = {"account_id": pl.Int64, "customer_id": pl.Int64, "balance": pl.Int64,
                              "expires_at": utc if pg else pl.Utf8, "points": pl.Int64}  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if not pg:  # SQLite keeps UTC times as naive text
        frame = frame.with_columns(
            pl.col("expires_at")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
            .dt.replace_time_zone("UTC")
        )
    return frame


# -- earning in bulk (patron.loyalty.earning) ------------------------------------------------------


def rules(session: Session, program_id: int) -> list[EarningRule]:
    return list(
        session.scalars(
            select(EarningRule).where(EarningRule.program_id == program_id).order_by(EarningRule.id)
        )
    )


def existing_keys(session: Session, program_id: int, keys: pl.Series) -> set[str]:
    """Which of ``keys`` have an operation in the program already."""
    with bulk.staged(session, keys.alias("key").to_frame()) as t:
        rows = session.connection().exec_driver_sql(
            f'SELECT o.key FROM points_operations o JOIN "{t}" k ON o.key = k.key '  # noqa: S608
            f"WHERE o.program_id = {int(program_id)}"
        )
        return {r[0] for r in rows}


class Member(NamedTuple):
    id: int
    customer_id: int
    debt: int
    tier: str | None


def lock_accounts(
    session: Session, program_id: int, customer_ids: Sequence[int], now: datetime
) -> dict[int, Member]:
    """The members' accounts by customer, created where missing and locked (see
    :func:`lock_account`): id, debt and tier."""
    ids = pl.DataFrame({"customer_id": customer_ids}, schema={"customer_id": pl.Int64})
    conn = session.connection()
    stamp = bulk.sql_time(conn, now)
    with bulk.staged(session, ids) as t:
        conn.exec_driver_sql(
            "INSERT INTO points_accounts (program_id, customer_id, active, locked, debt, growth, version, "  # noqa: S608
            f"created_at, updated_at) SELECT {int(program_id)}, c.customer_id, 0, 0, 0, 0, 0, {stamp}, "
            f'{stamp} FROM "{t}" c WHERE true ON CONFLICT (program_id, customer_id) DO NOTHING'
        )
        conn.exec_driver_sql(
            f"UPDATE points_accounts SET version = version + 1 WHERE program_id = {int(program_id)} "  # noqa: S608
            f'AND customer_id IN (SELECT customer_id FROM "{t}")'
        )
        rows = bulk.fetch_all(
            session,
            f'SELECT a.id, a.customer_id, a.debt, a.tier FROM points_accounts a JOIN "{t}" c '  # noqa: S608
            f"ON c.customer_id = a.customer_id WHERE a.program_id = {int(program_id)}",
        )
        return {c: Member(i, c, d, tier) for i, c, d, tier in rows}


def awards(session: Session, account_ids: Sequence[int], rule_names: Sequence[str]) -> pl.DataFrame:
    """Every award of these rules to these members (account_id, rule, points, at): what their
    caps and velocity limits count. Read through the driver: a page's members have many."""
    schema: dict[str, Any] = {
        "account_id": pl.Int64,
        "rule": pl.Utf8,
        "points": pl.Int64,
        "at": pl.Datetime("us", "UTC"),
    }
    if not account_ids or not rule_names:
        return pl.DataFrame(schema=schema)
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    names = pl.DataFrame({"rule": list(rule_names)}, schema={"rule": pl.Utf8})
    with (
        bulk.staged(session, pl.DataFrame({"id": account_ids}, schema={"id": pl.Int64})) as ids,
        bulk.staged(session, names) as wanted,
    ):
        rows = bulk.fetch_all(
            session,
            f'SELECT w.account_id, w.rule, w.points, w.at FROM points_awards w JOIN "{ids}" i '  # noqa: S608
            f'ON i.id = w.account_id JOIN "{wanted}" r ON r.rule = w.rule',
        )
    frame = pl.DataFrame(rows, schema={**schema, "at": schema["at"] if pg else pl.Utf8}, orient="row")
    if not pg:  # SQLite keeps UTC times as naive text
        frame = frame.with_columns(
            pl.col("at").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us").dt.replace_time_zone("UTC")
        )
    return frame


def add_awards(
    session: Session, account_id: int, operation_id: int, given: Sequence[tuple[str, int]], at: datetime
) -> None:
    session.add_all(
        PointsAward(account_id=account_id, operation_id=operation_id, rule=rule, points=points, at=at)
        for rule, points in given
        if points > 0
    )
    session.flush()


def insert_earnings(
    session: Session,
    program: LoyaltyProgram,
    ops: pl.DataFrame,
    awards: pl.DataFrame,
    *,
    expires: datetime | None,
    now: datetime,
    actor: str,
) -> None:
    """Write a page of earnings: ``ops`` (order_id, account_id, points, source_ref, key,
    request_hash, unlock_at: null when the points are active at once) become operations (their
    answer is written when first asked for), and those with points a lot and a ledger entry
    each; ``awards`` (order_id, rule, points, placed_at) what the capped rules gave; then the
    members' sums. The members are locked by the caller; ids are reserved first so the rows can
    name each other."""
    utc = pl.Datetime("us", "UTC")
    ops = ops.with_columns(
        id=pl.Series(bulk.reserve_ids(session, "points_operations", ops.height), dtype=pl.Int64)
    )
    bulk.insert_frame(
        session,
        "points_operations",
        ops.select(
            "id",
            "account_id",
            "key",
            "request_hash",
            "points",
            "source_ref",
            program_id=pl.lit(program.id, pl.Int64),
            kind=pl.lit("earn"),
            source=pl.lit("order"),
            actor=pl.lit(actor),
            result=pl.lit("{}"),
            created_at=pl.lit(now, utc),
        ),
    )
    earned = ops.filter(pl.col("points") > 0)
    if earned.is_empty():
        return
    lot_ids = pl.Series(bulk.reserve_ids(session, "points_lots", earned.height), dtype=pl.Int64)
    locked = pl.col("unlock_at").is_not_null()
    lots = earned.select(
        "account_id",
        "source_ref",
        "points",
        "unlock_at",
        id=lot_ids,
        operation_id="id",
        source=pl.lit("order"),
        remaining="points",
        state=pl.when(locked).then(pl.lit("locked")).otherwise(pl.lit("active")),
        earned_at=pl.lit(now, utc),
        expires_at=pl.lit(expires, utc),
    )
    bulk.insert_frame(session, "points_lots", lots)
    entries = lots.select(
        "account_id",
        "operation_id",
        lot_id="id",
        kind=pl.lit("earn"),
        active_delta=pl.when(locked).then(0).otherwise("points"),
        locked_delta=pl.when(locked).then("points").otherwise(0),
        debt_delta=pl.lit(0, pl.Int64),
        growth_delta="points",
        points="points",
        created_at="earned_at",
    )
    bulk.insert_frame(session, "points_entries", entries)
    if not awards.is_empty():
        bulk.insert_frame(
            session,
            "points_awards",
            awards.join(ops.select("order_id", "account_id", operation_id="id"), on="order_id").select(
                "account_id", "operation_id", "rule", "points", at="placed_at"
            ),
        )
    sums = entries.group_by("account_id").agg(
        active=pl.col("active_delta").sum(),
        locked=pl.col("locked_delta").sum(),
        growth=pl.col("growth_delta").sum(),
    )
    bulk.update_by_id(
        session,
        "points_accounts",
        sums.rename({"account_id": "id"}).with_columns(
            last_activity_at=pl.lit(now, utc), updated_at=pl.lit(now, utc)
        ),
        add=("active", "locked", "growth"),
    )


# -- tiers (patron.loyalty.membership) -------------------------------------------------------------


def growth_since(session: Session, account_ids: Sequence[int], since: datetime) -> dict[int, int]:
    """Per member, the growth value of their entries since ``since``."""
    if not account_ids:
        return {}
    out: dict[int, int] = {}
    for chunk in chunked(list(account_ids)):
        rows = session.execute(
            select(PointsEntry.account_id, func.sum(PointsEntry.growth_delta))
            .where(PointsEntry.account_id.in_(chunk), PointsEntry.created_at >= since)
            .group_by(PointsEntry.account_id)
        )
        out.update({int(a): int(g or 0) for a, g in rows})
    return out


def _due_for_tiers(at: datetime) -> ColumnElement[bool]:
    return or_(
        PointsAccount.tier.is_(None),
        func.coalesce(PointsAccount.tier_grace_until, PointsAccount.tier_review_at) <= at,
    )


def accounts_for_tiers(
    session: Session, program_id: int, at: datetime, account_ids: Sequence[int] | None
) -> list[PointsAccount]:
    """The given members, or those whose review (or grace) is due and those without a tier;
    locked (on PostgreSQL a row lock, SQLite's write lock is taken at the first write), so a
    decision is never made on a standing an operation is changing."""
    query = select(PointsAccount).where(PointsAccount.program_id == program_id)
    if account_ids is not None:
        query = query.where(PointsAccount.id.in_(account_ids))
    else:
        query = query.where(_due_for_tiers(at))
    return list(session.scalars(query.order_by(PointsAccount.id).with_for_update()))


def account_ids_for_tiers(session: Session, program_id: int, at: datetime) -> list[int]:
    """The members whose review (or grace) is due and those without a tier, by id."""
    return list(
        session.scalars(
            select(PointsAccount.id)
            .where(PointsAccount.program_id == program_id, _due_for_tiers(at))
            .order_by(PointsAccount.id)
        )
    )


def tier_moves(session: Session, account_id: int, limit: int) -> list[TierMove]:
    return list(
        session.scalars(
            select(TierMove)
            .where(TierMove.account_id == account_id)
            .order_by(TierMove.id.desc())
            .limit(limit)
        )
    )


def accounts_of_customer(session: Session, customer_id: int) -> list[PointsAccount]:
    return list(
        session.scalars(
            select(PointsAccount)
            .where(PointsAccount.customer_id == customer_id)
            .order_by(PointsAccount.program_id)
        )
    )


# -- reports (patron.loyalty.reports) ---------------------------------------------------------------


def balances(session: Session, program_id: int) -> tuple[int, int, int, int]:
    """Members, and the sums of their active, locked and owed points."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(PointsAccount.active), 0),
            func.coalesce(func.sum(PointsAccount.locked), 0),
            func.coalesce(func.sum(PointsAccount.debt), 0),
        ).where(PointsAccount.program_id == program_id)
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def flows(session: Session, program_id: int, start: datetime, end: datetime) -> pl.DataFrame:
    """(kind, active_delta, locked_delta, at) of the program's entries in [start, end)."""
    rows = session.execute(
        select(PointsEntry.kind, PointsEntry.active_delta, PointsEntry.locked_delta, PointsEntry.created_at)
        .join(PointsAccount, PointsAccount.id == PointsEntry.account_id)
        .where(
            PointsAccount.program_id == program_id,
            PointsEntry.created_at >= start,
            PointsEntry.created_at < end,
        )
    ).all()
    return pl.DataFrame(
        rows,
        schema={
            "kind": pl.Utf8,
            "active_delta": pl.Int64,
            "locked_delta": pl.Int64,
            "at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def tier_counts(session: Session, program_id: int) -> dict[str, int]:
    rows = session.execute(
        select(PointsAccount.tier, func.count())
        .where(PointsAccount.program_id == program_id, PointsAccount.tier.is_not(None))
        .group_by(PointsAccount.tier)
    )
    return {str(t): int(n) for t, n in rows}


def tier_move_counts(session: Session, program_id: int, start: datetime, end: datetime) -> dict[str, int]:
    rows = session.execute(
        select(TierMove.reason, func.count())
        .join(PointsAccount, PointsAccount.id == TierMove.account_id)
        .where(PointsAccount.program_id == program_id, TierMove.at >= start, TierMove.at < end)
        .group_by(TierMove.reason)
    )
    return {str(r): int(n) for r, n in rows}


# -- rewards (patron.loyalty.rewards) --------------------------------------------------------------


def reward_by_code(session: Session, program_id: int, code: str) -> Reward | None:
    return session.scalars(select(Reward).where(Reward.program_id == program_id, Reward.code == code)).first()


def rewards(session: Session, program_id: int) -> list[Reward]:
    return list(
        session.scalars(select(Reward).where(Reward.program_id == program_id).order_by(Reward.cost_points))
    )


def take_stock(session: Session, reward_id: int) -> bool:
    """One unit of the reward's stock, if there is one left (a conditional write: never below 0)."""
    result = session.execute(
        update(Reward)
        .where(Reward.id == reward_id, Reward.stock > 0)
        .values(stock=Reward.stock - 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def redemptions_count(session: Session, account_id: int, reward_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                RewardRedemption.account_id == account_id,
                RewardRedemption.reward_id == reward_id,
                RewardRedemption.cancelled_at.is_(None),
            )
        )
        or 0
    )


def redemption_of_operation(session: Session, operation_id: int) -> RewardRedemption | None:
    return session.scalars(
        select(RewardRedemption).where(RewardRedemption.operation_id == operation_id)
    ).first()


def operation_account(session: Session, operation_id: int) -> int:
    return int(
        session.scalar(select(PointsOperation.account_id).where(PointsOperation.id == operation_id)) or 0
    )


def redemptions_of(session: Session, account_id: int, limit: int) -> list[tuple[RewardRedemption, Reward]]:
    """A member's rewards taken, latest first, with the reward."""
    rows = session.execute(
        select(RewardRedemption, Reward)
        .join(Reward, Reward.id == RewardRedemption.reward_id)
        .where(RewardRedemption.account_id == account_id)
        .order_by(RewardRedemption.id.desc())
        .limit(limit)
    )
    return [(r, w) for r, w in rows]


def redemption_by_coupon(
    session: Session, program_id: int, coupon_code: str
) -> tuple[RewardRedemption, Reward, PointsOperation] | None:
    """The reward taken with this coupon in the program, the reward and the redemption's operation."""
    row = session.execute(
        select(RewardRedemption, Reward, PointsOperation)
        .join(Reward, Reward.id == RewardRedemption.reward_id)
        .join(PointsOperation, PointsOperation.id == RewardRedemption.operation_id)
        .where(Reward.program_id == program_id, RewardRedemption.coupon_code == coupon_code)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def give_back_stock(session: Session, reward_id: int) -> None:
    """One unit back to a reward's stock (a reward without stock stays without)."""
    session.execute(
        update(Reward)
        .where(Reward.id == reward_id, Reward.stock.is_not(None))
        .values(stock=Reward.stock + 1)
        .execution_options(synchronize_session=False)
    )


def customers_with_points(session: Session, program_id: int, at_least: int, limit: int) -> list[int]:
    """Customers of the program's members holding at least ``at_least`` active points, by customer."""
    return list(
        session.scalars(
            select(PointsAccount.customer_id)
            .where(PointsAccount.program_id == program_id, PointsAccount.active >= at_least)
            .order_by(PointsAccount.customer_id)
            .limit(limit)
        )
    )


def members_among(session: Session, program_id: int, customer_ids: Sequence[int]) -> list[int]:
    """Of these customers, those who are members of the program."""
    out: list[int] = []
    for part in chunked(list(customer_ids)):
        out.extend(
            session.scalars(
                select(PointsAccount.customer_id)
                .where(PointsAccount.program_id == program_id, PointsAccount.customer_id.in_(part))
                .order_by(PointsAccount.customer_id)
            )
        )
    return out


def earned_on(session: Session, program_id: int, keys: Sequence[str]) -> dict[str, tuple[int, int, str]]:
    """The crediting operations under ``keys`` that earned points: key -> (customer id, points,
    order reference)."""
    if not keys:
        return {}
    frame = pl.DataFrame({"key": list(keys)}, schema={"key": pl.Utf8})
    with bulk.staged(session, frame) as t:
        rows = bulk.fetch_all(
            session,
            "SELECT o.key, a.customer_id, o.points, o.source_ref FROM points_operations o "  # noqa: S608
            f'JOIN "{t}" k ON o.key = k.key JOIN points_accounts a ON a.id = o.account_id '
            f"WHERE o.program_id = {int(program_id)} AND o.points > 0",
        )
    return {key: (customer, points, ref) for key, customer, points, ref in rows}


def written_off_unrecovered(session: Session, account_id: int, order_ref: str) -> int:
    """Spent points of order ``order_ref`` that its refunds wrote off (``write_off``), less those
    taken back since from points a reversal returned to the order's lots."""
    written = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.points), 0))
        .join(PointsOperation, PointsOperation.id == PointsEntry.operation_id)
        .where(
            PointsOperation.account_id == account_id,
            PointsOperation.kind == "clawback",
            PointsOperation.source_ref == order_ref,
            PointsEntry.kind == "write_off",
        )
    )
    recovered = session.scalar(
        select(func.coalesce(func.sum(PointsEntry.active_delta), 0))
        .join(PointsOperation, PointsOperation.id == PointsEntry.operation_id)
        .join(PointsLot, PointsLot.id == PointsEntry.lot_id)
        .where(
            PointsOperation.account_id == account_id,
            PointsOperation.kind == "reversal",
            PointsEntry.kind == "clawback",
            PointsLot.source == "order",
            PointsLot.source_ref == order_ref,
        )
    )
    return int(written or 0) + int(recovered or 0)


def refunds_to_claw(
    session: Session, program_id: int, shop_id: int | None, before: datetime, after_id: int, limit: int
) -> list[tuple[int, int, int, int, int, int, int, str]]:
    """Completed refunds on orders the program credited with points, asked for (else completed)
    before ``before``, not taken into account yet (no operation ``refund:<id>``), after
    ``after_id`` by id: (refund id, order id, order total, refunded on the order up to this
    refund, account id, customer id, points earned on the order, order reference). Reads the
    commerce tables: which refunds loyalty has not answered is loyalty's question."""
    conn = session.connection()
    shop = f"AND r.shop_id = {int(shop_id)} " if shop_id is not None else ""
    asked = "COALESCE(r.requested_at, r.completed_at, r.created_at)"  # some exports have no request time
    return bulk.fetch_all(
        session,
        "SELECT r.id, r.order_id, o.total_minor, (SELECT SUM(p.amount_minor) FROM refunds p "  # noqa: S608
        "WHERE p.order_id = r.order_id AND p.id <= r.id AND p.status = 'completed' AND p.amount_minor > 0), "
        "a.id, a.customer_id, e.points, e.source_ref FROM refunds r JOIN orders o ON o.id = r.order_id "
        f"JOIN points_operations e ON e.program_id = {int(program_id)} AND e.key = 'order:' || r.order_id "
        "JOIN points_accounts a ON a.id = e.account_id "
        f"LEFT JOIN points_operations d ON d.program_id = {int(program_id)} AND d.key = 'refund:' || r.id "
        f"WHERE r.status = 'completed' AND r.amount_minor > 0 AND e.points > 0 AND d.id IS NULL "
        f"AND r.id > {int(after_id)} AND {asked} < {bulk.sql_time(conn, before)} {shop}"
        f"ORDER BY r.id LIMIT {int(limit)}",
    )
