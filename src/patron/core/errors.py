"""One error base with stable machine-readable codes.

Every expected failure in Patron raises a :class:`PatronError` subclass; the API renders it as
``{"error": code, "detail": message, "data": {...}}`` with ``status``, the CLI prints the message
and exits non-zero, and the web UI shows it translated. Codes are part of the public contract:
never rename one.
"""

from __future__ import annotations

from typing import Any


class PatronError(Exception):
    code: str = "patron_error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.data: dict[str, Any] = data or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.message, "data": self.data}


class NotFound(PatronError):
    code = "not_found"
    status = 404


class Conflict(PatronError):
    code = "conflict"
    status = 409


class InvalidInput(PatronError):
    code = "invalid_input"
    status = 400


class NotAuthenticated(PatronError):
    code = "not_authenticated"
    status = 401


class PermissionDenied(PatronError):
    code = "permission_denied"
    status = 403
