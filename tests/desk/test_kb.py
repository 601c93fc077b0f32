"""The knowledge base and the FAQ bot on both databases: default articles, edits reaching the
index, answers, and the handover to a person as a ticket with the conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import api_key, table_rows
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.core.settings import Settings
from patron.desk import kb
from patron.desk.faq import load_articles
from patron.desk.service import DeskConfig


def test_defaults_load_once_and_edits_reach_the_bot(engine: Engine) -> None:
    packaged = load_articles()
    with session_scope(engine) as s:
        assert kb.ask(s, "退货运费谁出").reason == "no_articles"
        assert kb.load_defaults(s) == len(packaged)
    with session_scope(engine) as s:
        assert kb.load_defaults(s) == 0  # nothing twice; edited articles are left alone
        answer = kb.ask(s, "How long do refunds take to reach my credit card?", lang="en")
        assert answer.confident
        refund_article = answer.article_id
        assert answer.lang == "en"
        assert answer.passages
    # An article the shop writes itself is found at once (the index follows the edit).
    with session_scope(engine) as s:
        kb.save(
            s,
            slug="pets-in-store",
            lang="en",
            title="Can I bring my dog to the flagship store?",
            body="Dogs on a leash are welcome in our Shanghai flagship store, and water bowls are at the door.",
        )
    with session_scope(engine) as s:
        hits = kb.search(s, "bring my dog to the flagship store", lang="en", k=1)
        assert [h.article_id for h in hits] == ["pets-in-store"]
        assert kb.ask(s, "How long do refunds take to reach my credit card?").article_id == refund_article
    assert table_rows(engine, "SELECT count(*) FROM kb_articles") == [(len(packaged) + 1,)]


def test_bad_articles_and_questions_are_refused(engine: Engine) -> None:
    with session_scope(engine) as s:
        for slug, lang, body, code in (("Bad Slug", "en", "b", "faq_invalid_id"), ("ok", "fr", "b", "faq_unsupported_lang"),
                                       ("ok", "en", " ", "faq_empty_body")):  # fmt: skip
            with pytest.raises(InvalidInput) as err:
                kb.save(s, slug=slug, lang=lang, title="t", body=body)
            assert err.value.code == code
        with pytest.raises(InvalidInput) as long:
            kb.ask(s, "x" * 2001)
        assert long.value.code == "bot_question_too_long"
    assert table_rows(engine, "SELECT count(*) FROM kb_articles") == [(0,)]


def test_handover_opens_a_ticket_with_the_conversation(engine: Engine) -> None:
    turns = [kb.Turn("customer", "你们卖不卖二手手机？"), kb.Turn("bot", "抱歉，我没有找到答案。")]
    with session_scope(engine) as s:
        ticket = kb.handover(s, turns, name="小李", email="li@x.test", lang="zh", config=DeskConfig())
        assert (ticket.subject, ticket.channel, ticket.type) == ("你们卖不卖二手手机？", "web", "inquiry")
        with pytest.raises(InvalidInput) as err:
            kb.handover(s, [kb.Turn("bot", "hi")], name="x", email="x@x.test", lang="en", config=DeskConfig())
        assert err.value.code == "bot_nothing_to_hand_over"
    assert table_rows(engine, "SELECT body FROM ticket_messages") == [
        ("小李: 你们卖不卖二手手机？\n机器人: 抱歉，我没有找到答案。",)
    ]


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32)
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_the_bot_over_http(client: TestClient, engine: Engine) -> None:
    with session_scope(engine) as s:
        kb.load_defaults(s)
    r = client.post("/api/v1/public/bot/ask", json={"question": "发票怎么开？"})
    assert r.status_code == 200
    answer = r.json()
    assert (answer["lang"], answer["confident"], answer["handover"]) == ("zh", True, False)
    off_topic = client.post("/api/v1/public/bot/ask", json={"question": "明天上海会下雨吗"}).json()
    assert (off_topic["confident"], off_topic["handover"]) == (False, True)
    r = client.post(
        "/api/v1/public/bot/handover",
        json={"name": "Sam", "email": "sam@x.test", "lang": "en",
              "conversation": [{"who": "customer", "text": "Will it rain tomorrow?"}]},
    )  # fmt: skip
    assert r.status_code == 201
    assert r.json()["messages"][0]["body"] == "Sam: Will it rain tomorrow?"
    assert client.post("/api/v1/public/bot/ask", json={"question": "x", "lang": "fr"}).status_code == 422
    agent = api_key(engine, "agent", ["tickets:read"])
    hits = client.get("/api/v1/kb/search", params={"q": "invoice", "k": 2}, headers=agent).json()
    assert len(hits) == 2
    r = client.put("/api/v1/kb/articles/x/en", json={"title": "t", "body": "b"}, headers=agent)
    assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
