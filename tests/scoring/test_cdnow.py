"""The CDNOW sample log imported through the real importer and summarised by the scoring run
gives the published BG/NBD and Gamma-Gamma estimates: the conventions are proven end to end."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from conftest import write_csv
from patron.core.db import session_scope
from patron.ingest.tasks import ImportRequest, run_import
from patron.scoring import service


def test_cdnow_through_the_importer(
    engine: Engine, shops: object, cdnow_log: pl.DataFrame, tmp_path: Path
) -> None:
    rows = [
        [f"T{i}", f"cdnow-{cid}", "completed", f"{day:%Y-%m-%d} 12:00:00", f"{amount:.2f}"]
        for i, (cid, day, amount) in enumerate(cdnow_log.iter_rows())
    ]
    path = write_csv(
        tmp_path / "cdnow.csv",
        ["order_id", "customer_external_id", "status", "placed_at", "order_total"],
        rows,
    )
    summary = run_import(ImportRequest(kind="orders", path=path, shop="shopify"), engine=engine)
    assert (summary.inserted, summary.quarantined) == (6919, 0)
    with session_scope(engine) as s:
        run = service.analyze(s, as_of=date(1997, 9, 30), currency="USD", actor="test")
        params, customers = run.params, run.customers
    assert customers == 2357
    assert params["penalizer"] == 0.0
    bg, gg = params["bgnbd"], params["gamma_gamma"]
    # The run works in days: r, a and b do not depend on the unit, alpha is 7x the weekly one.
    assert (bg["r"], bg["alpha"] / 7, bg["a"], bg["b"]) == (
        pytest.approx(0.2426, abs=1e-3),
        pytest.approx(4.4135, abs=1e-3),
        pytest.approx(0.7929, abs=1e-3),
        pytest.approx(2.4258, abs=1e-3),
    )
    # Spend in cents: p and q are unit-free, gamma scales by 100.
    assert (gg["p"], gg["q"], gg["v"] / 100) == (
        pytest.approx(6.25, abs=1e-2),
        pytest.approx(3.74, abs=1e-2),
        pytest.approx(15.44, abs=1e-2),
    )
