"""REST endpoints of the scoring domain: run an analysis, read runs and a customer's scores, and
``/api/v1/analytics/...``: every block of the analytics page, and the customers behind any of
its numbers (``/analytics/customers``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from patron.accounts.dependencies import Auth
from patron.core.deps import DB
from patron.core.errors import InvalidInput
from patron.customers import service as customers
from patron.customers.schemas import CustomerPage
from patron.scoring import reports, service, tiering
from patron.scoring.schemas import (
    AnalyzeRequest,
    ChurnRiskOut,
    ClvBand,
    ClvOut,
    CohortsOut,
    CustomerScoreOut,
    GroupSize,
    GroupsOut,
    KpisOut,
    Movement,
    RecalibrateRequest,
    RFMCell,
    RFMGridOut,
    RunRef,
    ScoredCustomer,
    ScoreRunOut,
    TierChangeOut,
    TierPolicyOut,
)

router = APIRouter(prefix="/api/v1", tags=["scores"])
Lang = Annotated[str, Query(pattern="^(en|zh)$")]


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
    lang: Lang = "en",
    limit: Annotated[int, Query(ge=1, le=100)] = 12,
) -> list[CustomerScoreOut]:
    """The customer's scores, latest as-of date first, each explained in plain words."""
    who.require("customers:read")
    return [
        CustomerScoreOut.model_validate(r)
        for r in service.scores_of(session, customer_id, lang=lang, limit=limit)
    ]


@router.get("/tier-policies", response_model=list[TierPolicyOut], tags=["tiers"])
def tier_policies(
    session: DB, who: Auth, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[TierPolicyOut]:
    """The value-tier policy versions, newest first (the first one is in force)."""
    who.require("customers:read")
    return [TierPolicyOut.model_validate(p) for p in tiering.policies(session, limit)]


@router.post("/tier-policies", response_model=TierPolicyOut, status_code=201, tags=["tiers"])
def recalibrate(body: RecalibrateRequest, session: DB, who: Auth) -> TierPolicyOut:
    """Fit a new tier policy version on the latest scoring run; the next run applies it."""
    who.require("analytics:run")
    policy = tiering.recalibrate(session, actor=who.actor, reason="manual", weights=body.weights)
    session.flush()
    assert policy.id == tiering.policies(session, 1)[0]["version"]
    return TierPolicyOut.model_validate(tiering.policies(session, 1)[0])


@router.get("/tier-changes", response_model=list[TierChangeOut], tags=["tiers"])
def tier_changes(
    session: DB,
    who: Auth,
    customer_id: int | None = None,
    run_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TierChangeOut]:
    """Who moved tier, newest first, and why: ``score`` (their own figures changed) or
    ``recalibration`` (the new policy version would not have kept them)."""
    who.require("customers:read")
    return [
        TierChangeOut.model_validate(c)
        for c in tiering.changes(session, customer_id=customer_id, run_id=run_id, limit=limit)
    ]


# -- /api/v1/analytics ---------------------------------------------------------------------------


@router.get("/analytics/rfm", response_model=RFMGridOut, tags=["analytics"])
def rfm_grid(session: DB, who: Auth) -> RFMGridOut:
    """Customers and spend per cell of the R × F grid of the latest run (404 before any run)."""
    who.require("customers:read")
    run, _ = reports.latest(session)
    return RFMGridOut(
        run=RunRef.model_validate(run), cells=[RFMCell(**c) for c in reports.rfm_grid(session, run)]
    )


def _groups(session: Session, dim: str) -> GroupsOut:
    run, previous = reports.latest(session)
    block = reports.groups(session, run, previous, dim)
    return GroupsOut(
        run=RunRef.model_validate(run),
        previous=RunRef.model_validate(previous) if previous else None,
        dim=dim,
        groups=[GroupSize(value=v, customers=n, clv_minor=c) for v, n, c in block["groups"]],
        movements=[Movement(from_value=a, to_value=b, customers=n) for a, b, n in block["movements"]],
    )


@router.get("/analytics/segments", response_model=GroupsOut, tags=["analytics"])
def segments(session: DB, who: Auth) -> GroupsOut:
    """RFM segment sizes and CLV, and the moves between segments since the previous run."""
    who.require("customers:read")
    return _groups(session, "segment")


@router.get("/analytics/tiers", response_model=GroupsOut, tags=["analytics"])
def tiers(session: DB, who: Auth) -> GroupsOut:
    """Value-tier sizes and CLV, and the moves between tiers since the previous run."""
    who.require("customers:read")
    return _groups(session, "tier")


@router.get("/analytics/states", response_model=GroupsOut, tags=["analytics"])
def states(session: DB, who: Auth) -> GroupsOut:
    """Lifecycle-state sizes and CLV, and the moves between states since the previous run."""
    who.require("customers:read")
    return _groups(session, "state")


@router.get("/analytics/kpis", response_model=KpisOut, tags=["analytics"])
def kpis(
    request: Request,
    session: DB,
    who: Auth,
    by: Annotated[str | None, Query(description="slice by shop, channel, category or segment")] = None,
    value: Annotated[str | None, Query(description="only this value of the slice")] = None,
    as_of: Annotated[date | None, Query(description="default: the latest run's date")] = None,
    months: Annotated[int, Query(ge=1, le=36)] = reports.TREND_MONTHS,
) -> KpisOut:
    """KPI cards (12 months to the date against the 12 before) and monthly trends (revenue,
    orders, AOV, repurchase rate), for the whole shop or per slice."""
    who.require("customers:read")
    block = reports.kpi_slices(
        session,
        currency=request.app.state.settings.reporting_currency,
        as_of=as_of,
        by=by,
        value=value,
        months=months,
    )
    return KpisOut.model_validate(block)


@router.get("/analytics/cohorts", response_model=CohortsOut, tags=["analytics"])
def cohorts(
    request: Request,
    session: DB,
    who: Auth,
    as_of: Annotated[date | None, Query(description="default: the latest run's date")] = None,
    months: Annotated[int, Query(ge=1, le=36)] = reports.COHORT_MONTHS,
) -> CohortsOut:
    """Retention by first-purchase month: each cohort's size and buyers per month since."""
    who.require("customers:read")
    block = reports.cohorts(
        session, currency=request.app.state.settings.reporting_currency, as_of=as_of, months=months
    )
    return CohortsOut.model_validate(block)


@router.get("/analytics/clv", response_model=ClvOut, tags=["analytics"])
def clv(session: DB, who: Auth, lang: Lang = "en", limit: Annotated[int, Query(ge=1, le=200)] = 15) -> ClvOut:
    """CLV distribution of the latest run (customers and total CLV per band) and the most
    valuable customers, explained."""
    who.require("customers:read")
    run, _ = reports.latest(session)
    return ClvOut(
        run=RunRef.model_validate(run),
        bands=[ClvBand(**b) for b in reports.clv_distribution(session, run)],
        top=[
            ScoredCustomer.model_validate(c)
            for c in reports.top_customers(session, run, "clv", lang=lang, limit=limit)
        ],
    )


@router.get("/analytics/churn-risk", response_model=ChurnRiskOut, tags=["analytics"])
def churn_risk(
    session: DB, who: Auth, lang: Lang = "en", limit: Annotated[int, Query(ge=1, le=200)] = 15
) -> ChurnRiskOut:
    """The high-value and potential customers least likely to buy in the next 90 days."""
    who.require("customers:read")
    run, _ = reports.latest(session)
    return ChurnRiskOut(
        run=RunRef.model_validate(run),
        horizon_days=service.PURCHASE_HORIZON_DAYS,
        customers=[
            ScoredCustomer.model_validate(c)
            for c in reports.top_customers(session, run, "risk", lang=lang, limit=limit)
        ],
    )


@router.get("/analytics/customers", response_model=CustomerPage, tags=["analytics"])
def drill_down(
    request: Request,
    session: DB,
    who: Auth,
    segment: str | None = None,
    tier: str | None = None,
    state: str | None = None,
    r: int | None = None,
    f: int | None = None,
    dim: Annotated[str, Query(description="what moved_from / moved_to name: segment or tier")] = "segment",
    moved_from: str | None = None,
    moved_to: str | None = None,
    clv_min: Annotated[int | None, Query(description="minor units, inclusive")] = None,
    clv_max: Annotated[int | None, Query(description="minor units, exclusive")] = None,
    cohort: Annotated[date | None, Query(description="first-purchase month (any day of it)")] = None,
    age: Annotated[int | None, Query(description="months after the cohort's first")] = None,
    bought_from: Annotated[date | None, Query(description="bought on or after this day (UTC)")] = None,
    bought_to: Annotated[date | None, Query(description="... and on or before this day")] = None,
    shop: Annotated[str | None, Query(description="... in this shop (code)")] = None,
    repeat: Annotated[bool | None, Query(description="... on two or more days")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 25,
) -> CustomerPage:
    """The customers behind a number of the analytics page: score filters apply to the latest
    run (``none`` matches a missing segment or tier), a movement compares it with the run
    before, a cohort reads the purchases up to its date."""
    who.require("customers:read")
    drill = reports.Drill(
        segment=segment,
        tier=tier,
        state=state,
        r=r,
        f=f,
        dim=dim,
        moved_from=moved_from,
        moved_to=moved_to,
        clv_min=clv_min,
        clv_max=clv_max,
        cohort=cohort,
        age=age,
        bought_from=bought_from,
        bought_to=bought_to,
        shop=shop,
        repeat=repeat,
    )
    within = reports.drill_down(session, drill)
    if within is None:
        raise InvalidInput("give at least one drill-down filter", code="bad_drill_down")
    items, total = customers.search(
        session,
        customers.SearchFilter(within=within),
        offset=(page - 1) * per_page,
        limit=per_page,
        reporting_currency=request.app.state.settings.reporting_currency,
        pii=who.can("customers:pii"),
    )
    return CustomerPage(items=items, page=page, per_page=per_page, total=total)
