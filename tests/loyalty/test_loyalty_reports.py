"""Loyalty reports on both databases, by hand: the liability and the points issued, redeemed,
expired, clawed back and adjusted per local month, the redemption rate, the members by tier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from test_ledger import T0, members, run, settle

from conftest import api_key
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.loyalty import reports

__all__ = ["members"]
MARCH = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 1 March 00:00 in Shanghai
MAY = datetime(2026, 4, 30, 16, tzinfo=UTC)


@pytest.fixture
def activity(engine: Engine, members: dict[str, int]) -> dict[str, int]:
    ada, bob = members["Ada"], members["Bob"]
    run(engine, "earn", ada, 120, source="order", source_ref="A1", key="a1")  # locked 7 days
    run(engine, "earn", ada, 50, source="review", key="rv")
    run(engine, "redeem", ada, 30, key="gift", now=T0 + timedelta(days=8))  # unlocks A1 first
    run(engine, "clawback", ada, 20, order_ref="A1", key="refund", now=T0 + timedelta(days=9))
    run(engine, "adjust", bob, 15, reason="goodwill", actor="user:1", key="adj", now=T0 + timedelta(days=35))
    settle(engine, T0 + timedelta(days=40))  # Ada's 120 left expire on 1 April's end
    return members


def test_the_report_by_hand(engine: Engine, activity: dict[str, int]) -> None:
    with session_scope(engine) as s:
        r = reports.report(s, "club", start=MARCH, end=MAY, reporting_currency="CNY")
    assert (r.members, r.active, r.locked, r.debt) == (2, 15, 0, 0)
    assert (r.liability_minor, r.currency, r.liability_reporting_minor) == (15, "CNY", 15)
    months = [(m.month, m.issued, m.redeemed, m.expired, m.clawed, m.adjusted) for m in r.months]
    assert months == [("2026-03", 170, 30, 0, 20, 0), ("2026-04", 0, 0, 120, 0, 15)]
    assert r.months[0].redemption_rate == pytest.approx(30 / 170)
    assert r.months[1].redemption_rate is None
    assert (r.tiers, r.tier_moves) == ({}, {})
    with session_scope(engine) as s:  # no rate into USD: the money figure is unknown, not guessed
        assert (
            reports.report(
                s, "club", start=MARCH, end=MAY, reporting_currency="USD"
            ).liability_reporting_minor
            is None
        )


def test_the_report_over_the_api(engine: Engine, activity: dict[str, int], tmp_path: Path) -> None:
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)  # type: ignore[arg-type]
    client = TestClient(app)
    reader = api_key(engine, "read_only", ["loyalty:read"])
    r = client.get("/api/v1/loyalty/programs/club/report?start=2026-03-01&end=2026-05-01", headers=reader)
    assert r.status_code == 200
    body = r.json()
    assert (body["liability_minor"], body["months"][0]["issued"], body["months"][1]["expired"]) == (
        15,
        170,
        120,
    )
    bad = client.get("/api/v1/loyalty/programs/club/report?start=2026-05-01&end=2026-03-01", headers=reader)
    assert (bad.status_code, bad.json()["error"]) == (400, "loyalty_bad_period")
    nobody = api_key(engine, "marketer", ["customers:read"])
    assert client.get("/api/v1/loyalty/programs/club/report", headers=nobody).status_code == 403
