"""Knowledge-base search and the FAQ bot kernel: Chinese and English, offline, pure.

Pure: articles and questions in, hits and answers out; no storage, no web, no network (the
service layer loads articles, and opens a ticket with the conversation when an answer is not
``confident``). :func:`load_articles` reads the shop's default knowledge base shipped in
``patron/desk/data/kb_articles.jsonl`` (38 articles, each in ``zh`` and ``en``).

Retrieval
---------
Okapi BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
2009; Lucene's variant, k1=1.2, b=0.75, not tuned). Every language version of an article adds a
*head* row (title and tags) and one row per paragraph to one index holding both languages. A
version scores ``head + best paragraph`` (a two-field BM25F in spirit: on the DEV set this beat
scoring whole articles or paragraphs with the title prepended); an article scores its best
version, so a question in Chinese, English or a mix of both finds it. The answer is shown in the
language asked for, else the question's own (:func:`detect_lang`: more Han characters than Latin
words means ``zh``), else the version that exists; when only the other language matched, the
parallel paragraph is shown.

Terms are made script by script, not per article: Han runs are segmented by jieba-rs (exact
mode, no HMM guessing of unknown words, plus 57 shop words such as 价保, 运费险, 验货), Latin runs
are lower-cased, stop words dropped and lightly stemmed (plural, -ed, -ing, final -e). Text is
NFKC-folded (full-width letters and digits) and a few input-method slips are folded (优惠卷 ->
优惠券, 帐号 -> 账号). Questions (not articles) then pass a shop-language synonym filter, as in
e-commerce search engines: 33 English and 25 Chinese groups map a customer's word to the
articles' word (smashed -> damaged, buy now pay later -> instalment, 邮费 -> 运费, 订金 -> 定金),
and two more per language map place names to "international" / "mainland" (Germany, 英国, 香港 /
Beijing, 西藏), which
decides between the domestic and the international shipping articles. An English word of five
letters or more that is not in the index is corrected to an indexed word at edit distance 1
(SymSpell's symmetric deletes; Garbe 2012), so "refnd" finds "refund"; shorter words are left
alone (sing -> sign, love -> live made off-topic questions look answerable).

Dependencies (measured, see ``benchmarks/faq_bench.py``)
--------------------------------------------------------
* ``bm25s`` 0.3 (maintained, MIT, needs only numpy): eager sparse BM25; we use its indexing and
  ``get_scores_from_ids``; the head/paragraph combination, per-term bounds and confidence are
  ours. It ships no type hints (mypy override in pyproject.toml).
* ``rjieba`` 0.2 (jieba-rs binding, maintained, MIT, typed): the jieba dictionary is compiled into
  the wheel (4.6 MB), loads in ~0.1 s, writes nothing and downloads nothing. ``jieba`` 0.42.1
  (last release 2020, 37 MB installed) gave the same cuts on the sentences tried but took 0.8 s
  to build its prefix dictionary on first use and wrote a cache file to the temp directory.
* Words vs. overlapping character bigrams (no dependency at all), same pipeline, each with its
  threshold derived on DEV by the rule below (0.22 for both): Chinese top-1 0.932 vs 0.861 on
  DEV and 0.915 vs 0.841 on TEST, Chinese questions answered confidently and rightly 0.841 vs
  0.707 on TEST. Words win and are the default; ``segmentation="bigrams"`` stays for comparison.

Confidence and hand-over
------------------------
For the best article (score ``s1``) and the runner-up (``s2``)::

    coverage   = s1 / (sum over known question terms of the most that term scores in any
                 head + any paragraph  +  UNKNOWN_WEIGHT * idf_max per term found nowhere)
    strength   = 1 - exp(-s1 / (STRENGTH_SCALE * idf_max))
    margin     = (s1 - s2) / s1
    confidence = sqrt(coverage) * (MARGIN_FLOOR + (1 - MARGIN_FLOOR) * margin) * strength

where ``idf_max`` is the BM25 idf of a term found in a single row (so the rule carries over to a
larger knowledge base). Coverage says how much of the question the article explains (off-topic
questions bring words the KB never uses: weather, flight); strength that the evidence is more
than one common word ("good", "name"); margin that a second article is not just as good. An
answer is ``confident`` when ``confidence >= CONFIDENCE_THRESHOLD``; otherwise the bot hands over
to a person. The confidence is a score, not a probability.

Calibration uses ``tests/fixtures/faq_dev.jsonl`` only. UNKNOWN_WEIGHT=1, STRENGTH_SCALE=1.5 and
MARGIN_FLOOR=0.75 sit in the flat optimum of a small grid scored by repeated 2-fold
cross-validation on DEV (within 0.01 of the best setting); the threshold is the lowest, in steps
of 0.01, that hands at least 90 % of the DEV off-topic questions to a person: 0.22 (the tests
check that it still is). At it, on DEV: on-topic answered confidently and rightly 0.839,
confidently and wrongly 0.074; off-topic handed over 0.922.

The data's history, told straight. Each TEST set was written before the changes it judges and
scored once; once scored (and its errors seen) it joined DEV.
1. DEV (152 on-topic, 28 off-topic) and TEST-1 (155 + 50) were written before any code. The first
   design reached top-1 0.750 (en) and 0.823 (zh) on TEST-1: below the 0.8 target.
2. TEST-1 joined DEV; TEST-2 (164 + 50) was written. Changes from DEV: shop words for the
   segmenter, article tags from the customers' phrasings, the threshold. TEST-2: 0.634 (en),
   0.829 (zh). The tags had fitted DEV's particular phrasings and did not carry over (TEST-2
   English scored 0.634 with and without them).
3. TEST-2 joined DEV (599 questions now); TEST-3 (164 + 50, ``faq_questions.jsonl``) was written.
   Changes from DEV, general rather than per question: the synonym filter and place names,
   typo correction only for longer words, the parameters re-checked and the threshold re-derived
   (0.22 again). TEST-3: top-1 0.805 (en), 0.915 (zh), 0.860 overall; off-topic handed over 0.92;
   on-topic answered confidently 0.915 (rightly 0.811, wrongly 0.104).
The same person wrote the articles, the synonyms and every question set, so these figures hold
for questions phrased like these, not for real traffic; English has no margin over 0.8 (66 of
82). Log real questions, add them to DEV and re-run the benchmark.

Speed (2 shared cores, ``benchmarks/faq_bench.py``): the default KB's index builds in ~25 ms
(0.15 s for the first build in a process, which loads the dictionary); 1,000 synthetic articles
in both languages (2,000 versions, ~6,000 paragraphs) in ~0.55 s; an answer takes ~0.2 ms median
and under 1 ms at p99 (on the 1,000-article index ~0.7 ms median and 2-6 ms at p99, depending on
the machine's load).
"""

from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np
import rjieba

from patron.core.errors import InvalidInput

LANGS: tuple[str, ...] = ("zh", "en")
Segmentation = Literal["words", "bigrams"]

# Ranking and confidence settings; the module docstring says how they were chosen.
K1 = 1.2  # BM25 term-frequency saturation (Lucene default, not tuned)
B = 0.75  # BM25 length normalisation (Lucene default, not tuned)
UNKNOWN_WEIGHT = 1.0  # evidence missing per question term found nowhere, in units of idf_max
STRENGTH_SCALE = 1.5  # best score, in units of idf_max, at which strength is 1 - 1/e
MARGIN_FLOOR = 0.75  # share of the confidence kept when the runner-up ties the best article
CONFIDENCE_THRESHOLD = 0.22  # answer at or above, hand over to a person below
MAX_PASSAGES = 3  # passages in an answer ...
PASSAGE_KEEP = 0.5  # ... each scoring at least this share of the best one
RELATED = 3  # other articles suggested with an answer

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PARAGRAPH_RE = re.compile(r"\n\s*\n")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"([{_HAN}]+)|([a-z0-9]+(?:'[a-z]+)?)")  # a Han run, or a Latin word
_HAN_RE = re.compile(rf"[{_HAN}]")
_LATIN_WORD_RE = re.compile(r"[a-z]+")

# Input-method slips common in shop questions, folded on both sides before segmentation.
_ZH_VARIANTS = (("优惠卷", "优惠券"), ("劵", "券"), ("帐号", "账号"), ("帐户", "账户"), ("到帐", "到账"))
_EN_VARIANTS = {
    "colour": "color",
    "colours": "colors",
    "instalment": "installment",
    "instalments": "installments",
}

_EN_STOP = frozenset(
    [
        *("a", "about", "again", "all", "also", "am", "an", "and", "any", "anyone", "anything", "are"),
        *("aren't", "as", "at", "be", "because", "been", "being", "both", "but", "by", "can", "can't"),
        *("could", "couldn't", "did", "didn't", "do", "does", "doesn't", "doesnt", "doing", "don't"),
        *("dont", "each", "for", "from", "further", "get", "gets", "getting", "got", "guys", "had"),
        *("has", "hasn't", "have", "haven't", "having", "he", "her", "here", "hey", "hi", "hello"),
        *("him", "his", "how", "i", "i'd", "i'll", "i'm", "i've", "if", "im", "in", "into", "is"),
        *("isn't", "isnt", "it", "it's", "its", "itself", "just", "know", "let", "like", "many", "me"),
        *("mine", "much", "my", "myself", "need", "now", "of", "ok", "okay", "on", "or", "our", "ours"),
        *("please", "pls", "plz", "really", "see", "she", "should", "so", "some", "someone"),
        *("something", "still", "such", "tell", "than", "thank", "thanks", "that", "the", "their"),
        *("them", "then", "there", "these", "they", "thing", "this", "those", "to", "too", "u", "us"),
        *("very", "want", "was", "wasn't", "we", "were", "what", "whats", "what's", "when", "where"),
        *("which", "while", "who", "whom", "why", "will", "with", "won't", "would", "wouldn't", "you"),
        *("you're", "your", "yours", "yourself"),
    ]
)
_ZH_STOP = frozenset(
    [
        *("的", "了", "吗", "呢", "吧", "啊", "呀", "嘛", "哦", "么", "我", "你", "您", "他", "她", "它"),
        *("我们", "你们", "他们", "是", "在", "有", "和", "与", "及", "或", "也", "都", "就", "还", "又"),
        *("很", "这", "那", "这个", "那个", "个", "一下", "请问", "请", "怎么", "怎么办", "怎样", "如何"),
        *("什么", "为什么", "哪", "哪里", "哪儿", "可以", "能", "会", "要", "想", "把", "被", "给", "让"),
        *("对", "啦", "嗯", "哈", "得", "地", "着", "过", "该", "应该", "一个", "谁", "时候", "现在"),
        *("还是", "已经", "知道", "需要", "一下子"),
    ]
)

# Words the default jieba dictionary splits or mis-joins in shop language, added with a frequency
# high enough to win over an overlapping dictionary word (先验|货 -> 先|验货).
_ZH_WORD_FREQ = 5000
_ZH_WORDS = (
    *("七天无理由", "无理由", "运费险", "花呗", "价保", "保价", "满减", "每满", "定金", "尾款", "专票"),
    *("普票", "增值税专用发票", "顺丰", "中通", "圆通", "菜鸟驿站", "驿站", "货到付款", "礼品卡", "卡密"),
    *("拆单", "追评", "晒单", "到货通知", "退差价", "换货", "退货", "退款", "仅退款", "上门取件", "吊牌"),
    *("尺码表", "积分商城", "领券中心", "改派", "拒收", "代收", "验货", "清关", "跨境", "保税仓", "直邮"),
    *("防伪码", "假一赔三", "注销", "转人工", "微信", "微信支付", "双十一", "双11", "上门", "付钱"),
    *("给钱", "退钱", "交税", "到账"),
)


# Question-side synonyms of shop language (an e-commerce synonym filter): a customer's word ->
# the words the articles use. English variants match whole words (those of four letters or more
# also with -s/-es/-ed/-d/-ing); Chinese variants match as substrings; the longest first.
_EN_SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parcel", ("package", "packet", "shipment")),
    ("damaged broken", ("smash", "shatter", "crack", "dent", "crush", "scratch", "defective", "broke")),
    (
        "faulty",
        (
            "doesn't work",
            "does not work",
            "not working",
            "stopped working",
            "won't turn on",
            "doesn't turn on",
            "dead on arrival",
            "malfunction",
        ),
    ),
    ("lost", ("disappear", "vanish", "stolen", "go missing", "gone missing")),
    ("refund", ("money back", "reimburse", "my money")),
    (
        "price drop difference",
        (
            "cheaper",
            "price went down",
            "price dropped",
            "price difference",
            "went on sale",
            "on sale now",
            "lower price",
        ),
    ),
    ("coupon", ("voucher", "promo code", "discount code", "coupon code")),
    (
        "instalment",
        (
            "installment",
            "pay later",
            "monthly payment",
            "split the payment",
            "split the bill",
            "financing",
            "pay monthly",
        ),
    ),
    (
        "genuine fake",
        ("authentic", "counterfeit", "replica", "knockoff", "knock-off", "fake", "real or", "original or"),
    ),
    ("address", ("postcode", "post code", "zip code", "zipcode", "moving house", "new place")),
    ("log in", ("login", "sign in", "signin", "log into")),
    (
        "restock notify",
        (
            "sold out",
            "out of stock",
            "unavailable",
            "back in stock",
            "alert me",
            "notify me",
            "notification when",
        ),
    ),
    ("size chart", ("size guide", "sizing", "run small", "run large", "runs small", "runs big")),
    ("delete account personal data", ("erase my", "remove my data", "delete my data", "close my account")),
    (
        "marketing messages",
        ("unsubscribe", "newsletter", "promotional email", "marketing email", "spam", "advert"),
    ),
    ("customs duties tax", ("import duty", "import tax", "tariff", "duty", "duties", "customs fee")),
    (
        "bulk corporate",
        (
            "wholesale",
            "b2b",
            "large quantity",
            "company order",
            "for our company",
            "for my company",
            "employees",
        ),
    ),
    (
        "several parcels split",
        (
            "several packages",
            "multiple packages",
            "separate packages",
            "two packages",
            "3 packages",
            "different boxes",
            "separately",
        ),
    ),
    (
        "payment failed",
        (
            "declined",
            "didn't go through",
            "did not go through",
            "won't go through",
            "pending payment",
            "can't pay",
            "cannot pay",
        ),
    ),
    ("charged twice", ("double charged", "charged double", "paid twice", "duplicate payment")),
    ("review", ("rating", "rate my", "feedback", "stars", "comment")),
    ("sign receive", ("signature", "on my behalf", "accept the parcel", "take the parcel")),
    ("gift card balance", ("store credit", "e-card", "ecard", "gift voucher", "wallet")),
    ("points", ("reward point", "loyalty point", "rewards")),
    ("membership tier", ("member level", "membership level", "vip", "loyalty level")),
    ("pre-sale deposit", ("presale", "preorder", "pre-order", "down payment", "final payment")),
    ("cash on delivery", ("cod", "pay on delivery", "pay the courier", "pay cash", "pay in cash")),
    ("wrong item", ("different item", "wrong product", "not what i ordered", "someone else's")),
    ("exchange", ("swap", "bigger size", "smaller size", "another size", "different size")),
    ("warranty repair", ("guarantee", "repairs", "service centre", "service center")),
    ("invoice", ("fapiao", "receipt", "tax receipt", "vat invoice", "reimbursement")),
    ("shipping fee", ("delivery fee", "delivery charge", "shipping charge", "postage")),
    ("customer service", ("support team", "representative", "agent", "hotline")),
    # Places: where a parcel goes decides between the domestic and the international articles.
    (
        "international overseas",
        (
            "abroad",
            "america",
            "usa",
            "united states",
            "canada",
            "mexico",
            "brazil",
            "uk",
            "britain",
            "england",
            "ireland",
            "france",
            "germany",
            "italy",
            "spain",
            "netherlands",
            "belgium",
            "switzerland",
            "austria",
            "sweden",
            "norway",
            "denmark",
            "finland",
            "poland",
            "europe",
            "australia",
            "new zealand",
            "japan",
            "korea",
            "singapore",
            "malaysia",
            "thailand",
            "vietnam",
            "indonesia",
            "philippines",
            "india",
            "dubai",
            "hong kong",
            "macao",
            "macau",
            "taiwan",
            "another country",
            "other country",
        ),
    ),
    (
        "mainland china",
        (
            "beijing",
            "shanghai",
            "guangzhou",
            "shenzhen",
            "hangzhou",
            "chengdu",
            "wuhan",
            "nanjing",
            "tianjin",
            "chongqing",
            "xi'an",
            "suzhou",
            "xinjiang",
            "tibet",
            "china",
        ),
    ),
)
_ZH_SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("退款", ("退钱", "钱退", "返钱", "退回钱")),
    ("破损 故障", ("坏了", "碎了", "裂了", "不亮", "开不了机", "不能用", "失灵", "瑕疵")),
    ("丢失 没收到", ("丢了", "不见了", "被偷", "被人拿走", "找不到包裹")),
    ("降价 差价", ("便宜了", "便宜", "价格低", "降了")),
    ("分期", ("分几个月", "分三个月", "分六个月", "按月付")),
    ("正品 假货", ("真货", "仿品", "高仿", "山寨", "是真的吗")),
    ("登录", ("登不上", "登录不了", "上不去", "登陆")),
    ("人工客服", ("真人", "人工", "客服电话", "热线")),
    ("关税 税费", ("交税", "纳税", "上税")),
    ("企业采购 批量", ("团购", "批发", "大批量", "员工福利", "公司采购")),
    ("拆单 多个包裹", ("分开发", "分几个包裹", "好几个快递", "部分商品", "只到了一部分")),
    ("支付失败", ("付不了", "付款失败", "支付不成功", "被拒", "付不上")),
    ("评价", ("评论", "晒图", "打分")),
    ("代收 签收", ("门卫", "快递柜", "前台")),
    ("余额 礼品卡", ("购物卡", "储值卡", "充值卡")),
    ("会员等级", ("等级", "会员级别")),
    ("预售 定金", ("订金", "预订", "预定")),
    ("货到付款", ("收货付款", "收到货再付", "先收货后付")),
    ("发错", ("不一样", "不是我买的", "发成")),
    ("换货", ("换大", "换小", "换码", "换个")),
    ("保修 维修", ("质保", "保固", "修理", "能修")),
    ("发票", ("报销", "专票", "普票", "抬头")),
    ("运费", ("邮费", "快递费", "运输费")),
    ("优惠券", ("红包", "折扣码")),
    ("营销消息", ("广告短信", "营销短信", "推销", "骚扰短信")),
    (
        "海外 国际",
        (
            "国外",
            "境外",
            "美国",
            "英国",
            "加拿大",
            "德国",
            "法国",
            "意大利",
            "西班牙",
            "荷兰",
            "瑞士",
            "欧洲",
            "澳大利亚",
            "澳洲",
            "新西兰",
            "日本",
            "韩国",
            "新加坡",
            "马来西亚",
            "泰国",
            "越南",
            "印度",
            "迪拜",
            "香港",
            "澳门",
            "台湾",
        ),
    ),
    (
        "国内 城市",
        (
            "北京",
            "上海",
            "广州",
            "深圳",
            "杭州",
            "成都",
            "武汉",
            "南京",
            "天津",
            "重庆",
            "西安",
            "苏州",
            "新疆",
            "西藏",
            "内地",
            "大陆",
        ),
    ),
)


def _compile_synonyms() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern over every variant, longest first, and each variant's canonical words."""
    canonical: dict[str, str] = {}
    for words, variants in (*_EN_SYNONYMS, *_ZH_SYNONYMS):
        for variant in variants:
            canonical.setdefault(variant, words)
    alternatives = []
    for v in sorted(canonical, key=lambda v: (-len(v), v)):
        if v.isascii():
            # Whole words; inflected forms only for words of four letters or more ("codes" is
            # not "cod").
            alternatives.append(rf"\b{re.escape(v)}{'(?:s|es|ed|d|ing)?' if len(v) >= 4 else ''}\b")
        else:
            alternatives.append(re.escape(v))
    return re.compile("|".join(alternatives)), canonical


_SYNONYM_PATTERN, _SYNONYM_OF = _compile_synonyms()


def _expand(question: str) -> str:
    """The question in the articles' words (:data:`_EN_SYNONYMS`, :data:`_ZH_SYNONYMS`), in one
    pass; a variant whose canonical words' first is already in the question is left alone."""
    text = _normalise(question)

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        words = _SYNONYM_OF.get(found) or _SYNONYM_OF[_base(found)]
        return found if words.split()[0] in text else f" {words} "

    return _SYNONYM_PATTERN.sub(replace, text)


def _base(found: str) -> str:
    """The listed variant an inflected match came from ("smashed" -> "smash")."""
    for suffix in ("ing", "es", "ed", "s", "d"):
        if found.endswith(suffix) and found[: -len(suffix)] in _SYNONYM_OF:
            return found[: -len(suffix)]
    raise KeyError(found)


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A light English suffix stripper: plural -s/-es/-ies, -ed, -ing, final -e.

    Applied to articles and questions alike, so it only has to be consistent, not linguistically
    right ("changed", "changing", "change" -> "chang")."""
    word = _EN_VARIANTS.get(word, word)
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3 and any(c in "aeiouy" for c in stem):
            word = stem
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "sz":
                word = word[:-1]  # shipped -> ship, cancelled -> cancel
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


@cache
def _segmenter() -> rjieba.Jieba:
    """jieba-rs with the shop words; built once per process (~0.1 s)."""
    jieba = rjieba.Jieba()
    for word in _ZH_WORDS:
        jieba.add_word(word, _ZH_WORD_FREQ, None)
    return jieba


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    for wrong, right in _ZH_VARIANTS:
        text = text.replace(wrong, right)
    return text


def tokenize(text: str, segmentation: Segmentation = "words") -> list[str]:
    """Index terms of ``text``, script run by script run: Han runs become words (jieba-rs) or
    overlapping character bigrams, Latin runs lower-case stemmed words; stop words are dropped."""
    out: list[str] = []
    cut = _segmenter().cut if segmentation == "words" else None
    for han, latin in _TOKEN_RE.findall(_normalise(text)):
        if latin:
            if latin not in _EN_STOP:
                out.append(_stem(latin))
        elif cut is not None:
            out.extend(w for w in cut(han, False) if w not in _ZH_STOP)
        else:
            out.extend([han] if len(han) == 1 else [han[i : i + 2] for i in range(len(han) - 1)])
    return out


def detect_lang(text: str) -> str:
    """``zh`` when the text has at least as many Han characters as Latin words, else ``en``."""
    norm = _normalise(text)
    han = len(_HAN_RE.findall(norm))
    latin = len(_LATIN_WORD_RE.findall(norm))
    return "zh" if han and han >= latin else "en"


def _check_lang(lang: str | None) -> str | None:
    if lang is not None and lang not in LANGS:
        raise InvalidInput(
            f"language {lang!r} is not one of {', '.join(LANGS)}",
            code="faq_unsupported_lang",
            data={"lang": lang},
        )
    return lang


@dataclass(frozen=True, slots=True)
class Article:
    """One language version of a knowledge-base article; ``(id, lang)`` is unique in an index.

    The body's paragraphs (separated by blank lines) are the passages the bot answers with."""

    id: str
    lang: str
    title: str
    body: str
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_RE.match(self.id):
            raise InvalidInput(
                f"article id {self.id!r} must be lower-case letters, digits, '-', '_' or '.'",
                code="faq_invalid_id",
                data={"id": self.id},
            )
        where = {"id": self.id, "lang": self.lang}
        if self.lang not in LANGS:
            raise InvalidInput(
                f"article {self.id!r}: language {self.lang!r} is not one of {', '.join(LANGS)}",
                code="faq_unsupported_lang",
                data=where,
            )
        if not self.title.strip():
            raise InvalidInput(
                f"article {self.id!r} ({self.lang}) has an empty title", code="faq_empty_title", data=where
            )
        if not self.body.strip():
            raise InvalidInput(
                f"article {self.id!r} ({self.lang}) has an empty body", code="faq_empty_body", data=where
            )

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Article:
        missing = [k for k in ("id", "lang", "title", "body") if not isinstance(row.get(k), str)]
        if missing:
            raise InvalidInput(
                f"article record lacks text fields: {', '.join(missing)}",
                code="faq_invalid_record",
                data={"missing": missing},
            )
        tags = row.get("tags") or ()
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(
                f"article {row['id']!r}: tags must be a list of strings",
                code="faq_invalid_record",
                data={"id": row["id"]},
            )
        return cls(id=row["id"], lang=row["lang"], title=row["title"], body=row["body"], tags=tuple(tags))

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in _PARAGRAPH_RE.split(self.body.strip()) if p.strip()]


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: an article in one language, its best passage, the article's score."""

    article_id: str
    lang: str
    title: str
    passage: str
    passage_index: int
    score: float


@dataclass(frozen=True, slots=True)
class Answer:
    """The bot's reply. ``confident`` False means: hand over to a person (open a ticket).

    ``reason`` is ``answered``, ``low_confidence`` (best guess in ``article_id``), ``no_match``
    (no question word is in the knowledge base) or ``empty_question``."""

    question: str
    lang: str
    article_id: str | None
    title: str | None
    passages: tuple[str, ...]
    confidence: float
    confident: bool
    reason: str
    related: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class _Passage:
    article: Article
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class _Scored:
    """One question's scores: every row of the index, every article that matched."""

    tokens: list[str]
    unknown: int
    rows: np.ndarray
    order: list[str]
    article_scores: dict[str, float]
    best_version: dict[str, int]
    upper_bound: float


class FaqIndex:
    """BM25 over knowledge-base articles, both languages in one index; see the module docstring.

    Build with :meth:`build`; then :meth:`search` and :meth:`answer` are read-only and may be
    called from several threads."""

    def __init__(
        self,
        versions: list[Article],
        paragraphs_of: list[list[str]],
        corpus: list[list[str]],
        segmentation: Segmentation,
        threshold: float,
    ) -> None:
        self.segmentation: Segmentation = segmentation
        self.threshold = threshold
        self._versions = versions
        self._by_key = {(a.id, a.lang): v for v, a in enumerate(versions)}
        self._article_ids = sorted({a.id for a in versions})
        position = {a: i for i, a in enumerate(self._article_ids)}
        self._version_article = np.array([position[a.id] for a in versions], dtype=np.int64)
        # Rows: the head of version v is row v; the paragraphs of all versions follow.
        n = len(versions)
        self._passages: list[_Passage] = []
        self._version_rows: list[range] = []
        for a, paragraphs in zip(versions, paragraphs_of, strict=True):
            start = n + len(self._passages)
            self._passages.extend(_Passage(a, i, text) for i, text in enumerate(paragraphs))
            self._version_rows.append(range(start, n + len(self._passages)))
        self._starts = np.array([r.start for r in self._version_rows], dtype=np.int64)
        self._retriever: Any = None
        self._vocab: dict[str, int] = {}
        if any(corpus):
            self._retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
            self._retriever.index(corpus, show_progress=False)
            self._vocab = dict(self._retriever.vocab_dict)
        self._fuzzy = _Fuzzy(corpus)
        self._term_bounds: dict[int, float] = {}
        self._lock = threading.Lock()
        # BM25 (Lucene) idf of a term found in one row: the unit of strong evidence.
        self._idf_max = math.log(1 + (len(corpus) - 0.5) / 1.5) if corpus else 1.0

    @classmethod
    def build(
        cls,
        articles: Iterable[Article],
        *,
        segmentation: Segmentation = "words",
        threshold: float = CONFIDENCE_THRESHOLD,
    ) -> FaqIndex:
        """Index ``articles`` (one per id and language); ``threshold`` is the confidence at and
        above which :meth:`answer` is ``confident``."""
        if segmentation not in ("words", "bigrams"):
            raise InvalidInput(
                f"segmentation {segmentation!r} is not 'words' or 'bigrams'",
                code="faq_invalid_segmentation",
            )
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInput(
                f"threshold {threshold} is not between 0 and 1",
                code="faq_invalid_threshold",
                data={"threshold": threshold},
            )
        by_key: dict[tuple[str, str], Article] = {}
        for article in articles:
            key = (article.id, article.lang)
            if key in by_key:
                raise InvalidInput(
                    f"article {article.id!r} appears twice in {article.lang}",
                    code="faq_duplicate_article",
                    data={"id": article.id, "lang": article.lang},
                )
            by_key[key] = article
        versions = [by_key[k] for k in sorted(by_key)]
        corpus = [tokenize(a.title + "\n" + "\n".join(a.tags), segmentation) for a in versions]
        paragraphs = [a.paragraphs() for a in versions]
        corpus += [tokenize(p, segmentation) for ps in paragraphs for p in ps]
        return cls(versions, paragraphs, corpus, segmentation, threshold)

    @property
    def articles(self) -> list[Article]:
        """The indexed articles, by id then language."""
        return list(self._versions)

    def search(self, query: str, lang: str | None = None, k: int = 5) -> list[Hit]:
        """The ``k`` best articles for ``query``, best first (ties by id), each with its best
        passage; empty when nothing matches.

        ``lang`` is the language to show each article in (default: the query's own language);
        an article without that version is shown in the other one."""
        if k < 1:
            raise InvalidInput("k must be at least 1", code="faq_invalid_k", data={"k": k})
        show = _check_lang(lang) or detect_lang(query)
        return self._hits(self._score(query), show, k)

    def answer(self, question: str, lang: str | None = None) -> Answer:
        """The best article's best passages (1 to 3), with a confidence in [0, 1] and whether it
        reaches the threshold; ``lang`` as for :meth:`search`."""
        show = _check_lang(lang) or detect_lang(question)
        if not question.strip():
            return Answer(question, show, None, None, (), 0.0, False, "empty_question", ())
        scored = self._score(question)
        if not scored.order:
            return Answer(question, show, None, None, (), 0.0, False, "no_match", ())
        best = scored.order[0]
        version = self._version(best, show)
        article = self._versions[version]
        confidence = self._confidence(scored)
        confident = confidence >= self.threshold
        return Answer(
            question=question,
            lang=article.lang,
            article_id=best,
            title=article.title,
            passages=tuple(p.text for p in self._passages_of(scored, version, MAX_PASSAGES)),
            confidence=confidence,
            confident=confident,
            reason="answered" if confident else "low_confidence",
            related=tuple(self._hits(scored, show, RELATED + 1)[1:]),
        )

    def explain(self, question: str) -> dict[str, Any]:
        """The numbers behind an answer's confidence, for calibration and debugging."""
        scored = self._score(question)
        order = scored.order
        s1 = scored.article_scores[order[0]] if order else 0.0
        s2 = scored.article_scores[order[1]] if len(order) > 1 else 0.0
        return {
            "terms": scored.tokens,
            "unknown_terms": scored.unknown,
            "best": order[0] if order else None,
            "second": order[1] if len(order) > 1 else None,
            "s1": s1,
            "s2": s2,
            "upper_bound": scored.upper_bound,
            "idf_max": self._idf_max,
            "confidence": self._confidence(scored) if order else 0.0,
        }

    # -- internals ----------------------------------------------------------------------------

    def _term_bound(self, term_id: int) -> float:
        """The most one term adds to a version's score: its best head plus its best paragraph."""
        bound = self._term_bounds.get(term_id)
        if bound is None:
            scores = self._retriever.get_scores_from_ids([term_id])
            n = len(self._versions)
            bound = float(scores[:n].max()) + float(scores[n:].max())
            with self._lock:
                self._term_bounds[term_id] = bound
        return bound

    def _score(self, question: str) -> _Scored:
        tokens = tokenize(_expand(question), self.segmentation)
        ids: list[int] = []
        for token in tokens:
            term = token if token in self._vocab else self._fuzzy.correct(token)
            if term is not None:
                ids.append(self._vocab[term])
        unknown = len(tokens) - len(ids)
        if not ids:
            return _Scored(tokens, unknown, np.zeros(0), [], {}, {}, 0.0)
        rows = np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float64)
        n = len(self._versions)
        version_scores = rows[:n] + np.maximum.reduceat(rows, self._starts)
        article_scores = np.zeros(len(self._article_ids))
        np.maximum.at(article_scores, self._version_article, version_scores)
        matched = np.flatnonzero(article_scores > 0)
        ranked = sorted(matched.tolist(), key=lambda i: (-article_scores[i], i))
        best_version: dict[str, int] = {}
        for v in np.flatnonzero(version_scores > 0).tolist():
            article_id = self._versions[v].id
            if article_id not in best_version or version_scores[v] > version_scores[best_version[article_id]]:
                best_version[article_id] = v
        return _Scored(
            tokens=tokens,
            unknown=unknown,
            rows=rows,
            order=[self._article_ids[i] for i in ranked],
            article_scores={self._article_ids[i]: float(article_scores[i]) for i in ranked},
            best_version=best_version,
            upper_bound=sum(self._term_bound(t) for t in ids),
        )

    def _confidence(self, scored: _Scored) -> float:
        s1 = scored.article_scores[scored.order[0]]
        s2 = scored.article_scores[scored.order[1]] if len(scored.order) > 1 else 0.0
        missing = scored.unknown * UNKNOWN_WEIGHT * self._idf_max
        coverage = min(s1 / (scored.upper_bound + missing), 1.0)
        strength = 1.0 - math.exp(-s1 / (STRENGTH_SCALE * self._idf_max))
        margin = (s1 - s2) / s1
        return round(math.sqrt(coverage) * (MARGIN_FLOOR + (1 - MARGIN_FLOOR) * margin) * strength, 4)

    def _version(self, article_id: str, lang: str) -> int:
        version = self._by_key.get((article_id, lang))
        if version is None:
            version = next(self._by_key[(article_id, x)] for x in LANGS if (article_id, x) in self._by_key)
        return version

    def _passages_of(self, scored: _Scored, version: int, limit: int) -> list[_Passage]:
        rows = self._version_rows[version]
        ranked = sorted(rows, key=lambda r: (-scored.rows[r], r))
        top = float(scored.rows[ranked[0]])
        n = len(self._versions)
        if top <= 0:
            # Only the head or the other language matched: show the paragraph parallel to the
            # best one of the best version (articles are translated paragraph by paragraph).
            best = self._version_rows[scored.best_version[self._versions[version].id]]
            index = max(best, key=lambda r: (scored.rows[r], -r)) - best.start
            return [self._passages[rows.start + min(index, len(rows) - 1) - n]]
        return [self._passages[r - n] for r in ranked[:limit] if scored.rows[r] >= PASSAGE_KEEP * top]

    def _hits(self, scored: _Scored, lang: str, k: int) -> list[Hit]:
        hits = []
        for article_id in scored.order[:k]:
            version = self._version(article_id, lang)
            passage = self._passages_of(scored, version, 1)[0]
            hits.append(
                Hit(
                    article_id=article_id,
                    lang=self._versions[version].lang,
                    title=self._versions[version].title,
                    passage=passage.text,
                    passage_index=passage.index,
                    score=round(scored.article_scores[article_id], 6),
                )
            )
        return hits


class _Fuzzy:
    """Corrects a misspelt English word to an indexed one at Damerau-Levenshtein distance 1
    (symmetric deletes, as in SymSpell); the most widespread candidate wins, then the first."""

    MIN_LEN = 6

    def __init__(self, corpus: list[list[str]]) -> None:
        counts = Counter(term for doc in corpus for term in set(doc))
        df = {term: n for term, n in counts.items() if self._eligible(term)}
        self._df = df
        self._deletes: dict[str, list[str]] = {}
        for term in sorted(df):
            for variant in {term, *_deletes(term)}:
                self._deletes.setdefault(variant, []).append(term)

    def _eligible(self, word: str) -> bool:
        return len(word) >= self.MIN_LEN and word.isascii() and word.isalpha()

    def correct(self, word: str) -> str | None:
        if not self._eligible(word):
            return None
        variants = {word, *_deletes(word)}
        found = {t for v in variants for t in self._deletes.get(v, ()) if _distance_one(word, t)}
        return min(found, key=lambda t: (-self._df[t], t)) if found else None


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]


def _distance_one(a: str, b: str) -> bool:
    """Whether one insertion, deletion, substitution or adjacent swap turns ``a`` into ``b``."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and (a[diff[0]], a[diff[1]]) == (b[diff[1]], b[diff[0]])
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def load_articles(path: str | Path | None = None) -> list[Article]:
    """Articles from a JSON-lines file, one ``{"id", "lang", "title", "body", "tags"}`` a line;
    without a path, the knowledge base shipped with Patron."""
    if path is None:
        text = resources.files("patron.desk").joinpath("data/kb_articles.jsonl").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    articles = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number} is not JSON: {exc.msg}", code="faq_invalid_record", data={"line": number}
            ) from exc
        if not isinstance(row, dict):
            raise InvalidInput(
                f"line {number} is not a JSON object", code="faq_invalid_record", data={"line": number}
            )
        articles.append(Article.from_dict(row))
    return articles


def default_index() -> FaqIndex:
    """An index over the knowledge base shipped with Patron."""
    return FaqIndex.build(load_articles())


__all__: Sequence[str] = (
    "CONFIDENCE_THRESHOLD",
    "LANGS",
    "Answer",
    "Article",
    "FaqIndex",
    "Hit",
    "default_index",
    "detect_lang",
    "load_articles",
    "tokenize",
)
