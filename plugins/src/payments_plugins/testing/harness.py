"""The vendor the conformance checks run against: a served simulator, or the in-process one;
and the judgement of a next action every check that initiates shares."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import httpx
import msgspec
import pytest
from opentelemetry import trace

from payments_plugins.gateway import Gateway, GatewayResources, Receive, Scope, Send
from payments_plugins.messages import (
    NEXT_ACTION_TYPES,
    InitiateRequest,
    NextAction,
    VendorPaymentStatus,
)
from payments_plugins.money import Amount
from payments_plugins.simulation.records import Notification
from payments_plugins.testing.control import SimulatorControl
from payments_plugins.testing.guard import Breaches, ContractGuard
from payments_plugins.testing.target import ConformanceTarget

PLACEHOLDER_URL: Final = "http://simulator.invalid"
"""Where the simulator's own settings point before the kit knows where it is served."""
NOTIFICATION_WAIT_SECONDS: Final = 5.0
INBOX_PATH: Final = "/notifications"

_T = TypeVar("_T")


class Inbox:
    """An ASGI app that keeps every notification posted to it, for the test to pick up."""

    def __init__(self) -> None:
        self._received: queue.SimpleQueue[Notification] = queue.SimpleQueue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        self._received.put(Notification(headers=headers, body=bytes(body)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def drain(self) -> None:
        """Forget what arrived so far."""
        while not self._received.empty():
            self._received.get_nowait()

    async def next(self) -> Notification:
        """The next notification to arrive (waiting a little for it)."""
        try:
            return await asyncio.to_thread(self._received.get, True, NOTIFICATION_WAIT_SECONDS)
        except queue.Empty:
            pytest.fail(f"no notification arrived within {NOTIFICATION_WAIT_SECONDS}s")


@dataclass(frozen=True, kw_only=True)
class Live:
    """A gateway under test and the shared HTTP client it was built with."""

    unguarded: Gateway
    """The gateway as built, for a check that inspects every error it raises itself."""
    http: httpx.AsyncClient
    breaches: Breaches = field(default_factory=Breaches)
    soft_declines: bool | None = None
    """Whether the type declares soft declines (see ``ContractGuard``)."""

    @property
    def gateway(self) -> ContractGuard:
        """The gateway under the deadline, failing the check on anything outside the
        contract."""
        return ContractGuard(self.unguarded, self.breaches, soft_declines=self.soft_declines)


@dataclass(kw_only=True)
class ConformanceVendor:
    """The vendor the checks run against: a served simulator, or the in-process one."""

    target: ConformanceTarget
    url: str | None = None
    """Where the simulator is served; None without a simulator."""
    inbox: Inbox | None = None
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)
    breaches: Breaches = field(default_factory=Breaches)
    """The contract breaches the class's checks ran into, so that one bug fails one check."""

    @property
    def currency(self) -> str:
        """The currency the checks pay in: the first the type declares, alphabetically."""
        return sorted(self.target.loaded.currencies)[0]

    def amount(self, minor: int, currency: str | None = None) -> Amount:
        """``minor`` units of ``currency``, by default the checks' currency."""
        return Amount(minor, currency or self.currency)

    def raw_settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The settings the gateway under test is built from, with ``overrides`` laid over."""
        simulator = self.target.loaded.simulator
        raw: dict[str, Any] = {}
        if simulator is not None:
            raw.update(simulator.settings_for(self.url or PLACEHOLDER_URL))
        raw.update(self.target.settings)
        raw.update(overrides or {})
        return raw

    def settings(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """The decoded settings (see ``raw_settings``)."""
        return msgspec.convert(self.raw_settings(overrides), self.target.loaded.settings_type)

    @contextlib.asynccontextmanager
    async def gateway(self, overrides: Mapping[str, Any] | None = None) -> AsyncIterator[Live]:
        """A gateway built as the platform builds it, on a shared client of its own."""
        async with httpx.AsyncClient(verify=self.tls) as http:
            resources = GatewayResources(http=http, tracer=trace.get_tracer("payments.conformance"))
            gateway = self.target.loaded.build(self.settings(overrides), resources)
            try:
                yield Live(
                    unguarded=gateway,
                    http=http,
                    breaches=self.breaches,
                    soft_declines=self.target.loaded.capabilities.soft_declines,
                )
            finally:
                await ContractGuard(gateway, self.breaches).aclose()

    @contextlib.asynccontextmanager
    async def control(self) -> AsyncIterator[SimulatorControl]:
        """The simulator's control endpoints."""
        if self.url is None:
            pytest.fail(
                "this check needs a simulator; the payments pytest plugin should have left it out"
            )
        async with SimulatorControl.served_at(self.url, verify=self.tls) as control:
            yield control

    async def paid_payment(
        self, gateway: Gateway, minor: int, currency: str | None = None
    ) -> tuple[InitiateRequest, str]:
        """A payment the vendor holds as paid (the in-process vendor refunds what it holds)."""
        request = InitiateRequest(payment_id=uuid.uuid4(), amount=self.amount(minor, currency))
        external_id = (await gateway.initiate(request)).external_id
        if self.url is not None:
            async with self.control() as control:
                await control.set_status(external_id, "paid")
        return request, external_id

    async def genuine_notification(self, gateway: Gateway, minor: int) -> tuple[str, Notification]:
        """A payment initiated through ``gateway`` and the vendor's "paid" notification of it."""
        request = InitiateRequest(payment_id=uuid.uuid4(), amount=self.amount(minor))
        external_id = (await gateway.initiate(request)).external_id
        if self.target.notification is not None and self.url is None:
            return external_id, self.target.notification(external_id, VendorPaymentStatus.PAID)
        if self.inbox is None:
            pytest.fail("this check needs a simulator or ConformanceTarget.notification")
        self.inbox.drain()
        async with self.control() as control:
            answer = await control.set_status(external_id, "paid")
        if answer.get("webhook") is None:
            pytest.fail("the simulator posted no notification to its webhook_url")
        return external_id, await self.inbox.next()


def run(check: Callable[[], Awaitable[_T]]) -> _T:
    """Run one asynchronous check on an event loop of its own."""

    async def main() -> _T:
        return await check()

    return asyncio.run(main())


def asgi_server() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``serve_asgi``, imported only when a simulator is to be served: it needs uvicorn."""
    try:
        from payments_plugins.testing.asgi_server import serve_asgi  # noqa: PLC0415
    except ImportError as error:
        raise RuntimeError(
            "serving a simulator needs uvicorn: install payments-plugins[testing]"
        ) from error
    return serve_asgi


def unreachable_url() -> str:
    """A loopback URL nothing listens on, so a connection to it is refused."""
    # Here, not at the top: the module needs uvicorn, which only simulator checks require.
    from payments_plugins.testing.asgi_server import free_port  # noqa: PLC0415

    return f"http://127.0.0.1:{free_port()}"


def refusal_of(action: NextAction) -> str | None:
    """Why the contract refuses ``action`` when it is made again from its fields, or None."""
    try:
        msgspec.convert(msgspec.to_builtins(action), type(action))
    except (msgspec.ValidationError, TypeError, ValueError) as error:
        return str(error)
    return None


def report_undeclared_kind(vendor: ConformanceVendor, action: NextAction) -> None:
    """Report a next action of a kind the type does not declare."""
    kind = NEXT_ACTION_TYPES.get(type(action))
    declared = vendor.target.loaded.capabilities.next_actions
    if kind is None or kind not in declared:
        vendor.breaches.report(
            "initiate",
            "returned an undeclared next action",
            f"initiate returned {type(action).__name__} {action!r:.200}, a next action of a"
            " kind the type does not declare (Capabilities.next_actions is"
            f" {sorted(kind.value for kind in declared)}): the platform refuses it as a garbage"
            " answer and reconciles the payment; declare its kind in GatewayType.capabilities,"
            " or return none",
        )
