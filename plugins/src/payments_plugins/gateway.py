"""The gateway protocol and the description of a gateway type a plugin contributes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
import msgspec
from opentelemetry.trace import Tracer

from payments_plugins.messages import (
    CancelRequest,
    CancelResult,
    CaptureRequest,
    CaptureResult,
    CaptureStatusQuery,
    CaptureStatusReport,
    InitiateRequest,
    InitiateResult,
    NextActionType,
    RefundRequest,
    RefundResult,
    RefundStatusQuery,
    RefundStatusReport,
    StatusQuery,
    StatusReport,
    VoidRequest,
    VoidResult,
    WebhookAck,
    WebhookEvent,
    WebhookReply,
)
from payments_plugins.money import is_currency

SettingsT = TypeVar("SettingsT", bound=msgspec.Struct)
"""The msgspec Struct a gateway type's settings decode into."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway(Protocol):
    """A live connection to one vendor, built from validated settings.

    Every method raises only the errors of ``payments_plugins.errors``.
    """

    async def initiate(self, request: InitiateRequest) -> InitiateResult:
        """Start the payment at the vendor, under ``request.payment_id`` as its reference.

        Returns the vendor's id of the payment. Raises ``GatewayUnavailable`` when the vendor
        certainly did not process it (the platform may try another gateway),
        ``GatewayDeclined(message, vendor_code=...)`` when it processed it and said no, and
        ``GatewayOutcomeUnknown`` when it was sent and no usable answer came back (never
        failed over; reconciled with ``fetch_status``). Initiating the same ``payment_id``
        again must create nothing more at the vendor.
        """
        ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund (part of) a payment; a repeat with the same ``refund_id`` pays nothing more.

        Returns the vendor's id of the refund; raises the same errors as ``initiate``.
        """
        ...

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify and decode a webhook; raise ``InvalidWebhook`` for anything not acceptable.

        ``headers`` are the request's headers (match their names case-insensitively) and
        ``body`` its raw bytes. Authenticate first (signature or credentials, compared in
        constant time), then decode strictly: a bad signature, a replay, a body of the wrong
        shape and a document that is not even well-formed are all ``InvalidWebhook``, never
        another error.
        """
        ...

    async def fetch_status(self, query: StatusQuery) -> StatusReport:
        """Ask the vendor where a payment stands (used by reconciliation).

        Look the payment up by ``query.external_id``, or by ``query.payment_id`` (the
        reference sent) when that is None, and check the answer is about this payment
        (``StatusQuery.mismatch``). Answer ``NOT_FOUND`` only on the vendor's own definite "no
        such payment". A lookup changes nothing, so it is never declined: a refusal to answer
        is ``GatewayOutcomeUnknown``; a vendor that cannot be reached, ``GatewayUnavailable``.
        """
        ...

    async def fetch_refund_status(self, query: RefundStatusQuery) -> RefundStatusReport:
        """Ask the vendor whether a refund sent with ``query.refund_id`` went through.

        Errors and ``NOT_FOUND`` as for ``fetch_status``.
        """
        ...

    async def aclose(self) -> None:
        """Release what the gateway holds of its own (shared resources are not its to close)."""
        ...


class CancellingGateway(Gateway, Protocol):
    """A gateway whose type declares ``Capabilities.cancel``: it can cancel a payment the payer
    has not paid. The platform calls ``cancel`` only on such a gateway. Since 2.0."""

    async def cancel(self, request: CancelRequest) -> CancelResult:
        """Cancel the payment at the vendor, so that nothing can be paid under it any more; a
        payment the vendor cancelled before is cancelled again without error (the same answer).

        Raises ``GatewayDeclined`` when the vendor refuses (``vendor_code`` says why; a payment
        the payer already paid is refused so, never cancelled), ``GatewayUnavailable`` when it
        certainly did not process the request, ``GatewayOutcomeUnknown`` when it was sent and
        no usable answer came back (the platform then asks ``fetch_status``, never sends it
        again blindly).
        """
        ...


class CapturingGateway(Gateway, Protocol):
    """A gateway whose type declares ``Capabilities.manual_capture``: a payment initiated with
    ``CaptureMode.MANUAL`` is authorized when its payer completes it, and captured later, all
    or part. The platform calls ``capture`` only on such a gateway. Since 2.1."""

    async def capture(self, request: CaptureRequest) -> CaptureResult:
        """Capture ``request.amount`` of the authorized payment, under ``request.capture_id``
        as the vendor's idempotency reference: the same capture id never captures twice (a
        repeat answers the same capture). With ``request.final``, the vendor releases whatever
        stays uncaptured after it.

        Raises ``GatewayDeclined`` when the vendor refuses (``vendor_code`` says why: more than
        is left, a payment not authorized or voided, a second capture the vendor does not
        take), ``AuthorizationExpired`` when it let the authorization lapse,
        ``GatewayUnavailable`` when it certainly did not process the request, and
        ``GatewayOutcomeUnknown`` when it was sent and no usable answer came back (the platform
        then asks ``fetch_capture_status``, never sends it again under another id).
        """
        ...

    async def fetch_capture_status(self, query: CaptureStatusQuery) -> CaptureStatusReport:
        """Ask the vendor whether a capture sent with ``query.capture_id`` went through.

        Errors and ``NOT_FOUND`` as for ``fetch_refund_status``; check the answer is about
        this capture (``CaptureStatusQuery.mismatch``).
        """
        ...


class VoidingGateway(Gateway, Protocol):
    """A gateway whose type declares ``Capabilities.void``: it releases the authorization of a
    payment nothing was captured of. The platform calls ``void`` only on such a gateway. Since
    2.1."""

    async def void(self, request: VoidRequest) -> VoidResult:
        """Release the payment's authorization, so that nothing can be captured under it; a
        payment voided before is voided again without error (the same answer). Afterwards
        ``fetch_status`` reports ``VOIDED``.

        Raises ``GatewayDeclined`` when the vendor refuses (a payment captured of is refused
        so, never voided), ``AuthorizationExpired`` when it let the authorization lapse,
        ``GatewayUnavailable`` when it certainly did not process the request, and
        ``GatewayOutcomeUnknown`` when it was sent and no usable answer came back (the
        platform then asks ``fetch_status``, never sends it again blindly).
        """
        ...


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a gateway type can do beyond initiating, refunding and looking up (Hyperswitch
    declares flows per connector the same way): the platform asks a gateway for nothing its
    type did not declare, and the conformance kit certifies each one declared. Since 2.0."""

    next_actions: frozenset[NextActionType] = frozenset()
    """The kinds of next action ``initiate`` may return; one it returns that is not declared
    is refused as a garbage answer (the payment is reconciled)."""
    cancel: bool = False
    """The gateway is a ``CancellingGateway``: it cancels a payment the payer has not paid."""
    manual_capture: bool = False
    """The gateway is a ``CapturingGateway``: a payment initiated with ``CaptureMode.MANUAL``
    is authorized, then captured later in one capture of all of it. Since 2.1."""
    partial_capture: bool = False
    """A capture may take less than what is authorized (the rest released, unless more
    captures are declared). Requires ``manual_capture``. Since 2.1."""
    multiple_captures: bool = False
    """Several captures may be made of one authorization (shipments), the last one ``final``.
    Requires ``partial_capture``. Since 2.1."""
    void: bool = False
    """The gateway is a ``VoidingGateway``: it releases an authorization nothing was captured
    of. Requires ``manual_capture``. Since 2.1."""
    soft_declines: bool = False
    """The gateway tells soft declines from hard ones: ``initiate`` raises
    ``GatewayDeclined(..., soft=True)`` where the payer may succeed on another gateway (the
    issuer unavailable, try again later), and the platform then offers the payment to its next
    candidate. Without it every decline is final, whatever the gateway says. Since 2.2."""

    def __post_init__(self) -> None:
        for name, needed in (
            ("partial_capture", "manual_capture"),
            ("multiple_captures", "partial_capture"),
            ("void", "manual_capture"),
        ):
            if getattr(self, name) and not getattr(self, needed):
                raise ValueError(
                    f"Capabilities({name}=True) requires {needed}=True: declare {needed} too,"
                    f" or leave {name} out"
                )
        # Checked at run time: a plugin may not be type-checked.
        kinds: object = self.next_actions
        if isinstance(kinds, str) or not isinstance(kinds, frozenset | set | list | tuple):
            raise TypeError(
                "Capabilities.next_actions must be a set of NextActionType such as"
                f" frozenset({{NextActionType.REDIRECT}}), not {kinds!r}"
            )
        try:
            declared = frozenset(NextActionType(str(kind)) for kind in kinds)
        except ValueError:
            raise ValueError(
                f"Capabilities.next_actions {sorted(map(str, kinds))} names a kind the contract"
                f" does not have; choose among {[kind.value for kind in NextActionType]}"
            ) from None
        object.__setattr__(self, "next_actions", declared)


@dataclass(frozen=True, kw_only=True)
class GatewayResources:
    """Long-lived resources the platform shares with every gateway it builds."""

    http: httpx.AsyncClient
    """One pooled client for all outbound calls (``payments_plugins.http_client.vendor_client``);
    pass a per-call ``timeout``, follow no redirects, and never close or reconfigure it. It
    keeps no cookies: a vendor that wants one back is sent it in the call's own headers."""
    tracer: Tracer
    """The OpenTelemetry tracer to open each vendor call's client span with
    (``payments_plugins.vendor_call.traced_vendor_call``)."""


@dataclass(frozen=True, kw_only=True)
class SimulatorOptions(Generic[SettingsT]):
    """How the platform wants a simulator to behave."""

    settings: SettingsT
    """The gateway's settings, so the simulator signs webhooks with the same secret."""
    webhook_url: str | None = None
    """Where the simulator posts webhooks; None means it never posts by itself."""
    auto_webhook_status: str | None = None
    """If set (e.g. ``"paid"``), post this status for every accepted payment."""
    auto_webhook_delay: float = 0.0
    """Seconds to wait before posting ``auto_webhook_status``."""
    payer_pays_at_once: bool = False
    """Record every accepted payment as paid at once, without posting a webhook: the demo's
    walk-through then delivers the webhook by hand, and a refund finds the payment paid."""


@dataclass(frozen=True, kw_only=True)
class Simulator(Generic[SettingsT]):
    """A stand-in for the vendor's API, served over HTTP by the demo profile and by tests."""

    build: Callable[[SimulatorOptions[SettingsT]], ASGIApp]
    """Build the ASGI app of the vendor's API (a ``payments_plugins.simulation.VendorSimulator``
    subclass, usually) from the options the platform or the kit give."""
    settings_for: Callable[[str], dict[str, Any]]
    """Gateway settings (as raw config values) pointing at a simulator served at this base URL.

    They must differ, from one URL to another, only in where they point: the platform tells
    the settings that say where the vendor is from the simulator's own (fixed credentials, say)
    by comparing two URLs' settings. The operator's settings win over the simulator's own, and
    an operator's setting that points elsewhere is refused; the simulator reads the resulting
    settings from ``SimulatorOptions.settings``."""


def _not_declared(_settings: Any) -> str | None:
    return "the gateway type does not declare how it verifies webhooks"


@dataclass(frozen=True, kw_only=True)
class GatewayType(Generic[SettingsT]):
    """A kind of gateway a plugin offers; operators enable instances of it in the config file.

    Generic over its settings Struct: ``build``, ``unverified_webhooks`` and the simulator
    receive the decoded settings typed as ``settings_type``, so they need no checks of their own.
    """

    name: str
    """Stable identifier used in config files, e.g. ``"json"``."""
    currencies: frozenset[str]
    """ISO 4217 codes the vendor can take; an operator may narrow them, never widen."""
    settings_type: type[SettingsT]
    """The msgspec Struct the instance's ``settings`` table is decoded into."""
    build: Callable[[SettingsT, GatewayResources], Gateway]
    """Build a live gateway from decoded settings and the shared resources."""
    simulator: Simulator[SettingsT] | None = None
    """The vendor's API as an ASGI app, for the demo profile and the conformance kit; None when
    the type has none (the kit then leaves out the checks that need a vendor over HTTP)."""
    description: str = ""
    """One line saying which vendor this is and how it works; ``payments plugins`` prints it,
    and the conformance kit requires it."""
    webhook_reply: Callable[[WebhookAck], WebhookReply] | None = None
    """Render the answer to the vendor's webhook (e.g. a SOAP envelope or fault); None: the
    platform answers JSON, or problem+json for a refusal."""
    unverified_webhooks: Callable[[SettingsT], str | None] = field(default=_not_declared)
    """Given decoded settings, None when the gateway verifies every webhook (signature or
    credentials), else why not, naming the setting (``"webhook_secret is not set"``). The
    platform refuses to start a gateway that accepts unverified webhooks unless the operator
    allows it explicitly."""
    secret_settings: frozenset[str] = frozenset()
    """Names of settings whose values are secrets; the platform keeps them out of its logs."""
    capabilities: Capabilities = field(default_factory=Capabilities)
    """What the gateway can do beyond the four calls every gateway makes (next actions,
    cancel; manual capture and void since 2.1). None declared: a type built for contract 1.x.
    Since 2.0."""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"gateway type name {self.name!r} must be letters, digits, - or _")
        # Checked at run time: a plugin may not be type-checked, and each mistake below once
        # made a type that loaded and then misbehaved.
        object.__setattr__(self, "currencies", _name_set(self.name, "currencies", self.currencies))
        unknown = sorted(code for code in self.currencies if not is_currency(code))
        if unknown:
            raise ValueError(
                f"gateway type {self.name!r} declares unknown currencies {unknown}: currencies"
                " are ISO 4217 codes with minor units, in capitals, such as 'EUR'"
            )
        if not self.currencies:
            raise ValueError(f"gateway type {self.name!r} declares no currencies")
        settings_type: object = self.settings_type
        if not (isinstance(settings_type, type) and issubclass(settings_type, msgspec.Struct)):
            raise TypeError(
                f"gateway type {self.name!r}: settings_type must be a msgspec.Struct class,"
                f" not {settings_type!r}"
            )
        if not isinstance(self.capabilities, Capabilities):
            raise TypeError(
                f"gateway type {self.name!r}: capabilities must be a"
                f" payments_plugins.Capabilities, not {self.capabilities!r}"
            )
        secrets = _name_set(self.name, "secret_settings", self.secret_settings)
        object.__setattr__(self, "secret_settings", secrets)
        fields = self.settings_type.__struct_fields__
        strangers = sorted(secrets - set(fields))
        if strangers:
            raise ValueError(
                f"gateway type {self.name!r}: secret_settings names {strangers}, which"
                f" {self.settings_type.__name__} does not have; its fields are {list(fields)}"
            )


def _name_set(type_name: str, attribute: str, given: object) -> frozenset[str]:
    """``given`` as a frozenset of strings; a lone string is refused, not split into letters."""
    if isinstance(given, str):
        raise TypeError(
            f"gateway type {type_name!r}: {attribute} must be a set of strings such as"
            f" frozenset({{{given!r}}}), not the string {given!r}"
        )
    if not isinstance(given, frozenset | set | list | tuple) or not all(
        isinstance(item, str) for item in given
    ):
        raise TypeError(
            f"gateway type {type_name!r}: {attribute} must be a frozenset of strings, not {given!r}"
        )
    return frozenset(given)
