"""The refund route: ``POST /refund``."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, JSONBody

from payments_platform import errors
from payments_platform.lifecycle import RefundStatus
from payments_platform.resources import PaymentView, RefundView
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.refunds import refund_payment
from payments_platform.web import examples
from payments_platform.web.client_input import (
    IDEMPOTENCY_KEY_HEADER,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    RefundBody,
    key_from_header,
    strict_body,
)
from payments_platform.web.examples import example
from payments_platform.web.problems import problem_responses
from payments_platform.web.views import RefundAnswer


@post(
    "/refund",
    operation_id="refundPayment",
    tags=["payments"],
    summary="Refund a payment",
    description=(
        "Refunds `amount_fractions` (default: all that is left) through the gateway that took"
        " the payment. `refund_id` is the idempotency key: repeating it never pays out twice."
    ),
    status_code=200,
    before_request=strict_body(RefundBody),
    responses={
        200: ResponseSpec(
            RefundAnswer,
            description="The gateway refunded it (or a repeat of a refund that succeeded)",
            generate_examples=False,
            examples=[
                example(
                    "succeeded",
                    {"ok": True, "refund": examples.REFUND, "payment": examples.REFUNDED},
                )
            ],
        ),
        202: ResponseSpec(
            RefundAnswer,
            description="Queued for a worker (pending), or sent with no usable answer (unknown)",
            generate_examples=False,
            examples=[
                example(
                    "unknown",
                    {
                        "ok": False,
                        "refund": {**examples.REFUND, "status": "unknown"},
                        "payment": {**examples.PAID, "refundable_fractions": 0},
                    },
                )
            ],
        ),
        **problem_responses(
            errors.MalformedJson,
            errors.InvalidRequest,
            errors.PaymentNotFound,
            errors.PaymentNotRefundable,
            errors.RefundExceedsBalance,
            errors.RefundIdReused,
            errors.RefundDeclined,
            errors.GatewayUnreachable,
        ),
    },
)
async def refund(
    data: JSONBody[RefundBody],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
    idempotency: Annotated[
        str | None,
        HeaderParameter(
            name=IDEMPOTENCY_KEY_HEADER,
            description="The refund's idempotency key when the body has no `refund_id` (with"
            " one, the body's is the key): an opaque string as the IETF httpapi draft has it,"
            ' e.g. `"6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"`; a UUID becomes the refund id',
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        ),
    ] = None,
) -> Response[RefundAnswer]:
    """Refund (part of) a paid payment."""
    outcome = await refund_payment(
        deps,
        data.id,
        amount_minor=data.amount_fractions,
        client_refund_id=data.refund_id or key_from_header(idempotency),
        merchant=merchant,
    )
    succeeded = outcome.refund.status is RefundStatus.SUCCEEDED
    answer = RefundAnswer(
        ok=succeeded,
        refund=RefundView.of(outcome.refund, outcome.payment),
        payment=PaymentView.of(outcome.payment),
    )
    return Response(answer, status_code=200 if succeeded else 202)
