"""RFM scores and segments: hand-computed cut points and scores, the segment grid, failures,
JSON round trips and the properties every scoring keeps."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.analytics.base import NotFitted
from patron.analytics.rfm import (
    DEFAULT_SEGMENT_RULES,
    SEGMENT_LABELS,
    SEGMENTS,
    RFMScorer,
    SegmentRule,
    quantile_cuts,
    segment,
    segment_grid,
)
from patron.core.errors import InvalidInput


def frame(recency: list[float], frequency: list[float], monetary: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": list(range(1, len(recency) + 1)),
            "recency_days": recency,
            "frequency": frequency,
            "monetary": monetary,
        }
    )


@pytest.fixture
def ten() -> pl.DataFrame:
    # Quintile cut points by hand (n = 10: the 2nd, 4th, 6th and 8th smallest values):
    #   recency  1..10                      -> [2, 4, 6, 8]
    #   frequency sorted 1,1,1,1,1,1,2,2,3,7 -> [1, 1, 1, 2]
    #   monetary 0..900 by 100              -> [100, 300, 500, 700]
    return frame(
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        [1, 1, 1, 1, 1, 1, 2, 2, 3, 7],
        [0, 100, 200, 300, 400, 500, 600, 700, 800, 900],
    )


def test_quantile_cut_points_and_scores_by_hand(ten: pl.DataFrame) -> None:
    scorer = RFMScorer().fit(ten)
    assert scorer.cuts_ == {
        "r": [2.0, 4.0, 6.0, 8.0],
        "f": [1.0, 1.0, 1.0, 2.0],
        "m": [100.0, 300.0, 500.0, 700.0],
    }
    assert scorer.n_customers_ == 10
    out = scorer.transform(ten)
    # Right-closed bins; recency inverted; a value on a cut point takes the lower bin.
    assert out["r_score"].to_list() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # Ties: six one-time buyers all score 1; two purchases land in bin 4, three or more in 5.
    assert out["f_score"].to_list() == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert out["m_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out["rfm_code"].to_list() == ["511", "511", "412", "412", "313", "313", "244", "244", "155", "155"]
    assert out["r_score"].dtype == pl.Int8
    assert out.columns == [*ten.columns, "r_score", "f_score", "m_score", "rfm_code"]
    # fm = floor((f + m) / 2): (5,1) new, (4,1) new, (3,2) about_to_sleep, (2,4) at_risk, (1,5) cant_lose
    assert segment(out)["segment"].to_list() == [
        "new",
        "new",
        "new",
        "new",
        "about_to_sleep",
        "about_to_sleep",
        "at_risk",
        "at_risk",
        "cant_lose",
        "cant_lose",
    ]


def test_scores_do_not_depend_on_row_order(ten: pl.DataFrame) -> None:
    shuffled = ten.sample(fraction=1.0, shuffle=True, seed=7)
    a = RFMScorer().fit_transform(ten).sort("customer_id")
    b = RFMScorer().fit_transform(shuffled).sort("customer_id")
    assert a.equals(b)


def test_scale_three_quantiles_by_hand() -> None:
    # n = 9, cut ranks ceil(9/3) = 3 and ceil(18/3) = 6.
    df = frame(list(range(1, 10)), [1, 1, 1, 1, 2, 2, 3, 4, 9], [5.5] * 9)
    scorer = RFMScorer(scale=3).fit(df)
    assert scorer.cuts_ == {"r": [3.0, 6.0], "f": [1.0, 2.0], "m": [5.5, 5.5]}
    out = scorer.transform(df)
    assert out["r_score"].to_list() == [3, 3, 3, 2, 2, 2, 1, 1, 1]
    assert out["f_score"].to_list() == [1, 1, 1, 1, 2, 2, 3, 3, 3]
    assert out["m_score"].to_list() == [1] * 9  # everyone equal: everyone in the lowest bin


def test_thresholds_read_as_written() -> None:
    scorer = RFMScorer(
        method="thresholds",
        thresholds={"r": [30, 60, 90, 180], "f": [1, 2, 3, 5], "m": [1000, 5000, 10000, 50000]},
    ).fit()
    df = frame(
        [0, 30, 31, 90, 180, 181],
        [1, 2, 3, 5, 6, 40],
        [0, 1000, 1001, 10000, 50000, 50001],
    )
    out = scorer.transform(df)
    assert out["r_score"].to_list() == [5, 5, 4, 3, 2, 1]
    assert out["f_score"].to_list() == [1, 2, 3, 4, 5, 5]
    assert out["m_score"].to_list() == [1, 1, 2, 3, 4, 5]
    assert scorer.n_customers_ == 0
    # Fitting on data does not move business thresholds.
    assert RFMScorer(**scorer.get_params()).fit(df).cuts_ == scorer.cuts_


def test_default_grid_cell_by_cell() -> None:
    assert segment_grid() == [
        ["lost", "lost", "at_risk", "cant_lose", "cant_lose"],  # r = 1, fm = 1..5
        ["hibernating", "hibernating", "at_risk", "at_risk", "at_risk"],
        ["promising", "about_to_sleep", "need_attention", "loyal", "loyal"],
        ["new", "potential_loyalist", "loyal", "champions", "champions"],
        ["new", "potential_loyalist", "loyal", "champions", "champions"],
    ]
    reached = {name for row in segment_grid() for name in row}
    assert reached == set(SEGMENTS) == set(SEGMENT_LABELS)
    assert [rule.segment for rule in DEFAULT_SEGMENT_RULES] == [
        "champions",
        "cant_lose",
        "new",
        "promising",
        "lost",
        "hibernating",
        "at_risk",
        "about_to_sleep",
        "need_attention",
        "loyal",
        "potential_loyalist",
    ]


def test_segment_from_scores_on_both_scales() -> None:
    scores = pl.DataFrame(
        {
            "r_score": [5, 5, 3, 1, 2, 4, 3],
            "f_score": [5, 1, 4, 5, 2, 3, 3],
            "m_score": [4, 2, 3, 4, 1, 2, 3],
        }
    )
    # fm = 4, 1, 3, 4, 1, 2, 3
    assert segment(scores)["segment"].to_list() == [
        "champions",
        "new",
        "need_attention",
        "cant_lose",
        "hibernating",
        "potential_loyalist",
        "need_attention",
    ]
    three = pl.DataFrame(
        {"r_score": [3, 3, 2, 1, 1, 2], "f_score": [3, 1, 2, 3, 1, 1], "m_score": [3, 1, 2, 2, 1, 2]}
    )
    # Placed at 2s-1: r 5,5,3,1,1,3; fm = f+m-1: 5,1,3,4,1,2
    assert segment(three, scale=3)["segment"].to_list() == [
        "champions",
        "new",
        "need_attention",
        "cant_lose",
        "lost",
        "about_to_sleep",
    ]


def test_custom_mapping_as_dicts_first_match() -> None:
    mapping = [
        {"segment": "champions", "r": [5, 5], "fm": [5, 5]},
        {"segment": "lost", "r": [1, 5], "fm": [1, 5]},
        {"segment": "loyal", "r": [1, 5], "fm": [1, 5]},  # never reached: lost matches first
    ]
    scores = pl.DataFrame({"r_score": [5, 5, 1], "f_score": [5, 4, 5], "m_score": [5, 5, 5]})
    assert segment(scores, mapping)["segment"].to_list() == ["champions", "lost", "lost"]
    assert SegmentRule.from_dict(SegmentRule("new", (4, 5), (1, 1)).to_dict()) == SegmentRule(
        "new", (4, 5), (1, 1)
    )


def test_incomplete_mapping_lists_the_uncovered_cells() -> None:
    rules = [SegmentRule("champions", (2, 5), (1, 5)), SegmentRule("lost", (1, 1), (1, 3))]
    with pytest.raises(InvalidInput) as err:
        segment_grid(rules)
    assert err.value.code == "rfm_mapping_incomplete"
    assert err.value.data == {"uncovered": [[1, 4], [1, 5]]}
    assert "(r=1, fm=4), (r=1, fm=5)" in err.value.message


@pytest.mark.parametrize(
    ("mapping", "code"),
    [
        ([{"segment": "vip", "r": [1, 5], "fm": [1, 5]}], "rfm_unknown_segment"),
        ([{"segment": "lost", "r": [0, 5], "fm": [1, 5]}], "rfm_mapping_invalid"),
        ([{"segment": "lost", "r": [3, 2], "fm": [1, 5]}], "rfm_mapping_invalid"),
        ([{"segment": "lost", "r": [1, 5]}], "rfm_mapping_invalid"),
    ],
)
def test_bad_mappings(mapping: list[dict[str, object]], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        segment_grid(mapping)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("scores", "scale"),
    [
        ({"r_score": [6], "f_score": [1], "m_score": [1]}, 5),
        ({"r_score": [1], "f_score": [4], "m_score": [1]}, 3),
        ({"r_score": [1], "f_score": [0], "m_score": [1]}, 5),
        ({"r_score": [1], "f_score": [None], "m_score": [1]}, 5),
        ({"r_score": [1.0], "f_score": [1], "m_score": [1]}, 5),
    ],
)
def test_segment_rejects_scores_off_the_scale(scores: dict[str, list[object]], scale: int) -> None:
    with pytest.raises(InvalidInput) as err:
        segment(pl.DataFrame(scores), scale=scale)
    assert err.value.code == "rfm_bad_scores"


def test_segment_needs_the_score_columns() -> None:
    with pytest.raises(InvalidInput) as err:
        segment(pl.DataFrame({"r_score": [1]}))
    assert err.value.code == "missing_columns"


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("monetary", -5, "rfm_negative_value"),
        ("recency_days", -1, "rfm_negative_value"),
        ("frequency", None, "rfm_missing_values"),
        ("monetary", math.inf, "rfm_missing_values"),
    ],
)
def test_bad_values_are_named(column: str, value: float | None, code: str) -> None:
    df = frame([1, 2, 3], [1, 2, 3], [10.0, 20.0, 30.0])
    df = df.with_columns(
        pl.when(pl.col("customer_id") == 2).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(InvalidInput) as err:
        RFMScorer().fit(df)
    assert err.value.code == code
    assert err.value.data == {"column": column, "count": 1}
    assert column in err.value.message


def test_missing_column_and_empty_frame() -> None:
    with pytest.raises(InvalidInput) as err:
        RFMScorer().fit(pl.DataFrame({"customer_id": [1], "recency_days": [1], "frequency": [1]}))
    assert err.value.code == "missing_columns"
    with pytest.raises(InvalidInput) as err:
        RFMScorer().fit(frame([], [], []))
    assert err.value.code == "rfm_no_customers"
    with pytest.raises(InvalidInput) as err:
        RFMScorer().fit()
    assert err.value.code == "rfm_no_customers"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"scale": 4}, "bad_parameter"),
        ({"method": "kmeans"}, "bad_parameter"),
        ({"thresholds": {"r": [1], "f": [1], "m": [1]}}, "bad_parameter"),
        ({"method": "thresholds"}, "rfm_bad_thresholds"),
        (
            {"method": "thresholds", "thresholds": {"r": [1, 2, 3, 4], "f": [1, 2, 3, 4]}},
            "rfm_bad_thresholds",
        ),
        (
            {"method": "thresholds", "thresholds": {"r": [1, 2, 3], "f": [1, 2, 3, 4], "m": [1, 2, 3, 4]}},
            "rfm_bad_thresholds",
        ),
        (
            {"method": "thresholds", "thresholds": {"r": [1, 2, 2, 4], "f": [1, 2, 3, 4], "m": [1, 2, 3, 4]}},
            "rfm_bad_thresholds",
        ),
        (
            {"method": "thresholds", "thresholds": {"r": [4, 3, 2, 1], "f": [1, 2, 3, 4], "m": [1, 2, 3, 4]}},
            "rfm_bad_thresholds",
        ),
        (
            {"method": "thresholds", "scale": 3, "thresholds": {"r": ["a", 2], "f": [1, 2], "m": [1, 2]}},
            "rfm_bad_thresholds",
        ),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RFMScorer(**kwargs)  # type: ignore[arg-type]
    assert err.value.code == code


def test_transform_before_fit() -> None:
    with pytest.raises(NotFitted):
        RFMScorer().transform(frame([1], [1], [1]))


@pytest.mark.parametrize(
    "scorer",
    [
        RFMScorer(scale=3),
        RFMScorer(
            method="thresholds",
            thresholds={"r": [7, 30, 90, 365], "f": [1, 2, 4, 8], "m": [10, 50, 100, 500]},
        ),
    ],
)
def test_json_round_trip_scores_identically(scorer: RFMScorer, ten: pl.DataFrame) -> None:
    scorer.fit(ten)
    loaded = RFMScorer.from_json(scorer.to_json())
    assert loaded.get_params() == scorer.get_params()
    assert loaded.transform(ten).equals(scorer.transform(ten))
    other = frame([0.0, 3.5, 400.0], [1, 9, 2], [1.0, 75.25, 10_000.0])
    assert loaded.transform(other).equals(scorer.transform(other))


def test_quantile_cuts_are_exact_order_statistics() -> None:
    # 7 values, quintiles: ranks ceil(7*s/5) = 2, 3, 5, 6 (no floating-point rounding involved).
    assert quantile_cuts(np.array([70.0, 10, 60, 20, 50, 30, 40]), 5) == [20.0, 30.0, 50.0, 60.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.integers(1, 30),
            st.floats(0, 1e7, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([3, 5]),
)
def test_scores_stay_on_the_scale_and_follow_the_values(
    rows: list[tuple[int, int, float]], scale: int
) -> None:
    df = frame([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    out = segment(RFMScorer(scale=scale).fit_transform(df), scale=scale)
    for col in ("r_score", "f_score", "m_score"):
        assert out[col].min() >= 1  # type: ignore[operator]
        assert out[col].max() <= scale  # type: ignore[operator]
    assert set(out["segment"].to_list()) <= set(SEGMENTS)
    n = len(rows)
    # Sorted by a value, its score never goes the wrong way (equal values, equal scores).
    for value, score, sign in (
        ("frequency", "f_score", 1),
        ("monetary", "m_score", 1),
        ("recency_days", "r_score", -1),
    ):
        ordered = out.sort(value)
        diffs = np.diff(ordered[score].to_numpy().astype(int)) * sign
        assert (diffs >= 0).all()
        # Inverse-CDF cut points: at least ceil(n*s/scale) customers sit in bins 1..s.
        bins = ordered[score].to_numpy() if sign > 0 else scale + 1 - ordered[score].to_numpy()
        for s in range(1, scale):
            assert (bins <= s).sum() >= -(-n * s // scale)
