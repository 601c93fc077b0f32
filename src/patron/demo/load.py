"""Load a generated demo shop through the real importers, exactly as a user's exports would be."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from patron.accounts import service as accounts
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.ingest.service import Summary
from patron.ingest.tasks import ImportRequest, Progress, run_import

DEMO_ADMIN = ("admin@patron.local", "patron-demo")
# Rates for the demo's cross-border shop; real deployments maintain their own (patron fx set).
DEMO_RATES = {"USD": "7.1", "EUR": "7.7", "JPY": "0.048"}


def load(
    directory: Path,
    engine: Engine,
    *,
    progress: Callable[[str], Progress | None] | None = None,
    reporting_currency: str = "CNY",
) -> list[Summary]:
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    with session_scope(engine) as s:
        existing = {shop.code for shop in commerce.list_shops(s)}
        for shop in manifest["shops"]:
            if shop["code"] not in existing:
                commerce.create_shop(
                    s,
                    code=shop["code"],
                    name=shop["name"],
                    name_zh=shop.get("name_zh"),
                    platform=shop["platform"],
                    currency=shop["currency"],
                    timezone=shop["timezone"],
                )
        for currency, rate in DEMO_RATES.items():
            commerce.set_fx_rate(s, currency, reporting_currency, date(2020, 1, 1), rate)
        if accounts.user_by_email(s, DEMO_ADMIN[0]) is None:
            accounts.create_user(
                s, email=DEMO_ADMIN[0], name="Demo admin", password=DEMO_ADMIN[1], role="admin"
            )
    summaries = []
    for f in manifest["files"]:
        req = ImportRequest(
            kind=f["kind"],
            path=directory / f["path"],
            mapping=f.get("mapping"),
            shop=f.get("shop") or None,
            actor="demo",
        )
        summaries.append(run_import(req, engine=engine, progress=progress(f["path"]) if progress else None))
    return summaries
