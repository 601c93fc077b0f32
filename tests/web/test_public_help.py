"""The FAQ bot's public page (both databases): an answer from the articles, or the hand-over to
a person through the support form with the question and the bot's answer already in it."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import table_rows
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.desk import kb


@pytest.fixture
def public(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    with session_scope(engine) as s:
        kb.load_defaults(s)
    settings = Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


def handover_link(page: str) -> str:
    start = page.index('id="bot-handover" href="') + len('id="bot-handover" href="')
    return html.unescape(page[start : page.index('"', start)])


def test_the_bot_answers_from_the_articles(public: TestClient) -> None:
    public.get("/lang/zh")
    page = public.get("/support/help", params={"q": "发票怎么开？"}).text
    assert 'id="bot-title"' in page
    assert "发票" in page[page.index('id="bot-answer"') :]
    assert 'id="bot-unsure"' not in page
    assert "智能客服" in page


def test_off_topic_questions_go_to_a_person_with_the_conversation(public: TestClient, engine: Engine) -> None:
    public.get("/lang/en")
    page = public.get("/support/help", params={"q": "Will it rain in Shanghai tomorrow?"}).text
    assert "I am not sure I can answer that" in page
    link = handover_link(page)
    query = parse_qs(urlparse(link).query)
    assert query["subject"] == ["Will it rain in Shanghai tomorrow?"]
    assert query["body"][0].startswith("Customer: Will it rain in Shanghai tomorrow?\nBot: Sorry")
    form = public.get(link).text
    assert 'value="Will it rain in Shanghai tomorrow?"' in form
    assert ">Customer: Will it rain in Shanghai tomorrow?" in form
    assert table_rows(engine, "SELECT count(*) FROM tickets") == [(0,)]  # nothing until sent


def test_an_empty_question_shows_the_form_only(public: TestClient) -> None:
    page = public.get("/support/help").text
    assert 'id="help-form"' in page
    assert 'id="bot-answer"' not in page
    assert 'href="/support/help"' in public.get("/support").text
