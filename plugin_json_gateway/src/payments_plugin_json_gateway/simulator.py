"""An in-memory stand-in for the JSON vendor's API, served as a plain ASGI app.

It speaks the vendor's wire format (see the package README): errors are the vendor's JSON error
body with the HTTP status it documents, and webhooks are signed like the vendor's. The books,
the behaviours, the ``/_simulator/`` control endpoints and the payer's payment page at
``/pay/{id}`` (Pay or Decline) are those of every simulator of the platform
(:class:`payments_plugins.simulation.VendorSimulator`).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Final, Unpack

import msgspec
from payments_plugins import SimulatorOptions
from payments_plugins.simulation import (
    Answer,
    Notification,
    NotifiedStatus,
    Refusal,
    Request,
    Route,
    SimulatorTiming,
    VendorSimulator,
    decoded,
    json_answer,
    json_error,
)

from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.signing import signed_headers
from payments_plugin_json_gateway.wire import CaptureBody, InitiateBody, RefundBody, WebhookBody

CURRENCY: Final = "AED"
"""The only currency the vendor takes."""

_ENCODER: Final = msgspec.json.Encoder()
_INITIATE_DECODER: Final = msgspec.json.Decoder(InitiateBody)
_REFUND_DECODER: Final = msgspec.json.Decoder(RefundBody)
_CAPTURE_DECODER: Final = msgspec.json.Decoder(CaptureBody)


class JsonVendorSimulator(VendorSimulator):
    """The JSON vendor's API in memory, as an ASGI app.

    ``options.settings`` must be the :class:`JsonGatewaySettings` of the gateway that talks to
    it: webhooks are signed with its ``webhook_secret`` when it has one, timestamped by the
    ``now`` clock. ``timeout_seconds``, the lifespan and :meth:`aclose` are as
    :class:`~payments_plugins.simulation.VendorSimulator` describes.
    """

    currencies = frozenset({CURRENCY})
    id_prefix = "jsonpay"
    created_status = 201
    vendor_name = "JSON vendor"
    soft_decline_code = "issuer_unavailable"

    def __init__(
        self, options: SimulatorOptions[JsonGatewaySettings], **timing: Unpack[SimulatorTiming]
    ) -> None:
        self._webhook_secret = options.settings.webhook_secret
        routes = (
            Route("POST", "initiate-payment", self._initiate),
            Route("POST", "refunds", self._refund),
            Route("GET", "refunds", self._refund_by_reference),
            Route("GET", "payments", self._payment_by_reference),
            Route("GET", "payments/{external_id}", self._payment_by_id),
            Route("POST", "payments/{external_id}/cancel", self._cancel),
            Route("POST", "payments/{external_id}/captures", self._capture),
            Route("GET", "captures", self._capture_by_reference),
            Route("POST", "payments/{external_id}/void", self._void),
        )
        super().__init__(options, routes, **timing)

    def error_answer(self, status: int, code: str, message: str) -> Answer:
        """The vendor's JSON error body with ``status``."""
        return json_error(status, code, message)

    def notification(self, external_id: str, status: NotifiedStatus) -> Notification:
        """The vendor's webhook, signed when the gateway settings have a ``webhook_secret``."""
        reference = None
        with contextlib.suppress(ValueError):
            reference = uuid.UUID(self.payment(external_id).reference)
        body = _ENCODER.encode(
            WebhookBody(external_id=external_id, status=status, reference=reference)
        )
        headers = {"Content-Type": "application/json"}
        if self._webhook_secret is not None:
            headers |= signed_headers(self._webhook_secret, body, timestamp=int(self._now()))
        return Notification(headers=headers, body=body)

    async def _initiate(self, request: Request) -> Answer | None:
        self.take_call("initiate")
        body = decoded(_INITIATE_DECODER, request.body)
        amount = self.accepted_amount(body.amount)
        behaviour = self.behaviour_for(amount, "initiate", decline_code="payment_declined")
        payment, created = self.take_payment(
            body.reference,
            amount,
            return_url=body.return_url,
            description=body.description,
            capture=body.capture,
        )
        answer = json_answer(
            201 if created else 200,
            {"id": payment.id, "redirect_url": self.page_url(request, payment)},
        )
        return await self.misbehave_or(behaviour, request, answer)

    async def _cancel(self, request: Request) -> Answer:
        self.take_call("cancel")
        payment = self.cancel_payment(request.path_params["external_id"])
        return json_answer(200, payment.to_json())

    async def _capture(self, request: Request) -> Answer | None:
        self.take_call("capture")
        body = decoded(_CAPTURE_DECODER, request.body)
        amount = self.accepted_amount(body.amount)
        behaviour = self.behaviour_for(amount, "capture", decline_code="capture_declined")
        capture, created = self.take_capture(
            request.path_params["external_id"], body.reference, amount, final=body.final
        )
        answer = json_answer(201 if created else 200, capture.to_json())
        return await self.misbehave_or(behaviour, request, answer)

    async def _capture_by_reference(self, request: Request) -> Answer:
        self.take_call("status")
        capture = self.capture_with_reference(_one_reference(request))
        return json_answer(200, capture.to_json())

    async def _void(self, request: Request) -> Answer | None:
        self.take_call("void")
        payment = self.payment(request.path_params["external_id"])
        behaviour = self.behaviour_for(payment.amount, "void", decline_code="void_declined")
        answer = json_answer(200, self.void_payment(payment.id).to_json())
        return await self.misbehave_or(behaviour, request, answer)

    async def _refund(self, request: Request) -> Answer | None:
        self.take_call("refund")
        body = decoded(_REFUND_DECODER, request.body)
        amount = self.accepted_amount(body.amount)
        behaviour = self.behaviour_for(amount, "refund", decline_code="refund_declined")
        refund, created = self.take_refund(body.payment_id, body.reference, amount)
        answer = json_answer(201 if created else 200, {"id": refund.id})
        return await self.misbehave_or(behaviour, request, answer)

    async def _payment_by_id(self, request: Request) -> Answer:
        self.take_call("status")
        payment = self.payment(request.path_params["external_id"])
        return json_answer(200, payment.to_json())

    async def _payment_by_reference(self, request: Request) -> Answer:
        self.take_call("status")
        payment = self.payment_with_reference(_one_reference(request))
        return json_answer(200, payment.to_json())

    async def _refund_by_reference(self, request: Request) -> Answer:
        self.take_call("status")
        refund = self.refund_with_reference(_one_reference(request))
        return json_answer(200, refund.to_json())


def build_simulator(options: SimulatorOptions[JsonGatewaySettings]) -> JsonVendorSimulator:
    """Build the vendor simulator the platform serves for the demo profile and tests."""
    return JsonVendorSimulator(options)


def _one_reference(request: Request) -> str:
    references = [value for value in request.query.get("reference", []) if value]
    if len(references) != 1:
        raise Refusal(400, "invalid_request", "give exactly one reference parameter")
    return references[0]
