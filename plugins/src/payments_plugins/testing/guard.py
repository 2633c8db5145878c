"""Every call the conformance checks make into the gateway under test, as the platform makes it.

Each call runs under the platform's default deadline of a gateway call
(``payments_plugins.contract.CALL_DEADLINE_SECONDS``, read when the call is made): a call still
running when it passes fails the check, naming the deadline, because the platform would have
stopped waiting and taken the outcome as unknown. An error outside the contract's taxonomy, or
a result of the wrong type, fails the check with what the contract expects instead of a raw
traceback.

One bug fails one check. A gateway that raises ``KeyError`` from ``initiate`` would otherwise
fail every check that starts a payment; ``Breaches`` remembers the first check each breach
(an operation and what it did) showed up in, and skips the later checks it shows up in, naming
that first check. An operation that overran the deadline is not called again in the class:
the checks that need it are skipped at once instead of each waiting out the deadline.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import pytest

from payments_plugins import contract
from payments_plugins.errors import GatewayDeclined, GatewayError
from payments_plugins.gateway import Gateway
from payments_plugins.messages import (
    CancelRequest,
    CancelResult,
    CaptureRequest,
    CaptureResult,
    CaptureStatusQuery,
    CaptureStatusReport,
    InitiateRequest,
    InitiateResult,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VoidRequest,
    VoidResult,
    WebhookEvent,
)

CONTRACT_ERRORS: Final = (
    "a gateway raises only the contract's errors (payments_plugins): GatewayUnavailable when"
    " the vendor certainly did not process the request, GatewayDeclined(message,"
    " vendor_code=...) when it processed it and said no, GatewayOutcomeUnknown when it may have"
    " acted and gave no usable answer, InvalidWebhook for a notification it refuses; map every"
    " other failure (of the HTTP client, of decoding an answer) onto one of them"
)

OVERRAN: Final = "overran the deadline"
"""What a call that passed the deadline did, as breaches are told apart."""
MISSING: Final = "is missing"
"""What an operation the gateway does not have did, as breaches are told apart."""
CANCEL_FIX: Final = (
    "the type declares cancel (Capabilities(cancel=True)), so its gateway must cancel:"
    " implement async cancel(request: CancelRequest) -> CancelResult"
    " (payments_plugins.CancellingGateway), or leave cancel out of GatewayType.capabilities"
)
CAPTURE_FIX: Final = (
    "the type declares manual capture (Capabilities(manual_capture=True)), so its gateway must"
    " capture: implement async capture(request: CaptureRequest) -> CaptureResult and async"
    " fetch_capture_status(query: CaptureStatusQuery) -> CaptureStatusReport"
    " (payments_plugins.CapturingGateway), or leave manual_capture out of"
    " GatewayType.capabilities"
)
VOID_FIX: Final = (
    "the type declares void (Capabilities(void=True)), so its gateway must void: implement"
    " async void(request: VoidRequest) -> VoidResult (payments_plugins.VoidingGateway), or"
    " leave void out of GatewayType.capabilities"
)
FIXES: Final[Mapping[str, str]] = {
    "cancel": CANCEL_FIX,
    "capture": CAPTURE_FIX,
    "fetch_capture_status": CAPTURE_FIX,
    "void": VOID_FIX,
}
"""What to do about an operation the type declares and its gateway does not have."""
UNDECLARED_SOFT_DECLINE: Final = "raised an undeclared soft decline"
"""What a gateway whose type does not declare soft declines did when it raised one."""
SOFT_DECLINE_FIX: Final = (
    "the type does not declare soft declines, so the platform takes every decline of its"
    " gateway as final, soft or not: declare Capabilities(soft_declines=True) on the type, or"
    " raise GatewayDeclined without soft=True"
)
NEXT_ACTION_FIX: Final = (
    "a next action the contract refuses (RedirectAction and DisplayAction check themselves"
    " when made) is no usable answer from the vendor, which holds the payment by then: raise"
    " GatewayOutcomeUnknown from it (payments_plugins.vendor_call.vendor_redirect does, for a"
    " page's URL)"
)

_RESULTS: Final[Mapping[str, type | None]] = {
    "initiate": InitiateResult,
    "refund": RefundResult,
    "fetch_status": StatusReport,
    "fetch_refund_status": RefundStatusReport,
    "parse_webhook": WebhookEvent,
    "cancel": CancelResult,
    "capture": CaptureResult,
    "fetch_capture_status": CaptureStatusReport,
    "void": VoidResult,
    "aclose": None,
}


def deadline_seconds() -> float:
    """The deadline of one call: the platform's default, ``CALL_DEADLINE_SECONDS``."""
    return contract.CALL_DEADLINE_SECONDS


class Breaches:
    """The contract breaches a conformance class's checks ran into, each failing one check."""

    def __init__(self) -> None:
        self.check = ""
        """The name of the check running now."""
        self._first: dict[tuple[str, str], str] = {}

    def skip_if_overran(self, operation: str) -> None:
        """Skip the check now if ``operation`` overran the deadline in an earlier check."""
        first = self._first.get((operation, OVERRAN))
        if first is not None and first != self.check:
            pytest.skip(self._again(operation, OVERRAN, first))

    def note(self, operation: str, what: str) -> None:
        """Record that ``operation`` did ``what`` in the check running now, which reports it
        itself: the later checks that run into it are skipped, naming this one."""
        self._first.setdefault((operation, what), self.check)

    def report(self, operation: str, what: str, message: str) -> NoReturn:
        """Fail the check with ``message`` if this is the first check ``operation`` did
        ``what`` in; skip it, naming that check, otherwise."""
        first = self._first.setdefault((operation, what), self.check)
        if first != self.check:
            pytest.skip(self._again(operation, what, first))
        pytest.fail(message, pytrace=False)

    @staticmethod
    def _again(operation: str, what: str, first: str) -> str:
        return (
            f"{operation} {what}, as it did in {first}, which fails naming the fix; this check"
            " runs once that one passes"
        )


class ContractGuard:
    """The gateway under test as the checks call it: under the deadline, and failing the check
    on anything outside the contract.

    ``soft_declines`` is whether the gateway's type declares soft declines; when it is False, a
    ``GatewayDeclined(soft=True)`` fails the check too (since 2.2). None checks nothing of it.
    """

    def __init__(
        self,
        gateway: Gateway,
        breaches: Breaches | None = None,
        *,
        soft_declines: bool | None = None,
    ) -> None:
        self._gateway = gateway
        self._breaches = breaches or Breaches()
        self._soft_declines = soft_declines

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        """The gateway's ``initiate``, checked."""
        result: InitiateResult = await self._call("initiate", request)
        return result

    async def refund(self, request: RefundRequest) -> RefundResult:
        """The gateway's ``refund``, checked."""
        result: RefundResult = await self._call("refund", request)
        return result

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The gateway's ``parse_webhook``, checked."""
        result: WebhookEvent = await self._call("parse_webhook", headers, body)
        return result

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        """The gateway's ``fetch_status``, checked."""
        result: StatusReport = await self._call("fetch_status", query)
        return result

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        """The gateway's ``fetch_refund_status``, checked."""
        result: RefundStatusReport = await self._call("fetch_refund_status", query)
        return result

    async def cancel(self, request: CancelRequest) -> CancelResult:
        """The gateway's ``cancel``, checked (only for a type that declares it)."""
        result: CancelResult = await self._call("cancel", request)
        return result

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        """The gateway's ``capture``, checked (only for a type that declares manual capture)."""
        result: CaptureResult = await self._call("capture", request)
        return result

    async def fetch_capture_status(self, query: CaptureStatusQuery) -> CaptureStatusReport:
        """The gateway's ``fetch_capture_status``, checked (as ``capture``)."""
        result: CaptureStatusReport = await self._call("fetch_capture_status", query)
        return result

    async def void(self, request: VoidRequest) -> VoidResult:
        """The gateway's ``void``, checked (only for a type that declares it)."""
        result: VoidResult = await self._call("void", request)
        return result

    async def aclose(self) -> None:
        """The gateway's ``aclose``, checked."""
        await self._call("aclose")

    async def within_deadline(self, operation: str, *arguments: object) -> Any:
        """The gateway's ``operation`` under the deadline alone: whatever it raises or returns
        reaches the caller, for a check that judges every outcome itself."""
        method = getattr(self._gateway, operation, None)
        if not inspect.iscoroutinefunction(method):
            message = f"the gateway has no async method {operation}()"
            if operation in FIXES:
                message += f": {FIXES[operation]}"
            self._breaches.report(operation, MISSING, message)
        self._breaches.skip_if_overran(operation)
        deadline = deadline_seconds()
        try:
            async with asyncio.timeout(deadline) as scope:
                return await method(*arguments)
        except TimeoutError:
            if not scope.expired():
                raise  # the gateway's own TimeoutError, not the deadline
        self._breaches.report(
            operation,
            OVERRAN,
            f"{_call(operation, arguments)} did not finish within {deadline:g} s, the"
            " platform's deadline of one gateway call"
            " (payments_plugins.contract.CALL_DEADLINE_SECONDS): the platform stops waiting"
            " there and takes the outcome as unknown, whatever the gateway does after. Give up"
            " sooner: bound every vendor call with timeouts that end well within the deadline,"
            " and raise GatewayOutcomeUnknown when they pass (GatewayUnavailable when nothing"
            " was sent)",
        )

    async def _call(self, operation: str, *arguments: object) -> Any:
        breach: tuple[str, str] | None = None
        try:
            result = await self.within_deadline(operation, *arguments)
        except GatewayDeclined as declined:
            if not declined.soft or self._soft_declines is not False:
                raise
            breach = (
                UNDECLARED_SOFT_DECLINE,
                f"{_call(operation, arguments)} raised GatewayDeclined(soft=True)"
                f" ({declined}): {SOFT_DECLINE_FIX}",
            )
        except GatewayError:
            raise
        except Exception as error:
            what = f"raised {type(error).__name__}"
            breach = (
                what,
                (f"{_call(operation, arguments)} {what}: {error}\n{_fix(operation, error)}"),
            )
        if breach is not None:
            # Reported outside the handler, so the report is the contract's words alone.
            self._breaches.report(operation, *breach)
        expected = _RESULTS[operation]
        if expected is None and result is not None:
            pytest.fail(f"{operation} returned {result!r}; it returns nothing", pytrace=False)
        if expected is not None and not isinstance(result, expected):
            pytest.fail(
                f"{operation} returned {type(result).__name__} {result!r}, not a"
                f" payments_plugins.{expected.__name__}",
                pytrace=False,
            )
        return result


def _fix(operation: str, error: Exception) -> str:
    """What to do about ``error``, raised by ``operation`` outside the taxonomy."""
    if operation in FIXES and isinstance(error, NotImplementedError):
        return FIXES[operation]
    if isinstance(error, ValueError | TypeError) and str(error).startswith(
        ("RedirectAction.", "DisplayAction.")
    ):
        return f"{NEXT_ACTION_FIX}\n{CONTRACT_ERRORS}"
    return CONTRACT_ERRORS


def _call(operation: str, arguments: tuple[object, ...]) -> str:
    """``initiate of 12.50 EUR``: the call as a failure names it."""
    amount = next(
        (
            argument.amount
            for argument in arguments
            if isinstance(argument, InitiateRequest | RefundRequest | CaptureRequest)
        ),
        None,
    )
    return operation if amount is None else f"{operation} of {amount.format()}"
