"""Supervised churn risk, trained by backtest, and its comparison with the label-free scores.

**Label**: a customer known at the cutoff (first purchase on or before it) has *churned* when
they make no purchase in ``(cutoff, cutoff + horizon_days]``. A backtest trains on the window
that ends where the evaluation window starts (features at ``cutoff - horizon``, labels at
``cutoff``), so nothing after the cutoff leaks into the model that is scored at the cutoff.

**Features** (:data:`FEATURES`, all as of the cutoff, in days; one purchase = one purchase day,
as in :mod:`patron.analytics.summary`):

* ``recency_days``: days from the last purchase to the cutoff (the CRM recency, *not* the
  summary's ``recency``, which is first-to-last);
* ``frequency``: repeat purchase days (purchase days - 1, as in the BTYD summary);
* ``tenure_days``: days from the first purchase to the cutoff (the summary's ``T``; this *is*
  "days since first", so it is not repeated as a second, identical column);
* ``monetary_mean``: mean spend per purchase day, first purchase included; ``total_spend``;
* ``purchases_30d`` / ``_90d`` / ``_180d``: purchase days in the last 30/90/180 days, cutoff
  day included (``cutoff - N < day <= cutoff``);
* ``mean_gap_days``: mean gap between consecutive purchase days, ``(last - first) / frequency``;
  null for one-time buyers (they have no gap, and a made-up one would mislead a reader);
* ``gap_trend_days``: the last gap minus the mean of the earlier gaps (> 0: slowing down); null
  below three purchase days.

**Why these scores get compared**: on CDNOW every sensible score ranks churners about as well
(AUC about 0.8, FINDINGS.md), so a classifier must earn its keep against recency alone and the
label-free BG/NBD; :func:`compare_on_backtest` reports all three side by side with calibration.
BG/NBD's churn risk is ``1 - P(at least one purchase in the horizon)``, never ``1 - P(alive)``,
which ranks every one-time buyer as safe (AUC 0.32 on CDNOW).

**Model files**: :class:`ChurnModel` keeps only plain numbers (scaler, coefficients; or the
boosted trees' split arrays) and predicts from them with numpy, so a fitted model and its JSON
reload score identically, and no pickle (arbitrary code on load) is ever needed.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits

from patron.analytics.base import BadModelFile, Estimator
from patron.analytics.btyd import BetaGeoModel
from patron.analytics.summary import UNITS, summarize
from patron.core.errors import InvalidInput

Array = npt.NDArray[np.float64]

FEATURES = (
    "recency_days",
    "frequency",
    "tenure_days",
    "monetary_mean",
    "total_spend",
    "purchases_30d",
    "purchases_90d",
    "purchases_180d",
    "mean_gap_days",
    "gap_trend_days",
)
MODELS = ("gbm", "logistic")
_STATE_KEYS = {"gbm": {"baseline", "trees"}, "logistic": {"fill", "mean", "scale", "coef", "intercept"}}
_WINDOWS = (30, 90, 180)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _purchase_days(
    transactions: pl.DataFrame, until: date, customer: str, at: str, amount: str
) -> pl.LazyFrame:
    """``customer_id, day, amount`` per purchase day up to ``until`` (same-day orders merged)."""
    missing = [c for c in dict.fromkeys((customer, at, amount)) if c not in transactions.columns]
    if missing:
        raise InvalidInput(f"transactions lack the column(s) {missing}", code="missing_columns")
    if not transactions.schema[at].is_temporal():
        raise InvalidInput(f"column {at!r} must hold dates or times", code="bad_time_column")
    if not transactions.schema[amount].is_numeric():
        raise InvalidInput(f"column {amount!r} must be numeric", code="bad_amount")
    if transactions.select(pl.col(at).null_count() + pl.col(amount).null_count()).item():
        raise InvalidInput(f"{at!r} and {amount!r} must not hold nulls", code="bad_orders")
    return (
        transactions.lazy()
        .select(
            pl.col(customer).alias("customer_id"),
            pl.col(at).dt.date().alias("day"),
            pl.col(amount).cast(pl.Float64).alias("amount"),
        )
        .filter(pl.col("day") <= until, pl.col("customer_id").is_not_null())
        .group_by("customer_id", "day")
        .agg(pl.col("amount").sum())
    )


def _features(days: pl.LazyFrame, cutoff: date) -> pl.LazyFrame:
    n = pl.col("n")
    span = (pl.col("last") - pl.col("first")).dt.total_days()
    previous_span = (pl.col("previous") - pl.col("first")).dt.total_days()
    return (
        days.filter(pl.col("day") <= cutoff)
        .sort("customer_id", "day")
        .group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("day").first().alias("first"),
            pl.col("day").last().alias("last"),
            pl.col("day").tail(2).first().alias("previous"),
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("amount").sum().alias("total_spend"),
            *[
                (pl.col("day") > cutoff - timedelta(days=w)).sum().cast(pl.Int64).alias(f"purchases_{w}d")
                for w in _WINDOWS
            ],
        )
        .select(
            "customer_id",
            (pl.lit(cutoff) - pl.col("last")).dt.total_days().alias("recency_days"),
            (n - 1).alias("frequency"),
            (pl.lit(cutoff) - pl.col("first")).dt.total_days().alias("tenure_days"),
            (pl.col("total_spend") / n).alias("monetary_mean"),
            "total_spend",
            *[f"purchases_{w}d" for w in _WINDOWS],
            pl.when(n > 1).then(span / (n - 1)).alias("mean_gap_days"),
            pl.when(n > 2)
            .then((pl.col("last") - pl.col("previous")).dt.total_days() - previous_span / (n - 2))
            .alias("gap_trend_days"),
        )
    )


def churn_features(
    transactions: pl.DataFrame,
    as_of: date | datetime,
    *,
    customer: str = "customer_id",
    at: str = "at",
    amount: str = "amount",
) -> pl.DataFrame:
    """``customer_id`` and :data:`FEATURES` as of a date, one row per customer with a purchase
    on or before it, sorted by ``customer_id``: the input of :meth:`ChurnModel.predict_proba`
    for scoring today."""
    cutoff = _as_date(as_of)
    days = _purchase_days(transactions, cutoff, customer, at, amount)
    out = _features(days, cutoff).sort("customer_id").collect()
    if out.is_empty():
        raise InvalidInput(f"no customer bought on or before {cutoff}", code="no_customers")
    return out


def backtest_frame(
    transactions: pl.DataFrame,
    cutoff: date | datetime,
    horizon_days: int,
    *,
    customer: str = "customer_id",
    at: str = "at",
    amount: str = "amount",
) -> pl.DataFrame:
    """:func:`churn_features` at ``cutoff`` plus ``churned`` (1 = no purchase in
    ``(cutoff, cutoff + horizon_days]``, else 0) and ``next_purchases`` (purchase days in it).

    The log must cover the whole horizon: a purchase after its end is not seen, and one that
    is missing because the export stops early makes a customer look churned."""
    if horizon_days < 1:
        raise InvalidInput("horizon_days must be >= 1", code="bad_parameter")
    start = _as_date(cutoff)
    end = start + timedelta(days=horizon_days)
    days = _purchase_days(transactions, end, customer, at, amount)
    future = (
        days.filter(pl.col("day") > start)
        .group_by("customer_id")
        .agg(pl.len().cast(pl.Int64).alias("next_purchases"))
    )
    out = (
        _features(days, start)
        .join(future, on="customer_id", how="left")
        .with_columns(pl.col("next_purchases").fill_null(0))
        .with_columns((pl.col("next_purchases") == 0).cast(pl.Int64).alias("churned"))
        .sort("customer_id")
        .collect()
    )
    if out.is_empty():
        raise InvalidInput(f"no customer bought on or before the cutoff {start}", code="no_customers")
    return out


def _matrix(frame: pl.DataFrame, features: tuple[str, ...]) -> Array:
    """The feature columns as float64, nulls as NaN; refuses what a model cannot read."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the feature frame lacks the column(s) {missing}", code="missing_columns")
    bad = [c for c in features if not (frame.schema[c].is_numeric() or frame.schema[c] == pl.Null)]
    if bad:
        raise InvalidInput(f"feature column(s) {bad} must be numeric", code="bad_features")
    x = frame.select(pl.col(c).cast(pl.Float64) for c in features).to_numpy().astype(np.float64)
    if np.isinf(x).any():
        raise InvalidInput("features hold an infinite value", code="bad_features")
    return x


class ChurnModel(Estimator):
    """Churn risk P(churned) from the :data:`FEATURES` of :func:`backtest_frame`.

    ``model="logistic"`` (the default): standardised logistic regression, nulls filled with the
    training medians. ``"gbm"``: scikit-learn's histogram gradient boosting, which reads nulls
    natively (a one-time buyer's missing gap is a signal).

    Why logistic by default and such shallow trees: a backtest trains on customers younger than
    the ones it scores (at CDNOW's week-26 training cutoff nobody is silent for more than 182
    days; at week 52 half are). A linear score extrapolates along recency; a tree puts everyone
    past the training range in one leaf. On three CDNOW backtests logistic regression ranked
    best (AUC 0.805 / 0.794 / 0.831); boosting with 31-leaf trees fell to 0.73-0.76, and only
    near-additive trees (3 leaves, 100 customers a leaf) came back to 0.787 / 0.781 / 0.829.

    Both save to JSON: the logistic model as fill values, scaler and coefficients, the boosted
    model as each tree's split arrays (feature, threshold, children, missing-value side, leaf
    value), which is all a prediction reads."""

    version: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = (
        "model",
        "random_state",
        "features",
        "C",
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "min_samples_leaf",
    )
    fitted: ClassVar[tuple[str, ...]] = ("state_", "n_samples_", "base_rate_")

    def __init__(
        self,
        model: str = "logistic",
        random_state: int = 0,
        features: tuple[str, ...] | list[str] = FEATURES,
        C: float = 1.0,
        learning_rate: float = 0.05,
        max_iter: int = 150,
        max_leaf_nodes: int = 3,
        min_samples_leaf: int = 100,
    ) -> None:
        if model not in MODELS:
            raise InvalidInput(
                f"unknown churn model {model!r}; use one of {list(MODELS)}", code="bad_parameter"
            )
        if not features or len(set(features)) != len(features):
            raise InvalidInput("features: one or more distinct column names", code="bad_parameter")
        if C <= 0 or learning_rate <= 0 or max_iter < 1 or max_leaf_nodes < 2 or min_samples_leaf < 1:
            raise InvalidInput(
                "C > 0, learning_rate > 0, max_iter >= 1, max_leaf_nodes >= 2, min_samples_leaf >= 1",
                code="bad_parameter",
            )
        self.model = model
        self.random_state = random_state
        self.features = tuple(features)
        self.C = C
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf

    def fit(self, features: pl.DataFrame, label: Any) -> ChurnModel:
        """Fit on a feature frame and its 0/1 churn labels (e.g. ``frame["churned"]``).

        BLAS and OpenMP run single-threaded: on a small, busy machine the thread start-up
        costs more than the fit (FINDINGS.md)."""
        x = _matrix(features, self.features)
        y = np.asarray(label, dtype=np.float64).ravel()
        if y.shape != (len(x),):
            raise InvalidInput(f"{len(x)} feature rows but {y.size} labels", code="bad_labels")
        if not np.isin(y, (0.0, 1.0)).all():
            raise InvalidInput("labels must be 0 (stayed) or 1 (churned)", code="bad_labels")
        if y.min() == y.max():
            raise InvalidInput("need both churned and retained customers to learn from", code="bad_labels")
        with threadpool_limits(limits=1):
            self.state_ = self._fit_gbm(x, y) if self.model == "gbm" else self._fit_logistic(x, y)
        self.n_samples_ = len(y)
        self.base_rate_ = float(y.mean())
        return self

    def _fit_logistic(self, x: Array, y: Array) -> dict[str, Any]:
        # Training medians; 0 for a column that is null throughout (say, nobody has 3 purchases).
        fill = np.nanmedian(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0)
        pipe = Pipeline(
            [("scale", StandardScaler()), ("logit", LogisticRegression(C=self.C, max_iter=1000))]
        ).fit(np.where(np.isnan(x), fill, x), y.astype(int))
        scaler, logit = pipe.named_steps["scale"], pipe.named_steps["logit"]
        return {
            "fill": fill.tolist(),
            "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(),
            "coef": logit.coef_[0].tolist(),
            "intercept": float(logit.intercept_[0]),
        }

    def _fit_gbm(self, x: Array, y: Array) -> dict[str, Any]:
        clf = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(x, y.astype(int))
        # The split arrays live in private attributes; the tests check that predicting from
        # them equals scikit-learn's own predict_proba, so a change upstream fails loudly.
        trees = []
        for (predictor,) in clf._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():  # pragma: no cover - numeric input only
                raise InvalidInput("categorical splits cannot be exported", code="model_not_exportable")
            trees.append(
                {
                    "feature": nodes["feature_idx"].astype(int).tolist(),
                    # A "missing or not" split has threshold +inf, which strict JSON cannot
                    # hold: stored as null.
                    "threshold": [
                        None if math.isinf(t) else t for t in nodes["num_threshold"].astype(float).tolist()
                    ],
                    "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
                    "left": nodes["left"].astype(int).tolist(),
                    "right": nodes["right"].astype(int).tolist(),
                    "leaf": nodes["is_leaf"].astype(bool).tolist(),
                    "value": nodes["value"].astype(float).tolist(),
                }
            )
        return {"baseline": float(clf._baseline_prediction.ravel()[0]), "trees": trees}

    def decision_function(self, features: pl.DataFrame) -> Array:
        """Log-odds of churn."""
        self.check_fitted()
        needed = _STATE_KEYS[self.model]
        if not isinstance(self.state_, dict) or not needed <= self.state_.keys():
            raise BadModelFile(f"a {self.model} churn model needs {sorted(needed)} in its state")
        x = _matrix(features, self.features)
        if self.model == "logistic":
            s = self.state_
            filled = np.where(np.isnan(x), np.asarray(s["fill"]), x)
            z = (filled - np.asarray(s["mean"])) / np.asarray(s["scale"])
            return z @ np.asarray(s["coef"]) + float(s["intercept"])  # type: ignore[no-any-return]
        return self._walk_trees(x)

    def _walk_trees(self, x: Array) -> Array:
        """Baseline plus the leaf value each row reaches in every tree, added tree by tree as
        scikit-learn does (so the sums agree to the last bit). At a split ``x <= threshold``
        goes left and NaN goes to the side the split learnt for missing values.

        Each split partitions the row indices that reached it, so a tree costs about its depth
        times the rows in 1-D gathers from contiguous columns (1.7 s for 150 trees and
        870,000 customers; stepping all rows through all trees as a matrix took 8 s)."""
        columns = [np.ascontiguousarray(x[:, j]) for j in range(x.shape[1])]
        out = np.full(len(x), float(self.state_["baseline"]))
        for tree in self.state_["trees"]:
            feature, missing_left = tree["feature"], tree["missing_left"]
            threshold = [math.inf if t is None else t for t in tree["threshold"]]
            left, right, leaf, value = tree["left"], tree["right"], tree["leaf"], tree["value"]
            stack: list[tuple[int, npt.NDArray[np.intp]]] = [(0, np.arange(len(x)))]
            while stack:
                node, rows = stack.pop()
                if not len(rows):
                    continue
                if leaf[node]:
                    out[rows] += value[node]
                    continue
                v = columns[feature[node]][rows]
                go_left = v <= threshold[node]
                if missing_left[node]:
                    go_left |= np.isnan(v)
                stack.append((left[node], rows[go_left]))
                stack.append((right[node], rows[~go_left]))
        return out

    def predict_proba(self, features: pl.DataFrame) -> Array:
        """Churn risk P(churned in the horizon) per row: a 1-D array (not scikit-learn's
        two-column one)."""
        return expit(self.decision_function(features))  # type: ignore[no-any-return]


class Evaluation(TypedDict):
    """How well a churn score ranks and how well it is calibrated.

    ``*_max`` are the best values any score could reach on these labels: a top-decile churn lift
    cannot exceed ``1 / base_rate`` (1.28 at the 78 % churn of the CDNOW week-52 backtest),
    which makes the repurchase lift among the safest decile the more telling number when churn
    is common."""

    n: int
    base_rate: float
    auc: float
    top_decile_lift: float
    top_decile_lift_max: float
    repurchase_lift: float
    repurchase_lift_max: float
    mean_predicted: float | None
    observed_rate: float


def _top_mean(score: Array, outcome: Array, k: int) -> float:
    """Mean outcome over the ``k`` highest scores, ties at the boundary shared pro rata (the
    expectation over random tie-breaking): a recency score in whole days has many ties, and
    an arbitrary sort order must not decide its lift."""
    bound = np.partition(score, len(score) - k)[len(score) - k]
    above, at = score > bound, score == bound
    room = k - int(above.sum())
    return float((outcome[above].sum() + room * outcome[at].mean()) / k)


def evaluate(risk: Any, label: Any, *, top: float = 0.1, is_probability: bool = True) -> Evaluation:
    """AUC, top-decile churn lift, repurchase lift and calibration of a churn score.

    ``top_decile_lift``: churn rate among the ``top`` share of highest risk over the base churn
    rate. ``repurchase_lift``: repurchase rate (1 - churn) among the ``top`` share of *lowest*
    risk over the base repurchase rate. Calibration: ``mean_predicted`` vs ``observed_rate``,
    only for scores that are probabilities (``is_probability=False`` for, say, recency days,
    which gives ``mean_predicted=None``)."""
    r = np.asarray(risk, dtype=np.float64).ravel()
    y = np.asarray(label, dtype=np.float64).ravel()
    if r.shape != y.shape or len(r) == 0:
        raise InvalidInput("one risk per label, at least one", code="bad_labels")
    if not np.isfinite(r).all():
        raise InvalidInput("risk holds a missing or infinite value", code="bad_scores")
    if not np.isin(y, (0.0, 1.0)).all() or y.min() == y.max():
        raise InvalidInput("labels must be 0/1 with both present", code="bad_labels")
    if not 0 < top <= 0.5:
        raise InvalidInput("top must be in (0, 0.5]", code="bad_parameter")
    if is_probability and (r.min() < 0 or r.max() > 1):
        raise InvalidInput("a probability risk lies in [0, 1]", code="bad_scores")
    k = max(1, round(top * len(r)))
    base = float(y.mean())
    churners, stayers = float(y.sum()), float(len(y) - y.sum())
    return {
        "n": len(r),
        "base_rate": base,
        "auc": float(roc_auc_score(y, r)),
        "top_decile_lift": _top_mean(r, y, k) / base,
        "top_decile_lift_max": min(1.0, churners / k) / base,
        "repurchase_lift": _top_mean(-r, 1.0 - y, k) / (1.0 - base),
        "repurchase_lift_max": min(1.0, stayers / k) / (1.0 - base),
        "mean_predicted": float(r.mean()) if is_probability else None,
        "observed_rate": base,
    }


def compare_on_backtest(
    transactions: pl.DataFrame,
    cutoff: date | datetime,
    horizon_days: int,
    *,
    unit: str = "days",
    model: str = "logistic",
    random_state: int = 0,
    customer: str = "customer_id",
    at: str = "at",
    amount: str = "amount",
) -> dict[str, Any]:
    """The classifier, BG/NBD and recency alone, evaluated on the same customers at ``cutoff``.

    * ``classifier``: a :class:`ChurnModel` trained with features at ``cutoff - horizon`` and
      labels at ``cutoff``, then scored on the features at ``cutoff``;
    * ``bgnbd``: ``1 - P(at least one purchase in the horizon)`` from a BG/NBD fitted on the
      summary at ``cutoff`` in ``unit`` ("weeks" for CDNOW, as published); a customer whose
      first purchase is on the cutoff day counts as one day old (the model needs age > 0);
    * ``recency``: days since the last purchase (a ranking, so no calibration).

    Returns ``{"classifier": Evaluation, "bgnbd": ..., "recency": ..., "setup": {...}}``."""
    if unit not in UNITS:
        raise InvalidInput(f"unknown time unit {unit!r}; use one of {sorted(UNITS)}", code="bad_time_unit")
    clf = ChurnModel(model=model, random_state=random_state)  # checks the name before any work
    start = _as_date(cutoff)
    names = {"customer": customer, "at": at, "amount": amount}
    train = backtest_frame(transactions, start - timedelta(days=horizon_days), horizon_days, **names)
    test = backtest_frame(transactions, start, horizon_days, **names)
    clf.fit(train, train["churned"])
    label = test["churned"].to_numpy()

    scale = UNITS[unit]
    # Local calendar dates, as the features use (summarize casts times to UTC dates).
    local = transactions.select(pl.col(customer), pl.col(at).dt.date(), pl.col(amount))
    summary = test.select("customer_id").join(
        summarize(local, start, unit=unit, customer=customer, at=at, amount=amount),
        on="customer_id",
        how="left",
        maintain_order="left",
    )
    age = np.maximum(summary["T"].to_numpy(), 1.0 / scale)
    x, t_x = summary["frequency"].to_numpy(), summary["recency"].to_numpy()
    with threadpool_limits(limits=1, user_api="blas"):
        bg = BetaGeoModel().fit(x, t_x, age)
    bg_risk = 1.0 - bg.probability_of_purchase(horizon_days / scale, x, t_x, age)
    return {
        "classifier": evaluate(clf.predict_proba(test), label),
        "bgnbd": evaluate(bg_risk, label),
        "recency": evaluate(test["recency_days"].to_numpy(), label, is_probability=False),
        "setup": {
            "model": model,
            "cutoff": start.isoformat(),
            "train_cutoff": (start - timedelta(days=horizon_days)).isoformat(),
            "horizon_days": horizon_days,
            "unit": unit,
            "n_train": clf.n_samples_,
            "train_base_rate": clf.base_rate_,
            "n_test": len(test),
            "bgnbd_params": {"r": bg.r_, "alpha": bg.alpha_, "a": bg.a_, "b": bg.b_},
        },
    }
