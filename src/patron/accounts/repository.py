"""All SQL of the accounts domain: users and API keys."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from patron.models import ApiKey, User


def by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def add(session: Session, obj: User | ApiKey) -> None:
    session.add(obj)
    session.flush()


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


_KEY_AND_USER = (
    select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.prefix == bindparam("prefix"))
)


def key_and_user(session: Session, prefix: str) -> tuple[ApiKey, User] | None:
    """The key and its user in one query (every API request asks this)."""
    row = session.execute(_KEY_AND_USER, {"prefix": prefix}).first()
    return None if row is None else (row[0], row[1])
