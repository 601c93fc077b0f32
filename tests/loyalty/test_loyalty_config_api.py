"""A program's configuration over the API on both databases: earning rules added (checked with
the program's other rules), listed and switched off; tiers set (checked whole), then members
placed by the queued job; a key without ``loyalty:admin`` changes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from test_concurrency import Live, live
from test_ledger import members, run
from test_membership import TIERS

from conftest import api_key, run_jobs, table_rows
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.core.time import utcnow
from patron.loyalty import service

__all__ = ["live", "members"]
RULES = "/api/v1/loyalty/programs/lenient/rules"
TIERS_URL = "/api/v1/loyalty/programs/lenient/tiers"


def test_rules_are_added_listed_and_switched_off(live: Live) -> None:
    with httpx.Client(base_url=live.url, headers=live.headers) as http:
        made = http.post(RULES, json={"name": "standard", "kind": "spend", "points": 1, "position": 2})
        assert made.status_code == 201
        rule = made.json()
        assert (rule["name"], rule["per_minor"], rule["cap_period"], rule["active"]) == (
            "standard",
            100,
            "month",
            True,
        )
        twin = http.post(RULES, json={"name": "standard", "kind": "spend", "points": 2})
        assert twin.status_code == 400
        assert twin.json()["error"] == "loyalty_bad_rule"
        bad = http.post(RULES, json={"name": "signup", "kind": "dance", "points": 5})
        assert (bad.status_code, bad.json()["error"]) == (400, "loyalty_bad_rule")
        off = http.put(f"{RULES}/{rule['id']}/state", json={"active": False})
        assert (off.status_code, off.json()["active"]) == (200, False)
        assert [(r["name"], r["active"]) for r in http.get(RULES).json()] == [("standard", False)]
        assert (
            http.put(f"{RULES}/999/state", json={"active": True}).json()["error"] == "loyalty_rule_not_found"
        )


def test_tiers_are_set_and_members_placed_by_the_job(live: Live, engine: Engine) -> None:
    run(live.engine, "earn", live.ada, 1200, source="review", program="lenient", key="e1", now=utcnow())
    with httpx.Client(base_url=live.url, headers=live.headers) as http:
        assert http.get(TIERS_URL).json() is None
        bad = http.put(TIERS_URL, json={**TIERS, "tiers": TIERS["tiers"][1:]})
        assert (bad.status_code, bad.json()["error"]) == (400, "loyalty_bad_tiers")
        assert "exactly one tier must have threshold 0" in bad.json()["detail"]
        done = http.put(TIERS_URL, json=TIERS)
        assert done.status_code == 200
        assert done.json()["basis"] == "growth"
        assert [t["code"] for t in http.get(TIERS_URL).json()["tiers"]] == ["member", "silver", "gold"]
    assert (
        table_rows(engine, "SELECT name, args FROM jobs WHERE name = 'loyalty.tiers'")[0][0]
        == "loyalty.tiers"
    )
    assert table_rows(engine, "SELECT COUNT(*) FROM tier_moves") == [(0,)]
    assert run_jobs(engine) == 1
    assert table_rows(engine, "SELECT to_tier, reason, value FROM tier_moves") == [("silver", "joined", 1200)]
    assert run_jobs(engine) == 0


def test_a_reader_cannot_change_the_configuration(live: Live, engine: Engine) -> None:
    reader = api_key(engine, "read_only", ["loyalty:read"])
    with httpx.Client(base_url=live.url, headers=reader) as http:
        assert http.post(RULES, json={"name": "standard", "kind": "spend", "points": 1}).status_code == 403
        assert http.put(TIERS_URL, json=TIERS).status_code == 403
        assert http.get(RULES).json() == []
    assert table_rows(engine, "SELECT COUNT(*) FROM jobs") == [(0,)]
    assert table_rows(engine, "SELECT tier_policy FROM loyalty_programs WHERE code = 'lenient'") == [(None,)]


def test_a_customer_s_benefits_for_a_checkout(live: Live, engine: Engine) -> None:
    tiers = {**TIERS, "tiers": [{**t, "benefits": {"free_shipping": True, "discount_rate": 5}}
                                if t["code"] == "silver" else t for t in TIERS["tiers"]]}  # fmt: skip
    run(live.engine, "earn", live.ada, 1200, source="review", program="lenient", key="e1", now=utcnow())
    with httpx.Client(base_url=live.url, headers=live.headers) as http:
        url = f"/api/v1/loyalty/customers/{live.ada}/benefits"
        assert http.get(url).json() == {"customer_id": live.ada, "benefits": {}}  # no tiers yet
        assert http.put(TIERS_URL, json=tiers).status_code == 200
        run_jobs(engine)  # Ada is placed: silver
        assert http.get(url).json()["benefits"] == {"discount_rate": 5, "free_shipping": True}
        assert http.get("/api/v1/loyalty/customers/999999/benefits").status_code == 404


def test_a_program_is_renamed_switched_off_and_keeps_what_it_means(live: Live, engine: Engine) -> None:
    with httpx.Client(base_url=live.url, headers=live.headers) as http:
        done = http.patch("/api/v1/loyalty/programs/lenient", json={"name": "Lenient II", "active": False})
        assert (done.status_code, done.json()["name"], done.json()["active"]) == (200, "Lenient II", False)
        fixed = http.patch("/api/v1/loyalty/programs/lenient", json={"currency": "USD"})
        assert fixed.status_code == 422
        bad = http.patch("/api/v1/loyalty/programs/lenient", json={"lock_days": -1})
        assert bad.status_code == 422
        assert http.patch("/api/v1/loyalty/programs/nope", json={"name": "x"}).status_code == 404
    reader = api_key(engine, "read_only", ["loyalty:read"])
    with httpx.Client(base_url=live.url, headers=reader) as http:
        assert http.patch("/api/v1/loyalty/programs/lenient", json={"active": True}).status_code == 403
    assert table_rows(engine, "SELECT name, active, currency, lock_days FROM loyalty_programs "
                              "WHERE code = 'lenient'") == [("Lenient II", False, "CNY", 7)]  # fmt: skip
    with session_scope(engine) as s, pytest.raises(InvalidInput) as err:  # the service guards too
        service.update_program(s, "lenient", {"timezone": "UTC"})
    assert (err.value.code, err.value.message) == (
        "loyalty_program_fixed",
        "cannot change timezone of a program",
    )
