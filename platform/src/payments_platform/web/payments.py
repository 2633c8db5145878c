"""The payment routes: ``POST /init-payment`` and ``GET /payments/{id}``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from payments_plugins import Amount
from payments_plugins.money import is_currency

from payments_platform import errors
from payments_platform.cursors import CURSOR_PATTERN, CursorRefused, CursorSeal
from payments_platform.lifecycle import PaymentStatus
from payments_platform.resources import PaymentView
from payments_platform.store.listing import PaymentFilter
from payments_platform.usecases import reads
from payments_platform.usecases.cancel import CancelAnswer, cancel_payment
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.initiate import InitAnswer, start_payment
from payments_platform.web import examples
from payments_platform.web.client_input import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_VALUE_LENGTH,
    METADATA_KEY,
    InitPaymentBody,
    payment_id_of,
    return_url_refusal,
    storable_query,
    strict_body,
)
from payments_platform.web.examples import example
from payments_platform.web.problems import problem_responses
from payments_platform.web.views import PaymentDetail, PaymentList

STATUS_OF_ANSWER = {InitAnswer.CREATED: 201, InitAnswer.REPEATED: 200, InitAnswer.IN_PROGRESS: 202}


@post(
    "/init-payment",
    operation_id="initPayment",
    tags=["payments"],
    summary="Start a payment",
    description=(
        "The client's `id` is the idempotency key: the same id and body again answers 200 with"
        " the stored payment and calls no gateway; the same id with another body is a 409."
        " 201: a gateway accepted it. 202: sent, outcome unknown, reconciliation resolves it."
    ),
    status_code=201,
    before_request=strict_body(InitPaymentBody),
    responses={
        201: ResponseSpec(
            PaymentView,
            description="A gateway accepted it; `Location` names it",
            generate_examples=False,
            examples=[example("initiated", examples.PAYMENT)],
        ),
        200: ResponseSpec(
            PaymentView,
            description="Replay of an earlier identical request",
            generate_examples=False,
            examples=[example("paid", examples.PAID)],
        ),
        202: ResponseSpec(
            PaymentView,
            description="Queued for a worker (pending), or sent with no usable answer (unknown)",
            generate_examples=False,
            examples=[example("unknown", {**examples.PAYMENT, "status": "unknown"})],
        ),
        **problem_responses(
            errors.MalformedJson,
            errors.InvalidRequest,
            errors.NotACurrency,
            errors.CurrencyNotSupported,
            errors.IdempotencyKeyReused,
            errors.PaymentInProgress,
            errors.PaymentDeclined,
            errors.NoGatewayAvailable,
            errors.NoGatewayCanCapture,
        ),
    },
)
async def init_payment(
    data: JSONBody[InitPaymentBody],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
) -> Response[PaymentView]:
    """Start a payment through the routing chain."""
    if not is_currency(data.currency):
        raise errors.NotACurrency(
            f"{data.currency!r} is not an ISO 4217 currency code", field="currency"
        )
    if data.return_url is not None and (
        why := return_url_refusal(
            data.return_url, allow_http_on_loopback=deps.lifecycle.allow_http_return_url
        )
    ):
        raise errors.InvalidRequest(f"return_url {why} - at `$.return_url`", field="return_url")
    amount = Amount(data.amount_fractions, data.currency)
    outcome = await start_payment(
        deps,
        data.id,
        amount,
        merchant=merchant,
        metadata=data.metadata,
        description=data.description,
        return_url=data.return_url,
        capture=data.capture,
    )
    status = STATUS_OF_ANSWER[outcome.answer]
    headers = {"Location": f"/payments/{data.id}"} if status == 201 else None
    return Response(PaymentView.of(outcome.payment), status_code=status, headers=headers)


MAX_PAGE = 100
LIST_PAYMENTS = "listPayments"


@get(
    "/payments",
    operation_id=LIST_PAYMENTS,
    tags=["payments"],
    summary="The caller's payments, newest first, a page at a time",
    description=(
        "Filters combine; a page holds at most `limit` payments. `next_cursor` of an answer,"
        " sent back as `cursor` with the same filters, gives the next page; paging is by keyset,"
        " so payments created meanwhile never make a page skip or repeat one."
    ),
    before_request=storable_query,
    responses={
        200: ResponseSpec(
            PaymentList,
            description="A page of payments, newest first",
            generate_examples=False,
            examples=[
                example("a page", {"payments": [examples.PAYMENT], "next_cursor": None}),
            ],
        ),
        **problem_responses(errors.InvalidRequest),
    },
)
async def list_payments(
    request: Request[Any, Any, Any],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
    cursors: NamedDependency[CursorSeal],
    status: Annotated[PaymentStatus | None, QueryParameter(description="Only this status")] = None,
    gateway: Annotated[
        str | None, QueryParameter(max_length=40, description="Only through this gateway")
    ] = None,
    currency: Annotated[
        str | None, QueryParameter(pattern="^[A-Z]{3}$", description="Only in this currency")
    ] = None,
    external_id: Annotated[
        str | None,
        QueryParameter(min_length=1, max_length=255, description="The gateway's id of it"),
    ] = None,
    created_after: Annotated[
        str | None,
        QueryParameter(format="date-time", description="Created at or after (RFC 3339)"),
    ] = None,
    created_before: Annotated[
        str | None,
        QueryParameter(format="date-time", description="Created before (RFC 3339)"),
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Page size")] = 20,
    cursor: Annotated[
        str | None,
        QueryParameter(
            description="`next_cursor` of the previous page, as this caller was given it",
            # Documented, not checked by the framework: the seal refuses every other text, with
            # a message that says what to do (a cursor kept from before an upgrade, say).
            schema_extra={"pattern": CURSOR_PATTERN},
        ),
    ] = None,
) -> PaymentList:
    """List the caller's payments."""
    filters = PaymentFilter(
        status=status,
        gateway=gateway,
        currency=currency,
        external_id=external_id,
        created_after=_moment(created_after, "created_after"),
        created_before=_moment(created_before, "created_before"),
        metadata=metadata_filters(request.query_params.multi_items()),
    )
    try:
        after = cursors.open(cursor, merchant) if cursor is not None else None
    except CursorRefused as error:
        raise errors.InvalidRequest(str(error), field="cursor") from None
    page = await reads.list_payments(
        deps, merchant=merchant, filters=filters, after=after, limit=limit
    )
    return PaymentList(
        payments=[PaymentView.of(payment) for payment in page.payments],
        next_cursor=cursors.seal(page.next, merchant) if page.next is not None else None,
    )


MAX_METADATA_FILTERS = 10
_METADATA_FILTER = re.compile(r"metadata\[([^\[\]]*)\]")


def metadata_filters(query: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The ``metadata[<key>]=<value>`` filters of a query (OpenAPI's deepObject style), each
    checked as metadata is checked; the framework reads no parameter of that form itself."""
    found: dict[str, str] = {}
    for name, value in query:
        if name != "metadata" and not name.startswith("metadata["):
            continue
        match = _METADATA_FILTER.fullmatch(name)
        if match is None:
            raise errors.InvalidRequest(
                f"query parameter {name[:60]!r}: a metadata filter is written"
                " metadata[<key>]=<value>",
                field=name,
            )
        key = match[1]
        if not METADATA_KEY.fullmatch(key):
            raise errors.InvalidRequest(
                f"metadata key {key[:60]!r} must be 1 to {MAX_METADATA_KEY_LENGTH} letters,"
                " digits or `_ . : -`",
                field=name,
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise errors.InvalidRequest(
                f"{name} has {len(value)} characters, more than {MAX_METADATA_VALUE_LENGTH}",
                field=name,
            )
        if key in found:
            raise errors.InvalidRequest(f"{name} is given twice", field=name)
        found[key] = value
    if len(found) > MAX_METADATA_FILTERS:
        raise errors.InvalidRequest(
            f"{len(found)} metadata filters, more than {MAX_METADATA_FILTERS}", field="metadata"
        )
    return tuple(found.items())


def _moment(text: str | None, name: str) -> datetime | None:
    """A time given as RFC 3339 text with its offset, in UTC (as the store compares them)."""
    if text is None:
        return None
    try:
        moment = msgspec.convert(text, datetime, strict=True)
    except msgspec.ValidationError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise errors.InvalidRequest(
            f"{name} {text[:40]!r} is not an RFC 3339 time with its offset"
            " (e.g. 2026-12-01T10:00:00Z)",
            field=name,
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid time whose UTC value is before year 1.
        raise errors.InvalidRequest(
            f"{name} {text[:40]!r} is outside the years 1 to 9999 in UTC", field=name
        ) from None


@get(
    "/payments/{payment_id:str}",
    operation_id="getPayment",
    tags=["payments"],
    summary="A payment with its attempts, refunds and events",
    responses={
        200: ResponseSpec(
            PaymentDetail,
            description="The payment with its attempts, refunds and events",
            generate_examples=False,
            examples=[
                example(
                    "refunded",
                    {
                        "payment": examples.REFUNDED,
                        "attempts": [examples.ATTEMPT],
                        "refunds": [examples.REFUND],
                        "events": [examples.EVENT],
                        "notifications": [examples.NOTIFICATION],
                        "captures": [],
                    },
                )
            ],
        ),
        **problem_responses(errors.InvalidRequest, errors.PaymentNotFound),
    },
)
async def get_payment(
    payment_id: Annotated[str, PathParameter(format="uuid", description="The payment's id")],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
) -> PaymentDetail:
    """Read a payment and its history."""
    # Taken as text so that a malformed id is answered "not a UUID", not "no such route".
    found = await reads.payment_history(deps, payment_id_of(payment_id), merchant=merchant)
    return PaymentDetail.of(found)


STATUS_OF_CANCEL = {
    CancelAnswer.CANCELLED: 200,
    CancelAnswer.REPEATED: 200,
    CancelAnswer.IN_PROGRESS: 202,
}


@post(
    "/payments/{payment_id:str}/cancel",
    operation_id="cancelPayment",
    tags=["payments"],
    summary="Cancel a payment its payer has not paid, or void an authorization",
    description=(
        "An `authorized` payment nothing was captured of is voided where its gateway declares"
        " void (`cancelling` while the vendor is asked, then `voided`); elsewhere a 409 says"
        " why. Otherwise only an `initiated` payment is cancelled. Its vendor is asked to"
        " cancel it where its gateway can (the payment is `cancelling` meanwhile); where it"
        " cannot, the platform cancels it alone, and should the vendor still take the payer's"
        " money, the payment becomes `paid`. A cancel racing the payer's payment (or a void"
        " racing a capture) has one winner: the loser gets a 409 naming the payment's status."
        " Repeating a cancel answers the cancelled (or voided) payment."
    ),
    status_code=200,
    responses={
        200: ResponseSpec(
            PaymentView,
            description="Cancelled (by this request, or before it)",
            generate_examples=False,
            examples=[example("cancelled", {**examples.PAYMENT, "status": "cancelled"})],
        ),
        202: ResponseSpec(
            PaymentView,
            description="The vendor is being asked, or gave no usable answer: reconciliation"
            " finds out (`cancelling`)",
            generate_examples=False,
            examples=[example("cancelling", {**examples.PAYMENT, "status": "cancelling"})],
        ),
        **problem_responses(
            errors.InvalidRequest,
            errors.PaymentNotFound,
            errors.PaymentNotCancellable,
            errors.CancelRefused,
            errors.GatewayUnreachable,
        ),
    },
)
async def cancel(
    payment_id: Annotated[str, PathParameter(format="uuid", description="The payment's id")],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
) -> Response[PaymentView]:
    """Cancel a payment the payer has not paid."""
    outcome = await cancel_payment(deps, payment_id_of(payment_id), merchant=merchant)
    return Response(PaymentView.of(outcome.payment), status_code=STATUS_OF_CANCEL[outcome.answer])
