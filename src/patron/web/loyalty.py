"""Web pages of loyalty: the programs, each program's report, earning rules, tiers and rewards
catalog (with the forms that configure them), and a reward taken for a customer from their 360
page.

Conventions are those of :mod:`patron.web.pages` and :mod:`patron.web.desk`: server-rendered
Jinja, every text from :mod:`patron.web.i18n`; reading needs ``loyalty:read``, configuring
``loyalty:admin``, taking a reward for a customer ``loyalty:write``. A refused change rolls the
request's transaction back and shows the page again with the error and what was typed (status of
the error); a change that went through redirects (303). A reward form carries an idempotency key
made when the page was drawn, so a double click or a resent form takes the reward once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from patron.commerce import service as commerce
from patron.core import jobs
from patron.core.deps import DB
from patron.core.errors import InvalidInput, PatronError
from patron.core.parsing import FieldError, parse_money
from patron.core.time import local, utcnow
from patron.loyalty import earning, expiry, membership, reports, rewards, service, tasks
from patron.loyalty.rules import PERIODS, RULE_KINDS
from patron.loyalty.schemas import ProgramCreate, ProgramUpdate, RewardIn, RuleIn
from patron.models.loyalty import DebtRule, ExpiryRule, LoyaltyProgram
from patron.web.i18n import MESSAGES
from patron.web.pages import WebUser, lang_of, render, templates

router = APIRouter(include_in_schema=False)
TABS = ("report", "rules", "tiers", "rewards", "settings")
EARLIEST, LATEST = date(1970, 1, 1), date(2200, 1, 1)  # a report's dates (midnights must exist)


M = TypeVar("M", bound=BaseModel)


def _checked(model: type[M], values: Mapping[str, Any]) -> M:
    """The form's values checked as the API checks them (its bounds and patterns), or
    ``form_invalid`` naming the first field that is wrong."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "form"
        raise InvalidInput(f"{field}: {first['msg']}", code="form_invalid", data={"field": field}) from None


def _lines(text: str) -> list[str]:
    """A comma- or newline-separated list typed in a form (全角逗号 too)."""
    return [part.strip() for part in text.replace("，", ",").replace("\n", ",").split(",") if part.strip()]


def _int(value: str, field: str, *, required: bool = False) -> int | None:
    text = value.strip()
    if not text:
        if required:
            raise InvalidInput(f"{field} is required", code="form_missing", data={"field": field})
        return None
    try:
        return int(text.replace(",", ""))
    except ValueError:
        raise InvalidInput(f"{field} must be a whole number, got {text!r}", code="form_not_a_number",
                           data={"field": field}) from None  # fmt: skip


def _money(value: str, currency: str, field: str) -> int | None:
    if not value.strip():
        return None
    try:
        return parse_money(value, currency)
    except FieldError as exc:
        raise InvalidInput(f"{field}: {exc}", code="form_bad_amount", data={"field": field}) from None


# -- the programs ----------------------------------------------------------------------------------


@router.get("/loyalty")
def programs_page(request: Request, session: DB, who: WebUser) -> Response:
    who.require("loyalty:read")
    return _programs(request, session, who)


def _programs(
    request: Request,
    session: Session,
    who: Any,
    *,
    error: PatronError | None = None,
    form: Mapping[str, str] = {},
) -> Response:
    shops, lang = commerce.list_shops(session), lang_of(request)
    return render(
        request,
        "loyalty.html",
        status=error.status if error else 200,
        standings=service.standings(session),
        shops=shops,
        shop_names={s.id: s.name_zh if lang == "zh" and s.name_zh else s.name for s in shops},
        known_errors=MESSAGES,
        expiry_rules=[str(e) for e in ExpiryRule],
        debt_rules=[str(d) for d in DebtRule],
        can_admin=who.can("loyalty:admin"),
        error=error,
        form=form,
    )


@router.post("/loyalty")
def create_program(
    request: Request,
    session: DB,
    who: WebUser,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    shop: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "CNY",
    point_value: Annotated[str, Form()] = "0.01",
    timezone: Annotated[str, Form()] = "Asia/Shanghai",
    lock_days: Annotated[str, Form()] = "7",
    expiry_rule: Annotated[str, Form()] = "end_of_next_year",
    expiry_days: Annotated[str, Form()] = "",
    debt_rule: Annotated[str, Form()] = "offset",
) -> Response:
    form = {"code": code, "name": name, "shop": shop, "currency": currency, "point_value": point_value,
            "timezone": timezone, "lock_days": lock_days, "expiry_rule": expiry_rule,
            "expiry_days": expiry_days, "debt_rule": debt_rule}  # fmt: skip
    try:
        who.require("loyalty:admin")
        code, currency = code.strip().lower(), currency.strip().upper()
        if not code or not name.strip():
            raise InvalidInput("a program needs a code and a name", code="form_missing")
        value = _money(point_value, currency, "point value") or 0
        if value < 1:
            raise InvalidInput("a point is worth at least one minor unit", code="form_bad_amount")
        checked = _checked(
            ProgramCreate,
            {
                "code": code,
                "name": name.strip(),
                "shop_id": commerce.get_shop(session, shop).id if shop else None,
                "currency": currency,
                "point_value_minor": value,
                "timezone": timezone.strip(),
                "lock_days": _int(lock_days, "lock days", required=True),
                "expiry": expiry_rule,
                "expiry_days": _int(expiry_days, "expiry days"),
                "debt_rule": debt_rule,
            },
        )
        program = service.create_program(session, checked.model_dump(mode="json"))
    except PatronError as exc:
        session.rollback()
        return _programs(request, session, who, error=exc, form=form)
    return RedirectResponse(f"/loyalty/{quote(program.code)}?tab=rules", status_code=303)


# -- one program -----------------------------------------------------------------------------------


@router.get("/loyalty/{code}")
def program_page(
    code: str,
    request: Request,
    session: DB,
    who: WebUser,
    tab: Annotated[str, Query(max_length=20)] = "report",
    start: date | None = None,
    end: date | None = None,
) -> Response:
    who.require("loyalty:read")
    return _program(request, session, who, code, tab=tab, start=start, end=end)


def _program(
    request: Request,
    session: Session,
    who: Any,
    code: str,
    *,
    tab: str,
    start: date | None = None,
    end: date | None = None,
    error: PatronError | None = None,
    form: Mapping[str, str] = {},
) -> Response:
    program = service.program(session, code)
    tab = tab if tab in TABS else "report"
    ctx: dict[str, Any] = {}
    if tab == "report":
        today = local(utcnow(), program.timezone).date()  # type: ignore[union-attr]
        first = start or (today.replace(day=1) - timedelta(days=335)).replace(day=1)  # 12 months
        last = end or today + timedelta(days=1)
        if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
            raise InvalidInput(f"a report covers {EARLIEST} to {LATEST}", code="loyalty_bad_period")
        if first >= last:
            first, last = last - timedelta(days=1), last
        ctx["report"] = reports.report(
            session,
            program.code,
            start=expiry.start_of(first, program.timezone),
            end=expiry.start_of(last, program.timezone),
            reporting_currency=request.app.state.settings.reporting_currency,
        )
        ctx["period"] = (first, last)
    elif tab == "rules":
        ctx["rules"] = earning.rule_rows(session, program)
    elif tab == "tiers":
        policy = program.tier_policy
        ctx["policy"] = membership.policy_of(program)
        ctx["policy_json"] = form.get("policy") or json.dumps(
            policy or membership.EXAMPLE_POLICY, ensure_ascii=False, indent=2
        )
        ctx["tier_counts"] = service.tier_counts(session, program)
    elif tab == "rewards":
        ctx["catalog"] = rewards.catalog(session, program)
    return render(
        request,
        "loyalty_program.html",
        status=error.status if error else 200,
        p=program,
        tab=tab,
        tabs=TABS,
        basis=membership.basis_of(program),
        kinds=RULE_KINDS,
        cap_periods=PERIODS,
        reward_kinds=rewards.KINDS,
        debt_rules=[str(d) for d in DebtRule],
        can_admin=who.can("loyalty:admin"),
        known_errors=MESSAGES,
        tier_name=lambda c: service.tier_name(program, c, lang_of(request)),
        error=error,
        form=form,
        **ctx,
    )


def _change(
    request: Request,
    session: Session,
    who: Any,
    code: str,
    tab: str,
    form: Mapping[str, str],
    action: Callable[[LoyaltyProgram], None],
) -> Response:
    """Run an administrator's change to a program; back to its tab, or the tab with the error."""
    try:
        who.require("loyalty:admin")
        action(service.program(session, code))
    except PatronError as exc:
        session.rollback()
        return _program(request, session, who, code, tab=tab, error=exc, form=form)
    return RedirectResponse(f"/loyalty/{quote(code)}?tab={tab}", status_code=303)


@router.post("/loyalty/{code}/rules")
def add_rule(
    code: str,
    request: Request,
    session: DB,
    who: WebUser,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "spend",
    points: Annotated[str, Form()] = "",
    per_minor: Annotated[str, Form()] = "",
    categories: Annotated[str, Form()] = "",
    skus: Annotated[str, Form()] = "",
    shops: Annotated[str, Form()] = "",
    multipliers: Annotated[str, Form()] = "",
    cap: Annotated[str, Form()] = "",
    cap_period: Annotated[str, Form()] = "month",
    velocity: Annotated[str, Form()] = "",
    velocity_hours: Annotated[str, Form()] = "24",
    position: Annotated[str, Form()] = "0",
    stop: Annotated[str | None, Form()] = None,
) -> Response:
    form = {"name": name, "kind": kind, "points": points, "per_minor": per_minor, "categories": categories,
            "skus": skus, "shops": shops, "multipliers": multipliers, "cap": cap, "cap_period": cap_period,
            "velocity": velocity, "velocity_hours": velocity_hours, "position": position,
            "stop": "on" if stop else ""}  # fmt: skip

    def act(program: LoyaltyProgram) -> None:
        values: dict[str, Any] = {
            "name": name.strip(),
            "kind": kind,
            "points": _int(points, "points", required=True),
            "categories": _lines(categories),
            "skus": _lines(skus),
            "shops": _lines(shops),
            "tier_multipliers": _multipliers(multipliers),
            "cap": _int(cap, "cap"),
            "cap_period": cap_period,
            "velocity": _int(velocity, "velocity"),
            "velocity_window_hours": _int(velocity_hours, "velocity window", required=True),
            "position": _int(position, "position", required=True),
            "stop": bool(stop),
        }
        spend_per = _money(per_minor, program.currency, "per amount spent")
        if spend_per is not None:
            values["per_minor"] = spend_per
        earning.add_rule(session, program, _checked(RuleIn, values).model_dump(exclude_none=True))

    return _change(request, session, who, code, "rules", form, act)


def _multipliers(text: str) -> dict[str, float]:
    """``gold=1.5, silver=1.2`` into {"gold": 1.5, "silver": 1.2}."""
    out: dict[str, float] = {}
    for part in _lines(text):
        tier, sep, factor = part.partition("=")
        try:
            out[tier.strip()] = float(factor) if sep else float("nan")
        except ValueError:
            out[tier.strip()] = float("nan")
        if not sep or out[tier.strip()] != out[tier.strip()]:
            raise InvalidInput(f"a tier multiplier reads tier=factor, e.g. gold=1.5, not {part!r}",
                               code="loyalty_bad_rule")  # fmt: skip
    return out


@router.post("/loyalty/{code}/rules/{rule_id}/state")
def switch_rule(
    code: str, rule_id: int, request: Request, session: DB, who: WebUser, active: Annotated[str, Form()] = ""
) -> Response:
    def act(program: LoyaltyProgram) -> None:
        earning.set_rule_active(session, program, rule_id, active == "on")

    return _change(request, session, who, code, "rules", {}, act)


@router.post("/loyalty/{code}/tiers")
def set_tiers(
    code: str, request: Request, session: DB, who: WebUser, policy: Annotated[str, Form()] = ""
) -> Response:
    def act(program: LoyaltyProgram) -> None:
        try:
            spec = json.loads(policy)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the tiers are not valid JSON: {exc}", code="loyalty_bad_tiers") from None
        if not isinstance(spec, dict):
            raise InvalidInput("the tiers are a JSON object", code="loyalty_bad_tiers")
        membership.set_policy(session, program, spec)
        jobs.enqueue(session, tasks.TIERS_JOB, {"program": program.code})

    return _change(request, session, who, code, "tiers", {"policy": policy}, act)


@router.post("/loyalty/{code}/settings")
def change_settings(
    code: str,
    request: Request,
    session: DB,
    who: WebUser,
    name: Annotated[str, Form()] = "",
    active: Annotated[str | None, Form()] = None,
    point_value: Annotated[str, Form()] = "",
    lock_days: Annotated[str, Form()] = "",
    debt_rule: Annotated[str, Form()] = "offset",
) -> Response:
    form = {"name": name, "active": "on" if active else "", "point_value": point_value,
            "lock_days": lock_days, "debt_rule": debt_rule}  # fmt: skip

    def act(program: LoyaltyProgram) -> None:
        values = {
            "name": name.strip(),
            "active": bool(active),
            "point_value_minor": _money(point_value, program.currency, "value of a point"),
            "lock_days": _int(lock_days, "lock days", required=True),
            "debt_rule": debt_rule,
        }
        checked = _checked(ProgramUpdate, values)
        service.update_program(session, program.code, checked.model_dump(mode="json", exclude_none=True))

    return _change(request, session, who, code, "settings", form, act)


@router.post("/loyalty/{code}/rewards")
def add_reward(
    code: str,
    request: Request,
    session: DB,
    who: WebUser,
    reward_code: Annotated[str, Form()] = "",
    name_en: Annotated[str, Form()] = "",
    name_zh: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "coupon",
    cost_points: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    stock: Annotated[str, Form()] = "",
    limit: Annotated[str, Form()] = "",
) -> Response:
    form = {"reward_code": reward_code, "name_en": name_en, "name_zh": name_zh, "kind": kind,
            "cost_points": cost_points, "value": value, "stock": stock, "limit": limit}  # fmt: skip

    def act(program: LoyaltyProgram) -> None:
        if not reward_code.strip() or not name_en.strip() or not name_zh.strip():
            raise InvalidInput("a reward needs a code and names in English and Chinese", code="form_missing")
        cost = _int(cost_points, "cost in points", required=True)
        if cost is None or cost < 1:
            raise InvalidInput("a reward costs at least one point", code="form_bad_amount")
        amount = _money(value, program.currency, "value")
        checked = _checked(
            RewardIn,
            {
                "code": reward_code.strip().upper(),
                "name_en": name_en.strip(),
                "name_zh": name_zh.strip(),
                "kind": kind,
                "cost_points": cost,
                "value_minor": amount,
                "currency": program.currency if amount is not None else None,
                "stock": _int(stock, "stock"),
                "per_customer_limit": _int(limit, "limit per member"),
            },
        )
        rewards.add_reward(session, program, checked.model_dump())

    return _change(request, session, who, code, "rewards", form, act)


# -- a reward for a customer (from the customer 360 page) -----------------------------------------


def new_key() -> str:
    """The idempotency key a reward form carries (made when the page is drawn)."""
    return f"web-{secrets.token_urlsafe(12)}"


templates.env.globals["new_key"] = new_key  # the customer 360 page draws the reward form


@router.post("/customers/{customer_id}/loyalty/{code}/rewards")
def take_reward(
    customer_id: int,
    code: str,
    session: DB,
    who: WebUser,
    reward: Annotated[str, Form()] = "",
    key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    def act(program: LoyaltyProgram) -> str:
        rewards.redeem(session, program, customer_id, reward, key=key, actor=who.actor, now=utcnow())
        return f"reward_taken={quote(reward)}"

    return _for_member(session, who, customer_id, code, key, act)


@router.post("/customers/{customer_id}/loyalty/{code}/rewards/cancel")
def cancel_reward(
    customer_id: int,
    code: str,
    session: DB,
    who: WebUser,
    coupon: Annotated[str, Form(max_length=40)] = "",
    key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    def act(program: LoyaltyProgram) -> str:
        rewards.cancel(session, program, customer_id, coupon, key=key, actor=who.actor, now=utcnow())
        return f"reward_cancelled={quote(coupon)}"

    return _for_member(session, who, customer_id, code, key, act)


def _for_member(
    session: Session, who: Any, customer_id: int, code: str, key: str, action: Callable[[LoyaltyProgram], str]
) -> Response:
    """Take or cancel a reward for a customer; back to their page saying what happened or why not."""
    anchor = f"#loyalty-{quote(code)}"
    try:
        who.require("loyalty:write")
        if not key:
            raise InvalidInput("the form has expired: draw the page again", code="form_missing")
        said = action(service.program(session, code))
    except PatronError as exc:
        session.rollback()
        said = f"reward_error={quote(exc.code)}"
    return RedirectResponse(f"/customers/{customer_id}?{said}{anchor}", status_code=303)
