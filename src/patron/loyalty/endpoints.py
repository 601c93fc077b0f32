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
from patron.core import jobs
from patron.core.deps import DB
from patron.core.errors import InvalidInput
from patron.core.time import local, utcnow
from patron.loyalty import earning, expiry, ledger, membership, reports, rewards, service, tasks
from patron.loyalty.ledger import Outcome
from patron.loyalty.schemas import (
    ActionIn,
    ActionOut,
    AdjustIn,
    Balance,
    CancelIn,
    ClawbackIn,
    EarnIn,
    EntryOut,
    LotOut,
    MemberOut,
    OperationOut,
    ProgramCreate,
    ProgramOut,
    ProgramUpdate,
    RedeemIn,
    ReportOut,
    ReverseIn,
    RewardIn,
    RewardOut,
    RewardRedeemed,
    RuleIn,
    RuleOut,
    RuleState,
    SettleOut,
    TierPolicyIn,
)

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


@router.post("/programs", response_model=ProgramOut, status_code=201)
def create_program(body: ProgramCreate, session: DB, who: Auth) -> Any:
    who.require("loyalty:admin")
    return service.create_program(session, body.model_dump(mode="json"))


@router.patch("/programs/{code}", response_model=ProgramOut)
def update_program(code: str, body: ProgramUpdate, session: DB, who: Auth) -> Any:
    """Rename, switch off or on (the jobs credit nothing while off; members keep their points),
    revalue a point, change the return window or the debt rule (from now on)."""
    who.require("loyalty:admin")
    return service.update_program(session, code, body.model_dump(mode="json", exclude_unset=True))


@router.get("/programs", response_model=list[ProgramOut])
def list_programs(session: DB, who: Auth) -> Any:
    who.require("loyalty:read")
    return service.programs(session)


@router.get("/programs/{code}/rules", response_model=list[RuleOut])
def list_rules(code: str, session: DB, who: Auth) -> Any:
    who.require("loyalty:read")
    return earning.rule_rows(session, service.program(session, code))


@router.post("/programs/{code}/rules", response_model=RuleOut, status_code=201)
def add_rule(code: str, body: RuleIn, session: DB, who: Auth) -> Any:
    """A new earning rule, checked with the program's other rules (422 ``loyalty_bad_rule``)."""
    who.require("loyalty:admin")
    return earning.add_rule(session, service.program(session, code), body.model_dump(exclude_none=True))


@router.put("/programs/{code}/rules/{rule_id}/state", response_model=RuleOut)
def set_rule_state(code: str, rule_id: int, body: RuleState, session: DB, who: Auth) -> Any:
    who.require("loyalty:admin")
    return earning.set_rule_active(session, service.program(session, code), rule_id, body.active)


@router.get("/programs/{code}/tiers", response_model=TierPolicyIn | None)
def get_tiers(code: str, session: DB, who: Auth) -> Any:
    who.require("loyalty:read")
    return service.program(session, code).tier_policy


@router.put("/programs/{code}/tiers", response_model=TierPolicyIn)
def set_tiers(code: str, body: TierPolicyIn, session: DB, who: Auth) -> Any:
    """Set the program's tiers and review schedule (422 ``loyalty_bad_tiers`` says what is wrong);
    a job (``loyalty.tiers``) then gives members without a tier theirs; the others move at their
    next earn or review."""
    who.require("loyalty:admin")
    program = service.program(session, code)
    membership.set_policy(session, program, body.model_dump())
    jobs.enqueue(session, tasks.TIERS_JOB, {"program": code})
    return program.tier_policy


@router.get("/customers/{customer_id}/benefits")
def benefits(customer_id: int, session: DB, who: Auth) -> dict[str, Any]:
    """The tier benefits a customer enjoys across their programs (the strongest value of each),
    for a shop's checkout to apply: ``discount_rate``, ``free_shipping``, ``birthday_gift``,
    ``points_multiplier``, ``priority_service`` and any other key the tiers carry."""
    who.require("loyalty:read")
    return {"customer_id": customer_id, "benefits": service.benefits(session, customer_id)}


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


@router.post("/programs/{code}/members/{customer_id}/actions/{action}", response_model=ActionOut)
async def action(
    code: str,
    customer_id: int,
    action: str,
    body: ActionIn,
    key: IdempotencyKey,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """The member did something the program rewards (signup, birthday, review, survey, checkin,
    referral): its earning rules decide the points, with their caps and velocity limits; the
    answer says what each rule gave and why (0 points when capped or too fast)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: earning.earn_action(s, service.program(s, code), customer_id, action, key=key,
                                           ref=body.ref, actor=who.actor, now=utcnow()),
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


@router.post("/programs/{code}/members/{customer_id}/rewards/cancel", response_model=RewardRedeemed)
async def cancel_reward(
    code: str, customer_id: int, body: CancelIn, key: IdempotencyKey, request: Request, response: Response
) -> dict[str, Any]:
    """Cancel a reward taken, by its coupon: the points back to their lots, the unit back to
    stock, the coupon void (409 ``reward_coupon_used`` when an order used it,
    ``points_already_reversed`` when cancelled already: then nothing happened)."""
    return await _operate(
        request, response, "loyalty:write",
        lambda s, who: rewards.cancel(s, service.program(s, code), customer_id, body.coupon_code, key=key,
                                      actor=who.actor, now=utcnow()),
    )  # fmt: skip


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
