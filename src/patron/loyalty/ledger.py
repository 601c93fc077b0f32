"""The points ledger: earn, redeem, adjust, claw back, reverse; unlock and expire.

Every operation runs the same way, whatever the database:

1. the member's account is created if it is new (``INSERT … ON CONFLICT DO NOTHING``) and then
   **locked** (a write to its row: a row lock on PostgreSQL, the write lock on SQLite), so
   operations on one member are strictly one after the other, also across processes;
2. the **idempotency key** is looked up: a request seen before gets its first answer again (the
   same bytes), and the same key with a different request is refused (409
   ``idempotency_key_reused``), without touching anything;
3. the member's due lots are **settled**: locked points whose return window closed become
   active, lots past their expiry expire, so points are never spent after they expired even if
   the daily job has not run yet;
4. the change itself: new entries (never an edit), lots updated, the account's cached sums
   moved by exactly the entries' deltas, the answer stored on the operation.

Nothing here commits: the request or job does, and a failure leaves no trace. Balances never go
below zero (a database CHECK backs this): spending more than is active is refused (409
``points_insufficient``); points clawed back after they were spent become a **debt** (repaid by
the next points that become active) or are written off, as the program says; an administrator
may take more than is there only as a debt, said explicitly (``allow_debt``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.customers import service as customers
from patron.loyalty import expiry, membership
from patron.loyalty import repository as repo
from patron.models.loyalty import (
    DebtRule,
    EntryKind,
    ExpiryRule,
    LotState,
    LoyaltyProgram,
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsOperation,
)

MAX_POINTS = 1_000_000_000
SOURCES = ("order", "refund", "review", "survey", "campaign", "signup", "birthday", "checkin", "referral",
           "reward", "admin")  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What an operation answered, and whether it is the first answer replayed."""

    result: dict[str, Any]
    replayed: bool = False


# -- the frame every operation runs in ----------------------------------------------------------


def _check_points(points: int, *, signed: bool = False) -> None:
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput("points are a whole number", code="points_not_integer")
    if (points == 0 if signed else points < 1) or abs(points) > MAX_POINTS:
        what = "a non-zero whole number" if signed else "a whole number of at least 1"
        raise InvalidInput(f"points must be {what} (at most {MAX_POINTS:,})", code="points_out_of_range")


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise InvalidInput(
            "an idempotency key of 1 to 200 characters is required", code="idempotency_key_missing"
        )
    return key


def request_hash(request: dict[str, Any]) -> str:
    """A request's fingerprint: its fields sorted, each value as ``repr`` (cheap enough to take
    for every order of a bulk crediting)."""
    canonical = "\x1f".join(f"{k}\x1e{request[k]!r}" for k in sorted(request))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same(earlier: PointsOperation, request: dict[str, Any]) -> bool:
    """Is ``request`` the one ``earlier`` answered? By its fingerprint; an order credited in bulk
    has none, and is compared by the fields it stores (an order's points are always locked)."""
    if earlier.request_hash:
        return earlier.request_hash == request_hash(request)
    stored = {"kind": earlier.kind, "points": earlier.points, "source": earlier.source,
              "source_ref": earlier.source_ref, "lock": True}  # fmt: skip
    return {k: request.get(k) for k in stored} == stored


def _begin(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    key: str,
    request: dict[str, Any],
    now: datetime,
) -> tuple[PointsAccount, PointsOperation | None]:
    """Lock the member; the earlier operation under ``key`` if there is one."""
    customer = customers.get(session, customer_id)  # NotFound for a stranger; a merged one's survivor
    repo.ensure_account(session, program.id, customer.id, now)
    account = repo.lock_account(session, program.id, customer.id)
    assert account is not None
    earlier = repo.operation_by_key(session, program.id, key)
    if earlier is not None:
        if not _same(earlier, request) or earlier.account_id != account.id:
            raise Conflict(
                "this idempotency key was used for a different request",
                code="idempotency_key_reused",
                data={"key": key, "operation": earlier.id},
            )
        if not earlier.result:  # credited in bulk: its answer is written when first asked for
            earlier.result = _answer(session, account, earlier)
            session.flush()
        return account, earlier
    settle(session, program, account, now)
    return account, None


def _operation(
    session: Session,
    program: LoyaltyProgram,
    account: PointsAccount,
    request: dict[str, Any],
    *,
    key: str,
    actor: str,
    now: datetime,
) -> PointsOperation:
    try:
        with session.begin_nested():
            return repo.add(session, _new_operation(program, account, request, key=key, actor=actor, now=now))
    except IntegrityError:
        # PostgreSQL: another member's request took this key at the same moment (each held only
        # its own member's lock); its insert committed first.
        raise Conflict(
            "this idempotency key was used for a different request",
            code="idempotency_key_reused",
            data={"key": key},
        ) from None


def _new_operation(
    program: LoyaltyProgram,
    account: PointsAccount,
    request: dict[str, Any],
    *,
    key: str,
    actor: str,
    now: datetime,
) -> PointsOperation:
    return PointsOperation(
        program_id=program.id,
        account_id=account.id,
        key=key,
        kind=request["kind"],
        request_hash=request_hash(request),
        points=request["points"],
        source=request.get("source") or "admin",
        source_ref=request.get("source_ref"),
        reason=request.get("reason"),
        actor=actor,
        result={},
        created_at=now,
    )


def _entry(
    account: PointsAccount,
    op: PointsOperation | None,
    kind: str,
    now: datetime,
    *,
    lot: PointsLot | None = None,
    active: int = 0,
    locked: int = 0,
    debt: int = 0,
    growth: int = 0,
    points: int = 0,
) -> PointsEntry:
    """A ledger line, and the account's sums moved by exactly its deltas."""
    account.active += active
    account.locked += locked
    account.debt += debt
    account.growth += growth
    account.updated_at = now
    return PointsEntry(
        account_id=account.id,
        operation_id=op.id if op is not None else None,
        lot_id=lot.id if lot is not None else None,
        kind=kind,
        active_delta=active,
        locked_delta=locked,
        debt_delta=debt,
        growth_delta=growth,
        points=points or max(abs(active), abs(locked), abs(debt)),
        created_at=now,
    )


def balance(account: PointsAccount) -> dict[str, int]:
    return {
        "active": account.active,
        "locked": account.locked,
        "debt": account.debt,
        "growth": account.growth,
    }


def _result(
    account: PointsAccount, op: PointsOperation, entries: Sequence[PointsEntry], **extra: Any
) -> dict[str, Any]:
    return {
        "operation": op.id,
        "key": op.key,
        "kind": op.kind,
        "customer_id": account.customer_id,
        "points": op.points,
        "balance": balance(account),
        "entries": [
            {"kind": e.kind, "lot": e.lot_id, "active": e.active_delta, "locked": e.locked_delta,
             "debt": e.debt_delta}
            for e in entries
        ],
        "at": op.created_at.isoformat(),
        **extra,
    }  # fmt: skip


def _answer(session: Session, account: PointsAccount, op: PointsOperation) -> dict[str, Any]:
    """The answer an operation gives, from its entries (the balance as it stands now)."""
    entries = repo.entries_of_operation(session, op.id)
    lots = [e.lot_id for e in entries if e.kind == EntryKind.earn and e.lot_id is not None]
    return _result(account, op, entries, lot=lots[0] if lots else None)


def _finish(
    session: Session,
    account: PointsAccount,
    op: PointsOperation,
    entries: Sequence[PointsEntry],
    **extra: Any,
) -> Outcome:
    repo.add_all(session, entries)
    result = _result(account, op, entries, **extra)
    op.result = result
    session.flush()
    return Outcome(result)


# -- settling: unlocks and expiries ------------------------------------------------------------


def settle(session: Session, program: LoyaltyProgram, account: PointsAccount, now: datetime) -> int:
    """Unlock the member's lots whose return window closed and expire those past their expiry
    (both at ``now``); how many entries that wrote. Safe to repeat: a settled lot is not due."""
    written: list[PointsEntry] = []
    for lot in repo.open_lots(session, account.id):
        if lot.state == LotState.locked and lot.unlock_at is not None and lot.unlock_at <= now:
            lot.state = LotState.active
            written.append(_entry(account, None, EntryKind.unlock, now, lot=lot, locked=-lot.remaining,
                                  active=lot.remaining, points=lot.remaining))  # fmt: skip
            written += _repay(account, lot, None, program, now)
        if lot.expires_at is not None and lot.expires_at <= now and lot.remaining > 0:
            bucket = "locked" if lot.state == LotState.locked else "active"
            written.append(_entry(account, None, EntryKind.expire, now, lot=lot, **{bucket: -lot.remaining}))
            lot.remaining, lot.state = 0, LotState.closed
    if written:
        repo.add_all(session, written)
    return len(written)


def _repay(
    account: PointsAccount, lot: PointsLot, op: PointsOperation | None, program: LoyaltyProgram, now: datetime
) -> list[PointsEntry]:
    """Active points just arrived in ``lot`` pay back the member's debt first."""
    if account.debt <= 0 or lot.state != LotState.active or program.debt_rule != DebtRule.offset:
        return []
    paid = min(account.debt, lot.remaining)
    lot.remaining -= paid
    if lot.remaining == 0:
        lot.state = LotState.closed
    return [_entry(account, op, EntryKind.repay, now, lot=lot, active=-paid, debt=-paid)]


def _touch(session: Session, program: LoyaltyProgram, account: PointsAccount, now: datetime) -> None:
    """The member was active: under rolling expiry every open lot now lasts from today."""
    account.last_activity_at = now
    if program.expiry == ExpiryRule.rolling:
        until = expiry.expires_at(program.expiry, program.expiry_days, now, program.timezone)
        for lot in repo.open_lots(session, account.id):
            lot.expires_at = until


def unlock_time(program: LoyaltyProgram, placed_at: datetime) -> datetime | None:
    """When points earned on an order placed at ``placed_at`` leave their return window."""
    return placed_at + timedelta(days=program.lock_days) if program.lock_days > 0 else None


def _spend(
    session: Session, account: PointsAccount, op: PointsOperation, kind: str, points: int, now: datetime
) -> tuple[list[PointsEntry], int]:
    """Take ``points`` from the active lots, nearest expiry first; the entries and what was
    missing (0 when there was enough)."""
    written: list[PointsEntry] = []
    left = points
    for lot in repo.spendable_lots(session, account.id):
        if left == 0:
            break
        take = min(left, lot.remaining)
        lot.remaining -= take
        if lot.remaining == 0:
            lot.state = LotState.closed
        left -= take
        written.append(_entry(account, op, kind, now, lot=lot, active=-take))
    return written, left


def _new_lot(
    session: Session,
    program: LoyaltyProgram,
    account: PointsAccount,
    op: PointsOperation,
    points: int,
    now: datetime,
    *,
    lock_until: datetime | None,
) -> PointsLot:
    return repo.add(
        session,
        PointsLot(
            account_id=account.id,
            operation_id=op.id,
            source=op.source,
            source_ref=op.source_ref,
            points=points,
            remaining=points,
            state=LotState.locked if lock_until is not None else LotState.active,
            earned_at=now,
            unlock_at=lock_until,
            expires_at=expiry.expires_at(program.expiry, program.expiry_days, now, program.timezone),
        ),
    )


# -- operations ------------------------------------------------------------------------------------


def earn(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    points: int,
    *,
    key: str,
    source: str,
    source_ref: str | None = None,
    lock: bool | None = None,
    placed_at: datetime | None = None,
    actor: str = "system",
    now: datetime,
) -> Outcome:
    """Points earned. Points for an order are locked for the program's return window (``lock``
    says otherwise), counted from the order's ``placed_at`` when given (an order older than the
    window earns active points), else from now; they count towards the growth value at once."""
    _check_points(points)
    key = _check_key(key)
    if source not in SOURCES:
        raise InvalidInput(f"unknown source {source!r}", code="points_bad_source", data={"allowed": SOURCES})
    locking = (source == "order") if lock is None else lock
    request = {"kind": "earn", "customer_id": customer_id, "points": points, "source": source,
               "source_ref": source_ref, "lock": locking}  # fmt: skip
    account, earlier = _begin(session, program, customer_id, key, request, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    op = _operation(session, program, account, request, key=key, actor=actor, now=now)
    lock_until = unlock_time(program, placed_at or now) if locking else None
    if lock_until is not None and lock_until <= now:
        lock_until = None
    lot, written = _credit(session, program, account, op, points, now, lock_until=lock_until)
    outcome = _finish(session, account, op, written, lot=lot.id)
    membership.refresh(session, program, at=now, account_ids=[account.id])  # an upgrade is at once
    return outcome


def _credit(
    session: Session,
    program: LoyaltyProgram,
    account: PointsAccount,
    op: PointsOperation,
    points: int,
    now: datetime,
    *,
    lock_until: datetime | None,
) -> tuple[PointsLot, list[PointsEntry]]:
    """A new lot of ``points`` and its lines: earned (locked or active), a debt repaid from it."""
    lot = _new_lot(session, program, account, op, points, now, lock_until=lock_until)
    bucket = "locked" if lot.state == LotState.locked else "active"
    written = [_entry(account, op, EntryKind.earn, now, lot=lot, growth=points, **{bucket: points})]
    written += _repay(account, lot, op, program, now)
    _touch(session, program, account, now)
    return lot, written


def earn_decided(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    *,
    key: str,
    source: str,
    source_ref: str | None,
    decide: Callable[[PointsAccount], tuple[int, dict[str, Any]]],
    actor: str = "system",
    now: datetime,
) -> Outcome:
    """Points decided under the member's lock: ``decide`` gets the locked account and says how
    many points (active at once) and what to add to the answer. An action's earning rules read
    the member's earlier awards of capped rules, which must not change between reading and
    writing. Nothing earned (0 points: capped, too fast, no rule) is recorded too, so the key
    gives the same answer again; the request is what was asked (source and reference), not the
    points decided."""
    key = _check_key(key)
    if source not in SOURCES:
        raise InvalidInput(f"unknown source {source!r}", code="points_bad_source", data={"allowed": SOURCES})
    asked = {"kind": "earn", "customer_id": customer_id, "source": source, "source_ref": source_ref,
             "decided": True}  # fmt: skip
    account, earlier = _begin(session, program, customer_id, key, asked, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    points, extra = decide(account)
    if points < 0:
        raise ValueError(f"decided points must not be negative, got {points}")
    op = _operation(session, program, account, {**asked, "points": points}, key=key, actor=actor, now=now)
    op.request_hash = request_hash(asked)
    if not points:  # nothing earned, on record all the same
        return _finish(session, account, op, [], lot=None, **extra)
    lot, written = _credit(session, program, account, op, points, now, lock_until=None)
    outcome = _finish(session, account, op, written, lot=lot.id, **extra)
    membership.refresh(session, program, at=now, account_ids=[account.id])
    return outcome


def redeem(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    points: int,
    *,
    key: str,
    source: str = "reward",
    source_ref: str | None = None,
    reason: str | None = None,
    actor: str = "system",
    now: datetime,
) -> Outcome:
    """Spend active points, nearest expiry first; refused (409 ``points_insufficient``) when the
    member has fewer."""
    _check_points(points)
    key = _check_key(key)
    request = {"kind": "redeem", "customer_id": customer_id, "points": points, "source": source,
               "source_ref": source_ref, "reason": reason}  # fmt: skip
    account, earlier = _begin(session, program, customer_id, key, request, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    if points > account.active:
        raise Conflict(
            f"{points} points asked for, {account.active} available",
            code="points_insufficient",
            data={"requested": points, "available": account.active, "locked": account.locked},
        )
    op = _operation(session, program, account, request, key=key, actor=actor, now=now)
    written, missing = _spend(session, account, op, EntryKind.redeem, points, now)
    assert missing == 0, "the cached balance disagrees with the lots"
    _touch(session, program, account, now)
    return _finish(session, account, op, written)


def adjust(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    points: int,
    *,
    key: str,
    reason: str,
    allow_debt: bool = False,
    actor: str,
    now: datetime,
) -> Outcome:
    """An administrator adds (a new lot) or takes points, with a reason. Taking more than is
    active is refused, unless ``allow_debt``: then the rest becomes the member's debt."""
    _check_points(points, signed=True)
    key = _check_key(key)
    if not (reason or "").strip():
        raise InvalidInput("an adjustment needs a reason", code="points_reason_missing")
    request = {"kind": "adjust", "customer_id": customer_id, "points": points, "source": "admin",
               "reason": reason.strip(), "allow_debt": allow_debt}  # fmt: skip
    account, earlier = _begin(session, program, customer_id, key, request, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    if points < 0 and -points > account.active and not allow_debt:
        raise Conflict(
            f"{-points} points to take, {account.active} available (allow a debt to take more)",
            code="points_insufficient",
            data={"requested": -points, "available": account.active},
        )
    op = _operation(session, program, account, request, key=key, actor=actor, now=now)
    if points > 0:
        lot = _new_lot(session, program, account, op, points, now, lock_until=None)
        written = [_entry(account, op, EntryKind.adjust, now, lot=lot, active=points)]
        written += _repay(account, lot, op, program, now)
    else:
        written, missing = _spend(session, account, op, EntryKind.adjust, -points, now)
        if missing:
            written.append(_entry(account, op, EntryKind.adjust, now, debt=missing))
    return _finish(session, account, op, written)


def clawback(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    points: int,
    *,
    key: str,
    order_ref: str,
    actor: str = "system",
    now: datetime,
) -> Outcome:
    """A refund takes back up to ``points`` of those earned on order ``order_ref`` (never more
    than were earned on it, over all its refunds): still-locked points first, then what is left
    of the order's lots; points already spent become a debt, or are written off, by the
    program's rule. The growth value loses them too."""
    _check_points(points)
    key = _check_key(key)
    request = {"kind": "clawback", "customer_id": customer_id, "points": points, "source": "refund",
               "source_ref": order_ref}  # fmt: skip
    account, earlier = _begin(session, program, customer_id, key, request, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    earned_lots = repo.lots_of_source(session, account.id, "order", order_ref)
    if not earned_lots:
        raise NotFound(f"no points were earned on order {order_ref}", code="points_order_unknown")
    clawed_before = repo.clawed_back(session, account.id, order_ref)
    due = min(points, sum(lot.points for lot in earned_lots) - clawed_before)
    op = _operation(session, program, account, request, key=key, actor=actor, now=now)
    written: list[PointsEntry] = []
    left = due
    for lot in sorted(earned_lots, key=lambda lot: lot.state != LotState.locked):
        take = min(left, lot.remaining)
        if take == 0:
            continue
        bucket = "locked" if lot.state == LotState.locked else "active"
        lot.remaining -= take
        if lot.remaining == 0:
            lot.state = LotState.closed
        left -= take
        written.append(_entry(account, op, EntryKind.clawback, now, lot=lot, growth=-take, **{bucket: -take}))
    if left:
        # What is not left in the lots was spent, or expired unused: only what the member spent
        # (and has not been charged for by an earlier refund of the order) is owed.
        owed = min(left, max(repo.spent_of_lots(session, [lot.id for lot in earned_lots])
                             - repo.charged_for_order(session, account.id, order_ref), 0))  # fmt: skip
        if owed and program.debt_rule == DebtRule.offset:
            written.append(_entry(account, op, EntryKind.clawback, now, debt=owed, growth=-owed))
        elif owed:
            written.append(_entry(account, op, EntryKind.write_off, now, growth=-owed, points=owed))
        if left > owed:  # expired unused: nothing to collect, but the growth value goes too
            written.append(
                _entry(account, op, EntryKind.clawback, now, growth=-(left - owed), points=left - owed)
            )
    return _finish(session, account, op, written, clawed=due)


def reverse(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    *,
    of_key: str,
    key: str,
    actor: str,
    now: datetime,
) -> Outcome:
    """Undo a redemption (a reward cancelled): its points go back to the lots they came from,
    with those lots' expiry (a lot that expired meanwhile expires again at once). Points of an
    order refunded since whose refund wrote them off as spent (``write_off``) are taken back at
    once (a ``clawback`` line): the member gets back only what the refund left them."""
    key = _check_key(key)
    request = {"kind": "reversal", "customer_id": customer_id, "points": 0, "of": of_key}
    account, earlier = _begin(session, program, customer_id, key, request, now)
    if earlier is not None:
        return Outcome(earlier.result, replayed=True)
    original = repo.operation_by_key(session, program.id, of_key)
    if original is None or original.account_id != account.id:
        raise NotFound(f"no operation {of_key!r} for this member", code="points_operation_unknown")
    if original.kind != EntryKind.redeem:
        raise Conflict("only a redemption can be reversed", code="points_not_reversible")
    if original.reversed_by_id is not None:
        raise Conflict("this redemption was already reversed", code="points_already_reversed")
    spent = [e for e in repo.entries_of_operation(session, original.id) if e.kind == EntryKind.redeem]
    op = _operation(
        session, program, account, {**request, "points": original.points}, key=key, actor=actor, now=now
    )
    op.request_hash = request_hash(request)
    lots = repo.lots(session, [e.lot_id for e in spent if e.lot_id is not None])
    written: list[PointsEntry] = []
    forgiven: dict[str, int] = {}  # order -> spent points its refunds wrote off, not yet taken back
    for e in spent:
        lot = lots[e.lot_id] if e.lot_id is not None else None
        assert lot is not None
        lot.remaining -= e.active_delta  # the delta is negative: the points come back
        lot.state = LotState.active
        written.append(_entry(account, op, EntryKind.reversal, now, lot=lot, active=-e.active_delta))
        if program.debt_rule == DebtRule.write_off and lot.source == "order" and lot.source_ref:
            # Points of an order refunded since, which its refund wrote off as spent: the
            # member does not get them back (under ``offset`` the debt takes them instead).
            ref = lot.source_ref
            if ref not in forgiven:
                forgiven[ref] = repo.written_off_unrecovered(session, account.id, ref)
            take = min(forgiven[ref], -e.active_delta)
            if take > 0:
                forgiven[ref] -= take
                lot.remaining -= take
                written.append(_entry(account, op, EntryKind.clawback, now, lot=lot, active=-take))
        if lot.remaining == 0:
            lot.state = LotState.closed
        elif lot.expires_at is None or lot.expires_at > now:  # expired points repay nothing
            written += _repay(account, lot, op, program, now)
    original.reversed_by_id = op.id
    repo.add_all(session, written)
    settle(session, program, account, now)  # a lot that expired meanwhile expires again
    return _finish(session, account, op, written, reversed=original.id)
