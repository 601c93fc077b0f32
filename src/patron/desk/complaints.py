"""Complaint classification and severity for tickets, with agents' corrections fed back.

The classifier is not stored: it is retrained from the packaged corpus plus every stored
correction whenever the corrections change (a fit takes well under a second), and kept in
memory per process in between. A correction is therefore used from the next classification on.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.desk import repository as repo
from patron.desk.classifier import ComplaintClassifier, train_default
from patron.desk.severity import Severity, grade

CATEGORIES = ("product", "logistics", "service", "price", "promotion")
REPEAT_WINDOW = timedelta(days=90)

_lock = threading.Lock()
_cached: tuple[tuple[str, int, int | None], ComplaintClassifier] | None = None


def classifier(session: Session) -> ComplaintClassifier:
    """The model for the corrections stored now (retrained only when they changed: their count
    and latest id are compared, the texts read only then)."""
    global _cached
    fingerprint = (str(session.get_bind().engine.url), *repo.corrections_fingerprint(session))
    with _lock:
        if _cached is None or _cached[0] != fingerprint:
            _cached = (fingerprint, train_default(repo.corrections(session)))
        return _cached[1]


def classify(session: Session, text: str) -> tuple[str, float]:
    category, confidence = classifier(session).classify(text)
    return str(category), float(confidence)


def severity(
    session: Session,
    *,
    category: str,
    customer_id: int | None,
    tier: str | None,
    order_value_minor: int | None,
    currency: str,
    text: str,
    now: datetime,
) -> Severity:
    repeats = repo.count_complaints(session, customer_id, now - REPEAT_WINDOW) if customer_id else 0
    return grade(
        category,
        customer_tier=tier,
        order_value_minor=order_value_minor,
        currency=currency,
        repeat_complaints_90d=repeats,
        text=text,
    )
