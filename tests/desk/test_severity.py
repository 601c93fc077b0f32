"""Severity grading: hand-computed points for every reason in Chinese and English, the level
boundaries, keyword false alarms that must not fire, explanations and input validation."""

from __future__ import annotations

from typing import Any

import pytest

from patron.core.errors import InvalidInput
from patron.desk.classifier import CATEGORIES
from patron.desk.severity import (
    CATEGORY_POINTS,
    LEVELS,
    POINTS,
    REASONS,
    Severity,
    explain,
    grade,
    level_for,
    text_signals,
)


def _grade(category: str = "logistics", text: str = "", **kw: Any) -> Severity:
    args: dict[str, Any] = {
        "customer_tier": None,
        "order_value_minor": None,
        "currency": "CNY",
        "repeat_complaints_90d": 0,
    }
    args.update(kw)
    return grade(category, text=text, **args)


def test_tables_agree_with_the_classifier_and_each_other() -> None:
    assert set(CATEGORY_POINTS) == set(CATEGORIES)
    assert set(REASONS) == set(POINTS)
    assert all(set(words) == {"en", "zh"} and all(words.values()) for words in REASONS.values())
    assert LEVELS == ("S1", "S2", "S3", "S4")


@pytest.mark.parametrize(
    ("points", "level"),
    [(0, "S4"), (19, "S4"), (20, "S3"), (39, "S3"), (40, "S2"), (59, "S2"), (60, "S1"), (200, "S1")],
)
def test_level_boundaries(points: int, level: str) -> None:
    assert level_for(points) == level


@pytest.mark.parametrize(
    ("category", "points"),
    [("product", 10), ("service", 10), ("logistics", 5), ("price", 5), ("promotion", 5)],
)
def test_a_plain_complaint_has_its_category_points_and_no_reason(category: str, points: int) -> None:
    assert _grade(category, "东西不太好 / not great") == Severity("S4", points, [], {})


@pytest.mark.parametrize(
    ("category", "text", "reasons", "evidence", "points", "level"),
    [
        # safety: 60 + base -> always S1
        ("product", "充电宝充着电突然冒烟，差点起火", ["safety"], {"safety": "冒烟"}, 70, "S1"),
        ("product", "孩子用了以后全身过敏，去了医院", ["safety"], {"safety": "过敏"}, 70, "S1"),
        (
            "logistics",
            "The space heater caught fire on the first night",
            ["safety"],
            {"safety": "fire"},
            65,
            "S1",
        ),
        (
            "product",
            "My daughter is allergic to the dye, rash everywhere",
            ["safety"],
            {"safety": "allergic"},
            70,
            "S1",
        ),
        # legal: 40 + base -> S2
        ("price", "再不退差价我就找律师", ["threat_legal"], {"threat_legal": "律师"}, 45, "S2"),
        ("service", "不解决我就去法院起诉你们", ["threat_legal"], {"threat_legal": "法院"}, 50, "S2"),
        ("service", "Fix this or I will sue.", ["threat_legal"], {"threat_legal": "sue"}, 50, "S2"),
        ("price", "My lawyer will be in touch", ["threat_legal"], {"threat_legal": "lawyer"}, 45, "S2"),
        # regulator: 40 + base -> S2
        (
            "promotion",
            "满减不给减，我已经打了12315",
            ["threat_regulator"],
            {"threat_regulator": "12315"},
            45,
            "S2",
        ),
        (
            "promotion",
            "我要向市场监管局举报",
            ["threat_regulator"],
            {"threat_regulator": "市场监管"},
            45,
            "S2",
        ),
        ("logistics", "我要去工商投诉你们", ["threat_regulator"], {"threat_regulator": "去工商"}, 45, "S2"),
        ("logistics", "消协见吧", ["threat_regulator"], {"threat_regulator": "消协"}, 45, "S2"),
        (
            "logistics",
            "I'm filing a chargeback today",
            ["threat_regulator"],
            {"threat_regulator": "chargeback"},
            45,
            "S2",
        ),
        ("price", "Reporting this to the BBB", ["threat_regulator"], {"threat_regulator": "bbb"}, 45, "S2"),
        (
            "price",
            "Going to contact consumer protection",
            ["threat_regulator"],
            {"threat_regulator": "consumer protection"},
            45,
            "S2",
        ),
        # public: 25 + base -> S3
        ("logistics", "我要发小红书让大家看看", ["threat_public"], {"threat_public": "发小红书"}, 30, "S3"),
        ("product", "我会找媒体的", ["threat_public"], {"threat_public": "媒体"}, 35, "S3"),
        ("logistics", "再不处理就曝光你们", ["threat_public"], {"threat_public": "曝光"}, 30, "S3"),
        ("logistics", "发个抖音说说你们家", ["threat_public"], {"threat_public": "发个抖音"}, 30, "S3"),
        (
            "product",
            "I'll post this all over TikTok",
            ["threat_public"],
            {"threat_public": "post this all over tiktok"},
            35,
            "S3",
        ),
        (
            "logistics",
            "Local news station will hear about this",
            ["threat_public"],
            {"threat_public": "news station"},
            30,
            "S3",
        ),
        # review: 10 + base -> S4 or S3 at exactly 20
        ("logistics", "给你差评", ["threat_review"], {"threat_review": "差评"}, 15, "S4"),
        ("product", "必须差评", ["threat_review"], {"threat_review": "差评"}, 20, "S3"),
        ("price", "只能给一星了", ["threat_review"], {"threat_review": "一星"}, 15, "S4"),
        (
            "service",
            "Leaving a 1-star review",
            ["threat_review"],
            {"threat_review": "1-star review"},
            20,
            "S3",
        ),
        # several: summed, in table order; 5 + 25 + 10 = 40 is S2 exactly
        (
            "logistics",
            "差评！还要发微博曝光",
            ["threat_public", "threat_review"],
            {"threat_public": "发微博", "threat_review": "差评"},
            40,
            "S2",
        ),
        (
            "price",
            "Call my attorney and the FTC",
            ["threat_legal", "threat_regulator"],
            {"threat_legal": "attorney", "threat_regulator": "ftc"},
            85,
            "S1",
        ),
    ],
)
def test_text_reasons(
    category: str, text: str, reasons: list[str], evidence: dict[str, str], points: int, level: str
) -> None:
    assert _grade(category, text) == Severity(level, points, reasons, evidence)


@pytest.mark.parametrize(
    "text",
    [
        "This is an ongoing issue with my order",  # "sue" inside "issue"
        "订单号2023123156789，物流不动了",  # 12315 inside an order number
        "在抖音直播间买的，也是在小红书看到的",  # platforms as shops, no posting verb
        "用工商银行卡付的款",  # a bank, not the regulator
        "等了一个星期了",  # 一星 inside 一星期
        "All four bulbs burned out in a week",  # burned out
        "The attorney general office address is on the box",  # regulator, not legal
        "Any news on my order? Please reply by email.",
        "快递员态度好差，评论区见",
    ],
)
def test_false_alarms_that_must_not_fire(text: str) -> None:
    signals = text_signals(text)
    assert "threat_legal" not in signals
    if "attorney general" in text:
        assert signals == {"threat_regulator": "attorney general"}
    else:
        assert signals == {}


def test_full_width_digits_and_letters_match() -> None:
    assert text_signals("打１２３１５投诉") == {"threat_regulator": "12315"}
    assert text_signals("ＢＢＢ complaint filed") == {"threat_regulator": "bbb"}


@pytest.mark.parametrize(
    ("tier", "reasons", "points", "level"),
    [
        ("high_value", ["high_value_customer"], 30, "S3"),
        ("potential", ["potential_customer"], 20, "S3"),
        ("general", [], 10, "S4"),
        ("low_value", [], 10, "S4"),
        (None, [], 10, "S4"),
    ],
)
def test_customer_tier(tier: str | None, reasons: list[str], points: int, level: str) -> None:
    assert _grade("product", "质量不行", customer_tier=tier) == Severity(level, points, reasons, {})


@pytest.mark.parametrize(
    ("value", "currency", "threshold", "reasons", "points"),
    [
        (99_999, "CNY", None, [], 5),  # 999.99 < 1,000.00
        (100_000, "CNY", None, ["high_order_value"], 20),  # 1,000.00: the default threshold
        (499_999, "USD", None, ["high_order_value"], 20),
        (500_000, "USD", None, ["very_high_order_value"], 30),  # 5 x 1,000.00
        (0, "CNY", None, [], 5),
        (None, "CNY", None, [], 5),
        (1_000, "JPY", None, ["high_order_value"], 20),  # JPY has no minor unit: 1,000 yen
        (99_999, "JPY", 100_000, [], 5),  # the shop's own threshold for yen
        (100_000, "JPY", 100_000, ["high_order_value"], 20),
        (999_999, "KWD", None, [], 5),  # three decimals: 1,000.000 KWD = 1,000,000
        (1_000_000, "KWD", None, ["high_order_value"], 20),
        (20_000, "CNY", 20_000, ["high_order_value"], 20),
    ],
)
def test_order_value(
    value: int | None, currency: str, threshold: int | None, reasons: list[str], points: int
) -> None:
    graded = _grade(
        "logistics", "", order_value_minor=value, currency=currency, high_order_value_minor=threshold
    )
    assert (graded.reasons, graded.points) == (reasons, points)


@pytest.mark.parametrize(("repeats", "points"), [(0, 10), (1, 20), (2, 30), (3, 40), (7, 40)])
def test_repeat_complaints_count_ten_each_up_to_three(repeats: int, points: int) -> None:
    graded = _grade("service", "又是这个问题", repeat_complaints_90d=repeats)
    assert graded.points == points
    assert graded.reasons == (["repeat_complaint"] if repeats else [])


def test_everything_together_in_table_order() -> None:
    # product 10 + safety 60 + legal 40 + public 25 + high value 20 + very high order 25 + 2 repeats 20
    graded = _grade(
        "product",
        "The blender exploded and cut my hand. My lawyer is drafting a letter and I'm going to the press.",
        customer_tier="high_value",
        order_value_minor=800_000,
        currency="USD",
        repeat_complaints_90d=2,
    )
    assert graded == Severity(
        "S1",
        200,
        [
            "safety",
            "threat_legal",
            "threat_public",
            "high_value_customer",
            "very_high_order_value",
            "repeat_complaint",
        ],
        {"safety": "exploded", "threat_legal": "lawyer", "threat_public": "the press"},
    )


def test_s1_boundary_from_mixed_rules() -> None:
    # logistics 5 + legal 40 + high order 15 = 60: S1; without the order value 45: S2
    assert _grade("logistics", "找律师", order_value_minor=150_000).level == "S1"
    assert _grade("logistics", "找律师", order_value_minor=150_000).points == 60
    assert _grade("logistics", "找律师").level == "S2"


def test_explanations_in_both_languages() -> None:
    graded = _grade("product", "要去12315投诉，还要给差评", customer_tier="high_value")
    assert graded.reasons == ["threat_regulator", "threat_review", "high_value_customer"]
    assert explain(graded, "zh") == ["扬言向监管部门投诉或发起支付争议", "扬言给差评", "高价值客户"]
    assert explain(graded, "en") == [
        "Threatens to complain to a regulator or dispute the payment",
        "Threatens a bad review",
        "High-value customer",
    ]
    assert explain(graded, "fr") == explain(graded, "en")


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"category": "refund"}, "complaint_unknown_category"),
        ({"category": ["product"]}, "complaint_unknown_category"),
        ({"customer_tier": "vip"}, "severity_unknown_tier"),
        ({"order_value_minor": -1}, "severity_bad_order_value"),
        ({"order_value_minor": 10.5}, "severity_bad_order_value"),
        ({"order_value_minor": True}, "severity_bad_order_value"),
        ({"repeat_complaints_90d": -1}, "severity_bad_repeat_count"),
        ({"repeat_complaints_90d": None}, "severity_bad_repeat_count"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"high_order_value_minor": 0}, "severity_bad_threshold"),
        ({"text": None}, "complaint_bad_text"),
    ],
)
def test_bad_input_is_refused(kw: dict[str, Any], code: str) -> None:
    args: dict[str, Any] = {"category": "product", "text": "质量差"} | kw
    with pytest.raises(InvalidInput) as err:
        _grade(**args)
    assert err.value.code == code
