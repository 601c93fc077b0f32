"""All SQL of the accounts domain: users and API keys."""

from __future__ import annotations

from sqlalchemy import func, select
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


def key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
