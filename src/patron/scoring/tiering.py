"""Value tiers under a versioned policy, recalibrated on a schedule, with every move explained.

A scoring run does not refit the tiers: it applies the current :class:`TierPolicy` (weights,
each indicator's reference grid, cuts), so a customer changes tier because their own figures
changed and not because the rest of the population did. Recalibration (quarterly by default,
job ``scoring.recalibrate``, or ``patron tiers recalibrate``) fits a new version on the latest
run; the first run of a shop fits version 1 on itself.

Every run records, for each customer whose tier differs from the previous run (earlier as-of
date), a :class:`TierChange` with its cause: ``recalibration`` when the previous policy applied
to today's figures would have kept the customer's old tier, ``score`` otherwise.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from patron.analytics.tiers import ValueTiers
from patron.core.errors import InvalidInput, NotFound
from patron.models import ScoreRun, TierPolicy
from patron.scoring import repository as repo

#: Default weights of the value score over the run's indicators (CLV counts double).
TIER_WEIGHTS = {"recency_days": 1.0, "orders": 1.0, "spent": 1.0, "clv": 2.0}
HIGHER_IS_BETTER = {"recency_days": False}
REASONS = ("initial", "scheduled", "manual")


def _model(policy: TierPolicy) -> ValueTiers:
    return ValueTiers.from_dict(policy.model)


def _fit(indicators: pl.DataFrame, weights: dict[str, float]) -> ValueTiers:
    usable = {k: v for k, v in weights.items() if k in indicators.columns}
    return ValueTiers(
        usable, higher_is_better={k: v for k, v in HIGHER_IS_BETTER.items() if k in usable}
    ).fit(indicators)


def apply(
    session: Session,
    run: ScoreRun,
    indicators: pl.DataFrame,
    params: dict[str, Any],
    notes: list[str],
) -> pl.DataFrame:
    """customer_id, tier, value_score of the buyers in ``indicators`` under the current policy
    (fitting version 1 on them when the shop has none)."""
    policy = repo.current_tier_policy(session)
    try:
        if policy is None:
            model = _fit(indicators, TIER_WEIGHTS)
            policy = repo.add_tier_policy(
                session,
                TierPolicy(
                    reason="initial",
                    actor=run.actor,
                    as_of=run.as_of,
                    fitted_on_run_id=run.id,
                    customers=model.n_customers_,
                    weights=TIER_WEIGHTS,
                    model=model.to_dict(),
                ),
            )
        model = _model(policy)
        missing = [k for k in model.indicators if k not in indicators.columns]
        if missing:
            notes.append(
                f"value tiers not computed: tier policy v{policy.id} needs {', '.join(missing)}, "
                "which this run could not compute"
            )
            return pl.DataFrame(schema={"customer_id": pl.Int64})
        tiers = model.transform(indicators)
    except InvalidInput as exc:
        notes.append(f"value tiers not computed: {exc.message}")
        return pl.DataFrame(schema={"customer_id": pl.Int64})
    run.tier_policy_id = policy.id
    params["tiers"] = {"policy_version": policy.id, "weights": model.weights_, "cuts": model.cuts_}
    return tiers.select("customer_id", "tier", "value_score")


def record_changes(session: Session, run: ScoreRun, indicators: pl.DataFrame, tiers: pl.DataFrame) -> int:
    """Store the tier moves since the previous completed run; the number of moves."""
    previous = repo.previous_completed_run(session, run)
    if previous is None or "tier" not in tiers.columns or tiers.is_empty():
        return 0
    moved = (
        repo.tiers_of_run(session, previous.id)
        .rename({"tier": "from_tier", "value_score": "from_score"})
        .join(tiers.rename({"tier": "to_tier", "value_score": "to_score"}), on="customer_id")
        .filter(pl.col("from_tier") != pl.col("to_tier"))
    )
    if moved.is_empty():
        return 0
    cause = pl.lit("score")
    if previous.tier_policy_id is not None and previous.tier_policy_id != run.tier_policy_id:
        old = repo.get_tier_policy(session, previous.tier_policy_id)
        if old is not None and all(k in indicators.columns for k in _model(old).indicators):
            under_old = (
                _model(old)
                .transform(indicators.join(moved.select("customer_id"), on="customer_id"))
                .select("customer_id", pl.col("tier").alias("old_policy_tier"))
            )
            moved = moved.join(under_old, on="customer_id", how="left")
            cause = (
                pl.when(pl.col("old_policy_tier") == pl.col("from_tier"))
                .then(pl.lit("recalibration"))
                .otherwise(pl.lit("score"))
            )
    frame = moved.select(
        pl.lit(run.id, dtype=pl.Int64).alias("run_id"),
        pl.lit(previous.id, dtype=pl.Int64).alias("previous_run_id"),
        "customer_id",
        "from_tier",
        "to_tier",
        "from_score",
        "to_score",
        pl.lit(run.tier_policy_id, dtype=pl.Int64).alias("policy_id"),
        pl.lit(previous.tier_policy_id, dtype=pl.Int64).alias("previous_policy_id"),
        cause.alias("cause"),
    ).sort("customer_id")
    repo.insert_tier_changes(session, frame)
    return frame.height


def recalibrate(
    session: Session, *, actor: str, reason: str = "manual", weights: dict[str, float] | None = None
) -> TierPolicy:
    """Fit a new policy version on the latest completed run (keeping the current weights unless
    new ones are given). The next scoring run applies it."""
    if reason not in REASONS:
        raise InvalidInput(f"unknown recalibration reason {reason!r}", code="tiers_bad_reason")
    runs = repo.latest_completed_runs(session, 1)
    if not runs:
        raise NotFound(
            "no completed scoring run to recalibrate tiers on; run `patron analyze` first",
            code="score_run_not_found",
        )
    run = runs[0]
    current = repo.current_tier_policy(session)
    chosen = weights or (current.weights if current is not None else TIER_WEIGHTS)
    unknown = sorted(set(chosen) - set(TIER_WEIGHTS))
    if unknown:
        raise InvalidInput(
            f"unknown tier indicator(s) {unknown}; known: {', '.join(TIER_WEIGHTS)}",
            code="tiers_unknown_indicator",
        )
    indicators = repo.tier_indicators(session, run.id)
    if "clv" in chosen and indicators["clv"].null_count():
        # The run could not fit CLV for everyone: tier without it rather than on gaps.
        indicators = indicators.drop("clv")
    model = _fit(indicators, dict(chosen))
    return repo.add_tier_policy(
        session,
        TierPolicy(
            reason=reason,
            actor=actor,
            as_of=run.as_of,
            fitted_on_run_id=run.id,
            customers=model.n_customers_,
            weights=dict(chosen),
            model=model.to_dict(),
        ),
    )


def policies(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The policy versions, newest first, with their weights and cuts."""
    out = []
    for p in repo.tier_policies(session, limit):
        model = _model(p)
        out.append(
            {
                "version": p.id,
                "reason": p.reason,
                "actor": p.actor,
                "as_of": p.as_of,
                "customers": p.customers,
                "created_at": p.created_at,
                "weights": model.weights_,  # normalised, as applied
                "requested_weights": p.weights,
                "cuts": dict(zip([name for name, _ in model.tiers[:-1]], model.cuts_, strict=True)),
            }
        )
    return out


def changes(
    session: Session, *, customer_id: int | None = None, run_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Tier moves, newest first, each with the as-of dates it spans."""
    return [
        {
            "run_id": c.run_id,
            "as_of": r.as_of,
            "customer_id": c.customer_id,
            "from_tier": c.from_tier,
            "to_tier": c.to_tier,
            "from_score": c.from_score,
            "to_score": c.to_score,
            "policy_version": c.policy_id,
            "previous_policy_version": c.previous_policy_id,
            "cause": c.cause,
        }
        for c, r in repo.tier_changes(session, customer_id=customer_id, run_id=run_id, limit=limit)
    ]
