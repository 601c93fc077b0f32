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

from patron.analytics.btyd import BetaGeoModel, GammaGammaModel, unique_histories


@dataclass
class CLVResult:
    purchases: BetaGeoModel
    spend: GammaGammaModel
    #: customer_id, expected_purchases (horizon), probability_alive, expected_spend, clv
    scores: pl.DataFrame


def score_clv(
    summary: pl.DataFrame,
    *,
    months: int = 12,
    month_length: float = 30.0,
    discount_rate: float = 0.01,
    penalizer: float = 0.0,
) -> CLVResult:
    """Fit both models on a :func:`~patron.analytics.summary.summarize` frame and value every
    customer over ``months`` months (``month_length`` in the summary's time unit)."""
    x = summary["frequency"].to_numpy().astype(np.float64)
    t_x = summary["recency"].to_numpy().astype(np.float64)
    age = summary["T"].to_numpy().astype(np.float64)
    money = summary["monetary"].to_numpy().astype(np.float64)
    (ux, ut, uT), counts, group = unique_histories(x, t_x, age)
    # The two fits are independent and spend their time in numpy loops that release the GIL:
    # on two cores they run side by side.
    # BLAS is held to one thread: L-BFGS-B's small matrix steps on a busy two-core machine
    # otherwise spin-wait for each other (FINDINGS.md).
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=1) as pool:
        spend_fit = pool.submit(GammaGammaModel(penalizer).fit, x, money)
        bg = BetaGeoModel(penalizer).fit(ux, ut, uT, weights=counts)
        gg = spend_fit.result()
    value = bg.discounted_purchases(
        ux, ut, uT, months=months, month_length=month_length, discount_rate=discount_rate
    )
    horizon = months * month_length
    spend = gg.expected_spend(x, money)
    scores = pl.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "expected_purchases": bg.expected_purchases(horizon, ux, ut, uT)[group],
            "probability_alive": bg.probability_alive(ux, ut, uT)[group],
            "expected_spend": spend,
            "clv": spend * value[group],
        }
    )
    return CLVResult(bg, gg, scores)
