"""Value tiers under versioned policies on SQLite and PostgreSQL: runs apply the policy in force,
recalibration adds a version, and every tier move is stored with its cause."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from test_scoring import OTHERS, analyze, scored  # noqa: F401 - the fixture is used by name

from conftest import table_rows
from patron.core import jobs
from patron.core.db import session_scope
from patron.core.errors import InvalidInput, NotFound
from patron.core.settings import Settings
from patron.scoring import service, tiering
from patron.worker import runner

ORDER = {"high_value": 0, "potential": 1, "general": 2, "low_value": 3}
BUYERS = 2 + OTHERS  # c1, u1 and the others


def moves_by_sql(engine: Engine, before: int, after: int) -> set[tuple[int, str, str]]:
    rows = table_rows(
        engine,
        "SELECT a.customer_id, a.tier, b.tier FROM customer_scores a JOIN customer_scores b "
        f"ON a.customer_id = b.customer_id WHERE a.run_id = {before} AND b.run_id = {after} "
        "AND a.tier <> b.tier",
    )
    return {(int(c), str(f), str(t)) for c, f, t in rows}  # type: ignore[call-overload]


def stored_moves(engine: Engine, run_id: int) -> list[tuple[int, str, str, str, int, int]]:
    return [
        (int(c), str(f), str(t), str(cause), int(p), int(pp))  # type: ignore[call-overload]
        for c, f, t, cause, p, pp in table_rows(
            engine,
            "SELECT customer_id, from_tier, to_tier, cause, policy_id, previous_policy_id FROM tier_changes "
            f"WHERE run_id = {run_id} ORDER BY customer_id",
        )
    ]


def test_runs_apply_the_policy_in_force_and_store_every_move(scored: Engine) -> None:  # noqa: F811
    first = analyze(scored, date(2024, 6, 30))
    assert table_rows(
        scored, "SELECT id, reason, actor, CAST(as_of AS VARCHAR(10)), customers FROM tier_policies"
    ) == [(1, "initial", "test", "2024-06-30", BUYERS)]
    # Nobody buys for three months: under the fixed policy every buyer's recency rank falls, so
    # customers move down (a refit on the aged population would have hidden that).
    second = analyze(scored, date(2024, 9, 30))
    with session_scope(scored) as s:
        assert service.get_run(s, second).tier_policy_id == 1
        assert service.get_run(s, second).params["tiers"]["policy_version"] == 1
        assert service.get_run(s, second).params["tier_moves"] == len(moves_by_sql(scored, first, second))
    moves = stored_moves(scored, second)
    assert moves
    assert {(c, f, t) for c, f, t, *_ in moves} == moves_by_sql(scored, first, second)
    assert all(ORDER[t] > ORDER[f] for _, f, t, *_ in moves)
    assert {(cause, p, pp) for *_, cause, p, pp in moves} == {("score", 1, 1)}
    assert table_rows(scored, f"SELECT count(*) FROM tier_changes WHERE run_id = {first}") == [(0,)]

    # A recalibration fits version 2 on the aged population; the next run moves customers back
    # up, and says the thresholds, not the customers, changed.
    with session_scope(scored) as s:
        policy = tiering.recalibrate(s, actor="analyst@shop", reason="manual")
        assert (policy.id, policy.fitted_on_run_id, policy.customers) == (2, second, BUYERS)
    third = analyze(scored, date(2024, 10, 1))
    moves = stored_moves(scored, third)
    assert {(c, f, t) for c, f, t, *_ in moves} == moves_by_sql(scored, second, third)
    recalibrated = [m for m in moves if m[3] == "recalibration"]
    assert recalibrated
    assert all(ORDER[t] < ORDER[f] for _, f, t, *_ in recalibrated)
    assert {(p, pp) for *_, p, pp in moves} == {(2, 1)}
    with session_scope(scored) as s:
        history = tiering.changes(s, customer_id=recalibrated[0][0])
        assert (history[0]["as_of"], history[0]["cause"]) == (date(2024, 10, 1), "recalibration")
        versions = tiering.policies(s)
        assert [(v["version"], v["reason"]) for v in versions] == [(2, "manual"), (1, "initial")]
        assert set(versions[0]["cuts"]) == {"high_value", "potential", "general"}
        assert sum(versions[0]["weights"].values()) == pytest.approx(1.0)


def test_recalibration_refuses_bad_input_and_writes_nothing(scored: Engine) -> None:  # noqa: F811
    with session_scope(scored) as s, pytest.raises(NotFound, match="run `patron analyze` first"):
        tiering.recalibrate(s, actor="a")
    analyze(scored, date(2024, 6, 30))
    with session_scope(scored) as s:
        with pytest.raises(InvalidInput, match=r"unknown tier indicator\(s\) \['likes'\]"):
            tiering.recalibrate(s, actor="a", weights={"likes": 1.0})
        with pytest.raises(InvalidInput, match="unknown recalibration reason"):
            tiering.recalibrate(s, actor="a", reason="whim")
    assert table_rows(scored, "SELECT count(*) FROM tier_policies") == [(1,)]
    # New weights are honoured (orders alone), and kept by the next recalibration.
    with session_scope(scored) as s:
        assert tiering.policies(s)[0]["requested_weights"] == tiering.TIER_WEIGHTS
        policy = tiering.recalibrate(s, actor="a", weights={"orders": 1.0})
        assert policy.id == 2
        assert tiering.policies(s)[0]["weights"] == {"orders": 1.0}
        tiering.recalibrate(s, actor="a")
        assert [p["requested_weights"] for p in tiering.policies(s)] == [
            {"orders": 1.0},
            {"orders": 1.0},
            tiering.TIER_WEIGHTS,
        ]


def test_the_quarterly_job_recalibrates_then_scores_again(scored: Engine) -> None:  # noqa: F811
    runner.load_jobs()
    off = Settings(schedules=dict.fromkeys(jobs.JOBS, "off"))
    with session_scope(scored) as s:
        jobs.enqueue(s, "scoring.recalibrate")
    tally = runner.drain(scored, off, "w")
    # No scoring run yet: the job is done and says so, it does not fail.
    assert len(tally.done) == 1
    assert tally.failed == []
    assert table_rows(scored, "SELECT result FROM jobs")[0][0] in (
        {"skipped": "no completed scoring run yet"},
        '{"skipped": "no completed scoring run yet"}',
    )
    with session_scope(scored) as s:
        jobs.enqueue(s, "scoring.analyze", {"as_of": "2024-06-30"})
        jobs.enqueue(s, "scoring.recalibrate")
    tally = runner.drain(scored, off, "w")
    assert len(tally.done) == 3  # analyze, recalibrate, and the analyze it queued
    assert table_rows(scored, "SELECT id, reason, actor FROM tier_policies ORDER BY id") == [
        (1, "initial", "scheduler"),
        (2, "scheduled", "scheduler"),
    ]
    assert table_rows(scored, "SELECT tier_policy_id FROM score_runs ORDER BY id") == [(1,), (2,)]
    with session_scope(scored) as s, pytest.raises(InvalidInput, match="as_of must be a date"):
        runner.load_jobs()["scoring.analyze"].handler(s, as_of="30/06/2024")
