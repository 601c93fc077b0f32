"""The request-scoped unit of work, shared by every domain's endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from patron.core.db import session_scope


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed when the handler returns without error."""
    with session_scope(request.app.state.engine) as session:
        yield session


# ``scope="function"``: the transaction commits when the handler returns, *before* the response
# is sent. FastAPI's default ("request") ends a yield dependency after the response went out, so
# a client (a browser following a POST's redirect) could read the page before the change had
# committed, and a failed commit would follow a success already sent.
DB = Annotated[Session, Depends(db_session, scope="function")]
