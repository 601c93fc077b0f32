"""Who is asking: an API key (``Authorization: Bearer ptn_…``) or the browser session's user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from patron.accounts import service as accounts
from patron.accounts.service import Principal
from patron.core.deps import DB
from patron.core.errors import NotAuthenticated


def principal(request: Request, session: DB) -> Principal:
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
