"""The payment routes: ``POST /init-payment`` and ``GET /payments/{id}``."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter
from payments_plugins import Amount
from payments_plugins.money import is_currency

from payments_platform import errors
from payments_platform.usecases.context import Platform
from payments_platform.usecases.initiate import InitAnswer, start_payment
from payments_platform.usecases.reads import payment_history
from payments_platform.web.problems import PROBLEM_MEDIA_TYPE, problem_responses
from payments_platform.web.requests import InitPaymentBody, payment_id_of, strict_body
from payments_platform.web.views import PaymentDetail, PaymentView, Problem

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
        200: ResponseSpec(PaymentView, description="Replay of an earlier identical request"),
        202: ResponseSpec(
            PaymentView,
            description="Queued for a worker (pending), or sent with no usable answer (unknown)",
        ),
        400: ResponseSpec(Problem, media_type=PROBLEM_MEDIA_TYPE, description="malformed-json"),
        **problem_responses(
            errors.InvalidRequest,
            errors.NotACurrency,
            errors.CurrencyNotSupported,
            errors.IdempotencyKeyReused,
            errors.PaymentInProgress,
            errors.PaymentDeclined,
            errors.NoGatewayAvailable,
        ),
    },
)
async def init_payment(
    data: JSONBody[InitPaymentBody],
    platform: NamedDependency[Platform],
    merchant: NamedDependency[str | None],
) -> Response[PaymentView]:
    """Start a payment through the routing chain."""
    if not is_currency(data.currency):
        raise errors.NotACurrency(
            f"{data.currency!r} is not an ISO 4217 currency code", field="currency"
        )
    amount = Amount(data.amount_fractions, data.currency)
    outcome = await start_payment(platform, data.id, amount, merchant=merchant)
    status = STATUS_OF_ANSWER[outcome.answer]
    headers = {"Location": f"/payments/{data.id}"} if status == 201 else None
    return Response(PaymentView.of(outcome.payment), status_code=status, headers=headers)


@get(
    "/payments/{payment_id:str}",
    operation_id="getPayment",
    tags=["payments"],
    summary="A payment with its attempts, refunds and events",
    responses=problem_responses(errors.InvalidRequest, errors.PaymentNotFound),
)
async def get_payment(
    payment_id: Annotated[str, PathParameter(format="uuid", description="The payment's id")],
    platform: NamedDependency[Platform],
    merchant: NamedDependency[str | None],
) -> PaymentDetail:
    """Read a payment and its history."""
    # Taken as text so that a malformed id is answered "not a UUID", not "no such route".
    found = await payment_history(platform, payment_id_of(payment_id), merchant=merchant)
    return PaymentDetail.of(found)
