"""The transaction-log summary: hand-computed cases, and the CDNOW summary reproduced exactly
from the raw sample log (so the conventions are proven, not assumed)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from patron.analytics.btyd import BetaGeoModel
from patron.analytics.summary import summarize
from patron.core.errors import InvalidInput


def log(rows: list[tuple[int, datetime | date, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"customer_id": pl.Int64, "at": pl.Datetime, "amount": pl.Float64}, orient="row"
    )


def test_hand_computed_summary() -> None:
    tx = log(
        [
            (1, datetime(2024, 1, 1, 9), 10.0),
            (1, datetime(2024, 1, 1, 18), 5.0),  # same day: one purchase of 15
            (1, datetime(2024, 1, 8), 20.0),
            (1, datetime(2024, 1, 15), 40.0),
            (1, datetime(2024, 2, 1), 99.0),  # after the as-of date: unknown then
            (2, datetime(2024, 1, 10), 7.0),
            (3, datetime(2024, 2, 1), 1.0),  # first purchase after as-of: not a customer yet
        ]
    )
    s = summarize(tx, date(2024, 1, 29), unit="weeks")
    assert s.select("customer_id", "frequency", "recency", "T", "monetary").rows() == [
        (1, 2, 2.0, 4.0, 30.0),  # repeats on the 8th and 15th; mean repeat spend (20 + 40) / 2
        (2, 0, 0.0, 19 / 7, 0.0),
    ]
    days = summarize(tx, datetime(2024, 1, 29, 23, 59), unit="days")
    assert days["recency"].to_list() == [14.0, 0.0]
    assert days["T"].to_list() == [28.0, 19.0]


def test_refuses_bad_input() -> None:
    tx = log([(1, datetime(2024, 1, 1), 1.0)])
    with pytest.raises(InvalidInput) as err:
        summarize(tx, date(2024, 2, 1), unit="months")
    assert err.value.code == "bad_time_unit"
    with pytest.raises(InvalidInput) as err:
        summarize(tx.drop("amount"), date(2024, 2, 1))
    assert err.value.code == "missing_columns"
    with pytest.raises(InvalidInput) as err:
        summarize(tx.with_columns(pl.col("at").cast(pl.Utf8)), date(2024, 2, 1))
    assert err.value.code == "bad_time_column"


def test_cdnow_sample_summarises_to_the_published_summary(
    cdnow_log: pl.DataFrame, cdnow_spend: pl.DataFrame
) -> None:
    s = summarize(cdnow_log, date(1997, 9, 30), unit="weeks")
    ref = cdnow_spend
    both = s.join(ref, left_on="customer_id", right_on="ID", how="full")
    assert both.height == s.height == ref.height == 2357
    assert (both["frequency"] == both["x"]).all()
    assert (both["recency"].round(2) == both["t_x"]).all()
    assert (both["T"].round(2) == both["T_right"]).all()
    assert ((both["monetary"] - both["zbar"]).abs() <= 0.005 + 1e-9).all()
    fit = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    assert (fit.r_, fit.alpha_, fit.a_, fit.b_) == (
        pytest.approx(0.2426, abs=1e-3),
        pytest.approx(4.4135, abs=1e-3),
        pytest.approx(0.7929, abs=1e-3),
        pytest.approx(2.4258, abs=1e-3),
    )
