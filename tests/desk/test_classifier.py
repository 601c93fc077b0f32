"""Complaint classifier: corpus and held-out set (sizes, separation), held-out macro-F1 overall
and per language with the confusion matrix, agents' corrections, validation, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import confusion_matrix, f1_score

from patron.core.errors import InvalidInput
from patron.desk.classifier import (
    CATEGORIES,
    CORRECTION_WEIGHT,
    LANGS,
    ComplaintClassifier,
    default_corpus,
    normalize,
    train_default,
)

HELDOUT = Path(__file__).resolve().parents[1] / "fixtures" / "complaints_heldout.jsonl"
MIN_TRAIN, MIN_HELDOUT, MIN_F1 = 80, 45, 0.85
# A text the default model gets wrong (service, not product): the correction test's subject.
MISREAD = "The seller swapped my SKU for a refurb"


def _heldout() -> list[dict[str, str]]:
    return [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, str]]:
    return default_corpus()


@pytest.fixture(scope="module")
def heldout() -> list[dict[str, str]]:
    return _heldout()


@pytest.fixture(scope="module")
def model() -> ComplaintClassifier:
    return train_default()


def _counts(rows: list[dict[str, str]]) -> Counter[tuple[str, str]]:
    return Counter((r["lang"], r["category"]) for r in rows)


@pytest.mark.parametrize(("name", "minimum"), [("corpus", MIN_TRAIN), ("heldout", MIN_HELDOUT)])
def test_sets_cover_every_category_in_both_languages(
    name: str, minimum: int, request: pytest.FixtureRequest
) -> None:
    rows: list[dict[str, str]] = request.getfixturevalue(name)
    assert all(set(r) == {"text", "category", "lang"} for r in rows)
    assert all(r["category"] in CATEGORIES and r["lang"] in LANGS and r["text"].strip() for r in rows)
    counts = _counts(rows)
    assert set(counts) == {(lang, c) for lang in LANGS for c in CATEGORIES}
    short = {k: n for k, n in counts.items() if n < minimum}
    assert not short, f"{name}: fewer than {minimum} texts for {short}"
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts), f"{name} repeats a text"


def test_corpus_sizes(corpus: list[dict[str, str]], heldout: list[dict[str, str]]) -> None:
    assert len(corpus) >= 800
    assert len(heldout) >= 450


def test_heldout_is_written_apart_from_the_training_corpus(
    corpus: list[dict[str, str]], heldout: list[dict[str, str]]
) -> None:
    train = [r["text"].lower() for r in corpus]
    test = [r["text"].lower() for r in heldout]
    # No held-out text equals, or is contained in, a training text.
    contained = [h for h in test if any(h in t for t in train)]
    assert not contained, contained[:5]
    # Jaccard similarity of character 3-gram sets below 0.6 to every training text.
    grams = CountVectorizer(analyzer="char", ngram_range=(3, 3), lowercase=True, binary=True)
    a = grams.fit_transform(test + train).astype(np.int64)
    h, t = a[: len(test)], a[len(test) :]
    inter = (h @ t.T).toarray()
    sizes_h = np.asarray(h.sum(axis=1)).ravel()
    sizes_t = np.asarray(t.sum(axis=1)).ravel()
    union = sizes_h[:, None] + sizes_t[None, :] - inter
    jaccard = np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)
    i, j = np.unravel_index(int(np.argmax(jaccard)), jaccard.shape)
    assert jaccard[i, j] < 0.6, (float(jaccard[i, j]), test[i], train[j])


def test_heldout_macro_f1_overall_and_per_language(
    model: ComplaintClassifier, heldout: list[dict[str, str]], record_property: Any
) -> None:
    texts = [r["text"] for r in heldout]
    truth = np.array([r["category"] for r in heldout])
    lang = np.array([r["lang"] for r in heldout])
    pred = np.array(model.predict(texts))
    labels = list(CATEGORIES)
    scores = {"all": float(f1_score(truth, pred, labels=labels, average="macro"))}
    for code in LANGS:
        mask = lang == code
        scores[code] = float(f1_score(truth[mask], pred[mask], labels=labels, average="macro"))
    matrix = confusion_matrix(truth, pred, labels=labels)
    record_property("heldout_macro_f1", {k: round(v, 4) for k, v in scores.items()})
    record_property("heldout_confusion", {"labels": labels, "matrix": matrix.tolist()})
    width = max(map(len, labels))
    print("\nheld-out macro-F1:", {k: round(v, 3) for k, v in scores.items()})
    print("confusion (rows: truth, columns: predicted)")
    print(" " * width, *(f"{c[:5]:>6}" for c in labels))
    for c, row in zip(labels, matrix, strict=True):
        print(f"{c:>{width}}", *(f"{v:>6}" for v in row))
    assert matrix.sum() == len(heldout)
    assert scores["all"] >= MIN_F1, scores
    assert scores["zh"] >= MIN_F1, scores
    assert scores["en"] >= MIN_F1, scores


def test_probabilities_columns_and_classify(model: ComplaintClassifier) -> None:
    assert model.classes_ == sorted(CATEGORIES)
    texts = ["快递三天了还没到", "The coupon code was not applied", ""]
    proba = model.predict_proba(texts)
    assert proba.shape == (3, len(CATEGORIES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.predict(texts)[:2] == ["logistics", "promotion"]
    category, confidence = model.classify("客服一直不回消息")
    row = model.predict_proba(["客服一直不回消息"])[0]
    assert category == "service" == model.classes_[int(np.argmax(row))]
    assert confidence == pytest.approx(float(row.max()))
    assert model.predict_proba([]).shape == (0, len(CATEGORIES))
    assert model.predict([]) == []


def test_full_width_text_reads_like_half_width(model: ComplaintClassifier) -> None:
    assert normalize("Ｍ码太小！ＡＢＣ１２３") == "m码太小!abc123"
    np.testing.assert_array_equal(
        model.predict_proba(["ＣＯＵＰＯＮ　ｎｏｔ　ａｐｐｌｉｅｄ！"]),
        model.predict_proba(["coupon not applied!"]),
    )


def test_training_twice_gives_identical_probabilities(
    model: ComplaintClassifier, heldout: list[dict[str, str]]
) -> None:
    texts = [r["text"] for r in heldout]
    again = train_default()
    np.testing.assert_array_equal(model.predict_proba(texts), again.predict_proba(texts))


def test_a_correction_fixes_a_misread_text(model: ComplaintClassifier) -> None:
    assert model.classify(MISREAD)[0] == "service"  # wrong: a refurbished unit is a product issue
    corrected = train_default([(MISREAD, "product")])
    assert corrected.n_texts_ == model.n_texts_ + 1
    assert corrected.classify(MISREAD)[0] == "product"
    # ... and a rewording of it
    assert corrected.classify("they swapped the SKU for a refurb")[0] == "product"


def test_a_correction_teaches_a_new_phrase_and_the_last_correction_wins(model: ComplaintClassifier) -> None:
    phrase = "the zorblax gizmo turned into a flumph"
    assert model.classify(phrase)[0] != "promotion"
    taught = train_default([(phrase, "promotion")])
    assert taught.classify(phrase)[0] == "promotion"
    assert taught.classify("my zorblax gizmo turned into a flumph again")[0] == "promotion"
    # Corrected twice: the later category counts, the earlier is dropped (one extra text only).
    twice = train_default([(phrase, "promotion"), (phrase, "logistics")])
    assert twice.n_texts_ == model.n_texts_ + 1
    assert twice.classify(phrase)[0] == "logistics"


def test_corrections_weigh_more_than_corpus_texts() -> None:
    # train_default = the corpus plus each correction at CORRECTION_WEIGHT; the weight pulls the
    # corrected text further towards its category than an ordinary corpus text would.
    corpus = default_corpus()
    texts = [r["text"] for r in corpus]
    labels = [r["category"] for r in corpus]
    phrase, category = "the zorblax gizmo turned into a flumph", "promotion"
    weighted = ComplaintClassifier().fit(
        [*texts, phrase], [*labels, category], sample_weight=[1.0] * len(texts) + [CORRECTION_WEIGHT]
    )
    via_default = train_default([(phrase, category)])
    np.testing.assert_array_equal(via_default.predict_proba([phrase]), weighted.predict_proba([phrase]))
    plain = ComplaintClassifier().fit([*texts, phrase], [*labels, category])
    column = weighted.classes_.index(category)
    assert weighted.predict_proba([phrase])[0, column] > plain.predict_proba([phrase])[0, column]


@pytest.mark.parametrize(
    ("corrections", "code"),
    [
        ([("快递丢了", "shipping")], "complaint_unknown_category"),
        ([("a fine text", "logistics"), ("another", "Product")], "complaint_unknown_category"),
        ([("   ", "logistics")], "complaint_bad_correction"),
        ([(None, "logistics")], "complaint_bad_correction"),
        (["logistics"], "complaint_bad_correction"),
        ([("a", "b", "c")], "complaint_bad_correction"),
    ],
)
def test_bad_corrections_are_refused(corrections: Any, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        train_default(corrections)
    assert err.value.code == code


def test_unknown_category_error_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as err:
        train_default([("物流太慢", "delivery")])
    assert err.value.code == "complaint_unknown_category"
    assert err.value.data == {"index": 0, "category": "delivery", "allowed": list(CATEGORIES)}


@pytest.mark.parametrize(
    ("texts", "labels", "weights", "code"),
    [
        ([], [], None, "complaint_no_data"),
        (["a", "b", "c"], ["product", "price"], None, "complaint_length_mismatch"),
        (["a", "b"], ["product", "price", "price"], None, "complaint_length_mismatch"),
        ("one string", ["product"], None, "complaint_bad_text"),
        (["ok", 3], ["product", "price"], None, "complaint_bad_text"),
        (["ok", " "], ["product", "price"], None, "complaint_bad_text"),
        (["a", "b"], ["product", "refund"], None, "complaint_unknown_category"),
        (["a", "b"], "product", None, "complaint_bad_labels"),
        (["a", "b", "c", "d"], ["product"] * 4, None, "complaint_too_few_categories"),
        (["a", "b", "c"], ["product", "product", "price"], None, "complaint_category_too_small"),
        (
            ["a", "b", "c", "d"],
            ["product", "product", "price", "price"],
            [1, 1, 1],
            "complaint_length_mismatch",
        ),
        (
            ["a", "b", "c", "d"],
            ["product", "product", "price", "price"],
            [1, 1, 0, 1],
            "complaint_bad_weights",
        ),
        (
            ["a", "b", "c", "d"],
            ["product", "product", "price", "price"],
            [1, 1, np.nan, 1],
            "complaint_bad_weights",
        ),
        (
            ["a", "b", "c", "d"],
            ["product", "product", "price", "price"],
            ["x", 1, 1, 1],
            "complaint_bad_weights",
        ),
    ],
)
def test_fit_refuses_bad_input(texts: Any, labels: Any, weights: Any, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ComplaintClassifier().fit(texts, labels, sample_weight=weights)
    assert err.value.code == code


@pytest.mark.parametrize(
    "params",
    [{"C": 0}, {"C": float("inf")}, {"ngram_max": 0}, {"calibration_folds": 1}, {"categories": ()}],
)
def test_bad_parameters_are_refused_at_fit(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        ComplaintClassifier(**params).fit(["a", "b", "c", "d"], ["product", "product", "price", "price"])
    assert err.value.code == "complaint_bad_params"


def test_small_fit_lowers_the_calibration_folds_and_predicting_unfitted_fails() -> None:
    with pytest.raises(InvalidInput) as err:
        ComplaintClassifier().predict(["快递慢"])
    assert err.value.code == "model_not_fitted"
    clf = ComplaintClassifier().fit(
        ["快递太慢了三天没到", "物流一直不更新", "衣服质量太差了", "鞋子开胶了"],
        ["logistics", "logistics", "product", "product"],
    )
    assert clf.classes_ == ["logistics", "product"]
    assert clf.n_texts_ == 4
    with pytest.raises(InvalidInput) as err:
        clf.classify(42)  # type: ignore[arg-type]
    assert err.value.code == "complaint_bad_text"


def test_parameters_follow_the_scikit_learn_contract() -> None:
    clf = ComplaintClassifier(C=2.0, ngram_max=3)
    assert clf.get_params() == {
        "categories": CATEGORIES,
        "C": 2.0,
        "ngram_max": 3,
        "calibration_folds": 5,
        "random_state": 0,
    }
    copy = clone(clf)
    assert copy is not clf
    assert copy.get_params() == clf.get_params()
    assert clf.set_params(C=0.5) is clf
    assert clf.C == 0.5
    with pytest.raises(InvalidInput):
        clf.set_params(alpha=1)
    assert repr(clf).startswith("ComplaintClassifier(categories=")
    assert not clf.is_fitted


def test_predict_proba_is_scikit_learns_calibrated_probability(
    model: ComplaintClassifier, heldout: list[dict[str, str]]
) -> None:
    # predict_proba recomputes CalibratedClassifierCV.predict_proba from the unpacked numbers.
    texts = [r["text"] for r in heldout]
    reference = model.model_.predict_proba(model.vectorizer_.transform(texts))
    np.testing.assert_allclose(model.predict_proba(texts), reference, rtol=1e-12, atol=1e-15)
    assert model.coef_.shape == (model.vocabulary_size_, 5 * len(CATEGORIES))
    # two classes (one decision column) and three, with the folds lowered to 2
    for labels in (
        ["logistics", "logistics", "product", "product"],
        ["logistics", "price", "product", "price"],
    ):
        texts4 = ["快递太慢了三天没到", "物流一直不更新", "衣服质量太差了", "鞋子开胶了"]
        labels = [*labels, *labels]
        small = ComplaintClassifier().fit(texts4 + [t + "!" for t in texts4], labels)
        probe = ["快递不更新", "鞋子质量差", "完全无关的话"]
        np.testing.assert_allclose(
            small.predict_proba(probe),
            small.model_.predict_proba(small.vectorizer_.transform(probe)),
            rtol=1e-12,
            atol=1e-15,
        )
