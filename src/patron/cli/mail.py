"""``patron mail test ADDRESS``: check the outgoing mail settings by sending one mail now."""

from __future__ import annotations

import smtplib
from typing import Annotated

import typer

from patron.cli._common import console, handle_errors
from patron.core import mail
from patron.core.errors import InvalidInput
from patron.core.settings import get_settings

app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)


@app.command("test")
@handle_errors
def test_command(to: Annotated[str, typer.Argument(help="where to send the test mail")]) -> None:
    """Send a test mail right away (not through the job queue) and say what the server answered."""
    settings = get_settings()
    if not mail.enabled(settings):
        raise InvalidInput("PATRON_SMTP_HOST is not set: this instance mails nobody", code="mail_off")
    message = mail.build(
        mail.Mail(
            to=to,
            subject="Patron: test mail / 测试邮件",
            text="Outgoing mail works.\n外发邮件设置正常。\n",
            automatic=True,
        ),
        settings.mail_from,
    )
    try:
        result = mail.send(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        raise InvalidInput(f"{where} did not take the mail: {exc}", code="mail_failed") from exc
    if not result["delivered"]:
        raise InvalidInput(f"the server refused {to}", code="mail_refused", data=result["refused"])
    console.print(
        f"sent to {to} through {settings.smtp_host}:{settings.smtp_port} ({result['message_id']})",
        soft_wrap=True,
    )
