"""CLV scoring end to end against ``lifetimes`` 0.11.3, on the same transactions in the same run.

Summary from the transaction log (daily periods, same-day merging), BG/NBD fit, Gamma-Gamma fit
and 12-month CLV (30-day months, 1% monthly discount) for every customer. Targets (issue 3): at
least 15x faster than lifetimes, at most 2.0 s median, peak memory at most 600 MB, CLV totals
agreeing to 1e-4 relative. Both sides start from the transactions already in memory (reading
the file is not timed) and run in their own process so the peak RSS is theirs; lifetimes runs in
``.venv-peers`` (``make peers``), whose pins conflict with Patron's.

    python -m benchmarks.clv_bench [--customers N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import ROOT, write

AS_OF = "2025-06-30"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def simulate(customers: int, seed: int = 7) -> pl.DataFrame:
    """A BG/NBD world: Poisson buying at Gamma-distributed rates, dropping out after a purchase
    with Beta-distributed probability, spend per customer Gamma-Gamma; about 2.75 purchases per
    customer over 18 months, first purchases in the first 12 weeks."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.25, 1 / 24.0, customers)
    drop = rng.beta(0.8, 2.4, customers)
    first = rng.integers(0, 84, customers)
    repeats = np.minimum(rng.geometric(drop) - 1, 200)
    owner = np.repeat(np.arange(customers), repeats)
    gaps = rng.exponential(1.0 / np.maximum(rate[owner], 1e-9))
    ends = np.cumsum(gaps)
    starts = np.cumsum(repeats) - repeats
    before = np.concatenate([[0.0], ends])[np.repeat(starts, repeats)]
    when = first[owner] + (ends - before)
    kept = when < 546
    cid = np.concatenate([np.arange(customers), owner[kept]])
    day = np.concatenate([first, np.floor(when[kept]).astype(np.int64)])
    scale = rng.gamma(3.7, 1 / 15.0, customers)
    amount = np.round(rng.gamma(6.0, 1.0 / scale)[cid] * rng.gamma(6.0, 1 / 6.0, len(cid)), 2)
    at = np.datetime64("2024-01-01") + day.astype("timedelta64[D]")
    return pl.DataFrame({"customer_id": cid, "at": at, "amount": amount}).sort("customer_id", "at")


def patron_child(path: str) -> None:
    from datetime import date

    from patron.analytics.clv import score_clv
    from patron.analytics.summary import summarize

    tx = pl.read_parquet(path)
    start = time.perf_counter()
    summary = summarize(tx, date.fromisoformat(AS_OF), unit="days")
    result = score_clv(summary, months=12, month_length=30.0, discount_rate=0.01)
    seconds = time.perf_counter() - start
    bg, gg = result.purchases, result.spend
    print(
        json.dumps(
            {
                "seconds": seconds,
                "clv_total": float(result.scores["clv"].sum()),
                "customers": summary.height,
                "params": {
                    "r": bg.r_,
                    "alpha": bg.alpha_,
                    "a": bg.a_,
                    "b": bg.b_,
                    "p": gg.p_,
                    "q": gg.q_,
                    "v": gg.v_,
                },
                "peak_mb": _peak_mb(),
            }
        )
    )


LIFETIMES_SCRIPT = """
import json, sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

tx = pd.read_csv(sys.argv[1], parse_dates=["at"])
start = time.perf_counter()
s = summary_data_from_transaction_data(
    tx, "customer_id", "at", monetary_value_col="amount", observation_period_end=sys.argv[2], freq="D"
)
bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
rep = s[s["frequency"] > 0]
ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
clv = ggf.customer_lifetime_value(
    bgf, s["frequency"], s["recency"], s["T"], s["monetary_value"], time=12, freq="D", discount_rate=0.01
)
seconds = time.perf_counter() - start
peak = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) // 1024
p = bgf.params_
g = ggf.params_
print(json.dumps({
    "seconds": seconds, "clv_total": float(clv.sum()), "customers": len(s), "peak_mb": peak,
    "params": {"r": p["r"], "alpha": p["alpha"], "a": p["a"], "b": p["b"], "p": g["p"], "q": g["q"], "v": g["v"]},
}))
"""


def _peak_mb() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def _run(cmd: list[str]) -> dict[str, object]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"benchmark command failed: {' '.join(cmd[:3])}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(customers: int, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tx = simulate(customers)
        parquet, csv = Path(tmp) / "tx.parquet", Path(tmp) / "tx.csv"
        tx.write_parquet(parquet)
        tx.write_csv(csv)
        runs = [
            _run([sys.executable, "-m", "benchmarks.clv_bench", "--child", str(parquet)])
            for _ in range(rounds)
        ]
        peer: dict[str, object] | None = None
        if PEERS_PYTHON.exists():
            peer = _run([str(PEERS_PYTHON), "-c", LIFETIMES_SCRIPT, str(csv), AS_OF])
    seconds = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    median = statistics.median(seconds)
    patron = {
        "seconds": [round(s, 3) for s in seconds],
        "median_s": round(median, 3),
        "peak_mb": max(int(r["peak_mb"]) for r in runs),  # type: ignore[call-overload]
        "clv_total": runs[0]["clv_total"],
        "params": runs[0]["params"],
    }
    result: dict[str, object] = {
        "customers": customers,
        "transactions": tx.height,
        "patron": patron,
        "targets": {"speedup_min": 15, "median_s_max": 2.0, "peak_mb_max": 600, "clv_rel_diff_max": 1e-4},
    }
    if peer is not None:
        speedup = float(peer["seconds"]) / median  # type: ignore[arg-type]
        rel = abs(float(patron["clv_total"]) - float(peer["clv_total"])) / float(peer["clv_total"])  # type: ignore[arg-type]
        result["lifetimes"] = peer
        result["speedup"] = round(speedup, 1)
        result["clv_rel_diff"] = rel
        result["meets_targets"] = speedup >= 15 and median <= 2.0 and patron["peak_mb"] <= 600 and rel <= 1e-4  # type: ignore[operator]
    else:
        result["lifetimes"] = "not installed: run `make peers`"
    write("clv", result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        patron_child(args.child)
    else:
        main(args.customers, args.rounds)
