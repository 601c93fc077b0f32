"""The analytics page's slicer and its drill-down into the customer list.

A drill-down is a set of query parameters on ``/customers`` (``segment=``, ``tier=``,
``state=``, ``r=``/``f=``, ``dim=`` with ``moved_from=``/``moved_to=``, ``clv_min=``/``clv_max=``,
``cohort=``/``age=``), so every link can be bookmarked and shared; the scoring reports turn them
into the ids the list filters on, and the list shows them as one removable chip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from patron.analytics.explain import label as score_label
from patron.core.errors import InvalidInput
from patron.core.money import format_minor
from patron.models import Shop
from patron.scoring import reports
from patron.web.i18n import label, translate

DRILL_PARAMS = (
    "segment",
    "tier",
    "state",
    "r",
    "f",
    "dim",
    "moved_from",
    "moved_to",
    "clv_min",
    "clv_max",
    "cohort",
    "age",
    "bought_from",
    "bought_to",
    "shop",
    "repeat",
)
_NUMBERS = frozenset({"r", "f", "clv_min", "clv_max", "age"})
_DAYS = frozenset({"bought_from", "bought_to"})
_KEYS = frozenset({"segment", "tier", "state", "moved_from", "moved_to"})


def parse_slice(value: str | None) -> tuple[str | None, str | None]:
    """``"shop:site"`` -> ``("shop", "site")``; nothing -> the whole shop."""
    if not value:
        return None, None
    by, sep, choice = value.partition(":")
    if not sep or not choice:
        raise InvalidInput(f"bad slice {value!r}: use dimension:value, e.g. shop:site", code="unknown_slice")
    reports.check_slice(by, choice)
    return by, choice


def slicer(
    values: Mapping[str, list[str]], shops: list[Shop], lang: str
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The slicer's option groups: (dimension label, [(``by:value``, value label)])."""
    names = {s.code: (s.name_zh if lang == "zh" and s.name_zh else s.name) for s in shops}
    labels: dict[str, Callable[[str], str]] = {
        "shop": lambda v: names.get(v, v),
        "channel": lambda v: label("channel", v, lang),
        "category": lambda v: v,
        "segment": lambda v: score_label(v, lang),
    }
    return [
        (translate(f"slice.{by}", lang), [(f"{by}:{v}", labels[by](v)) for v in values.get(by, [])])
        for by in reports.SLICES
        if values.get(by)
    ]


def drill_link(**params: object) -> str:
    """The customer list behind a number: ``drill_link(segment="loyal")``; a missing segment or
    tier (None) is spelled ``none``."""
    query = {k: reports.NONE if v is None and k in _KEYS else v for k, v in params.items()}
    return "/customers?" + urlencode({k: str(v) for k, v in query.items() if v is not None})


def parse_drill(params: Mapping[str, str]) -> reports.Drill:
    """The drill-down in a query string (InvalidInput on a value that is not a number or date)."""
    values: dict[str, Any] = {}
    for name in DRILL_PARAMS:
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        try:
            if name in _NUMBERS:
                values[name] = int(raw)
            elif name == "cohort":
                values[name] = date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01")
            elif name in _DAYS:
                values[name] = date.fromisoformat(raw)
            elif name == "repeat":
                values[name] = raw in ("1", "true", "yes")
            else:
                values[name] = raw
        except ValueError:
            kind = {"cohort": "a month (YYYY-MM)", "bought_from": "a day", "bought_to": "a day"}.get(
                name, "a whole number"
            )
            raise InvalidInput(
                f"bad drill-down: {name} must be {kind}, not {raw!r}", code="bad_drill_down"
            ) from None
    return reports.Drill(**values)


def without_drill(params: Mapping[str, str]) -> str:
    """The customer list with the other filters kept and the drill-down removed."""
    kept = {k: v for k, v in params.items() if k not in DRILL_PARAMS and k != "page"}
    return "/customers" + (f"?{urlencode(kept)}" if kept else "")


def chip(drill: reports.Drill, lang: str, currency: str) -> str:
    """The drill-down in words: "Segment: Loyal · R 5 · F 3"."""

    def name(value: str | None) -> str:
        return translate("an.no_value", lang) if value in (None, reports.NONE) else score_label(value, lang)

    def money(minor: int) -> str:
        return f"{format_minor(minor, currency)} {currency}"

    parts = []
    for key in ("segment", "tier", "state"):
        value = getattr(drill, key)
        if value is not None:
            parts.append(translate(f"drill.{key}", lang, value=name(value)))
    for key in ("r", "f"):
        value = getattr(drill, key)
        if value is not None:
            parts.append(f"{key.upper()} {value}")
    if drill.moved_from is not None or drill.moved_to is not None:
        parts.append(
            translate(
                f"drill.moved_{drill.dim}" if drill.dim in ("segment", "tier") else "drill.moved_segment",
                lang,
                before=name(drill.moved_from) if drill.moved_from is not None else "…",
                after=name(drill.moved_to) if drill.moved_to is not None else "…",
            )
        )
    if drill.clv_min is not None or drill.clv_max is not None:
        low = money(drill.clv_min) if drill.clv_min is not None else "…"
        high = money(drill.clv_max) if drill.clv_max is not None else "…"
        parts.append(translate("drill.clv", lang, low=low, high=high))
    if drill.bought_from is not None and drill.bought_to is not None:
        key = "drill.bought_repeat" if drill.repeat else "drill.bought"
        parts.append(
            translate(key, lang, start=drill.bought_from.isoformat(), end=drill.bought_to.isoformat())
        )
        if drill.shop is not None:
            parts.append(translate("drill.shop", lang, value=drill.shop))
    if drill.cohort is not None:
        month = drill.cohort.strftime("%Y-%m")
        parts.append(
            translate("drill.cohort", lang, month=month)
            if drill.age is None
            else translate("drill.cohort_age", lang, month=month, age=drill.age)
        )
    return " · ".join(parts)
