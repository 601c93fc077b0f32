"""Severity grading (分级) of a complaint: points from explainable rules, four levels.

A complaint collects points; every rule that fires adds its points and a stable reason code
(:data:`REASONS`, with English and Chinese wording for the UI via :func:`explain`):

==========================  ======  ============================================================
reason                      points  fires when
==========================  ======  ============================================================
(category base)             5-10    always: product 10, service 10, logistics 5, price 5,
                                    promotion 5 (a defect can hurt someone or hit many orders,
                                    and service failures are our own staff's; no reason code)
``safety``                  60      the text mentions injury, fire, explosion, smoke, electric
                                    shock, allergy, poisoning, hospital (受伤 起火 爆炸 过敏 …)
``threat_legal``            40      lawyer, suing, court (律师 起诉 法院 …)
``threat_regulator``        40      12315, 消协, 市场监管, 工商, consumer protection, BBB,
                                    chargeback / card dispute, attorney general, FTC …
``threat_public``           25      going public: 曝光, 媒体, 记者, posting on 微博/小红书/抖音,
                                    social media, the press, journalists …
``threat_review``           10      a bad review: 差评, 一星, "1-star review" (milder than going
                                    public; both can fire)
``high_value_customer``     20      customer tier ``high_value``
``potential_customer``      10      customer tier ``potential``
``high_order_value``        15      order value >= the threshold (default 1,000.00 in the
                                    reporting currency)
``very_high_order_value``   25      order value >= 5 x the threshold (instead of the above)
``repeat_complaint``        10/each earlier complaints by the customer in the last 90 days, 10
                                    points each, at most 30
==========================  ======  ============================================================

Levels (:data:`LEVELS`): **S1** >= 60 points, **S2** >= 40, **S3** >= 20, **S4** below 20.
So a safety mention is always S1; a legal or regulator threat alone is S2 (45-50), both
together S1; going public alone is S3 (30-35), with a high-value customer S2; a plain complaint
is S4, a plain product or service complaint from a high-value customer S3.

**Order value** is compared in minor units of the reporting currency the caller gives
(``currency``); the default threshold is 1,000 major units (``1000 * 10**exponent``: 100,000
for CNY/USD/EUR). For currencies with a small unit (JPY, KRW, VND, IDR …) pass
``high_order_value_minor`` from the shop's settings.

**Keywords** are matched on the NFKC-normalised, lower-cased text; English terms on word
boundaries ("sue" does not fire inside "issue"), 12315 only as a number of its own (not inside an
order number). Platform names that are also shops (抖音, 小红书, Instagram) count only with a
posting verb (发/晒/挂 …, post/share …), so "在抖音直播间买的" is not a threat. The match is not
negation-aware ("nobody got hurt" still fires ``safety``): the grade is a triage default that an
agent can override, and a false alarm costs less than a missed injury. ``evidence`` keeps the
matched words so the agent sees why.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

from patron.core.errors import InvalidInput
from patron.core.money import currency_exponent

LEVELS: Final = ("S1", "S2", "S3", "S4")
LEVEL_THRESHOLDS: Final = (("S1", 60), ("S2", 40), ("S3", 20))
TIERS: Final = ("high_value", "potential", "general", "low_value")

CATEGORY_POINTS: Final[dict[str, int]] = {
    "product": 10,
    "logistics": 5,
    "service": 10,
    "price": 5,
    "promotion": 5,
}
POINTS: Final[dict[str, int]] = {
    "safety": 60,
    "threat_legal": 40,
    "threat_regulator": 40,
    "threat_public": 25,
    "threat_review": 10,
    "high_value_customer": 20,
    "potential_customer": 10,
    "high_order_value": 15,
    "very_high_order_value": 25,
    "repeat_complaint": 10,  # per earlier complaint
}
REPEAT_CAP: Final = 3
DEFAULT_HIGH_ORDER_VALUE_MAJOR: Final = 1000
VERY_HIGH_ORDER_FACTOR: Final = 5

REASONS: Final[dict[str, dict[str, str]]] = {
    "safety": {
        "en": "Safety: injury, fire or health risk mentioned",
        "zh": "安全问题：提到受伤、起火或健康风险",
    },
    "threat_legal": {"en": "Threatens legal action", "zh": "扬言采取法律行动"},
    "threat_regulator": {
        "en": "Threatens to complain to a regulator or dispute the payment",
        "zh": "扬言向监管部门投诉或发起支付争议",
    },
    "threat_public": {
        "en": "Threatens to go public (media, social networks)",
        "zh": "扬言曝光（媒体、社交平台）",
    },
    "threat_review": {"en": "Threatens a bad review", "zh": "扬言给差评"},
    "high_value_customer": {"en": "High-value customer", "zh": "高价值客户"},
    "potential_customer": {"en": "Potential-value customer", "zh": "潜力客户"},
    "high_order_value": {"en": "High order value", "zh": "订单金额较高"},
    "very_high_order_value": {"en": "Very high order value", "zh": "订单金额很高"},
    "repeat_complaint": {"en": "Repeat complaint within 90 days", "zh": "90天内重复投诉"},
}

# English patterns are wrapped in word boundaries; Chinese ones are plain substrings.
_POST_EN = r"(?:post|posting|posted|share|sharing|put|putting|blast|blasting|expose|exposing)"
_PLATFORMS_EN = r"(?:twitter|facebook|instagram|tiktok|reddit|youtube|online|the internet|everywhere)"
_PLATFORMS_ZH = r"(?:微博|小红书|抖音|快手|知乎|b站|哔哩哔哩|朋友圈|网上|网络上|论坛|热搜)"
_KEYWORDS: Final[dict[str, tuple[str, str]]] = {
    # reason: (Chinese regex, English regex)
    "safety": (
        r"受伤|伤到|划伤|割伤|烫伤|烧伤|流血|起火|着火|失火|自燃|爆炸|冒烟|触电|漏电|过敏|中毒|"
        r"拉肚子|医院|住院|送医|窒息|危险|安全隐患",
        r"injur(?:y|ies|ed|ing)|hurt|bleeding|burn(?:s|ed|t)?(?! out)|burning|fire|smok(?:e|ed|ing)|"
        r"explod(?:e|ed|es|ing)|explosion|electric(?:al)? shock|electrocut\w*|shocked me|"
        r"allerg(?:y|ic|ies)|poison(?:ed|ing)?|hospital|emergency room|chok(?:e|ed|ing)|"
        r"danger(?:ous)?|unsafe|hazard(?:ous)?",
    ),
    "threat_legal": (
        r"律师|起诉|法院|诉讼|打官司|法律途径|法律手段|仲裁|告你们",
        r"lawyers?|attorneys?(?! general)|sue|suing|sued|lawsuit|legal action|small claims|court|"
        r"class action",
    ),
    "threat_regulator": (
        r"(?<![0-9])12315(?![0-9])|(?<![0-9])12345(?![0-9])|315晚会|消协|消费者协会|消保委|消费者权益保护|"
        r"市场监管|市场监督|市监局|(?:找|去|到|向|告到)工商|工商(?:局|部门|所|投诉|举报)|物价局|质监|监管部门",
        r"consumer protection|consumer affairs|bbb|better business bureau|charge ?backs?|"
        r"dispute (?:the|this|it|my)?\s*(?:charge|payment|transaction)|"
        r"dispute with (?:my|the) (?:bank|card|credit card|paypal)|paypal dispute|ftc|attorney general|"
        r"trading standards|ombudsman|accc|report (?:you|this|your company) to",
    ),
    "threat_public": (
        r"曝光|媒体|记者|电视台|报社|黑猫投诉|(?:发|晒|挂|传|爆)(?:到|在|上)?(?:个|条|篇)?" + _PLATFORMS_ZH,
        r"go(?:ing)? public|social media|journalists?|reporters?|the press|the media|the news|"
        r"news (?:station|outlet|channel)s?|tv station|viral|"
        + _POST_EN
        + r"\b[^.!?。！？]{0,40}\b"
        + _PLATFORMS_EN,
    ),
    "threat_review": (
        r"差评|中评|[一1]星(?!期)",
        r"(?:bad|negative|terrible|awful|honest|1[- ]?star|one[- ]star|zero[- ]star) (?:review|rating)s?|"
        r"rate (?:you|this|it) (?:1|one) star",
    ),
}
_COMPILED: Final = {
    reason: (re.compile(zh), re.compile(r"\b(?:" + en + r")\b")) for reason, (zh, en) in _KEYWORDS.items()
}
_TEXT_ORDER: Final = ("safety", "threat_legal", "threat_regulator", "threat_public", "threat_review")


@dataclass(frozen=True)
class Severity:
    """A grade: ``level`` S1 (most severe) .. S4, the ``points`` behind it, the ``reasons``
    (codes of :data:`REASONS`, in table order) and ``evidence`` (reason -> matched words)."""

    level: str
    points: int
    reasons: list[str]
    evidence: dict[str, str] = field(default_factory=dict)


def _whole(value: object, *, minimum: int, what: str, code: str) -> int | None:
    """``value`` as an int >= ``minimum`` (None stays None); bools and fractions are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise InvalidInput(f"the {what} must be a whole number >= {minimum}, got {value!r}", code=code)
    return int(value)


def level_for(points: int) -> str:
    for level, threshold in LEVEL_THRESHOLDS:
        if points >= threshold:
            return level
    return "S4"


def text_signals(text: str) -> dict[str, str]:
    """Reasons the text alone triggers, each with the first matched words."""
    norm = unicodedata.normalize("NFKC", text).lower()
    found: dict[str, str] = {}
    for reason in _TEXT_ORDER:
        for pattern in _COMPILED[reason]:
            m = pattern.search(norm)
            if m:
                found[reason] = m.group(0)
                break
    return found


def grade(
    category: str,
    *,
    customer_tier: str | None,
    order_value_minor: int | None,
    currency: str,
    repeat_complaints_90d: int,
    text: str,
    high_order_value_minor: int | None = None,
) -> Severity:
    """Grade one complaint (see the module docstring for the point table and levels).

    ``repeat_complaints_90d`` counts the customer's *earlier* complaints in the last 90 days
    (this one excluded); ``order_value_minor`` is in minor units of ``currency``;
    ``high_order_value_minor`` overrides the default threshold (1,000 major units).
    """
    if not isinstance(category, str) or category not in CATEGORY_POINTS:
        raise InvalidInput(
            f"unknown complaint category {category!r}; allowed: {list(CATEGORY_POINTS)}",
            code="complaint_unknown_category",
            data={"category": str(category), "allowed": list(CATEGORY_POINTS)},
        )
    if customer_tier is not None and customer_tier not in TIERS:
        raise InvalidInput(
            f"unknown customer tier {customer_tier!r}; allowed: {list(TIERS)} or none",
            code="severity_unknown_tier",
            data={"tier": str(customer_tier), "allowed": list(TIERS)},
        )
    order_value = _whole(order_value_minor, minimum=0, what="order value", code="severity_bad_order_value")
    repeats = _whole(
        repeat_complaints_90d,
        minimum=0,
        what="number of earlier complaints",
        code="severity_bad_repeat_count",
    )
    if repeats is None:
        raise InvalidInput(
            "the number of earlier complaints is required (0 if none)", code="severity_bad_repeat_count"
        )
    if not isinstance(text, str):
        raise InvalidInput(
            f"a complaint text must be a string, not {type(text).__name__}", code="complaint_bad_text"
        )
    exponent = currency_exponent(currency)  # validates the code (UnknownCurrency)
    threshold = _whole(
        high_order_value_minor, minimum=1, what="high order value threshold", code="severity_bad_threshold"
    )
    if threshold is None:
        threshold = DEFAULT_HIGH_ORDER_VALUE_MAJOR * 10**exponent

    points = CATEGORY_POINTS[category]
    reasons: list[str] = []
    evidence = text_signals(text)
    for reason in evidence:
        reasons.append(reason)
        points += POINTS[reason]
    if customer_tier == "high_value":
        reasons.append("high_value_customer")
        points += POINTS["high_value_customer"]
    elif customer_tier == "potential":
        reasons.append("potential_customer")
        points += POINTS["potential_customer"]
    if order_value is not None and order_value >= VERY_HIGH_ORDER_FACTOR * threshold:
        reasons.append("very_high_order_value")
        points += POINTS["very_high_order_value"]
    elif order_value is not None and order_value >= threshold:
        reasons.append("high_order_value")
        points += POINTS["high_order_value"]
    if repeats > 0:
        reasons.append("repeat_complaint")
        points += POINTS["repeat_complaint"] * min(repeats, REPEAT_CAP)
    return Severity(level=level_for(points), points=points, reasons=reasons, evidence=evidence)


def explain(severity: Severity, lang: str = "en") -> list[str]:
    """The reasons of a grade in words, ``lang`` "en" or "zh" (other languages get English)."""
    key = lang if lang in ("en", "zh") else "en"
    return [REASONS[r][key] for r in severity.reasons]
