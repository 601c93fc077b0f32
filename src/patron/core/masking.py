"""PII masking for roles that may not see phones and emails in full."""

from __future__ import annotations


def mask_phone(value: str | None) -> str | None:
    """'+8613812345678' -> '138****5678' (national part, middle four hidden, as marketplaces do)."""
    if not value:
        return value
    digits = value[3:] if value.startswith("+86") else value.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}" if len(digits) > 7 else "***" + digits[-4:]


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return value
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_identity(kind: str, value: str) -> str:
    if kind == "phone":
        return mask_phone(value) or value
    if kind == "email":
        return mask_email(value) or value
    return value
