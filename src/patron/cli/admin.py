"""``patron db``, ``patron shops``, ``patron users``, ``patron fx``: set-up commands."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from patron.accounts import service as accounts
from patron.cli._common import console, handle_errors
from patron.commerce import service as commerce
from patron.core.db import get_engine, session_scope
from patron.core.migrate import upgrade
from patron.privacy import audit

db = typer.Typer(help="Database schema.", no_args_is_help=True)
shops = typer.Typer(help="Shops (sales channels).", no_args_is_help=True)
users = typer.Typer(help="Back-office users.", no_args_is_help=True)
fx = typer.Typer(help="Exchange rates to the reporting currency.", no_args_is_help=True)


@db.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version."""
    engine = get_engine()
    upgrade(engine)
    console.print(f"schema up to date on {engine.url.render_as_string(hide_password=True)}")


@shops.command("add")
@handle_errors
def shops_add(
    code: str,
    name: str,
    platform: Annotated[
        str,
        typer.Option(
            help="own_site, taobao, tmall, jd, pinduoduo, douyin, wechat_mini, shopify, woocommerce, other"
        ),
    ],
    currency: str = "CNY",
    timezone: str = "Asia/Shanghai",
    name_zh: str | None = None,
) -> None:
    """Add a shop."""
    with session_scope() as s:
        shop = commerce.create_shop(
            s,
            code=code,
            name=name,
            platform=platform,
            currency=currency,
            timezone=timezone,
            name_zh=name_zh,
        )
        audit.record(
            s,
            actor="cli",
            action="shop.create",
            target_type="shop",
            target_id=shop.id,
            data={"code": code},
        )
    console.print(f"shop {code} created")


@shops.command("list")
@handle_errors
def shops_list() -> None:
    """List shops."""
    with session_scope() as s:
        table = Table("code", "name", "platform", "currency", "timezone")
        for shop in commerce.list_shops(s):
            table.add_row(shop.code, shop.name, shop.platform, shop.currency, shop.timezone)
    console.print(table)


@users.command("add")
@handle_errors
def users_add(
    email: str,
    name: str,
    role: Annotated[str, typer.Option(help="admin, analyst, marketer, agent, read_only")] = "admin",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
    locale: str = "en",
) -> None:
    """Create a back-office user."""
    with session_scope() as s:
        user = accounts.create_user(s, email=email, name=name, password=password, role=role, locale=locale)
        audit.record(
            s,
            actor="cli",
            action="user.create",
            target_type="user",
            target_id=user.id,
            data={"role": role},
        )
    console.print(f"user {email} ({role}) created")


@users.command("api-key")
@handle_errors
def users_api_key(email: str, name: str, scope: Annotated[list[str], typer.Option()]) -> None:
    """Create an API key for a user with the given scopes; printed once."""
    from patron.core.errors import NotFound

    with session_scope() as s:
        user = accounts.user_by_email(s, email)
        if user is None:
            raise NotFound(f"no user {email}", code="user_not_found")
        key = accounts.create_api_key(s, user, name, scope)
        audit.record(
            s,
            actor="cli",
            action="api_key.create",
            target_type="user",
            target_id=user.id,
            data={"scopes": scope},
        )
    console.print(key)


@fx.command("set")
@handle_errors
def fx_set(currency: str, rate: str, quote: str = "CNY", valid_on: str | None = None) -> None:
    """Set the rate of one CURRENCY unit in QUOTE (the reporting currency) for a day."""
    day = date.fromisoformat(valid_on) if valid_on else date.today()  # noqa: DTZ011
    with session_scope() as s:
        commerce.set_fx_rate(s, currency, quote, day, rate)
    console.print(f"1 {currency.upper()} = {rate} {quote.upper()} from {day}")
