"""Points for orders: a program's earning rules over every order not yet credited.

Orders are read a page at a time (by id) through the commerce service; those already credited
(an operation with key ``order:<id>`` exists) are skipped, so crediting is idempotent and the
job, an import hook and a replayed request can all run it. Each order is one event for
:func:`patron.loyalty.rules.evaluate` at the order's time, with the member's usage of capped or
rate-limited rules (``points_awards``) counted in memory as the page goes, in order time.

Writing is in bulk: operations, lots, ledger entries and awards as frames (COPY on PostgreSQL,
``executemany`` on SQLite), the members' sums with one staged ``UPDATE``; the members are locked
first, as every ledger operation does. The entries are exactly those :func:`ledger.earn` writes,
and so is the stored answer of each operation, so a request replayed with the key gets it.
Two cases take the one-by-one path through :func:`ledger.earn` instead: a member with a debt
(new active points repay it) and a program with rolling expiry (every lot of the member moves).
An order that earns nothing is recorded too (an operation of 0 points, nothing else), so it is
not evaluated again.

Points for an order are locked through the program's return window counted from the order's
time, so an order older than the window earns active points.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core.errors import Conflict, InvalidInput, NotFound
from patron.loyalty import batch, expiry, ledger, rules
from patron.loyalty import repository as repo
from patron.models.loyalty import EarningRule, ExpiryRule, LoyaltyProgram, PointsAccount

ACTOR = "loyalty.earn"
RULE_FIELDS = (
    "kind", "points", "per_minor", "currency", "shops", "categories", "skus", "tier_multipliers", "cap",
    "cap_period", "velocity", "velocity_window_hours", "stop", "position", "active", "starts", "ends",
)  # fmt: skip


def order_key(order_id: int) -> str:
    return f"order:{order_id}"


def rule_of(row: EarningRule) -> rules.Rule:
    return rules.Rule(
        name=row.name,
        kind=row.kind,
        points=row.points,
        per_minor=row.per_minor,
        currency=row.currency,
        shops=tuple(row.shops or ()),
        categories=tuple(row.categories or ()),
        skus=tuple(row.skus or ()),
        tier_multipliers=dict(row.tier_multipliers or {}),
        cap=row.cap,
        cap_period=row.cap_period,
        velocity=row.velocity,
        velocity_window_hours=row.velocity_window_hours,
        stop=row.stop,
        position=row.position,
        active=row.active,
        starts=row.starts,
        ends=row.ends,
    )


def add_rule(session: Session, program: LoyaltyProgram, values: Mapping[str, Any]) -> EarningRule:
    """A new earning rule, checked as the kernel reads it (``loyalty_bad_rule`` says what is wrong)."""
    given = {k: values[k] for k in RULE_FIELDS if k in values}
    for key in ("shops", "categories", "skus"):
        if key in given:
            given[key] = tuple(given[key])
    try:
        rule = rules.Rule(name=str(values.get("name", "")), **given)
        rules.check_rules([*program_rules(session, program), rule])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(str(exc), code="loyalty_bad_rule") from None
    stored = {k: getattr(rule, k) for k in RULE_FIELDS}
    stored.update(shops=list(rule.shops), categories=list(rule.categories), skus=list(rule.skus),
                  tier_multipliers=dict(rule.tier_multipliers))  # fmt: skip
    return repo.add(session, EarningRule(program_id=program.id, name=rule.name, **stored))


def program_rules(session: Session, program: LoyaltyProgram) -> list[rules.Rule]:
    return [rule_of(r) for r in repo.rules(session, program.id)]


def rule_rows(session: Session, program: LoyaltyProgram) -> list[EarningRule]:
    """The program's rules as stored, in the order they were added."""
    return repo.rules(session, program.id)


def set_rule_active(session: Session, program: LoyaltyProgram, rule_id: int, active: bool) -> EarningRule:
    """Switch a rule on or off (rules are never deleted: past awards name them)."""
    row = next((r for r in repo.rules(session, program.id) if r.id == rule_id), None)
    if row is None:
        raise NotFound(f"rule {rule_id} not found in {program.code}", code="loyalty_rule_not_found")
    row.active = active
    session.flush()
    return row


def earn_action(
    session: Session,
    program: LoyaltyProgram,
    customer_id: int,
    action: str,
    *,
    key: str,
    ref: str | None = None,
    actor: str = "system",
    now: datetime,
) -> ledger.Outcome:
    """A member did something the program rewards (sign-up, birthday, review, survey answer,
    check-in, referral): the program's rules for that action decide the points under the
    member's lock, with their caps per period and velocity limits counted over the member's
    earlier awards, in the rules' order with "stop further rules"; the points are active at
    once. The answer says what each rule gave and why (``awards``): a capped or too-fast action
    earns 0 and is recorded, so the same key answers the same."""
    if action not in rules.ACTIONS:
        raise InvalidInput(
            f"unknown action {action!r} (known: {', '.join(rules.ACTIONS)})",
            code="loyalty_bad_action",
            data={"allowed": list(rules.ACTIONS)},
        )
    chain = program_rules(session, program)
    watched = [r for r in chain if r.cap is not None or r.velocity is not None]

    when = {"at": now}

    def decide(account: PointsAccount) -> tuple[int, dict[str, Any]]:
        prior = repo.awards(session, [account.id], [r.name for r in watched])
        # Requests that arrive together read the clock before they queue for the member's lock:
        # one that waited is judged just after the latest award, never before it, so its
        # velocity window sees every award made ahead of it.
        mine = prior.filter(pl.col("rule").is_in([r.name for r in watched if r.kind == action]))
        latest = max(mine["at"].to_list(), default=None)
        at = when["at"] = now if latest is None or latest < now else latest + timedelta(microseconds=1)
        usage = _Usage(prior.rows()).of(account.id, at, watched, program.timezone)
        event = rules.Event(kind=action, at=at, shop=None, currency=program.currency, tier=account.tier)
        award = rules.evaluate(chain, event, usage)
        lines = [{"rule": a.rule, "points": a.points, "reason": a.reason} for a in award.lines]
        return award.points, {"action": action, "awards": lines}

    outcome = ledger.earn_decided(session, program, customer_id, key=key, source=action, source_ref=ref,
                                  decide=decide, actor=actor, now=now)  # fmt: skip
    if not outcome.replayed and outcome.result["points"]:
        operation = outcome.result["operation"]
        given = [(a["rule"], a["points"]) for a in outcome.result["awards"]]
        repo.add_awards(session, repo.operation_account(session, operation), operation, given, when["at"])
    return outcome


def refund_key(refund_id: int) -> str:
    return f"refund:{refund_id}"


def claw_back_refunds(
    session: Session, program: LoyaltyProgram, *, now: datetime, page: int = 5_000
) -> Iterator[int]:
    """Take back the points of refunded amounts, a page of refunds at a time (the caller commits
    each; yields the points each took back). Every completed refund (money returned) on an order
    the program credited with points, asked for before ``now`` and not taken into account yet
    (key ``refund:<id>``), brings what was taken back for the order up to its points in
    proportion to what was refunded on it so far, rounded down: a full refund takes them all,
    and a clawback made by hand over the API counts (never twice). Through
    :func:`.ledger.clawback`: locked points first, then what is left, spent ones into a debt or
    written off by the program's rule. A refund on an order not credited yet waits for it;
    requested or approved refunds wait until completed (a rejected one never takes anything)."""
    after = 0
    while True:
        rows = repo.refunds_to_claw(session, program.id, program.shop_id, now, after, page)
        if not rows:
            return
        after, taken = rows[-1][0], 0
        for refund_id, _order, total, refunded, account_id, customer_id, points, order_ref in rows:
            refunded = int(refunded)  # PostgreSQL sums to a numeric
            owed = min(points, points * refunded // total) if total > 0 else points
            due = owed - repo.clawed_back(session, account_id, order_ref)
            if due < 1:
                continue
            try:
                back = ledger.clawback(session, program, customer_id, due, key=refund_key(refund_id),
                                       order_ref=order_ref, actor=ACTOR, now=now)  # fmt: skip
            except Conflict as exc:  # another run answered this refund meanwhile
                if exc.code != "idempotency_key_reused":
                    raise
                continue
            taken += int(back.result.get("clawed") or 0)
        yield taken


@dataclass
class Page:
    """What one page of orders came to."""

    orders: int = 0  # read
    credited: int = 0  # earned points
    points: int = 0
    nothing: int = 0  # evaluated, earned nothing
    before: int = 0  # credited before (skipped)
    # Accounts whose orders were credited, with points or not (their growth value or their
    # spend moved: their tiers may move).
    members: list[int] = field(default_factory=list)


class _Usage:
    """The members' awards of capped or rate-limited rules, kept up to date as orders are
    evaluated in time order (the one-by-one path; :mod:`.batch` counts the same way)."""

    def __init__(self, rows: list[tuple[int, str, int, datetime]]) -> None:
        self.seen: dict[tuple[int, str], list[tuple[datetime, int]]] = defaultdict(list)
        for account, rule, points, at in rows:
            self.seen[account, rule].append((at, points))

    def of(self, account: int, event_at: datetime, watched: list[rules.Rule], tz: str) -> rules.Usage:
        in_period: dict[str, int] = {}
        in_window: dict[str, int] = {}
        for rule in watched:
            history = self.seen.get((account, rule.name), ())
            if rule.cap is not None:
                start = rules.period_start(event_at, rule.cap_period, tz)
                in_period[rule.name] = sum(
                    p for at, p in history if rules.period_start(at, rule.cap_period, tz) == start
                )
            if rule.velocity is not None:
                since = event_at - timedelta(hours=rule.velocity_window_hours)
                in_window[rule.name] = sum(1 for at, p in history if since <= at < event_at and p > 0)
        return rules.Usage(points_in_period=in_period, occurrences_in_window=in_window)

    def add(self, account: int, rule: str, at: datetime, points: int) -> None:
        self.seen[account, rule].append((at, points))


def _one_by_one(
    program_rules: list[rules.Rule],
    watched: list[rules.Rule],
    page: pl.DataFrame,
    lines: pl.DataFrame,
    prior: list[tuple[int, str, int, datetime]],
    timezone: str,
) -> pl.DataFrame:
    """The kernel order by order, for rules :mod:`.batch` does not take (velocity limits on
    spending): the same awards frame."""
    usage = _Usage(prior)
    by_order: dict[int, list[rules.Line]] = defaultdict(list)
    for order_id, sku, category, amount in lines.iter_rows():
        by_order[order_id].append(rules.Line(sku=sku or "", category=category, amount_minor=amount))
    out: list[tuple[int, int, datetime, str, int]] = []
    for order_id, account, shop, currency, placed_at, tier in (
        page.sort("placed_at", "order_id")
        .select("order_id", "account_id", "shop", "currency", "placed_at", "tier")
        .iter_rows()
    ):
        event = rules.Event(kind="order", at=placed_at, shop=shop, currency=currency, tier=tier,
                            lines=tuple(by_order.get(order_id, ())))  # fmt: skip
        award = rules.evaluate(program_rules, event, usage.of(account, placed_at, watched, timezone))
        for line in award.lines:
            if line.points > 0:
                usage.add(account, line.rule, placed_at, line.points)
                out.append((order_id, account, placed_at, line.rule, line.points))
    return pl.DataFrame(
        out,
        schema={"order_id": pl.Int64, "account_id": pl.Int64, "placed_at": pl.Datetime("us", "UTC"),
                "rule": pl.Utf8, "points": pl.Int64},
        orient="row",
    )  # fmt: skip


def earn_orders(
    session: Session,
    program: LoyaltyProgram,
    *,
    now: datetime,
    page: int = 50_000,
    after_id: int = 0,
    placed_from: datetime | None = None,
) -> Iterator[Page]:
    """Credit every order of the program's shop(s) not credited yet and placed before ``now``
    (since ``placed_from`` when given: a replay of history month by month reads each month's
    orders only), a page at a time (the caller may commit after each). Yields what each page
    came to."""
    program_rules = [rule_of(r) for r in repo.rules(session, program.id)]
    codes = commerce.shop_codes(session)
    while True:
        orders, lines = commerce.orders_page(
            session, shop_id=program.shop_id, after_id=after_id, limit=page, placed=(placed_from, now)
        )
        if orders.is_empty():
            return
        after_id = int(orders["order_id"].max())  # type: ignore[arg-type]
        yield _credit(session, program, program_rules, codes, orders, lines, now)


def _credit(
    session: Session,
    program: LoyaltyProgram,
    program_rules: list[rules.Rule],
    codes: Mapping[int, str],
    orders: pl.DataFrame,
    lines: pl.DataFrame,
    now: datetime,
) -> Page:
    summary = Page(orders=orders.height)
    keys = orders.select(key=pl.format("order:{}", "order_id"))["key"]
    done = repo.existing_keys(session, program.id, keys)
    if done:
        orders = orders.filter(~keys.is_in(list(done)))
        summary.before = len(done)
    if orders.is_empty():
        return summary
    accounts = repo.lock_accounts(session, program.id, orders["customer_id"].unique().to_list(), now)
    page = orders.with_columns(
        account_id=pl.col("customer_id").replace_strict(
            {c: a.id for c, a in accounts.items()}, return_dtype=pl.Int64
        ),
        shop=pl.col("shop_id").replace_strict(dict(codes), default=None, return_dtype=pl.Utf8),
        # The member's tier as the page starts (the rules' tier multipliers read it).
        tier=pl.col("customer_id").replace_strict(
            {c: a.tier for c, a in accounts.items()}, return_dtype=pl.Utf8
        ),
    )
    watched = [r for r in program_rules if r.cap is not None or r.velocity is not None]
    prior = repo.awards(session, [a.id for a in accounts.values()], [r.name for r in watched])
    if batch.supported(program_rules):
        awards = batch.evaluate_orders(program_rules, page, lines, prior, program.timezone)
    else:
        awards = _one_by_one(program_rules, watched, page, lines, prior.rows(), program.timezone)
    credited = batch.totals(page, awards)
    summary.credited = int((credited["points"] > 0).sum())
    summary.points = int(credited["points"].sum())
    summary.nothing = credited.height - summary.credited
    summary.members = credited["account_id"].unique().to_list()
    # A member with a debt (new active points repay it) or a program with rolling expiry (every
    # lot of the member moves) goes through the ledger one operation at a time.
    slow = (
        {c for c, a in accounts.items() if a.debt > 0}
        if program.expiry != ExpiryRule.rolling
        else set(accounts)
    )
    one_at_a_time = credited.filter(pl.col("customer_id").is_in(list(slow)) & (pl.col("points") > 0))
    for order_id, external_id, customer_id, placed_at, points in one_at_a_time.select(
        "order_id", "external_id", "customer_id", "placed_at", "points"
    ).iter_rows():
        outcome = ledger.earn(
            session, program, customer_id, points, key=order_key(order_id), source="order",
            source_ref=external_id, lock=True, placed_at=placed_at, actor=ACTOR, now=now,
        )  # fmt: skip
        given = awards.filter(pl.col("order_id") == order_id).select("rule", "points").rows()
        repo.add_awards(session, accounts[customer_id].id, outcome.result["operation"], given, placed_at)
    bulk_rows = credited.filter(~(pl.col("customer_id").is_in(list(slow)) & (pl.col("points") > 0)))
    if bulk_rows.is_empty():
        return summary
    window = timedelta(days=program.lock_days) if program.lock_days > 0 else None
    unlock_at = pl.col("placed_at") + window if window is not None else pl.lit(None, pl.Datetime("us", "UTC"))
    ops = bulk_rows.select(
        "order_id",
        "account_id",
        "points",
        source_ref="external_id",
        key=pl.format("order:{}", "order_id"),
        request_hash=pl.lit(""),  # compared field by field if the key is ever sent again
        unlock_at=pl.when(unlock_at > now).then(unlock_at).otherwise(None),
    )
    kept = awards.filter(pl.col("rule").is_in([r.name for r in watched])).select(
        "order_id", "rule", "points", "placed_at"
    )
    expires = expiry.expires_at(program.expiry, program.expiry_days, now, program.timezone)
    repo.insert_earnings(session, program, ops, kept, expires=expires, now=now, actor=ACTOR)
    return summary
