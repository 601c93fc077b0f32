"""Generating the 1,000,000-customer demo shop (target, issue 2: at most 2 minutes).

python -m benchmarks.generate_bench [--customers N]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import run_measured, write

TARGET_SECONDS = 120.0


def child(customers: int, out: str) -> None:
    from patron.demo.generator import generate

    start = time.perf_counter()
    manifest = generate(Path(out), customers=customers, seed=7)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in Path(out).iterdir())
    print(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "files": len(manifest.files),
                "bytes": size,
                "orders": json.loads((Path(out) / manifest.truth).read_text())["counts"][
                    "transactions_total"
                ],
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            }
        )
    )


def main(customers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, _, out = run_measured(
            [sys.executable, "-m", "benchmarks.generate_bench", "--child", str(customers), tmp]
        )
    r = json.loads(out.strip().splitlines()[-1])
    r["target_seconds"] = TARGET_SECONDS
    r["meets_target"] = r["seconds"] <= TARGET_SECONDS
    write("generate", {"customers": customers, "result": r})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.child[1])
    else:
        main(args.customers)
