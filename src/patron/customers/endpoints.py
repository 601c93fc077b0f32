"""REST endpoints of the customers domain (``/api/v1/customers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from patron.accounts.dependencies import Auth, in_one_thread
from patron.accounts.service import Principal
from patron.core.deps import DB
from patron.customers import service
from patron.customers.schemas import Customer360, CustomerPage, MergeOut, TagCreate

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    request: Request,
    q: Annotated[
        str | None, Query(max_length=200, description="name prefix, id, phone, email or identity")
    ] = None,
    tag: str | None = None,
    shop_id: int | None = None,
    signup_from: datetime | None = None,
    signup_to: datetime | None = None,
    min_orders: Annotated[int | None, Query(ge=0)] = None,
    max_orders: Annotated[int | None, Query(ge=0)] = None,
    min_spent_minor: Annotated[int | None, Query(ge=0)] = None,
    max_spent_minor: Annotated[int | None, Query(ge=0)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 25,
) -> Response:
    f = service.SearchFilter(
        q=q or None,
        tag=tag,
        shop_id=shop_id,
        signup_from=signup_from,
        signup_to=signup_to,
        min_orders=min_orders,
        max_orders=max_orders,
        min_spent_minor=min_spent_minor,
        max_spent_minor=max_spent_minor,
    )

    def run(session: Session, who: Principal) -> str:
        who.require("customers:read")
        items, total = service.search(
            session,
            f,
            offset=(page - 1) * per_page,
            limit=per_page,
            reporting_currency=request.app.state.settings.reporting_currency,
            pii=who.can("customers:pii"),
        )
        return CustomerPage(items=items, page=page, per_page=per_page, total=total).model_dump_json()

    # Serialised once by the model itself: FastAPI would validate the finished model again.
    return Response(await in_one_thread(request, run), media_type="application/json")


@router.get("/customers/{customer_id}", response_model=Customer360)
async def get_customer(customer_id: int, request: Request) -> Response:
    def run(session: Session, who: Principal) -> str:
        who.require("customers:read")
        return service.profile_360(
            session,
            customer_id,
            reporting_currency=request.app.state.settings.reporting_currency,
            pii=who.can("customers:pii"),
        ).model_dump_json()

    return Response(await in_one_thread(request, run), media_type="application/json")


@router.post("/customers/{customer_id}/tags", status_code=204)
def add_tag(customer_id: int, body: TagCreate, session: DB, who: Auth) -> None:
    who.require("customers:write")
    service.add_tag(session, customer_id, body.name, actor=who.actor)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
def undo_merge(merge_id: int, session: DB, who: Auth) -> MergeOut:
    who.require("admin")
    return MergeOut.model_validate(service.unmerge(session, merge_id, actor=who.actor))
