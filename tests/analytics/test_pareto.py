"""Pareto/NBD against the published CDNOW estimates and independent numerical integration, plus
the properties every prediction must keep for any input."""

from __future__ import annotations

import itertools
import time

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import dblquad, quad
from scipy.special import gammaln, hyp2f1

from patron.analytics.base import BadModelFile, NotFitted
from patron.analytics.btyd import BetaGeoModel, unique_histories
from patron.analytics.pareto import ParetoNBDModel, _log_hyp2f1_near_one
from patron.core.errors import InvalidInput


def model_with(r: float, alpha: float, s: float, beta: float) -> ParetoNBDModel:
    return ParetoNBDModel.from_dict(
        {
            "model": "ParetoNBDModel",
            "version": 1,
            "params": {"penalizer": 0.0},
            "fitted": {
                "r_": r,
                "alpha_": alpha,
                "s_": s,
                "beta_": beta,
                "log_likelihood_": 0.0,
                "n_customers_": 1,
            },
        }
    )


#: alpha 10,000x beta or the reverse: P(alive) and the likelihood then need the fallback 2F1.
ODD = [(0.5, 1e-4, 0.7, 1e4), (0.02, 1e-6, 5.0, 1e6)]


@pytest.fixture(scope="module")
def summary(cdnow_summary: pl.DataFrame) -> pl.DataFrame:
    return cdnow_summary


@pytest.fixture(scope="module")
def fit_seconds(summary: pl.DataFrame) -> tuple[ParetoNBDModel, float]:
    start = time.perf_counter()
    model = ParetoNBDModel().fit(summary["frequency"], summary["recency"], summary["T"])
    return model, time.perf_counter() - start


@pytest.fixture(scope="module")
def pnbd(fit_seconds: tuple[ParetoNBDModel, float]) -> ParetoNBDModel:
    return fit_seconds[0]


def columns(summary: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))  # type: ignore[return-value]


def test_reproduces_fader_hardie_lee_2005_note(fit_seconds: tuple[ParetoNBDModel, float]) -> None:
    """FHL 2005, "A note on implementing the Pareto/NBD model in MATLAB": r = 0.5534,
    alpha = 10.5764, s = 0.6061, beta = 11.6691, LL = -9594.98.

    alpha and beta are held to 2e-3, not 1e-3: the exact maximum of this likelihood on this data
    is alpha = 10.5776, beta = 11.6679 (1.2e-3 from the note's; Nelder-Mead at 1e-10 reaches the
    same point from either start, and the note's point has a log-likelihood 8e-5 lower, see the
    next test). The likelihood is flat along that ridge: the standard errors are 0.84 and 6.2."""
    pnbd, seconds = fit_seconds
    assert pnbd.r_ == pytest.approx(0.5534, abs=1e-3)
    assert pnbd.alpha_ == pytest.approx(10.5764, abs=2e-3)
    assert pnbd.s_ == pytest.approx(0.6061, abs=1e-3)
    assert pnbd.beta_ == pytest.approx(11.6691, abs=2e-3)
    assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert pnbd.n_customers_ == 2357
    assert seconds < 5.0  # about 0.1 s


def test_the_fit_is_the_maximum(pnbd: ParetoNBDModel, summary: pl.DataFrame) -> None:
    x, tx, T = columns(summary)
    published = ParetoNBDModel.log_likelihood(0.5534, 10.5764, 0.6061, 11.6691, x, tx, T).sum()
    assert published < pnbd.log_likelihood_ < published + 1e-3
    theta = np.array([pnbd.r_, pnbd.alpha_, pnbd.s_, pnbd.beta_])
    for k in range(4):
        for factor in (0.999, 1.001):
            moved = theta.copy()
            moved[k] *= factor
            assert ParetoNBDModel.log_likelihood(*moved, x, tx, T).sum() < pnbd.log_likelihood_


@pytest.mark.parametrize("swap", [False, True])
def test_likelihood_equals_the_note_formula(summary: pl.DataFrame, swap: bool) -> None:
    """The Euler-transformed log-space evaluation equals the note's A0 expression written out
    (finite on CDNOW), in both of its branches (alpha < beta, and alpha >= beta when swapped)."""
    x, tx, T = columns(summary)
    r, a, s, b = 0.5534, 10.5764, 0.6061, 11.6691
    if swap:
        a, b = b, a
    if a >= b:

        def part(u: np.ndarray) -> np.ndarray:
            return hyp2f1(r + s + x, s + 1, r + s + x + 1, (a - b) / (a + u)) / (a + u) ** (r + s + x)
    else:

        def part(u: np.ndarray) -> np.ndarray:
            return hyp2f1(r + s + x, r + x, r + s + x + 1, (b - a) / (b + u)) / (b + u) ** (r + s + x)

    a0 = part(tx) - part(T)
    note = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(a)
        + s * np.log(b)
        + np.log((a + T) ** -(r + x) * (b + T) ** -s + s / (r + s + x) * a0)
    )
    np.testing.assert_allclose(ParetoNBDModel.log_likelihood(r, a, s, b, x, tx, T), note, rtol=1e-11)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # mpmath at 50 digits, integrating the likelihood's definition
        (ODD[0], [-6.44682704914177, -4.99997500016649e-6, 8.56595834437705]),
        (ODD[1], [-0.350083719361788, -1.99900066616706e-5, 11.5307091015877]),
    ],
)
def test_likelihood_where_scipy_hyp2f1_fails(params: tuple[float, ...], expected: list[float]) -> None:
    got = ParetoNBDModel.log_likelihood(*params, [0, 0, 3], [0, 0, 1e-9], [40, 1e-9, 1e7])
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-14)


def log_hyp2f1_by_quad(b: float, Q: float, kappa: float) -> float:
    """Reference by another route: Euler's integral 2F1(1, b; c; 1-kappa) =
    (c-1) kappa^-b * integral_0^1 v^(c-2) (1 + (1-kappa) v / kappa)^-b dv, taken in y = log v by
    quad, scaled by the integrand's peak and split where v ~ kappa."""
    c, lam = b + Q, 1 - kappa

    def log_g(y: float) -> float:
        return float((c - 1) * y - b * np.log1p(lam * np.exp(y) / kappa))

    peak = min(0.0, float(np.log((c - 1) * kappa / (lam * (1 - Q))))) if Q < 1 else 0.0
    top = log_g(peak)

    def g(y: float) -> float:
        return float(np.exp(log_g(y) - top))

    total = quad(g, -np.inf, peak, epsabs=0, epsrel=1e-13, limit=500)[0]
    if peak < 0:
        cuts = sorted(
            {peak, *(np.log(kappa) + k for k in (-5.0, 0.0, 5.0) if peak < np.log(kappa) + k < 0), 0.0}
        )
        total += sum(
            quad(g, lo, hi, epsabs=0, epsrel=1e-13, limit=500)[0] for lo, hi in itertools.pairwise(cuts)
        )
    return float(np.log(c - 1) - b * np.log(kappa) + top + np.log(total))


@pytest.mark.parametrize(
    ("b", "Q", "kappa"),
    [
        (0.5534, 0.6061 + 1, 1e-3),
        (1.6061, 0.5534, 1e-12),  # alpha < beta, no repeat purchase: diverges like kappa^(Q-1)
        (1.00002, 26.5, 1e-6),
        (1000.5, 10.0, 1e-3),  # a heavy buyer: scipy returns NaN here
        (6.0, 0.02, 1e-12),  # scipy is 2e-5 off here
        (2.0, 1.0, 1e-9),
        (5000.3, 0.3, 1e-4),
    ],
)
def test_fallback_2f1_agrees_with_quadrature(b: float, Q: float, kappa: float) -> None:
    got = _log_hyp2f1_near_one(np.array([b]), np.array([Q]), np.array([kappa]))[0]
    assert got == pytest.approx(log_hyp2f1_by_quad(b, Q, kappa), rel=1e-10, abs=1e-10)


def test_fallback_2f1_agrees_with_scipy_where_both_hold() -> None:
    rng = np.random.default_rng(0)
    b = 10 ** rng.uniform(-2, 3, 400)
    Q = 10 ** rng.uniform(-2, 2, 400)
    keep = b + Q > 1.01
    b, Q = b[keep], Q[keep]
    z = rng.uniform(0.3, 0.99, len(b))
    np.testing.assert_allclose(
        _log_hyp2f1_near_one(b, Q, 1 - z), np.log(hyp2f1(1.0, b, b + Q, z)), rtol=1e-11, atol=1e-12
    )


def test_btyd_walkthrough_figures(pnbd: ParetoNBDModel) -> None:
    """BTYD (R) walkthrough: P(alive) = 0.9979 for x = 26, t_x = 30.86, T = 31 at its estimates,
    and 25.46 expected purchases in the next 52 weeks at the fitted ones."""
    btyd = model_with(0.5534, 10.5802, 0.6061, 11.6562)
    assert btyd.probability_alive([26], [30.86], [31])[0] == pytest.approx(0.9979, abs=1e-4)
    assert pnbd.expected_purchases(52, [26], [30.86], [31])[0] == pytest.approx(25.46, abs=0.01)


@pytest.mark.parametrize(
    ("x", "tx", "T", "t"), [(0, 0, 38.0, 10.0), (3, 20.0, 30.0, 52.0), (26, 30.0, 31.0, 5.0)]
)
def test_predictions_equal_posterior_integrals(
    pnbd: ParetoNBDModel, x: int, tx: float, T: float, t: float
) -> None:
    """Given alive, the rates are Gamma(r+x, alpha+T) and Gamma(s, beta+T): E[purchases] is
    E[lambda/mu (1 - e^-mu t)] and P(buy) is E[lambda/(lambda+mu) (1 - e^-(lambda+mu) t)];
    both integrated numerically here, in log-rates."""
    r, a, s, b = pnbd.r_, pnbd.alpha_, pnbd.s_, pnbd.beta_
    k1, k2 = r + x, s

    def density(log_lam: float, log_mu: float) -> float:
        return float(
            np.exp(
                k1 * np.log(a + T)
                - gammaln(k1)
                + k1 * log_lam
                - (a + T) * np.exp(log_lam)
                + k2 * np.log(b + T)
                - gammaln(k2)
                + k2 * log_mu
                - (b + T) * np.exp(log_mu)
            )
        )

    def buy(log_mu: float, log_lam: float) -> float:
        lam, mu = np.exp(log_lam), np.exp(log_mu)
        return density(log_lam, log_mu) * lam / (lam + mu) * -np.expm1(-(lam + mu) * t)

    alive = pnbd.probability_alive([x], [tx], [T])[0]
    expected_buy = dblquad(buy, -40, 8, -40, 8, epsabs=1e-13, epsrel=1e-10)[0]
    assert pnbd.probability_of_purchase(t, [x], [tx], [T])[0] / alive == pytest.approx(expected_buy, rel=1e-8)
    lifetime = quad(lambda tau: ((b + T) / (b + T + tau)) ** s, 0, t, epsabs=0, epsrel=1e-13)[0]
    assert pnbd.expected_purchases(t, [x], [tx], [T])[0] / alive == pytest.approx(
        k1 / (a + T) * lifetime, rel=1e-10
    )


def test_expected_purchases_at_s_equal_one() -> None:
    """The (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1) factor has the limit log((beta+T+t)/(beta+T))."""
    args = ([2], [20.0], [30.0])
    at_one = model_with(0.5, 10.0, 1.0, 12.0).expected_purchases(52, *args)[0]
    assert at_one == pytest.approx(
        model_with(0.5, 10.0, 1.0 + 1e-9, 12.0).expected_purchases(52, *args)[0], rel=1e-8
    )
    assert at_one == pytest.approx(
        model_with(0.5, 10.0, 1.0 - 1e-9, 12.0).expected_purchases(52, *args)[0], rel=1e-8
    )


def test_customers_without_repeats_age_out(pnbd: ParetoNBDModel) -> None:
    """Unlike BG/NBD, the model lets a customer drop out before any repeat purchase."""
    alive = pnbd.probability_alive([0, 0, 0], [0, 0, 0], [1, 10, 40])
    assert 1 > alive[0] > alive[1] > alive[2] > 0


def test_extreme_histories_stay_finite(pnbd: ParetoNBDModel) -> None:
    x, tx, T = [200, 0, 0, 1, 500, 3, 2000], [38, 0, 0, 1, 39.9, 1e-9, 300], [40, 40, 1e-9, 40, 40, 1e7, 365]
    for model in (pnbd, *(model_with(*p) for p in ODD)):
        for values in (
            model.probability_alive(x, tx, T),
            model.expected_purchases(52, x, tx, T),
            model.probability_of_purchase(26, x, tx, T),
            model.clv([10.0] * 7, x, tx, T, months=12, month_length=30 / 7),
        ):
            assert np.all(np.isfinite(values))
            assert np.all(values >= 0)
    assert pnbd.probability_alive([200], [38], [40])[0] < 0.2  # 200 purchases, then 2 weeks silent


history = st.integers(0, 300).flatmap(
    lambda x: st.tuples(st.just(float(x)), st.floats(-6.0, 5.0).map(lambda e: 10.0**e)).flatmap(
        lambda xT: st.tuples(
            st.just(xT[0]),
            st.just(0.0) if xT[0] == 0 else st.floats(0.0, 1.0).map(lambda f: f * xT[1]),
            st.just(xT[1]),
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(st.lists(history, min_size=1, max_size=20), st.sampled_from([None, *ODD]))
def test_predictions_keep_their_invariants(
    pnbd: ParetoNBDModel, rows: list[tuple[float, float, float]], params: tuple[float, ...] | None
) -> None:
    model = pnbd if params is None else model_with(*params)
    x, tx, T = (np.array(c) for c in zip(*rows, strict=True))
    assert np.all(np.isfinite(model.log_likelihood(model.r_, model.alpha_, model.s_, model.beta_, x, tx, T)))
    alive = model.probability_alive(x, tx, T)
    assert np.all((alive >= 0) & (alive <= 1))
    buy = model.probability_of_purchase(30, x, tx, T)
    assert np.all((buy >= 0) & (buy <= alive))
    expected = [model.expected_purchases(t, x, tx, T) for t in (0.0, 1.0, 30.0, 365.0)]
    assert np.all(expected[0] == 0)
    for shorter, longer in itertools.pairwise(expected):
        assert np.all(np.isfinite(longer))
        assert np.all(shorter <= longer)
    values = [model.clv(np.full(len(x), 25.0), x, tx, T, months=m) for m in (3, 12)]
    assert np.all(np.isfinite(values[1]))
    assert np.all((values[0] >= 0) & (values[0] <= values[1] + 1e-9))


def test_clv_discounts_and_scales_with_spend(pnbd: ParetoNBDModel) -> None:
    args = ([2.0], [30.0], [38.0])
    plain = pnbd.clv([100.0], *args, months=12, discount_rate=0.0)
    discounted = pnbd.clv([100.0], *args, months=12, discount_rate=0.01)
    assert plain[0] == pytest.approx(100.0 * pnbd.expected_purchases(12 * 30, *args)[0])
    assert discounted[0] < plain[0]
    assert pnbd.clv([200.0], *args)[0] == pytest.approx(2 * pnbd.clv([100.0], *args)[0])
    assert pnbd.discounted_purchases(*args)[0] == pytest.approx(pnbd.clv([1.0], *args)[0])


def test_json_round_trip_predicts_the_same(pnbd: ParetoNBDModel) -> None:
    again = ParetoNBDModel.from_json(pnbd.to_json())
    args = ([0, 3, 200], [0, 20.5, 38], [38.86, 38.86, 40])
    np.testing.assert_array_equal(again.probability_alive(*args), pnbd.probability_alive(*args))
    np.testing.assert_array_equal(again.expected_purchases(39, *args), pnbd.expected_purchases(39, *args))
    with pytest.raises(BadModelFile):
        BetaGeoModel.from_json(pnbd.to_json())
    with pytest.raises(BadModelFile):
        ParetoNBDModel.from_json(pnbd.to_json().replace('"version": 1', '"version": 99'))


@pytest.mark.parametrize(
    ("x", "tx", "T", "code"),
    [
        ([1.5], [1.0], [2.0], "bad_summary"),  # fractional frequency
        ([-1], [0.0], [2.0], "bad_summary"),
        ([1], [3.0], [2.0], "bad_summary"),  # recency beyond age
        ([0], [1.0], [2.0], "bad_summary"),  # recency without a repeat purchase
        ([1], [1.0], [0.0], "bad_summary"),  # no age
        ([1], [float("nan")], [2.0], "bad_summary"),
        ([1, 2], [1.0], [2.0], "bad_summary"),  # ragged columns
        ([], [], [], "bad_summary"),
    ],
)
def test_bad_summaries_are_refused(x: list[float], tx: list[float], T: list[float], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ParetoNBDModel().fit(x, tx, T)
    assert err.value.code == code


def test_bad_parameters_are_refused(pnbd: ParetoNBDModel) -> None:
    cases = [
        lambda: ParetoNBDModel(penalizer=-1.0),
        lambda: pnbd.expected_purchases(-1.0, [1], [1.0], [2.0]),
        lambda: pnbd.probability_of_purchase(float("inf"), [1], [1.0], [2.0]),
        lambda: pnbd.clv([1.0], [1], [1.0], [2.0], months=-1),
        lambda: pnbd.clv([1.0], [1], [1.0], [2.0], discount_rate=-1.0),
    ]
    for case in cases:
        with pytest.raises(InvalidInput) as err:
            case()
        assert err.value.code == "bad_parameter"
    with pytest.raises(InvalidInput) as err:
        pnbd.clv([-1.0], [1], [1.0], [2.0])
    assert err.value.code == "bad_summary"
    with pytest.raises(InvalidInput) as err:
        ParetoNBDModel().fit([1, 2], [1.0, 1.0], [2.0, 2.0], weights=[0, 0])
    assert err.value.code == "bad_summary"


def test_predicting_before_fitting_is_refused() -> None:
    for call in (
        lambda m: m.probability_alive([1], [1], [2]),
        lambda m: m.expected_purchases(10, [1], [1], [2]),
        lambda m: m.probability_of_purchase(10, [1], [1], [2]),
        lambda m: m.clv([1.0], [1], [1], [2]),
        lambda m: m.to_json(),
    ):
        with pytest.raises(NotFitted):
            call(ParetoNBDModel())


def test_weighted_fit_equals_the_fit_per_customer(summary: pl.DataFrame, pnbd: ParetoNBDModel) -> None:
    (ux, ut, uT), w, _ = unique_histories(*columns(summary))
    grouped = ParetoNBDModel().fit(ux, ut, uT, weights=w)
    assert grouped.log_likelihood_ == pytest.approx(pnbd.log_likelihood_, abs=1e-6)
    assert grouped.alpha_ == pytest.approx(pnbd.alpha_, rel=1e-6)


def test_penalizer_shrinks_the_parameters(summary: pl.DataFrame, pnbd: ParetoNBDModel) -> None:
    shrunk = ParetoNBDModel(penalizer=0.01).fit(*columns(summary))
    assert shrunk.alpha_ < pnbd.alpha_
    assert shrunk.beta_ < pnbd.beta_
    assert shrunk.log_likelihood_ < pnbd.log_likelihood_
