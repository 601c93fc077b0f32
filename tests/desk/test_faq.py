"""The FAQ bot kernel: held-out accuracy and hand-over, language preference, ranking, validation.

``tests/fixtures/faq_questions.jsonl`` is the held-out TEST set (never used to tune anything);
``tests/fixtures/faq_dev.jsonl`` is the DEV set the threshold was calibrated on.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from patron.core.errors import InvalidInput
from patron.desk.faq import (
    CONFIDENCE_THRESHOLD,
    Article,
    FaqIndex,
    default_index,
    detect_lang,
    load_articles,
    tokenize,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _questions(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return default_index()


@pytest.fixture(scope="module")
def test_set() -> list[dict[str, Any]]:
    return _questions("faq_questions.jsonl")


def _article(id: str = "a", lang: str = "en", title: str = "Title", body: str = "Some body text.") -> Article:
    return Article(id=id, lang=lang, title=title, body=body)


# -- the shipped knowledge base and the question sets ------------------------------------------


def test_packaged_knowledge_base_has_every_article_in_both_languages() -> None:
    articles = load_articles()
    ids = {a.id for a in articles}
    assert len(ids) >= 30
    assert {(i, lang) for i in ids for lang in ("zh", "en")} == {(a.id, a.lang) for a in articles}
    for a in articles:
        size = (
            len(re.findall(r"[A-Za-z]+", a.body))
            if a.lang == "en"
            else len(re.findall(r"[\u4e00-\u9fff]", a.body))
        )
        assert 80 <= size <= 250, (a.id, a.lang, size)
        assert len(a.paragraphs()) >= 2, (a.id, a.lang)


def test_question_sets_are_big_enough_separate_and_point_at_real_articles(
    test_set: list[dict[str, Any]],
) -> None:
    ids = {a.id for a in load_articles()}
    dev = _questions("faq_dev.jsonl")
    on_topic = [q for q in test_set if q["article"] is not None]
    assert len(on_topic) >= 120
    assert len([q for q in test_set if q["article"] is None]) >= 40
    en = sum(q["lang"] == "en" for q in on_topic)
    assert 0.4 <= en / len(on_topic) <= 0.6
    assert {q["article"] for q in test_set + dev} - {None} <= ids
    assert not {q["question"] for q in test_set} & {q["question"] for q in dev}


# -- the acceptance figures on the held-out set ----------------------------------------


def test_top1_article_accuracy_on_held_out_questions(index: FaqIndex, test_set: list[dict[str, Any]]) -> None:
    on_topic = [q for q in test_set if q["article"] is not None]
    right = {q["question"]: index.answer(q["question"]).article_id == q["article"] for q in on_topic}
    per_lang = {}
    for lang in ("en", "zh"):
        mine = [right[q["question"]] for q in on_topic if q["lang"] == lang]
        per_lang[lang] = sum(mine) / len(mine)
    overall = sum(right.values()) / len(right)
    print(f"top-1 accuracy: overall {overall:.3f}, en {per_lang['en']:.3f}, zh {per_lang['zh']:.3f}")
    assert overall >= 0.8
    assert per_lang["en"] >= 0.8
    assert per_lang["zh"] >= 0.8


def test_off_topic_questions_are_handed_to_a_person(index: FaqIndex, test_set: list[dict[str, Any]]) -> None:
    off_topic = [q for q in test_set if q["article"] is None]
    answers = [index.answer(q["question"]) for q in off_topic]
    handed_over = sum(not a.confident for a in answers) / len(answers)
    print(f"off-topic handed over: {handed_over:.3f} of {len(answers)}")
    assert handed_over >= 0.8
    assert all(
        a.reason in {"low_confidence", "no_match", "empty_question"} for a in answers if not a.confident
    )


def test_on_topic_questions_are_mostly_answered_confidently(
    index: FaqIndex, test_set: list[dict[str, Any]]
) -> None:
    on_topic = [q for q in test_set if q["article"] is not None]
    answers = [(q, index.answer(q["question"])) for q in on_topic]
    confident = sum(a.confident for _, a in answers) / len(answers)
    right = sum(a.confident and a.article_id == q["article"] for q, a in answers) / len(answers)
    wrong = sum(a.confident and a.article_id != q["article"] for q, a in answers) / len(answers)
    print(f"on-topic answered confidently: {confident:.3f} (right {right:.3f}, wrong {wrong:.3f})")
    # Measured when the set was first scored: 0.915 confident, 0.811 right, 0.104 wrong.
    assert confident >= 0.85
    assert right >= 0.75
    assert wrong <= 0.15


def test_the_threshold_is_the_one_the_dev_set_calibrates() -> None:
    """The documented rule: the lowest threshold (step 0.01) that hands over at least 90 % of the
    DEV off-topic questions. Edit the articles or the ranking, and this says to re-calibrate."""
    index = default_index()
    off = [
        index.explain(q["question"])["confidence"]
        for q in _questions("faq_dev.jsonl")
        if q["article"] is None
    ]
    chosen = next(t / 100 for t in range(1, 101) if sum(c < t / 100 for c in off) / len(off) >= 0.9)
    assert chosen == CONFIDENCE_THRESHOLD


# -- languages -----------------------------------------------------------------------------------


def test_a_chinese_question_gets_the_chinese_version(index: FaqIndex) -> None:
    answer = index.answer("退货的运费谁来出？")
    assert answer.confident
    assert (answer.article_id, answer.lang) == ("return-process", "zh")
    assert answer.title == "如何寄回退货及退货运费"
    assert all(p in _body(index, "return-process", "zh") for p in answer.passages)


def test_an_english_question_gets_the_english_version(index: FaqIndex) -> None:
    answer = index.answer("Who pays the postage when I send a return back?")
    assert (answer.article_id, answer.lang) == ("return-process", "en")
    assert all(p in _body(index, "return-process", "en") for p in answer.passages)


def test_the_asked_language_wins_over_the_question_language(index: FaqIndex) -> None:
    answer = index.answer("退货的运费谁来出？", lang="en")
    assert (answer.article_id, answer.lang) == ("return-process", "en")
    assert answer.passages
    assert all(p in _body(index, "return-process", "en") for p in answer.passages)


def test_a_mixed_question_is_understood_word_by_word(index: FaqIndex) -> None:
    assert detect_lang("我的PayPal refund还没到账") == "zh"
    assert detect_lang("how long is the 7天 return window") == "en"
    assert index.answer("我的PayPal refund 还没到账").article_id == "refund-timing"
    assert index.answer("花呗 instalments 有手续费吗").article_id == "instalments"
    assert tokenize("花呗 Instalments ＦＥＥ") == ["花呗", "installment", "fee"]


def test_an_article_in_one_language_is_shown_in_that_language() -> None:
    index = FaqIndex.build(
        [
            _article(
                "pets",
                "en",
                "Pets in the store",
                "Dogs are welcome in our stores.\n\nPlease keep them on a lead.",
            ),
            _article("hours", "zh", "营业时间", "门店每天十点营业。\n\n节假日照常营业。"),
        ]
    )
    hit = index.search("can I bring my dog to the store", lang="zh")[0]
    assert (hit.article_id, hit.lang) == ("pets", "en")


# -- search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("怎么开增值税专用发票", "invoices"),
        ("how long does a refund take to reach my account", "refund-timing"),
        ("积分什么时候过期", "points-expiry"),
        ("parcel says delivered but I never received it", "missing-parcel"),
        ("花呗分期有没有手续费", "instalments"),
        ("do you ship to Germany", "international-shipping"),
        ("pasword reset", "account-password"),  # a typo, corrected to an indexed word
    ],
)
def test_search_puts_the_right_article_first(index: FaqIndex, query: str, first: str) -> None:
    assert index.search(query)[0].article_id == first


def test_search_returns_one_hit_per_article_best_first(index: FaqIndex) -> None:
    hits = index.search("refund coupon points", k=10)
    assert 1 < len(hits) <= 10
    assert len({h.article_id for h in hits}) == len(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.lang == "en" and h.passage in _body(index, h.article_id, "en") for h in hits)
    assert [h.lang for h in index.search("refund coupon points", lang="zh", k=3)] == ["zh"] * 3
    assert len(index.search("refund", k=2)) == 2


def test_answer_passages_are_the_best_paragraphs_of_the_article(index: FaqIndex) -> None:
    answer = index.answer("PayPal refund how many working days")
    assert answer.article_id == "refund-timing"
    assert 1 <= len(answer.passages) <= 3
    assert "PayPal: 3–5 working days" in answer.passages[0]
    assert answer.related
    assert all(h.article_id != answer.article_id for h in answer.related)


# -- empty, off-topic and degenerate input ------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_not_confident(index: FaqIndex, question: str) -> None:
    answer = index.answer(question)
    assert (answer.confident, answer.reason, answer.article_id, answer.passages) == (
        False,
        "empty_question",
        None,
        (),
    )
    assert answer.confidence == 0.0
    assert index.search(question) == []


@pytest.mark.parametrize("question", ["hello?", "你好", "???", "weather forecast tomorrow"])
def test_a_question_without_known_words_has_no_match(index: FaqIndex, question: str) -> None:
    answer = index.answer(question)
    assert not answer.confident
    assert answer.reason == "no_match"


def test_an_empty_knowledge_base_answers_nothing() -> None:
    index = FaqIndex.build([])
    assert index.search("refund") == []
    answer = index.answer("refund")
    assert (answer.confident, answer.reason) == (False, "no_match")


def test_an_article_of_only_punctuation_does_not_break_the_index() -> None:
    index = FaqIndex.build(
        [_article("dots", body="… ？！"), _article("refunds", title="Refunds", body="Refunds take 3 days.")]
    )
    assert index.answer("refunds").article_id == "refunds"


# -- validation -----------------------------------------------------------------------------------


def _code(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.code


def test_a_duplicate_article_in_one_language_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        FaqIndex.build([_article("a", "en"), _article("a", "zh"), _article("a", "en")])
    assert _code(exc) == "faq_duplicate_article"
    assert exc.value.data == {"id": "a", "lang": "en"}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"body": "  \n "}, "faq_empty_body"),
        ({"title": ""}, "faq_empty_title"),
        ({"lang": "fr"}, "faq_unsupported_lang"),
        ({"id": "Has Spaces"}, "faq_invalid_id"),
        ({"id": ""}, "faq_invalid_id"),
    ],
)
def test_an_invalid_article_is_refused(fields: dict[str, str], code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        _article(**fields)
    assert _code(exc) == code
    assert exc.value.status == 400


def test_invalid_arguments_are_refused(index: FaqIndex) -> None:
    with pytest.raises(InvalidInput) as exc:
        index.search("refund", k=0)
    assert _code(exc) == "faq_invalid_k"
    with pytest.raises(InvalidInput) as exc:
        index.answer("refund", lang="fr")
    assert _code(exc) == "faq_unsupported_lang"
    with pytest.raises(InvalidInput) as exc:
        FaqIndex.build([], threshold=1.5)
    assert _code(exc) == "faq_invalid_threshold"


def test_a_bad_articles_file_is_refused_with_its_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "lang": "en", "title": "T", "body": "B"})
    cases = {
        "not json": ("faq_invalid_record", {"line": 2}),
        "[1, 2]": ("faq_invalid_record", {"line": 2}),
        json.dumps({"id": "b", "lang": "en", "title": "T"}): ("faq_invalid_record", {"missing": ["body"]}),
        json.dumps({"id": "b", "lang": "en", "title": "T", "body": "B", "tags": "x"}): (
            "faq_invalid_record",
            {"id": "b"},
        ),
    }
    for line, (code, data) in cases.items():
        path = tmp_path / "kb.jsonl"
        path.write_text(good + "\n" + line + "\n", "utf-8")
        with pytest.raises(InvalidInput) as exc:
            load_articles(path)
        assert (exc.value.code, exc.value.data) == (code, data)
    path.write_text(good + "\n\n", "utf-8")
    assert load_articles(path) == [Article("a", "en", "T", "B")]


# -- determinism and speed -----------------------------------------------------------------------


def test_results_are_deterministic() -> None:
    questions = [q["question"] for q in _questions("faq_questions.jsonl")[::7]]
    first, second = default_index(), FaqIndex.build(reversed(load_articles()))
    assert [first.answer(q) for q in questions] == [second.answer(q) for q in questions]
    assert [first.search(q, k=5) for q in questions] == [second.search(q, k=5) for q in questions]


def test_building_and_answering_are_fast(index: FaqIndex) -> None:
    articles = load_articles()
    start = time.perf_counter()
    FaqIndex.build(articles)
    assert time.perf_counter() - start < 1.0
    samples = []
    for q in _questions("faq_questions.jsonl"):
        start = time.perf_counter()
        index.answer(q["question"])
        samples.append(time.perf_counter() - start)
    assert statistics.median(samples) < 0.01


def _body(index: FaqIndex, article_id: str, lang: str) -> str:
    return next(a.body for a in index.articles if (a.id, a.lang) == (article_id, lang))
