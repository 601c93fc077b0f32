"""The request's transaction commits before its response leaves (on both databases): a client
that reads right after a success (a browser following a POST's redirect) sees the change, and a
failed commit can never follow a success already sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows
from patron.api.app import create_app
from patron.core.settings import Settings


def test_the_change_is_committed_when_the_response_starts(engine: Engine, tmp_path: Path) -> None:
    app = create_app(Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32), engine=engine)  # type: ignore[arg-type]
    seen: list[object] = []

    async def watch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":  # what another connection sees right now
                seen.append(table_rows(engine, "SELECT COUNT(*) FROM loyalty_programs")[0][0])
            await send(message)

        await app(scope, receive, sending)

    client = TestClient(watch)  # type: ignore[arg-type]
    headers = api_key(engine, "admin", ["loyalty:admin"])
    r = client.post("/api/v1/loyalty/programs", json={"code": "club", "name": "Club"}, headers=headers)
    assert r.status_code == 201
    assert seen == [1]
