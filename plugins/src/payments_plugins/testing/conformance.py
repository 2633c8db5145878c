"""The gateway conformance suite: the checks every gateway type must pass, as a test class.

A vendor certifies a gateway type by subclassing ``GatewayConformance`` in its own tests
and describing the type with a ``ConformanceTarget``::

    from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting

    class TestAcmeConformance(GatewayConformance):
        target = ConformanceTarget(
            distribution="payments-plugin-acme",
            gateway_type="acme",
            foreign_webhook_settings={"webhook_secret": "someone-else"},
            quick_timeouts={"read_timeout": 0.5},
            invalid_settings=[InvalidSetting({"read_timeout": -1}, "read_timeout")],
        )

The kit loads the type as the platform does, through the installed distribution's ``payments``
entry point; a plugin the platform would refuse (a misspelt hook, a missing ``@hookimpl``, a type
another distribution registers, a contract version it was not built for) fails when the class is
defined, saying what to fix. With a simulator, the kit serves it over real HTTP (with
``serve_asgi``, which needs ``payments-plugins[testing]``), points the gateway at it with
``Simulator.settings_for`` and drives it through the control endpoints of
``payments_plugins.testing.control``. Without one, the gateway is its own in-process vendor, and
the checks that need a network vendor are left out: the ``payments`` pytest plugin deselects them
and lists them, with the reason, at the end of the run.

Every call a check makes into the gateway goes through ``payments_plugins.testing.guard``: under
the platform's deadline of a gateway call, within the contract's errors and results, and one
bug failing one check. The payments are in the first currency the type declares, alphabetically;
one check pays and refunds in every declared currency.

What a type declares in ``GatewayType.capabilities`` is certified too, each capability by checks
selected only when it is declared: a declared next action is returned by ``initiate`` and is
well-formed, and a redirect's page (with a simulator) opens and sends the payer back to the
return URL (walked as ``payments_plugins.testing.payer`` walks it); ``cancel`` cancels, again
with the same answer, and refuses a paid payment. The kit never calls ``cancel`` on a type that
does not declare it. Declines may be soft or hard (since 2.2): the simulator's ``decline`` must
be a hard one, its ``soft_decline`` a soft one where the type declares soft declines, and a type
that does not declare them must never raise one.

Each check is a plain (synchronous) test that runs its own event loop, so the suite needs no
async test plugin and no particular asyncio mode.
"""

# This module is a test suite shipped as a library: its checks are pytest assertions, rewritten
# by pytest like any plugin's (see payments_plugins.testing.kit).
# ruff: noqa: S101

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Final
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from opentelemetry import trace
from packaging.version import Version

from payments_plugins.contract import (
    CONTRACT_DISTRIBUTION,
    CONTRACT_VERSION,
    admits_every_later_minor,
    built_for_earlier_major,
    contract_major,
    contract_requirement,
    requirement_text,
    suggested_requirement,
)
from payments_plugins.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
    InvalidSettings,
    InvalidWebhook,
)
from payments_plugins.gateway import Gateway, GatewayResources, GatewayType, SimulatorOptions
from payments_plugins.messages import (
    CancelRequest,
    CancelResult,
    DisplayAction,
    InitiateRequest,
    InitiateResult,
    NextAction,
    RedirectAction,
    RefundRequest,
    RefundStatusQuery,
    StatusQuery,
    StatusReport,
    VendorPaymentStatus,
    VendorRefundStatus,
    WebhookAck,
    WebhookReply,
)
from payments_plugins.money import is_currency
from payments_plugins.testing.capture_checks import CaptureConformance
from payments_plugins.testing.control import Misbehaviour, SimulatorControlError
from payments_plugins.testing.guard import FIXES, MISSING, NEXT_ACTION_FIX
from payments_plugins.testing.harness import (
    INBOX_PATH,
    ConformanceVendor,
    Inbox,
    Live,
    asgi_server,
    refusal_of,
    report_undeclared_kind,
    run,
    unreachable_url,
)
from payments_plugins.testing.payer import PageNotWalkable, walk_payment_page
from payments_plugins.testing.target import (
    Capability,
    ConformanceTarget,
    NotLoadable,
    needs,
    settings_fields,
)

_DECLARED_METHODS: Final = (
    "initiate",
    "refund",
    "parse_webhook",
    "fetch_status",
    "fetch_refund_status",
    "aclose",
)

RETURN_URL: Final = "https://merchant.example/orders/kit-1/return?lang=en"
"""The return URL the next-action checks give: the vendor's page sends the payer back there."""
DESCRIPTION: Final = "Conformance kit: <b>two</b> tickets & a programme"
"""The description they give, with markup the vendor's page must show as text."""

_MALFORMED_BODIES: Final[tuple[tuple[str, Callable[[bytes], bytes]], ...]] = (
    ("an empty body", lambda body: b""),
    ("the first half of the body", lambda body: body[: len(body) // 2]),
    ("the body with trailing garbage", lambda body: body + b"\x00<garbage/>"),
    ("bytes that are not UTF-8", lambda body: b"\xff\xfe\xfa" + body),
    ("plain text", lambda body: b"paid, honestly"),
    ("an empty JSON object", lambda body: b"{}"),
    ("an unrelated XML document", lambda body: b"<?xml version='1.0'?><status>paid</status>"),
)

_REPLY_OUTCOMES: Final = (
    WebhookAck(accepted=True, status_code=200, code="ok", detail="payment is paid", changed=True),
    WebhookAck(accepted=True, status_code=200, code="ok", detail="a repeat", changed=False),
    WebhookAck(accepted=False, status_code=400, code="invalid-webhook", detail="bad credentials"),
    WebhookAck(accepted=False, status_code=404, code="payment-not-found", detail="no such payment"),
    WebhookAck(
        accepted=False,
        status_code=409,
        code="transition-not-allowed",
        detail="refunded payments cannot fail",
    ),
)


class _GatewayChecks:
    """The checks of what every gateway does, and of its next actions and cancel."""

    target: ClassVar[ConformanceTarget]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        target = cls.__dict__.get("target")
        if target is None:
            return
        if not isinstance(target, ConformanceTarget):
            raise TypeError(f"{cls.__name__}.target must be a ConformanceTarget")
        try:
            problems = target.problems()
        except NotLoadable as error:
            raise NotLoadable(f"{cls.__name__}.target: {error}") from None
        if problems:
            raise TypeError(f"{cls.__name__}.target: " + "; ".join(problems))

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_vendor(cls) -> Iterator[ConformanceVendor]:
        """The vendor of the class's checks: its simulator served over HTTP, or none."""
        target = cls.target
        simulator = target.loaded.simulator
        if simulator is None:
            yield ConformanceVendor(target=target)
            return
        serve = asgi_server()
        inbox = Inbox()
        with serve(inbox) as inbox_url:
            vendor = ConformanceVendor(target=target, inbox=inbox)
            options = SimulatorOptions(
                settings=vendor.settings(), webhook_url=inbox_url + INBOX_PATH
            )
            with serve(simulator.build(options)) as url:
                vendor.url = url
                yield vendor

    @pytest.fixture
    def vendor(
        self, conformance_vendor: ConformanceVendor, request: pytest.FixtureRequest
    ) -> Iterator[ConformanceVendor]:
        """The class's vendor, put back to normal after each check."""
        conformance_vendor.breaches.check = request.node.name
        yield conformance_vendor
        if conformance_vendor.url is not None:

            async def reset() -> None:
                async with conformance_vendor.control() as control:
                    await control.reset()

            run(reset)

    # -- what the type declares --------------------------------------------------------------

    def test_currencies_are_declared_iso_4217_codes(self) -> None:
        currencies = type(self).target.loaded.currencies
        assert currencies, "the type declares no currency"
        unknown = sorted(code for code in currencies if not is_currency(code))
        assert not unknown, f"not ISO 4217 currencies with minor units: {unknown}"

    def test_the_type_describes_itself(self) -> None:
        description = type(self).target.loaded.description
        assert description.strip(), (
            "set GatewayType.description to one line saying which vendor this is and how it"
            " works; `payments plugins` prints it for operators"
        )

    def test_the_distribution_declares_the_contract_it_is_built_for(self) -> None:
        distribution = type(self).target.distribution
        major = contract_major()
        requirement = contract_requirement(distribution)
        assert requirement is not None, (
            f"{distribution} does not depend on {CONTRACT_DISTRIBUTION}: add"
            f' "{CONTRACT_DISTRIBUTION}>={major}.0,<{major + 1}" to [project] dependencies in'
            " its pyproject.toml"
        )
        specifier = requirement.specifier
        declared = requirement_text(specifier)
        wanted = f'"{suggested_requirement(specifier)}"'
        # A plugin built for an earlier major the platform still loads is certified as such:
        # it loads as a plugin of that major, with no capability declared.
        built_for = built_for_earlier_major(distribution) or CONTRACT_VERSION
        major = Version(built_for).major
        assert specifier.contains(built_for, prereleases=True), (
            f"{distribution} requires {declared}, which excludes contract {CONTRACT_VERSION}"
        )
        assert admits_every_later_minor(specifier, built_for), (
            f"{distribution} requires {declared}, which refuses later {major}.x contracts:"
            f" a platform of a later minor release would refuse to load it, though a minor"
            f" release only adds; depend on {wanted} instead"
        )
        assert not specifier.contains(f"{major + 1}.0.0", prereleases=True), (
            f"{distribution} requires {declared}, which admits contract {major + 1}, whose"
            f" changes it cannot know: depend on {wanted} so that the platform refuses it"
            " there instead of running it"
        )

    def test_the_settings_build_a_gateway_with_every_operation(
        self, vendor: ConformanceVendor
    ) -> None:
        declared = type(self).target.loaded.capabilities
        names = (
            *_DECLARED_METHODS,
            *(("cancel",) if declared.cancel else ()),
            *(("capture", "fetch_capture_status") if declared.manual_capture else ()),
            *(("void",) if declared.void else ()),
        )

        async def check() -> list[str]:
            async with vendor.gateway() as live:
                return [
                    name
                    for name in names
                    if not inspect.iscoroutinefunction(getattr(live.unguarded, name, None))
                ]

        missing = run(check)
        for name in missing:
            # Failed here, naming the fix: the checks that call it are skipped, naming this one.
            vendor.breaches.note(name, MISSING)
        assert not missing, "\n".join(
            f"{name} is not an async method" + (f": {FIXES[name]}" if name in FIXES else "")
            for name in missing
        )

    def test_settings_refuse_bad_values_naming_the_setting(self, vendor: ConformanceVendor) -> None:
        target = type(self).target
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("an unknown setting", vendor.raw_settings({"no_such_setting": 1}), "no_such_setting")
        ]
        for field_info in settings_fields(target.loaded.settings_type):
            if field_info.required:
                raw = vendor.raw_settings()
                del raw[field_info.encode_name]
                cases.append((f"without {field_info.encode_name}", raw, field_info.encode_name))
        cases.extend(
            (
                f"with {dict(invalid.overrides)}",
                vendor.raw_settings(invalid.overrides),
                invalid.names,
            )
            for invalid in target.invalid_settings
        )
        failures: list[str] = []
        for described, raw, named in cases:
            problem = _refusal_problem(target.loaded, raw, named)
            if problem is not None:
                failures.append(f"{described}: {problem}")
        assert not failures, "settings not refused clearly:\n" + "\n".join(failures)

    # -- payments and refunds ----------------------------------------------------------------

    def test_initiate_returns_an_external_id(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1001))
                result = await live.gateway.initiate(request)
            assert isinstance(result.external_id, str), "the external id is not a string"
            assert result.external_id.strip(), "the external id is blank"
            if result.next_action is not None:
                report_undeclared_kind(vendor, result.next_action)
            if vendor.url is not None:
                async with vendor.control() as control:
                    held = await control.payment_with_reference(str(request.payment_id))
                assert held is not None, "the simulator holds no payment under our reference"
                assert held["id"] == result.external_id

        run(check)

    def test_initiating_the_same_payment_again_creates_nothing_more(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1002))
                first = await live.gateway.initiate(request)
                again = await live.gateway.initiate(request)
            assert again.external_id == first.external_id
            if vendor.url is not None:
                async with vendor.control() as control:
                    held = [
                        payment
                        for payment in await control.payments()
                        if payment["reference"] == str(request.payment_id)
                    ]
                assert len(held) == 1, f"the simulator holds {len(held)} payments for one id"

        run(check)

    def test_a_refund_repeated_with_its_refund_id_pays_out_once(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                payment, external_id = await vendor.paid_payment(live.gateway, 1003)
                refund = RefundRequest(
                    refund_id=uuid.uuid4(),
                    payment_id=payment.payment_id,
                    external_id=external_id,
                    amount=vendor.amount(1003),
                )
                first = await live.gateway.refund(refund)
                again = await live.gateway.refund(refund)
            assert first.external_refund_id.strip(), "the refund id is blank"
            assert again.external_refund_id == first.external_refund_id
            if vendor.url is not None:
                async with vendor.control() as control:
                    held = await control.payment_with_reference(str(payment.payment_id))
                assert held is not None
                assert len(held["refunds"]) == 1, f"paid out {len(held['refunds'])} times"

        run(check)

    def test_every_declared_currency_is_paid_and_refunded(self, vendor: ConformanceVendor) -> None:
        async def check() -> list[str]:
            failures: list[str] = []
            async with vendor.gateway() as live:
                for currency in sorted(vendor.target.loaded.currencies):
                    failure = await _pay_and_refund(vendor, live.gateway, currency)
                    if failure is not None:
                        failures.append(f"{currency}: {failure}")
            return failures

        failures = run(check)
        assert not failures, (
            "the type declares these currencies, but the gateway does not take them:\n"
            + "\n".join(failures)
            + "\nA gateway takes every currency its type declares, in that currency's minor"
            " units (JPY has 0 decimals, EUR 2, KWD 3): write amounts with"
            " Amount.decimal_text() or Amount.format(), or leave the currency out of"
            " GatewayType.currencies"
        )

    def test_fetch_status_agrees_with_the_vendor(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1004))
                external_id = (await live.gateway.initiate(request)).external_id
                by_id = StatusQuery(payment_id=request.payment_id, external_id=external_id)
                by_reference = StatusQuery(payment_id=request.payment_id)
                initiated = StatusReport(
                    status=VendorPaymentStatus.INITIATED, external_id=external_id
                )
                assert await live.gateway.fetch_status(by_id) == initiated
                assert await live.gateway.fetch_status(by_reference) == initiated
                if vendor.url is None:
                    return
                async with vendor.control() as control:
                    await control.set_status(external_id, "paid")
                    held = await control.payment_with_reference(str(request.payment_id))
                assert held is not None
                assert held["status"] == "paid"
                paid = StatusReport(status=VendorPaymentStatus.PAID, external_id=external_id)
                assert await live.gateway.fetch_status(by_id) == paid
                assert await live.gateway.fetch_status(by_reference) == paid

        run(check)

    def test_a_payment_the_vendor_never_saw_is_not_found(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                report = await live.gateway.fetch_status(StatusQuery(payment_id=uuid.uuid4()))
            assert report.status is VendorPaymentStatus.NOT_FOUND

        run(check)

    def test_fetch_refund_status_finds_a_refund_by_its_refund_id(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                payment, external_id = await vendor.paid_payment(live.gateway, 1005)
                refund = RefundRequest(
                    refund_id=uuid.uuid4(),
                    payment_id=payment.payment_id,
                    external_id=external_id,
                    amount=vendor.amount(500),
                )
                unknown = RefundStatusQuery(refund_id=refund.refund_id, external_id=external_id)
                before = await live.gateway.fetch_refund_status(unknown)
                refunded = await live.gateway.refund(refund)
                after = await live.gateway.fetch_refund_status(unknown)
            assert before.status is VendorRefundStatus.NOT_FOUND
            assert after.status is VendorRefundStatus.SUCCEEDED
            assert after.external_refund_id == refunded.external_refund_id

        run(check)

    def test_aclose_leaves_the_shared_http_client_open(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                await live.gateway.aclose()
                assert not live.http.is_closed, "the gateway closed the platform's HTTP client"

        run(check)

    @needs(Capability.DECLINE)
    def test_a_decline_is_gateway_declined_with_the_vendor_code(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            amount = vendor.target.declined_amount or vendor.amount(1006)
            if vendor.url is not None:
                async with vendor.control() as control:
                    await control.misbehave(amount, Misbehaviour.DECLINE, "initiate")
            request = InitiateRequest(payment_id=uuid.uuid4(), amount=amount)
            async with vendor.gateway() as live:
                with pytest.raises(GatewayDeclined) as declined:
                    await live.gateway.initiate(request)
            code = declined.value.vendor_code
            assert isinstance(code, str), "a decline must carry the vendor's code"
            assert code.strip(), "a decline must carry the vendor's code"
            assert not declined.value.soft, (
                f"the vendor declined for good (code {code!r}) and the gateway raised a soft"
                " decline: the platform would offer the payer's card to another gateway."
                " Raise soft=True only for the codes your vendor documents as ones the payer"
                " may get past elsewhere (issuer unavailable, try again later)"
            )

        run(check)

    @needs(Capability.SIMULATOR)
    def test_a_soft_decline_is_soft_where_the_type_declares_soft_declines(
        self, vendor: ConformanceVendor
    ) -> None:
        """Since 2.2. A type declaring soft declines raises the vendor's soft decline as one; a
        type declaring none may raise it as it likes, but never soft (the guard fails that)."""
        declared = vendor.target.loaded.capabilities.soft_declines

        async def check() -> None:
            amount = vendor.amount(1023)
            async with vendor.control() as control:
                try:
                    await control.misbehave(amount, Misbehaviour.SOFT_DECLINE, "initiate")
                except SimulatorControlError as error:
                    if declared:
                        raise
                    pytest.skip(f"the simulator takes no soft_decline behaviour ({error})")
            request = InitiateRequest(payment_id=uuid.uuid4(), amount=amount)
            declined: GatewayDeclined | None = None
            async with vendor.gateway() as live:
                try:
                    await live.gateway.initiate(request)
                except GatewayDeclined as raised:
                    declined = raised
                except GatewayError:
                    pass  # judged below, where the type declares soft declines
            if not declared:
                return  # anything but a soft decline, which the guard fails
            assert declined is not None, (
                "the vendor declined the payment softly (the soft_decline behaviour) and"
                " initiate did not raise GatewayDeclined"
            )
            code = declined.vendor_code
            assert isinstance(code, str), "a decline must carry the vendor's code"
            assert code.strip(), "a decline must carry the vendor's code"
            assert declined.soft, (
                f"the vendor declined softly (code {code!r}: the payer may succeed elsewhere)"
                " and the gateway raised a hard decline; the type declares soft declines"
                " (Capabilities(soft_declines=True)), so raise GatewayDeclined(message,"
                " vendor_code=..., soft=True) for the codes your vendor documents as soft"
            )

        run(check)

    # -- what the payer does: next actions ----------------------------------------------------

    @needs(Capability.NEXT_ACTION)
    def test_initiate_returns_a_declared_next_action_that_is_well_formed(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                await _next_action(vendor, live, vendor.amount(1017))

        run(check)

    @needs(Capability.REDIRECT, Capability.SIMULATOR)
    def test_the_redirect_next_action_opens_the_vendor_s_page(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                _, _, action = await _redirect(vendor, live, vendor.amount(1018))
            async with httpx.AsyncClient(verify=vendor.tls, follow_redirects=True) as browser:
                if action.method == "POST":
                    page = await browser.post(action.url, data=action.fields)
                else:
                    page = await browser.get(action.url)
            assert page.status_code == 200, (
                f"the payer sent to {action.method} {action.url} gets HTTP {page.status_code}:"
                " the next action must point at the vendor's page for this payment, as the"
                " vendor's answer gave it"
            )
            content_type = page.headers.get("content-type", "")
            assert content_type.startswith("text/html"), (
                f"{action.url} answered {content_type or 'no content type'}, not a page"
                " (text/html) a browser shows"
            )
            # A vendor may show no description; one it shows is the merchant's text, escaped.
            assert "<b>two</b>" not in page.text, (
                "the vendor's page shows the merchant's description as markup: a simulator"
                " escapes everything it shows (html.escape)"
            )

        run(check)

    @needs(Capability.REDIRECT, Capability.SIMULATOR)
    def test_the_vendor_s_page_sends_the_payer_back_to_the_return_url(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            inbox = vendor.inbox
            assert inbox is not None
            async with vendor.gateway() as live:
                request, result, action = await _redirect(vendor, live, vendor.amount(1019))
                inbox.drain()
                posted = action.fields if action.method == "POST" else None
                async with httpx.AsyncClient(verify=vendor.tls) as browser:
                    try:
                        journey = await walk_payment_page(browser, action.url, posted=posted)
                    except PageNotWalkable as error:
                        pytest.fail(
                            f"{error}: the simulator's payment page must follow the page"
                            " protocol of payments_plugins.testing.control (a"
                            " VendorSimulator's page does)",
                            pytrace=False,
                        )
                _assert_sent_back(journey.end, request)
                notification = await inbox.next()
                event = await live.gateway.parse_webhook(
                    dict(notification.headers), notification.body
                )
                external_id = result.external_id
                report = await live.gateway.fetch_status(
                    StatusQuery(payment_id=request.payment_id, external_id=external_id)
                )
            assert (event.external_id, event.status) == (external_id, VendorPaymentStatus.PAID), (
                "the payer paid on the page, and the simulator's notification says"
                f" {event.status} of {event.external_id!r}"
            )
            assert report.status is VendorPaymentStatus.PAID, (
                f"the payer paid on the page, and fetch_status reports {report.status}"
            )

        run(check)

    # -- cancel ------------------------------------------------------------------------------

    @needs(Capability.CANCEL)
    def test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1020))
                external_id = (await live.gateway.initiate(request)).external_id
                cancel = CancelRequest(payment_id=request.payment_id, external_id=external_id)
                assert await live.gateway.cancel(cancel) == CancelResult()
                for query in (
                    StatusQuery(payment_id=request.payment_id, external_id=external_id),
                    StatusQuery(payment_id=request.payment_id),
                ):
                    report = await live.gateway.fetch_status(query)
                    assert report.status is VendorPaymentStatus.CANCELLED, (
                        f"after cancel, fetch_status reports {report.status}: map the vendor's"
                        " word for a cancelled payment onto VendorPaymentStatus.CANCELLED, and"
                        " make cancel cancel at the vendor"
                    )
                try:
                    again = await live.gateway.cancel(cancel)
                except GatewayError as error:
                    pytest.fail(
                        f"cancelling the payment again raised {_described(error)}: cancel is"
                        " idempotent, a payment cancelled before is cancelled again with the"
                        " same answer",
                        pytrace=False,
                    )
            assert again == CancelResult()
            if vendor.url is not None:
                async with vendor.control() as control:
                    held = await control.payment_with_reference(str(request.payment_id))
                assert held is not None
                assert held["status"] == "cancelled", (
                    f"the simulator holds the payment as {held['status']}, not cancelled"
                )

        run(check)

    @needs(Capability.CANCEL, Capability.SIMULATOR)
    def test_cancel_of_a_paid_payment_is_declined(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                payment, external_id = await vendor.paid_payment(live.gateway, 1021)
                cancel = CancelRequest(payment_id=payment.payment_id, external_id=external_id)
                try:
                    await live.gateway.cancel(cancel)
                except GatewayDeclined as declined:
                    code = declined.vendor_code
                else:
                    pytest.fail(
                        "cancel of a payment the payer paid returned CancelResult: a paid"
                        " payment is never cancelled; raise GatewayDeclined(message,"
                        " vendor_code=...) with the vendor's reason",
                        pytrace=False,
                    )
                report = await live.gateway.fetch_status(StatusQuery(payment_id=payment.payment_id))
            assert isinstance(code, str), "the refusal must carry the vendor's code"
            assert code.strip(), "the refusal must carry the vendor's code"
            assert report.status is VendorPaymentStatus.PAID

        run(check)

    @needs(Capability.CANCEL, Capability.SIMULATOR)
    def test_cancel_while_the_vendor_is_down_is_unavailable(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.control() as control, vendor.gateway() as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1022))
                external_id = (await live.gateway.initiate(request)).external_id
                await control.go_down()
                with pytest.raises(GatewayUnavailable):
                    await live.gateway.cancel(
                        CancelRequest(payment_id=request.payment_id, external_id=external_id)
                    )
                await control.come_up()
                held = await control.payment_with_reference(str(request.payment_id))
            assert held is not None
            assert held["status"] == "initiated"

        run(check)

    # -- failures of a vendor over the network -----------------------------------------------

    @needs(Capability.SIMULATOR)
    def test_a_refused_connection_is_unavailable(self, vendor: ConformanceVendor) -> None:
        simulator = vendor.target.loaded.simulator
        assert simulator is not None
        assert vendor.url is not None
        # Only what points elsewhere changes; the target's own settings stay as they are.
        here = simulator.settings_for(vendor.url)
        unreachable = {
            key: value
            for key, value in simulator.settings_for(unreachable_url()).items()
            if here.get(key) != value
        }

        async def check() -> None:
            async with vendor.gateway(unreachable) as live:
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1007))
                with pytest.raises(GatewayUnavailable):
                    await live.gateway.initiate(request)
                with pytest.raises(GatewayUnavailable):
                    await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))

        run(check)

    @needs(Capability.SIMULATOR)
    def test_a_vendor_that_is_down_is_unavailable_and_nothing_is_recorded(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            request = InitiateRequest(payment_id=uuid.uuid4(), amount=vendor.amount(1008))
            async with vendor.control() as control, vendor.gateway() as live:
                await control.go_down()
                with pytest.raises(GatewayUnavailable):
                    await live.gateway.initiate(request)
                # A lookup while down must fail, never pass for "the vendor has no such payment".
                with pytest.raises(GatewayError) as failed:
                    await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
                assert not isinstance(failed.value, GatewayDeclined)
                await control.come_up()
                assert await control.payment_with_reference(str(request.payment_id)) is None

        run(check)

    @needs(Capability.SIMULATOR)
    def test_a_refusal_before_processing_is_unavailable(self, vendor: ConformanceVendor) -> None:
        self._misbehaving_initiate(vendor, 1009, Misbehaviour.UNAVAILABLE, GatewayUnavailable)

    @needs(Capability.SIMULATOR)
    def test_a_timeout_is_an_unknown_outcome(self, vendor: ConformanceVendor) -> None:
        self._misbehaving_initiate(
            vendor,
            1010,
            Misbehaviour.TIMEOUT,
            GatewayOutcomeUnknown,
            overrides=vendor.target.quick_timeouts,
        )

    @needs(Capability.SIMULATOR)
    def test_an_error_after_processing_is_an_unknown_outcome(
        self, vendor: ConformanceVendor
    ) -> None:
        self._misbehaving_initiate(
            vendor, 1011, Misbehaviour.ERROR_AFTER_PROCESSING, GatewayOutcomeUnknown
        )

    @needs(Capability.SIMULATOR)
    def test_a_garbage_answer_is_an_unknown_outcome(self, vendor: ConformanceVendor) -> None:
        self._misbehaving_initiate(vendor, 1012, Misbehaviour.GARBAGE, GatewayOutcomeUnknown)

        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                payment, external_id = await vendor.paid_payment(live.gateway, 5000)
                garbled = vendor.amount(1013)
                await control.misbehave(garbled, Misbehaviour.GARBAGE, "refund")
                refund = RefundRequest(
                    refund_id=uuid.uuid4(),
                    payment_id=payment.payment_id,
                    external_id=external_id,
                    amount=garbled,
                )
                with pytest.raises(GatewayOutcomeUnknown):
                    await live.gateway.refund(refund)

        run(check)

    def _misbehaving_initiate(
        self,
        vendor: ConformanceVendor,
        minor: int,
        action: Misbehaviour,
        expected: type[GatewayError],
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        async def check() -> None:
            amount = vendor.amount(minor)
            async with vendor.control() as control, vendor.gateway(overrides) as live:
                await control.misbehave(amount, action, "initiate")
                request = InitiateRequest(payment_id=uuid.uuid4(), amount=amount)
                with pytest.raises(GatewayError) as raised:
                    await live.gateway.initiate(request)
            assert type(raised.value) is expected, (
                f"{action.value} raised {type(raised.value).__name__}: {raised.value}; "
                f"expected {expected.__name__}"
            )

        run(check)

    # -- notifications -----------------------------------------------------------------------

    @needs(Capability.NOTIFICATION)
    def test_a_genuine_notification_is_accepted(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                external_id, notification = await vendor.genuine_notification(live.gateway, 1014)
                event = await live.gateway.parse_webhook(
                    dict(notification.headers), notification.body
                )
            assert (event.external_id, event.status) == (external_id, VendorPaymentStatus.PAID)

        run(check)

    @needs(Capability.NOTIFICATION)
    def test_a_notification_made_with_other_credentials_is_refused(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            foreign = vendor.target.foreign_webhook_settings
            async with vendor.gateway() as live, vendor.gateway(foreign) as stranger:
                external_id, notification = await vendor.genuine_notification(live.gateway, 1015)
                with pytest.raises(InvalidWebhook):
                    await stranger.gateway.parse_webhook(
                        dict(notification.headers), notification.body
                    )
                # The same notification is good under the right credentials: the refusal was
                # about the credentials.
                event = await live.gateway.parse_webhook(
                    dict(notification.headers), notification.body
                )
            assert event.external_id == external_id

        run(check)

    @needs(Capability.NOTIFICATION)
    def test_a_malformed_notification_is_refused_as_invalid(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> list[str]:
            failures: list[str] = []
            async with vendor.gateway() as live:
                _, notification = await vendor.genuine_notification(live.gateway, 1016)
                for described, garble in _MALFORMED_BODIES:
                    try:
                        # Only under the deadline: this check lists every body's outcome itself.
                        event = await live.gateway.within_deadline(
                            "parse_webhook", dict(notification.headers), garble(notification.body)
                        )
                    except InvalidWebhook:
                        continue
                    except Exception as error:  # any other error is what the check reports
                        failures.append(f"{described}: raised {type(error).__name__}: {error}")
                    else:
                        failures.append(f"{described}: accepted as {event}")
            return failures

        failures = run(check)
        assert not failures, "malformed notifications not refused with InvalidWebhook:\n" + (
            "\n".join(failures)
        )

    @needs(Capability.WEBHOOK_REPLY)
    def test_webhook_replies_render_every_outcome(self) -> None:
        render = type(self).target.loaded.webhook_reply
        assert render is not None
        for ack in _REPLY_OUTCOMES:
            reply = render(ack)
            assert isinstance(reply, WebhookReply), f"{ack.code}: not a WebhookReply"
            assert reply.content_type.strip(), f"{ack.code}: no content type"
            assert reply.body, f"{ack.code}: an empty body"
            if ack.accepted:
                assert 200 <= reply.status_code < 300, f"{ack.code}: {reply.status_code}"
            else:
                # A refused notification must never look taken to the vendor.
                assert 400 <= reply.status_code < 600, f"{ack.code}: {reply.status_code}"


PAID_MINOR: Final = 123_456
"""What the currency check pays in each declared currency, in its minor units: 123456 JPY,
1234.56 EUR, 123.456 KWD (every decimal place in use)."""
REFUNDED_MINOR: Final = 23_456
"""What it then refunds of that payment: 23456 JPY, 234.56 EUR, 23.456 KWD."""


class GatewayConformance(CaptureConformance, _GatewayChecks):
    """The conformance checks. Subclass it as ``Test...`` and set ``target``.

    Its checks run in this order: those of every gateway, its next actions and cancel first
    (``_GatewayChecks``), then those of manual capture (``CaptureConformance``), so that a
    breach of ``initiate`` fails its own check first and the capture checks that run into it
    are skipped, naming that check.
    """


async def _pay_and_refund(vendor: ConformanceVendor, gateway: Gateway, currency: str) -> str | None:
    """Pay ``PAID_MINOR`` of ``currency`` and refund ``REFUNDED_MINOR`` of it through
    ``gateway`` (a ``ContractGuard``); None when the vendor took both as asked, else what
    went wrong."""
    paid, refunded = vendor.amount(PAID_MINOR, currency), vendor.amount(REFUNDED_MINOR, currency)
    try:
        payment, external_id = await vendor.paid_payment(gateway, PAID_MINOR, currency)
    except GatewayError as error:
        return f"initiate of {paid.format()} raised {_described(error)}"
    refund = RefundRequest(
        refund_id=uuid.uuid4(),
        payment_id=payment.payment_id,
        external_id=external_id,
        amount=refunded,
    )
    try:
        await gateway.refund(refund)
    except GatewayError as error:
        return f"refund of {refunded.format()} raised {_described(error)}"
    if vendor.url is None:
        return None
    async with vendor.control() as control:
        held = await control.payment_with_reference(str(payment.payment_id))
    if held is None:
        return f"the simulator holds no payment of {paid.format()} under our reference"
    amounts = [held["amount"], *(refund["amount"] for refund in held["refunds"])]
    if amounts != [paid.format(), refunded.format()]:
        return (
            f"asked to pay {paid.format()} and refund {refunded.format()}, the simulator holds"
            f" a payment of {amounts[0]} and refunds of {amounts[1:]}"
        )
    return None


async def _next_action(
    vendor: ConformanceVendor, live: Live, amount: Any
) -> tuple[InitiateRequest, InitiateResult, NextAction]:
    """A payment initiated with a return URL and a description, and the next action its type
    declares, checked to be one the platform would show; reported (one bug, one check)
    otherwise."""
    request = InitiateRequest(
        payment_id=uuid.uuid4(), amount=amount, return_url=RETURN_URL, description=DESCRIPTION
    )
    result = await live.gateway.initiate(request)
    action = result.next_action
    declared = sorted(kind.value for kind in vendor.target.loaded.capabilities.next_actions)
    if action is None:
        vendor.breaches.report(
            "initiate",
            "returned no next action",
            f"the type declares next actions {declared}, but initiate of {amount.format()}"
            " returned none: return what the payer must do as InitiateResult(next_action=...),"
            " e.g. the vendor's page as RedirectAction(url=...)"
            " (payments_plugins.vendor_call.vendor_redirect), or declare none in"
            " GatewayType.capabilities",
        )
    report_undeclared_kind(vendor, action)
    refused = refusal_of(action)
    if refused is not None:
        vendor.breaches.report(
            "initiate",
            "returned a next action the contract refuses",
            f"initiate of {amount.format()} returned a next action the contract refuses:"
            f" {refused}. A browser could not follow it, and the platform refuses it as a"
            " garbage answer: make next actions with RedirectAction(...) or"
            f" DisplayAction(...), never around their checks; {NEXT_ACTION_FIX}",
        )
    return request, result, action


async def _redirect(
    vendor: ConformanceVendor, live: Live, amount: Any
) -> tuple[InitiateRequest, InitiateResult, RedirectAction]:
    """A payment initiated with a return URL, and its redirect next action."""
    request, result, action = await _next_action(vendor, live, amount)
    if isinstance(action, DisplayAction):
        pytest.skip("initiate returned a display next action, the other kind the type declares")
    assert isinstance(action, RedirectAction)
    return request, result, action


def _assert_sent_back(end: str, request: InitiateRequest) -> None:
    """Whether the page sent the payer to the return URL with the payment's id."""
    wanted, landed = urlsplit(RETURN_URL), urlsplit(end)
    where = (landed.scheme, landed.netloc, landed.path)
    assert where == (wanted.scheme, wanted.netloc, wanted.path), (
        f"the payment page sent the payer to {end}, not back to the return URL {RETURN_URL}"
        " (InitiateRequest.return_url): pass the return URL to the vendor as its API takes it"
    )
    query = parse_qs(landed.query, keep_blank_values=True)
    assert query.get("lang") == ["en"], (
        f"the payment page sent the payer to {end}, without the return URL's own query (lang=en)"
    )
    assert query.get("payment_id") == [str(request.payment_id)], (
        f"the payment page sent the payer to {end}: the return URL is to carry"
        f" payment_id={request.payment_id}, the payment's id (InitiateRequest.payment_id)"
    )


def _described(error: GatewayError) -> str:
    code = getattr(error, "vendor_code", None)
    return f"{type(error).__name__}: {error}" + (f" (vendor code {code})" if code else "")


def _refusal_problem(gateway_type: GatewayType[Any], raw: dict[str, Any], named: str) -> str | None:
    """None when ``raw`` is refused with a message naming ``named``; else what went wrong."""
    try:
        settings = msgspec.convert(raw, gateway_type.settings_type)
    except msgspec.ValidationError as error:
        return None if named in str(error) else f"the message does not name {named!r}: {error}"

    async def build() -> None:
        async with httpx.AsyncClient() as http:
            resources = GatewayResources(http=http, tracer=trace.get_tracer("conformance"))
            await gateway_type.build(settings, resources).aclose()

    try:
        run(build)
    except InvalidSettings as error:
        return None if named in str(error) else f"the message does not name {named!r}: {error}"
    return "accepted"
