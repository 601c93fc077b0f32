"""Churn model quality (issue: AUC and top-decile lift on the demo shop and on CDNOW, cutoff at
week 52, label: no purchase in the next 26 weeks, beside the BG/NBD and recency-only baselines).

For each data set :func:`patron.analytics.churn.compare_on_backtest` runs once per classifier
(logistic, gradient boosting): the classifier learns from features at ``cutoff - 26 weeks``
labelled by the 26 weeks up to the cutoff, then ranks the customers known at the cutoff; BG/NBD
(fitted on the summary at the cutoff, no labels) scores ``1 - P(at least one purchase in the 26
weeks)``; recency is days since the last purchase. ``1 - P(alive)`` from the same BG/NBD fit is
reported too, as the score the docs warn against (it calls every one-time buyer safe).

* **CDNOW**: the full log (``CDNOW_master.txt``, 23,570 customers) when present in
  ``../shared/datasets/cdnow``, else the 1/10 sample; BG/NBD in weeks as published. Cutoff
  1997-12-31 (first purchase date + 52 weeks), horizon to 1998-07-01 (the log ends on
  1998-06-30, so the horizon's last day is empty for everyone).
* **Demo shop**: the paid orders of ``patron.demo.generator`` (100,000 people, seed 7, two years
  from 2024-11-01), built in memory by the generator's own stages with its own random streams
  (the files ``generate`` writes hold the same orders), one customer per person (all shops
  merged), amounts in CNY (USD at the demo's rate). Cutoff 26 weeks before the last day of data;
  BG/NBD in days, as the scoring run fits it.

Fit times are medians of three fits of the model alone (frames built once).

    python -m benchmarks.churn_bench [--customers N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from benchmarks.common import ROOT, write

CDNOW_DIR = ROOT.parent / "shared" / "datasets" / "cdnow"
HORIZON_DAYS = 26 * 7
ROUNDS = 3
DEMO_SEED = 7


def cdnow_log() -> tuple[pl.DataFrame, str]:
    """The CDNOW log as customer_id, at (date), amount: the full master log if present."""
    master = CDNOW_DIR / "CDNOW_master.txt"
    if master.exists():
        # customer id, date YYYYMMDD, number of CDs, dollar value; this copy starts with a
        # header line (the README says none), so any non-numeric first line is skipped.
        lines = master.read_text().splitlines()
        if lines and not lines[0].split()[0].isdigit():
            lines = lines[1:]
        cells = np.array(" ".join(lines).split()).reshape(-1, 4)
        customer, day, amount, name = cells[:, 0], cells[:, 1], cells[:, 3], "CDNOW_master.txt"
    else:
        # master id, sample id, date, number of CDs, dollar value
        cells = np.array((CDNOW_DIR / "CDNOW_sample.txt").read_text().split()).reshape(-1, 5)
        customer, day, amount, name = cells[:, 1], cells[:, 2], cells[:, 4], "CDNOW_sample.txt"
    log = pl.DataFrame(
        {
            "customer_id": customer.astype(np.int64),
            "at": pl.Series(day).str.to_date("%Y%m%d"),
            "amount": amount.astype(np.float64),
        }
    )
    return log, name


def demo_log(customers: int) -> tuple[pl.DataFrame, date, dict[str, Any]]:
    """The demo shop's transactions (paid orders) as customer_id, at (local time), amount in CNY,
    and the first day after the data. The stages and random streams are those of
    :func:`patron.demo.generator.generate`, which also writes these orders to its files."""
    from patron.demo import generator as g
    from patron.demo.load import DEMO_RATES

    start, days = date(2024, 11, 1), 730
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(DEMO_SEED).spawn(11)]
    catalog = g._build_catalog(rngs[0], g._n_products(customers))
    people = g._build_people(rngs[1], customers, start, days, catalog.group_weights)
    tx = g._simulate_purchases(rngs[2], people, days)
    accounts = g._build_accounts(rngs[3], people, tx, days)
    orders = g._build_orders(rngs[4], people, accounts, tx, days)
    paid = orders.kind == g._K_TX
    usd = orders.shop[paid] == g.SHOPIFY
    rate = np.where(usd, float(DEMO_RATES["USD"]), 1.0)
    log = pl.DataFrame(
        {
            "customer_id": orders.person[paid],
            "at": (
                np.datetime64(start.isoformat(), "s") + orders.placed[paid].astype("timedelta64[s]")
            ).astype("datetime64[us]"),
            "amount": np.round(orders.z[paid] / 100.0 * rate, 2),
        }
    ).sort("customer_id", "at")
    info = {
        "generator": "patron.demo.generator",
        "people": customers,
        "seed": DEMO_SEED,
        "start": start.isoformat(),
        "days": days,
        "buyers": int(log["customer_id"].n_unique()),
        "usd_to_cny": float(DEMO_RATES["USD"]),
        "bgnbd_truth": dict(g.BGNBD_TRUTH),
    }
    return log, start + timedelta(days=days), info


def _scores(e: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("auc", "top_decile_lift", "top_decile_lift_max", "repurchase_lift", "repurchase_lift_max")
    out: dict[str, float | None] = {k: round(float(e[k]), 4) for k in keys}
    out["mean_predicted"] = None if e["mean_predicted"] is None else round(float(e["mean_predicted"]), 4)
    return out


def _median_seconds(fn: Any) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def backtest(log: pl.DataFrame, cutoff: date, unit: str) -> dict[str, Any]:
    """The comparison at ``cutoff`` (26-week horizon), with fit times."""
    from patron.analytics.btyd import BetaGeoModel
    from patron.analytics.churn import ChurnModel, backtest_frame, compare_on_backtest, evaluate
    from patron.analytics.summary import UNITS, summarize

    runs: dict[str, dict[str, Any]] = {}
    compare_seconds: dict[str, float] = {}
    for model in ("logistic", "gbm"):
        start = time.perf_counter()
        runs[model] = compare_on_backtest(log, cutoff, HORIZON_DAYS, unit=unit, model=model)
        compare_seconds[model] = round(time.perf_counter() - start, 3)
    setup = runs["logistic"]["setup"]

    # The same frames and fits outside compare_on_backtest, to time the fits alone (and check
    # that they reproduce its figures).
    start = time.perf_counter()
    train = backtest_frame(log, cutoff - timedelta(days=HORIZON_DAYS), HORIZON_DAYS)
    test = backtest_frame(log, cutoff, HORIZON_DAYS)
    frames_seconds = round(time.perf_counter() - start, 3)
    fit_seconds: dict[str, float] = {}
    for model in ("logistic", "gbm"):
        clf = ChurnModel(model=model).fit(train, train["churned"])
        auc = evaluate(clf.predict_proba(test), test["churned"])["auc"]
        assert auc == runs[model]["classifier"]["auc"], (model, auc)
        fit_seconds[model] = _median_seconds(lambda m=model: ChurnModel(model=m).fit(train, train["churned"]))

    scale = UNITS[unit]
    local = log.select("customer_id", pl.col("at").cast(pl.Date), "amount")
    summary = test.select("customer_id").join(
        summarize(local, cutoff, unit=unit), on="customer_id", how="left", maintain_order="left"
    )
    x, t_x = summary["frequency"].to_numpy(), summary["recency"].to_numpy()
    age = np.maximum(summary["T"].to_numpy(), 1.0 / scale)

    def fit_bg() -> BetaGeoModel:
        with threadpool_limits(limits=1, user_api="blas"):
            return BetaGeoModel().fit(x, t_x, age)

    fit_seconds["bgnbd"] = _median_seconds(fit_bg)
    # Refits agree to about 1e-8, not to the bit: in weeks the histories are grouped by a polars
    # group_by whose group order varies between runs, and so does the order of the sums.
    ours, theirs = fit_bg(), setup["bgnbd_params"]
    assert all(abs(getattr(ours, f"{k}_") / v - 1) < 1e-6 for k, v in theirs.items()), theirs
    # 1 - P(alive) of compare_on_backtest's own fit.
    bg = BetaGeoModel.from_dict(
        {
            "model": "BetaGeoModel",
            "version": BetaGeoModel.version,
            "params": {"penalizer": 0.0},
            "fitted": {
                **{f"{k}_": v for k, v in theirs.items()},
                "log_likelihood_": 0.0,
                "n_customers_": len(x),
            },
        }
    )
    label = test["churned"].to_numpy()
    p_alive = evaluate(1.0 - bg.probability_alive(x, t_x, age), label)

    churned = int(label.sum())
    return {
        "setup": {
            "cutoff": setup["cutoff"],
            "train_cutoff": setup["train_cutoff"],
            "horizon_days": HORIZON_DAYS,
            "bgnbd_unit": unit,
            "n_train": setup["n_train"],
            "train_base_rate": round(setup["train_base_rate"], 4),
            "n_eval": setup["n_test"],
            "eval_churned": churned,
            "base_churn_rate": round(churned / len(label), 4),
            "one_time_buyers_eval": int((x == 0).sum()),
            "bgnbd_params": {k: round(v, 6) for k, v in setup["bgnbd_params"].items()},
        },
        "scores": {
            "logistic": _scores(runs["logistic"]["classifier"]),
            "gbm": _scores(runs["gbm"]["classifier"]),
            "bgnbd": _scores(runs["logistic"]["bgnbd"]),
            "recency": _scores(runs["logistic"]["recency"]),
            "bgnbd_1_minus_p_alive": _scores(p_alive),
        },
        "seconds": {
            "fit_median": fit_seconds,
            "frames": frames_seconds,
            "compare_on_backtest": compare_seconds,
        },
    }


def main(customers: int = 100_000) -> None:
    cdnow, source = cdnow_log()
    first = cdnow["at"].min()
    assert isinstance(first, date)
    result: dict[str, Any] = {
        "scores_note": "classifier AUC and lifts at the cutoff; bgnbd = 1 - P(buys in the horizon); "
        "recency = days since the last purchase; bgnbd_1_minus_p_alive shown for contrast only",
        "cdnow": {
            "source": source,
            "customers": int(cdnow["customer_id"].n_unique()),
            "transactions": cdnow.height,
            "log_last_day": str(cdnow["at"].max()),
            **backtest(cdnow, first + timedelta(weeks=52), "weeks"),
        },
    }
    start = time.perf_counter()
    demo, end, info = demo_log(customers)
    info["generate_seconds"] = round(time.perf_counter() - start, 2)
    last_day = end - timedelta(days=1)
    result["demo"] = {
        **info,
        "transactions": demo.height,
        "log_last_day": last_day.isoformat(),
        **backtest(demo, last_day - timedelta(days=HORIZON_DAYS), "days"),
    }
    write("churn", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000, help="demo shop people")
    args = parser.parse_args()
    main(args.customers)
