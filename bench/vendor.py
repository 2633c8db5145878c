"""The fake vendor: the JSON gateway plugin's own simulator, served by uvicorn in its own process.

``python -m bench.vendor --port P --secret S`` serves ``JsonVendorSimulator`` (payer pays at
once, so every accepted payment can be refunded, and every one taken with manual capture is
authorized, so it can be captured) plus one bench control, ``POST /_bench/prefill`` with
``{"references": [...], "amount": "10.00 AED", "capture": "manual"}`` (``capture`` may be left
out: ``automatic``): it starts those payments through the simulator's own ``POST
/initiate-payment`` in process, without a socket, and answers ``{"external_ids": [...]}`` in the
same order. The bench stores the matching payments as paid (automatic) or authorized (manual),
so that refunds and captures find them at the vendor.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, Literal

import msgspec
import uvicorn
from payments_plugin_json_gateway.settings import JsonGatewaySettings
from payments_plugin_json_gateway.simulator import JsonVendorSimulator
from payments_plugins import SimulatorOptions
from payments_plugins.gateway import ASGIApp, Receive, Scope, Send
from payments_plugins.simulation import json_answer, json_error
from payments_plugins.simulation.asgi import read_body, send_answer

PREFILL_PATH = "/_bench/prefill"
READY_PATH = "/_simulator/calls"
PREFILL_MAX_BYTES = 16 * 1024 * 1024


CaptureMode = Literal["automatic", "manual"]
"""How a prefilled payment is captured: at once, or when the platform captures it."""


class Prefill(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Payments to start at the vendor, by our reference."""

    references: list[str]
    amount: str
    capture: CaptureMode = "automatic"
    """``manual``: the payer authorizes at once, and the payment waits to be captured."""


class Prefilled(msgspec.Struct, frozen=True, kw_only=True):
    """The vendor's ids of the payments started, in the order of the references."""

    external_ids: list[str]


class _Created(msgspec.Struct, frozen=True):
    id: str


_PREFILL_DECODER = msgspec.json.Decoder(Prefill)
_CREATED_DECODER = msgspec.json.Decoder(_Created)
_ENCODER = msgspec.json.Encoder()


class BenchVendor:
    """The simulator, with the prefill control in front of it."""

    def __init__(self, simulator: JsonVendorSimulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "http" and scope["path"] == PREFILL_PATH:
            await self._prefill(receive, send)
            return
        await self.simulator(scope, receive, send)

    async def _prefill(self, receive: Receive, send: Send) -> None:
        body = await read_body(receive, PREFILL_MAX_BYTES)
        if body is None:
            await send_answer(send, json_error(413, "too-large", "send fewer references"))
            return
        prefill = _PREFILL_DECODER.decode(body)
        external_ids = [
            await self._initiate(reference, prefill.amount, prefill.capture)
            for reference in prefill.references
        ]
        await send_answer(send, json_answer(200, Prefilled(external_ids=external_ids)))

    async def _initiate(self, reference: str, amount: str, capture: CaptureMode) -> str:
        body = {"amount": amount, "reference": reference, "capture": capture}
        status, answer = await call(
            self.simulator, "POST", "/initiate-payment", _ENCODER.encode(body)
        )
        if status not in (200, 201):
            raise RuntimeError(f"the simulator refused to start {reference}: {status} {answer!r}")
        return _CREATED_DECODER.decode(answer).id


async def call(app: ASGIApp, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Make one HTTP request to an ASGI app in process; return its status and body."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    sent = False
    status = 0
    answer = bytearray()

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(answer)


def build(secret: str) -> BenchVendor:
    """The vendor app; its gateway settings carry the secret webhooks are signed with."""
    settings = JsonGatewaySettings(base_url="http://127.0.0.1:1", webhook_secret=secret)
    options = SimulatorOptions(settings=settings, webhook_url=None, payer_pays_at_once=True)
    return BenchVendor(JsonVendorSimulator(options))


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the vendor until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.vendor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        build(args.secret),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
