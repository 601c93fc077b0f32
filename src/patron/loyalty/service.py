"""Loyalty programs and their members; the ledger's operations live in :mod:`.ledger`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.core.time import utcnow
from patron.customers import service as customers
from patron.loyalty import expiry, ledger, membership, tiers
from patron.loyalty import repository as repo
from patron.models.loyalty import (
    DebtRule,
    LoyaltyProgram,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Reward,
    RewardRedemption,
    TierMove,
)


def create_program(session: Session, values: Mapping[str, Any]) -> LoyaltyProgram:
    if repo.program_by_code(session, values["code"]) is not None:
        raise Conflict(f"loyalty program {values['code']!r} exists", code="loyalty_program_exists")
    rule, days = values.get("expiry", "end_of_next_year"), values.get("expiry_days")
    try:
        ZoneInfo(values.get("timezone") or "Asia/Shanghai")
        expiry.expires_at(rule, days, utcnow(), "UTC")
    except ZoneInfoNotFoundError:
        raise InvalidInput(f"unknown time zone {values.get('timezone')!r}", code="bad_timezone") from None
    except ValueError as exc:
        raise InvalidInput(str(exc), code="loyalty_bad_expiry") from None
    if values.get("debt_rule", DebtRule.offset) not in tuple(DebtRule):
        raise InvalidInput("the debt rule is offset or write_off", code="loyalty_bad_debt_rule")
    return repo.add(session, LoyaltyProgram(**dict(values)))


EDITABLE = ("name", "active", "point_value_minor", "lock_days", "debt_rule")


def update_program(session: Session, code: str, values: Mapping[str, Any]) -> LoyaltyProgram:
    """Change what a running program allows to change (:data:`EDITABLE`): its name, whether the
    jobs credit it, the value of a point, the return window of orders credited from now on, the
    debt rule of refunds taken back from now on. The rest is what the points earned mean."""
    prog = program(session, code)
    fixed = sorted(set(values) - set(EDITABLE))
    if fixed:
        raise InvalidInput(f"cannot change {', '.join(fixed)} of a program", code="loyalty_program_fixed")
    if values.get("debt_rule", DebtRule.offset) not in tuple(DebtRule):
        raise InvalidInput("the debt rule is offset or write_off", code="loyalty_bad_debt_rule")
    for key, value in values.items():
        if value is not None:  # none of them may be empty
            setattr(prog, key, value)
    session.flush()
    return prog


def program(session: Session, code: str) -> LoyaltyProgram:
    found = repo.program_by_code(session, code)
    if found is None:
        raise NotFound(f"loyalty program {code!r} not found", code="loyalty_program_not_found")
    return found


def programs(session: Session) -> list[LoyaltyProgram]:
    return repo.programs(session)


@dataclass
class Standing:
    """A program at a glance: its members and the points they hold."""

    program: LoyaltyProgram
    members: int
    active: int
    locked: int
    debt: int


def standings(session: Session) -> list[Standing]:
    return [Standing(p, *repo.balances(session, p.id)) for p in repo.programs(session)]


def customers_with_points(
    session: Session, program: LoyaltyProgram, at_least: int, *, limit: int = 10_000
) -> list[int]:
    """The customers who could spend ``at_least`` points now (say, afford a reward)."""
    return repo.customers_with_points(session, program.id, at_least, limit)


def tier_counts(session: Session, program: LoyaltyProgram) -> dict[str, int]:
    """Members by tier code."""
    return repo.tier_counts(session, program.id)


@dataclass
class Member:
    program: LoyaltyProgram
    customer_id: int
    account: PointsAccount | None  # None: never earned anything
    lots: list[PointsLot]
    entries: list[PointsEntry]

    @property
    def balance(self) -> dict[str, int]:
        if self.account is None:
            return {"active": 0, "locked": 0, "debt": 0, "growth": 0}
        return ledger.balance(self.account)


def member(session: Session, code: str, customer_id: int, *, entries: int = 50) -> Member:
    """The member as they stand: balances, the open lots in spending order, the latest entries.
    Read only: lots past their expiry show until the next operation or the daily job settles
    them (``expires_at`` says so)."""
    prog = program(session, code)
    customer = customers.get(session, customer_id)
    account = repo.account(session, prog.id, customer.id)
    if account is None:
        return Member(prog, customer.id, None, [], [])
    return Member(prog, customer.id, account, repo.open_lots(session, account.id),
                  repo.entries(session, account.id, limit=entries))  # fmt: skip


def settle_due(session: Session, *, now: datetime | None = None, batch: int = 20_000) -> Iterator[int]:
    """The daily job's work, a batch at a time (the caller commits each, so the members' locks
    are held briefly): unlock and expire every member's due lots; yields the entries each
    batch wrote. Members with a debt go one by one (an unlock repays it), the others in bulk.
    Safe to run twice: a settled lot is not due any more."""
    now = now or utcnow()
    programs_by_id = {p.id: p for p in repo.programs(session)}
    due = repo.due_accounts(session, now)
    owing = [a for a, debt in due if debt]
    for start in range(0, len(owing), batch):
        written = 0
        for account_id in owing[start : start + batch]:
            account = repo.lock_account_by_id(session, account_id)
            assert account is not None
            written += ledger.settle(session, programs_by_id[account.program_id], account, now)
        session.flush()
        yield written
    clear = [a for a, debt in due if not debt]
    for start in range(0, len(clear), batch):
        yield repo.settle_batch(session, now, clear[start : start + batch])


def settle_all(session: Session, *, now: datetime | None = None) -> int:
    """:func:`settle_due` in one transaction (tests, the API's settle-now call): the entries."""
    return sum(settle_due(session, now=now))


@dataclass
class Membership:
    """A customer in one program, as the customer 360 page shows them."""

    program: LoyaltyProgram
    account: PointsAccount
    lots: list[PointsLot]  # open, in spending order
    entries: list[PointsEntry]  # latest first
    tier: tiers.Tier | None
    progress: tiers.Progress | None
    moves: list[TierMove]
    basis: str  # what the tiers are on: growth (成长值) or spend (minor units)
    rewards: list[tuple[RewardRedemption, Reward]]  # latest rewards taken, with their coupons
    catalog: list[Reward]  # what the member could take


def memberships(session: Session, customer_id: int, *, at: datetime | None = None) -> list[Membership]:
    """Every program the customer is a member of, with balances, lots, history and tier."""
    at = at or utcnow()
    customer = customers.get(session, customer_id)
    out = []
    for account in repo.accounts_of_customer(session, customer.id):
        prog = repo.get_program(session, account.program_id)
        assert prog is not None
        policy = membership.policy_of(prog)
        tier = next((t for t in policy.tiers if t.code == account.tier), None) if policy else None
        out.append(
            Membership(
                program=prog,
                account=account,
                lots=repo.open_lots(session, account.id),
                entries=repo.entries(session, account.id, limit=12),
                tier=tier,
                progress=membership.progress(session, prog, account, at),
                moves=membership.moves_of(session, account.id, limit=5),
                basis=membership.basis_of(prog),
                rewards=repo.redemptions_of(session, account.id, 5),
                catalog=[r for r in repo.rewards(session, prog.id) if r.active],
            )
        )
    return out


def tier_name(program: LoyaltyProgram, code: str | None, lang: str) -> str:
    """A tier's name in ``lang`` (its code when the program no longer has it)."""
    policy = membership.policy_of(program)
    tier = next((t for t in policy.tiers if t.code == code), None) if policy else None
    if tier is None:
        return code or "—"
    return tier.name_zh if lang == "zh" else tier.name_en


def last_day(expires_at: datetime, timezone: str) -> date:
    """The last local day points expiring at ``expires_at`` can be spent on (what people read)."""
    return expiry.last_valid_day(expires_at, timezone)


# -- tier benefits (docs/loyalty.md, "Tiers") ------------------------------------------------------


def _strength(key: str, value: object) -> float | None:
    """How strong a benefit value is, higher is stronger; ``None`` when it cannot be compared
    (a reward code, a key Patron does not know)."""
    if key == "priority_service" and isinstance(value, str):
        return float(membership.PRIORITIES.index(value))
    if isinstance(value, bool):
        return float(value) if key == "free_shipping" else None
    if key in ("discount_rate", "points_multiplier", "birthday_gift") and isinstance(value, int | float):
        return float(value)
    return None


def benefits(session: Session, customer_id: int) -> dict[str, object]:
    """The tier benefits the customer enjoys: those of their current tier in every active program
    they are a member of that has a tier policy, combined. A benefit several programs give keeps
    its strongest value: the highest ``discount_rate``, ``points_multiplier`` and
    ``priority_service`` (by :data:`.membership.PRIORITIES`), ``free_shipping`` when any gives
    it, the most ``birthday_gift`` points (a reward code cannot be compared: the earlier
    program's gift stands); other keys keep the value of the earliest program (by program id).
    A value of the wrong kind for its key is left out. Empty for a customer who is no member, or
    has no tier anywhere."""
    customer = customers.get(session, customer_id)  # follows merges; NotFound for a stranger
    out: dict[str, object] = {}
    for account in repo.accounts_of_customer(session, customer.id):  # by program id
        if account.tier is None:
            continue
        prog = repo.get_program(session, account.program_id)
        policy = membership.policy_of(prog) if prog is not None and prog.active else None
        tier = next((t for t in policy.tiers if t.code == account.tier), None) if policy else None
        if tier is None:  # no policy (any more), or a tier the policy no longer has
            continue
        for key, value in tier.benefits.items():
            if not membership.benefit_fits(key, value):
                continue
            if key not in out:
                out[key] = value
                continue
            held, other = _strength(key, out[key]), _strength(key, value)
            if held is not None and other is not None and other > held:
                out[key] = value
    return out
