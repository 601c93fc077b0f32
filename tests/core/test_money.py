"""Money helpers: exponents differ per currency, conversion is exact and rounds half-even once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.core.errors import PatronError
from patron.core.masking import mask_email, mask_phone
from patron.core.money import CURRENCY_EXPONENTS, convert_minor, currency_exponent, format_minor


def test_exponents() -> None:
    assert [currency_exponent(c) for c in ("CNY", "jpy", " KWD ", "USD", "CLF")] == [2, 0, 3, 2, 4]
    with pytest.raises(PatronError) as err:
        currency_exponent("XYZ")
    assert err.value.code == "unknown_currency"


def test_format_and_convert() -> None:
    assert format_minor(123456, "CNY") == "1,234.56"
    assert format_minor(1234, "JPY") == "1,234"
    assert format_minor(1234, "KWD") == "1.234"
    rates = {"USD": Decimal("7.1"), "JPY": Decimal("0.048")}
    assert convert_minor(1000, "USD", "CNY", rates) == 7100
    assert convert_minor(1001, "JPY", "CNY", rates) == 4805  # 1001 * 0.048 = 48.048 CNY
    assert convert_minor(5, "EUR", "CNY", rates) is None
    assert convert_minor(5, "CNY", "CNY", {}) == 5


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_identity_conversion_round_trips(minor: int, currency: str) -> None:
    assert convert_minor(minor, currency, currency, {}) == minor


def test_masks() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_phone(None) is None
