"""Agreement with ``lifetimes`` 0.11.3 on the same parameters, where both libraries define the
quantity (issue: "agreement with the lifetimes library's predictions on the same fitted
parameters").

CI cannot import lifetimes (its pins conflict with ours), so ``benchmarks/lifetimes_reference.py``
ran it once in ``.venv-peers`` on the published CDNOW parameters and a grid of histories (CDNOW
sample customers plus edge cases) and stored inputs and outputs in
``tests/fixtures/lifetimes_reference.json``. Here the same parameters are set on Patron's models
(``from_dict``, as a stored scoring run is replayed: no fit) and every prediction is compared.

Quantities: P(alive), conditional expected purchases at five horizons and 12-month CLV (BG/NBD
and Pareto/NBD, each with Gamma-Gamma spend), the Gamma-Gamma expected spend, the Pareto/NBD
P(no purchase in t | history) against our P(at least one), and the population expectation
E[X(t)] as the limit of a customer who has just made a first purchase (Patron has no method for
it, but it is FHL's eq. 10 at x = t_x = T = 0).

They agree to 3e-10 relative (most to 2e-11): :data:`RTOL` is 1e-9. The two largest
differences were checked against mpmath at 60 digits:

* BG/NBD E[purchases in 104 weeks] at x = 20,000, T = 2,860: lifetimes is 3.2e-10 off, Patron
  1e-15. lifetimes evaluates 2F1(r+x, b+x; a+b+x-1; z) with parameters near 20,000, where
  scipy's hyp2f1 loses digits; Patron's Euler-transformed 2F1 has small parameters.
* Pareto/NBD P(no purchase in 13 weeks) at the same history is 6.08e-5; both libraries are
  about 1e-11 off in absolute terms (lifetimes 1.4e-11, Patron 1e-11), i.e. 2e-7 relative on
  so small a number. Patron computes it as 1 - P(at least one purchase) in log space, where
  (r+x) log(alpha+T) ~ 1.6e5 carries a rounding error of ~2e-11. So the test compares the
  quantity Patron defines, P(at least one) = 1 - P(none), which agrees to 4e-12 relative (and
  to 1e-15 absolute where lifetimes' P(none) rounds to 1: customers almost surely gone).

Max relative differences: Gamma-Gamma 3e-16; BG/NBD P(alive) 2e-13, expectations 3e-10 (the
case above; 2e-11 otherwise), CLV 7e-12; Pareto/NBD P(alive), expectations and CLV 2e-11;
E[X(t)] 2e-11 (both models).

Where lifetimes returns NaN (its Pareto/NBD beyond about 34,000 purchases at T = 40 weeks, no
possible daily history: listed in the JSON's ``lifetimes_nan``), Patron must be finite, and
where the history ends on the as-of date (t_x = T, so P(alive) = 1) it must match the closed
forms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patron.analytics.btyd import BetaGeoModel, GammaGammaModel, PurchaseModel
from patron.analytics.pareto import ParetoNBDModel

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "lifetimes_reference.json"
RTOL = 1e-9
#: Both libraries underflow to 0 on the same histories (P(alive) ~ e^-800 at x = 40,000).
ATOL = 1e-300
MODELS: dict[str, type[PurchaseModel]] = {"bgnbd": BetaGeoModel, "pareto_nbd": ParetoNBDModel}


@pytest.fixture(scope="module")
def ref() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


def _with_params(cls: type[Any], params: dict[str, float]) -> Any:
    """A model holding ``params`` as a fit would leave them (the file format of a stored run)."""
    fitted = {f"{k}_": v for k, v in params.items()}
    return cls.from_dict(
        {
            "model": cls.__name__,
            "version": cls.version,
            "params": {"penalizer": 0.0},
            "fitted": {**fitted, "log_likelihood_": 0.0, "n_customers_": 1},
        }
    )


def _in_days(params: dict[str, float], days_per_week: float) -> dict[str, float]:
    """Weekly parameters in days: the rate scales alpha and beta times 7, shapes unchanged."""
    return {k: v * days_per_week if k in ("alpha", "beta") else v for k, v in params.items()}


def _columns(ref: dict[str, Any]) -> tuple[np.ndarray, ...]:
    cases = ref["cases"]
    return tuple(
        np.array([c[k] for c in cases], dtype=np.float64) for k in ("frequency", "recency", "T", "monetary")
    )


def _agree(
    ref: dict[str, Any], quantity: str, ours: Any, theirs: list[float | None], atol: float = ATOL
) -> None:
    """``ours`` matches lifetimes wherever lifetimes is finite, and is finite where it is not
    (exactly the entries the JSON lists under ``lifetimes_nan``)."""
    got = np.asarray(ours, dtype=np.float64)
    missing = np.array([v is None for v in theirs])
    expected = np.array([np.nan if v is None else v for v in theirs], dtype=np.float64)
    names = np.array([c["name"] for c in ref["cases"]])
    listed = {e["case"] for e in ref["lifetimes_nan"] if e["quantity"] == quantity}
    assert set(names[missing]) == listed
    assert np.all(np.isfinite(got)), f"{quantity}: Patron not finite for {names[~np.isfinite(got)]}"
    np.testing.assert_allclose(got[~missing], expected[~missing], rtol=RTOL, atol=atol, err_msg=quantity)


def test_reference_file(ref: dict[str, Any]) -> None:
    assert ref["lifetimes_version"] == "0.11.3"
    assert ref["parameters"] == {
        "bgnbd": {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258},
        "pareto_nbd": {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.668},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
    }
    x, t_x, age, _ = _columns(ref)
    names = [c["name"] for c in ref["cases"]]
    assert sum(n.startswith("cdnow_") for n in names) >= 40
    # The edges the issue names: no repeat purchase, one, x = 200 at t_x = 38 / T = 40,
    # t_x = T, large T.
    assert np.any((x == 0) & (age > 100))
    assert np.any(x == 1)
    assert np.any((x == 200) & (t_x == 38) & (age == 40))
    assert np.any((x > 0) & (t_x == age))
    assert age.max() >= 520
    # lifetimes failed only on the stress histories (more purchase days than days).
    assert {e["case"] for e in ref["lifetimes_nan"]} <= {n for n in names if n.startswith("stress_")}


def test_gamma_gamma_expected_spend(ref: dict[str, Any]) -> None:
    x, _, _, money = _columns(ref)
    gg = _with_params(GammaGammaModel, ref["parameters"]["gamma_gamma"])
    _agree(
        ref,
        "gamma_gamma.conditional_expected_average_profit",
        gg.expected_spend(x, money),
        ref["lifetimes"]["gamma_gamma"]["conditional_expected_average_profit"],
    )


@pytest.mark.parametrize("key", list(MODELS))
def test_probability_alive(ref: dict[str, Any], key: str) -> None:
    x, t_x, age, _ = _columns(ref)
    model = _with_params(MODELS[key], ref["parameters"][key])
    _agree(
        ref,
        f"{key}.conditional_probability_alive",
        model.probability_alive(x, t_x, age),
        ref["lifetimes"][key]["conditional_probability_alive"],
    )


@pytest.mark.parametrize("key", list(MODELS))
def test_conditional_expected_purchases(ref: dict[str, Any], key: str) -> None:
    x, t_x, age, _ = _columns(ref)
    model = _with_params(MODELS[key], ref["parameters"][key])
    by_horizon = ref["lifetimes"][key]["conditional_expected_number_of_purchases_up_to_time"]
    assert [float(h) for h in by_horizon] == ref["horizons"]
    for horizon, theirs in by_horizon.items():
        _agree(
            ref,
            f"{key}.conditional_expected_number_of_purchases_up_to_time[{horizon}]",
            model.expected_purchases(float(horizon), x, t_x, age),
            theirs,
        )


@pytest.mark.parametrize("key", list(MODELS))
def test_population_expectation_is_a_new_customers(ref: dict[str, Any], key: str) -> None:
    """lifetimes' E[X(t)] (FHL 2005 eq. 9; Pareto/NBD: FH note 009 eq. 27) is the conditional
    expectation of a customer with x = t_x = T = 0. Patron needs T > 0: at T = 1e-10 weeks the
    difference is O(T), below 1e-10 relative."""
    model = _with_params(MODELS[key], ref["parameters"][key])
    for horizon, theirs in ref["lifetimes"][key]["expected_number_of_purchases_up_to_time"].items():
        ours = model.expected_purchases(float(horizon), [0], [0], [1e-10])
        np.testing.assert_allclose(ours, [theirs], rtol=RTOL, err_msg=f"{key} E[X({horizon})]")


@pytest.mark.parametrize("key", list(MODELS))
def test_clv_in_days(ref: dict[str, Any], key: str) -> None:
    """The scoring run's CLV (days, 12 months of 30 days, 1 % a month) against lifetimes'
    ``customer_lifetime_value(model, ..., time=12, discount_rate=0.01, freq="D")`` with the
    Gamma-Gamma expected spend, on the same parameters converted to days."""
    x, t_x, age, money = _columns(ref)
    week = ref["days_per_week"]
    clv = ref["clv"]
    assert clv == {"months": 12, "discount_rate": 0.01, "freq": "D", "month_length_days": 30.0}
    model = _with_params(MODELS[key], _in_days(ref["parameters"][key], week))
    spend = _with_params(GammaGammaModel, ref["parameters"]["gamma_gamma"]).expected_spend(x, money)
    ours = model.clv(
        spend, x, t_x * week, age * week, months=12, month_length=30.0, discount_rate=clv["discount_rate"]
    )
    _agree(
        ref,
        f"{key}.customer_lifetime_value_days",
        ours,
        ref["lifetimes"][key]["customer_lifetime_value_days"],
    )


def test_pareto_probability_of_purchase_against_the_conditional_pmf(ref: dict[str, Any]) -> None:
    """Patron's P(at least one purchase in t | history) is 1 - lifetimes' P(X(t) = 0 | history)
    (FH note 028, eq. 16 at n = 0). Compared on Patron's quantity, relative 1e-9 plus 1e-15
    absolute: a complement of a number near 1 holds no more (lifetimes' P(none) of a customer
    almost surely gone is 1.0 exactly, where Patron's P(at least one) is 1e-93). P(none) itself
    agrees to 1e-10 absolute: see the module docstring for a near-certain buyer."""
    x, t_x, age, _ = _columns(ref)
    model = _with_params(ParetoNBDModel, ref["parameters"]["pareto_nbd"])
    by_horizon = ref["lifetimes"]["pareto_nbd"]["conditional_probability_of_n_purchases_up_to_time_n0"]
    for horizon, none in by_horizon.items():
        buys = [None if p is None else 1.0 - p for p in none]
        ours = model.probability_of_purchase(float(horizon), x, t_x, age)
        quantity = f"pareto_nbd.conditional_probability_of_n_purchases_up_to_time_n0[{horizon}]"
        _agree(ref, quantity, ours, buys, atol=1e-15)
        # And P(none) itself, to the absolute accuracy both reach.
        known = np.array([p is not None for p in none])
        np.testing.assert_allclose(
            1.0 - ours[known], np.array([p for p in none if p is not None]), rtol=0, atol=1e-10
        )


def test_patron_is_right_where_lifetimes_fails(ref: dict[str, Any]) -> None:
    """At the stress histories lifetimes' Pareto/NBD returns NaN. Patron is finite there (checked
    by :func:`_agree` above), and where t_x = T the customer is alive for sure, so the
    expectation and CLV have closed forms: (r+x)(beta+T) / ((alpha+T)(s-1)) *
    (1 - ((beta+T)/(beta+T+t))^(s-1)) (SMC 1987)."""
    assert ref["lifetimes_nan"], "the reference has no case where lifetimes fails"
    x, t_x, age, money = _columns(ref)
    failed = np.array([c["name"] in {e["case"] for e in ref["lifetimes_nan"]} for c in ref["cases"]])
    p = ref["parameters"]["pareto_nbd"]
    model = _with_params(ParetoNBDModel, p)
    alive = model.probability_alive(x[failed], t_x[failed], age[failed])
    assert np.all((alive >= 0) & (alive <= 1))
    at_end = failed & (t_x == age)
    assert at_end.any()
    np.testing.assert_array_equal(model.probability_alive(x[at_end], t_x[at_end], age[at_end]), 1.0)

    def closed_form(r: float, alpha: float, s: float, beta: float, xs: Any, ts: Any, horizon: float) -> Any:
        return (
            (r + xs)
            * (beta + ts)
            / ((alpha + ts) * (s - 1))
            * (1 - ((beta + ts) / (beta + ts + horizon)) ** (s - 1))
        )

    for horizon in ref["horizons"]:
        np.testing.assert_allclose(
            model.expected_purchases(horizon, x[at_end], t_x[at_end], age[at_end]),
            closed_form(p["r"], p["alpha"], p["s"], p["beta"], x[at_end], age[at_end], horizon),
            rtol=1e-12,
        )
    week = ref["days_per_week"]
    d = _in_days(p, week)
    spend = _with_params(GammaGammaModel, ref["parameters"]["gamma_gamma"]).expected_spend(
        x[at_end], money[at_end]
    )
    in_days = _with_params(ParetoNBDModel, d)
    ours = in_days.clv(spend, x[at_end], t_x[at_end] * week, age[at_end] * week)
    cumulative = [
        closed_form(d["r"], d["alpha"], d["s"], d["beta"], x[at_end], age[at_end] * week, 30.0 * m)
        for m in range(13)
    ]
    expected = spend * sum((cumulative[m] - cumulative[m - 1]) / 1.01**m for m in range(1, 13))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
