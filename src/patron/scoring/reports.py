"""The read side of the analytics: the blocks of the analytics page and ``/api/v1/analytics``.

Kept apart from :mod:`patron.scoring.service` (the scoring run, which writes) so the page, the
API and the CLI read the same figures from one place. Score blocks describe the latest completed
run (and the one before, for movements); order blocks (KPI cards, monthly trends, cohorts) are
computed by the pure kernels of :mod:`patron.analytics.kpis` from the purchases up to that run's
as-of date. Every number can be drilled into: :func:`drill_down` turns a :class:`Drill` into the
query of the customer ids behind it, which the customer list filters on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import polars as pl
from sqlalchemy import Select
from sqlalchemy.orm import Session

from patron.analytics import kpis
from patron.analytics.explain import explain
from patron.commerce import service as commerce
from patron.core.errors import InvalidInput, NotFound
from patron.core.time import utcnow
from patron.models import CustomerScore, ScoreRun
from patron.scoring import repository as repo
from patron.scoring.service import PURCHASE_HORIZON_DAYS, in_currency, purchases_until

#: What the KPIs can be sliced by: the order's shop, its shop's platform (the sales channel),
#: the top-level category of its lines, the customer's segment in the latest run.
SLICES = ("shop", "channel", "category", "segment")
#: Score columns whose sizes and movements are reported.
GROUPS = ("segment", "tier", "state")
#: A drill-down value matching customers without a segment or tier (prospects).
NONE = "none"
TREND_MONTHS = 12
COHORT_MONTHS = 12
CLV_BANDS = 10
_TIER_ORDER = {"high_value": 0, "potential": 1, "general": 2, "low_value": 3}
EMPTY_CARD: dict[str, Any] = {
    "orders": 0,
    "revenue_minor": 0,
    "aov_minor": None,
    "frequency": None,
    "repurchase_rate": None,
}


def _end(as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)


def _month(day: date, shift: int = 0) -> date:
    """The first day of ``day``'s month moved by ``shift`` months."""
    year, month = divmod(day.year * 12 + day.month - 1 + shift, 12)
    return date(year, month + 1, 1)


def latest(session: Session) -> tuple[ScoreRun, ScoreRun | None]:
    """The latest completed run and the one before it (movements are between these two)."""
    runs = repo.latest_completed_runs(session, 2)
    if not runs:
        raise NotFound("no completed scoring run yet: run patron analyze", code="no_score_run")
    return runs[0], runs[1] if len(runs) > 1 else None


def _as_of(session: Session, as_of: date | None) -> date:
    """Order blocks default to the latest run's date, so they describe the same moment as the
    scores next to them; before any run, to today (UTC)."""
    if as_of is not None:
        return as_of
    runs = repo.latest_completed_runs(session, 1)
    return runs[0].as_of if runs else utcnow().date()


# -- orders: KPI cards, monthly trends, cohorts ------------------------------------------------


def check_slice(by: str | None, value: str | None = None) -> None:
    """Refuse an unknown slice with the choices (the page, the API and the CLI say the same)."""
    if by is not None and by not in SLICES:
        raise InvalidInput(
            f"unknown slice {by!r}: use one of {', '.join(SLICES)}", code="unknown_slice", data={"by": by}
        )
    if value is not None and by is None:
        raise InvalidInput("a slice value needs a slice dimension (by)", code="unknown_slice")


def _orders(session: Session, as_of: date, currency: str, by: str | None = None) -> pl.DataFrame:
    """customer_id, at, amount (minor units of ``currency``), slice: the purchases up to the end
    of ``as_of``; those in a currency without a rate are left out (their value is unknown)."""
    if by is None:
        frame = purchases_until(session, as_of, currency).with_columns(pl.lit(None, pl.Utf8).alias("slice"))
    else:
        runs = repo.latest_completed_runs(session, 1)
        raw = repo.sliced_purchases(session, _end(as_of), by, runs[0].id if runs else None)
        frame = in_currency(session, raw, currency, "slice")
    return frame.filter(pl.col("amount").is_not_null())


def _cards(orders: pl.DataFrame, as_of: date) -> dict[str | None, dict[str, dict[str, Any]]]:
    """Per slice: the KPI cards of the 12 months to the as-of date and of the 12 months before."""
    end = as_of + timedelta(days=1)
    out: dict[str | None, dict[str, dict[str, Any]]] = {}
    for name, start, stop in (
        ("current", end - timedelta(days=365), end),
        ("previous", end - timedelta(days=730), end - timedelta(days=365)),
    ):
        a, f, r = (
            {row["slice"]: row for row in frame.iter_rows(named=True)}
            for frame in (
                kpis.aov(orders, start, stop, ["slice"]),
                kpis.purchase_frequency(orders, start, stop, ["slice"]),
                kpis.repurchase_rate(orders, start, stop, ["slice"]),
            )
        )
        for key in a | f | r:
            out.setdefault(key, {"current": dict(EMPTY_CARD), "previous": dict(EMPTY_CARD)})[name] = {
                "orders": a[key]["orders"] if key in a else 0,
                "revenue_minor": round(a[key]["revenue"]) if key in a else 0,
                "aov_minor": round(a[key]["aov"]) if key in a else None,
                "frequency": f[key]["purchase_frequency"] if key in f else None,
                "repurchase_rate": r[key]["repurchase_rate"] if key in r else None,
            }
    return out


def _trend(orders: pl.DataFrame, as_of: date, months: int) -> dict[str | None, list[dict[str, Any]]]:
    """Per slice: revenue, orders, AOV and repurchase rate (buyers of the month who bought on two
    days or more in it) of each calendar month, the last ``months`` to the as-of date (the last
    month partial); a month without orders has 0 orders and no AOV or rate."""
    first = _month(as_of, -(months - 1))
    framed = orders.with_columns(pl.col("at").dt.date().dt.truncate("1mo").alias("month"))
    by = ["slice", "month"]
    stop = as_of + timedelta(days=1)
    cells: dict[tuple[str | None, date], dict[str, Any]] = {}
    for frame in (kpis.aov(framed, first, stop, by), kpis.repurchase_rate(framed, first, stop, by)):
        for row in frame.iter_rows(named=True):
            cells.setdefault((row["slice"], row["month"]), {}).update(row)
    keys = dict.fromkeys(k for k, _ in cells)
    return {key: _series(first, months, {m: c for (k, m), c in cells.items() if k == key}) for key in keys}


def _series(first: date, months: int, cells: dict[date, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i in range(months):
        month = _month(first, i)
        cell = cells.get(month, {})
        out.append(
            {
                "month": month,
                "orders": int(cell.get("orders") or 0),
                "revenue_minor": round(float(cell.get("revenue") or 0.0)),
                "aov_minor": None if cell.get("aov") is None else round(float(cell["aov"])),
                "repurchase_rate": cell.get("repurchase_rate"),
            }
        )
    return out


def _slices(
    orders: pl.DataFrame, as_of: date, months: int, *, one: bool, value: str | None
) -> list[dict[str, Any]]:
    """The cards and the monthly trend of every slice in ``orders`` (sorted by value, null
    last); with ``one``, exactly one slice named ``value`` (empty figures when it sold nothing)."""
    cards, trend = _cards(orders, as_of), _trend(orders, as_of, months)
    keys = sorted(set(cards) | set(trend), key=lambda k: (k is None, k or ""))
    if one and not keys:
        keys = [value]
    return [
        {
            "value": key,
            **cards.get(key, {"current": dict(EMPTY_CARD), "previous": dict(EMPTY_CARD)}),
            "months": trend.get(key) or _series(_month(as_of, 1 - months), months, {}),
        }
        for key in keys
    ]


def kpi_slices(
    session: Session,
    *,
    currency: str,
    as_of: date | None = None,
    by: str | None = None,
    value: str | None = None,
    months: int = TREND_MONTHS,
) -> dict[str, Any]:
    """KPI cards (12 months against the 12 before) and monthly trends, for the whole shop or
    for each value of the slice ``by`` (only ``value`` when given)."""
    check_slice(by, value)
    day = _as_of(session, as_of)
    orders = _orders(session, day, currency, by)
    if value is not None:
        orders = orders.filter(pl.col("slice") == value)
    return {
        "as_of": day,
        "currency": currency,
        "by": by,
        "slices": _slices(orders, day, months, one=by is None or value is not None, value=value),
    }


def _cohort_rows(orders: pl.DataFrame, as_of: date, months: int) -> list[dict[str, Any]]:
    matrix = kpis.cohort_matrix(orders, "month").filter(pl.col("cohort") >= _month(as_of, -(months - 1)))
    return [
        {
            "cohort": cohort,
            "customers": int(group["customers"][0]),
            "active": group["active"].to_list(),
            "share": group["share"].to_list(),
        }
        for (cohort,), group in matrix.group_by("cohort", maintain_order=True)
    ]


def cohorts(
    session: Session, *, currency: str, as_of: date | None = None, months: int = COHORT_MONTHS
) -> dict[str, Any]:
    """Retention by first-purchase month for the last ``months`` cohorts: each cohort's size and
    how many of it bought in each month since (age 0 is the first month)."""
    day = _as_of(session, as_of)
    return {
        "as_of": day,
        "currency": currency,
        "rows": _cohort_rows(_orders(session, day, currency), day, months),
    }


def kpi_report(session: Session, *, as_of: date, currency: str, period: str = "month") -> dict[str, Any]:
    """The KPI cards as of a date plus retention and churn rate per period over the last year."""
    orders = _orders(session, as_of, currency)
    start = as_of - timedelta(days=365)
    # Periods starting in the last year, each against the whole period before it.
    retention = kpis.retention(orders, period=period).filter(pl.col("period") >= start)
    cards = _cards(orders, as_of).get(None, {"current": dict(EMPTY_CARD), "previous": dict(EMPTY_CARD)})
    return {"as_of": as_of, "currency": currency, "cards": cards, "retention": retention}


# -- scores of the latest run: grid, groups, movements, CLV bands, top lists -------------------


def rfm_grid(session: Session, run: ScoreRun) -> list[dict[str, int]]:
    """(r, f, customers, spent) per cell of the R × F grid, most recent and frequent first."""
    cells = repo.rfm_grid(session, run.id)
    return [
        {"r": r, "f": f, "customers": n, "spent_minor": m}
        for r, f, n, m in sorted(cells, key=lambda c: (-c[0], -c[1]))
    ]


def groups(session: Session, run: ScoreRun, previous: ScoreRun | None, dim: str) -> dict[str, Any]:
    """Sizes and CLV of each value of a score column (segment, tier, lifecycle state), and the
    moves between values since the previous run, largest first."""
    if dim not in GROUPS:
        raise InvalidInput(f"unknown group {dim!r}: use one of {', '.join(GROUPS)}", code="unknown_group")
    sizes = repo.counts_by(session, run.id, dim)
    moves = repo.movements(session, previous.id, run.id, dim) if previous else []
    return {
        "dim": dim,
        "groups": sorted(sizes, key=lambda t: (-t[1], t[0] is None, t[0] or "")),
        "movements": sorted(
            ((a, b, n) for a, b, n in moves if a != b), key=lambda m: (-m[2], m[0] or "", m[1] or "")
        ),
    }


def clv_edges(top: int, bands: int = CLV_BANDS) -> list[int]:
    """Band edges in minor units: 0, then steps of 1-2-5 up to the first above ``top``. CLV is
    skewed (a few customers are worth hundreds of the median), so bands of equal ratio show its
    shape where equal widths put almost everyone in the first; past ``bands`` bands the lowest
    steps merge into the first band."""
    steps: list[int] = []
    scale = 1
    while True:
        for step in (scale, 2 * scale, 5 * scale):
            steps.append(step)
            if step > top:
                return [0, *steps[-max(bands, 1) :]]
        scale *= 10


def clv_distribution(session: Session, run: ScoreRun) -> list[dict[str, int]]:
    """Customers and total CLV per band of :func:`clv_edges` (``min_minor <= clv <
    max_minor``), empty bands included; nothing when the run valued nobody."""
    top = repo.clv_max(session, run.id)
    if top is None:
        return []
    edges = clv_edges(top)
    found = {b: (n, c) for b, n, c in repo.clv_bands(session, run.id, edges)}
    return [
        {
            "min_minor": lo,
            "max_minor": hi,
            "customers": found.get(i, (0, 0))[0],
            "clv_minor": found.get(i, (0, 0))[1],
        }
        for i, (lo, hi) in enumerate(pairwise(edges))
    ]


def top_customers(
    session: Session, run: ScoreRun, kind: str, *, lang: str = "en", limit: int = 15
) -> list[dict[str, Any]]:
    """``clv``: the most valuable customers; ``risk``: the high-value and potential customers
    with the most spend at risk of not buying in the next 90 days (not yet churned). Each with
    their scores and a plain explanation."""
    rows = (
        repo.top_scores(session, run.id, "clv", limit)
        if kind == "clv"
        else repo.top_scores(session, run.id, "risk", limit, tiers=("high_value", "potential"))
    )
    items = []
    for score, name in rows:
        values = {c.name: getattr(score, c.name) for c in CustomerScore.__table__.columns}
        items.append(values | {"name": name, "horizon_days": PURCHASE_HORIZON_DAYS})
    if items:
        texts = explain(pl.DataFrame(items, infer_schema_length=None), lang).to_list()
        for item, text in zip(items, texts, strict=True):
            item["explanation"] = text
    return items


def dashboard(
    session: Session, *, lang: str = "en", top: int = 15, by: str | None = None, value: str | None = None
) -> dict[str, Any] | None:
    """Everything the analytics page shows for the latest run (None before the first run);
    the KPI cards and trends of the slice ``by`` = ``value`` when given, else of the whole shop."""
    check_slice(by, value)
    if by is not None and value is None:
        raise InvalidInput("the page shows one slice: give its value too", code="unknown_slice")
    runs = repo.latest_completed_runs(session, 2)
    if not runs:
        return None
    run, previous = runs[0], runs[1] if len(runs) > 1 else None
    grid = {(c["r"], c["f"]): (c["customers"], c["spent_minor"]) for c in rfm_grid(session, run)}
    segments, tiers = groups(session, run, previous, "segment"), groups(session, run, previous, "tier")
    orders = _orders(session, run.as_of, run.reporting_currency)
    sliced = orders
    if by is not None:
        sliced = _orders(session, run.as_of, run.reporting_currency, by).filter(pl.col("slice") == value)
    (kpi,) = _slices(sliced, run.as_of, TREND_MONTHS, one=True, value=value)
    return {
        "run": run,
        "previous": previous,
        "grid": grid,
        "grid_max": max((n for n, _ in grid.values()), default=0),
        "segments": segments["groups"],
        "tiers": sorted(tiers["groups"], key=lambda t: _TIER_ORDER.get(t[0] or "", 9)),
        "states": groups(session, run, previous, "state")["groups"],
        "movements": segments["movements"],
        "tier_movements": tiers["movements"],
        "clv_bands": clv_distribution(session, run),
        "top_clv": top_customers(session, run, "clv", lang=lang, limit=top),
        "at_risk": top_customers(session, run, "risk", lang=lang, limit=top),
        "kpis": {"current": kpi["current"], "previous": kpi["previous"]},
        "kpi_drill": _kpi_drill(run.as_of, by, value),
        "trend": kpi["months"],
        "cohorts": _cohort_rows(orders, run.as_of, COHORT_MONTHS),
    }


def _kpi_drill(as_of: date, by: str | None, value: str | None) -> dict[str, Any] | None:
    """The drill-down of the KPI cards: the buyers of their 12 months (in the shop or segment
    sliced); a channel or category slice has none (it counts orders' parts, not customers)."""
    if by not in (None, "shop", "segment"):
        return None
    window: dict[str, Any] = {"bought_from": as_of - timedelta(days=364), "bought_to": as_of}
    return window | ({by: value} if by is not None else {})


def slice_values(session: Session) -> dict[str, list[str]]:
    """The values each slice can take now: shop codes, platforms, top-level categories and the
    segments of the latest run (what the page's slicer offers)."""
    shops = commerce.list_shops(session)
    runs = repo.latest_completed_runs(session, 1)
    segments = [v for v, _, _ in repo.counts_by(session, runs[0].id, "segment") if v] if runs else []
    return {
        "shop": [s.code for s in shops],
        "channel": sorted({s.platform for s in shops}),
        "category": repo.top_categories(session),
        "segment": sorted(segments),
    }


# -- drill-down: from a number to the customers behind it -------------------------------------


@dataclass(frozen=True)
class Drill:
    """A number of the analytics page as a filter of customers. Score filters (segment, tier,
    state, the R and F scores, a CLV band ``clv_min <= clv < clv_max``) apply to the latest run;
    a movement (``moved_from``/``moved_to`` in ``dim``) compares it with the run before; a
    cohort (its month, and with ``age`` the customers of it who bought that many months later)
    reads the purchases up to the latest run's date. ``"none"`` matches a missing segment or
    tier (prospects)."""

    segment: str | None = None
    tier: str | None = None
    state: str | None = None
    r: int | None = None
    f: int | None = None
    dim: str = "segment"
    moved_from: str | None = None
    moved_to: str | None = None
    clv_min: int | None = None
    clv_max: int | None = None
    cohort: date | None = None
    age: int | None = None
    # The buyers of a KPI card: customers who bought in [bought_from, bought_to] (days, UTC), in
    # one shop if given, and with ``repeat`` on two or more days of it (the repurchase rate's).
    bought_from: date | None = None
    bought_to: date | None = None
    shop: str | None = None
    repeat: bool | None = None

    def is_set(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "dim")

    def on_scores(self) -> bool:
        """Whether it filters on the scores (so needs a run), not only on a cohort."""
        names = ("segment", "tier", "state", "r", "f", "moved_from", "moved_to", "clv_min", "clv_max")
        return any(getattr(self, name) is not None for name in names)

    def check(self) -> None:
        problems = []
        for name in ("r", "f"):
            score = getattr(self, name)
            if score is not None and not 1 <= score <= 5:
                problems.append(f"{name} must be a score from 1 to 5, not {score}")
        if self.dim not in ("segment", "tier"):
            problems.append(f"dim must be segment or tier, not {self.dim!r}")
        if self.age is not None and (self.age < 0 or self.cohort is None):
            problems.append("age needs a cohort and must be 0 or more")
        if self.clv_min is not None and self.clv_max is not None and self.clv_min >= self.clv_max:
            problems.append("clv_min must be below clv_max")
        if (self.bought_from is None) != (self.bought_to is None) or (
            self.bought_from is not None and self.bought_to is not None and self.bought_from > self.bought_to
        ):
            problems.append("bought_from and bought_to go together, the first not after the second")
        if (self.shop is not None or self.repeat is not None) and self.bought_from is None:
            problems.append("shop and repeat narrow a bought_from / bought_to window")
        if problems:
            raise InvalidInput("bad drill-down: " + "; ".join(problems), code="bad_drill_down")


def _key(value: str | None) -> str | None:
    return None if value == NONE else value


def drill_down(session: Session, drill: Drill) -> Select[Any] | None:
    """The query of the ids of the customers behind ``drill`` (None when it filters nothing),
    for the customer list to filter on: the list pages and counts in the database, whatever the
    size of the group."""
    drill.check()
    if not drill.is_set():
        return None
    runs = repo.latest_completed_runs(session, 2)
    queries: list[Select[Any]] = []
    if drill.on_scores():
        run, previous = latest(session)
        queries.append(_score_query(drill, run, previous))
    if drill.cohort is not None:
        first = _month(drill.cohort)
        active = None
        if drill.age is not None:
            active = (_at(_month(first, drill.age)), _at(_month(first, drill.age + 1)))
        end = _end(runs[0].as_of if runs else utcnow().date())
        queries.append(repo.cohort_ids((_at(first), _at(_month(first, 1))), end, active))
    if drill.bought_from is not None and drill.bought_to is not None:
        window = (_at(drill.bought_from), _at(drill.bought_to + timedelta(days=1)))
        queries.append(repo.buyer_ids(window, shop=drill.shop, repeat=bool(drill.repeat)))
    query = queries[0]
    for other in queries[1:]:
        query = query.where(query.selected_columns[0].in_(other))
    return query


def _score_query(drill: Drill, run: ScoreRun, previous: ScoreRun | None) -> Select[Any]:
    equal: dict[str, object] = {
        name: _key(getattr(drill, name)) for name in GROUPS if getattr(drill, name) is not None
    }
    equal |= {
        f"{name}_score": getattr(drill, name) for name in ("r", "f") if getattr(drill, name) is not None
    }
    before = None
    if drill.moved_from is not None or drill.moved_to is not None:
        if previous is None:
            raise NotFound("the latest run has no earlier run to compare with", code="no_previous_run")
        if drill.moved_to is not None:
            equal[drill.dim] = _key(drill.moved_to)
        then = {drill.dim: _key(drill.moved_from)} if drill.moved_from is not None else {}
        before = (previous.id, then)
    return repo.score_ids(run.id, equal=equal, clv_min=drill.clv_min, clv_max=drill.clv_max, before=before)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)
