"""Plain-words explanations of a customer's scores, in English and Simplified Chinese.

An agent or marketer reads "no order for 94 days while the usual gap is 31 days; 18% likely to
buy in the next 90 days; 2 refunds" faster than a table of probabilities. The sentence is built
from the score columns with Polars expressions, so a scoring run explains a million customers in
one pass; the labels of segments, tiers and lifecycle states live here too, so the API, the CLI
and the web pages say the same words.

Input columns (any may be null, and missing parts are left out of the sentence):
``days_since_last``, ``typical_gap_days``, ``purchase_probability`` (P(purchase in the horizon)),
``horizon_days``, ``refunds``, ``segment``, ``tier``, ``state``.
"""

from __future__ import annotations

from typing import TypedDict

import polars as pl

from patron.analytics.rfm import SEGMENT_LABELS
from patron.core.errors import InvalidInput

LANGUAGES = ("en", "zh")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        **SEGMENT_LABELS,
        "high_value": "high value",
        "potential": "potential",
        "general": "general",
        "low_value": "low value",
        "prospect": "prospect",
        "active": "active",
        "mature": "mature",
        "declining": "declining",
        "churned": "churned",
        "won_back": "won back",
    },
    "zh": {
        "champions": "重要价值客户",
        "loyal": "忠诚客户",
        "potential_loyalist": "潜力忠诚客户",
        "new": "新客户",
        "promising": "有潜力客户",
        "need_attention": "需要关注",
        "about_to_sleep": "即将沉睡",
        "at_risk": "流失风险",
        "cant_lose": "不能失去",
        "hibernating": "休眠客户",
        "lost": "已流失",
        "high_value": "高价值",
        "potential": "潜力",
        "general": "一般",
        "low_value": "低价值",
        "prospect": "潜在客户",
        "active": "活跃",
        "mature": "成熟",
        "declining": "衰退",
        "churned": "已流失",
        "won_back": "已挽回",
    },
}
# The lifecycle "new" and the RFM "New" share a key and mean the same thing.


class _Phrases(TypedDict):
    overdue: tuple[str, str, str]
    last: tuple[str, str, str]
    chance: tuple[str, str, str]
    refunds: tuple[str, str, str]
    segment: str
    tier: str
    state: str
    sep: str


_PHRASES: dict[str, _Phrases] = {
    "en": {
        "overdue": ("no order for ", " days while the usual gap is ", " days"),
        "last": ("last order ", " days ago", ""),
        "chance": ("", "% likely to buy in the next ", " days"),
        "refunds": ("", " refund", " refunds"),
        "segment": "segment ",
        "tier": "tier ",
        "state": "",
        "sep": "; ",
    },
    "zh": {
        "overdue": ("已 ", " 天未下单，平时约 ", " 天一单"),
        "last": ("最近一次下单在 ", " 天前", ""),
        "chance": ("未来 ", " 天内购买的可能性 ", "%"),
        "refunds": ("", " 次退款", " 次退款"),
        "segment": "分群：",
        "tier": "价值层级：",
        "state": "生命周期：",
        "sep": "；",
    },
}


def label(key: str, lang: str = "en") -> str:
    """The display name of a segment, tier or lifecycle state key."""
    _check(lang)
    return LABELS[lang].get(key, key)


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise InvalidInput(f"unknown language {lang!r}; use one of {LANGUAGES}", code="bad_language")


def _int(col: str) -> pl.Expr:
    return pl.col(col).round(0).cast(pl.Int64).cast(pl.Utf8)


def explain(scores: pl.DataFrame, lang: str = "en") -> pl.Series:
    """One sentence per row of ``scores`` (see the module docstring for the columns)."""
    _check(lang)
    p = _PHRASES[lang]
    have = set(scores.columns)
    numbers = ("days_since_last", "typical_gap_days", "purchase_probability", "horizon_days", "refunds")
    words = ("segment", "tier", "state")
    # Every input column typed, present or not (a column of nulls arrives typed Null).
    frame = scores.select(
        *((pl.col(c) if c in have else pl.lit(None)).cast(pl.Float64).alias(c) for c in numbers),
        *((pl.col(c) if c in have else pl.lit(None)).cast(pl.Utf8).alias(c) for c in words),
    )
    days, gap = pl.col("days_since_last"), pl.col("typical_gap_days")
    over = p["overdue"]
    last = p["last"]
    timing = (
        pl.when(days.is_not_null() & gap.is_not_null() & (days > gap))
        .then(
            pl.concat_str(
                pl.lit(over[0]),
                _int("days_since_last"),
                pl.lit(over[1]),
                _int("typical_gap_days"),
                pl.lit(over[2]),
            )
        )
        .when(days.is_not_null())
        .then(pl.concat_str(pl.lit(last[0]), _int("days_since_last"), pl.lit(last[1])))
    )
    chance_parts = p["chance"]
    percent = (pl.col("purchase_probability") * 100).round(0).cast(pl.Int64).cast(pl.Utf8)
    horizon = _int("horizon_days")
    chance = pl.when(
        pl.col("purchase_probability").is_not_null() & pl.col("horizon_days").is_not_null()
    ).then(
        pl.concat_str(
            pl.lit(chance_parts[0]), percent, pl.lit(chance_parts[1]), horizon, pl.lit(chance_parts[2])
        )
        if lang == "en"
        else pl.concat_str(
            pl.lit(chance_parts[0]), horizon, pl.lit(chance_parts[1]), percent, pl.lit(chance_parts[2])
        )
    )
    ref = p["refunds"]
    refunds = pl.when(pl.col("refunds") > 0).then(
        pl.concat_str(
            _int("refunds"),
            pl.when(pl.col("refunds") == 1).then(pl.lit(ref[1])).otherwise(pl.lit(ref[2])),
        )
    )
    names = LABELS[lang]

    def named(col: str, prefix: str) -> pl.Expr:
        return pl.when(pl.col(col).is_not_null()).then(
            pl.concat_str(pl.lit(prefix), pl.col(col).replace_strict(names, default=pl.col(col)))
        )

    parts = [
        timing,
        chance,
        refunds,
        named("segment", p["segment"]),
        named("tier", p["tier"]),
        named("state", p["state"]),
    ]
    return frame.select(
        pl.concat_str(parts, separator=p["sep"], ignore_nulls=True).alias("explanation")
    ).to_series()
