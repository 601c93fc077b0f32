"""Earning rules: how many points one event earns, and why, rule by rule.

A pure kernel: rules, one event and the member's recent usage in; an ``Award`` out. No storage,
no clock: the caller loads the rules of the program, asks ``period_start`` where each rule's
cap period began, counts what the member already got, and writes the award to the ledger.

Money is integer minor units plus an ISO 4217 code (``12000`` + ``"CNY"`` is 120.00 yuan), and
no float ever touches it.

Rules (``Rule``)
----------------
``kind`` is ``"spend"`` (points per ``per_minor`` minor units paid on an order, 100 by default,
i.e. per currency unit) or an action (``ACTIONS``: points per occurrence). Filters, each one
that is set must hold (they narrow one another, they never widen):

- ``shops``: the event happened in one of these shops (an event without a shop never matches);
- ``currency`` (spend only): the order is in this currency; ``None`` takes every currency;
- ``categories``, ``skus`` (spend only): only order lines in one of these categories *and* (if
  both are set) with one of these SKUs count; a line without a category matches no category.

Evaluation order
----------------
``evaluate`` first checks the rules together (``check_rules``: names are unique, since usage
is keyed by name), then walks them by ``position`` ascending, ties broken by ``name``, so the
result does not depend on the order the rules were given in. Every rule gets exactly one
``AwardLine``, in that order, and the award's points are the sum of its lines. For one rule:

1. the chain was stopped by an earlier rule: ``stopped``;
2. ``active`` is false: ``inactive``; the event is before ``starts``: ``not_started``; at or
   after ``ends``: ``ended`` (a rule is in effect for ``starts <= at < ends``);
3. an action rule whose kind is not the event's, a spend rule on an event that is not an
   ``"order"``, the shop or currency filter fails, or no order line passes the line filters:
   ``not_applicable``;
4. the base: for spend, ``floor(eligible_minor * points / per_minor)`` in integers, where
   ``eligible_minor`` sums the matching lines and a refunded or negative line counts as 0; for
   an action, ``points``. The tier multiplier (``tier_multipliers[event.tier]``, 1 when the tier
   is not listed) is applied next, rounding down, exactly: the float is read as the decimal it
   was written as (``1.1`` is 11/10, so 100 points become 110, not 110.00000000000001 or 109);
5. nothing to give (the base or the multiplied points are 0): ``no_points``;
6. ``velocity`` is set and the rule already gave points ``velocity`` times in the window:
   ``velocity``, 0 points;
7. ``cap`` is set: the member may get ``cap - points_in_period`` more from this rule (never
   below 0). Nothing left: ``cap_reached``, 0 points; less left than earned: ``capped``, the
   points left; otherwise ``awarded``. ``AwardLine.capped`` is true exactly when the cap cut
   the points (``capped`` and ``cap_reached``).

A rule that is not evaluated (1 to 3) has ``base`` 0 and ``multiplier`` 1.0 on its line.

Stopping further rules
----------------------
A rule with ``stop=True`` that **gives points** (its line has more than 0 points, reason
``awarded`` or ``capped``) ends the chain: every later rule gets a ``stopped`` line with 0
points. A stop rule that gives nothing does **not** stop the chain, whatever the reason: not in
effect, not applicable, ``no_points``, blocked by its velocity limit (``velocity``) or by its
cap (``cap_reached``). So "double points on tea, instead of the standard rate" is a stop rule
at a lower position than the standard rule; once its monthly cap is used up, the standard rule
earns again.

What the caller supplies (``Usage``)
------------------------------------
Both mappings are keyed by rule name; a missing name means 0.

- ``points_in_period``: the points this rule gave the member since ``period_start(event.at,
  rule.cap_period, program_timezone)`` (since the beginning for ``"ever"``, where that is
  ``None``), before this event. Periods are local calendar periods in the program's time zone:
  a day starts at local midnight, a week on Monday, a month on the 1st, a year on 1 January.
- ``occurrences_in_window``: the events on which this rule gave points (more than 0) in the
  ``velocity_window_hours`` hours before the event, ``[at - hours, at)``, a rolling window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ACTIONS = ("signup", "birthday", "review", "survey", "checkin", "referral")
RULE_KINDS = ("spend", *ACTIONS)
EVENT_KINDS = ("order", *ACTIONS)
PERIODS = ("day", "week", "month", "year", "ever")
REASONS = (
    "awarded",  # the rule gave all it earned
    "capped",  # the rule gave part of it, up to its cap
    "cap_reached",  # the cap was already used up: nothing
    "velocity",  # the rule gave points too often in its window: nothing
    "no_points",  # the rule applies but earns 0 (amount too small, refunded lines, multiplier 0)
    "not_applicable",  # another kind of event, another shop or currency, no matching line
    "stopped",  # an earlier stop rule gave points
    "inactive",  # switched off
    "not_started",  # before the rule's start
    "ended",  # at or after the rule's end
)


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a time-zone-aware datetime (UTC), got {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class Line:
    """One order line: what was paid for it, in minor units (refunds may make it negative)."""

    sku: str
    category: str | None
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Event:
    """Something a member did: an ``"order"`` (with its lines) or one of ``ACTIONS``."""

    kind: str
    at: datetime
    shop: str | None
    currency: str
    lines: tuple[Line, ...] = ()
    tier: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r} (known: {', '.join(EVENT_KINDS)})")
        _aware(self.at, "the event time")


@dataclass(frozen=True, slots=True)
class Rule:
    """One earning rule of a program (see the module docstring for what each field does)."""

    name: str
    kind: str
    points: int
    per_minor: int = 100
    currency: str | None = None
    shops: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    tier_multipliers: Mapping[str, float] = field(default_factory=dict, hash=False)
    cap: int | None = None
    cap_period: str = "month"
    velocity: int | None = None
    velocity_window_hours: int = 24
    stop: bool = False
    position: int = 0
    active: bool = True
    starts: datetime | None = None
    ends: datetime | None = None

    def __post_init__(self) -> None:
        label = f"rule {self.name!r}"
        if not self.name:
            raise ValueError("a rule needs a name")
        if self.kind not in RULE_KINDS:
            raise ValueError(f"{label}: unknown kind {self.kind!r} (known: {', '.join(RULE_KINDS)})")
        if self.cap_period not in PERIODS:
            raise ValueError(f"{label}: unknown cap period {self.cap_period!r} (known: {', '.join(PERIODS)})")
        if self.points < 0:
            raise ValueError(f"{label}: points must not be negative, got {self.points}")
        if self.per_minor < 1:
            raise ValueError(f"{label}: per_minor must be at least 1, got {self.per_minor}")
        if self.kind != "spend":
            for name in ("currency", "categories", "skus"):
                if getattr(self, name):
                    raise ValueError(f"{label}: {name} only applies to spend rules, not to {self.kind!r}")
        if self.cap is not None and self.cap < 0:
            raise ValueError(f"{label}: the cap must not be negative, got {self.cap}")
        if self.velocity is not None and self.velocity < 0:
            raise ValueError(f"{label}: the velocity limit must not be negative, got {self.velocity}")
        if self.velocity_window_hours < 1:
            raise ValueError(
                f"{label}: the velocity window must be at least 1 hour, got {self.velocity_window_hours}"
            )
        multipliers = dict(self.tier_multipliers)
        for tier, value in multipliers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{label}: the multiplier for tier {tier!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{label}: the multiplier for tier {tier!r} must be 0 or more, got {value}")
        # A private read-only copy: the caller's dict can change, the rule cannot.
        object.__setattr__(self, "tier_multipliers", MappingProxyType(multipliers))
        for name in ("starts", "ends"):
            value = getattr(self, name)
            if value is not None:
                _aware(value, f"{label}: {name}")
        if self.starts is not None and self.ends is not None and self.starts >= self.ends:
            raise ValueError(f"{label}: starts ({self.starts.isoformat()}) must be before ends")


@dataclass(frozen=True, slots=True)
class Usage:
    """What the member already got, per rule name, as of the event (see the module docstring)."""

    points_in_period: Mapping[str, int] = field(default_factory=dict, hash=False)
    occurrences_in_window: Mapping[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for what, counts in (
            ("points in period", self.points_in_period),
            ("occurrences in window", self.occurrences_in_window),
        ):
            for name, count in counts.items():
                if count < 0:
                    raise ValueError(f"usage of rule {name!r}: {what} must not be negative, got {count}")


@dataclass(frozen=True, slots=True)
class AwardLine:
    """What one rule did: ``base`` before the tier ``multiplier``, ``points`` after it and the cap."""

    rule: str
    points: int
    base: int
    multiplier: float
    capped: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Award:
    """The points an event earns: the sum of the lines, one line per rule in evaluation order."""

    points: int
    lines: tuple[AwardLine, ...]


def check_rules(rules: Sequence[Rule]) -> None:
    """Rules that belong together: names must be unique (usage and breakdown are keyed by name)."""
    duplicates = sorted(name for name, n in Counter(rule.name for rule in rules).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate rule names: {', '.join(repr(name) for name in duplicates)}")


def period_start(at: datetime, period: str, timezone: str) -> datetime | None:
    """Where the cap period holding ``at`` began, in UTC; ``None`` for ``"ever"``.

    Local calendar periods in ``timezone``: a day at local midnight, a week on Monday, a month on
    the 1st, a year on 1 January. In a DST zone this is still local midnight (ZoneInfo's first
    reading of it, the start of the day even where clocks change at midnight).
    """
    if period not in PERIODS:
        raise ValueError(f"unknown cap period {period!r} (known: {', '.join(PERIODS)})")
    _aware(at, "the time")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc
    if period == "ever":
        return None
    day = at.astimezone(zone).date()
    if period == "week":
        day = date.fromordinal(day.toordinal() - day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    elif period == "year":
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _order(rule: Rule) -> tuple[int, str]:
    return rule.position, rule.name


def _line(rule: Rule, reason: str) -> AwardLine:
    return AwardLine(rule=rule.name, points=0, base=0, multiplier=1.0, capped=False, reason=reason)


def _not_in_effect(rule: Rule, at: datetime) -> str | None:
    if not rule.active:
        return "inactive"
    if rule.starts is not None and at < rule.starts:
        return "not_started"
    if rule.ends is not None and at >= rule.ends:
        return "ended"
    return None


def _line_counts(rule: Rule, line: Line) -> bool:
    if rule.categories and line.category not in rule.categories:
        return False
    return not (rule.skus and line.sku not in rule.skus)


def _base(rule: Rule, event: Event) -> int | None:
    """Points before the multiplier, or ``None`` when the rule does not apply to the event."""
    if rule.shops and event.shop not in rule.shops:
        return None
    if rule.kind != "spend":
        return rule.points if event.kind == rule.kind else None
    if event.kind != "order" or (rule.currency is not None and event.currency != rule.currency):
        return None
    matching = [line for line in event.lines if _line_counts(rule, line)]
    if not matching:
        return None
    eligible = sum(max(line.amount_minor, 0) for line in matching)
    return eligible * rule.points // rule.per_minor


def _evaluate_one(rule: Rule, event: Event, usage: Usage) -> AwardLine:
    reason = _not_in_effect(rule, event.at)
    if reason is not None:
        return _line(rule, reason)
    base = _base(rule, event)
    if base is None:
        return _line(rule, "not_applicable")
    multiplier = rule.tier_multipliers.get(event.tier, 1.0) if event.tier is not None else 1.0
    earned = math.floor(base * Fraction(str(multiplier)))  # the decimal as written: 1.1 is 11/10
    points, capped, reason = earned, False, "awarded"
    if earned == 0:
        reason = "no_points"
    elif rule.velocity is not None and usage.occurrences_in_window.get(rule.name, 0) >= rule.velocity:
        points, reason = 0, "velocity"
    elif rule.cap is not None:
        left = max(rule.cap - usage.points_in_period.get(rule.name, 0), 0)
        if left == 0:
            points, capped, reason = 0, True, "cap_reached"
        elif earned > left:
            points, capped, reason = left, True, "capped"
    return AwardLine(rule.name, points, base, float(multiplier), capped, reason)


def evaluate(rules: Sequence[Rule], event: Event, usage: Usage) -> Award:
    """The points ``event`` earns under ``rules``, with one breakdown line per rule.

    Raises ``ValueError`` for duplicate rule names; see the module docstring for the order.
    """
    check_rules(rules)
    lines: list[AwardLine] = []
    stopped = False
    for rule in sorted(rules, key=_order):
        line = _line(rule, "stopped") if stopped else _evaluate_one(rule, event, usage)
        lines.append(line)
        if rule.stop and line.points > 0:
            stopped = True
    return Award(points=sum(line.points for line in lines), lines=tuple(lines))
