"""The CDNOW data (Fader, Hardie & Lee) the analytics tests reproduce published figures on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

CDNOW = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_log() -> pl.DataFrame:
    """The raw sample log: one row per transaction (customer, day, amount)."""
    cells = np.array((CDNOW / "CDNOW_sample.txt").read_text().split()).reshape(-1, 5)
    return pl.DataFrame(
        {
            "customer_id": cells[:, 1].astype(int),
            "at": pl.Series(cells[:, 2]).str.to_date("%Y%m%d"),
            "amount": cells[:, 4].astype(float),
        }
    )


@pytest.fixture(scope="session")
def cdnow_summary() -> pl.DataFrame:
    return pl.read_csv(CDNOW / "cdnow_customers_summary.csv")


@pytest.fixture(scope="session")
def cdnow_spend() -> pl.DataFrame:
    return pl.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")
