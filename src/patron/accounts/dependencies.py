"""Who is asking: an API key (``Authorization: Bearer ptn_…``) or the browser session's user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from patron.accounts import service as accounts
from patron.accounts.service import Principal
from patron.core.db import session_scope
from patron.core.deps import DB
from patron.core.errors import NotAuthenticated

T = TypeVar("T")


def principal(request: Request, session: DB) -> Principal:
    """Who is asking; kept on ``request.state.principal`` for the page templates (what the
    navigation shows), so they never look the user up again."""
    request.state.principal = _principal(request, session)
    return request.state.principal  # type: ignore[no-any-return]


def _principal(request: Request, session: DB) -> Principal:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return accounts.principal_from_key(session, header[7:].strip())
    user_id = request.session.get("user_id") if "session" in request.scope else None
    if user_id is not None:
        user = accounts.get_user(session, int(user_id))
        if user is not None:
            return accounts.principal_for(user)
    raise NotAuthenticated("log in or send an API key (Authorization: Bearer ptn_…)")


Auth = Annotated[Principal, Depends(principal)]


async def in_one_thread(request: Request, fn: Callable[[Session, Principal], T]) -> T:
    """Open the unit of work, authenticate and run ``fn`` in a single worker-thread hop.

    Sync dependencies cost a thread hop each (session enter, principal, handler, session exit);
    on a busy two-core server those hops are most of a fast read's latency, so the hottest read
    endpoints (the customer 360, search) run everything in one.
    """

    def work() -> T:
        with session_scope(request.app.state.engine) as session:
            return fn(session, principal(request, session))

    return await run_in_threadpool(work)
