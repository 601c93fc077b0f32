"""Shop KPIs: hand-computed values on a small order log, slicing, edge cases, failures, and the
CDNOW cohort triangle."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from patron.analytics.kpis import (
    aov,
    cohort_matrix,
    purchase_frequency,
    refund_rate,
    repurchase_rate,
    retention,
)
from patron.core.errors import InvalidInput

JAN, FEB, MAR, APR = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)


@pytest.fixture
def orders() -> pl.DataFrame:
    # customer 1: two orders on Jan 3 (shop a, one purchase day) and one on Jan 20 (shop b)
    # customer 2: Jan 5 and Feb 5 (shop a, the Feb order fully refunded)
    # customer 3: Mar 1 (shop b); one guest order on Jan 1 (shop a)
    return pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 3, None],
            "at": [
                date(2024, 1, 3),
                date(2024, 1, 3),
                date(2024, 1, 20),
                date(2024, 1, 5),
                date(2024, 2, 5),
                date(2024, 3, 1),
                date(2024, 1, 1),
            ],
            "amount": [10, 20, 30, 40, 50, 60, 70],
            "refund_amount": [0.0, 5.0, None, 0.0, 50.0, 0.0, 0.0],
            "shop": ["a", "a", "b", "a", "a", "b", "a"],
        }
    )


def rows(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return frame.rows()


def test_repurchase_rate_counts_purchase_days_in_the_window(orders: pl.DataFrame) -> None:
    jan = repurchase_rate(orders, JAN, FEB)
    # January buyers 1 and 2 (the guest is not a customer); 1 bought on two days, 2 on one.
    assert jan.columns == ["customers", "repeat_customers", "repurchase_rate"]
    assert rows(jan) == [(2, 1, 0.5)]
    # Over the quarter 1 and 2 bought on two days each, 3 once.
    assert rows(repurchase_rate(orders, JAN, APR)) == [(3, 2, 2 / 3)]
    # February alone: customer 2's Feb order is their second ever, but the window's first.
    assert rows(repurchase_rate(orders, FEB, MAR)) == [(1, 0, 0.0)]


def test_repurchase_rate_by_slice(orders: pl.DataFrame) -> None:
    # In shop a customer 1 has one purchase day (two orders on Jan 3); in shop b one as well.
    out = repurchase_rate(orders, JAN, FEB, by=["shop"])
    assert rows(out) == [("a", 2, 0, 0.0), ("b", 1, 0, 0.0)]
    out = repurchase_rate(orders, JAN, APR, by=["shop"])
    assert rows(out) == [("a", 2, 1, 0.5), ("b", 2, 0, 0.0)]


def test_windows_are_half_open(orders: pl.DataFrame) -> None:
    # [Jan 3, Jan 20) holds the Jan 3 and Jan 5 orders but not the Jan 20 one.
    assert rows(purchase_frequency(orders, date(2024, 1, 3), date(2024, 1, 20))) == [(2, 3, 1.5)]
    # Datetime bounds count by their date.
    assert rows(purchase_frequency(orders, datetime(2024, 1, 3, 18), datetime(2024, 1, 20, 9))) == [
        (2, 3, 1.5)
    ]


def test_days_are_local_dates_of_the_column_zone() -> None:
    # 20:00 UTC on Jan 1 and 01:00 UTC on Jan 2 are both Jan 2 in Beijing: one purchase day.
    utc = pl.Series([datetime(2024, 1, 1, 20), datetime(2024, 1, 2, 1)]).dt.replace_time_zone("UTC")
    frame = pl.DataFrame({"customer_id": [1, 1], "at": utc, "amount": [1.0, 2.0]})
    assert rows(repurchase_rate(frame, JAN, FEB)) == [(1, 1, 1.0)]
    beijing = frame.with_columns(pl.col("at").dt.convert_time_zone("Asia/Shanghai"))
    assert rows(repurchase_rate(beijing, JAN, FEB)) == [(1, 0, 0.0)]


def test_empty_windows_give_empty_frames_not_nan(orders: pl.DataFrame) -> None:
    later = (date(2025, 1, 1), date(2025, 2, 1))
    for kpi in (repurchase_rate, aov, purchase_frequency, refund_rate):
        out = kpi(orders, *later)
        assert out.is_empty(), kpi.__name__
        sliced = kpi(orders, *later, by=["shop"])
        assert sliced.is_empty()
        assert sliced.columns[0] == "shop"
    nothing = orders.clear()
    assert retention(nothing).is_empty()
    assert cohort_matrix(nothing).columns == ["cohort", "age", "customers", "active", "share"]
    assert cohort_matrix(nothing).is_empty()


def test_retention_month_over_month(orders: pl.DataFrame) -> None:
    out = retention(orders)
    assert out.columns == ["period", "previous_active", "retained", "active", "retention", "churn_rate"]
    # February: 1 and 2 bought in January, 2 came back. March: only 2 in February, gone in
    # March, where 3 is new. No January row: December had no buyers.
    assert rows(out) == [(FEB, 2, 1, 1, 0.5, 0.5), (MAR, 1, 0, 1, 0.0, 1.0)]


def test_retention_by_slice_reports_silent_periods(orders: pl.DataFrame) -> None:
    out = retention(orders, by=["shop"])
    # Shop b: customer 1 in January, nobody in February (0 %, a row); its March has a buyer
    # but nobody in February before it, so no row.
    assert rows(out) == [
        ("a", FEB, 2, 1, 1, 0.5, 0.5),
        ("a", MAR, 1, 0, 0, 0.0, 1.0),
        ("b", FEB, 1, 0, 0, 0.0, 1.0),
    ]


def test_retention_null_slice_is_a_slice_sorted_last_and_weeks_start_on_monday() -> None:
    frame = pl.DataFrame(
        {
            # 2024-01-01 is a Monday: Sunday Jan 7 is in week 1, Monday Jan 8 starts week 2.
            "customer_id": [1, 1, 2, 2],
            "at": [date(2024, 1, 2), date(2024, 1, 8), date(2024, 1, 7), date(2024, 1, 15)],
            "amount": [1, 1, 1, 1],
            "channel": [None, None, "app", "app"],
        }
    )
    week2, week3 = date(2024, 1, 8), date(2024, 1, 15)
    assert rows(retention(frame, period="week")) == [(week2, 2, 1, 1, 0.5, 0.5), (week3, 1, 0, 1, 0.0, 1.0)]
    assert rows(retention(frame, period="week", by=["channel"])) == [
        ("app", week2, 1, 0, 0, 0.0, 1.0),
        (None, week2, 1, 1, 1, 1.0, 0.0),
        (None, week3, 1, 0, 0, 0.0, 1.0),
    ]


def test_cohort_matrix_by_hand(orders: pl.DataFrame) -> None:
    out = cohort_matrix(orders)
    assert out.columns == ["cohort", "age", "customers", "active", "share"]
    # January cohort {1, 2}: 2 came back in February, nobody in March (a 0, not a hole).
    assert rows(out) == [
        (JAN, 0, 2, 2, 1.0),
        (JAN, 1, 2, 1, 0.5),
        (JAN, 2, 2, 0, 0.0),
        (MAR, 0, 1, 1, 1.0),
    ]
    assert rows(cohort_matrix(orders, period="quarter")) == [(JAN, 0, 3, 3, 1.0)]


def test_cohort_matrix_by_slice_uses_the_first_purchase_in_the_slice(orders: pl.DataFrame) -> None:
    out = cohort_matrix(orders, by=["shop"])
    assert rows(out) == [
        ("a", JAN, 0, 2, 2, 1.0),
        ("a", JAN, 1, 2, 1, 0.5),
        ("a", JAN, 2, 2, 0, 0.0),
        ("b", JAN, 0, 1, 1, 1.0),
        ("b", JAN, 1, 1, 0, 0.0),
        ("b", JAN, 2, 1, 0, 0.0),
        ("b", MAR, 0, 1, 1, 1.0),
    ]


def test_aov_gross_and_net(orders: pl.DataFrame) -> None:
    # January: 10 + 20 + 30 + 40 + 70 (guest included) over 5 orders; 5 refunded.
    assert aov(orders, JAN, FEB).columns == ["orders", "revenue", "aov"]
    assert rows(aov(orders, JAN, FEB)) == [(5, 170.0, 34.0)]
    assert rows(aov(orders, JAN, FEB, net=True)) == [(5, 165.0, 33.0)]
    assert rows(aov(orders, JAN, APR, by=["shop"])) == [("a", 5, 190.0, 38.0), ("b", 2, 90.0, 45.0)]


def test_purchase_frequency_counts_orders_of_customers(orders: pl.DataFrame) -> None:
    # January: customer 1 has 3 orders, customer 2 one; the guest order is left out.
    assert rows(purchase_frequency(orders, JAN, FEB)) == [(2, 4, 2.0)]
    assert rows(purchase_frequency(orders, JAN, APR, by=["shop"])) == [("a", 2, 4, 2.0), ("b", 2, 2, 1.0)]


def test_refund_rate_value_and_count(orders: pl.DataFrame) -> None:
    out = refund_rate(orders, JAN, APR, by=["shop"])
    assert out.columns == [
        "shop",
        "orders",
        "gross",
        "refunded",
        "refund_rate",
        "refunded_orders",
        "refunded_order_share",
    ]
    # Shop a: 5 + 50 refunded of 190, on 2 of 5 orders; shop b: the null refund counts as none.
    assert rows(out) == [("a", 5, 190.0, 55.0, 55 / 190, 2, 0.4), ("b", 2, 90.0, 0.0, 0.0, 0, 0.0)]


def test_refund_rate_of_free_orders_is_null() -> None:
    free = pl.DataFrame({"customer_id": [1], "at": [JAN], "amount": [0.0], "refund_amount": [0.0]})
    assert rows(refund_rate(free, JAN, FEB)) == [(1, 0.0, 0.0, None, 0, 0.0)]


def test_failures(orders: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="refund_amount") as err:
        refund_rate(orders.drop("refund_amount"), JAN, FEB)
    assert err.value.code == "missing_columns"
    with pytest.raises(InvalidInput, match="channel"):
        aov(orders, JAN, FEB, by=["channel"])
    with pytest.raises(InvalidInput) as err:
        retention(orders, period="fortnight")
    assert err.value.code == "bad_period"
    with pytest.raises(InvalidInput) as err:
        cohort_matrix(orders, period="decade")
    assert err.value.code == "bad_period"
    with pytest.raises(InvalidInput) as err:
        repurchase_rate(orders, FEB, JAN)
    assert err.value.code == "bad_window"
    with pytest.raises(InvalidInput, match=">= 0"):
        refund_rate(orders.with_columns(pl.col("refund_amount") * -1), JAN, FEB)
    with pytest.raises(InvalidInput, match="nulls"):
        aov(orders.with_columns(pl.lit(None, pl.Float64).alias("amount")), JAN, FEB)
    with pytest.raises(InvalidInput, match="dates or times"):
        aov(orders.with_columns(pl.col("at").cast(pl.String)), JAN, FEB)
    with pytest.raises(InvalidInput, match="numeric"):
        aov(orders.with_columns(pl.col("amount").cast(pl.String)), JAN, FEB)
    with pytest.raises(InvalidInput, match="attribute"):
        aov(orders, JAN, FEB, by=["customer_id"])


def test_cdnow_monthly_cohorts(cdnow_log: pl.DataFrame) -> None:
    out = cohort_matrix(cdnow_log, period="month")
    # Every CDNOW sample customer first bought in the first quarter of 1997.
    cohorts = out.filter(pl.col("age") == 0)
    assert cohorts["cohort"].to_list() == [date(1997, 1, 1), date(1997, 2, 1), date(1997, 3, 1)]
    assert cohorts["share"].to_list() == [1.0, 1.0, 1.0]
    assert cohorts["customers"].sum() == 2357
    expected = (
        cdnow_log.group_by("customer_id")
        .agg(pl.col("at").min().dt.truncate("1mo").alias("cohort"))
        .group_by("cohort")
        .agg(pl.len())
        .sort("cohort")
    )
    assert cohorts["customers"].to_list() == expected["len"].to_list()
    # Ages run to June 1998 with no holes: 18, 17 and 16 of them.
    assert out.group_by("cohort").agg(pl.len()).sort("cohort")["len"].to_list() == [18, 17, 16]
    later = out.filter(pl.col("age") > 0)
    assert later["share"].is_between(0.0, 0.5).all()
    # The January cohort's second month, checked directly on the log.
    jan = set(cdnow_log.filter(pl.col("at") < date(1997, 2, 1))["customer_id"].to_list())
    feb = cdnow_log.filter(pl.col("at").is_between(date(1997, 2, 1), date(1997, 2, 28)))
    back = len(jan & set(feb["customer_id"].to_list()))
    assert out.row(1) == (date(1997, 1, 1), 1, len(jan), back, back / len(jan))


def test_cdnow_retention_and_window_kpis_agree(cdnow_log: pl.DataFrame) -> None:
    monthly = retention(cdnow_log)
    assert monthly["period"].min() == date(1997, 2, 1)
    assert monthly["period"].max() == date(1998, 6, 1)
    assert ((monthly["retention"] + monthly["churn_rate"]) == 1.0).all()
    year = (date(1997, 1, 1), date(1998, 1, 1))
    freq = purchase_frequency(cdnow_log, *year)
    assert freq["customers"].item() == 2357
    assert freq["orders"].item() == cdnow_log.filter(pl.col("at") < year[1]).height
    assert aov(cdnow_log, *year)["aov"].item() == pytest.approx(
        cdnow_log.filter(pl.col("at") < year[1])["amount"].mean()
    )
