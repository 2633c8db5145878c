"""Stored payments as facts computed from their numbers, in SQL: what the console bench's
history (:mod:`bench.console_history`) is made of.

A batch of payments is a CTE over their numbers ``n`` (0 the oldest): a recursive CTE on
SQLite, ``generate_series`` on PostgreSQL, as ``bench/seeding.py`` writes its payments. Each
payment's values are computed from ``n``: a multiplicative hash of it gives ids that look
random and draws what became of it (its fate); its merchant, currency, amount, gateways, time
of creation and the delays of its vendor and payer follow. Payments are created at even
intervals over :data:`SPAN`, the newest a few seconds ago; six in ten are the first merchant's,
three the second's, one the third's; two in three are at the first gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

SPAN = timedelta(days=7)
"""The time the stored payments were created over, the newest a few seconds ago."""
GATEWAYS = ("json", "backup")
"""The gateways (both of the JSON type); a payment is at the second one time in three."""
MERCHANTS = ("bench", "acme", "globex")
ENDPOINTS = {"bench": "bench-shop", "acme": "acme-orders"}
"""The merchants with a notification endpoint, and its name (globex has none)."""

MS = 1_000
"""A millisecond, in the microseconds times are computed in."""
SECOND = 1_000 * MS
HOUR = 3_600 * SECOND
DAY = 24 * HOUR
_HASH = 25_214_903_917
"""An odd multiplier: ``n * _HASH`` modulo 2**48 is a bijection of ``n``, and the product stays
within 64 bits for every ``n`` below 2**28."""
_MASK = 2**48 - 1


def micros(moment: datetime | timedelta) -> int:
    """A time as microseconds since 1970, or a duration in microseconds."""
    if isinstance(moment, datetime):
        moment = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return moment // timedelta(microseconds=1)


def literal_int(value: int) -> Any:
    """An integer written into the statement (ours, never a user's)."""
    return sa.literal_column(str(int(value)), sa.BigInteger())


def literal_text(value: str) -> Any:
    """Text, as a parameter of the statement."""
    return sa.literal(value, sa.String())


def _mixed(n: Any, salt: int) -> Any:
    """A 48-bit number that looks random, one per ``n`` and ``salt``."""
    return ((n + literal_int(salt * 7_919)) * literal_int(_HASH)).op("&")(literal_int(_MASK))


def _drawn(n: Any, shift: int, below: int) -> Any:
    """A number from 0 to ``below`` - 1 that looks random, one per ``n`` and ``shift``."""
    return _mixed(n, 0).op(">>")(literal_int(shift)) % literal_int(below)


class Facts:
    """One batch of payments as a CTE over their numbers, with what each is made of: its
    number ``n``, fate, merchant, currency, amount, gateways, creation time (microseconds since
    1970) and the delays of its vendor and payer. Every row family is a SELECT from it."""

    def __init__(
        self,
        conn: sa.Connection,
        *,
        first: int,
        count: int,
        total: int,
        now: datetime,
        fates: Sequence[tuple[str, int]],
    ) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.now = micros(now)
        step = micros(SPAN) // max(total, 1)
        start = self.now - step * total
        last = first + count - 1
        numbers: Any
        if self.sqlite:
            seq = sa.select(literal_int(first).label("n")).cte("seq", recursive=True)
            numbers = seq.union_all(sa.select(seq.c.n + 1).where(seq.c.n < literal_int(last)))
        else:
            numbers = (
                sa.func.generate_series(
                    sa.cast(literal_int(first), sa.BigInteger()),
                    sa.cast(literal_int(last), sa.BigInteger()),
                )
                .table_valued("n")
                .render_derived(name="seq")
            )
        n = sa.type_coerce(numbers.c.n, sa.BigInteger())
        drawn = _drawn(n, 20, sum(share for _, share in fates))
        place = _drawn(n, 30, 10)
        drawn_fates, low = [], 0
        for name, share in fates:
            low += share
            drawn_fates.append((drawn < literal_int(low), literal_text(name)))
        at_second = n % literal_int(3) == literal_int(2)
        self.cte = (
            sa.select(
                n.label("n"),
                sa.case(*drawn_fates).label("fate"),
                sa.case(
                    (n % literal_int(10) < literal_int(6), literal_text(MERCHANTS[0])),
                    (n % literal_int(10) < literal_int(9), literal_text(MERCHANTS[1])),
                    else_=literal_text(MERCHANTS[2]),
                ).label("merchant"),
                sa.case(
                    (place < literal_int(5), literal_text("AED")),
                    (place < literal_int(8), literal_text("USD")),
                    else_=literal_text("EUR"),
                ).label("currency"),
                (literal_int(500) + _drawn(n, 12, 250_000)).label("amount"),
                sa.case(
                    (at_second, literal_text(GATEWAYS[1])), else_=literal_text(GATEWAYS[0])
                ).label("gateway"),
                sa.case(
                    (at_second, literal_text(GATEWAYS[0])), else_=literal_text(GATEWAYS[1])
                ).label("other_gateway"),
                (literal_int(start) + n * literal_int(step)).label("created"),
                (literal_int(80 * MS) + _drawn(n, 8, 900 * MS)).label("latency"),
                _drawn(n, 4, 60 * SECOND).label("payer_delay"),
            )
            .select_from(numbers)
            .cte("facts")
        )
        self.c = self.cte.c

    def rows(self, *columns: Any) -> sa.Select[Any]:
        """A SELECT of ``columns`` over the batch's payments."""
        return sa.select(*columns).select_from(self.cte)

    def fate_in(self, names: Iterable[str]) -> Any:
        """Payments of the fates of these names."""
        return self.c.fate.in_([literal_text(name) for name in names])

    def every(self, k: int, remainder: int) -> Any:
        """One payment in ``k``."""
        return self.c.n % literal_int(k) == literal_int(remainder)

    def notified(self) -> Any:
        """Payments of a merchant with an endpoint."""
        return self.c.merchant.in_([literal_text(name) for name in ENDPOINTS])

    def since(self, ago: timedelta) -> Any:
        """Payments created less than ``ago`` ago."""
        return self.c.created >= literal_int(self.now - micros(ago))

    # Columns' values, computed.

    def hex(self, salt: int) -> Any:
        """24 hex digits that look random, one per payment and salt (use salts 2 apart)."""
        return self._hex12(_mixed(self.c.n, salt)) + self._hex12(_mixed(self.c.n, salt + 1))

    def hex32(self, salt: int) -> Any:
        """32 hex digits: an id, as text."""
        return self.hex(salt) + literal_text(f"{salt:08x}")

    def id(self, salt: int) -> Any:
        """An id that looks random, one per payment and salt (ids of other salts differ)."""
        return self.hex32(salt) if self.sqlite else sa.cast(self.hex32(salt), sa.Uuid())

    def sha256(self, salt: int) -> Any:
        """64 hex digits, as a body's SHA-256 is written."""
        return (
            self.hex(salt)
            + self.hex(salt + 2)
            + self._hex12(_mixed(self.c.n, salt + 4))
            + literal_text(f"{salt:04x}")
        )

    def _hex12(self, value: Any) -> Any:
        if self.sqlite:
            return sa.func.printf("%012x", value, type_=sa.String())
        return sa.func.lpad(sa.func.to_hex(value), 12, "0", type_=sa.String())

    def number(self, value: Any) -> Any:
        """A number as text."""
        return sa.cast(value, sa.String())

    def time(self, at: Any, *, capped: bool = True) -> Any:
        """The time ``at`` microseconds since 1970 (no later than now, when ``capped``), as the
        platform stores times."""
        if capped:
            at = (
                sa.func.min(at, literal_int(self.now))
                if self.sqlite
                else sa.func.least(at, literal_int(self.now))
            )
        if self.sqlite:
            seconds = sa.func.strftime(
                "%Y-%m-%d %H:%M:%S", at // literal_int(SECOND), "unixepoch", type_=sa.String()
            )
            return (
                seconds + "." + sa.func.printf("%06d", at % literal_int(SECOND), type_=sa.String())
            )
        epoch: Any = sa.literal_column("TIMESTAMPTZ 'epoch'")
        return epoch + at * sa.literal_column("INTERVAL '1 microsecond'")

    def json(self, *parts: Any) -> Any:
        """A JSON value written as text: literal parts (``str``) and expressions."""
        text: Any = literal_text("")
        for part in parts:
            text = text + (literal_text(part) if isinstance(part, str) else part)
        return text if self.sqlite else sa.cast(text, sa.JSON())

    def said(self, words: str) -> Any:
        """``words`` with ``{gateway}`` and ``{other}`` read as the payment's gateway and the
        other one."""
        columns = {"{gateway}": self.c.gateway, "{other}": self.c.other_gateway}
        text: Any = literal_text("")
        for part in re.split(r"(\{gateway\}|\{other\})", words):
            if part:
                text = text + columns.get(part, literal_text(part))
        return text

    @property
    def payment_id(self) -> Any:
        return self.id(1)

    @property
    def external_id(self) -> Any:
        """The payment's id at its vendor."""
        return literal_text("vnd_") + self.hex(3)
