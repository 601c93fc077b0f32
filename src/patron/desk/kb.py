"""The knowledge base and the FAQ bot: articles stored per language, a search over them, answers
from the best passages, and the handover to a person as a ticket holding the conversation.

The retrieval index (:mod:`patron.desk.faq`) is built from the published articles and kept per
process until an article changes (the fingerprint is the count and the latest update), so a
question costs a lookup, not a rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput, NotFound
from patron.desk import repository as repo
from patron.desk import service
from patron.desk.faq import Answer, Article, FaqIndex, Hit, load_articles
from patron.models import KbArticle, Ticket

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], FaqIndex | None] | None = None


def _article(row: KbArticle) -> Article:
    return Article(id=row.slug, lang=row.lang, title=row.title, body=row.body, tags=tuple(row.tags or ()))


def index(session: Session) -> FaqIndex | None:
    """The index of the published articles (None while there are none)."""
    global _cached
    fingerprint = repo.kb_fingerprint(session)
    with _lock:
        if _cached is None or _cached[0] != fingerprint:
            rows = repo.kb_articles(session, published_only=True)
            _cached = (fingerprint, FaqIndex.build([_article(r) for r in rows]) if rows else None)
        return _cached[1]


def save(
    session: Session,
    *,
    slug: str,
    lang: str,
    title: str,
    body: str,
    tags: Sequence[str] = (),
    published: bool = True,
) -> KbArticle:
    """Create or replace one language version of an article (checked like the index checks)."""
    _article(KbArticle(slug=slug, lang=lang, title=title, body=body, tags=list(tags)))
    row = repo.kb_article(session, slug, lang)
    if row is None:
        row = repo.add(session, KbArticle(slug=slug, lang=lang, title=title, body=body, tags=list(tags)))
    row.title, row.body, row.tags, row.published = title, body, list(tags), published
    session.flush()
    return row


def load_defaults(session: Session) -> int:
    """Add the packaged articles of a new shop (refund, shipping, invoices, …) that are missing;
    an article the shop already has, edited or not, is left alone. Returns how many were added."""
    added = 0
    for article in load_articles():
        if repo.kb_article(session, article.id, article.lang) is None:
            save(
                session,
                slug=article.id,
                lang=article.lang,
                title=article.title,
                body=article.body,
                tags=article.tags,
            )
            added += 1
    return added


def articles(session: Session, *, lang: str | None = None) -> list[KbArticle]:
    return repo.kb_articles(session, lang=lang)


def get(session: Session, slug: str, lang: str) -> KbArticle:
    row = repo.kb_article(session, slug, lang)
    if row is None:
        raise NotFound(f"no article {slug!r} in {lang}", code="kb_article_not_found")
    return row


def search(session: Session, query: str, *, lang: str | None = None, k: int = 5) -> list[Hit]:
    found = index(session)
    return found.search(query, lang=lang, k=k) if found is not None else []


def ask(session: Session, question: str, *, lang: str | None = None) -> Answer:
    """The bot's answer; ``confident`` False means it hands over to a person."""
    if len(question) > 2000:
        raise InvalidInput(
            "the question is too long (at most 2,000 characters)", code="bot_question_too_long"
        )
    found = index(session)
    if found is None:
        return Answer(question, lang or "zh", None, None, (), 0.0, False, "no_articles", ())
    return found.answer(question, lang=lang)


@dataclass(frozen=True)
class Turn:
    who: str  # customer or bot
    text: str


def handover(
    session: Session,
    conversation: Sequence[Turn],
    *,
    name: str,
    email: str,
    lang: str,
    config: service.DeskConfig,
) -> Ticket:
    """Open a ticket for a person to take over, holding the whole conversation with the bot."""
    asked = [t.text.strip() for t in conversation if t.who == "customer" and t.text.strip()]
    if not asked:
        raise InvalidInput("the conversation has no question to hand over", code="bot_nothing_to_hand_over")
    label = {"customer": name, "bot": "bot"} if lang == "en" else {"customer": name, "bot": "机器人"}
    transcript = "\n".join(f"{label.get(t.who, t.who)}: {t.text.strip()}" for t in conversation)
    subject = asked[0] if len(asked[0]) <= 120 else asked[0][:119] + "…"
    form: Mapping[str, Any] = {
        "subject": subject,
        "body": transcript,
        "name": name,
        "email": email,
        "language": lang,
    }
    return service.create_public(session, form, config=config)
