"""Complaint classifier (issue F8): fit time, throughput and quality on the held-out set.

* **Fit**: :func:`patron.desk.classifier.train_default` on the packaged corpus (reading it
  included), median of 3; the model is retrained rather than stored, so this is the delay after
  an agent's correction.
* **Throughput**: 10,000 texts (the held-out texts repeated), classified in one ``predict``
  call (batch) and one :meth:`classify` call per text (how a ticket intake sees it); target
  >= 500 texts/s one at a time.
* **Quality**: macro-F1 on ``tests/fixtures/complaints_heldout.jsonl`` (written apart from the
  training corpus, never used to choose the model), overall and per language, per-category
  precision/recall/F1 and the confusion matrix; beside it the 5-fold cross-validated macro-F1
  of the same configuration on the training corpus (3 shuffles), the figure the model was
  chosen by.

    python -m benchmarks.classify_bench [--texts N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from benchmarks.common import ROOT, write

HELDOUT = ROOT / "tests" / "fixtures" / "complaints_heldout.jsonl"
ROUNDS = 3
TARGET_TEXTS_PER_SECOND = 500


def _median_seconds(fn: Any) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _quality(truth: np.ndarray, pred: np.ndarray, lang: np.ndarray, labels: list[str]) -> dict[str, Any]:
    p, r, f, n = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {
        "macro_f1": round(float(f1_score(truth, pred, labels=labels, average="macro")), 4),
        "macro_f1_by_lang": {
            code: round(
                float(f1_score(truth[lang == code], pred[lang == code], labels=labels, average="macro")), 4
            )
            for code in ("zh", "en")
        },
        "accuracy": round(float(np.mean(truth == pred)), 4),
        "per_category": {
            c: {
                "precision": round(float(p[i]), 3),
                "recall": round(float(r[i]), 3),
                "f1": round(float(f[i]), 3),
                "n": int(n[i]),
            }
            for i, c in enumerate(labels)
        },
        "confusion": {
            "rows": "truth",
            "columns": "predicted",
            "labels": labels,
            "matrix": confusion_matrix(truth, pred, labels=labels).tolist(),
            "by_lang": {
                code: confusion_matrix(truth[lang == code], pred[lang == code], labels=labels).tolist()
                for code in ("zh", "en")
            },
        },
    }


def _cross_validated(corpus: list[dict[str, str]]) -> dict[str, float]:
    from patron.desk.classifier import ComplaintClassifier

    texts = np.array([r["text"] for r in corpus], dtype=object)
    truth = np.array([r["category"] for r in corpus])
    lang = np.array([r["lang"] for r in corpus])
    strata = np.array([f"{c}/{g}" for c, g in zip(truth, lang, strict=True)])
    scores: dict[str, list[float]] = {"all": [], "zh": [], "en": []}
    for seed in range(3):
        pred = np.empty(len(truth), dtype=object)
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(texts, strata):
            model = ComplaintClassifier().fit(list(texts[train]), list(truth[train]))
            pred[test] = model.predict(list(texts[test]))
        scores["all"].append(float(f1_score(truth, pred, average="macro")))
        for code in ("zh", "en"):
            scores[code].append(float(f1_score(truth[lang == code], pred[lang == code], average="macro")))
    return {k: round(statistics.mean(v), 4) for k, v in scores.items()}


def main(n_texts: int = 10_000) -> None:
    from patron.desk.classifier import CATEGORIES, default_corpus, train_default

    corpus = default_corpus()
    heldout = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]

    fit_seconds = _median_seconds(train_default)
    model = train_default()

    texts = [r["text"] for r in heldout]
    stream = (texts * (n_texts // len(texts) + 1))[:n_texts]
    model.predict(stream[:100])  # warm up
    start = time.perf_counter()
    batch = model.predict(stream)
    batch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = [model.classify(t)[0] for t in stream]
    single_seconds = time.perf_counter() - start
    assert single == batch

    labels = list(CATEGORIES)
    truth = np.array([r["category"] for r in heldout])
    lang = np.array([r["lang"] for r in heldout])
    pred = np.array(model.predict(texts))
    one_at_a_time = n_texts / single_seconds
    write(
        "classify",
        {
            "model": repr(model),
            "corpus": {
                "train_texts": len(corpus),
                "heldout_texts": len(heldout),
                "heldout_by_lang": {code: int(np.sum(lang == code)) for code in ("zh", "en")},
                "vocabulary_size": model.vocabulary_size_,
            },
            "fit_seconds_median": round(fit_seconds, 3),
            "throughput": {
                "texts": n_texts,
                "batch_texts_per_s": round(n_texts / batch_seconds),
                "one_at_a_time_texts_per_s": round(one_at_a_time),
                "one_at_a_time_ms_per_text": round(single_seconds / n_texts * 1000, 3),
                "target_texts_per_s": TARGET_TEXTS_PER_SECOND,
                "meets_target": one_at_a_time >= TARGET_TEXTS_PER_SECOND,
            },
            "heldout": _quality(truth, pred, lang, labels),
            "train_cv_macro_f1": _cross_validated(corpus),
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=10_000, help="texts to classify for the throughput")
    args = parser.parse_args()
    main(args.texts)
