"""Exact field parsers used by the importers.

Each parser turns one spreadsheet or export cell into a typed value, or raises
:class:`FieldError` with a stable ``code`` the importer can show and count. The
codes are ``bad_money``, ``unknown_currency``, ``bad_datetime``, ``bad_date``,
``bad_int``, ``bad_phone``, ``bad_email`` and ``missing``.

The parsers target the exports Patron meets most often: Taobao/Tmall, 抖店 and
拼多多 reports (GBK text, full-width digits, ``¥``/``元`` amounts, ``="…"``
escaped ids, masked phones) as well as Shopify-style CSVs and Excel files
(where openpyxl already hands over ``datetime``, ``int`` and ``float``
values). They hold no state and import nothing from the rest of Patron, so
they can run in worker processes.
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Final

from patron.core.money import CURRENCY_ALIASES as _CURRENCY_ALIASES
from patron.core.money import CURRENCY_EXPONENTS

__all__ = [
    "CURRENCY_EXPONENTS",
    "FieldError",
    "Phone",
    "clean_cell",
    "currency_exponent",
    "normalize_email",
    "normalize_phone",
    "parse_date",
    "parse_datetime",
    "parse_int",
    "parse_money",
]


class FieldError(Exception):
    """A cell that cannot be parsed; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        # Both go into ``args`` so the exception pickles across worker processes.
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# ---------------------------------------------------------------------------
# Shared text helpers
# ---------------------------------------------------------------------------

# Every character str.strip() treats as whitespace, plus the BOM and zero-width
# marks that Excel and WeChat copy-paste leave behind.
_STRIP: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b\u200c\u200d\u200e\u200f\u2060"
)

# Full-width ASCII (U+FF01..U+FF5E, typed by Chinese input methods) to ASCII,
# the ideographic space to a space and the Unicode minus sign to "-".
_FULLWIDTH: Final = str.maketrans(
    {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x2212: 0x2D}
)

_INT64_MAX: Final = 2**63 - 1


def _show(value: object) -> str:
    """Short repr of an offending value for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: str) -> str:
    """Strip whitespace/BOM and fold full-width characters to ASCII."""
    s = value.strip(_STRIP)
    if not s.isascii():
        s = s.translate(_FULLWIDTH).strip(_STRIP)
    return s


def clean_cell(value: object) -> str | None:
    """Normalise a text cell; empty or whitespace-only cells become ``None``.

    Undoes what spreadsheets and marketplace exports do to protect long ids from
    Excel's number conversion: ``="3612345"`` becomes ``3612345``, a leading
    apostrophe is dropped, and a trailing tab (Taobao appends one to order
    numbers) is stripped along with ordinary, full-width (U+3000) and
    non-breaking spaces and a stray BOM. Placeholders such as ``"null"`` or
    ``"-"`` are kept: whether they mean "absent" depends on the column.

    Non-strings are converted with ``str``; an integral float (an id typed as a
    number in Excel) loses its ``.0``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        s = value
    elif isinstance(value, float) and value.is_integer():
        s = str(int(value))
    else:
        s = str(value)
    s = s.strip(_STRIP)
    if s:
        first = s[0]
        if first == "=" and len(s) >= 3 and s[1] == '"' and s[-1] == '"':
            s = s[2:-1].replace('""', '"').strip(_STRIP)
        elif first == "'":
            s = s[1:].strip(_STRIP)
    return s or None


# ---------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------

_POW10: Final[tuple[int, ...]] = tuple(10**i for i in range(10))

# Exact decimal arithmetic: enough precision for any input we accept (strings
# are capped at 64 characters) and Inexact trapped, so nothing is ever rounded.
_DEC: Final = Context(prec=80, traps=[InvalidOperation, Inexact])


def currency_exponent(code: str) -> int:
    """Minor-unit digits of an ISO 4217 code (``"cny "`` -> 2, ``"JPY"`` -> 0)."""
    exp = CURRENCY_EXPONENTS.get(code)
    if exp is not None:
        return exp
    norm = code.strip(_STRIP).upper() if isinstance(code, str) else ""
    exp = CURRENCY_EXPONENTS.get(_CURRENCY_ALIASES.get(norm, norm))
    if exp is None:
        raise FieldError("unknown_currency", f"unknown currency code {_show(code)}")
    return exp


_SYMBOLS: Final = "$¥￥€£₩₹₽฿₫₱₪"
_PLAIN_MONEY: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_MONEY: Final = re.compile(
    rf"""
    (?P<sign>[-+])?\s*
    (?:(?P<qual>[A-Za-z]{{1,3}})?\s*(?P<sym>[{_SYMBOLS}])\s*    # ¥ | US$ | HK$ | CN¥
       |(?P<pre>[A-Za-z]{{3}})\s*)?                           # CNY 12 | RMB12
    (?P<sign2>[-+])?\s*
    (?P<int>[0-9]{{1,3}}(?:,[0-9]{{3}})+                      # 1,234,567
           |[0-9]{{1,2}}(?:,[0-9]{{2}})+,[0-9]{{3}}           # 12,34,567 (India)
           |[0-9]*)
    (?:\.(?P<frac>[0-9]*))?
    \s*(?P<suf>[元圆円块]|[A-Za-z]{{3}})?                      # 12元 | 12 USD
    """,
    re.VERBOSE,
)


def _check_code(written: str, currency: str) -> None:
    code = written.upper()
    code = _CURRENCY_ALIASES.get(code, code)
    if code not in CURRENCY_EXPONENTS:
        raise FieldError("bad_money", f"unexpected text {written!r} in amount")
    target = currency.strip(_STRIP).upper()
    if code != _CURRENCY_ALIASES.get(target, target):
        raise FieldError("bad_money", f"amount is in {code}, expected {target}")


def _minor_from_decimal(d: Decimal, exp: int, value: object) -> int:
    if not d.is_finite():
        raise FieldError("bad_money", f"not a finite amount: {_show(value)}")
    if d and d.adjusted() > 20:
        raise FieldError("bad_money", f"amount out of range: {_show(value)}")
    try:
        scaled = _DEC.scaleb(d, exp)
    except (InvalidOperation, Inexact):
        raise FieldError("bad_money", f"too many digits: {_show(value)}") from None
    if scaled != scaled.to_integral_value():
        raise FieldError("bad_money", f"more than {exp} decimal places: {_show(value)}")
    minor = int(scaled)
    if not -_INT64_MAX <= minor <= _INT64_MAX:
        raise FieldError("bad_money", f"amount out of range: {_show(value)}")
    return minor


def parse_money(value: str | int | float | Decimal | None, currency: str) -> int:
    """Parse an amount into integer minor units of ``currency`` (fen for CNY).

    Amounts are exact: strings and Decimals go through :class:`~decimal.Decimal`
    and never through binary floating point, where ``0.1 + 0.2 != 0.3`` and a
    million rows of ``12.35`` do not sum to a whole number of fen.

    Accepted: ``"1,234.50"``, ``"¥1234.5"``, ``"$12"``, ``"1234.50元"``,
    ``"CNY 12"``, ``"12.00 USD"``, ``"-3.20"``, ``"(3.20)"`` (accounting
    negative), full-width digits, surrounding whitespace. A currency code
    written in the cell must match ``currency``; symbols such as ``$`` are not
    checked (many currencies share them). More decimals than the currency has
    are rejected unless the extra digits are zeros (``"12.500"`` CNY is fine,
    ``"12.505"`` is not) -- a parser must not silently round money. Thousands
    separators must be grouped correctly (``"1,23"`` is rejected, it may be a
    decimal comma).

    An ``int`` means major units (``12`` CNY -> 1200). A ``float`` (openpyxl's
    number cells) is read to Excel's 15 significant digits, i.e. what Excel shows.
    Results must fit a signed 64-bit column.
    """
    exp = currency_exponent(currency)
    if value is None:
        raise FieldError("missing", "amount is empty")
    if isinstance(value, str):
        s = value.strip(_STRIP)
        if _PLAIN_MONEY.fullmatch(s):  # fast path: "1234.50"
            return _minor_from_decimal(Decimal(s), exp, value)
        return _parse_money_text(value, s, exp, currency)
    if isinstance(value, bool):
        raise FieldError("bad_money", f"not an amount: {_show(value)}")
    if isinstance(value, int):
        minor = value * _POW10[exp]
        if not -_INT64_MAX <= minor <= _INT64_MAX:
            raise FieldError("bad_money", f"amount out of range: {_show(value)}")
        return minor
    if isinstance(value, float):
        # Excel keeps 15 significant digits; anything past them is binary noise
        # (a formula's 0.1 + 0.2 is cached as 0.30000000000000004).
        return _minor_from_decimal(Decimal(f"{value:.15g}"), exp, value)
    if isinstance(value, Decimal):
        return _minor_from_decimal(value, exp, value)
    raise FieldError("bad_money", f"not an amount: {_show(value)}")


def _parse_money_text(value: str, s: str, exp: int, currency: str) -> int:
    if not s.isascii():
        s = s.translate(_FULLWIDTH).strip(_STRIP)
    if not s:
        raise FieldError("missing", "amount is empty")
    if len(s) > 64:
        raise FieldError("bad_money", f"not an amount: {_show(value)}")
    negative = False
    if s[0] == "(" and s[-1] == ")":
        negative, s = True, s[1:-1].strip()
    m = _MONEY.fullmatch(s)
    if m is None:
        raise FieldError("bad_money", f"not an amount: {_show(value)}")
    sign, sign2, int_part, frac = m["sign"], m["sign2"], m["int"], m["frac"]
    if (sign and sign2) or (negative and (sign or sign2)):
        raise FieldError("bad_money", f"more than one sign: {_show(value)}")
    if not int_part and not frac:
        raise FieldError("bad_money", f"not an amount: {_show(value)}")
    for code in (m["pre"], m["suf"]):
        if code is not None and len(code) == 3:
            _check_code(code, currency)
    if m["pre"] is not None and m["suf"] is not None and len(m["suf"]) == 3:
        raise FieldError("bad_money", f"currency written twice: {_show(value)}")
    negative = negative or (sign or sign2) == "-"
    number = f"{'-' if negative else ''}{int_part.replace(',', '') or '0'}.{frac or '0'}"
    return _minor_from_decimal(Decimal(number), exp, value)


# ---------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------

_MIN_YEAR: Final = 1900
_MAX_YEAR: Final = 2100

# Formats datetime.fromisoformat() rejects: "2024/1/5 12:00:00", "2024.1.5",
# "2024年1月5日 12时30分", "2024-01-05 12:00:00 +0800" (Shopify), "... UTC+8".
_DATETIME: Final = re.compile(
    r"""
    (?P<y>[0-9]{4})
    (?:(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})
      |\s*年\s*(?P<cm>[0-9]{1,2})\s*月\s*(?P<cd>[0-9]{1,2})\s*[日号]?)
    (?:(?:\s*T\s*|\s+|(?<=[日号]))
       (?P<H>[0-9]{1,2})\s*[:时点]\s*(?P<M>[0-9]{1,2})
       (?:\s*(?::|分)\s*(?P<S>[0-9]{1,2})(?:[.,](?P<f>[0-9]{1,9}))?)?
       \s*[分秒]?
       (?:\s*(?P<z>[Zz])
         |\s*(?:UTC|GMT)?\s*(?P<oh>[-+][0-9]{1,2})(?::?(?P<om>[0-9]{2}))?
         |\s*(?P<u>UTC|GMT))?
    )?
    """,
    re.VERBOSE,
)


def _from_text(s: str, code: str) -> datetime:
    """Parse cleaned text into a datetime, naive unless it carries an offset."""
    # fromisoformat covers the common exports in ~0.1 µs, but a failed attempt
    # costs an exception: only try it when the 5th character allows ISO 8601.
    if len(s) > 4 and (s[4] == "-" or "0" <= s[4] <= "9"):
        with contextlib.suppress(ValueError):  # the regex below says what is wrong
            dt = datetime.fromisoformat(s)
            if not _MIN_YEAR <= dt.year <= _MAX_YEAR:
                raise FieldError(code, f"year outside {_MIN_YEAR}..{_MAX_YEAR}: {_show(s)}")
            return dt
    m = _DATETIME.fullmatch(s)
    if m is None:
        raise FieldError(code, f"not a date/time: {_show(s)}")
    y, sep, mo, d, cmo, cd, hh, mi, ss, frac, z, oh, om, u = m.groups()
    year = int(y)
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise FieldError(code, f"year outside {_MIN_YEAR}..{_MAX_YEAR}: {_show(s)}")
    if not sep:
        mo, d = cmo, cd
    tz: tzinfo | None = None
    if z or u:
        tz = UTC
    elif oh:
        hours = int(oh)
        minutes = int(om or 0)
        if abs(hours) > 23 or minutes > 59:
            raise FieldError(code, f"bad UTC offset: {_show(s)}")
        delta = timedelta(hours=abs(hours), minutes=minutes)
        tz = timezone(-delta if oh[0] == "-" else delta)
    try:
        return datetime(
            year,
            int(mo),
            int(d),
            int(hh or 0),
            int(mi or 0),
            int(ss or 0),
            int(frac[:6].ljust(6, "0")) if frac else 0,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise FieldError(code, f"impossible date/time {_show(s)}: {exc}") from None


def _coerce_text(value: object, code: str) -> str:
    """Text of a non-datetime cell value (ints like 20240105 from Excel)."""
    if isinstance(value, str):
        s = _text(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        s = str(value)
    elif isinstance(value, float) and value.is_integer():
        s = str(int(value))
    else:
        raise FieldError(code, f"not a date/time: {_show(value)}")
    if not s:
        raise FieldError("missing", "date/time is empty")
    return s


def parse_datetime(value: str | int | float | datetime | date | None, tz: tzinfo) -> datetime:
    """Parse a timestamp into an aware UTC datetime; naive values are local to ``tz``.

    ``tz`` is the shop's zone (Asia/Shanghai for Beijing time): Chinese
    marketplace exports carry no offset. Accepts ISO 8601 with or without
    offset/``Z``, ``"2024-01-05 12:00"``, ``"2024/1/5 12:00:00"``,
    ``"2024-01-05"`` (midnight), ``"20240105"``, ``"2024年1月5日 12:00:00"``,
    Shopify's ``"2024-01-05 12:00:00 +0800"`` and ``datetime``/``date``
    objects from openpyxl. Day-first/month-first forms (``"05/01/2024"``) are
    rejected as ambiguous, and so are bare numbers that are not ``YYYYMMDD``
    (epoch seconds vs milliseconds vs Excel serials cannot be told apart).
    Impossible dates and years outside 1900..2100 raise ``bad_datetime``. A
    wall time repeated by a DST change means its first occurrence; one skipped
    by it is read with the offset in force before the change (PEP 495 fold=0).

    Tries ``datetime.fromisoformat`` (C, ~1 µs) before one precompiled regex;
    no dateutil, which is ~50x slower and guesses.
    """
    if value is None:
        raise FieldError("missing", "date/time is empty")
    if isinstance(value, str):
        s = value.strip(_STRIP)
        if not s.isascii():
            s = s.translate(_FULLWIDTH).strip(_STRIP)
        if not s:
            raise FieldError("missing", "date/time is empty")
        dt = _from_text(s, "bad_datetime")
    elif isinstance(value, datetime):
        dt = value
        if not _MIN_YEAR <= dt.year <= _MAX_YEAR:
            raise FieldError("bad_datetime", f"year outside {_MIN_YEAR}..{_MAX_YEAR}")
    elif isinstance(value, date):
        if not _MIN_YEAR <= value.year <= _MAX_YEAR:
            raise FieldError("bad_datetime", f"year outside {_MIN_YEAR}..{_MAX_YEAR}")
        dt = datetime(value.year, value.month, value.day, tzinfo=tz)
    else:
        dt = _from_text(_coerce_text(value, "bad_datetime"), "bad_datetime")
    if dt.tzinfo is None:
        # Same as dt.replace(tzinfo=tz).astimezone(UTC) (fold=0 for repeated
        # wall times), a third cheaper on this hot path.
        offset = tz.utcoffset(dt)
        if offset is None:
            raise ValueError(f"time zone {tz!r} has no UTC offset")
        return (dt - offset).replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(value: str | int | float | datetime | date | None) -> date:
    """Parse a calendar date (birthdays); any time part is ignored, not converted.

    Same text formats as :func:`parse_datetime`. A birthday has no time zone,
    so ``"1990-01-05T23:00:00+08:00"`` is 5 January whatever the shop's zone.
    Impossible dates (``"1990-13-01"``) and years outside 1900..2100 raise
    ``bad_date``.
    """
    if value is None:
        raise FieldError("missing", "date is empty")
    if isinstance(value, datetime):
        d = value.date()
    elif isinstance(value, date):
        d = value
    else:
        s = _coerce_text(value, "bad_date")
        try:
            d = date.fromisoformat(s)
        except ValueError:
            d = _from_text(s, "bad_date").date()
    if not _MIN_YEAR <= d.year <= _MAX_YEAR:
        raise FieldError("bad_date", f"year outside {_MIN_YEAR}..{_MAX_YEAR}: {_show(value)}")
    return d


# ---------------------------------------------------------------------------
# Integers
# ---------------------------------------------------------------------------

_INT: Final = re.compile(r"([-+]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.0*)?")


def parse_int(value: str | int | float | Decimal | None) -> int:
    """Parse a whole number (quantities): ``"3"``, ``"3.0"``, ``"1,200"``, ``"３"``.

    ``"3.5"`` raises ``bad_int`` instead of truncating: a fractional quantity
    means the column mapping is wrong.
    """
    if value is None:
        raise FieldError("missing", "number is empty")
    if isinstance(value, bool):
        raise FieldError("bad_int", f"not a whole number: {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise FieldError("bad_int", f"not a whole number: {_show(value)}")
    if isinstance(value, Decimal):
        if value.is_finite() and value.adjusted() < 40 and value == value.to_integral_value():
            return int(value)
        raise FieldError("bad_int", f"not a whole number: {_show(value)}")
    if not isinstance(value, str):
        raise FieldError("bad_int", f"not a whole number: {_show(value)}")
    s = _text(value)
    if not s:
        raise FieldError("missing", "number is empty")
    m = _INT.fullmatch(s)
    if m is None or len(s) > 40:
        raise FieldError("bad_int", f"not a whole number: {_show(value)}")
    n = int(m[2].replace(",", ""))
    return -n if m[1] == "-" else n


# ---------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phone:
    """A normalised phone number.

    ``e164`` is ``"+8613812345678"``-style, or ``None`` when the export only
    had a masked number (``masked=True``). ``raw`` is the cleaned input, kept so
    a masked number can still be shown or matched on its visible digits.
    """

    e164: str | None
    masked: bool
    raw: str


@dataclass(frozen=True, slots=True)
class _Plan:
    """Dialling plan facts needed to turn a national number into E.164."""

    code: str  # country calling code
    trunk: str  # national prefix dropped in E.164 ("" if none)
    min_len: int  # national significant number length range
    max_len: int


# Deliberately small: Patron's markets plus the usual cross-border ones. Lengths
# are the national significant number (after the trunk prefix).
_PLANS: Final[dict[str, _Plan]] = {
    "CN": _Plan("86", "0", 9, 11),
    "HK": _Plan("852", "", 8, 8),
    "MO": _Plan("853", "", 8, 8),
    "TW": _Plan("886", "0", 8, 9),
    "SG": _Plan("65", "", 8, 8),
    "MY": _Plan("60", "0", 8, 10),
    "JP": _Plan("81", "0", 9, 10),
    "KR": _Plan("82", "0", 8, 10),
    "TH": _Plan("66", "0", 8, 9),
    "VN": _Plan("84", "0", 9, 10),
    "PH": _Plan("63", "0", 8, 10),
    "ID": _Plan("62", "0", 8, 12),
    "IN": _Plan("91", "0", 10, 10),
    "AU": _Plan("61", "0", 9, 9),
    "NZ": _Plan("64", "0", 8, 10),
    "US": _Plan("1", "1", 10, 10),
    "CA": _Plan("1", "1", 10, 10),
    "GB": _Plan("44", "0", 9, 10),
    "DE": _Plan("49", "0", 6, 13),
    "FR": _Plan("33", "0", 9, 9),
    "IT": _Plan("39", "", 6, 11),
    "ES": _Plan("34", "", 9, 9),
    "NL": _Plan("31", "0", 9, 9),
    "RU": _Plan("7", "8", 10, 10),
    "AE": _Plan("971", "0", 8, 9),
    "BR": _Plan("55", "0", 10, 11),
    "MX": _Plan("52", "", 10, 10),
}

# Chinese national numbers: mobiles 1[3-9]xxxxxxxxx; landlines are an area code
# without its 0 (10 and 2x are two digits, others three) plus 7-8 digits; this
# also admits 400/800 service numbers.
_CN_NSN: Final = re.compile(r"1[3-9][0-9]{9}|(?:10|2[0-9])[0-9]{8}|[3-9][0-9]{2}[0-9]{7,8}")
_SEPARATORS: Final = re.compile(r"[\s\-./()\[\]–—]+")
# Marketplace masking: "138****5678", "138*****678", "1**********", "138xxxx5678".
_MASKED: Final = re.compile(r"\+?[0-9]*(?:[*•●]+|[xX]{2,})[0-9*•●xX]*")


def normalize_phone(value: str | int | float | None, default_country: str = "CN") -> Phone:
    """Normalise a phone number to E.164, or recognise a masked one.

    Rules (hand-written, no libphonenumber; enough for import matching):

    * ``+`` or ``00`` prefix: international; ``+86`` numbers must be valid
      Chinese numbers, ``+1`` must have 10 national digits, others 7..15 digits.
    * Otherwise the number is national to ``default_country`` (ISO 3166 alpha-2,
      one of the countries in ``_PLANS``): its trunk prefix (``0``, ``1`` in
      NANP, ``8`` in Russia) is dropped and the calling code added; a number that
      already starts with the calling code (``86-13812345678``) is accepted.
    * For CN: mobiles ``1[3-9]`` + 9 digits; landlines need the area code
      (``010-12345678`` -> ``+861012345678``).
    * Masked marketplace numbers (``138****5678``) give ``masked=True`` and
      ``e164=None``. Separators (spaces, ``-``, ``.``, ``()``) and full-width
      digits are ignored; anything else, including extensions and marketplace
      ciphertext, raises ``bad_phone``.

    Error messages do not echo the number: they end up in logs.
    """
    plan = _PLANS.get(default_country.upper())
    if plan is None:
        raise ValueError(f"unsupported default_country {default_country!r}")
    if value is None:
        raise FieldError("missing", "phone is empty")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError("bad_phone", f"not a phone number ({type(value).__name__})")
    raw = clean_cell(value)
    if raw is None:
        raise FieldError("missing", "phone is empty")
    s = _SEPARATORS.sub("", raw.translate(_FULLWIDTH) if not raw.isascii() else raw)
    if _MASKED.fullmatch(s):
        visible = len(s.lstrip("+"))
        if 7 <= visible <= 16:
            return Phone(None, True, raw)
        raise FieldError("bad_phone", "masked phone of implausible length")
    if s.startswith("00"):
        s = "+" + s[2:]
    international = s.startswith("+")
    digits = s[1:] if international else s
    if not (digits.isascii() and digits.isdigit()):
        hint = " (marketplace ciphertext?)" if len(raw) > 20 else ""
        raise FieldError("bad_phone", f"not a phone number{hint}")
    e164 = _international(digits) if international else _national(digits, plan)
    if e164 is None:
        raise FieldError("bad_phone", f"not a valid phone number ({len(digits)} digits)")
    return Phone(e164, False, raw)


def _international(digits: str) -> str | None:
    if digits.startswith("86"):
        if digits.startswith("860"):  # "+86 010 12345678": trunk 0 written anyway
            digits = "86" + digits[3:]
        return "+" + digits if _CN_NSN.fullmatch(digits, 2) else None
    if digits.startswith("1"):
        return "+" + digits if len(digits) == 11 else None
    return "+" + digits if 7 <= len(digits) <= 15 and digits[0] != "0" else None


def _national(digits: str, plan: _Plan) -> str | None:
    if plan.code == "86":
        if _CN_NSN.fullmatch(digits) and not digits.startswith("0"):
            # Bare national number; a leading 0 is the trunk prefix below.
            return "+86" + digits
        if digits.startswith("0") and _CN_NSN.fullmatch(digits, 1):
            return "+86" + digits[1:]
        if digits.startswith("86") and _CN_NSN.fullmatch(digits, 2):
            return "+" + digits
        return None
    n = len(digits)
    trunk = plan.trunk
    if trunk and digits.startswith(trunk) and plan.min_len <= n - len(trunk) <= plan.max_len:
        return f"+{plan.code}{digits[len(trunk) :]}"
    if plan.min_len <= n <= plan.max_len and not digits.startswith("0"):
        return f"+{plan.code}{digits}"
    rest = n - len(plan.code)
    if digits.startswith(plan.code) and plan.min_len <= rest <= plan.max_len:
        return "+" + digits
    return None


# ---------------------------------------------------------------------------
# E-mail
# ---------------------------------------------------------------------------

_EMAIL: Final = re.compile(r"[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+")


def normalize_email(value: str | None) -> str:
    """Trim, NFKC-fold (full-width ``＠`` from Chinese IMEs) and lowercase an address.

    The whole address is lowercased, local part included: RFC 5321 allows
    case-sensitive local parts but no real mailbox provider uses them, and
    matching customers across exports needs one spelling. The shape check is
    deliberately simple (one ``@``, no spaces, a dotted domain); deliverability
    is the mail provider's problem. Messages do not echo the address.
    """
    if value is None:
        raise FieldError("missing", "email is empty")
    if not isinstance(value, str):
        raise FieldError("bad_email", f"not an email address ({type(value).__name__})")
    s = value.strip(_STRIP)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s).strip(_STRIP)
    if not s:
        raise FieldError("missing", "email is empty")
    s = s.lower()
    if len(s) > 254 or _EMAIL.fullmatch(s) is None:
        raise FieldError("bad_email", "not a valid email address")
    return s
