"""REST endpoints of the scoring domain: run an analysis, read runs and a customer's scores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from patron.accounts.dependencies import Auth
from patron.core.deps import DB
from patron.scoring import service
from patron.scoring.schemas import AnalyzeRequest, CustomerScoreOut, ScoreRunOut

router = APIRouter(prefix="/api/v1", tags=["scores"])


@router.post("/analyze", response_model=ScoreRunOut, status_code=201)
def analyze(body: AnalyzeRequest, request: Request, session: DB, who: Auth) -> ScoreRunOut:
    """Score every customer as of a date (default today): segments, tiers, lifecycle, CLV."""
    who.require("analytics:run")
    run = service.analyze(
        session, as_of=body.as_of, currency=request.app.state.settings.reporting_currency, actor=who.actor
    )
    return ScoreRunOut.model_validate(run)


@router.get("/score-runs", response_model=list[ScoreRunOut])
def list_runs(session: DB, who: Auth, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[ScoreRunOut]:
    who.require("customers:read")
    return [ScoreRunOut.model_validate(r) for r in service.latest_runs(session, limit)]


@router.get("/customers/{customer_id}/scores", response_model=list[CustomerScoreOut])
def customer_scores(
    customer_id: int,
    session: DB,
    who: Auth,
    lang: Annotated[str, Query(pattern="^(en|zh)$")] = "en",
    limit: Annotated[int, Query(ge=1, le=100)] = 12,
) -> list[CustomerScoreOut]:
    """The customer's scores, latest as-of date first, each explained in plain words."""
    who.require("customers:read")
    return [
        CustomerScoreOut.model_validate(r)
        for r in service.scores_of(session, customer_id, lang=lang, limit=limit)
    ]
