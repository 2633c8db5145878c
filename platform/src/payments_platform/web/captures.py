"""The capture route: ``POST /payments/{id}/capture``."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter

from payments_platform import errors
from payments_platform.lifecycle import CaptureStatus
from payments_platform.resources import CaptureView, PaymentView
from payments_platform.usecases.captures import capture_payment
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.web import examples
from payments_platform.web.client_input import CaptureBody, payment_id_of, strict_body
from payments_platform.web.examples import example
from payments_platform.web.problems import problem_responses
from payments_platform.web.views import CaptureAnswer


@post(
    "/payments/{payment_id:str}/capture",
    operation_id="capturePayment",
    tags=["payments"],
    summary="Capture an authorized payment",
    description=(
        "Captures `amount_fractions` (default: all that is left) of a payment taken with"
        ' `"capture": "manual"` and authorized by its payer, through the gateway that holds the'
        " authorization. Less than is authorized only where the gateway declares partial"
        " capture, a second capture only where it declares multiple captures; `final` (and"
        " every capture where only one is declared) releases the rest, and the payment is"
        " `paid`. `capture_id` is the idempotency key: repeating it never captures twice. The"
        " body is optional."
    ),
    status_code=200,
    before_request=strict_body(CaptureBody, optional=True),
    responses={
        200: ResponseSpec(
            CaptureAnswer,
            description="The gateway captured it (or a repeat of a capture that succeeded)",
            generate_examples=False,
            examples=[
                example(
                    "partially captured",
                    {
                        "ok": True,
                        "capture": examples.CAPTURE,
                        "payment": examples.PARTIALLY_CAPTURED,
                    },
                )
            ],
        ),
        202: ResponseSpec(
            CaptureAnswer,
            description="Sent with no usable answer yet (`pending`): a worker asks the gateway"
            " what became of it, and never sends it under another id",
            generate_examples=False,
            examples=[
                example(
                    "pending",
                    {
                        "ok": False,
                        "capture": {**examples.CAPTURE, "status": "pending"},
                        "payment": examples.AUTHORIZED,
                    },
                )
            ],
        ),
        **problem_responses(
            errors.MalformedJson,
            errors.InvalidRequest,
            errors.PaymentNotFound,
            errors.PaymentNotCapturable,
            errors.CaptureExceedsAuthorization,
            errors.CaptureIdReused,
            errors.CaptureDeclined,
            errors.GatewayUnreachable,
        ),
    },
)
async def capture(
    payment_id: Annotated[str, PathParameter(format="uuid", description="The payment's id")],
    deps: NamedDependency[Dependencies],
    merchant: NamedDependency[str | None],
    data: JSONBody[CaptureBody | None] = None,
) -> Response[CaptureAnswer]:
    """Capture (part of) an authorized payment."""
    asked = data or CaptureBody()
    outcome = await capture_payment(
        deps,
        payment_id_of(payment_id),
        amount_minor=asked.amount_fractions,
        client_capture_id=asked.capture_id,
        final=asked.final,
        merchant=merchant,
    )
    succeeded = outcome.capture.status is CaptureStatus.SUCCEEDED
    answer = CaptureAnswer(
        ok=succeeded,
        capture=CaptureView.of(outcome.capture, outcome.payment),
        payment=PaymentView.of(outcome.payment),
    )
    return Response(answer, status_code=200 if succeeded else 202)
