"""RFM scores and the named RFM segments.

Input: one row per buying customer with ``customer_id``, ``recency_days`` (days since the last
purchase as of the analysis date; smaller is better), ``frequency`` (purchases) and ``monetary``
(spend, minor units or float). Customers without a purchase have no RFM and are left out by the
caller.

**Scores** (Hughes 1994, "Strategic Database Marketing"; quintile scoring): each dimension is
cut into ``scale`` bins by ``scale - 1`` ascending cut points ``c_1 <= ... <= c_{k-1}``. Bins are
right-closed on the raw value: ``x <= c_1`` is bin 1, ``c_1 < x <= c_2`` is bin 2, ...,
``x > c_{k-1}`` is bin ``k``. Frequency and monetary score = bin; recency score = ``scale + 1 -
bin`` (most recent = highest). So thresholds read the way people write them: recency cuts
``[30, 60, 90, 180]`` mean "within 30 days scores 5, 31-60 scores 4, ..., over 180 scores 1".

*Quantile cut points* are observed values: ``c_s`` is the ``ceil(n * s / k)``-th smallest value
(Hyndman & Fan type 1, the inverse of the empirical CDF), computed with integer arithmetic so it
does not depend on floating-point rounding. **Ties**: equal values always get equal scores, and a
value equal to a cut point falls in the lower bin. Frequency is heavily tied (often more than
half the customers bought once), so several cut points coincide and some scores go unused: with
cuts ``[1, 1, 1, 2]`` a one-time buyer scores 1, two purchases score 4, three or more score 5.
This keeps the meaning "score s = value within the s-th quantile band" and is deterministic,
unlike rank-based scoring that splits equal customers by row order.

**Segments**: the 11-segment grid on recency (R) and the average of frequency and monetary (FM)
published by Putler ("RFM Analysis For Successful Customer Segmentation", putler.com/rfm-analysis,
reproduced e.g. in the churned.io RFM model docs). Putler's ranges overlap (Lost and Hibernating
even coincide), so they are applied as **first-match rules in the order of**
:data:`DEFAULT_SEGMENT_RULES`, most specific first, with one change: Lost is narrowed to R = 1 so
Hibernating is reachable. FM is ``floor((f + m) / 2)``: a customer earns the higher FM only on
both dimensions (so one purchase with middling spend stays "new"). The resulting grid::

    R\\FM   1            2                   3               4           5
    5      new          potential_loyalist  loyal           champions   champions
    4      new          potential_loyalist  loyal           champions   champions
    3      promising    about_to_sleep      need_attention  loyal       loyal
    2      hibernating  hibernating         at_risk         at_risk     at_risk
    1      lost         lost                at_risk         cant_lose   cant_lose

**Scale 3**: the grid is defined on 5 points only (9 cells are too coarse for 11 segments); a
3-point score ``s`` is placed at ``2s - 1`` (1, 3, 5) before the rules apply, so R never takes
the value 2 and "hibernating" does not occur at scale 3.

Segment values are stable machine keys (:data:`SEGMENTS`); :data:`SEGMENT_LABELS` holds the
English names for display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from patron.analytics.base import Estimator
from patron.core.errors import InvalidInput

COLUMNS = ("customer_id", "recency_days", "frequency", "monetary")
DIMENSIONS = {"r": "recency_days", "f": "frequency", "m": "monetary"}
SCALES = (3, 5)
METHODS = ("quantile", "thresholds")

SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)
SEGMENT_LABELS = {
    "champions": "Champions",
    "loyal": "Loyal",
    "potential_loyalist": "Potential Loyalist",
    "new": "New",
    "promising": "Promising",
    "need_attention": "Need Attention",
    "about_to_sleep": "About to Sleep",
    "at_risk": "At Risk",
    "cant_lose": "Can't Lose",
    "hibernating": "Hibernating",
    "lost": "Lost",
}


@dataclass(frozen=True)
class SegmentRule:
    """One rule of the segment grid: ``segment`` for R in ``r`` and FM in ``fm`` (inclusive
    ranges on the 5-point scale)."""

    segment: str
    r: tuple[int, int]
    fm: tuple[int, int]

    def matches(self, r: int, fm: int) -> bool:
        return self.r[0] <= r <= self.r[1] and self.fm[0] <= fm <= self.fm[1]

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "r": list(self.r), "fm": list(self.fm)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentRule:
        try:
            r, fm = data["r"], data["fm"]
            return cls(str(data["segment"]), (int(r[0]), int(r[1])), (int(fm[0]), int(fm[1])))
        except (KeyError, IndexError, TypeError, ValueError):
            raise InvalidInput(
                f"a segment rule is {{'segment': name, 'r': [lo, hi], 'fm': [lo, hi]}}, got {data!r}",
                code="rfm_mapping_invalid",
            ) from None


# First match wins, in this order (Putler's ranges; Lost narrowed to R = 1, see module docstring).
DEFAULT_SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("champions", (4, 5), (4, 5)),
    SegmentRule("cant_lose", (1, 1), (4, 5)),
    SegmentRule("new", (4, 5), (1, 1)),
    SegmentRule("promising", (3, 4), (1, 1)),
    SegmentRule("lost", (1, 1), (1, 2)),
    SegmentRule("hibernating", (1, 2), (1, 2)),
    SegmentRule("at_risk", (1, 2), (2, 5)),
    SegmentRule("about_to_sleep", (2, 3), (1, 2)),
    SegmentRule("need_attention", (2, 3), (2, 3)),
    SegmentRule("loyal", (2, 5), (3, 5)),
    SegmentRule("potential_loyalist", (3, 5), (1, 3)),
)


def _check_columns(df: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInput(f"the RFM frame lacks the column(s) {missing}", code="missing_columns")


def _values(df: pl.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    """The three inputs as float arrays, checked: present, finite, >= 0."""
    _check_columns(df, COLUMNS)
    out: dict[str, npt.NDArray[np.float64]] = {}
    for column in DIMENSIONS.values():
        if not df.schema[column].is_numeric():
            raise InvalidInput(f"{column} must be numeric, not {df.schema[column]}", code="rfm_bad_values")
        values = df[column].cast(pl.Float64).to_numpy()
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise InvalidInput(
                f"{column} is missing or not finite for {bad} customer(s); "
                "customers without a purchase have no RFM score and must be left out",
                code="rfm_missing_values",
                data={"column": column, "count": bad},
            )
        negative = int(np.count_nonzero(values < 0))
        if negative:
            raise InvalidInput(
                f"{column} is negative for {negative} customer(s)"
                + (" (spend net of refunds below zero?)" if column == "monetary" else ""),
                code="rfm_negative_value",
                data={"column": column, "count": negative},
            )
        out[column] = values
    return out


def quantile_cuts(values: npt.NDArray[np.float64], scale: int) -> list[float]:
    """The ``scale - 1`` cut points: the ``ceil(n * s / scale)``-th smallest value, s = 1..scale-1."""
    n = len(values)
    ranks = [-(-n * s // scale) for s in range(1, scale)]  # ceil(n*s/scale), exact in integers
    ordered = np.partition(values, [r - 1 for r in ranks])
    return [float(ordered[r - 1]) for r in ranks]


def _bins(values: npt.NDArray[np.float64], cuts: Sequence[float]) -> npt.NDArray[np.int8]:
    """Right-closed bin 1..len(cuts)+1 of each value: 1 + the number of cuts strictly below it."""
    return (np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="left") + 1).astype(np.int8)


class RFMScorer(Estimator):
    """Recency, frequency and monetary scores 1..``scale`` and the three-digit ``rfm_code``.

    ``method="quantile"`` learns the cut points from the fitted customers; ``"thresholds"``
    takes them from ``thresholds`` (``{"r": [...], "f": [...], "m": [...]}``, ``scale - 1``
    ascending values each, on the raw units: days, purchases, spend) and needs no data.
    """

    params: ClassVar[tuple[str, ...]] = ("scale", "method", "thresholds")
    fitted: ClassVar[tuple[str, ...]] = ("cuts_", "n_customers_")

    def __init__(
        self,
        scale: int = 5,
        method: str = "quantile",
        thresholds: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        if scale not in SCALES:
            raise InvalidInput(f"RFM scale must be 3 or 5, not {scale!r}", code="bad_parameter")
        if method not in METHODS:
            raise InvalidInput(
                f"unknown RFM method {method!r}; use one of {list(METHODS)}", code="bad_parameter"
            )
        self.scale = scale
        self.method = method
        self.thresholds: dict[str, list[float]] | None = None
        if method == "thresholds":
            self.thresholds = self._check_thresholds(thresholds, scale)
        elif thresholds is not None:
            raise InvalidInput('thresholds are used only with method="thresholds"', code="bad_parameter")

    @staticmethod
    def _check_thresholds(
        thresholds: Mapping[str, Sequence[float]] | None, scale: int
    ) -> dict[str, list[float]]:
        if thresholds is None or set(thresholds) != set(DIMENSIONS):
            raise InvalidInput(
                'method="thresholds" needs thresholds {"r": [...], "f": [...], "m": [...]}',
                code="rfm_bad_thresholds",
            )
        out: dict[str, list[float]] = {}
        for key in DIMENSIONS:
            try:
                cuts = [float(v) for v in thresholds[key]]
            except (TypeError, ValueError):
                cuts = []
            ok = len(cuts) == scale - 1 and all(np.isfinite(cuts))
            if not ok or any(b <= a for a, b in pairwise(cuts)):
                raise InvalidInput(
                    f"thresholds[{key!r}] must be {scale - 1} finite, strictly ascending cut points, "
                    f"got {list(thresholds[key])}",
                    code="rfm_bad_thresholds",
                )
            out[key] = cuts
        return out

    def fit(self, df: pl.DataFrame | None = None) -> RFMScorer:
        """Learn the cut points (quantile method) or take the given thresholds."""
        if self.thresholds is not None:
            if df is not None:
                _values(df)
            self.cuts_ = {k: list(v) for k, v in self.thresholds.items()}
            self.n_customers_ = 0 if df is None else df.height
            return self
        if df is None or df.height == 0:
            raise InvalidInput("no customers to learn RFM cut points from", code="rfm_no_customers")
        values = _values(df)
        self.cuts_ = {k: quantile_cuts(values[col], self.scale) for k, col in DIMENSIONS.items()}
        self.n_customers_ = df.height
        return self

    def transform(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` with ``r_score``, ``f_score``, ``m_score`` (Int8) and ``rfm_code`` (e.g. "545")."""
        self.check_fitted()
        values = _values(df)
        r = self.scale + 1 - _bins(values["recency_days"], self.cuts_["r"])
        f = _bins(values["frequency"], self.cuts_["f"])
        m = _bins(values["monetary"], self.cuts_["m"])
        return df.with_columns(
            pl.Series("r_score", r, dtype=pl.Int8),
            pl.Series("f_score", f, dtype=pl.Int8),
            pl.Series("m_score", m, dtype=pl.Int8),
        ).with_columns(pl.concat_str("r_score", "f_score", "m_score").alias("rfm_code"))

    def fit_transform(self, df: pl.DataFrame) -> pl.DataFrame:
        return self.fit(df).transform(df)


def _rules(mapping: Sequence[SegmentRule | Mapping[str, Any]] | None) -> list[SegmentRule]:
    if mapping is None:
        return list(DEFAULT_SEGMENT_RULES)
    rules = [m if isinstance(m, SegmentRule) else SegmentRule.from_dict(m) for m in mapping]
    for rule in rules:
        if rule.segment not in SEGMENTS:
            raise InvalidInput(
                f"unknown RFM segment {rule.segment!r}; segments are {list(SEGMENTS)}",
                code="rfm_unknown_segment",
                data={"segment": rule.segment},
            )
        for lo, hi in (rule.r, rule.fm):
            if not 1 <= lo <= hi <= 5:
                raise InvalidInput(
                    f"segment rule {rule.segment!r}: ranges must satisfy 1 <= lo <= hi <= 5, "
                    f"got r={list(rule.r)} fm={list(rule.fm)}",
                    code="rfm_mapping_invalid",
                )
    return rules


def segment_grid(mapping: Sequence[SegmentRule | Mapping[str, Any]] | None = None) -> list[list[str]]:
    """The segment of every cell, ``grid[r - 1][fm - 1]`` on the 5-point scale (first match).

    Raises ``rfm_mapping_incomplete`` listing the (r, fm) cells no rule covers.
    """
    rules = _rules(mapping)
    grid: list[list[str]] = []
    uncovered: list[list[int]] = []
    for r in range(1, 6):
        row = []
        for fm in range(1, 6):
            hit = next((rule.segment for rule in rules if rule.matches(r, fm)), "")
            if not hit:
                uncovered.append([r, fm])
            row.append(hit)
        grid.append(row)
    if uncovered:
        cells = ", ".join(f"(r={r}, fm={fm})" for r, fm in uncovered)
        raise InvalidInput(
            f"the RFM segment mapping leaves {len(uncovered)} cell(s) uncovered: {cells}",
            code="rfm_mapping_incomplete",
            data={"uncovered": uncovered},
        )
    return grid


def segment(
    df: pl.DataFrame,
    mapping: Sequence[SegmentRule | Mapping[str, Any]] | None = None,
    *,
    scale: int = 5,
) -> pl.DataFrame:
    """``df`` (with ``r_score``, ``f_score``, ``m_score`` on ``scale``) plus a ``segment`` column.

    ``mapping`` is a list of :class:`SegmentRule` (or their dicts), first match wins; it must
    cover every cell of the 5 x 5 grid. Scale-3 scores are placed at 1, 3, 5 first.
    """
    if scale not in SCALES:
        raise InvalidInput(f"RFM scale must be 3 or 5, not {scale!r}", code="bad_parameter")
    grid = segment_grid(mapping)
    _check_columns(df, ("r_score", "f_score", "m_score"))
    scores = {}
    for column in ("r_score", "f_score", "m_score"):
        s = df[column]
        if not s.dtype.is_integer():
            raise InvalidInput(
                f"{column} must hold whole scores 1..{scale}, not {s.dtype}",
                code="rfm_bad_scores",
                data={"column": column},
            )
        bad = int((s.is_null() | (s < 1) | (s > scale)).sum())
        if bad:
            raise InvalidInput(
                f"{column} must hold scores 1..{scale}; {bad} customer(s) do not",
                code="rfm_bad_scores",
                data={"column": column, "count": bad},
            )
        scores[column] = pl.col(column).cast(pl.Int16)
    if scale == 3:
        scores = {k: 2 * v - 1 for k, v in scores.items()}
    fm = (scores["f_score"] + scores["m_score"]) // 2
    cell = (scores["r_score"] - 1) * 5 + fm - 1
    flat = [name for row in grid for name in row]
    return df.with_columns(
        cell.replace_strict(list(range(25)), flat, return_dtype=pl.String).alias("segment")
    )
