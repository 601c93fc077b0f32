"""`make bench`: every benchmark, one after another (they share 2 cores).

Results are written to benchmarks/results/*.json. Sizes can be reduced for a quick look:
    python -m benchmarks.run --quick
"""

from __future__ import annotations

import argparse

from benchmarks import (
    analyze_bench,
    c360_bench,
    churn_bench,
    classify_bench,
    clv_bench,
    desk_bench,
    faq_bench,
    generate_bench,
    import_bench,
    loyalty_bench,
    sla_bench,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    generate_bench.main(1_000_000 // scale)
    import_bench.main(1_000_000 // scale)
    c360_bench.main(1_000_000 // scale, 2000, 2)
    clv_bench.main(1_000_000 // scale)
    analyze_bench.main(1_000_000 // scale)
    churn_bench.main(100_000 // scale)
    sla_bench.main(100_000 // scale)
    desk_bench.main(100_000 // scale)
    classify_bench.main(10_000 // scale)
    faq_bench.main()
    loyalty_bench.main(200_000 // scale, 1_000_000 // scale)


if __name__ == "__main__":
    main()
