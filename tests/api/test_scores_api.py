"""The scoring endpoints: who may run an analysis, and the scores it leaves per customer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows, write_csv
from patron.api.app import create_app
from patron.core.settings import Settings
from patron.ingest.tasks import ImportRequest, run_import

HEADER = ["order_id", "customer_external_id", "status", "placed_at", "sku", "quantity", "unit_price"]
ROWS = [
    ["O1", "c1", "completed", "2024-01-05 10:00", "S", 1, "30.00"],
    ["O2", "c1", "completed", "2024-02-04 10:00", "S", 1, "40.00"],
    ["O3", "c2", "completed", "2024-02-10 10:00", "S", 1, "25.00"],
    ["O4", "c3", "pending", "2024-02-11 10:00", "S", 1, "99.00"],  # not a purchase
]


@pytest.fixture
def client(engine: Engine, shops: object, tmp_path: Path) -> Iterator[TestClient]:
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)
    with TestClient(app) as c:
        yield c


key = api_key


def test_analyst_runs_an_analysis_and_reads_scores(client: TestClient, engine: Engine) -> None:
    h = key(engine, "analyst", ["customers:read", "analytics:run"])
    r = client.post("/api/v1/analyze", json={"as_of": "2024-03-01"}, headers=h)
    assert r.status_code == 201, r.text
    run = r.json()
    assert (run["as_of"], run["status"], run["customers"]) == ("2024-03-01", "completed", 3)
    # Three orders cannot fit the purchase model: the run still scores, and says why.
    assert run["params"]["notes"][0].startswith("purchase and spend models not fitted")
    (cid,) = table_rows(engine, "SELECT customer_id FROM identities WHERE value = 'c1'")[0]
    r = client.get(f"/api/v1/customers/{cid}/scores?lang=zh", headers=h)
    assert r.status_code == 200
    (score,) = r.json()
    assert (score["orders"], score["spent_minor"], score["days_since_last"], score["typical_gap_days"]) == (
        2,
        7000,
        26,
        30.0,
    )
    assert score["clv_minor"] is None
    assert score["churn_risk"] is None
    assert (
        run["params"]["notes"][1]
        == "churn model not trained: no customer bought on or before the cutoff 2023-12-02"
    )
    assert score["explanation"].startswith("最近一次下单在 26 天前")
    assert [x["id"] for x in client.get("/api/v1/score-runs", headers=h).json()] == [run["id"]]


def test_running_an_analysis_needs_the_scope(client: TestClient, engine: Engine) -> None:
    h = key(engine, "read_only", ["customers:read"])
    r = client.post("/api/v1/analyze", json={}, headers=h)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
    assert table_rows(engine, "SELECT count(*) FROM score_runs") == [(0,)]
    r = client.get("/api/v1/customers/1/scores?lang=fr", headers=h)
    assert r.status_code == 422
