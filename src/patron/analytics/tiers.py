"""Customer value tiers from a weighted score over indicators, with AHP weights.

**Weights** may be set by hand or derived from pairwise judgements with the Analytic Hierarchy
Process (Saaty 1980, "The Analytic Hierarchy Process"; Saaty 1977, J. Math. Psych. 15:234-281):
the weights are the principal eigenvector of the reciprocal comparison matrix and the
consistency ratio ``CR = CI / RI`` with ``CI = (lambda_max - n) / (n - 1)`` and Saaty's random
index ``RI``. Saaty's rule of thumb accepts judgements with ``CR <= 0.1``
(:data:`CR_ACCEPTABLE`); :func:`ahp_weights` reports CR and leaves the decision to the caller.

**Normalisation** of each indicator is its percentile rank in the fitted population, not
min-max: spend and order counts are heavy-tailed, and one whale customer would squeeze everyone
else into the bottom of a min-max range, while the percentile rank depends only on order. To
score new customers against the same reference, the fit stores a 101-point quantile grid per
indicator (linear-interpolated quantiles at 0, 1, ..., 100 %) and every transform, including
one on the fitted data, reads ranks off that grid: between grid points by linear interpolation,
on a run of equal grid points (tied values, e.g. a return rate of 0 for most customers) the
middle of the run (mid-rank), below the grid 0 and above it 1. Indicators where lower is better
(recency, return rate) use ``1 - rank``.

**Score and tiers**: ``value_score = sum_i w_i * rank_i`` with the weights normalised to sum 1,
so it lies in [0, 1] and ``contrib_<indicator> = w_i * rank_i`` adds up to it (what drove a
customer's tier). Tiers are listed best first with population shares; the fit sets each cut
between the ``m``-th and ``(m+1)``-th highest score, ``m = round(cumulative share * n)`` (half
up), and a customer joins the best tier whose cut their score exceeds (``score > cut``). Tied
scores therefore stay together, in the worse tier: value data are zero-inflated (no orders, no
spend), and promoting a large tied block at the bottom would fill "potential" with customers who
did nothing; a tier is earned, not granted by a tie. Without ties the tier sizes are exactly the
rounded shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl

from patron.analytics.base import Estimator
from patron.core.errors import InvalidInput

Array = npt.NDArray[np.float64]

CR_ACCEPTABLE = 0.1
# Saaty's random consistency index by matrix size n = 1..10 (Saaty 1980).
RANDOM_INDEX = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)
GRID_POINTS = 101
DEFAULT_TIERS: tuple[tuple[str, float], ...] = (
    ("high_value", 0.2),
    ("potential", 0.3),
    ("general", 0.3),
    ("low_value", 0.2),
)


def ahp_weights(matrix: Any, *, tol: float = 1e-2) -> tuple[Array, float]:
    """Weights (summing to 1) and consistency ratio of a pairwise-comparison matrix.

    ``matrix[i][j]`` says how much more important criterion i is than j (Saaty's 1-9 scale);
    the matrix must be square, positive and reciprocal: ``a_ij * a_ji = 1`` within relative
    ``tol`` (so 1/3 typed as 0.333 passes). Matrices of size 1 and 2 are always consistent (CR 0).
    """
    try:
        a = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("the AHP matrix must hold numbers", code="ahp_not_square") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise InvalidInput(
            f"the AHP matrix must be square (n x n), got shape {list(a.shape)}", code="ahp_not_square"
        )
    n = a.shape[0]
    if n > len(RANDOM_INDEX):
        raise InvalidInput(
            f"AHP compares at most {len(RANDOM_INDEX)} criteria (Saaty's random index table), got {n}",
            code="ahp_too_large",
        )
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise InvalidInput("AHP judgements must be positive finite numbers", code="ahp_not_positive")
    off = np.abs(a * a.T - 1.0) > tol
    if np.any(off):
        i, j = (int(v) for v in np.argwhere(off)[0])
        raise InvalidInput(
            f"the AHP matrix is not reciprocal: a[{i}][{j}] * a[{j}][{i}] = {a[i, j] * a[j, i]:.4g}, not 1",
            code="ahp_not_reciprocal",
            data={"cell": [i, j]},
        )
    eigenvalues, eigenvectors = np.linalg.eig(a)
    k = int(np.argmax(eigenvalues.real))  # the Perron root: real, simple, largest
    lambda_max = float(eigenvalues[k].real)
    vector = np.abs(eigenvectors[:, k].real)
    weights: Array = vector / vector.sum()
    if n <= 2:
        return weights, 0.0
    ci = (lambda_max - n) / (n - 1)
    return weights, max(ci, 0.0) / RANDOM_INDEX[n - 1]


def percentile_grid(values: Array) -> list[float]:
    """The 101-point reference grid: linear-interpolated quantiles at 0, 1, ..., 100 %."""
    return [float(v) for v in np.quantile(values, np.linspace(0.0, 1.0, GRID_POINTS))]


def percentile_rank(values: Array, grid: Sequence[float]) -> Array:
    """Rank 0..1 of each value against a :func:`percentile_grid` (see the module docstring)."""
    g = np.asarray(grid, dtype=np.float64)
    step = 1.0 / (len(g) - 1)
    lo = np.searchsorted(g, values, side="left")
    hi = np.searchsorted(g, values, side="right")
    # On grid values: the middle of the run of equal points.
    on_grid = (lo + hi - 1) * step / 2
    # Between two grid points: linear interpolation.
    left = np.clip(lo - 1, 0, len(g) - 1)
    right = np.clip(lo, 0, len(g) - 1)
    width = g[right] - g[left]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (left + np.where(width > 0, (values - g[left]) / width, 0.0)) * step
    rank = np.where(hi > lo, on_grid, between)
    rank = np.where(hi == 0, 0.0, rank)  # below the grid (hi == lo == 0)
    above: Array = np.where(lo == len(g), 1.0, rank)  # above the grid
    return above


def _check_tiers(tiers: Sequence[Sequence[Any]]) -> list[tuple[str, float]]:
    try:
        out = [(str(name), float(share)) for name, share in tiers]
    except (TypeError, ValueError):
        raise InvalidInput("tiers are (name, share) pairs", code="tiers_bad_shares") from None
    names = [n for n, _ in out]
    shares = [s for _, s in out]
    if not out or len(set(names)) != len(names) or not all(names):
        raise InvalidInput("tiers need one or more distinct, non-empty names", code="tiers_bad_shares")
    if not all(math.isfinite(s) and s > 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise InvalidInput(
            f"tier shares must be positive and sum to 1, got {shares} (sum {sum(shares):.6g})",
            code="tiers_bad_shares",
        )
    return out


class ValueTiers(Estimator):
    """Weighted percentile-rank score over indicator columns and tiers by population share.

    ``weights``: indicator column -> weight (>= 0, not all 0; normalised to sum 1).
    ``higher_is_better``: indicator -> bool, True when left out.
    ``tiers``: ``(name, share)`` best first, shares summing to 1.
    """

    params: ClassVar[tuple[str, ...]] = ("weights", "higher_is_better", "tiers")
    fitted: ClassVar[tuple[str, ...]] = ("weights_", "grids_", "cuts_", "n_customers_")

    def __init__(
        self,
        weights: Mapping[str, float],
        higher_is_better: Mapping[str, bool] | None = None,
        tiers: Sequence[Sequence[Any]] = DEFAULT_TIERS,
    ) -> None:
        try:
            w = {str(k): float(v) for k, v in weights.items()}
        except (AttributeError, TypeError, ValueError):
            raise InvalidInput("weights map indicator names to numbers", code="tiers_bad_weights") from None
        if not w or not all(math.isfinite(v) and v >= 0 for v in w.values()) or sum(w.values()) <= 0:
            raise InvalidInput(
                f"weights must be finite, >= 0 and sum to more than 0, got {w}", code="tiers_bad_weights"
            )
        better = dict(higher_is_better or {})
        unknown = sorted(set(better) - set(w))
        if unknown:
            raise InvalidInput(
                f"higher_is_better names indicator(s) without a weight: {unknown}",
                code="tiers_unknown_indicator",
                data={"indicators": unknown},
            )
        self.weights = w
        self.higher_is_better = {k: bool(v) for k, v in better.items()}
        self.tiers = _check_tiers(tiers)

    @property
    def indicators(self) -> list[str]:
        """Indicator names in sorted order: the order of the sums and of the contrib columns,
        so a model reloaded from (key-sorted) JSON computes bit-identical scores."""
        return sorted(self.weights)

    def _values(self, df: pl.DataFrame) -> dict[str, Array]:
        missing = [c for c in self.indicators if c not in df.columns]
        if missing:
            raise InvalidInput(f"the frame lacks the indicator column(s) {missing}", code="missing_columns")
        out = {}
        for name in self.indicators:
            if not df.schema[name].is_numeric():
                raise InvalidInput(
                    f"indicator {name} must be numeric, not {df.schema[name]}", code="tiers_bad_values"
                )
            values = df[name].cast(pl.Float64).to_numpy()
            bad = int(np.count_nonzero(~np.isfinite(values)))
            if bad:
                raise InvalidInput(
                    f"indicator {name} is missing or not finite for {bad} customer(s); fill it first",
                    code="tiers_bad_values",
                    data={"indicator": name, "count": bad},
                )
            out[name] = values
        return out

    def _contributions(
        self, values: Mapping[str, Array], weights: Mapping[str, float], grids: Mapping[str, Sequence[float]]
    ) -> dict[str, Array]:
        out: dict[str, Array] = {}
        for name in self.indicators:
            rank = percentile_rank(values[name], grids[name])
            if not self.higher_is_better.get(name, True):
                rank = 1.0 - rank
            out[name] = weights[name] * rank
        return out

    @staticmethod
    def _total(contributions: Mapping[str, Array]) -> Array:
        total = np.zeros_like(next(iter(contributions.values())))
        for part in contributions.values():  # sorted indicator order: reproducible sums
            total = total + part
        return np.clip(total, 0.0, 1.0)

    def fit(self, df: pl.DataFrame) -> ValueTiers:
        """Learn each indicator's reference grid and the score cut points of the tier shares."""
        if df.height == 0:
            raise InvalidInput("no customers to fit value tiers on", code="tiers_no_customers")
        values = self._values(df)
        total = sum(self.weights.values())
        weights = {k: self.weights[k] / total for k in self.indicators}
        grids = {k: percentile_grid(values[k]) for k in self.indicators}
        ordered = np.sort(self._total(self._contributions(values, weights, grids)))[::-1]
        n = len(ordered)
        cuts: list[float] = []
        cumulative = 0.0
        for _, share in self.tiers[:-1]:
            cumulative += share
            # Customers in this tier or a better one; rounding first keeps 0.1 + 0.2 from
            # landing just below a .5 and rounding the other way.
            m = math.floor(round(cumulative * n, 9) + 0.5)
            if m <= 0:
                cut = 1.0  # no score exceeds it: an empty tier
            elif m >= n:
                cut = float(np.nextafter(ordered[-1], -np.inf))  # every fitted score exceeds it
            else:
                cut = float((ordered[m - 1] + ordered[m]) / 2)
            cuts.append(cut)
        self.weights_ = weights
        self.grids_ = grids
        self.cuts_ = cuts
        self.n_customers_ = n
        return self

    def transform(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` plus ``value_score`` (0..1), ``tier`` and ``contrib_<indicator>`` per indicator."""
        self.check_fitted()
        contributions = self._contributions(self._values(df), self.weights_, self.grids_)
        score = self._total(contributions)
        # cuts_ are descending (best tier first); count the cuts a score exceeds.
        ascending = np.asarray(self.cuts_[::-1], dtype=np.float64)
        index = len(self.tiers) - 1 - np.searchsorted(ascending, score, side="left")
        names = [name for name, _ in self.tiers]
        return df.with_columns(
            pl.Series("value_score", score, dtype=pl.Float64),
            pl.Series("tier", np.asarray(names, dtype=object)[index], dtype=pl.String),
            *(pl.Series(f"contrib_{k}", v, dtype=pl.Float64) for k, v in contributions.items()),
        )

    def fit_transform(self, df: pl.DataFrame) -> pl.DataFrame:
        return self.fit(df).transform(df)
