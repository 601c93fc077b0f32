"""CLV for every customer: the scoring path (histories grouped once) against the per-customer
methods, on the CDNOW sample."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from patron.analytics.clv import score_clv
from patron.analytics.summary import summarize


def test_scoring_path_equals_the_per_customer_methods(cdnow_log: pl.DataFrame) -> None:
    s = summarize(cdnow_log, date(1997, 9, 30), unit="weeks")
    result = score_clv(s, months=12, month_length=30 / 7, discount_rate=0.01)
    bg, gg = result.purchases, result.spend
    assert bg.r_ == pytest.approx(0.2426, abs=1e-3)
    assert gg.p_ == pytest.approx(6.25, abs=1e-2)
    x, t_x, age, money = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    spend = gg.expected_spend(x, money)
    scores = result.scores
    assert scores["customer_id"].to_list() == s["customer_id"].to_list()
    np.testing.assert_allclose(
        scores["clv"], bg.clv(spend, x, t_x, age, months=12, month_length=30 / 7), rtol=1e-12
    )
    np.testing.assert_allclose(scores["probability_alive"], bg.probability_alive(x, t_x, age), rtol=1e-12)
    np.testing.assert_allclose(
        scores["expected_purchases"], bg.expected_purchases(12 * 30 / 7, x, t_x, age), rtol=1e-12
    )
    assert scores["clv"].min() >= 0
    assert scores.null_count().sum_horizontal().item() == 0
