"""Back-office users, roles, passwords (argon2) and scoped API keys.

What each role may do is one table (:data:`PERMISSIONS`) so that the API, the web UI and the
tests all ask the same question: ``can(role, "customers:pii")``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.orm import Session

from patron.accounts import repository as repo
from patron.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied
from patron.core.time import utcnow
from patron.models import ApiKey, Role, User

_hasher = PasswordHasher()
KEY_USE_RESOLUTION = timedelta(minutes=5)

SCOPES = (
    "customers:read",
    "customers:write",
    "customers:pii",
    "imports:write",
    "analytics:run",
    "tickets:read",
    "tickets:write",
    "desk:admin",
    "loyalty:read",
    "loyalty:write",
    "loyalty:admin",
    "admin",
)
PERMISSIONS: dict[str, frozenset[str]] = {
    Role.admin: frozenset(SCOPES),
    Role.analyst: frozenset({"customers:read", "analytics:run", "tickets:read", "loyalty:read"}),
    Role.marketer: frozenset({"customers:read", "customers:write", "loyalty:read"}),
    Role.agent: frozenset(
        {
            "customers:read",
            "customers:write",
            "customers:pii",
            "tickets:read",
            "tickets:write",
            "loyalty:read",
            "loyalty:write",
        }
    ),
    Role.read_only: frozenset({"customers:read", "tickets:read", "loyalty:read"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is asking, and with which scopes (a user's role, narrowed by an API key's scopes)."""

    user_id: int
    name: str
    role: str
    scopes: frozenset[str]

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(f"your role may not do this (needs {scope})", data={"scope": scope})

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


def principal_for(user: User, scopes: frozenset[str] | None = None) -> Principal:
    allowed = PERMISSIONS.get(user.role, frozenset())
    return Principal(user.id, user.name, user.role, allowed if scopes is None else allowed & scopes)


def create_user(
    session: Session, *, email: str, name: str, password: str, role: str, locale: str = "en"
) -> User:
    if role not in PERMISSIONS:
        raise InvalidInput(f"unknown role {role!r}", code="unknown_role", data={"allowed": list(PERMISSIONS)})
    if len(password) < 8:
        raise InvalidInput("a password needs at least 8 characters", code="weak_password")
    if repo.by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} exists already", code="user_exists")
    user = User(
        email=email.strip().lower(),
        name=name,
        password_hash=_hasher.hash(password),
        role=role,
        locale=locale,
    )
    repo.add(session, user)
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    user = repo.by_email(session, email.strip())
    if user is None or not user.is_active:
        _hasher.hash(password)  # same cost whether or not the user exists
        raise NotAuthenticated("wrong email or password", code="bad_credentials")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError) as exc:
        raise NotAuthenticated("wrong email or password", code="bad_credentials") from exc
    return user


def get_user(session: Session, user_id: int) -> User | None:
    user = repo.get(session, user_id)
    return user if user is not None and user.is_active else None


def list_users(session: Session) -> list[User]:
    return repo.users(session)


def _key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, user: User, name: str, scopes: list[str]) -> str:
    """Returns the key once (``ptn_<prefix>_<secret>``); only its hash is stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(
            f"unknown scope(s): {', '.join(unknown)}",
            code="unknown_scope",
            data={"allowed": list(SCOPES)},
        )
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    repo.add(
        session,
        ApiKey(user_id=user.id, name=name, prefix=prefix, key_hash=_key_hash(secret), scopes=scopes),
    )
    return f"ptn_{prefix}_{secret}"


def principal_from_key(session: Session, token: str) -> Principal:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ptn":
        raise NotAuthenticated("malformed API key", code="bad_api_key")
    found = repo.key_and_user(session, parts[1])
    if (
        found is None
        or found[0].revoked_at is not None
        or not hmac.compare_digest(found[0].key_hash, _key_hash(parts[2]))
    ):
        raise NotAuthenticated("unknown or revoked API key", code="bad_api_key")
    key, user = found
    if not user.is_active:
        raise NotAuthenticated("the key's user is disabled", code="bad_api_key")
    now = utcnow()
    # Recorded at most every few minutes: a write per request would serialise all API reads.
    if key.last_used_at is None or now - key.last_used_at > KEY_USE_RESOLUTION:
        key.last_used_at = now
    return principal_for(user, frozenset(key.scopes))


def user_by_email(session: Session, email: str) -> User | None:
    return repo.by_email(session, email)
