"""The webhook route: ``POST /external/<gateway>-webhook``, where vendors notify."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from payments_plugins import WebhookAck, WebhookReply

from payments_platform import errors
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.webhooks import apply_webhook
from payments_platform.web.examples import PAYMENT_ID, example
from payments_platform.web.problems import problem_responses
from payments_platform.web.views import WebhookAnswer


@post(
    "/external/{hook:str}",
    operation_id="receiveWebhook",
    tags=["webhooks"],
    summary="Receive a gateway vendor's notification",
    description=(
        "`hook` is `<gateway>-webhook`, where `<gateway>` is an enabled gateway's name or a"
        " gateway type (e.g. `json-webhook`). The body is the vendor's own format."
    ),
    status_code=200,
    responses={
        200: ResponseSpec(
            WebhookAnswer,
            description="Applied, or an exact repeat",
            generate_examples=False,
            examples=[
                example(
                    "applied",
                    {"ok": True, "changed": True, "payment_id": PAYMENT_ID, "status": "paid"},
                )
            ],
        ),
        **problem_responses(
            errors.WebhookRejected,
            errors.PaymentNotFound,
            errors.TransitionNotAllowed,
            errors.WebhookNotVerified,
        ),
    },
)
async def webhook(
    hook: FromPath[str], request: Request[Any, Any, Any], deps: NamedDependency[Dependencies]
) -> Response[Any]:
    """Apply a vendor's notification to the payment it is about.

    A gateway type with its own ``webhook_reply`` (SOAP, say) answers its vendor in the vendor's
    format, refusals included; the others get JSON, or problem+json for a refusal.
    """
    name = hook.removesuffix("-webhook")
    if name == hook:
        raise HTTPException(status_code=404, detail=f"no webhook route {request.url.path}")
    receivers = deps.webhook_receivers(name)
    if not receivers:
        raise HTTPException(status_code=404, detail=f"no enabled gateway named {name!r}")
    reply = receivers[0].webhook_reply
    try:
        outcome = await apply_webhook(deps, receivers, request.headers, await request.body())
    except errors.PaymentProblem as problem:
        if reply is None:
            raise
        refusal = WebhookAck(
            accepted=False, status_code=problem.status, code=problem.code, detail=problem.detail
        )
        return _vendor_reply(reply(refusal))
    answer = WebhookAnswer(
        ok=True,
        changed=outcome.changed,
        payment_id=outcome.payment.id,
        status=outcome.payment.status,
    )
    if reply is None:
        return Response(answer)
    ack = WebhookAck(
        accepted=True,
        status_code=200,
        code="ok",
        detail=f"payment {answer.payment_id} is {answer.status}",
        changed=answer.changed,
    )
    return _vendor_reply(reply(ack))


def _vendor_reply(reply: WebhookReply) -> Response[bytes]:
    # Set as a header: as a media type, Litestar would append its own charset to text/* types.
    return Response(
        reply.body,
        status_code=reply.status_code,
        media_type=reply.content_type,
        headers={"Content-Type": reply.content_type},
    )
