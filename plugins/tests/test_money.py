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


# ISO 4217 list one (active codes with a minor unit), written out apart from the table the
# contract uses so that a wrong exponent there cannot go unnoticed: country or use, code, digits.
ISO_4217_MINOR_UNITS = """
UAE AED 2|Afghanistan AFN 2|Albania ALL 2|Armenia AMD 2|Curacao ANG 2|Angola AOA 2
Argentina ARS 2|Australia AUD 2|Aruba AWG 2|Azerbaijan AZN 2|Bosnia BAM 2|Barbados BBD 2
Bangladesh BDT 2|Bulgaria BGN 2|Bahrain BHD 3|Burundi BIF 0|Bermuda BMD 2|Brunei BND 2
Bolivia BOB 2|Bolivia-Mvdol BOV 2|Brazil BRL 2|Bahamas BSD 2|Bhutan BTN 2|Botswana BWP 2
Belarus BYN 2|Belize BZD 2|Canada CAD 2|Congo-DR CDF 2|Swiss-WIR-euro CHE 2|Switzerland CHF 2
Swiss-WIR-franc CHW 2|Chile-UF CLF 4|Chile CLP 0|China CNY 2|Colombia COP 2|Colombia-UVR COU 2
Costa-Rica CRC 2|Cuba CUP 2|Cabo-Verde CVE 2|Czechia CZK 2|Djibouti DJF 0|Denmark DKK 2
Dominican-Rep DOP 2|Algeria DZD 2|Egypt EGP 2|Eritrea ERN 2|Ethiopia ETB 2|Euro-area EUR 2
Fiji FJD 2|Falklands FKP 2|UK GBP 2|Georgia GEL 2|Ghana GHS 2|Gibraltar GIP 2|Gambia GMD 2
Guinea GNF 0|Guatemala GTQ 2|Guyana GYD 2|Hong-Kong HKD 2|Honduras HNL 2|Haiti HTG 2
Hungary HUF 2|Indonesia IDR 2|Israel ILS 2|India INR 2|Iraq IQD 3|Iran IRR 2|Iceland ISK 0
Jamaica JMD 2|Jordan JOD 3|Japan JPY 0|Kenya KES 2|Kyrgyzstan KGS 2|Cambodia KHR 2
Comoros KMF 0|North-Korea KPW 2|South-Korea KRW 0|Kuwait KWD 3|Cayman KYD 2|Kazakhstan KZT 2
Laos LAK 2|Lebanon LBP 2|Sri-Lanka LKR 2|Liberia LRD 2|Lesotho LSL 2|Libya LYD 3|Morocco MAD 2
Moldova MDL 2|Madagascar MGA 2|North-Macedonia MKD 2|Myanmar MMK 2|Mongolia MNT 2|Macao MOP 2
Mauritania MRU 2|Mauritius MUR 2|Maldives MVR 2|Malawi MWK 2|Mexico MXN 2|Mexico-UDI MXV 2
Malaysia MYR 2|Mozambique MZN 2|Namibia NAD 2|Nigeria NGN 2|Nicaragua NIO 2|Norway NOK 2
Nepal NPR 2|New-Zealand NZD 2|Oman OMR 3|Panama PAB 2|Peru PEN 2|Papua-New-Guinea PGK 2
Philippines PHP 2|Pakistan PKR 2|Poland PLN 2|Paraguay PYG 0|Qatar QAR 2|Romania RON 2
Serbia RSD 2|Russia RUB 2|Rwanda RWF 0|Saudi-Arabia SAR 2|Solomon-Islands SBD 2
Seychelles SCR 2|Sudan SDG 2|Sweden SEK 2|Singapore SGD 2|Saint-Helena SHP 2
Sierra-Leone SLE 2|Somalia SOS 2|Suriname SRD 2|South-Sudan SSP 2|Sao-Tome STN 2
El-Salvador SVC 2|Syria SYP 2|Eswatini SZL 2|Thailand THB 2|Tajikistan TJS 2
Turkmenistan TMT 2|Tunisia TND 3|Tonga TOP 2|Turkiye TRY 2|Trinidad TTD 2|Taiwan TWD 2
Tanzania TZS 2|Ukraine UAH 2|Uganda UGX 0|USA USD 2|USA-next-day USN 2|Uruguay-UI UYI 0
Uruguay UYU 2|Uruguay-UP UYW 4|Uzbekistan UZS 2|Venezuela-digital VED 2|Venezuela VES 2
Viet-Nam VND 0|Vanuatu VUV 0|Samoa WST 2|CFA-BEAC XAF 0|East-Caribbean XCD 2
Caribbean-guilder XCG 2|CFA-BCEAO XOF 0|CFP XPF 0|Yemen YER 2|South-Africa ZAR 2
Zambia ZMW 2|Zimbabwe-gold ZWG 2
"""


def _iso_minor_units() -> dict[str, int]:
    entries = ISO_4217_MINOR_UNITS.replace("\n", "|").split("|")
    return {code: int(digits) for _, code, digits in (e.split() for e in entries if e.strip())}


def test_every_exponent_is_the_one_iso_4217_gives() -> None:
    assert _iso_minor_units() == CURRENCY_EXPONENTS


def test_exactly_seven_currencies_have_three_decimal_places() -> None:
    three = sorted(code for code, digits in CURRENCY_EXPONENTS.items() if digits == 3)
    assert three == ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
