"""The ASGI application factory: REST API under /api/v1, web pages everywhere else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from patron.api import errors
from patron.commerce.endpoints import router as shops_router
from patron.core.db import get_engine
from patron.core.settings import Settings, get_settings
from patron.customers.endpoints import router as customers_router
from patron.desk.endpoints import router as desk_router
from patron.ingest.endpoints import router as imports_router
from patron.loyalty.endpoints import router as loyalty_router
from patron.scoring.endpoints import router as scores_router
from patron.web.desk import router as desk_pages_router
from patron.web.loyalty import router as loyalty_pages_router
from patron.web.pages import router as pages_router

WEB = Path(__file__).resolve().parent.parent / "web"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything imported and built at start-up lives as long as the process: moving it out of
    # the collector's generations keeps full collections (latency spikes under load) short.
    gc.collect()
    gc.freeze()
    yield


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="Patron API",
        version="0.1.0",
        description="Customer profiles, imports and the customer 360 of Patron. Authenticate with "
        "`Authorization: Bearer ptn_…` (API keys carry scopes) or a browser session.",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.resolved_database_url())
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie="patron_session",
        same_site="lax",
        https_only=False,
        max_age=12 * 3600,
    )
    errors.install(app)
    app.include_router(customers_router)
    app.include_router(desk_router)
    app.include_router(loyalty_router)
    app.include_router(imports_router)
    app.include_router(scores_router)
    app.include_router(shops_router)
    app.include_router(pages_router)
    app.include_router(desk_pages_router)
    app.include_router(loyalty_pages_router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    return app
