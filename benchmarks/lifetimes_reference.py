"""Reference predictions of ``lifetimes`` 0.11.3 for ``tests/analytics/test_lifetimes_agreement.py``.

CI cannot import lifetimes (its pins conflict with Patron's), so its predictions are computed
here once, in ``.venv-peers`` (``make peers``), and stored with their inputs and parameters in
``tests/fixtures/lifetimes_reference.json``; the test sets the same parameters on Patron's models
and compares. No fit runs on either side: the parameters are the published CDNOW estimates,
set on the fitters as ``params_`` (a pandas Series, as ``fit`` stores them).

    .venv-peers/bin/python benchmarks/lifetimes_reference.py

Time is in weeks (the unit of the published estimates) for every quantity but CLV. CLV is the
scoring run's quantity: time in days, 12 months of 30 days, 1 % monthly discount, which is
lifetimes' ``customer_lifetime_value(..., time=12, discount_rate=0.01, freq="D")`` (it steps
30 days a month and discounts month m by 1.01 ** m) with the rate parameters in days
(``alpha`` and ``beta`` times 7: a weekly rate ~ Gamma(r, alpha) is a daily rate ~
Gamma(r, 7 alpha)) and recency and age in days.

Where lifetimes returns NaN or an infinity, the value is stored as null and listed under
``lifetimes_nan``: the test requires Patron to be finite there.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

ROOT = Path(__file__).resolve().parents[1]
CDNOW = ROOT.parent / "shared" / "datasets" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
OUT = ROOT / "tests" / "fixtures" / "lifetimes_reference.json"

#: CDNOW estimates, time in weeks: BG/NBD and Gamma-Gamma as published (Fader, Hardie & Lee
#: 2005; Fader & Hardie 2013), Pareto/NBD as Patron's fit gives them (docs/analytics.md; FHL's
#: MATLAB note has 0.5533, 10.5776, 0.6061, 11.6650).
BGNBD = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
PARETO = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
DAYS_PER_WEEK = 7.0
#: Horizons of the conditional expectations (weeks).
HORIZONS = (1.0, 13.0, 39.0, 52.0, 104.0)
#: Horizons of the population expectation (weeks).
POPULATION_HORIZONS = (1.0, 13.0, 39.0, 78.0, 520.0)
CLV = {"months": 12, "discount_rate": 0.01, "freq": "D", "month_length_days": 30.0}

#: (name, frequency, recency, T, monetary), time in weeks.
EDGE_CASES: tuple[tuple[str, float, float, float, float], ...] = (
    ("x0_one_day_old", 0, 0, 1 / 7, 0),
    ("x0_cdnow_age", 0, 0, 38.86, 0),
    ("x0_large_T", 0, 0, 520, 0),
    ("one_repeat_early", 1, 1, 38, 20),
    ("one_repeat_at_T", 1, 20, 20, 15),
    ("one_repeat_one_day_old", 1, 1 / 7, 1 / 7, 9.5),
    ("tx_equals_T", 10, 39, 39, 25),
    ("x200_tx38_T40", 200, 38, 40, 30),
    ("x200_tx_equals_T", 200, 40, 40, 30),
    ("large_T", 3, 10, 520, 12),
    ("large_T_recent", 40, 519, 520, 18),
    ("x1000_tx30_T40", 1000, 30, 40, 22),
    ("x5000_tx30_T40", 5000, 30, 40, 22),
    ("silent_heavy_buyer", 50, 5, 39, 40),
    ("x20000_tx2859.9_T2860", 20000, 2859.9, 2860, 35),
    # Not possible histories (more purchase days than days), but valid input to both libraries:
    # with these parameters lifetimes' Pareto/NBD returns NaN from about x = 34,000 at T = 40
    # (8,000 at T = 1), where its 2F1 in A_0 overflows. A scan of histories with x up to the
    # age in days (60 ages from 0.1 to 20,000 weeks, 40 frequencies and 7 recencies each, in
    # weeks and in days) found no NaN or infinity in lifetimes.
    ("stress_x40000_tx39_T40", 40000, 39, 40, 35),
    ("stress_x40000_tx_equals_T", 40000, 40, 40, 35),
)


def cases() -> list[dict[str, Any]]:
    """Every 100th CDNOW sample customer, the first customer of each frequency, then the edges."""
    frame = pd.read_csv(CDNOW)
    picked = set(frame.index[::100]) | set(frame.groupby("x").head(1).index)
    out = [
        {
            "name": f"cdnow_{int(row.ID)}",
            "frequency": float(row.x),
            "recency": float(row.t_x),
            "T": float(row.T),
            "monetary": float(row.zbar),
        }
        for row in frame.loc[sorted(picked)].itertuples()
    ]
    out += [
        {"name": name, "frequency": float(x), "recency": float(t_x), "T": float(age), "monetary": float(m)}
        for name, x, t_x, age, m in EDGE_CASES
    ]
    return out


def fitter(cls: type, params: dict[str, float]) -> Any:
    """A lifetimes fitter holding ``params`` as ``fit`` would leave them (``params_`` and the
    ``predict`` alias that ``customer_lifetime_value`` calls)."""
    model = cls()
    model.params_ = pd.Series(params, dtype=float)
    if hasattr(model, "conditional_expected_number_of_purchases_up_to_time"):
        model.predict = model.conditional_expected_number_of_purchases_up_to_time
    return model


def in_days(params: dict[str, float]) -> dict[str, float]:
    """Weekly parameters in days: the rate scales alpha and beta times 7, the shapes as they are."""
    return {k: v * DAYS_PER_WEEK if k in ("alpha", "beta") else v for k, v in params.items()}


class Recorder:
    """Collects outputs, turning lifetimes' NaN and infinities into nulls listed apart."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.nan: list[dict[str, Any]] = []

    def values(self, quantity: str, raw: Any) -> list[float | None]:
        out: list[float | None] = []
        for name, v in zip(self.names, np.asarray(raw, dtype=float).ravel(), strict=True):
            if math.isfinite(v):
                out.append(float(v))
            else:
                out.append(None)
                self.nan.append({"quantity": quantity, "case": name, "lifetimes": repr(float(v))})
        return out

    def scalar(self, quantity: str, raw: Any) -> float | None:
        v = float(np.asarray(raw, dtype=float).ravel()[0])
        if math.isfinite(v):
            return v
        self.nan.append({"quantity": quantity, "case": None, "lifetimes": repr(v)})
        return None


def main() -> None:
    rows = cases()
    names = [c["name"] for c in rows]
    x = np.array([c["frequency"] for c in rows])
    t_x = np.array([c["recency"] for c in rows])
    age = np.array([c["T"] for c in rows])
    money = np.array([c["monetary"] for c in rows])
    rec = Recorder(names)

    bgf = fitter(BetaGeoFitter, BGNBD)
    pnf = fitter(ParetoNBDFitter, PARETO)
    ggf = fitter(GammaGammaFitter, GAMMA_GAMMA)
    bgf_days = fitter(BetaGeoFitter, in_days(BGNBD))
    pnf_days = fitter(ParetoNBDFitter, in_days(PARETO))
    xs, ts_days, ages_days = (pd.Series(v) for v in (x, t_x * DAYS_PER_WEEK, age * DAYS_PER_WEEK))

    out: dict[str, Any] = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for key, model, days_model in (("bgnbd", bgf, bgf_days), ("pareto_nbd", pnf, pnf_days)):
            q: dict[str, Any] = {
                "conditional_probability_alive": rec.values(
                    f"{key}.conditional_probability_alive", model.conditional_probability_alive(x, t_x, age)
                ),
                "conditional_expected_number_of_purchases_up_to_time": {
                    str(t): rec.values(
                        f"{key}.conditional_expected_number_of_purchases_up_to_time[{t}]",
                        model.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age),
                    )
                    for t in HORIZONS
                },
                "expected_number_of_purchases_up_to_time": {
                    str(t): rec.scalar(
                        f"{key}.expected_number_of_purchases_up_to_time[{t}]",
                        model.expected_number_of_purchases_up_to_time(t),
                    )
                    for t in POPULATION_HORIZONS
                },
                "customer_lifetime_value_days": rec.values(
                    f"{key}.customer_lifetime_value_days",
                    ggf.customer_lifetime_value(
                        days_model,
                        xs,
                        ts_days,
                        ages_days,
                        pd.Series(money),
                        time=CLV["months"],
                        discount_rate=CLV["discount_rate"],
                        freq=CLV["freq"],
                    ).to_numpy(),
                ),
            }
            if key == "pareto_nbd":
                # lifetimes' conditional PMF (FH note 028, eq. 16) at n = 0; Patron defines its
                # complement, P(at least one purchase in t | history).
                q["conditional_probability_of_n_purchases_up_to_time_n0"] = {
                    str(t): rec.values(
                        f"{key}.conditional_probability_of_n_purchases_up_to_time_n0[{t}]",
                        model.conditional_probability_of_n_purchases_up_to_time(0, t, x, t_x, age),
                    )
                    for t in HORIZONS
                }
            out[key] = q
        out["gamma_gamma"] = {
            "conditional_expected_average_profit": rec.values(
                "gamma_gamma.conditional_expected_average_profit",
                ggf.conditional_expected_average_profit(x, money),
            )
        }

    payload = {
        "generator": "benchmarks/lifetimes_reference.py",
        "lifetimes_version": lifetimes.__version__,
        "numpy_version": np.__version__,
        "time_unit": "weeks (CLV: days, rate parameters alpha and beta times 7)",
        "parameters": {"bgnbd": BGNBD, "pareto_nbd": PARETO, "gamma_gamma": GAMMA_GAMMA},
        "days_per_week": DAYS_PER_WEEK,
        "clv": CLV,
        "horizons": list(HORIZONS),
        "population_horizons": list(POPULATION_HORIZONS),
        "cases": rows,
        "lifetimes": out,
        "lifetimes_nan": rec.nan,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(rows)} cases, {len(rec.nan)} lifetimes NaN/inf values")
    for item in rec.nan:
        print("  lifetimes not finite:", item)


if __name__ == "__main__":
    main()
