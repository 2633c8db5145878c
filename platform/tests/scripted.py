"""A gateway plugin whose vendor is a script the test writes: each call takes the next step."""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from payments_plugins import (
    CancelRequest,
    CancelResult,
    Capabilities,
    CaptureRequest,
    CaptureResult,
    CaptureStatusQuery,
    CaptureStatusReport,
    GatewayResources,
    GatewayType,
    InitiateRequest,
    InitiateResult,
    InvalidWebhook,
    NextActionType,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VoidRequest,
    VoidResult,
    WebhookEvent,
    hookimpl,
)

Step = Callable[[Any], Awaitable[Any]]


class ScriptedSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    script: str
    """Which :class:`Script` (by name, from :data:`SCRIPTS`) this gateway plays."""


class Script:
    """Steps per operation, taken in order; an operation without steps left fails the test."""

    def __init__(self) -> None:
        self.steps: dict[str, deque[Step]] = defaultdict(deque)
        self.calls: dict[str, list[Any]] = defaultdict(list)

    def then(self, operation: str, step: Step) -> Script:
        """Queue the next answer to ``operation``."""
        self.steps[operation].append(step)
        return self

    def answer(self, operation: str, value: Any) -> Script:
        """Queue a plain return value."""

        async def step(_request: Any) -> Any:
            return value

        return self.then(operation, step)

    def fail(self, operation: str, error: Exception) -> Script:
        """Queue an error."""

        async def step(_request: Any) -> Any:
            raise error

        return self.then(operation, step)

    async def play(self, operation: str, request: Any) -> Any:
        self.calls[operation].append(request)
        if not self.steps[operation]:
            raise AssertionError(f"unexpected {operation} call: {request!r}")
        return await self.steps[operation].popleft()(request)


SCRIPTS: dict[str, Script] = {}
CAPABLE: set[str] = set()
"""Scripts played by a gateway of the type that declares next actions and cancel."""
CAPTURING: dict[str, str] = {}
"""Scripts played by a gateway of a type that captures, by the type's name."""
SOFT_DECLINING: set[str] = set()
"""Scripts played by a gateway of the type that declares soft declines."""


class ScriptedGateway:
    def __init__(self, script: Script) -> None:
        self.script = script

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        result: InitiateResult = await self.script.play("initiate", request)
        return result

    async def refund(self, request: RefundRequest) -> RefundResult:
        result: RefundResult = await self.script.play("refund", request)
        return result

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        result: StatusReport = await self.script.play("status", query)
        return result

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        result: RefundStatusReport = await self.script.play("refund_status", query)
        return result

    async def cancel(self, request: CancelRequest) -> CancelResult:
        result: CancelResult = await self.script.play("cancel", request)
        return result

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        result: CaptureResult = await self.script.play("capture", request)
        return result

    async def fetch_capture_status(self, query: CaptureStatusQuery) -> CaptureStatusReport:
        result: CaptureStatusReport = await self.script.play("capture_status", query)
        return result

    async def void(self, request: VoidRequest) -> VoidResult:
        result: VoidResult = await self.script.play("void", request)
        return result

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        try:
            return msgspec.json.decode(body, type=WebhookEvent)
        except msgspec.DecodeError as error:
            raise InvalidWebhook(str(error)) from None

    async def aclose(self) -> None:
        return None


def _build(settings: ScriptedSettings, _resources: GatewayResources) -> ScriptedGateway:
    return ScriptedGateway(SCRIPTS[settings.script])


SCRIPTED_TYPE = GatewayType(
    name="scripted",
    currencies=frozenset({"AED", "USD"}),
    settings_type=ScriptedSettings,
    build=_build,
)


CAPABLE_TYPE = GatewayType(
    name="scripted-capable",
    currencies=frozenset({"AED", "USD"}),
    settings_type=ScriptedSettings,
    build=_build,
    capabilities=Capabilities(
        next_actions=frozenset({NextActionType.REDIRECT, NextActionType.DISPLAY}), cancel=True
    ),
)
"""A scripted type that may return either next action and cancels."""


SOFT_DECLINING_TYPE = GatewayType(
    name="scripted-soft",
    currencies=frozenset({"AED", "USD"}),
    settings_type=ScriptedSettings,
    build=_build,
    capabilities=Capabilities(soft_declines=True),
)
"""A scripted type that tells soft declines from hard ones (contract 2.2)."""


CAPTURING_TYPES = {
    "multiple": GatewayType(
        name="scripted-capturing",
        currencies=frozenset({"AED", "USD"}),
        settings_type=ScriptedSettings,
        build=_build,
        capabilities=Capabilities(
            cancel=True,
            manual_capture=True,
            partial_capture=True,
            multiple_captures=True,
            void=True,
        ),
    ),
    "once": GatewayType(
        name="scripted-capturing-once",
        currencies=frozenset({"AED", "USD"}),
        settings_type=ScriptedSettings,
        build=_build,
        capabilities=Capabilities(manual_capture=True),
    ),
}
"""Scripted types taking payments with manual capture: ``multiple`` declares partial and
multiple captures and void (and cancel); ``once`` captures all of an authorization at once and
declares nothing else."""


class ScriptedPlugin:
    @hookimpl
    def payments_register_gateway_types(self, register: Callable[[GatewayType[Any]], None]) -> None:
        register(SCRIPTED_TYPE)
        register(CAPABLE_TYPE)
        register(SOFT_DECLINING_TYPE)
        for gateway_type in CAPTURING_TYPES.values():
            register(gateway_type)


def new_script(
    *, capable: bool = False, capturing: str | None = None, soft_declines: bool = False
) -> tuple[str, Script]:
    """A fresh script registered under a unique name; ``capable``: played by a gateway of
    :data:`CAPABLE_TYPE` (which declares next actions and cancel) instead of one declaring
    nothing; ``capturing`` (``multiple`` or ``once``): by one of :data:`CAPTURING_TYPES`;
    ``soft_declines``: by one of :data:`SOFT_DECLINING_TYPE`."""
    name = uuid.uuid4().hex
    SCRIPTS[name] = Script()
    if capable:
        CAPABLE.add(name)
    if capturing is not None:
        CAPTURING[name] = CAPTURING_TYPES[capturing].name
    if soft_declines:
        SOFT_DECLINING.add(name)
    return name, SCRIPTS[name]


def type_of(script: str) -> str:
    """The gateway type that plays ``script``."""
    if script in CAPTURING:
        return CAPTURING[script]
    if script in SOFT_DECLINING:
        return SOFT_DECLINING_TYPE.name
    return CAPABLE_TYPE.name if script in CAPABLE else SCRIPTED_TYPE.name


def accepted(external_id: str) -> InitiateResult:
    return InitiateResult(external_id=external_id)


def vendor_says(status: VendorPaymentStatus, external_id: str | None = None) -> StatusReport:
    return StatusReport(status=status, external_id=external_id)
