"""Server-rendered pages: login, overview, customer list and 360, imports and quarantine."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from patron.accounts import service as accounts
from patron.accounts.dependencies import principal
from patron.accounts.service import Principal
from patron.analytics.explain import label as explain_label
from patron.commerce import service as commerce
from patron.core.deps import DB
from patron.core.errors import NotAuthenticated, PatronError
from patron.core.money import format_minor
from patron.core.parsing import FieldError, parse_money
from patron.core.time import local, zone
from patron.customers import service as customers
from patron.ingest import service as ingest
from patron.ingest.endpoints import save_upload
from patron.ingest.mappings import KINDS
from patron.ingest.tasks import ImportRequest, run_import
from patron.loyalty import service as loyalty
from patron.scoring import reports, tiering
from patron.scoring import service as scoring
from patron.web import analytics
from patron.web.i18n import LANGUAGES, MESSAGES, label, pick_language, translate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
WebUser = Annotated[Principal, Depends(principal)]


def lang_of(request: Request) -> str:
    """The language a page is drawn in: the switch's cookie, the user's locale, the browser's."""
    return pick_language(
        request.cookies.get("lang"),
        request.headers.get("accept-language"),
        request.session.get("locale"),
    )


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request)
    settings = request.app.state.settings

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    def when(value: datetime | None, tz: str | None = None) -> str:
        shown = local(value, tz or settings.default_timezone)
        return shown.strftime("%Y-%m-%d %H:%M") if shown else "—"

    def name_of(group: str, value: str | None) -> str:
        return label(group, value, lang)

    def money(minor: int | None, currency: str) -> str:
        return "—" if minor is None else f"{format_minor(minor, currency)} {currency}"

    def url_with(**changes: object) -> str:
        params = dict(request.query_params)
        params.update({k: str(v) for k, v in changes.items()})
        return f"{request.url.path}?{urlencode(params)}"

    return templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": lang,
            "other_lang": "zh" if lang == "en" else "en",
            "when": when,
            "money": money,
            "label": name_of,
            "url_with": url_with,
            "user_name": request.session.get("name"),
            **ctx,
        },
        status_code=status,
    )


def render_error(request: Request, exc: PatronError) -> Response:
    return render(request, "error.html", status=exc.status, error=exc)


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(
        next if next.startswith("/") and not next.startswith("//") else "/", status_code=303
    )
    if code in LANGUAGES:
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", next=next, failed=False)


@router.post("/login")
def login(
    request: Request,
    session: DB,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = accounts.authenticate(session, email, password)
    except NotAuthenticated:
        return render(request, "login.html", status=401, next=next, failed=True, email=email)
    request.session.clear()
    request.session.update({"user_id": user.id, "name": user.name, "locale": user.locale})
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def overview(request: Request, session: DB, who: WebUser) -> Response:
    who.require("customers:read")
    _, total = customers.search(
        session,
        customers.SearchFilter(),
        offset=0,
        limit=1,
        reporting_currency=request.app.state.settings.reporting_currency,
        pii=False,
    )
    runs, run_count = ingest.list_runs(session, 0, 5)
    _, quarantined = ingest.quarantine_rows(session, status="open", limit=1)
    return render(
        request,
        "overview.html",
        customers_total=total,
        runs=runs,
        run_count=run_count,
        quarantined=quarantined,
    )


@router.get("/analytics")
def analytics_page(
    request: Request,
    session: DB,
    who: WebUser,
    chosen: Annotated[str | None, Query(alias="slice", max_length=300)] = None,
) -> Response:
    who.require("customers:read")
    lang = lang_of(request)
    by, value = analytics.parse_slice(chosen)
    return render(
        request,
        "analytics.html",
        d=reports.dashboard(session, lang=lang, by=by, value=value),
        slicer=analytics.slicer(reports.slice_values(session), commerce.list_shops(session), lang),
        current_slice=chosen or "",
        drill=analytics.drill_link,
        score_label=lambda key: explain_label(key, lang) if key else "—",
        can_run=who.can("analytics:run"),
    )


@router.post("/analytics/run")
def run_analysis(request: Request, session: DB, who: WebUser) -> Response:
    who.require("analytics:run")
    scoring.analyze(session, currency=request.app.state.settings.reporting_currency, actor=who.actor)
    return RedirectResponse("/analytics", status_code=303)


@router.get("/customers")
def customer_list(
    request: Request,
    session: DB,
    who: WebUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: str | None = None,
    shop_id: Annotated[str | None, Query()] = None,
    min_orders: Annotated[str | None, Query()] = None,
    min_spent: Annotated[str | None, Query()] = None,
    signup_from: Annotated[str | None, Query()] = None,
    signup_to: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    who.require("customers:read")
    per_page = 25

    def num(value: str | None) -> int | None:
        return int(value) if value and value.strip().isdigit() else None

    settings = request.app.state.settings

    def day(value: str | None) -> datetime | None:
        """A date typed in the filter is midnight in the shop operator's time zone."""
        try:
            parsed = datetime.fromisoformat(value) if value else None
        except ValueError:
            return None
        return parsed.replace(tzinfo=zone(settings.default_timezone)) if parsed else None

    def money(value: str | None) -> int | None:
        try:
            return parse_money(value, settings.reporting_currency) if value and value.strip() else None
        except FieldError:
            return None

    # A drill-down from the analytics page (segment=, r=&f=, moved_from= ...): see web/analytics.py.
    drill = analytics.parse_drill(request.query_params)
    f = customers.SearchFilter(
        q=(q or "").strip() or None,
        tag=tag or None,
        shop_id=num(shop_id),
        min_orders=num(min_orders),
        min_spent_minor=money(min_spent),
        signup_from=day(signup_from),
        signup_to=day(signup_to),
        within=reports.drill_down(session, drill),
    )
    items, total = customers.search(
        session,
        f,
        offset=(page - 1) * per_page,
        limit=per_page,
        reporting_currency=request.app.state.settings.reporting_currency,
        pii=who.can("customers:pii"),
    )
    return render(
        request,
        "customers.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // per_page)),
        shops=commerce.list_shops(session),
        filters={
            "q": q or "",
            "tag": tag or "",
            "shop_id": shop_id or "",
            "min_orders": min_orders or "",
            "min_spent": min_spent or "",
            "signup_from": signup_from or "",
            "signup_to": signup_to or "",
        },
        drill_chip=analytics.chip(drill, lang_of(request), settings.reporting_currency)
        if drill.is_set()
        else "",
        drill_params=[(k, v) for k, v in request.query_params.items() if k in analytics.DRILL_PARAMS and v],
        drill_off=analytics.without_drill(request.query_params),
    )


@router.get("/customers/{customer_id}")
def customer_360(customer_id: int, request: Request, session: DB, who: WebUser) -> Response:
    who.require("customers:read")
    view = customers.profile_360(
        session,
        customer_id,
        reporting_currency=request.app.state.settings.reporting_currency,
        pii=who.can("customers:pii"),
    )
    if view.customer.id != customer_id:
        return RedirectResponse(f"/customers/{view.customer.id}", status_code=303)
    shops = {s.code: s for s in commerce.list_shops(session)}
    # The timeline shows orders and refunds with translated statuses and formatted amounts.
    orders_by_ref = {f"order:{o.id}": o for o in view.orders}
    refunds_by_id = {r.external_id: r for r in view.refunds}
    scores = scoring.scores_of(session, customer_id, lang=lang_of(request), limit=6)
    return render(
        request,
        "customer.html",
        loyalty=loyalty.memberships(session, customer_id) if who.can("loyalty:read") else [],
        tier_name=lambda program, code: loyalty.tier_name(program, code, lang_of(request)),
        last_day=lambda at, tz: loyalty.last_day(at, tz).isoformat(),
        known_errors=MESSAGES,
        scores=scores,
        tier_moves=tiering.changes(session, customer_id=customer_id, limit=6),
        score_label=lambda key: explain_label(key, lang_of(request)) if key else "—",
        v=view,
        c=view.customer,
        shops=shops,
        can_admin=who.can("admin"),
        orders_by_ref=orders_by_ref,
        refunds_by_id=refunds_by_id,
    )


@router.post("/merges/{merge_id}/undo")
def undo_merge(merge_id: int, session: DB, who: WebUser) -> Response:
    who.require("admin")
    record = customers.unmerge(session, merge_id, actor=who.actor)
    return RedirectResponse(f"/customers/{record.merged_id}", status_code=303)


@router.get("/imports")
def imports_page(request: Request, session: DB, who: WebUser) -> Response:
    who.require("customers:read")
    runs, _ = ingest.list_runs(session, 0, 50)
    return render(
        request,
        "imports.html",
        runs=runs,
        kinds=KINDS,
        mappings=ingest.all_mappings(session),
        shops=commerce.list_shops(session),
        dry=None,
        can_import=who.can("imports:write"),
    )


@router.post("/imports")
def upload(
    request: Request,
    session: DB,
    who: WebUser,
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    mapping: Annotated[str, Form()] = "",
    shop: Annotated[str, Form()] = "",
    policy: Annotated[str, Form()] = "keep",
    dry_run: Annotated[str | None, Form()] = None,
) -> Response:
    who.require("imports:write")
    app = request.app
    path = save_upload(file, app.state.settings.var_dir / "uploads")
    req = ImportRequest(
        kind=kind,
        path=path,
        mapping=mapping or None,
        shop=shop or None,
        policy=policy,
        dry_run=bool(dry_run),
        actor=who.actor,
        display_name=file.filename,
    )
    if req.dry_run or req.policy == "reject":
        summary = run_import(req, engine=app.state.engine, settings=app.state.settings)
        if summary.run_id is not None:
            return RedirectResponse(f"/imports/{summary.run_id}", status_code=303)
        runs, _ = ingest.list_runs(session, 0, 50)
        return render(
            request,
            "imports.html",
            runs=runs,
            kinds=KINDS,
            mappings=ingest.all_mappings(session),
            shops=commerce.list_shops(session),
            dry=summary,
            can_import=True,
        )
    # Large files take a while: run in the background and show the run page, which refreshes.
    started = threading.Event()
    box: dict[str, Any] = {}

    def on_started(run_id: int) -> None:
        box["run_id"] = run_id
        started.set()

    def work() -> None:
        try:
            run_import(req, engine=app.state.engine, settings=app.state.settings, on_started=on_started)
        except BaseException as exc:
            box["error"] = exc
            started.set()

    threading.Thread(target=work, name=f"import-{path.name}", daemon=True).start()
    started.wait(timeout=60)
    if "run_id" not in box:
        error = box.get("error") or PatronError(
            "the import did not start within a minute", code="import_not_started"
        )
        if isinstance(error, PatronError):
            return render_error(request, error)
        raise error
    return RedirectResponse(f"/imports/{box['run_id']}", status_code=303)


@router.get("/imports/{run_id}")
def import_run_page(
    run_id: int,
    request: Request,
    session: DB,
    who: WebUser,
    code: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    who.require("customers:read")
    run = ingest.get_run(session, run_id)
    rows, total = ingest.quarantine_rows(session, run_id, code or None, None, (page - 1) * 50, 50)
    return render(
        request,
        "import_run.html",
        run=run,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // 50)),
        code=code or "",
    )
