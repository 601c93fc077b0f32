"""The one exception handler: every PatronError becomes ``{"error", "detail", "data"}``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from patron.core.errors import NotAuthenticated, PatronError


def install(app: FastAPI) -> None:
    @app.exception_handler(PatronError)
    async def patron_error(request: Request, exc: PatronError) -> Response:
        if not request.url.path.startswith("/api/"):
            if isinstance(exc, NotAuthenticated):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
            from patron.web.pages import render_error

            return render_error(request, exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(
            {
                "error": "validation_error",
                "detail": "the request is not valid",
                "data": {"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
            },
            status_code=422,
        )
