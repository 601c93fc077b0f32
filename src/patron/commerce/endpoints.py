"""REST endpoints of the commerce domain (shops)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from patron.accounts.dependencies import Auth
from patron.commerce import service
from patron.core.deps import DB

router = APIRouter(prefix="/api/v1", tags=["shops"])


class ShopOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    name_zh: str | None
    platform: str
    currency: str
    timezone: str


class ShopCreate(BaseModel):
    code: str
    name: str
    platform: str
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    name_zh: str | None = None


@router.get("/shops", response_model=list[ShopOut])
def list_shops(session: DB, who: Auth) -> list[ShopOut]:
    who.require("customers:read")
    return [ShopOut.model_validate(s) for s in service.list_shops(session)]


@router.post("/shops", response_model=ShopOut, status_code=201)
def create_shop(body: ShopCreate, session: DB, who: Auth) -> ShopOut:
    who.require("admin")
    return ShopOut.model_validate(service.create_shop(session, **body.model_dump()))
