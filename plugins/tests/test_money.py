"""Money: minor units, ISO 4217 exponents, formatting and parsing."""

from typing import Any

import pytest
from payments_plugins.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    Amount,
    UnknownCurrency,
    currency_exponent,
)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (99999, "AED", "999.99 AED"),
        (10099, "AED", "100.99 AED"),
        (5, "USD", "0.05 USD"),
        (0, "USD", "0.00 USD"),
        (1000, "JPY", "1000 JPY"),
        (1, "KWD", "0.001 KWD"),
        (1234567, "BHD", "1234.567 BHD"),
        (12345, "CLF", "1.2345 CLF"),
        (MAX_MINOR_UNITS, "EUR", "10000000000000.00 EUR"),
    ],
)
def test_format_and_parse_round_trip(minor: int, currency: str, text: str) -> None:
    amount = Amount(minor, currency)
    assert amount.format() == text
    assert str(amount) == text
    assert Amount.parse(text) == amount


@pytest.mark.parametrize("code", sorted(CURRENCY_EXPONENTS))
def test_every_currency_round_trips(code: str) -> None:
    amount = Amount(123456789, code)
    assert Amount.parse(amount.format()) == amount
    digits_after_point = len(amount.decimal_text().partition(".")[2])
    assert digits_after_point == currency_exponent(code)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("AED", 2),
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("TND", 3),
        ("CLF", 4),
    ],
)
def test_known_exponents(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent
    assert Amount(1, code).exponent == exponent


def test_fewer_fraction_digits_are_padded() -> None:
    assert Amount.parse("1.5 AED") == Amount(150, "AED")
    assert Amount.parse("7 AED") == Amount(700, "AED")


@pytest.mark.parametrize(
    "text",
    [
        "999.999 AED",  # more decimals than AED has
        "10.5 JPY",  # JPY has none
        "10. AED",
        ".5 AED",
        "-1.00 AED",
        "1,000.00 AED",
        "01.00 AED",
        "1.00 aed",
        "1.00AED",
        "1.00  AED",
        "1.00 XXX",
        "AED 1.00",
        "",
        "1e3 AED",
    ],
)
def test_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        Amount.parse(text)


@pytest.mark.parametrize("code", ["XXX", "XAU", "aed", "AE", "AEDD", "", "123"])
def test_unknown_currencies_are_rejected(code: str) -> None:
    with pytest.raises(UnknownCurrency, match="ISO 4217"):
        Amount(1, code)


@pytest.mark.parametrize("minor", [-1, MAX_MINOR_UNITS + 1])
def test_out_of_range_amounts_are_rejected(minor: int) -> None:
    with pytest.raises(ValueError, match="between 0 and"):
        Amount(minor, "AED")


@pytest.mark.parametrize("minor", [1.0, "1", True])
def test_minor_units_must_be_an_int(minor: Any) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        Amount(minor, "AED")
