"""Tests for patron.core.parsing: exact values, failure codes, properties."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.core.parsing import (
    CURRENCY_EXPONENTS,
    FieldError,
    Phone,
    clean_cell,
    currency_exponent,
    normalize_email,
    normalize_phone,
    parse_date,
    parse_datetime,
    parse_int,
    parse_money,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
FULLWIDTH_DIGITS = str.maketrans("0123456789.-,", "０１２３４５６７８９．－，")


def error_code(fn: object, *args: object) -> str:
    assert callable(fn)
    with pytest.raises(FieldError) as info:
        fn(*args)
    return info.value.code


# --------------------------------------------------------------------------- FieldError


def test_field_error_carries_code_and_message_and_pickles() -> None:
    err = FieldError("bad_money", "not an amount: 'x'")
    assert (err.code, err.message) == ("bad_money", "not an amount: 'x'")
    assert str(err) == "bad_money: not an amount: 'x'"
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.code, clone.message) == (err.code, err.message)


# --------------------------------------------------------------------------- currencies


def test_currency_table_covers_iso_4217() -> None:
    assert len(CURRENCY_EXPONENTS) >= 150
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}
    expected = {
        "CNY": 2, "USD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3,
        "OMR": 3, "JOD": 3, "TND": 3, "HKD": 2, "TWD": 2, "SGD": 2, "GBP": 2,
        "AUD": 2, "CAD": 2, "CHF": 2, "VND": 0, "ISK": 0, "CLF": 4, "IQD": 3,
    }  # fmt: skip
    for code, exp in expected.items():
        assert CURRENCY_EXPONENTS[code] == exp, code


@pytest.mark.parametrize(("code", "exp"), [("CNY", 2), ("cny", 2), (" jpy\t", 0), ("Kwd", 3), ("RMB", 2)])
def test_currency_exponent_normalises_code(code: str, exp: int) -> None:
    assert currency_exponent(code) == exp


@pytest.mark.parametrize("code", ["", "XXX1", "ABC", "YUAN", "XAU"])
def test_currency_exponent_unknown(code: str) -> None:
    assert error_code(currency_exponent, code) == "unknown_currency"


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1,234.50", "CNY", 123450),
        ("¥1234.5", "CNY", 123450),
        ("￥1234.5", "CNY", 123450),
        ("$12", "USD", 1200),
        ("1234.50元", "CNY", 123450),
        ("-3.20", "CNY", -320),
        ("  12 ", "CNY", 1200),
        ("１２３", "CNY", 12300),
        ("  ￥１，２３４．５\u3000", "CNY", 123450),
        ("12.500", "CNY", 1250),
        ("12.", "CNY", 1200),
        (".5", "CNY", 50),
        ("0", "CNY", 0),
        ("-0.00", "CNY", 0),
        ("(3.20)", "USD", -320),
        ("-¥12", "CNY", -1200),
        ("¥-12", "CNY", -1200),
        ("+5", "CNY", 500),
        ("CNY 12.30", "CNY", 1230),
        ("RMB12", "CNY", 1200),
        ("12.00 usd", "USD", 1200),
        ("US$5", "USD", 500),
        ("HK$ 5.5", "HKD", 550),
        ("12,34,567.89", "INR", 123456789),
        ("1,234,567", "JPY", 1234567),
        ("1234", "JPY", 1234),
        ("12.000", "JPY", 12),
        ("1.234", "KWD", 1234),
        ("0.0001", "CLF", 1),
        ("\ufeff7.10\t", "EUR", 710),
    ],
)
def test_parse_money_accepts(text: str, currency: str, minor: int) -> None:
    assert parse_money(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("12.505", "CNY", "bad_money"),
        ("12.5", "JPY", "bad_money"),
        ("1.2345", "KWD", "bad_money"),
        ("abc", "CNY", "bad_money"),
        ("1.2.3", "CNY", "bad_money"),
        ("NaN", "CNY", "bad_money"),
        ("inf", "CNY", "bad_money"),
        ("-Infinity", "CNY", "bad_money"),
        ("1e3", "CNY", "bad_money"),
        ("1,23", "CNY", "bad_money"),  # maybe a decimal comma: refuse to guess
        ("12,50", "EUR", "bad_money"),
        ("--1", "CNY", "bad_money"),
        ("-¥-1", "CNY", "bad_money"),
        ("(-1)", "CNY", "bad_money"),
        ("12 USD", "CNY", "bad_money"),  # currency mismatch
        ("EUR 12", "CNY", "bad_money"),
        ("USD 12 USD", "USD", "bad_money"),
        (".", "CNY", "bad_money"),
        ("¥", "CNY", "bad_money"),
        ("1" * 30, "CNY", "bad_money"),  # beyond a signed 64-bit column
        ("", "CNY", "missing"),
        ("   \u3000", "CNY", "missing"),
        ("12", "ZZZ", "unknown_currency"),
    ],
)
def test_parse_money_rejects(text: str, currency: str, code: str) -> None:
    assert error_code(parse_money, text, currency) == code


def test_parse_money_non_string_inputs() -> None:
    assert parse_money(12, "CNY") == 1200  # int = major units
    assert parse_money(12, "JPY") == 12
    assert parse_money(-3, "KWD") == -3000
    assert parse_money(Decimal("12.35"), "USD") == 1235
    assert parse_money(Decimal("12.3500"), "USD") == 1235
    assert parse_money(Decimal("1E+2"), "CNY") == 10000
    assert parse_money(12.35, "USD") == 1235  # openpyxl float, by its shortest repr
    assert parse_money(0.1 + 0.2, "USD") == 30  # 0.30000000000000004: Excel's 15 digits
    assert parse_money(1234567.8, "CNY") == 123456780
    assert error_code(parse_money, 12.345, "USD") == "bad_money"
    assert error_code(parse_money, Decimal("12.345"), "USD") == "bad_money"
    assert error_code(parse_money, Decimal("NaN"), "USD") == "bad_money"
    assert error_code(parse_money, Decimal("sNaN"), "USD") == "bad_money"
    assert error_code(parse_money, Decimal("1E+999999"), "USD") == "bad_money"
    assert error_code(parse_money, float("nan"), "USD") == "bad_money"
    assert error_code(parse_money, True, "USD") == "bad_money"
    assert error_code(parse_money, 10**20, "USD") == "bad_money"
    assert error_code(parse_money, None, "USD") == "missing"


def _format_minor(minor: int, exp: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}" if exp else f"{sign}{whole}"


money_cases = st.tuples(
    st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(CURRENCY_EXPONENTS))
)


@given(money_cases)
def test_parse_money_round_trips_minor_units(case: tuple[int, str]) -> None:
    minor, currency = case
    text = _format_minor(minor, CURRENCY_EXPONENTS[currency])
    assert parse_money(text, currency) == minor


@given(money_cases)
def test_parse_money_full_width_digits_parse_equal(case: tuple[int, str]) -> None:
    minor, currency = case
    text = _format_minor(minor, CURRENCY_EXPONENTS[currency])
    assert parse_money(text.translate(FULLWIDTH_DIGITS), currency) == minor


@given(money_cases, st.integers(min_value=0, max_value=3))
def test_parse_money_grouping_symbols_and_zero_padding(case: tuple[int, str], pad: int) -> None:
    minor, currency = case
    exp = CURRENCY_EXPONENTS[currency]
    whole, frac = divmod(abs(minor), 10**exp)
    decimals = f".{frac:0{exp}d}" if exp else ""
    text = f"{'-' if minor < 0 else ''}¥{whole:,}{decimals}{'0' * pad if exp else ''}"
    assert parse_money(text, currency) == minor


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12))
def test_parse_money_decimal_and_string_agree(value: Decimal) -> None:
    assert parse_money(value, "CNY") == parse_money(str(value), "CNY") == int(value * 100)


# --------------------------------------------------------------------------- datetimes


@pytest.mark.parametrize(
    ("text", "expected_utc"),
    [
        ("2024-01-05T12:00:00+08:00", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024-01-05T12:00:00Z", datetime(2024, 1, 5, 12, tzinfo=UTC)),
        ("2024-01-05T12:00:00.250-05:00", datetime(2024, 1, 5, 17, 0, 0, 250000, tzinfo=UTC)),
        ("2024-01-05 12:00:00", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024-01-05 12:00", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024/1/5 12:00:00", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024/01/05 8:05", datetime(2024, 1, 5, 0, 5, tzinfo=UTC)),
        ("2024.1.5", datetime(2024, 1, 4, 16, tzinfo=UTC)),
        ("2024-01-05", datetime(2024, 1, 4, 16, tzinfo=UTC)),
        ("20240105", datetime(2024, 1, 4, 16, tzinfo=UTC)),
        ("2024年1月5日 12:00:00", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024年1月5日12时30分", datetime(2024, 1, 5, 4, 30, tzinfo=UTC)),
        ("2024年01月05日", datetime(2024, 1, 4, 16, tzinfo=UTC)),
        ("2024-01-05 12:00:00 +0800", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024-01-05 12:00:00 -0030", datetime(2024, 1, 5, 12, 30, tzinfo=UTC)),
        ("2024/1/5 12:00:00 UTC", datetime(2024, 1, 5, 12, tzinfo=UTC)),
        ("2024/1/5 12:00:00 GMT+8", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("2024/1/5 12:00:00.5", datetime(2024, 1, 5, 4, 0, 0, 500000, tzinfo=UTC)),
        ("２０２４－０１－０５　１２：００：００", datetime(2024, 1, 5, 4, tzinfo=UTC)),
        ("\ufeff 2024-01-05 12:00:00\t", datetime(2024, 1, 5, 4, tzinfo=UTC)),
    ],
)
def test_parse_datetime_text(text: str, expected_utc: datetime) -> None:
    got = parse_datetime(text, SHANGHAI)
    assert got == expected_utc
    assert got.tzinfo is UTC


def test_parse_datetime_objects_and_numbers() -> None:
    naive = datetime(2024, 7, 1, 9, 30)
    assert parse_datetime(naive, NEW_YORK) == datetime(2024, 7, 1, 13, 30, tzinfo=UTC)
    aware = datetime(2024, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert parse_datetime(aware, SHANGHAI) == datetime(2024, 7, 1, 7, 30, tzinfo=UTC)
    assert parse_datetime(date(2024, 1, 5), SHANGHAI) == datetime(2024, 1, 4, 16, tzinfo=UTC)
    assert parse_datetime(20240105, SHANGHAI) == datetime(2024, 1, 4, 16, tzinfo=UTC)
    assert parse_datetime(20240105.0, UTC) == datetime(2024, 1, 5, tzinfo=UTC)


def test_parse_datetime_uses_zone_rules_not_fixed_offset() -> None:
    assert parse_datetime("2024-01-15 12:00", NEW_YORK).hour == 17  # EST
    assert parse_datetime("2024-07-15 12:00", NEW_YORK).hour == 16  # EDT


def test_parse_datetime_dst_repeated_and_skipped_wall_times() -> None:
    # 01:30 happens twice on 2024-11-03 in New York: the first (EDT) is meant.
    assert parse_datetime("2024-11-03 01:30:00", NEW_YORK) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    # 02:30 does not exist on 2024-03-10: read with the offset before the change.
    assert parse_datetime("2024-03-10 02:30:00", NEW_YORK) == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2024-02-30", "bad_datetime"),
        ("2023-02-29 10:00", "bad_datetime"),
        ("2024-13-01", "bad_datetime"),
        ("2024-01-05 25:00", "bad_datetime"),
        ("2024-01-05 12:61", "bad_datetime"),
        ("1899-12-31", "bad_datetime"),
        ("2101-01-01 00:00:00", "bad_datetime"),
        ("2024-01-05 12:00 +2400", "bad_datetime"),
        ("05/01/2024", "bad_datetime"),  # day-first or month-first? refuse
        ("yesterday", "bad_datetime"),
        ("2024-1-5x", "bad_datetime"),
        (1704427200, "bad_datetime"),  # epoch seconds: ambiguous, rejected
        (45296.5, "bad_datetime"),  # Excel serial: openpyxl converts real dates
        (True, "bad_datetime"),
        (datetime(1800, 1, 1), "bad_datetime"),
        (date(2200, 1, 1), "bad_datetime"),
        ("", "missing"),
        (" \u3000", "missing"),
        (None, "missing"),
    ],
)
def test_parse_datetime_rejects(value: object, code: str) -> None:
    assert error_code(parse_datetime, value, SHANGHAI) == code


ZONES = st.sampled_from(
    [
        UTC,
        SHANGHAI,
        NEW_YORK,
        ZoneInfo("Europe/London"),
        ZoneInfo("Asia/Kolkata"),
        ZoneInfo("Australia/Lord_Howe"),
        ZoneInfo("America/St_Johns"),
    ]
)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2100, 12, 30),
        timezones=st.timezones(),
    )
)
def test_parse_datetime_isoformat_round_trips(dt: datetime) -> None:
    got = parse_datetime(dt.isoformat(), SHANGHAI)
    assert got.tzinfo is UTC
    assert got == dt.astimezone(UTC)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)), ZONES)
def test_parse_datetime_naive_text_takes_zone(dt: datetime, tz: ZoneInfo) -> None:
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    # Text cannot carry PEP 495's fold: a repeated wall time means its first occurrence.
    expected = dt.replace(microsecond=0, fold=0, tzinfo=tz).astimezone(UTC)
    assert parse_datetime(text, tz) == expected


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-01-05", date(1990, 1, 5)),
        ("19900105", date(1990, 1, 5)),
        ("1990/1/5", date(1990, 1, 5)),
        ("1990.01.05", date(1990, 1, 5)),
        ("1990年1月5日", date(1990, 1, 5)),
        ("1990-01-05 00:00:00", date(1990, 1, 5)),
        ("1990-01-05T23:30:00+08:00", date(1990, 1, 5)),  # no zone shift for birthdays
        ("１９９０－０１－０５", date(1990, 1, 5)),
        (date(1990, 1, 5), date(1990, 1, 5)),
        (datetime(1990, 1, 5, 23, 59), date(1990, 1, 5)),
        (19900105, date(1990, 1, 5)),
    ],
)
def test_parse_date_accepts(value: object, expected: date) -> None:
    assert parse_date(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1990-13-01", "bad_date"),
        ("1990-02-29", "bad_date"),
        ("1990-00-10", "bad_date"),
        ("1850-01-01", "bad_date"),
        ("3000-01-01", "bad_date"),
        ("01/05/1990", "bad_date"),
        ("abc", "bad_date"),
        (1.5, "bad_date"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_parse_date_rejects(value: object, code: str) -> None:
    assert error_code(parse_date, value) == code


# --------------------------------------------------------------------------- ints


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        ("3.0", 3),
        ("3.", 3),
        (" -12 ", -12),
        ("+7", 7),
        ("1,200", 1200),
        ("３", 3),
        ("007", 7),
        (5, 5),
        (5.0, 5),
        (Decimal("5.00"), 5),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_parse_int_accepts(value: object, expected: int) -> None:
    assert parse_int(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("3.5", "bad_int"),
        ("3.01", "bad_int"),
        ("1,20", "bad_int"),
        ("abc", "bad_int"),
        ("1e3", "bad_int"),
        ("--3", "bad_int"),
        (3.5, "bad_int"),
        (float("nan"), "bad_int"),
        (float("inf"), "bad_int"),
        (Decimal("2.5"), "bad_int"),
        (Decimal("NaN"), "bad_int"),
        (True, "bad_int"),
        ("", "missing"),
        ("  ", "missing"),
        (None, "missing"),
    ],
)
def test_parse_int_rejects(value: object, code: str) -> None:
    assert error_code(parse_int, value) == code


# --------------------------------------------------------------------------- clean_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('="3612345"', "3612345"),
        ('="3612345\t"', "3612345"),
        ("'3612345", "3612345"),
        ("3612345\t", "3612345"),
        ("\ufeff 张三\u3000", "张三"),
        ("\xa0x\u200b", "x"),
        ('="a""b"', 'a"b'),
        ('=""', None),
        ("'", None),
        ("", None),
        ("  \t\r\n\u3000", None),
        (None, None),
        ("null", "null"),
        ("NULL", "NULL"),
        ("None", "None"),
        ("-", "-"),
        ("O'Brien", "O'Brien"),
        ("=SUM(A1)", "=SUM(A1)"),
        (3612345, "3612345"),
        (3612345.0, "3612345"),
        (1.5, "1.5"),
    ],
)
def test_clean_cell(value: object, expected: str | None) -> None:
    assert clean_cell(value) == expected


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("86-13812345678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("+86 (0)138 1234 5678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ('="13812345678"', "+8613812345678"),
        (13812345678, "+8613812345678"),
        (13812345678.0, "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("(0571) 8888 8888", "+8657188888888"),
        ("+86 10 1234 5678", "+861012345678"),
        ("400-123-4567", "+864001234567"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+44 7911 123456", "+447911123456"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_normalize_phone_china_default(value: str | int, e164: str) -> None:
    phone = normalize_phone(value)
    assert phone == Phone(e164=e164, masked=False, raw=clean_cell(value) or "")


@pytest.mark.parametrize(
    ("value", "country", "e164"),
    [
        ("4155550100", "US", "+14155550100"),
        ("1-415-555-0100", "US", "+14155550100"),
        ("(415) 555-0100", "us", "+14155550100"),
        ("07911 123456", "GB", "+447911123456"),
        ("447911123456", "GB", "+447911123456"),
        ("9123 4567", "HK", "+85291234567"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("24155550100", "US", None),  # 11 digits not starting with 1: not NANP
    ],
)
def test_normalize_phone_other_countries(value: str, country: str, e164: str | None) -> None:
    if e164 is None:
        assert error_code(normalize_phone, value, country) == "bad_phone"
    else:
        assert normalize_phone(value, country).e164 == e164


@pytest.mark.parametrize("value", ["138****5678", "138*****678", "1**********", "138xxxx5678"])
def test_normalize_phone_masked(value: str) -> None:
    assert normalize_phone(value) == Phone(e164=None, masked=True, raw=value)


def test_normalize_phone_masked_keeps_cleaned_raw() -> None:
    assert normalize_phone(" +86 138****5678\t") == Phone(None, True, "+86 138****5678")


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "12345",
        "1381234567",  # 10 digits, no valid CN shape
        "138123456789",  # 12 digits
        "23812345678",
        "+86 12812345678",  # 12x is not a mobile prefix
        "+1 415 555 010",
        "+1234567890123456",  # longer than E.164 allows
        "138-1234-5678 ext 12",
        "$TV1hvmnXj$AgEAAAAAjA0ALwEaz1F8P+c1tbVqz4ck0G3E0=$1$",  # marketplace ciphertext
        "**",
        "1.5",
    ],
)
def test_normalize_phone_rejects(value: str) -> None:
    assert error_code(normalize_phone, value) == "bad_phone"


def test_normalize_phone_missing_and_bad_config() -> None:
    assert error_code(normalize_phone, None) == "missing"
    assert error_code(normalize_phone, "  ") == "missing"
    assert error_code(normalize_phone, True) == "bad_phone"
    with pytest.raises(ValueError, match="default_country"):
        normalize_phone("13812345678", "XX")


def test_phone_errors_do_not_echo_the_number() -> None:
    with pytest.raises(FieldError) as info:
        normalize_phone("1381234567")
    assert "1381234567" not in info.value.message


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_normalize_phone_any_cn_mobile(mobile: str) -> None:
    expected = "+86" + mobile
    assert normalize_phone(mobile).e164 == expected
    assert normalize_phone(f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}").e164 == expected
    assert normalize_phone(f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}").e164 == expected


# --------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob.smith+tag@mail.example.co.uk \t", "bob.smith+tag@mail.example.co.uk"),
        ("ＺＨＡＮＧ＠ＱＱ．ＣＯＭ", "zhang@qq.com"),
        ("\ufeff12345@qq.com", "12345@qq.com"),
        ("用户@例子.中国", "用户@例子.中国"),
    ],
)
def test_normalize_email_accepts(value: str, expected: str) -> None:
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("alice", "bad_email"),
        ("alice@example", "bad_email"),
        ("a@b@example.com", "bad_email"),
        ("al ice@example.com", "bad_email"),
        ("alice@example..com", "bad_email"),
        ("alice@.example.com", "bad_email"),
        ("alice@example.com.", "bad_email"),
        ("@example.com", "bad_email"),
        ("x" * 250 + "@example.com", "bad_email"),
        ("", "missing"),
        (None, "missing"),
    ],
)
def test_normalize_email_rejects(value: str | None, code: str) -> None:
    assert error_code(normalize_email, value) == code
