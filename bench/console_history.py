"""What became of each stored payment of the console bench, and what its history holds: the
rows the platform writes, as :mod:`bench.console_seeding` writes them in SQL.

Each payment has a :class:`Fate`, drawn in :data:`FATES`' shares: paid (most), captured after an
authorization, refunded in full or in part, authorized, rejected, waiting for its payer
(``initiated`` within the last day, ``expired`` before), cancelled by an operator, of unknown
outcome, or still pending. Its events are :data:`STEPS`: the request, the routing decision with
its candidates, every status change, the vendor's webhooks (with a body's SHA-256, as the
webhooks page lists them), duplicates refused, webhooks naming no payment known or failing
their signature, money a vendor took after the platform gave up, captures and refunds,
operators' cancels, refunds and sign-ins. Its attempts (one in twenty failed over from the
other gateway), refund or capture, notifications with their deliveries (mostly delivered, some
dead, a few retrying) and jobs (done, dead, or pending and due later, so that the server's
worker has nothing to run while pages are measured) follow from its fate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bench.console_facts import (
    DAY,
    GATEWAYS,
    MS,
    SECOND,
    Facts,
    literal_int,
    literal_text,
)

WAITING_UNTIL = timedelta(hours=23)
"""A payment whose payer has not paid is ``initiated`` while younger than this, else
``expired``: the platform's default expiry is a day, and the hour's margin keeps the expire
jobs of those still waiting from falling due while pages are measured."""
RETRYING_FOR = timedelta(hours=25)
"""A delivery that keeps failing is retried this long (the platform's default), then dead."""
OPERATORS = ("alice", "bob", "carol")
NOTIFY_ATTEMPTS = 20
JOB_ATTEMPTS = 10
SHARES = 10_000


Moment = Callable[[Facts], Any]
"""A time in a payment's history, in microseconds since 1970."""


def created(f: Facts) -> Any:
    return f.c.created


def called(f: Facts) -> Any:
    return f.c.created + literal_int(2 * MS)


def answered(f: Facts) -> Any:
    return called(f) + f.c.latency


def payer_paid(f: Facts) -> Any:
    return answered(f) + literal_int(20 * SECOND) + f.c.payer_delay


def captured(f: Facts) -> Any:
    return payer_paid(f) + literal_int(300 * SECOND)


def refunded(f: Facts) -> Any:
    return payer_paid(f) + literal_int(1_800 * SECOND)


def cancelled(f: Facts) -> Any:
    return answered(f) + literal_int(600 * SECOND)


def expired(f: Facts) -> Any:
    return f.c.created + literal_int(DAY)


def later(moment: Moment, offset: int) -> Moment:
    """``offset`` microseconds after ``moment`` (before it, when negative)."""
    return lambda f: moment(f) + literal_int(offset)


@dataclass(frozen=True)
class Fate:
    """What became of a payment: its status and amounts now, and what its history holds."""

    name: str
    share: int
    """Payments of this fate in every :data:`SHARES`."""
    status: str
    last_change: Moment
    answer: str | None = "accepted"
    """The outcome of its gateway's call (None: no gateway has answered yet)."""
    capture_mode: str = "automatic"
    authorized: bool = False
    captured: bool = False
    refunded: str | None = None
    """``all`` or ``half`` of it refunded."""
    failure_code: str | None = None


WAITING = "waiting"
"""The fate of a payment whose payer never paid: ``initiated`` while younger than
:data:`WAITING_UNTIL`, ``expired`` after."""
FATES: tuple[Fate, ...] = (
    Fate("paid", 6630, "paid", payer_paid, authorized=True, captured=True),
    Fate(
        "captured",
        400,
        "paid",
        later(captured, 250 * MS),
        capture_mode="manual",
        authorized=True,
        captured=True,
    ),
    Fate(
        "refunded",
        600,
        "refunded",
        later(refunded, 400 * MS),
        authorized=True,
        captured=True,
        refunded="all",
    ),
    Fate(
        "partly_refunded",
        200,
        "partially_refunded",
        later(refunded, 400 * MS),
        authorized=True,
        captured=True,
        refunded="half",
    ),
    Fate("authorized", 200, "authorized", payer_paid, capture_mode="manual", authorized=True),
    Fate("rejected", 900, "rejected", answered, answer="declined", failure_code="do_not_honor"),
    Fate(WAITING, 800, "expired", expired),
    Fate("cancelled", 250, "cancelled", later(cancelled, 300 * MS)),
    Fate("unknown", 15, "unknown", answered, answer="unknown"),
    Fate("pending", 5, "pending", created, answer=None),
)
if sum(fate.share for fate in FATES) != SHARES:  # pragma: no cover - a wrong edit of FATES
    raise ValueError(f"the fates' shares must add up to {SHARES}")
SHARED = [(fate.name, fate.share) for fate in FATES]
"""Each fate's name and share, as :class:`~bench.console_facts.Facts` draws them."""
_FATE = {fate.name: fate for fate in FATES}


def fates(*names: str) -> tuple[Fate, ...]:
    """The fates of these names."""
    return tuple(_FATE[name] for name in names)


ANSWERED = tuple(fate for fate in FATES if fate.answer is not None)
ACCEPTED = tuple(fate for fate in FATES if fate.answer == "accepted")
PAID_BY_PAYER = fates("paid", "refunded", "partly_refunded")
AUTHORIZED_BY_PAYER = fates("captured", "authorized")
REFUNDED = fates("refunded", "partly_refunded")


def among(f: Facts, fates: Sequence[Fate]) -> Any:
    """The payments of ``fates``."""
    return f.fate_in(fate.name for fate in fates)


def still_waiting(f: Facts) -> Any:
    """Payments of the waiting fate young enough to be waiting still."""
    return sa.and_(among(f, fates(WAITING)), f.since(WAITING_UNTIL))


def gave_up_waiting(f: Facts) -> Any:
    """Payments of the waiting fate that expired."""
    return sa.and_(among(f, fates(WAITING)), sa.not_(f.since(WAITING_UNTIL)))


@dataclass(frozen=True)
class Step:
    """An event in the history of the payments of ``fates`` (those that also meet ``only``)."""

    kind: str
    at: Moment
    reason: str
    """With ``{gateway}`` and ``{other}``: the payment's gateway and the other one."""
    fates: tuple[Fate, ...]
    from_status: str | None = None
    to_status: str | None = None
    accepted: bool | None = True
    gateway: str | None = "gateway"
    """The facts' column of the gateway it names (None: none)."""
    webhook: bool = False
    """A vendor's webhook: recorded with its body's SHA-256."""
    external_id: str | None = None
    """The vendor's id it names: ``payment``'s, ``unknown`` (one no payment has), or None."""
    about_payment: bool = True
    """False: recorded about no payment known (``payment_id`` NULL)."""
    detail: Callable[[Facts], Any] | None = None
    operator: Callable[[Facts], Any] | None = None
    only: Callable[[Facts], Any] | None = None


def _routing(f: Facts) -> Any:
    first = f.c.gateway == literal_text(GATEWAYS[0])
    return f.json(
        '{"strategy": "weighted", "currency": "',
        f.c.currency,
        '", "order": [{"gateway": "',
        f.c.gateway,
        '", "weight": ',
        sa.case((first, literal_text("2.0")), else_=literal_text("1.0")),
        ', "health": 1.0, "breaker": "closed", "share": ',
        sa.case((first, literal_text("0.667")), else_=literal_text("0.333")),
        '}, {"gateway": "',
        f.c.other_gateway,
        '", "weight": ',
        sa.case((first, literal_text("1.0")), else_=literal_text("2.0")),
        ', "health": 1.0, "breaker": "closed", "share": ',
        sa.case((first, literal_text("0.333")), else_=literal_text("0.667")),
        '}], "skipped": [], "left_out": []}',
    )


def _operator(spread: int) -> Callable[[Facts], Any]:
    """One of the operators, changing every ``spread`` payments."""

    def chosen(f: Facts) -> Any:
        index = (f.c.n // literal_int(spread)) % literal_int(len(OPERATORS))
        return sa.case(
            *(
                (index == literal_int(i), literal_text(name))
                for i, name in enumerate(OPERATORS[:-1])
            ),
            else_=literal_text(OPERATORS[-1]),
        )

    return chosen


def _action(action: str, spread: int, **more: Callable[[Facts], Any]) -> Callable[[Facts], Any]:
    """An operator action's detail, as the platform records it."""

    def detail(f: Facts) -> Any:
        parts: list[Any] = ['{"operator": "', _operator(spread)(f), f'", "action": "{action}"']
        for key, value in more.items():
            parts += [f', "{key}": "', value(f), '"']
        return f.json(*parts, "}")

    return detail


def _reported(status: str) -> Callable[[Facts], Any]:
    return lambda f: f.json(f'{{"status": "{status}"}}')


def _capture_id(f: Facts) -> Any:
    return f.json('{"capture_id": "', f.hex32(15), '"}')


def _refund_id(f: Facts) -> Any:
    return f.json('{"refund_id": "', f.hex32(11), '"}')


STEPS: tuple[Step, ...] = (
    Step("status_changed", created, "payment requested", FATES, None, "pending", gateway=None),
    Step(
        "routing_decision",
        later(created, 1 * MS),
        "weighted strategy, 2 candidate(s)",
        FATES,
        accepted=None,
        gateway=None,
        detail=_routing,
    ),
    Step("status_changed", answered, "accepted by {gateway}", ACCEPTED, "pending", "initiated"),
    Step(
        "status_changed",
        answered,
        "declined by {gateway}: do_not_honor",
        fates("rejected"),
        "pending",
        "rejected",
    ),
    Step(
        "status_changed",
        answered,
        "{gateway} gave no usable answer: read timed out",
        fates("unknown"),
        "pending",
        "unknown",
    ),
    Step(
        "webhook",
        payer_paid,
        "{gateway} reports paid",
        PAID_BY_PAYER,
        "initiated",
        "paid",
        webhook=True,
        external_id="payment",
        detail=_reported("paid"),
    ),
    Step(
        "webhook",
        payer_paid,
        "{gateway} reports authorized",
        AUTHORIZED_BY_PAYER,
        "initiated",
        "authorized",
        webhook=True,
        external_id="payment",
        detail=_reported("authorized"),
    ),
    Step(
        "capture_requested",
        captured,
        "capture of all of it",
        fates("captured"),
        detail=_capture_id,
    ),
    Step(
        "capture_succeeded",
        later(captured, 250 * MS),
        "{gateway} captured it",
        fates("captured"),
        detail=_capture_id,
    ),
    Step(
        "status_changed",
        later(captured, 250 * MS),
        "captured in full",
        fates("captured"),
        "authorized",
        "paid",
    ),
    Step(
        "operator_action",
        later(refunded, -1 * MS),
        "refund asked from the console",
        REFUNDED,
        gateway=None,
        operator=_operator(3),
        detail=_action("refund", 3, refund_id=lambda f: f.hex32(11)),
        only=lambda f: f.every(3, 0),
    ),
    Step("refund_requested", refunded, "refund requested", REFUNDED, detail=_refund_id),
    Step(
        "refund_succeeded",
        later(refunded, 400 * MS),
        "{gateway} refunded it",
        REFUNDED,
        detail=_refund_id,
    ),
    Step(
        "status_changed",
        later(refunded, 400 * MS),
        "refund succeeded",
        fates("refunded"),
        "paid",
        "refunded",
    ),
    Step(
        "status_changed",
        later(refunded, 400 * MS),
        "refund succeeded",
        fates("partly_refunded"),
        "paid",
        "partially_refunded",
    ),
    Step(
        "status_changed",
        expired,
        "the payer did not pay within 86400 s",
        fates(WAITING),
        "initiated",
        "expired",
        only=gave_up_waiting,
    ),
    Step(
        "operator_action",
        cancelled,
        "cancel asked from the console",
        fates("cancelled"),
        gateway=None,
        operator=_operator(5),
        detail=_action("cancel", 5),
    ),
    Step(
        "status_changed",
        later(cancelled, 300 * MS),
        "cancelled by {gateway}",
        fates("cancelled"),
        "initiated",
        "cancelled",
    ),
    # What was refused, or needs an operator.
    Step(
        "webhook",
        later(payer_paid, 5 * SECOND),
        "transition paid -> paid not allowed",
        PAID_BY_PAYER,
        "paid",
        "paid",
        accepted=False,
        webhook=True,
        external_id="payment",
        detail=_reported("paid"),
        only=lambda f: f.every(40, 7),
    ),
    Step(
        "webhook",
        later(answered, 3 * SECOND),
        "no payment known by this external id",
        ANSWERED,
        accepted=False,
        gateway="other_gateway",
        webhook=True,
        external_id="unknown",
        about_payment=False,
        detail=_reported("paid"),
        only=lambda f: f.every(400, 3),
    ),
    Step(
        "webhook",
        later(answered, 4 * SECOND),
        "invalid signature",
        ANSWERED,
        accepted=False,
        webhook=True,
        about_payment=False,
        only=lambda f: f.every(1_000, 9),
    ),
    Step(
        "recovered",
        later(expired, 600 * SECOND),
        "{other} took money for it, but {gateway} holds it: settle with {other}",
        fates(WAITING),
        accepted=False,
        gateway="other_gateway",
        webhook=True,
        external_id="unknown",
        only=lambda f: sa.and_(gave_up_waiting(f), f.every(97, 0)),
    ),
    Step(
        "operator_action",
        later(created, -17 * SECOND),
        "signed in to the console",
        FATES,
        gateway=None,
        about_payment=False,
        operator=_operator(7),
        detail=_action(
            "sign_in", 7, address=lambda f: literal_text("10.0.0.") + f.number(f.c.n % 200)
        ),
        only=lambda f: f.every(250, 0),
    ),
)
"""Every event a payment's history may hold, with the payments that hold it."""
