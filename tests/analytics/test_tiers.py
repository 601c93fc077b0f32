"""AHP weights and value tiers: Saaty's worked check, hand-computed ranks, scores and tiers,
failures, JSON round trips and the shares property."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.analytics.base import NotFitted
from patron.analytics.tiers import DEFAULT_TIERS, ValueTiers, ahp_weights, percentile_grid, percentile_rank
from patron.core.errors import InvalidInput


def test_ahp_known_three_criteria() -> None:
    weights, cr = ahp_weights([[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]])
    np.testing.assert_allclose(weights, [0.637, 0.258, 0.105], atol=1e-3)
    # lambda_max = 3.0385, CI = 0.01925, RI(3) = 0.58
    assert cr == pytest.approx(0.0332, abs=1e-3)
    assert weights.sum() == pytest.approx(1.0)


def test_ahp_accepts_rounded_reciprocals() -> None:
    weights, _ = ahp_weights([[1, 3, 5], [0.333, 1, 3], [0.2, 0.333, 1]])
    np.testing.assert_allclose(weights, [0.637, 0.258, 0.105], atol=1e-3)


def test_ahp_small_matrices_are_consistent() -> None:
    w1, cr1 = ahp_weights([[1]])
    assert (w1.tolist(), cr1) == ([1.0], 0.0)
    w2, cr2 = ahp_weights([[1, 4], [0.25, 1]])
    np.testing.assert_allclose(w2, [0.8, 0.2])
    assert cr2 == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=10))
def test_ahp_on_a_consistent_matrix_gives_its_weights_and_cr_zero(raw: list[float]) -> None:
    w = np.array(raw)
    weights, cr = ahp_weights(w[:, None] / w[None, :])
    np.testing.assert_allclose(weights, w / w.sum(), rtol=1e-9, atol=1e-12)
    assert cr == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("matrix", "code"),
    [
        ([[1, 2, 3], [0.5, 1, 2]], "ahp_not_square"),
        ([1, 2, 3], "ahp_not_square"),
        ([], "ahp_not_square"),
        ([["a", 1], [1, 1]], "ahp_not_square"),
        ([[1, -2], [-0.5, 1]], "ahp_not_positive"),
        ([[1, 0], [0, 1]], "ahp_not_positive"),
        ([[1, float("nan")], [1, 1]], "ahp_not_positive"),
        ([[1, 3], [3, 1]], "ahp_not_reciprocal"),
        ([[2, 1], [1, 1]], "ahp_not_reciprocal"),
        (np.ones((11, 11)), "ahp_too_large"),
    ],
)
def test_ahp_rejects_bad_matrices(matrix: object, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ahp_weights(matrix)
    assert err.value.code == code


def test_ahp_names_the_first_non_reciprocal_cell() -> None:
    with pytest.raises(InvalidInput) as err:
        ahp_weights([[1, 2, 3], [0.5, 1, 4], [1 / 3, 0.5, 1]])
    assert err.value.data == {"cell": [1, 2]}
    assert "a[1][2] * a[2][1] = 2" in err.value.message


def test_percentile_rank_by_hand() -> None:
    grid = percentile_grid(np.array([10.0, 20, 30, 40, 50]))  # grid[k] = 10 + 0.4 k
    assert len(grid) == 101
    np.testing.assert_allclose(grid[:3], [10.0, 10.4, 10.8])
    ranks = percentile_rank(np.array([10.0, 20, 30, 40, 50, 25, 5, 60]), grid)
    # 25 lies halfway between grid[37] = 24.8 and grid[38] = 25.2; outside the grid: 0 and 1.
    np.testing.assert_allclose(ranks, [0.0, 0.25, 0.5, 0.75, 1.0, 0.375, 0.0, 1.0], atol=1e-12)


def test_percentile_rank_takes_the_middle_of_tied_runs() -> None:
    # 7 of 10 zeros: the linear quantile is 0 up to position 6 of 9, i.e. grid[0..66] = 0.
    values = np.array([0.0] * 7 + [0.1, 0.2, 0.5])
    grid = percentile_grid(values)
    assert grid[66] == 0.0
    assert grid[67] > 0.0
    ranks = percentile_rank(values, grid)
    np.testing.assert_allclose(ranks[:7], 0.33)  # (0 + 66) / 2 percent
    assert ranks[-1] == 1.0


@pytest.fixture
def five() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "spend": [10, 20, 30, 40, 50],
            "recency": [1, 2, 3, 4, 5],
        }
    )


def test_value_tiers_by_hand(five: pl.DataFrame) -> None:
    model = ValueTiers({"spend": 3, "recency": 1}, {"recency": False}).fit(five)
    assert model.weights_ == {"recency": 0.25, "spend": 0.75}
    # ranks: spend 0, .25, .5, .75, 1; recency (lower is better) 1, .75, .5, .25, 0
    # score = .75 spend + .25 recency = .25, .375, .5, .625, .75
    # shares .2/.3/.3/.2 of 5 -> customers in that tier or better m = 1, 3 (round 2.5 up), 4;
    # cuts halfway between the m-th and (m+1)-th highest scores.
    np.testing.assert_allclose(model.cuts_, [0.6875, 0.4375, 0.3125])
    out = model.transform(five)
    np.testing.assert_allclose(out["value_score"].to_numpy(), [0.25, 0.375, 0.5, 0.625, 0.75], atol=1e-12)
    np.testing.assert_allclose(out["contrib_spend"].to_numpy(), [0, 0.1875, 0.375, 0.5625, 0.75], atol=1e-12)
    np.testing.assert_allclose(
        out["contrib_recency"].to_numpy(), [0.25, 0.1875, 0.125, 0.0625, 0], atol=1e-12
    )
    assert out["tier"].to_list() == ["low_value", "general", "potential", "potential", "high_value"]
    assert out.columns == [*five.columns, "value_score", "tier", "contrib_recency", "contrib_spend"]


def test_new_customers_are_ranked_against_the_fitted_population(five: pl.DataFrame) -> None:
    model = ValueTiers({"spend": 3, "recency": 1}, {"recency": False}).fit(five)
    new = pl.DataFrame({"spend": [25, 1000, 0], "recency": [5, 1, 9]})
    out = model.transform(new)
    # spend 25 -> .375, 1000 -> 1, 0 -> 0; recency 5 -> 0, 1 -> 1, 9 -> 0 (after inversion)
    np.testing.assert_allclose(out["value_score"].to_numpy(), [0.28125, 1.0, 0.0], atol=1e-12)
    assert out["tier"].to_list() == ["low_value", "high_value", "low_value"]


def test_ties_stay_together_in_the_worse_tier() -> None:
    df = pl.DataFrame({"orders": [1, 1, 1, 1, 2, 3]})
    model = ValueTiers({"orders": 1}, tiers=[("top", 0.5), ("rest", 0.5)]).fit(df)
    # Three of six would be "top", but the four tied one-time buyers are not split and not
    # promoted: their mid-rank (0 + 60) / 2 % is the cut itself, which they do not exceed.
    assert model.cuts_ == [pytest.approx(0.3)]
    assert model.transform(df)["tier"].to_list() == ["rest"] * 4 + ["top"] * 2


def test_tiny_populations_leave_a_tier_empty() -> None:
    out = ValueTiers({"x": 1}).fit_transform(pl.DataFrame({"x": [1.0, 2.0]}))
    # m = round(.2*2) = 0 -> nobody is high_value; round(1.0) = 1; round(1.6) = 2.
    assert out["tier"].to_list() == ["general", "potential"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"weights": {}}, "tiers_bad_weights"),
        ({"weights": {"a": 0, "b": 0}}, "tiers_bad_weights"),
        ({"weights": {"a": -1, "b": 2}}, "tiers_bad_weights"),
        ({"weights": {"a": float("inf")}}, "tiers_bad_weights"),
        ({"weights": {"a": "heavy"}}, "tiers_bad_weights"),
        ({"weights": {"a": 1}, "higher_is_better": {"b": False}}, "tiers_unknown_indicator"),
        ({"weights": {"a": 1}, "tiers": [("x", 0.5), ("y", 0.4)]}, "tiers_bad_shares"),
        ({"weights": {"a": 1}, "tiers": [("x", 0.5), ("x", 0.5)]}, "tiers_bad_shares"),
        ({"weights": {"a": 1}, "tiers": [("x", 1.2), ("y", -0.2)]}, "tiers_bad_shares"),
        ({"weights": {"a": 1}, "tiers": []}, "tiers_bad_shares"),
        ({"weights": {"a": 1}, "tiers": [("x",)]}, "tiers_bad_shares"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ValueTiers(**kwargs)  # type: ignore[arg-type]
    assert err.value.code == code


def test_bad_frames() -> None:
    model = ValueTiers({"spend": 1, "orders": 1})
    with pytest.raises(InvalidInput) as err:
        model.fit(pl.DataFrame({"spend": [1.0]}))
    assert (err.value.code, err.value.message) == (
        "missing_columns",
        "the frame lacks the indicator column(s) ['orders']",
    )
    with pytest.raises(InvalidInput) as err:
        model.fit(pl.DataFrame({"spend": [1.0, None], "orders": [1, 2]}))
    assert err.value.code == "tiers_bad_values"
    assert err.value.data == {"indicator": "spend", "count": 1}
    with pytest.raises(InvalidInput) as err:
        model.fit(pl.DataFrame({"spend": ["1"], "orders": [1]}))
    assert err.value.code == "tiers_bad_values"
    with pytest.raises(InvalidInput) as err:
        model.fit(pl.DataFrame({"spend": [], "orders": []}))
    assert err.value.code == "tiers_no_customers"
    with pytest.raises(NotFitted):
        model.transform(pl.DataFrame({"spend": [1.0], "orders": [1]}))


def test_json_round_trip_scores_identically(five: pl.DataFrame) -> None:
    # Weights given out of order: JSON sorts keys, the model must not care.
    model = ValueTiers(
        {"spend": 0.6, "recency": 0.3, "customer_id": 0.1},
        {"recency": False},
        tiers=[("a", 0.1), ("b", 0.6), ("c", 0.3)],
    ).fit(five)
    text = model.to_json()
    assert len(model.grids_["spend"]) == 101
    loaded = ValueTiers.from_json(text)
    assert loaded.to_json() == text
    for df in (five, pl.DataFrame({"customer_id": [9, 0], "spend": [33.3, -1.0], "recency": [0, 12]})):
        assert loaded.transform(df).equals(model.transform(df))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-1_000_000, 1_000_000), min_size=5, max_size=300, unique=True),
    st.sampled_from([list(DEFAULT_TIERS), [("top", 0.1), ("mid", 0.2), ("low", 0.7)], [("all", 1.0)]]),
)
def test_tier_shares_are_respected(values: list[int], tiers: list[tuple[str, float]]) -> None:
    out = ValueTiers({"x": 1}, tiers=tiers).fit_transform(pl.DataFrame({"x": values}))
    n = len(values)
    counts = out["tier"].value_counts()
    got = {row["tier"]: row["count"] for row in counts.to_dicts()}
    cumulative, previous = 0.0, 0
    for name, share in tiers:
        cumulative += share
        m = int(np.floor(round(cumulative * n, 9) + 0.5)) if name != tiers[-1][0] else n
        assert got.get(name, 0) == m - previous  # distinct values: exact
        assert abs(got.get(name, 0) - share * n) <= 1  # within rounding
        previous = m


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(0, 1e6, allow_nan=False), st.integers(0, 400)),
        min_size=1,
        max_size=200,
    )
)
def test_scores_are_bounded_and_tiers_follow_the_score(rows: list[tuple[int, float, int]]) -> None:
    df = pl.DataFrame(
        {"orders": [r[0] for r in rows], "spend": [r[1] for r in rows], "recency": [r[2] for r in rows]}
    )
    model = ValueTiers({"orders": 2, "spend": 5, "recency": 1}, {"recency": False})
    out = model.fit_transform(df)
    score = out["value_score"].to_numpy()
    assert ((score >= 0) & (score <= 1)).all()
    parts = out.select("contrib_orders", "contrib_recency", "contrib_spend").to_numpy().sum(axis=1)
    np.testing.assert_allclose(parts, score, atol=1e-12)
    # A better tier never holds a lower score than a worse one.
    rank = {name: i for i, (name, _) in enumerate(DEFAULT_TIERS)}
    order = out.with_columns(pl.col("tier").replace_strict(rank).alias("t")).sort("value_score")
    assert (np.diff(order["t"].to_numpy()) <= 0).all()
