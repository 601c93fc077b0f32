"""Lifecycle states: one hand-worked customer per rule, parameters that move them, the
reasons recorded, failures, JSON round trips and the rules as properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.analytics.base import NotFitted
from patron.analytics.lifecycle import STATES, LifecycleModel, lifecycle_states
from patron.core.errors import InvalidInput

AS_OF = date(2024, 6, 1)
D = date

# id, first, last, n, typical gap, previous gap   -> state (worked out below)
ROWS = [
    (1, None, None, 0, None, None),  # prospect
    (2, D(2024, 5, 20), D(2024, 5, 20), 1, None, None),  # new: one purchase 12 days ago
    (3, D(2024, 1, 1), D(2024, 5, 1), 4, 30.0, 30.0),  # active: 31 days <= 1.5 * 30
    (4, D(2022, 1, 1), D(2024, 5, 25), 20, 30.0, 30.0),  # mature: 20 purchases over 882 days
    (5, D(2024, 1, 1), D(2024, 4, 12), 4, 30.0, 30.0),  # declining: 50 days > 45
    (6, D(2024, 1, 1), D(2024, 4, 1), 3, 20.0, 20.0),  # churned: 61 days > 3 * 20
    (7, D(2024, 1, 1), D(2024, 1, 1), 1, None, None),  # churned: 152 days > 3 * 30 (population)
    (8, D(2023, 12, 30), D(2024, 5, 28), 2, 150.0, 150.0),  # won back: 150 > 3 * 30 (population)
    (9, D(2024, 3, 31), D(2024, 5, 30), 3, 30.0, 50.0),  # won back: earlier gap 2*30-50 = 10
    (10, D(2024, 5, 20), D(2024, 5, 22), 2, 2.0, 2.0),  # new: gap floored at 7, 10 days <= 10.5
    (11, D(2023, 6, 1), D(2024, 5, 20), 6, 20.0, 100.0),  # won back: 100 > 3 * 20
]
EXPECTED = [
    "prospect",
    "new",
    "active",
    "mature",
    "declining",
    "churned",
    "churned",
    "won_back",
    "won_back",
    "new",
    "won_back",
]


def frame(rows: Sequence[tuple[object, ...]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.Int64,
            "first_purchase": pl.Date,
            "last_purchase": pl.Date,
            "n_purchases": pl.Int64,
            "typical_gap_days": pl.Float64,
            "previous_gap_days": pl.Float64,
        },
        orient="row",
    )


@pytest.fixture
def customers() -> pl.DataFrame:
    return frame(ROWS)


def test_every_state_by_hand(customers: pl.DataFrame) -> None:
    model = LifecycleModel().fit(customers)
    # Repeat buyers' typical gaps 30, 30, 30, 20, 150, 30, 2, 20: median 30.
    assert model.fallback_gap_days_ == 30.0
    assert model.n_repeat_buyers_ == 8
    out = model.transform(customers, AS_OF)
    assert out["state"].to_list() == EXPECTED
    assert set(EXPECTED) == set(STATES)
    assert out.columns == [*customers.columns, "state", "state_reason"]
    assert lifecycle_states(customers, AS_OF).equals(out)


def test_reasons_carry_the_numbers_used(customers: pl.DataFrame) -> None:
    reasons = lifecycle_states(customers, AS_OF)["state_reason"].to_list()
    assert reasons[0] == {
        "days_since_last": None,
        "tenure_days": None,
        "own_gap_days": None,
        "reference_gap_days": None,
        "gap_basis": None,
        "declining_after_days": None,
        "churn_after_days": None,
        "gap_before_last_days": None,
        "previous_churn_after_days": None,
    }
    assert reasons[4] == {
        "days_since_last": 50,
        "tenure_days": 152,
        "own_gap_days": 30.0,
        "reference_gap_days": 30.0,
        "gap_basis": "own",
        "declining_after_days": 45.0,
        "churn_after_days": 90.0,
        "gap_before_last_days": 30.0,
        "previous_churn_after_days": 90.0,
    }
    assert reasons[6] == {
        "days_since_last": 152,
        "tenure_days": 152,
        "own_gap_days": None,
        "reference_gap_days": 30.0,
        "gap_basis": "population",
        "declining_after_days": 45.0,
        "churn_after_days": 90.0,
        "gap_before_last_days": None,
        "previous_churn_after_days": None,
    }
    # Two purchases on one weekend: the 2-day gap is floored at 7.
    assert (
        reasons[9]["reference_gap_days"],
        reasons[9]["declining_after_days"],
        reasons[9]["churn_after_days"],
    ) == (
        7.0,
        10.5,
        21.0,
    )
    # The cadence before the comeback: population (2 purchases), recovered gap (3), median (6).
    assert [reasons[i]["previous_churn_after_days"] for i in (7, 8, 10)] == [90.0, 30.0, 60.0]


def test_parameters_move_the_states(customers: pl.DataFrame) -> None:
    states = lifecycle_states(customers, AS_OF, churn_multiplier=1.6)["state"].to_list()
    assert states[4] == "churned"  # 50 days > 1.6 * 30
    assert lifecycle_states(customers, AS_OF, new_days=200)["state"][2] == "new"  # tenure 152
    assert lifecycle_states(customers, AS_OF, mature_min_purchases=4)["state"][2] == "active"  # tenure < 365
    mature = lifecycle_states(customers, AS_OF, mature_min_purchases=4, mature_min_tenure_days=150)
    assert mature["state"][2] == "mature"
    # Without the floor two quick orders read as churned 10 days later.
    assert lifecycle_states(customers, AS_OF, min_gap_days=0)["state"][9] == "churned"
    # A longer population gap: the two-purchase comeback is no longer one (150 <= 3 * 50), and
    # the lapsed one-time buyer (152 days) turns from churned (> 3 * 50) to declining (<= 3 * 60).
    states = lifecycle_states(customers, AS_OF, fallback_gap_days=50)["state"].to_list()
    assert (states[6], states[7]) == ("churned", "active")
    states = lifecycle_states(customers, AS_OF, fallback_gap_days=60)["state"].to_list()
    assert (states[6], states[7]) == ("declining", "active")


def test_as_of_moves_the_clock(customers: pl.DataFrame) -> None:
    model = LifecycleModel().fit(customers)
    assert model.transform(customers, datetime(2024, 6, 1, 23, 59)).equals(model.transform(customers, AS_OF))
    later = model.transform(customers, AS_OF + timedelta(days=40))["state"].to_list()
    # Customer 3: 71 days > 45 -> declining; customer 5: 90 days, not yet > 90; customer 2: 52 days > 45.
    assert (later[2], later[4], later[1]) == ("declining", "declining", "declining")


def test_population_gap_needs_repeat_buyers() -> None:
    one_timers = frame([(1, D(2024, 5, 1), D(2024, 5, 1), 1, None, None), (2, None, None, 0, None, None)])
    with pytest.raises(InvalidInput) as err:
        LifecycleModel().fit(one_timers)
    assert err.value.code == "lifecycle_no_repeat_buyers"
    model = LifecycleModel(fallback_gap_days=10).fit(one_timers)
    assert (model.fallback_gap_days_, model.n_repeat_buyers_) == (10.0, 0)
    assert model.transform(one_timers, AS_OF)["state"].to_list() == ["churned", "prospect"]  # 31 > 30


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            (1, D(2024, 5, 1), D(2024, 6, 2), 2, 5.0, 5.0),
            "last_purchase is after the as-of date for 1 customer(s)",
        ),
        (
            (1, D(2024, 5, 2), D(2024, 5, 1), 2, 5.0, 5.0),
            "first_purchase is after last_purchase for 1 customer(s)",
        ),
        ((1, None, D(2024, 5, 1), 2, 5.0, 5.0), "lacks first_purchase or last_purchase"),
        ((1, D(2024, 5, 1), None, 0, None, None), "a customer without purchases has a purchase date"),
        ((1, D(2024, 5, 1), D(2024, 5, 9), 2, None, 8.0), "missing for a customer with 2+ purchases"),
        (
            (1, D(2024, 5, 1), D(2024, 5, 9), 2, -8.0, 8.0),
            "typical_gap_days or previous_gap_days is negative",
        ),
        ((1, None, None, -1, None, None), "n_purchases is missing or negative"),
        ((1, None, None, None, None, None), "n_purchases is missing or negative"),
    ],
)
def test_inconsistent_rows_are_named(row: tuple[object, ...], message: str) -> None:
    df = frame([row, *ROWS[1:]])
    model = LifecycleModel(fallback_gap_days=30)
    with pytest.raises(InvalidInput) as err:
        model.fit(df).transform(df, AS_OF)
    assert err.value.code == "lifecycle_bad_values"
    assert message in err.value.message


def test_bad_columns(customers: pl.DataFrame) -> None:
    with pytest.raises(InvalidInput) as err:
        LifecycleModel().fit(customers.drop("previous_gap_days"))
    assert err.value.code == "missing_columns"
    with pytest.raises(InvalidInput) as err:
        LifecycleModel().fit(customers.with_columns(pl.col("last_purchase").cast(pl.String)))
    assert err.value.code == "lifecycle_bad_values"
    with pytest.raises(NotFitted):
        LifecycleModel().transform(customers, AS_OF)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"declining_multiplier": 3.0, "churn_multiplier": 3.0},
        {"declining_multiplier": 0.0},
        {"new_days": -1},
        {"min_gap_days": float("nan")},
        {"fallback_gap_days": 0},
        {"mature_min_purchases": "five"},
    ],
)
def test_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as err:
        LifecycleModel(**kwargs)  # type: ignore[arg-type]
    assert err.value.code == "bad_parameter"


def test_json_round_trip_gives_the_same_states(customers: pl.DataFrame) -> None:
    model = LifecycleModel(new_days=14, churn_multiplier=2.5).fit(customers)
    loaded = LifecycleModel.from_json(model.to_json())
    assert loaded.get_params() == model.get_params()
    for as_of in (AS_OF, AS_OF + timedelta(days=100)):
        assert loaded.transform(customers, as_of).equals(model.transform(customers, as_of))


customer = st.one_of(
    st.just((0, 0, 0, None, None)),
    st.tuples(st.just(1), st.integers(0, 800), st.just(0), st.none(), st.none()),
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.integers(0, 800),
            st.integers(0, 800),
            st.integers(0, 200).map(float),
            st.integers(0, 400).map(float),
        )
    ),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(customer, min_size=1, max_size=40))
def test_the_rules_hold_for_any_customers(
    draws: list[tuple[int, int, int, float | None, float | None]],
) -> None:
    rows = []
    for i, (n, since, span, typical, previous) in enumerate(draws):
        last = AS_OF - timedelta(days=since) if n else None
        first = last - timedelta(days=span) if last else None
        rows.append((i, first, last, n, typical, previous))
    out = lifecycle_states(frame(rows), AS_OF, fallback_gap_days=45).unnest("state_reason")
    assert set(out["state"].to_list()) <= set(STATES)
    for row in out.to_dicts():
        state, n, d = row["state"], row["n_purchases"], row["days_since_last"]
        assert (state == "prospect") == (n == 0)
        if n == 0:
            continue
        assert row["reference_gap_days"] >= 7.0
        assert (state == "churned") == (d > row["churn_after_days"])
        if state == "declining":
            assert row["declining_after_days"] < d <= row["churn_after_days"]
        if state == "won_back":
            assert row["gap_before_last_days"] > row["previous_churn_after_days"]
        if state == "new":
            assert row["tenure_days"] <= 30 or n == 1
        if state == "mature":
            assert n >= 5
            assert row["tenure_days"] >= 365
