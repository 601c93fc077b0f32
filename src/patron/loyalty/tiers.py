"""Membership tiers (会员等级) with retention (保级): upgrades at once, downgrades only at a review.

A pure kernel: the program's ``Policy``, a member's ``Standing`` and their qualifying value in;
a ``Decision`` (the new standing and why) out. No storage, no clock: the caller says what time
it is, saves ``decision.standing`` and records the move.

The qualifying value
--------------------
One non-negative integer per member, the same kind for every tier of a program: the growth value
(成长值, points earned in the qualification window, never reduced by spending) or the rolling
12-month spend in minor units. The kernel does not care which; the caller computes it as of the
decision time. A negative value (net refunds) is refused: clamp it to 0 first.

Tiers (``Tier``) and the policy (``Policy``)
--------------------------------------------
Tiers are ordered by ``rank``. A value *qualifies* for a tier when ``value >= threshold`` and
*retains* it when ``value >= retain`` (``retain=None`` means the threshold itself; a lower
retain is the usual 保级 discount, e.g. gold is reached at 5,000 and kept with 4,000). The
policy checks the tiers together: codes and ranks are unique, exactly one tier has threshold 0
and it is the lowest (the default tier every member has at least), thresholds rise strictly
with rank, and every ``retain`` lies in ``[0, threshold]`` (so the lowest tier is always
retained). Retain levels need not rise with rank. The policy keeps its tiers sorted by rank,
lowest first.

Review dates
------------
All calendar arithmetic is local to ``Policy.timezone``; every datetime the kernel returns is
in UTC, and every datetime it takes must be time-zone aware.

- ``"anniversary"``: the reviews of a member fall every ``review_months`` after ``since`` (when
  they entered their current tier), at the same local wall-clock time: the n-th review is
  ``since + n * review_months`` months with the day clamped to the end of a shorter month, always
  counted from ``since`` so the day does not drift (31 January, monthly: 28 February, 31 March,
  30 April; 29 February, yearly: 28 February, 28 February, 28 February, 29 February 2028). A
  wall time that a DST change skips or repeats reads as before the change (``fold=0``).
- ``"fixed"``: one date for everyone, ``review_month``/``review_day`` (29 February is refused:
  use 28 February or 1 March), at local midnight, i.e. the start of that local day.

``next_review(policy, since, after)`` is the first review strictly after ``after``: for an
anniversary, the first ``since + n * review_months`` (n >= 1) after it; for a fixed date, local
midnight of the first review date after the local date of ``after``. A member who joins on
31 December under a 1 January policy is therefore reviewed the next day.

Decisions
---------
``on_value(policy, standing, value, at)`` (a new value, e.g. after an order): a new member
(``standing=None``) gets the highest tier the value qualifies for: ``joined``. A member whose
value qualifies for a tier ranked above their current one moves to the highest such tier at
once, skipping ranks if needed, with ``since=at``, ``review_at=next_review(at, at)`` and no
grace: ``upgraded``. Anything else is ``unchanged``: ``on_value`` never moves a member down and
never reviews, even when the review is overdue.

``review(policy, standing, value, at)`` (run by the caller for due members, e.g. nightly). It is
due when ``at >= standing.due_at`` (``grace_until`` during a grace, ``review_at`` otherwise;
``is_due`` says so); before that it returns ``not_due`` with the standing untouched. When due,
in this order:

1. the value qualifies for a higher tier: ``upgraded``, as in ``on_value``;
2. the value retains the current tier: ``retained``, same tier and ``since``, grace cleared,
   ``review_at = next_review(since, at)``;
3. ``grace_days > 0``, the member is not in a grace already, and the grace would still run at
   ``at``: ``grace``, same tier, ``review_at`` kept and ``grace_until`` = local midnight
   ``grace_days`` local days after the local date of ``review_at``; the member is reviewed
   again then, with no second grace. A review run so late that this moment has passed
   (``grace_until <= at``) skips the grace, which has already elapsed, and goes on to 4;
4. ``downgraded``: to the highest tier ranked below the current one whose ``retain`` the value
   meets (a gold member below gold's retain but at or above silver's lands in silver, even
   under silver's threshold), at worst the lowest tier; ``since=at``, ``review_at =
   next_review(at, at)``, no grace.

A decision must not be earlier than ``standing.since`` (decisions are made in time order).

``Decision.changed`` is true exactly when the tier changed (``joined``, ``upgraded``,
``downgraded``). The standing can change without the tier (``retained`` moves the review date,
``grace`` sets ``grace_until``), so save ``decision.standing`` whenever it differs from the old
one; ``not_due`` and ``unchanged`` return the very same standing.

Progress (``progress``)
-----------------------
For a progress bar: the tier ranked directly above the current one (``None`` at the top) and
``to_next = max(next.threshold - value, 0)``; ``fraction = min(value / next.threshold, 1)``
(the bar reads "3,200 of 5,000"), 1.0 at the top; ``to_retain = max(retain - value, 0)``, what
is still needed to keep the current tier at ``due_at``, the next review (or the end of the
grace). None of these numbers is ever negative.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REVIEWS = ("anniversary", "fixed")
REASONS = (
    "joined",  # a new member got their first tier
    "upgraded",  # the value qualifies for a higher tier: moved up at once
    "retained",  # 保级: at the review the value meets the tier's retain level, tier kept
    "grace",  # at the review the value fell short: tier kept until the end of the grace
    "downgraded",  # at the review (or the end of the grace) the value fell short: moved down
    "not_due",  # review asked before the review date (or the end of the grace): nothing done
    "unchanged",  # a new value that qualifies for no higher tier: nothing done
)


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a time-zone-aware datetime, got {value.isoformat()}")


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return value


def _value(value: int) -> int:
    _integer(value, "the qualifying value")
    if value < 0:
        raise ValueError(f"the qualifying value must not be negative, got {value} (clamp net refunds to 0)")
    return value


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: qualify with ``value >= threshold``, keep it at a review with ``value >= retain``."""

    code: str
    name_en: str
    name_zh: str
    rank: int
    threshold: int
    retain: int | None = None
    benefits: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("a tier needs a code")
        label = f"tier {self.code!r}"
        _integer(self.rank, f"{label}: the rank")
        if _integer(self.threshold, f"{label}: the threshold") < 0:
            raise ValueError(f"{label}: the threshold must not be negative, got {self.threshold}")
        if self.retain is not None:
            _integer(self.retain, f"{label}: the retain level")
            if not 0 <= self.retain <= self.threshold:
                raise ValueError(
                    f"{label}: the retain level must be between 0 and the threshold {self.threshold}, "
                    f"got {self.retain}"
                )
        benefits = dict(self.benefits)
        for key in benefits:
            if not isinstance(key, str) or not key:
                raise ValueError(f"{label}: benefit names must be non-empty strings, got {key!r}")
        # A private read-only copy: the caller's dict can change, the tier cannot.
        object.__setattr__(self, "benefits", MappingProxyType(benefits))

    @property
    def retain_level(self) -> int:
        """The value that keeps this tier at a review: ``retain``, or the threshold when unset."""
        return self.threshold if self.retain is None else self.retain


@dataclass(frozen=True, slots=True)
class Policy:
    """A program's tiers and review schedule (see the module docstring)."""

    tiers: tuple[Tier, ...]
    review: str
    review_months: int = 12
    review_month: int = 1
    review_day: int = 1
    grace_days: int = 0
    timezone: str = field(kw_only=True)  # required: a silent UTC default would misplace every midnight

    def __post_init__(self) -> None:
        tiers = tuple(sorted(self.tiers, key=lambda tier: tier.rank))
        if not tiers:
            raise ValueError("a policy needs at least one tier")
        for what, keys in (("codes", [t.code for t in tiers]), ("ranks", [t.rank for t in tiers])):
            duplicates = sorted(str(key) for key, n in Counter(keys).items() if n > 1)
            if duplicates:
                raise ValueError(f"duplicate tier {what}: {', '.join(duplicates)}")
        zero = [tier.code for tier in tiers if tier.threshold == 0]
        if len(zero) != 1:
            found = ", ".join(zero) if zero else "none"
            raise ValueError(f"exactly one tier must have threshold 0 (the default tier), found: {found}")
        for lower, higher in pairwise(tiers):
            if higher.threshold <= lower.threshold:
                raise ValueError(
                    f"thresholds must rise strictly with rank: tier {higher.code!r} (rank {higher.rank}) "
                    f"has {higher.threshold}, not above {lower.threshold} of tier {lower.code!r} "
                    f"(rank {lower.rank})"
                )
        object.__setattr__(self, "tiers", tiers)
        if self.review not in REVIEWS:
            raise ValueError(f"unknown review kind {self.review!r} (known: {', '.join(REVIEWS)})")
        if _integer(self.review_months, "review_months") < 1:
            raise ValueError(f"review_months must be at least 1, got {self.review_months}")
        if not 1 <= _integer(self.review_month, "review_month") <= 12:
            raise ValueError(f"review_month must be between 1 and 12, got {self.review_month}")
        last = calendar.monthrange(2001, self.review_month)[1]  # a common year: 29 February is refused
        if not 1 <= _integer(self.review_day, "review_day") <= last:
            raise ValueError(
                f"review_day must be between 1 and {last} in month {self.review_month}, got {self.review_day}"
                + (" (29 February is not in every year: use 28 February or 1 March)" if last == 28 else "")
            )
        if _integer(self.grace_days, "grace_days") < 0:
            raise ValueError(f"grace_days must not be negative, got {self.grace_days}")
        _zone(self.timezone)

    @property
    def lowest(self) -> Tier:
        """The default tier, threshold 0."""
        return self.tiers[0]

    def tier(self, code: str) -> Tier:
        """The tier with this code; ``ValueError`` when the policy has none."""
        for tier in self.tiers:
            if tier.code == code:
                return tier
        raise ValueError(f"unknown tier {code!r} (known: {', '.join(t.code for t in self.tiers)})")


@dataclass(frozen=True, slots=True)
class Standing:
    """A member's state: their tier, since when, the next review and the end of a running grace."""

    tier: str
    since: datetime
    review_at: datetime
    grace_until: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.since, "since")
        _aware(self.review_at, "review_at")
        object.__setattr__(self, "since", self.since.astimezone(UTC))
        object.__setattr__(self, "review_at", self.review_at.astimezone(UTC))
        if self.review_at <= self.since:
            raise ValueError(
                f"review_at ({self.review_at.isoformat()}) must be after since ({self.since.isoformat()})"
            )
        if self.grace_until is not None:
            _aware(self.grace_until, "grace_until")
            object.__setattr__(self, "grace_until", self.grace_until.astimezone(UTC))
            if self.grace_until <= self.review_at:
                raise ValueError(
                    f"grace_until ({self.grace_until.isoformat()}) must be after review_at "
                    f"({self.review_at.isoformat()})"
                )

    @property
    def due_at(self) -> datetime:
        """When the next review is due: the end of the grace during one, ``review_at`` otherwise."""
        return self.review_at if self.grace_until is None else self.grace_until


@dataclass(frozen=True, slots=True)
class Decision:
    """The member's new standing, the move (``changed``: the tier changed) and one of ``REASONS``."""

    standing: Standing
    changed: bool
    from_tier: str | None
    to_tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class Progress:
    """What a progress bar shows (see the module docstring); no number is ever negative."""

    tier: str
    value: int
    next_tier: str | None
    to_next: int | None
    fraction: float
    retain: int
    to_retain: int
    due_at: datetime


def _add_months(local: datetime, months: int) -> datetime:
    """The same local wall time ``months`` later, the day clamped to the end of a shorter month."""
    year, month0 = divmod(local.year * 12 + local.month - 1 + months, 12)
    day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
    return local.replace(year=year, month=month0 + 1, day=day, fold=0)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of ``day`` in ``zone``, in UTC (``fold=0``: the first instant, even at a DST change)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def next_review(policy: Policy, since: datetime, after: datetime) -> datetime:
    """The first review strictly after ``after`` for a member in their tier since ``since``, in UTC."""
    _aware(since, "since")
    _aware(after, "the time")
    zone = _zone(policy.timezone)
    if policy.review == "fixed":
        today = after.astimezone(zone).date()
        day = date(today.year, policy.review_month, policy.review_day)
        if day <= today:
            day = day.replace(year=today.year + 1)
        return _midnight(day, zone)
    start, now = since.astimezone(zone), after.astimezone(zone)
    elapsed = (now.year - start.year) * 12 + now.month - start.month
    # Periods ending in a month before ``after``'s cannot be after it: start from the last of those.
    n = max(1, elapsed // policy.review_months)
    while True:
        candidate = _add_months(start, n * policy.review_months).astimezone(UTC)
        if candidate > after:
            return candidate
        n += 1


def qualifying_tier(policy: Policy, value: int) -> Tier:
    """The highest tier whose threshold ``value`` reaches (the lowest tier at worst)."""
    _value(value)
    return [tier for tier in policy.tiers if value >= tier.threshold][-1]


def is_due(standing: Standing, at: datetime) -> bool:
    """Whether ``review`` would act at ``at``: ``at >= standing.due_at``."""
    _aware(at, "the time")
    return at >= standing.due_at


def _check(policy: Policy, standing: Standing, at: datetime) -> Tier:
    _aware(at, "the time")
    current = policy.tier(standing.tier)
    if at < standing.since:
        raise ValueError(
            f"the time {at.isoformat()} is before the member's standing since {standing.since.isoformat()}: "
            "decisions must be made in time order"
        )
    return current


def _enter(policy: Policy, tier: Tier, at: datetime) -> Standing:
    return Standing(tier.code, at.astimezone(UTC), next_review(policy, at, at))


def on_value(policy: Policy, standing: Standing | None, value: int, at: datetime) -> Decision:
    """A new qualifying value: join, or move up at once to the highest tier qualified; never down."""
    qualified = qualifying_tier(policy, value)
    if standing is None:
        _aware(at, "the time")
        return Decision(_enter(policy, qualified, at), True, None, qualified.code, "joined")
    current = _check(policy, standing, at)
    if qualified.rank > current.rank:
        return Decision(_enter(policy, qualified, at), True, current.code, qualified.code, "upgraded")
    return Decision(standing, False, current.code, current.code, "unchanged")


def review(policy: Policy, standing: Standing, value: int, at: datetime) -> Decision:
    """The review at or after ``standing.due_at``: upgrade, retain, grace or downgrade (in that order)."""
    _value(value)
    current = _check(policy, standing, at)
    if at < standing.due_at:
        return Decision(standing, False, current.code, current.code, "not_due")
    qualified = qualifying_tier(policy, value)
    if qualified.rank > current.rank:
        return Decision(_enter(policy, qualified, at), True, current.code, qualified.code, "upgraded")
    if value >= current.retain_level:
        kept = Standing(current.code, standing.since, next_review(policy, standing.since, at))
        return Decision(kept, False, current.code, current.code, "retained")
    if policy.grace_days > 0 and standing.grace_until is None:
        zone = _zone(policy.timezone)
        last = standing.review_at.astimezone(zone).date() + timedelta(days=policy.grace_days)
        grace_until = _midnight(last, zone)
        if grace_until > at:
            graced = Standing(current.code, standing.since, standing.review_at, grace_until)
            return Decision(graced, False, current.code, current.code, "grace")
    lower = [tier for tier in policy.tiers if tier.rank < current.rank and value >= tier.retain_level]
    target = lower[-1] if lower else policy.lowest
    return Decision(_enter(policy, target, at), True, current.code, target.code, "downgraded")


def progress(policy: Policy, standing: Standing, value: int) -> Progress:
    """How far the member is from the next tier and from keeping the current one."""
    _value(value)
    current = policy.tier(standing.tier)
    above = [tier for tier in policy.tiers if tier.rank > current.rank]
    to_retain = max(current.retain_level - value, 0)
    if not above:
        return Progress(
            current.code, value, None, None, 1.0, current.retain_level, to_retain, standing.due_at
        )
    following = above[0]
    fraction = min(value / following.threshold, 1.0)
    to_next = max(following.threshold - value, 0)
    return Progress(
        current.code,
        value,
        following.code,
        to_next,
        fraction,
        current.retain_level,
        to_retain,
        standing.due_at,
    )
