"""All loyalty SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patron.models.loyalty import (
    LoyaltyProgram,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsOperation,
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
    query = select(PointsEntry).where(PointsEntry.account_id == account_id).order_by(PointsEntry.id.desc())
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


def accounts_with_due_lots(session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(program, customer) of members with a lot to unlock or expire by ``now``."""
    unlock = select(PointsLot.account_id).where(PointsLot.state == "locked", PointsLot.unlock_at <= now)
    expire = select(PointsLot.account_id).where(
        PointsLot.state != "closed", PointsLot.expires_at <= now, PointsLot.remaining > 0
    )
    ids = unlock.union(expire).subquery()
    return [
        (int(p), int(c))
        for p, c in session.execute(
            select(PointsAccount.program_id, PointsAccount.customer_id)
            .where(PointsAccount.id.in_(select(ids.c.account_id)))
            .order_by(PointsAccount.id)
            .limit(limit)
        )
    ]
