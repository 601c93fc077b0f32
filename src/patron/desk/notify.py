"""Webhook notifications of the desk (SLA warnings and misses), sent by the durable job
``desk.notify``: queued inside the transaction that decided them, so a notification goes out
only if that committed, at most once per key, and is retried with back-off while the receiver
fails.

Each POST carries the JSON payload and ``X-Patron-Signature: sha256=<hex>``, the HMAC-SHA256 of
the exact body with the instance's secret key, so the receiver can check it came from Patron
(``hmac.compare_digest(expected, received)``), and ``X-Patron-Event`` with the event name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from sqlalchemy.orm import Session

from patron.core import jobs
from patron.core.settings import get_settings

JOB = "desk.notify"
TIMEOUT_S = 10.0


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@jobs.job(JOB)
def notify(session: Session, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Patron-Event": str(payload.get("event", "")),
        "X-Patron-Signature": signature(body, get_settings().resolved_secret_key()),
    }
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S)
    response.raise_for_status()  # a failure is retried by the job runner
    return {"status": response.status_code}
