"""``patron mail test`` against a real SMTP server on loopback: sent, refused, away, switched off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from conftest import SmtpServer, free_port
from patron.cli.main import app
from patron.core import settings as settings_module

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    settings_module.get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings_module.get_settings.cache_clear()


def use(env: pytest.MonkeyPatch, port: int) -> None:
    env.setenv("PATRON_SMTP_HOST", "127.0.0.1")
    env.setenv("PATRON_SMTP_PORT", str(port))
    env.setenv("PATRON_MAIL_FROM", "Shop Support <help@shop.test>")
    settings_module.get_settings.cache_clear()


def test_a_test_mail_is_sent_now(env: pytest.MonkeyPatch, smtp: SmtpServer) -> None:
    use(env, smtp.port)
    result = runner.invoke(app, ["mail", "test", "ops@shop.test"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"sent to ops@shop.test through 127.0.0.1:{smtp.port} (<")
    [got] = smtp.received
    assert (got.sender, got.recipients) == ("help@shop.test", ["ops@shop.test"])
    assert got.message["Subject"] == "Patron: test mail / 测试邮件"


def test_a_refused_address_is_an_error(env: pytest.MonkeyPatch, smtp: SmtpServer) -> None:
    use(env, smtp.port)
    smtp.refuse_rcpt = "550 5.1.1 no such user"
    result = runner.invoke(app, ["mail", "test", "nobody@shop.test"])
    assert result.exit_code == 2
    assert "[mail_refused] the server refused nobody@shop.test" in result.stderr
    assert "no such user" in result.stderr


def test_a_server_that_is_away_is_an_error(env: pytest.MonkeyPatch) -> None:
    port = free_port()
    use(env, port)
    result = runner.invoke(app, ["mail", "test", "ops@shop.test"])
    assert result.exit_code == 2
    assert f"[mail_failed] 127.0.0.1:{port} did not take the mail" in result.stderr


def test_without_a_server_it_says_so(env: pytest.MonkeyPatch) -> None:
    env.delenv("PATRON_SMTP_HOST", raising=False)
    result = runner.invoke(app, ["mail", "test", "ops@shop.test"])
    assert result.exit_code == 2
    assert "[mail_off] PATRON_SMTP_HOST is not set" in result.stderr
