"""After-sales in the seeds' six steps: receive (the ticket), **review** (is the request within
the shop's return policy, how much of the order is still refundable), **decide and carry out a
remedy** (refund, return, exchange, repair, re-ship, coupon, compensation), evaluate (the CSAT
survey on resolution, :mod:`patron.desk.quality`) and improve (root causes, same module).

A remedy is an action on the ticket recorded with who, when and how much, and it creates the
matching commerce record: a refund (仅退款) or a return (退货退款, awaiting the goods) as a
refund row, an exchange (换货) or re-ship (补寄) as a zero-amount one, a coupon with its own
code. Each remedy carries an idempotency key: the same action sent twice (a double click, a
retried request, two agents at once) is recorded once and answers the same; the same key with a
different action is refused. Money remedies are capped by the agent's refund limit
(:class:`AgentProfile`); a desk admin has none.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.errors import Conflict, InvalidInput, PermissionDenied
from patron.core.money import format_minor
from patron.core.time import utcnow
from patron.desk import repository as repo
from patron.models import AgentProfile, Remedy, ReturnPolicy, Ticket, TicketEvent

#: Remedy kind -> (commerce refund type or None, refund status, moves money).
KINDS: dict[str, tuple[str | None, str, bool]] = {
    "refund": ("refund_only", "approved", True),
    "return": ("return_refund", "requested", True),
    "exchange": ("exchange", "approved", False),
    "reship": ("reship", "approved", False),
    "repair": (None, "", False),
    "coupon": (None, "", True),
    "compensation": (None, "", True),
}
#: China's 七天无理由退货: the window when a shop has set no policy.
DEFAULT_WINDOW_DAYS = 7
NEEDS_WINDOW = ("refund", "return", "exchange")


@dataclass(frozen=True)
class Review:
    """Step 2: what the shop's policy says about this ticket's order."""

    order_id: int | None
    policy_id: int | None
    window_days: int
    requires_proof: bool
    since: datetime | None  # delivery (or the order, without a delivery date)
    days_since: int | None
    within_window: bool | None  # None without an order
    currency: str | None
    order_total_minor: int | None
    refunded_minor: int
    refundable_minor: int | None


def _policy(session: Session, shop_id: int | None, category: str | None) -> ReturnPolicy | None:
    """The most specific policy: shop and longest category prefix, then the shop's, then any
    shop's for the category, then the global one."""
    best: tuple[int, ReturnPolicy] | None = None
    for p in repo.return_policies(session):
        if p.shop_id not in (None, shop_id):
            continue
        if p.category and not (category or "").startswith(p.category):
            continue
        rank = (2 if p.shop_id is not None else 0) * 10_000 + len(p.category or "")
        if best is None or rank > best[0]:
            best = (rank, p)
    return best[1] if best else None


def review(session: Session, ticket: Ticket, *, now: datetime | None = None) -> Review:
    now = now or utcnow()
    if ticket.order_id is None:
        return Review(None, None, DEFAULT_WINDOW_DAYS, False, None, None, None, None, None, 0, None)
    order = commerce.get_order(session, ticket.order_id)
    category = commerce.line_category(session, ticket.order_line_id) if ticket.order_line_id else None
    policy = _policy(session, order.shop_id, category)
    window = policy.window_days if policy else DEFAULT_WINDOW_DAYS
    since = order.delivered_at or order.placed_at
    days = (now - since).days
    refunded = commerce.refunded_total(session, order.id)
    return Review(
        order_id=order.id,
        policy_id=policy.id if policy else None,
        window_days=window,
        requires_proof=bool(policy and policy.requires_proof),
        since=since,
        days_since=days,
        within_window=days <= window,
        currency=order.currency,
        order_total_minor=order.total_minor,
        refunded_minor=refunded,
        refundable_minor=max(order.total_minor - refunded, 0),
    )


def set_policy(
    session: Session,
    *,
    shop_id: int | None,
    category: str | None,
    window_days: int,
    requires_proof: bool = False,
    note: str | None = None,
) -> ReturnPolicy:
    if window_days < 0 or window_days > 3650:
        raise InvalidInput("a return window is 0 to 3,650 days", code="return_policy_bad_window")
    policy = repo.return_policy(session, shop_id, category)
    if policy is None:
        policy = repo.add(session, ReturnPolicy(shop_id=shop_id, category=category, window_days=window_days))
    policy.window_days, policy.requires_proof, policy.note = window_days, requires_proof, note
    return policy


@dataclass(frozen=True)
class Decision:
    kind: str
    key: str
    amount_minor: int = 0
    note: str | None = None
    override_window: bool = False  # outside the return window, decided anyway (said in the note)


def _limit_ok(session: Session, profile: AgentProfile | None, amount: int, currency: str) -> bool:
    if profile is None:
        return amount == 0
    if currency == profile.limit_currency:
        return amount <= profile.refund_limit_minor
    rates = commerce.fx_rates(session, profile.limit_currency)
    if currency not in rates:
        raise InvalidInput(
            f"no exchange rate from {currency} to {profile.limit_currency} to check the refund limit",
            code="remedy_no_rate",
        )
    return Decimal(amount) * rates[currency] <= profile.refund_limit_minor


def _same(remedy: Remedy, decision: Decision) -> bool:
    return (remedy.kind, remedy.amount_minor, remedy.note) == (
        decision.kind,
        decision.amount_minor,
        decision.note,
    )


def carry_out(
    session: Session,
    ticket: Ticket,
    decision: Decision,
    *,
    actor: str,
    actor_user_id: int | None,
    unlimited: bool = False,
    now: datetime | None = None,
) -> tuple[Remedy, bool]:
    """Steps 3 and 4: record the remedy and create its commerce record. Returns the remedy and
    whether it is new (False: this key was already carried out; nothing happened again)."""
    now = now or utcnow()
    if decision.kind not in KINDS:
        raise InvalidInput(
            f"unknown remedy {decision.kind!r}", code="remedy_bad_kind", data={"allowed": list(KINDS)}
        )
    if not decision.key or len(decision.key) > 100:
        raise InvalidInput("a remedy needs an idempotency key of 1 to 100 characters", code="remedy_bad_key")
    done = repo.remedy_by_key(session, ticket.id, decision.key)
    if done is not None:
        if not _same(done, decision):
            raise Conflict(
                "this idempotency key was used for a different remedy",
                code="remedy_key_reused",
                data={"id": done.id},
            )
        return done, False
    refund_type, refund_status, money = KINDS[decision.kind]
    if decision.amount_minor < 0 or (not money and decision.amount_minor):
        raise InvalidInput(f"a {decision.kind} takes no amount" if not money else "a negative amount",
                           code="remedy_bad_amount")  # fmt: skip
    if money and decision.amount_minor == 0:
        raise InvalidInput(f"a {decision.kind} needs an amount", code="remedy_bad_amount")
    checked = review(session, ticket, now=now)
    if refund_type is not None and checked.order_id is None:
        raise InvalidInput(f"a {decision.kind} needs the ticket's order", code="remedy_needs_order")
    if decision.kind in NEEDS_WINDOW and checked.within_window is False and not decision.override_window:
        raise Conflict(
            f"the order is {checked.days_since} days old, past the {checked.window_days}-day return window",
            code="remedy_outside_window",
            data={"days_since": checked.days_since, "window_days": checked.window_days},
        )
    if decision.override_window and not (decision.note or "").strip():
        raise InvalidInput(
            "an exception to the return window needs a note saying why", code="remedy_needs_note"
        )
    currency = checked.currency or "CNY"
    if refund_type is not None and money and decision.amount_minor > (checked.refundable_minor or 0):
        raise Conflict(
            f"only {format_minor(checked.refundable_minor or 0, currency)} of the order is left to refund",
            code="remedy_over_refundable",
            data={"refundable_minor": checked.refundable_minor},
        )
    if money and not unlimited and not _limit_ok(session, repo.agent_profile(session, actor_user_id),
                                                 decision.amount_minor, currency):  # fmt: skip
        raise PermissionDenied(
            f"{format_minor(decision.amount_minor, currency)} is above your refund limit",
            code="remedy_over_limit",
        )
    remedy = Remedy(
        ticket_id=ticket.id,
        key=decision.key,
        kind=decision.kind,
        amount_minor=decision.amount_minor,
        currency=currency,
        note=decision.note,
        actor=actor,
        actor_user_id=actor_user_id,
        coupon_code=_coupon_code() if decision.kind == "coupon" else None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            repo.add(session, remedy)
    except IntegrityError:
        # Another request carried out the same key a moment ago: answer with that one.
        done = repo.remedy_by_key(session, ticket.id, decision.key)
        if done is None:
            raise
        if not _same(done, decision):
            raise Conflict(
                "this idempotency key was used for a different remedy", code="remedy_key_reused"
            ) from None
        return done, False
    if refund_type is not None and checked.order_id is not None:
        order = commerce.get_order(session, checked.order_id)
        refund = commerce.record_refund(
            session,
            shop_id=order.shop_id,
            external_id=f"patron-remedy-{remedy.id}",
            order_id=order.id,
            customer_id=ticket.customer_id,
            type=refund_type,
            status=refund_status,
            amount_minor=decision.amount_minor,
            currency=currency,
            reason=decision.note or f"ticket T-{ticket.id:06d}",
            at=now,
        )
        remedy.refund_id = refund.id
    repo.add(
        session,
        TicketEvent(
            ticket_id=ticket.id,
            actor=actor,
            action="remedy",
            created_at=now,
            data={
                "kind": decision.kind,
                "amount_minor": decision.amount_minor,
                "currency": currency,
                "override_window": decision.override_window,
                "refund_id": remedy.refund_id,
                "coupon_code": remedy.coupon_code,
            },
        ),
    )
    return remedy, True


def _coupon_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
    return "PTN-" + "".join(secrets.choice(alphabet) for _ in range(10))


def remedies_of(session: Session, ticket_id: int) -> list[Remedy]:
    return repo.remedies_of(session, ticket_id)


def set_agent(
    session: Session,
    user_id: int,
    *,
    refund_limit_minor: int | None = None,
    limit_currency: str | None = None,
    capacity: int | None = None,
    languages: list[str] | None = None,
    shops: list[str] | None = None,
    types: list[str] | None = None,
    vip: bool | None = None,
    active: bool | None = None,
    team_id: int | None = None,
) -> AgentProfile:
    """Create or change an agent's desk profile (the fields given)."""
    if refund_limit_minor is not None and refund_limit_minor < 0:
        raise InvalidInput("a refund limit cannot be negative", code="agent_bad_limit")
    if capacity is not None and not 0 <= capacity <= 1000:
        raise InvalidInput("capacity is 0 to 1,000 open tickets", code="agent_bad_capacity")
    given = {
        "refund_limit_minor": refund_limit_minor,
        "limit_currency": limit_currency,
        "capacity": capacity,
        "languages": languages,
        "shops": shops,
        "types": types,
        "vip": vip,
        "active": active,
        "team_id": team_id,
    }
    profile = repo.agent_profile(session, user_id)
    if profile is None:
        defaults = {"refund_limit_minor": 0, "limit_currency": "CNY", "capacity": 20, "languages": [],
                    "shops": [], "types": [], "vip": False, "active": True}  # fmt: skip
        profile = repo.add(session, AgentProfile(user_id=user_id, **defaults))
    for name, value in given.items():
        if value is not None:
            setattr(profile, name, value)
    session.flush()
    return profile
