"""BG/NBD and Gamma-Gamma against the published CDNOW estimates, plus the properties every
prediction must keep for any input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.analytics.base import BadModelFile, NotFitted
from patron.analytics.btyd import BetaGeoModel, GammaGammaModel
from patron.core.errors import InvalidInput


@pytest.fixture(scope="module")
def summary(cdnow_summary: pl.DataFrame) -> pl.DataFrame:
    return cdnow_summary


@pytest.fixture(scope="module")
def spend(cdnow_spend: pl.DataFrame) -> pl.DataFrame:
    return cdnow_spend


@pytest.fixture(scope="module")
def bgnbd(summary: pl.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])


def test_bgnbd_reproduces_fader_hardie_lee_2005(bgnbd: BetaGeoModel) -> None:
    assert bgnbd.r_ == pytest.approx(0.2426, abs=1e-3)
    assert bgnbd.alpha_ == pytest.approx(4.4135, abs=1e-3)
    assert bgnbd.a_ == pytest.approx(0.7929, abs=1e-3)
    assert bgnbd.b_ == pytest.approx(2.4258, abs=1e-3)
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    assert bgnbd.n_customers_ == 2357


def test_gamma_gamma_reproduces_fader_hardie_2013(spend: pl.DataFrame) -> None:
    gg = GammaGammaModel().fit(spend["x"], spend["zbar"])
    assert (gg.p_, gg.q_, gg.v_) == (
        pytest.approx(6.25, abs=1e-2),
        pytest.approx(3.74, abs=1e-2),
        pytest.approx(15.44, abs=1e-2),
    )
    assert gg.n_customers_ == 946  # customers with at least one repeat purchase
    # A customer's expected spend lies between the population mean and their own mean.
    population = gg.p_ * gg.v_ / (gg.q_ - 1)
    e = gg.expected_spend([1, 10], [50.0, 50.0])
    assert population < e[0] < e[1] < 50.0


def test_conditional_expectation_matches_the_paper_formula(bgnbd: BetaGeoModel) -> None:
    """The Euler-transformed evaluation equals FHL eq. 10 written out, where the latter is finite."""
    from scipy.special import hyp2f1

    r, al, a, b = bgnbd.r_, bgnbd.alpha_, bgnbd.a_, bgnbd.b_
    x = np.array([0.0, 1, 2, 5, 10])
    tx = np.array([0.0, 5, 10, 30, 35])
    T = np.full(5, 38.0)
    t = 39.0
    odds = (x > 0) * a / (b + x - 1) * ((al + T) / (al + tx)) ** (r + x)
    paper = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((al + T) / (al + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t)))
        / (1 + odds)
    )
    np.testing.assert_allclose(bgnbd.expected_purchases(t, x, tx, T), paper, rtol=1e-10)
    np.testing.assert_allclose(bgnbd.probability_alive(x, tx, T), 1 / (1 + odds), rtol=1e-12)


def test_extreme_histories_stay_finite(bgnbd: BetaGeoModel) -> None:
    x, tx, T = [200, 0, 1, 500], [38, 0, 1, 39.9], [40, 40, 40, 40]
    for values in (
        bgnbd.probability_alive(x, tx, T),
        bgnbd.expected_purchases(52, x, tx, T),
        bgnbd.probability_of_purchase(26, x, tx, T),
        bgnbd.median_time_to_next(x, tx, T),
        bgnbd.clv([10.0] * 4, x, tx, T, months=12, month_length=30 / 7),
    ):
        assert np.all(np.isfinite(values))
    assert bgnbd.probability_alive(x, tx, T)[1] == 1.0  # no repeat purchase: alive by construction


history = st.integers(0, 300).flatmap(
    lambda x: st.tuples(
        st.just(float(x)),
        st.floats(0.01, 400.0),
    ).flatmap(
        lambda xT: st.tuples(
            st.just(xT[0]),
            st.just(0.0) if xT[0] == 0 else st.floats(0.0, xT[1]),
            st.just(xT[1]),
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(st.lists(history, min_size=1, max_size=20))
def test_predictions_keep_their_invariants(
    bgnbd: BetaGeoModel, rows: list[tuple[float, float, float]]
) -> None:
    x, tx, T = (np.array(c) for c in zip(*rows, strict=True))
    alive = bgnbd.probability_alive(x, tx, T)
    assert np.all((alive >= 0) & (alive <= 1))
    buy = bgnbd.probability_of_purchase(30, x, tx, T)
    assert np.all((buy >= 0) & (buy <= alive + 1e-12))
    values = [bgnbd.clv(np.full(len(x), 25.0), x, tx, T, months=m) for m in (3, 6, 12)]
    for v in values:
        assert np.all(np.isfinite(v))
        assert np.all(v >= 0)
    assert np.all(values[0] <= values[1] + 1e-9)
    assert np.all(values[1] <= values[2] + 1e-9)


def test_clv_discounts_and_scales_with_spend(bgnbd: BetaGeoModel) -> None:
    args = ([2.0], [30.0], [38.0])
    plain = bgnbd.clv([100.0], *args, months=12, discount_rate=0.0)
    discounted = bgnbd.clv([100.0], *args, months=12, discount_rate=0.01)
    assert plain[0] == pytest.approx(100.0 * bgnbd.expected_purchases(12 * 30, *args)[0])
    assert discounted[0] < plain[0]
    assert bgnbd.clv([200.0], *args)[0] == pytest.approx(2 * bgnbd.clv([100.0], *args)[0])


def test_holdout_report_buckets(bgnbd: BetaGeoModel) -> None:
    report = bgnbd.holdout_report(
        [0, 0, 1, 9], [0, 0, 3, 30], [38, 38, 38, 38], [0, 1, 2, 5], t=39, max_bucket=2
    )
    assert [row["frequency"] for row in report["by_frequency"]] == [0, 1, "2+"]
    assert [row["customers"] for row in report["by_frequency"]] == [2, 1, 1]
    assert report["actual_total"] == 8
    assert report["predicted_total"] == pytest.approx(
        float(bgnbd.expected_purchases(39, [0, 0, 1, 9], [0, 0, 3, 30], [38, 38, 38, 38]).sum())
    )


def test_json_round_trip_predicts_the_same(bgnbd: BetaGeoModel) -> None:
    again = BetaGeoModel.from_json(bgnbd.to_json())
    args = ([0, 3], [0, 20.5], [38.86, 38.86])
    np.testing.assert_array_equal(again.probability_alive(*args), bgnbd.probability_alive(*args))
    with pytest.raises(BadModelFile):
        GammaGammaModel.from_json(bgnbd.to_json())
    with pytest.raises(BadModelFile):
        BetaGeoModel.from_json(bgnbd.to_json().replace('"version": 1', '"version": 99'))


@pytest.mark.parametrize(
    ("x", "tx", "T", "code"),
    [
        ([1.5], [1.0], [2.0], "bad_summary"),  # fractional frequency
        ([1], [3.0], [2.0], "bad_summary"),  # recency beyond age
        ([0], [1.0], [2.0], "bad_summary"),  # recency without a repeat purchase
        ([0], [0.0], [-1.0], "bad_summary"),  # first purchase after the as-of date
        ([1], [float("nan")], [2.0], "bad_summary"),
    ],
)
def test_bad_summaries_are_refused(x: list[float], tx: list[float], T: list[float], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        BetaGeoModel().fit(x, tx, T)
    assert err.value.code == code


def test_customers_first_seen_on_the_as_of_day_add_nothing_and_count_as_new(
    summary: pl.DataFrame, bgnbd: BetaGeoModel
) -> None:
    """T = 0 is every shop's daily reality (orders placed on the as-of day); it must neither fail
    the run nor move the fit."""
    x, t_x, T = (
        np.r_[summary[c].to_numpy().astype(float), np.zeros(40)] for c in ("frequency", "recency", "T")
    )
    with_new = BetaGeoModel().fit(x, t_x, T)
    assert with_new.n_customers_ == 2357 + 40
    assert with_new.log_likelihood_ == pytest.approx(bgnbd.log_likelihood_, abs=1e-9)
    for name in ("r_", "alpha_", "a_", "b_"):
        assert getattr(with_new, name) == pytest.approx(getattr(bgnbd, name), rel=1e-6)
    assert bgnbd.probability_alive([0], [0], [0]).tolist() == [1.0]
    # A new customer's expectation is the population's: r/alpha * t to first order for small t.
    small = float(bgnbd.expected_purchases(1e-6, [0], [0], [0])[0])
    assert small == pytest.approx(bgnbd.r_ / bgnbd.alpha_ * 1e-6, rel=1e-5)


def test_predicting_before_fitting_is_refused() -> None:
    with pytest.raises(NotFitted):
        BetaGeoModel().probability_alive([1], [1], [2])
    with pytest.raises(NotFitted):
        GammaGammaModel().expected_spend([1], [1.0])


def test_fit_gradient_matches_the_likelihood(summary: pl.DataFrame) -> None:
    """The analytic gradient the fit uses agrees with central differences of the likelihood."""
    from patron.analytics.btyd import _Histories, unique_histories

    (ux, ut, uT), w, _ = unique_histories(
        *(summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    )
    hist = _Histories(ux, ut, uT, w)
    theta = np.array([0.3, 5.0, 0.9, 2.0])
    total, grad = BetaGeoModel._total_ll_and_gradient(theta, hist)
    assert total == pytest.approx(float(w @ BetaGeoModel.log_likelihood(*theta, ux, ut, uT)), rel=1e-12)
    for k in range(4):
        step = np.zeros(4)
        step[k] = 1e-6 * theta[k]
        up = BetaGeoModel._total_ll_and_gradient(theta + step, hist)[0]
        down = BetaGeoModel._total_ll_and_gradient(theta - step, hist)[0]
        assert grad[k] == pytest.approx((up - down) / (2 * step[k]), rel=1e-6)


def test_weighted_fit_equals_the_fit_per_customer(summary: pl.DataFrame, bgnbd: BetaGeoModel) -> None:
    from patron.analytics.btyd import unique_histories

    (ux, ut, uT), w, _ = unique_histories(
        *(summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    )
    grouped = BetaGeoModel().fit(ux, ut, uT, weights=w)
    assert grouped.log_likelihood_ == pytest.approx(bgnbd.log_likelihood_, abs=1e-6)
    assert grouped.n_customers_ == 2357
    with pytest.raises(InvalidInput):
        BetaGeoModel().fit(ux, ut, uT, weights=-w)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=30))
def test_unique_histories_packs_whole_numbers_like_the_general_path(rows: list[tuple[int, int, int]]) -> None:
    from patron.analytics.btyd import unique_histories

    cols = [np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)]
    for variant in (cols, [c + 0.5 for c in cols]):  # whole numbers: packed key; halves: group-by
        values, counts, index = unique_histories(*variant)
        rebuilt = np.column_stack([v[index] for v in values])
        np.testing.assert_array_equal(rebuilt, np.column_stack(variant))
        assert counts.sum() == len(rows)
        assert len({tuple(r) for r in np.column_stack(values)}) == len(counts)
