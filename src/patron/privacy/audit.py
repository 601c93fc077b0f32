"""The append-only, hash-chained audit log of admin actions, imports, merges and PII reveals.

Each entry's hash covers the previous entry's hash, so editing or deleting a past entry breaks
the chain, which :func:`verify_chain` detects.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.time import utcnow
from patron.models import AuditEntry

GENESIS = "0" * 64


def _digest(prev_hash: str, entry: AuditEntry) -> str:
    payload = json.dumps(
        [
            prev_hash,
            entry.created_at.isoformat(),
            entry.actor,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.data,
        ],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: object = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    last = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        created_at=utcnow(),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        data=data or {},
        prev_hash=last or GENESIS,
    )
    entry.hash = _digest(entry.prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash does not match, or None when the chain is intact."""
    prev = GENESIS
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)):
        if entry.prev_hash != prev or _digest(prev, entry) != entry.hash:
            return entry.id
        prev = entry.hash
    return None
