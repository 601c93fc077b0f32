"""Customer lifetime value for every customer: BG/NBD x Gamma-Gamma over a horizon.

The scoring run's path: customers are grouped by history ``(x, t_x, T)`` once, the purchase
model is fitted and evaluated on the groups, and each customer's value is their group's
discounted expected purchases times their own expected spend.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from patron.analytics.btyd import LOG_BOUND, BetaGeoModel, FitFailed, GammaGammaModel, unique_histories


@dataclass
class CLVResult:
    purchases: BetaGeoModel
    spend: GammaGammaModel
    #: customer_id, expected_purchases (horizon), probability_alive, expected_spend, clv
    scores: pl.DataFrame
    penalizer: float


#: Penalty used when the plain maximum-likelihood fit degenerates (FINDINGS: lifetimes users
#: reach for 0.001-0.1 on small data).
FALLBACK_PENALIZER = 0.001


def score_clv(
    summary: pl.DataFrame,
    *,
    months: int = 12,
    month_length: float = 30.0,
    discount_rate: float = 0.01,
    penalizer: float = 0.0,
) -> CLVResult:
    """Fit both models on a :func:`~patron.analytics.summary.summarize` frame and value every
    customer over ``months`` months (``month_length`` in the summary's time unit).

    ``penalizer`` applies to the purchase model. Small or very regular data can put its
    likelihood maximum at infinity (no heterogeneity between customers to learn); then it is
    fitted again with a small L2 penalty (:data:`FALLBACK_PENALIZER`) and ``result.penalizer``
    says so. The spend model is never penalised: its scale parameter is in money units, where a
    fixed penalty means something different in every currency. Raises :class:`FitFailed` when
    no usable fit exists."""
    x = summary["frequency"].to_numpy().astype(np.float64)
    t_x = summary["recency"].to_numpy().astype(np.float64)
    age = summary["T"].to_numpy().astype(np.float64)
    money = summary["monetary"].to_numpy().astype(np.float64)
    (ux, ut, uT), counts, group = unique_histories(x, t_x, age)
    # The two fits are independent and spend their time in numpy loops that release the GIL:
    # on two cores they run side by side.
    # BLAS is held to one thread: L-BFGS-B's small matrix steps on a busy two-core machine
    # otherwise spin-wait for each other (FINDINGS.md).
    horizon = months * month_length
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=1) as pool:
        spend_fit = pool.submit(GammaGammaModel().fit, x, money)
        for pen in (penalizer, FALLBACK_PENALIZER) if penalizer < FALLBACK_PENALIZER else (penalizer,):
            bg = BetaGeoModel(pen).fit(ux, ut, uT, weights=counts)
            # A near-degenerate fit (a, b ~ 1e7) can make 0 * inf in the predictions; that is
            # detected below and answered with the penalised fit, so numpy need not warn.
            with np.errstate(invalid="ignore", over="ignore"):
                value = bg.discounted_purchases(
                    ux, ut, uT, months=months, month_length=month_length, discount_rate=discount_rate
                )
                expected = bg.expected_purchases(horizon, ux, ut, uT)
                alive = bg.probability_alive(ux, ut, uT)
            if not _degenerate(bg) and all(np.all(np.isfinite(v)) for v in (value, expected, alive)):
                break
        else:
            raise FitFailed("the purchase model has no usable fit on this data (too little history?)")
        gg = spend_fit.result()
    spend = gg.expected_spend(x, money)
    if not np.all(np.isfinite(spend)):
        raise FitFailed("the spend model gives undefined values on this data")
    scores = pl.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "expected_purchases": expected[group],
            "probability_alive": alive[group],
            "expected_spend": spend,
            "clv": spend * value[group],
        }
    )
    return CLVResult(bg, gg, scores, pen)


def _degenerate(bg: BetaGeoModel) -> bool:
    """A parameter at the optimiser's bound: the data do not identify it."""
    return any(abs(np.log(v)) >= LOG_BOUND - 1e-6 for v in (bg.r_, bg.alpha_, bg.a_, bg.b_))
