"""Money: an amount in integer minor units of an ISO 4217 currency.

Amounts never pass through floats. ``Amount(99999, "AED")`` is 999.99 dirhams and formats as
``"999.99 AED"``; the number of digits after the point is the currency's ISO 4217 exponent.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

# ISO 4217 active codes and their minor-unit exponents. Codes without a minor unit (precious
# metals, SDR, test and "no currency" codes) are left out: nothing can be paid in them.
_EXPONENT_0: Final = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3: Final = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4: Final = "CLF UYW"
_EXPONENT_2: Final = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP"
    " BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD"
    " FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD"
    " KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD"
    " NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP"
    " SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED"
    " VES WST XCD XCG YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    code: exponent
    for exponent, codes in ((0, _EXPONENT_0), (2, _EXPONENT_2), (3, _EXPONENT_3), (4, _EXPONENT_4))
    for code in codes.split()
}
"""Every supported ISO 4217 currency code mapped to its number of minor-unit digits."""

MAX_MINOR_UNITS: Final = 10**15
"""The largest amount accepted, in minor units: far above any real payment, far below int64."""

_AMOUNT_TEXT = re.compile(r"(?P<units>0|[1-9][0-9]*)(?:\.(?P<fraction>[0-9]+))? (?P<code>[A-Z]{3})")


class UnknownCurrency(ValueError):
    """The code is not an ISO 4217 currency that has minor units."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}: expected an ISO 4217 code such as 'AED'")
        self.code = code


def currency_exponent(code: str) -> int:
    """Return the number of minor-unit digits of ``code``; raise ``UnknownCurrency``."""
    try:
        return CURRENCY_EXPONENTS[code]
    except KeyError:
        raise UnknownCurrency(code) from None


def is_currency(code: str) -> bool:
    """Tell whether ``code`` is a supported ISO 4217 currency code."""
    return code in CURRENCY_EXPONENTS


class Amount(msgspec.Struct, frozen=True):
    """A non-negative amount of money in integer minor units of an ISO 4217 currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise TypeError(f"minor units must be an int, not {type(self.minor).__name__}")
        if not 0 <= self.minor <= MAX_MINOR_UNITS:
            raise ValueError(f"amount must be between 0 and {MAX_MINOR_UNITS} minor units")
        currency_exponent(self.currency)

    @property
    def exponent(self) -> int:
        """The number of minor-unit digits of the currency."""
        return CURRENCY_EXPONENTS[self.currency]

    def decimal_text(self) -> str:
        """The amount in major units without the currency: ``"999.99"``, ``"1000"`` for JPY."""
        if self.exponent == 0:
            return str(self.minor)
        units, fraction = divmod(self.minor, 10**self.exponent)
        return f"{units}.{fraction:0{self.exponent}d}"

    def format(self) -> str:
        """The amount as vendors write it: ``"999.99 AED"``."""
        return f"{self.decimal_text()} {self.currency}"

    @classmethod
    def parse(cls, text: str) -> Amount:
        """Parse ``"999.99 AED"``; fewer fraction digits than the exponent are allowed, more not."""
        match = _AMOUNT_TEXT.fullmatch(text)
        if match is None:
            raise ValueError(f"not an amount: {text!r}; expected e.g. '999.99 AED'")
        code = match["code"]
        exponent = currency_exponent(code)
        fraction = match["fraction"] or ""
        if len(fraction) > exponent or (match["fraction"] is not None and exponent == 0):
            raise ValueError(f"{text!r} has more decimal places than {code} allows ({exponent})")
        minor = int(match["units"]) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
        return cls(minor, code)

    def __str__(self) -> str:
        return self.format()
