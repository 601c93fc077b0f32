"""Buy-till-you-die models: BG/NBD for purchases and Gamma-Gamma for spend, by maximum likelihood.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they drop out with
probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie
2013): the mean spend of a customer's transactions is Gamma(p, nu) with nu ~ Gamma(q, gamma).

Why written here rather than taken from ``lifetimes``: the library is unmaintained and about 15x
slower at a million customers (FINDINGS.md). The speed comes from three choices:

* the likelihood depends on a customer only through ``(x, t_x, T)``, so the fit runs over the
  unique combinations weighted by their count;
* everything is in log space (``gammaln``, ``betaln``, ``logaddexp``), so customers with hundreds
  of purchases give finite numbers where the textbook ratios overflow;
* CLV evaluates the conditional expectation once per unique combination and month.

Inputs are the columns of :func:`patron.analytics.summary.summarize`; time is in the unit the
summary used (the fitted ``alpha_`` carries that unit).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from patron.analytics.base import Estimator
from patron.core.errors import InvalidInput

Array = npt.NDArray[np.float64]


class FitFailed(InvalidInput):
    code = "model_fit_failed"


def _arrays(**columns: Any) -> dict[str, Array]:
    out = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    sizes = {len(v) for v in out.values()}
    if len(sizes) > 1:
        raise InvalidInput("input columns differ in length", code="bad_summary")
    for name, v in out.items():
        if not np.all(np.isfinite(v)):
            raise InvalidInput(f"{name} holds a missing or infinite value", code="bad_summary")
    return out


def _check_summary(x: Array, t_x: Array, T: Array) -> None:
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise InvalidInput("frequency must be whole numbers >= 0", code="bad_summary")
    if np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise InvalidInput("recency must lie between 0 and the customer's age T", code="bad_summary")
    if np.any((x == 0) & (t_x > 0)):
        raise InvalidInput("a customer without repeat purchases has recency 0", code="bad_summary")
    # T = 0 (first purchase on the as-of day) is allowed: such a customer has observed nothing
    # yet, adds 0 to the log-likelihood and is predicted like a brand-new customer.
    if np.any(T < 0):
        raise InvalidInput(
            "age T must not be negative (first purchase after the as-of date)", code="bad_summary"
        )


def unique_histories(*columns: Array) -> tuple[list[Array], Array, npt.NDArray[np.int64]]:
    """Unique rows of the columns, their counts, and the index of each input row's unique row.

    Columns of whole numbers (histories in days) are packed into one integer key, whose
    group-by is several times faster than one over several float columns."""
    if all(len(c) and np.all(c == np.floor(c)) and c.min() >= 0 and c.max() < 2**20 for c in columns):
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for c in columns:
            key = (key << 20) | c.astype(np.int64)
        keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        values = []
        for _ in columns:
            values.append((keys & (2**20 - 1)).astype(np.float64))
            keys = keys >> 20
        return values[::-1], counts.astype(np.float64), inverse.ravel().astype(np.int64)
    names = [f"c{i}" for i in range(len(columns))]
    frame = pl.DataFrame(dict(zip(names, columns, strict=True)))
    # Sorted like np.unique above: the fit sums in a fixed order, so refits are bit-identical.
    groups = frame.group_by(names).agg(pl.len().alias("n")).sort(names).with_row_index("u")
    index = frame.join(groups.select(*names, "u"), on=names, how="left", maintain_order="left")["u"]
    return (
        [groups[c].to_numpy() for c in names],
        groups["n"].to_numpy().astype(np.float64),
        index.to_numpy().astype(np.int64),
    )


class _Histories:
    """Grouped histories prepared for repeated likelihood evaluations: each column's distinct
    values with every row's index into them, and the weight totals per distinct x."""

    def __init__(self, x: Array, t_x: Array, T: Array, w: Array) -> None:
        self.x, self.w, self.total = x, w, float(w.sum())
        self.x_values, ix = np.unique(x, return_inverse=True)
        self.t_values, it = np.unique(t_x, return_inverse=True)
        self.T_values, iT = np.unique(T, return_inverse=True)
        self.ix, self.it, self.iT = ix.ravel(), it.ravel(), iT.ravel()
        self.repeat = x > 0
        self.wx = np.bincount(self.ix, weights=w, minlength=len(self.x_values))


LOG_BOUND = 18.0  # parameters within exp(-18) .. exp(18)


def _maximise(neg_ll: Any, start: Array, names: tuple[str, ...]) -> Array:
    """Minimise a mean negative log-likelihood given with its gradient, over log-parameters
    (positive parameters without bounds); the parameters."""
    result = minimize(
        neg_ll,
        np.log(start),
        method="L-BFGS-B",
        jac=True,
        # Small or odd data can have its maximum at infinity (no dropout at all, say): the bounds
        # keep every parameter where the formulas stay finite instead of overflowing.
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
        options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
    )
    params: Array = np.exp(result.x)
    if not np.all(np.isfinite(params)) or not np.isfinite(result.fun):
        raise FitFailed(f"the {'/'.join(names)} fit did not converge: {result.message}")
    return params


class Penalized(Estimator):
    """Models fitted by (optionally penalised) maximum likelihood: ``penalizer`` adds an L2
    penalty on the parameters to the mean negative log-likelihood (0 = plain maximum likelihood,
    which reproduces the published estimates)."""

    params: ClassVar[tuple[str, ...]] = ("penalizer",)

    def __init__(self, penalizer: float = 0.0) -> None:
        if penalizer < 0:
            raise InvalidInput("penalizer must be >= 0", code="bad_parameter")
        self.penalizer = penalizer


class PurchaseModel(Penalized):
    """What the purchase models share: input checks and CLV from their per-history discounted
    expected purchases (:meth:`_discounted_purchases`)."""

    def _summary(self, frequency: Any, recency: Any, T: Any) -> tuple[Array, Array, Array]:
        self.check_fitted()
        v = _arrays(frequency=frequency, recency=recency, T=T)
        _check_summary(v["frequency"], v["recency"], v["T"])
        return v["frequency"], v["recency"], v["T"]

    def _discounted_purchases(
        self, x: Array, t_x: Array, T: Array, months: int, month_length: float, discount_rate: float
    ) -> Array:
        raise NotImplementedError

    @staticmethod
    def _check_clv_args(months: int, month_length: float, discount_rate: float) -> None:
        if months < 0 or discount_rate <= -1 or month_length <= 0:
            raise InvalidInput("months >= 0, month_length > 0 and discount_rate > -1", code="bad_parameter")

    def clv(
        self,
        spend: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        months: int = 12,
        month_length: float = 30.0,
        discount_rate: float = 0.01,
    ) -> Array:
        """Discounted value of the next ``months`` months: for each month m, the expected
        purchases in month m times ``spend`` (expected value per purchase, e.g. from
        :class:`GammaGammaModel`), discounted by ``(1 + discount_rate) ** m`` (a monthly rate,
        as in ``lifetimes``). ``month_length`` is in the model's time unit (30 for days,
        30/7 for weeks). The expectation is evaluated once per unique history and month."""
        self._check_clv_args(months, month_length, discount_rate)
        x, t_x, age = self._summary(frequency, recency, T)
        money = np.asarray(spend, dtype=np.float64)
        if money.shape != x.shape or np.any(money < 0) or not np.all(np.isfinite(money)):
            raise InvalidInput("spend must be one finite value >= 0 per customer", code="bad_summary")
        (ux, ut, uT), _, inverse = unique_histories(x, t_x, age)
        return money * self._discounted_purchases(ux, ut, uT, months, month_length, discount_rate)[inverse]

    def discounted_purchases(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        *,
        months: int = 12,
        month_length: float = 30.0,
        discount_rate: float = 0.01,
    ) -> Array:
        """:meth:`clv` per unit of spend, per history: for histories already grouped (the
        scoring run computes it once per unique history and multiplies by each customer's
        expected spend)."""
        self._check_clv_args(months, month_length, discount_rate)
        x, t_x, age = self._summary(frequency, recency, T)
        return self._discounted_purchases(x, t_x, age, months, month_length, discount_rate)


class BetaGeoModel(PurchaseModel):
    """BG/NBD (Fader, Hardie & Lee 2005)."""

    fitted: ClassVar[tuple[str, ...]] = ("r_", "alpha_", "a_", "b_", "log_likelihood_", "n_customers_")

    @staticmethod
    def log_likelihood(r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array) -> Array:
        """Per-customer log-likelihood, finite for any x (FHL 2005, eq. 7 in log space)."""
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        return a1 + a2 + np.logaddexp(a3, a4)  # type: ignore[no-any-return]

    @staticmethod
    def _total_ll_and_gradient(theta: Array, h: _Histories) -> tuple[float, Array]:
        """Weighted total log-likelihood of the histories and its gradient in (r, alpha, a, b).

        The special functions depend on x alone and the logs on t_x or T alone, each taking a
        few hundred values among hundreds of thousands of histories: they are evaluated per
        value and gathered, and sums over histories sharing an x use per-x weight totals.
        """
        r, alpha, a, b = theta
        xv, has = h.x_values, h.x_values > 0
        with np.errstate(divide="ignore"):
            log_b1 = np.log(np.where(has, b + xv - 1, 1.0))
        log_aT = np.log(alpha + h.T_values)[h.iT]
        log_at = np.log(alpha + h.t_values)[h.it]
        rx = r + h.x
        a3 = -rx * log_aT
        a4 = np.where(h.repeat, (np.log(a) - log_b1)[h.ix] - rx * log_at, -np.inf)
        mix = np.logaddexp(a3, a4)
        w4 = np.exp(a4 - mix)  # share of the "dropped out after the last purchase" term
        w3 = 1.0 - w4
        per_x = gammaln(r + xv) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xv) - betaln(a, b)
        psi_abx = digamma(a + b + xv)
        ww3, ww4 = h.w * w3, h.w * w4
        wx4 = np.bincount(h.ix, weights=ww4, minlength=len(xv))
        inv_aT = (1.0 / (alpha + h.T_values))[h.iT]
        inv_at = (1.0 / (alpha + h.t_values))[h.it]
        total = float(h.wx @ per_x + h.w @ mix)
        grad = np.array(
            [
                h.wx @ (digamma(r + xv) - digamma(r) + np.log(alpha)) - ww3 @ log_aT - ww4 @ log_at,
                r / alpha * h.total - (ww3 * rx) @ inv_aT - (ww4 * rx) @ inv_at,
                h.wx @ (digamma(a + b) - psi_abx) + wx4.sum() / a,
                h.wx @ (digamma(b + xv) - psi_abx - digamma(b) + digamma(a + b))
                - wx4 @ np.where(has, np.exp(-log_b1), 0.0),
            ]
        )
        return total, grad

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeoModel:
        """Fit on one row per customer, or on histories already grouped with ``weights`` (the
        number of customers sharing each one: see :func:`unique_histories`)."""
        v = _arrays(frequency=frequency, recency=recency, T=T)
        x, t_x, age = v["frequency"], v["recency"], v["T"]
        if len(x) == 0:
            raise InvalidInput("no customers to fit on", code="bad_summary")
        _check_summary(x, t_x, age)
        if weights is None:
            (ux, ut, uT), w, _ = unique_histories(x, t_x, age)
        else:
            ux, ut, uT, w = x, t_x, age, _arrays(weights=weights)["weights"]
            if w.shape != x.shape or np.any(w < 0) or w.sum() <= 0:
                raise InvalidInput("weights: one count >= 0 per history, not all 0", code="bad_summary")
        hist = _Histories(ux, ut, uT, w)
        pen = self.penalizer

        def neg_ll(log_params: Array) -> tuple[float, Array]:
            theta = np.exp(log_params)
            ll, grad = self._total_ll_and_gradient(theta, hist)
            value = -ll / hist.total + pen * np.sum(theta**2)
            # d/d(log theta) = theta * d/d theta
            return float(value), theta * (-grad / hist.total + 2 * pen * theta)

        start = np.array([1.0, max(float(np.mean(age)), 1e-3), 1.0, 1.0])
        r, alpha, a, b = _maximise(neg_ll, start, ("r", "alpha", "a", "b"))
        self.r_, self.alpha_, self.a_, self.b_ = float(r), float(alpha), float(a), float(b)
        self.log_likelihood_ = float(np.sum(w * self.log_likelihood(r, alpha, a, b, ux, ut, uT)))
        self.n_customers_ = round(hist.total)
        return self

    def _log_dropout_odds(self, x: Array, t_x: Array, T: Array) -> Array:
        """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, -inf for x = 0."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, odds, -np.inf)

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Array:
        """P(still a customer | history). 1 for customers without repeat purchases by the
        model's construction: rank churn by :meth:`probability_of_purchase`, not by this."""
        x, t_x, age = self._summary(frequency, recency, T)
        return expit(-self._log_dropout_odds(x, t_x, age))  # type: ignore[no-any-return]

    def _expected(self, x: Array, t_x: Array, T: Array, t: float | Array) -> Array:
        return self._expected_if_alive(x, T, t) * expit(-self._log_dropout_odds(x, t_x, T))  # type: ignore[no-any-return]

    def _expected_if_alive(self, x: Array, T: Array, t: float | Array) -> Array:
        """FHL eq. 10 without its P(alive) factor: a function of (x, T) and the horizon."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        if abs(a - 1.0) < 1e-12:
            raise FitFailed("a = 1: the expected purchases formula is singular", code="model_undefined")
        t = np.asarray(t, dtype=np.float64)
        z = t / (alpha + T + t)
        # FHL eq. 10 has ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z), whose
        # hypergeometric factor overflows for large x. Euler's transformation turns it into
        # ((alpha+T)/(alpha+T+t))^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z): same value, small
        # numbers, fast convergence for every x.
        tail = np.exp((a - 1.0) * (np.log(alpha + T) - np.log(alpha + T + t)))
        inner = 1.0 - tail * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        return (a + b + x - 1.0) / (a - 1.0) * inner  # type: ignore[no-any-return]

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> Array:
        """E[purchases in the next ``t`` units | history] (FHL 2005, eq. 10)."""
        x, t_x, age = self._summary(frequency, recency, T)
        return self._expected(x, t_x, age, t)

    def probability_of_purchase(self, t: float, frequency: Any, recency: Any, T: Any) -> Array:
        """P(at least one purchase in the next ``t`` units | history): alive, and then at least
        one Poisson event before dropping out (approximated by no dropout within ``t``). Its
        complement is the churn risk that ranks customers well (FINDINGS.md)."""
        x, t_x, age = self._summary(frequency, recency, T)
        alive = expit(-self._log_dropout_odds(x, t_x, age))
        none_if_alive = np.exp((self.r_ + x) * (np.log(self.alpha_ + age) - np.log(self.alpha_ + age + t)))
        return alive * (1.0 - none_if_alive)  # type: ignore[no-any-return]

    def median_time_to_next(self, frequency: Any, recency: Any, T: Any) -> Array:
        """Median time from the as-of date to the next purchase *if the customer is alive*
        (posterior rate Gamma(r+x, alpha+T)): (alpha+T)(2^(1/(r+x)) - 1)."""
        x, _, age = self._summary(frequency, recency, T)
        return (self.alpha_ + age) * np.expm1(np.log(2.0) / (self.r_ + x))  # type: ignore[no-any-return]

    def _discounted_purchases(
        self, x: Array, t_x: Array, T: Array, months: int, month_length: float, discount_rate: float
    ) -> Array:
        # The hypergeometric part depends on (x, T) only, which repeat far more than (x, t_x, T).
        (px, pT), _, pair = unique_histories(x, T)
        alive = expit(-self._log_dropout_odds(x, t_x, T))
        total = np.zeros_like(x)
        previous = np.zeros_like(x)
        for m in range(1, months + 1):
            current = self._expected_if_alive(px, pT, m * month_length)[pair] * alive
            total += (current - previous) / (1.0 + discount_rate) ** m
            previous = current
        return total

    def holdout_report(
        self, frequency: Any, recency: Any, T: Any, actual: Any, t: float, max_bucket: int = 7
    ) -> dict[str, Any]:
        """Calibration/holdout validation: predicted vs actual repeat purchases in a holdout of
        length ``t``, in total and by calibration frequency (``max_bucket`` and above pooled)."""
        x, t_x, age = self._summary(frequency, recency, T)
        got = np.asarray(actual, dtype=np.float64)
        if got.shape != x.shape:
            raise InvalidInput("one actual count per customer", code="bad_summary")
        predicted = self._expected(x, t_x, age, t)
        bucket = np.minimum(x, max_bucket).astype(int)
        rows = []
        for k in range(max_bucket + 1):
            sel = bucket == k
            if sel.any():
                rows.append(
                    {
                        "frequency": k if k < max_bucket else f"{max_bucket}+",
                        "customers": int(sel.sum()),
                        "predicted_mean": float(predicted[sel].mean()),
                        "actual_mean": float(got[sel].mean()),
                    }
                )
        return {
            "holdout_length": t,
            "predicted_total": float(predicted.sum()),
            "actual_total": float(got.sum()),
            "by_frequency": rows,
        }


class GammaGammaModel(Penalized):
    """Gamma-Gamma spend model, fitted on customers with at least one repeat purchase (their
    repeat count and mean repeat spend). Assumes spend independent of purchase frequency."""

    fitted: ClassVar[tuple[str, ...]] = ("p_", "q_", "v_", "log_likelihood_", "n_customers_")

    @staticmethod
    def log_likelihood(p: float, q: float, v: float, x: Array, m: Array) -> Array:
        return (  # type: ignore[no-any-return]
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(v)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(x * m + v)
        )

    def fit(self, frequency: Any, monetary: Any) -> GammaGammaModel:
        arr = _arrays(frequency=frequency, monetary=monetary)
        x, m = arr["frequency"], arr["monetary"]
        keep = x > 0
        if np.any(m[keep] <= 0):
            raise InvalidInput("mean repeat spend must be > 0 for customers with repeats", code="bad_summary")
        x, m = x[keep], m[keep]
        if len(x) < 3:
            raise InvalidInput("need customers with repeat purchases to fit spend", code="bad_summary")
        n = float(len(x))
        pen = self.penalizer
        # The log-likelihood summed over customers is linear in p and q given sums that do not
        # depend on the parameters, except for log(x m + v): per evaluation that is one log and
        # one reciprocal per customer, the rest are per distinct x or precomputed.
        xv, ix = np.unique(x, return_inverse=True)
        counts = np.bincount(ix.ravel()).astype(np.float64)
        xm = x * m
        sum_x_log_m, sum_log_m = float(x @ np.log(m)), float(np.log(m).sum())
        sum_x_log_x = float(counts @ (xv * np.log(xv)))

        def neg_ll(log_params: Array) -> tuple[float, Array]:
            theta = np.exp(log_params)
            p, q, v = theta
            px = p * xv
            psi_pxq = digamma(px + q)
            log_xmv = np.log(xm + v)
            inv_xmv = 1.0 / (xm + v)
            s1, s0 = float(x @ log_xmv), float(log_xmv.sum())
            ll = (
                counts @ (gammaln(px + q) - gammaln(px))
                - n * gammaln(q)
                + n * q * np.log(v)
                + p * sum_x_log_m
                - sum_log_m
                + p * sum_x_log_x
                - p * s1
                - q * s0
            )
            grad = np.array(
                [
                    counts @ (xv * (psi_pxq - digamma(px))) + sum_x_log_m + sum_x_log_x - s1,
                    counts @ psi_pxq - n * digamma(q) + n * np.log(v) - s0,
                    n * q / v - p * float(x @ inv_xmv) - q * float(inv_xmv.sum()),
                ]
            )
            value = -ll / n + pen * np.sum(theta**2)
            return float(value), theta * (-grad / n + 2 * pen * theta)

        p, q, v = _maximise(neg_ll, np.array([1.0, 1.0, 1.0]), ("p", "q", "v"))
        self.p_, self.q_, self.v_ = float(p), float(q), float(v)
        self.log_likelihood_ = float(np.sum(self.log_likelihood(p, q, v, x, m)))
        self.n_customers_ = int(n)
        return self

    def expected_spend(self, frequency: Any, monetary: Any) -> Array:
        """E[mean spend | x, m_x]: a weighted average of the population mean and the customer's
        own mean, trusting the latter more the more repeats there are."""
        self.check_fitted()
        arr = _arrays(frequency=frequency, monetary=monetary)
        x, m = arr["frequency"], arr["monetary"]
        p, q, v = self.p_, self.q_, self.v_
        if q <= 1:
            raise FitFailed(f"q = {q:.4f} <= 1: the mean spend is undefined", code="model_undefined")
        return (p * (v + x * m)) / (p * x + q - 1)
