"""The loyalty pages' forms refuse what the API refuses, on both databases: every bad value gives
the page again with the reason (4xx), never a server error, and saves nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from test_pages import web

from conftest import table_rows

__all__ = ["web"]
PROGRAM = {"code": "club", "name": "Club", "currency": "CNY", "point_value": "0.01", "timezone": "Asia/Shanghai",
           "lock_days": "7", "expiry_rule": "end_of_next_year", "expiry_days": "", "debt_rule": "offset"}  # fmt: skip
REWARD = {"reward_code": "C10", "name_en": "10 off", "name_zh": "10元券", "kind": "coupon", "cost_points": "100",
          "value": "10", "stock": "", "limit": ""}  # fmt: skip
RULE = {"name": "standard", "kind": "spend", "points": "1", "per_minor": "", "position": "1", "velocity_hours": "24",
        "cap_period": "month"}  # fmt: skip


@pytest.fixture
def club(web: TestClient) -> TestClient:
    assert web.post("/loyalty", data=PROGRAM, follow_redirects=False).status_code == 303
    return web


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"lock_days": "-1"}, "form_invalid"),
        ({"expiry_days": "99999999"}, "form_invalid"),
        ({"code": "c" * 51}, "form_invalid"),
        ({"code": "a/b?c"}, "form_invalid"),
        ({"name": "n" * 201}, "form_invalid"),
        ({"point_value": "99999999999"}, "form_invalid"),
        ({"lock_days": "seven"}, "form_not_a_number"),
        ({"timezone": "Mars/Olympus"}, "bad_timezone"),
    ],
)
def test_a_bad_program_form(web: TestClient, engine: Engine, change: dict[str, str], code: str) -> None:
    page = web.post("/loyalty", data={**PROGRAM, **change})
    assert 400 <= page.status_code < 500
    assert f"<code>{code}</code>" in page.text
    assert table_rows(engine, "SELECT COUNT(*) FROM loyalty_programs") == [(0,)]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"stock": "-1"}, "form_invalid"),
        ({"limit": "-1"}, "form_invalid"),
        ({"value": "-5"}, "form_invalid"),
        ({"cost_points": "99999999999"}, "form_invalid"),
        ({"reward_code": "R" * 51}, "form_invalid"),
        ({"kind": "cash"}, "reward_bad_kind"),
    ],
)
def test_a_bad_reward_form(club: TestClient, engine: Engine, change: dict[str, str], code: str) -> None:
    page = club.post("/loyalty/club/rewards", data={**REWARD, **change})
    assert 400 <= page.status_code < 500
    assert f"<code>{code}</code>" in page.text
    assert table_rows(engine, "SELECT COUNT(*) FROM loyalty_rewards") == [(0,)]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"points": "99999999999"}, "form_invalid"),
        ({"position": "99999999999"}, "form_invalid"),
        ({"velocity": "2", "velocity_hours": "9999999999"}, "form_invalid"),
        ({"name": "r" * 101}, "form_invalid"),
        ({"multipliers": "gold=x"}, "loyalty_bad_rule"),
        ({"kind": "dance"}, "loyalty_bad_rule"),
    ],
)
def test_a_bad_rule_form(club: TestClient, engine: Engine, change: dict[str, str], code: str) -> None:
    page = club.post("/loyalty/club/rules", data={**RULE, **change})
    assert 400 <= page.status_code < 500
    assert f"<code>{code}</code>" in page.text
    assert table_rows(engine, "SELECT COUNT(*) FROM loyalty_rules") == [(0,)]


def test_a_report_far_out_of_range_and_an_unknown_program(club: TestClient) -> None:
    for query in ("start=0001-01-01", "end=0001-01-01", "end=9999-12-31"):
        page = club.get(f"/loyalty/club?{query}")
        assert page.status_code == 400
        assert "loyalty_bad_period" in page.text
    assert club.get("/loyalty/nope").status_code == 404
    assert club.get("/loyalty/club?tab=whatever").status_code == 200  # an unknown tab shows the report


def test_good_forms_save(club: TestClient, engine: Engine) -> None:
    assert club.post("/loyalty/club/rewards", data=REWARD, follow_redirects=False).status_code == 303
    assert club.post("/loyalty/club/rules", data=RULE, follow_redirects=False).status_code == 303
    assert table_rows(engine, "SELECT code, cost_points, value_minor FROM loyalty_rewards") == [
        ("C10", 100, 1000)
    ]
    assert table_rows(engine, "SELECT name, points, per_minor FROM loyalty_rules") == [("standard", 1, 100)]


def test_a_program_s_settings(club: TestClient, engine: Engine) -> None:
    page = club.get("/loyalty/club?tab=settings")
    assert page.status_code == 200
    assert 'id="settings-active" checked' in page.text
    settings = {"name": "Club Plus", "point_value": "0.02", "lock_days": "14", "debt_rule": "write_off"}
    assert club.post("/loyalty/club/settings", data=settings, follow_redirects=False).status_code == 303
    row = "SELECT name, active, point_value_minor, lock_days, debt_rule FROM loyalty_programs"
    assert table_rows(engine, row) == [("Club Plus", False, 2, 14, "write_off")]  # unticked: switched off
    bad = club.post("/loyalty/club/settings", data={**settings, "lock_days": "400", "active": "on"})
    assert bad.status_code == 400
    assert "<code>form_invalid</code>" in bad.text
    assert table_rows(engine, row) == [("Club Plus", False, 2, 14, "write_off")]
