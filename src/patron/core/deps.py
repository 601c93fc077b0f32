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


DB = Annotated[Session, Depends(db_session)]
