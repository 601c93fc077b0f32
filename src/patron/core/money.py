"""Money is integer minor units plus an ISO 4217 code; exponents differ (JPY 0, KWD 3).

Amounts are never floats: conversions go through :class:`~decimal.Decimal` and round half-even
once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from patron.core.errors import InvalidInput

# Active ISO 4217 codes with a minor-unit exponent other than 2; every other listed code has 2.
_EXPONENT_NOT_2 = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
).split()
CURRENCY_EXPONENTS: dict[str, int] = {**dict.fromkeys(_EXPONENT_2, 2), **_EXPONENT_NOT_2}


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


def currency_exponent(code: str) -> int:
    try:
        return CURRENCY_EXPONENTS[code.strip().upper()]
    except (KeyError, AttributeError) as exc:
        raise UnknownCurrency(f"unknown currency {code!r}", data={"currency": code}) from exc


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-currency_exponent(currency))


def format_minor(minor: int, currency: str) -> str:
    """``12345, "CNY"`` -> ``"123.45"``; grouping and symbols are the templates' business."""
    exp = currency_exponent(currency)
    return f"{to_decimal(minor, currency):,.{exp}f}"


def convert_minor(
    minor: int, currency: str, quote: str, rates: Mapping[str, Decimal]
) -> int | None:
    """Convert minor units of ``currency`` into minor units of ``quote`` with ``rates``
    (units of quote per unit of currency); None when no rate is known."""
    if currency == quote:
        return minor
    rate = rates.get(currency)
    if rate is None:
        return None
    value = to_decimal(minor, currency) * rate
    return int(value.scaleb(currency_exponent(quote)).quantize(Decimal(1), ROUND_HALF_EVEN))
