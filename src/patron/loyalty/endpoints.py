"""REST endpoints of loyalty: ``/api/v1/loyalty``.

Every change to a member's points takes an ``Idempotency-Key`` header: the same request sent
again (a retry after a timeout, a double click) gets the first answer again, with
``Idempotent-Replayed: true``, and changes nothing; the same key with a different request is
refused (409 ``idempotency_key_reused``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy.orm import Session

from patron.accounts.dependencies import Auth, in_one_thread
from patron.accounts.service import Principal
from patron.core.deps import DB
from patron.core.errors import InvalidInput
from patron.core.time import local, utcnow
from patron.loyalty import expiry, ledger, reports, rewards, service
from patron.loyalty.ledger import Outcome
from patron.loyalty.schemas import (
    AdjustIn,
    Balance,
    ClawbackIn,
    EarnIn,
    EntryOut,
    LotOut,
    MemberOut,
    OperationOut,
    ProgramCreate,
    ProgramOut,
    RedeemIn,
    ReportOut,
    ReverseIn,
    RewardIn,
    RewardOut,
    RewardRedeemed,
    SettleOut,
)

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


@router.post("/programs", response_model=ProgramOut, status_code=201)
def create_program(body: ProgramCreate, session: DB, who: Auth) -> Any:
    who.require("loyalty:admin")
    return service.create_program(session, body.model_dump(mode="json"))


@router.get("/programs", response_model=list[ProgramOut])
def list_programs(session: DB, who: Auth) -> Any:
    who.require("loyalty:read")
    return service.programs(session)


@router.get("/programs/{code}/members/{customer_id}", response_model=MemberOut)
def member(code: str, customer_id: int, session: DB, who: Auth) -> MemberOut:
    """Balances, the open lots in spending order (nearest expiry first), the latest entries."""
    who.require("loyalty:read")
    m = service.member(session, code, customer_id)
    return MemberOut(
        program=m.program.code,
        customer_id=m.customer_id,
        balance=Balance(**m.balance),
        lots=[LotOut.model_validate(lot) for lot in m.lots],
        entries=[EntryOut.model_validate(e) for e in m.entries],
    )


async def _operate(
    request: Request, response: Response, scope: str, act: Callable[[Session, Principal], Outcome]
) -> dict[str, Any]:
    def work(session: Session, who: Principal) -> Outcome:
        who.require(scope)
        return act(session, who)

    outcome = await in_one_thread(request, work)
    response.headers["Idempotent-Replayed"] = "true" if outcome.replayed else "false"
    return outcome.result


@router.post("/programs/{code}/members/{customer_id}/earn", response_model=OperationOut)
async def earn(
    code: str, customer_id: int, body: EarnIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """Points earned (an order's are locked through the program's return window)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: ledger.earn(s, service.program(s, code), customer_id, body.points, key=key,
                                   source=body.source, source_ref=body.source_ref, lock=body.lock,
                                   actor=who.actor, now=utcnow()),
    )  # fmt: skip


@router.post("/programs/{code}/members/{customer_id}/redeem", response_model=OperationOut)
async def redeem(
    code: str, customer_id: int, body: RedeemIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """Spend active points, nearest expiry first (409 ``points_insufficient`` when short)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: ledger.redeem(s, service.program(s, code), customer_id, body.points, key=key,
                                     source=body.source, source_ref=body.source_ref, reason=body.reason,
                                     actor=who.actor, now=utcnow()),
    )  # fmt: skip


@router.post("/programs/{code}/members/{customer_id}/adjust", response_model=OperationOut)
async def adjust(
    code: str, customer_id: int, body: AdjustIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """An administrator adds or takes points, with a reason (taking more than is there only as
    a debt, with ``allow_debt``)."""
    return await _operate(
        request, response, "loyalty:admin",
        lambda s, who: ledger.adjust(s, service.program(s, code), customer_id, body.points, key=key,
                                     reason=body.reason, allow_debt=body.allow_debt, actor=who.actor,
                                     now=utcnow()),
    )  # fmt: skip


@router.post("/programs/{code}/members/{customer_id}/clawback", response_model=OperationOut)
async def clawback(
    code: str, customer_id: int, body: ClawbackIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """A refund takes back the points earned on an order (at most what was earned on it)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: ledger.clawback(s, service.program(s, code), customer_id, body.points, key=key,
                                       order_ref=body.order_ref, actor=who.actor, now=utcnow()),
    )  # fmt: skip


@router.post("/programs/{code}/members/{customer_id}/reverse", response_model=OperationOut)
async def reverse(
    code: str, customer_id: int, body: ReverseIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """Undo a redemption: the points go back to their lots."""
    return await _operate(
        request, response, "loyalty:admin",
        lambda s, who: ledger.reverse(s, service.program(s, code), customer_id, of_key=body.of_key, key=key,
                                      actor=who.actor, now=utcnow()),
    )  # fmt: skip


@router.post("/settle", response_model=SettleOut)
def settle(session: DB, who: Auth) -> SettleOut:
    """Unlock and expire every member's due lots now (the worker does it every night)."""
    who.require("loyalty:admin")
    return SettleOut(entries=service.settle_all(session))


@router.get("/programs/{code}/report", response_model=ReportOut)
def report(
    code: str,
    request: Request,
    session: DB,
    who: Auth,
    start: date | None = None,
    end: date | None = None,
) -> Any:
    """The liability, points issued/redeemed/expired/clawed back per month and the redemption
    rate between ``start`` and ``end`` (local dates, end exclusive; default the last 12 months),
    and the members by tier."""
    who.require("loyalty:read")
    program = service.program(session, code)
    today = local(utcnow(), program.timezone).date()  # type: ignore[union-attr]
    first = start or today.replace(year=today.year - 1, day=1)
    last = end or today + timedelta(days=1)
    if first >= last:
        raise InvalidInput("start must be before end", code="loyalty_bad_period")
    return reports.report(
        session,
        code,
        start=expiry.start_of(first, program.timezone),
        end=expiry.start_of(last, program.timezone),
        reporting_currency=request.app.state.settings.reporting_currency,
    )


@router.post("/programs/{code}/rewards", response_model=RewardOut, status_code=201)
def add_reward(code: str, body: RewardIn, session: DB, who: Auth) -> Any:
    who.require("loyalty:admin")
    return rewards.add_reward(session, service.program(session, code), body.model_dump())


@router.get("/programs/{code}/rewards", response_model=list[RewardOut])
def list_rewards(code: str, session: DB, who: Auth) -> Any:
    who.require("loyalty:read")
    return rewards.catalog(session, service.program(session, code))


@router.post("/programs/{code}/members/{customer_id}/rewards/{reward}", response_model=RewardRedeemed)
async def redeem_reward(
    code: str, customer_id: int, reward: str, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """Spend the reward's points and issue its coupon code (409 ``points_insufficient``,
    ``reward_out_of_stock``, ``reward_limit_reached``: then nothing happened)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: rewards.redeem(s, service.program(s, code), customer_id, reward, key=key,
                                      actor=who.actor, now=utcnow()),
    )  # fmt: skip
