"""Explanations read as the issue's example, in both languages, and skip what is unknown."""

from __future__ import annotations

import polars as pl
import pytest

from patron.analytics.explain import LABELS, explain, label
from patron.analytics.lifecycle import STATES
from patron.analytics.rfm import SEGMENTS
from patron.analytics.tiers import DEFAULT_TIERS
from patron.core.errors import InvalidInput

ROWS = pl.DataFrame(
    {
        "days_since_last": [94.0, 10.0, None],
        "typical_gap_days": [31.0, 31.0, None],
        "purchase_probability": [0.184, 0.5, None],
        "horizon_days": [90, 90, 90],
        "refunds": [2, 1, 0],
        "segment": ["at_risk", "champions", None],
        "tier": ["high_value", None, None],
        "state": ["declining", "active", "prospect"],
    }
)


def test_english() -> None:
    assert explain(ROWS, "en").to_list() == [
        "no order for 94 days while the usual gap is 31 days; 18% likely to buy in the next 90 days; 2 refunds; "
        "segment At Risk; tier high value; declining",
        "last order 10 days ago; 50% likely to buy in the next 90 days; 1 refund; segment Champions; active",
        "prospect",
    ]


def test_chinese() -> None:
    assert explain(ROWS, "zh").to_list() == [
        "已 94 天未下单，平时约 31 天一单；未来 90 天内购买的可能性 18%；2 次退款；分群：流失风险；价值层级：高价值；生命周期：衰退",
        "最近一次下单在 10 天前；未来 90 天内购买的可能性 50%；1 次退款；分群：重要价值客户；生命周期：活跃",
        "生命周期：潜在客户",
    ]


def test_missing_columns_are_left_out() -> None:
    assert explain(pl.DataFrame({"days_since_last": [5.0]})).to_list() == ["last order 5 days ago"]


def test_every_key_has_a_label_in_both_languages() -> None:
    keys = set(SEGMENTS) | {name for name, _ in DEFAULT_TIERS} | set(STATES)
    for lang in ("en", "zh"):
        assert keys <= set(LABELS[lang])
    assert label("cant_lose", "zh") == "不能失去"
    with pytest.raises(InvalidInput) as err:
        explain(ROWS, "fr")
    assert err.value.code == "bad_language"
