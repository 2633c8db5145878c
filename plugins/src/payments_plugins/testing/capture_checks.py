"""The conformance checks of authorizing now and capturing later (contract 2.1).

Each check is selected only for a type that declares what it needs (``Capabilities.
manual_capture``, ``partial_capture``, ``multiple_captures``, ``void``) and ships a simulator,
which the kit drives to authorize a payment as its payer would (through the payment page when
the type declares a redirect, with ``/_simulator/payments/{id}/status`` otherwise) and to make
an authorization lapse. A type that declares none of them is never sent ``CaptureMode.MANUAL``,
and its ``capture`` and ``void`` are never called.
"""

# Checks shipped as a library, like payments_plugins.testing.conformance: pytest assertions,
# rewritten by pytest (see payments_plugins.testing.kit).
# ruff: noqa: S101
from __future__ import annotations

import uuid
from typing import Any, Final

import httpx
import pytest

from payments_plugins.errors import (
    AuthorizationExpired,
    GatewayDeclined,
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayUnavailable,
)
from payments_plugins.messages import (
    CaptureMode,
    CaptureRequest,
    CaptureStatusQuery,
    InitiateRequest,
    NextActionType,
    RedirectAction,
    StatusQuery,
    StatusReport,
    VendorCaptureStatus,
    VendorPaymentStatus,
    VoidRequest,
    VoidResult,
)
from payments_plugins.money import Amount
from payments_plugins.testing.control import Misbehaviour, SimulatorControl
from payments_plugins.testing.guard import NEXT_ACTION_FIX
from payments_plugins.testing.harness import (
    ConformanceVendor,
    Live,
    refusal_of,
    report_undeclared_kind,
    run,
)
from payments_plugins.testing.payer import PageNotWalkable, walk_payment_page
from payments_plugins.testing.target import Capability, needs

RETURN_URL: Final = "https://merchant.example/orders/kit-capture/return"
"""Where the page sends the payer back once they authorized."""

CAPTURE_SENT: Final = (
    "send the capture to the vendor with CaptureRequest.capture_id as its idempotency"
    " reference and CaptureRequest.amount as what to take"
)
CAPTURED_IS_PAID: Final = (
    "map the vendor's word for a payment captured in full (or finally, the rest released) onto"
    " VendorPaymentStatus.PAID, and one authorized and not yet captured in full onto"
    " VendorPaymentStatus.AUTHORIZED"
)


class CaptureConformance:
    """The checks of manual capture and void; ``GatewayConformance`` brings them in."""

    # -- authorizing --------------------------------------------------------------------------

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_manual_payment_the_payer_completes_is_authorized_not_paid(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            inbox = vendor.inbox
            assert inbox is not None
            async with vendor.gateway() as live:
                inbox.drain()
                request, external_id = await _authorized(vendor, live, 3001)
                notification = await inbox.next()
                event = await live.gateway.parse_webhook(
                    dict(notification.headers), notification.body
                )
                report = await live.gateway.fetch_status(
                    StatusQuery(payment_id=request.payment_id, external_id=external_id)
                )
            assert (event.external_id, event.status) == (
                external_id,
                VendorPaymentStatus.AUTHORIZED,
            ), (
                "the payer completed a payment taken with CaptureMode.MANUAL, and the gateway"
                f" reads the vendor's notification as {event.status} of {event.external_id!r}:"
                " map the vendor's word for an authorized payment onto"
                " VendorPaymentStatus.AUTHORIZED (not PAID: nothing is captured yet)"
            )
            _assert_report(report, VendorPaymentStatus.AUTHORIZED, request.amount, None)

        run(check)

    # -- capturing ----------------------------------------------------------------------------

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_capture_repeated_with_its_capture_id_captures_once(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3002)
                capture = _capture(request, external_id, request.amount, final=True)
                first = await live.gateway.capture(capture)
                again = await live.gateway.capture(capture)
                held = await _held(control, request)
                assert len(held["captures"]) == 1, (
                    f"capture returned {first!r}, and the simulator holds"
                    f" {len(held['captures'])} captures of the payment: {CAPTURE_SENT}, so that"
                    " the same capture id captures once"
                )
                assert again.external_capture_id == first.external_capture_id, (
                    "the same capture id answered another capture: a capture repeated with its"
                    " capture id is the same capture"
                )
                report = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
                _assert_report(report, VendorPaymentStatus.PAID, request.amount, request.amount)
                found = await live.gateway.fetch_capture_status(_query(capture))
                unknown = await live.gateway.fetch_capture_status(
                    CaptureStatusQuery(
                        payment_id=request.payment_id,
                        capture_id=uuid.uuid4(),
                        external_id=external_id,
                    )
                )
            assert (found.status, found.external_capture_id) == (
                VendorCaptureStatus.SUCCEEDED,
                first.external_capture_id,
            ), (
                f"fetch_capture_status of the capture answered {found!r}: look the capture up"
                " by its capture id and report VendorCaptureStatus.SUCCEEDED with the vendor's"
                " id of it"
            )
            assert unknown.status is VendorCaptureStatus.NOT_FOUND, (
                f"fetch_capture_status of a capture id the vendor never saw answered {unknown!r}"
            )

        run(check)

    @needs(Capability.PARTIAL_CAPTURE, Capability.SIMULATOR)
    def test_a_final_partial_capture_releases_the_rest(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request, external_id = await _authorized(vendor, live, 3003)
                part = vendor.amount(1000)
                await live.gateway.capture(_capture(request, external_id, part, final=True))
                report = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
                _assert_report(report, VendorPaymentStatus.PAID, request.amount, part)
                more = _capture(request, external_id, vendor.amount(1), final=True)
                with pytest.raises(GatewayDeclined):
                    await live.gateway.capture(more)

        run(check)

    @needs(Capability.MULTIPLE_CAPTURES, Capability.SIMULATOR)
    def test_a_capture_of_part_then_one_of_the_rest_capture_it_all(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3004)
                first_part, rest = vendor.amount(1004), vendor.amount(2000)
                first = _capture(request, external_id, first_part, final=False)
                await live.gateway.capture(first)
                between = await live.gateway.fetch_status(
                    StatusQuery(payment_id=request.payment_id)
                )
                _assert_report(between, VendorPaymentStatus.AUTHORIZED, request.amount, first_part)
                await live.gateway.capture(_capture(request, external_id, rest, final=True))
                after = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
                found = await live.gateway.fetch_capture_status(_query(first))
                held = await _held(control, request)
            _assert_report(after, VendorPaymentStatus.PAID, request.amount, request.amount)
            assert found.status is VendorCaptureStatus.SUCCEEDED
            assert [item["amount"] for item in held["captures"]] == [
                first_part.format(),
                rest.format(),
            ], f"the simulator holds captures {held['captures']}: {CAPTURE_SENT}"

        run(check)

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_capture_of_more_than_is_authorized_is_declined(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3005)
                too_much = vendor.amount(request.amount.minor + 1)
                try:
                    await live.gateway.capture(_capture(request, external_id, too_much, final=True))
                except GatewayDeclined as declined:
                    code = declined.vendor_code
                else:
                    pytest.fail(
                        f"a capture of {too_much.format()} of a payment authorized for"
                        f" {request.amount.format()} returned CaptureResult: raise"
                        " GatewayDeclined(message, vendor_code=...) with the vendor's reason",
                        pytrace=False,
                    )
                held = await _held(control, request)
            assert isinstance(code, str), "the refusal must carry the vendor's code"
            assert code.strip(), "the refusal must carry the vendor's code"
            assert held["captures"] == [], "a refused capture captured something"

        run(check)

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_capture_after_the_authorization_lapsed_is_authorization_expired(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3006)
                await control.expire_authorization(external_id)
                capture = _capture(request, external_id, request.amount, final=True)
                with pytest.raises(GatewayError) as raised:
                    await live.gateway.capture(capture)
                report = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
            assert isinstance(raised.value, AuthorizationExpired), (
                "a capture after the vendor let the authorization lapse raised"
                f" {type(raised.value).__name__}: {raised.value}; raise"
                " payments_plugins.AuthorizationExpired (a GatewayDeclined) for the vendor's"
                " word for a lapsed authorization"
            )
            assert report.status is VendorPaymentStatus.EXPIRED, (
                f"after the authorization lapsed, fetch_status reports {report.status}: map the"
                " vendor's word for it onto VendorPaymentStatus.EXPIRED"
            )

        run(check)

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_capture_that_may_have_been_made_is_an_unknown_outcome_found_by_its_id(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> list[str]:
            failures: list[str] = []
            overrides = vendor.target.quick_timeouts
            async with vendor.gateway(overrides) as live, vendor.control() as control:
                for minor, action in (
                    (3007, Misbehaviour.TIMEOUT),
                    (3008, Misbehaviour.GARBAGE),
                    (3009, Misbehaviour.ERROR_AFTER_PROCESSING),
                ):
                    request, external_id = await _authorized(vendor, live, minor)
                    await control.misbehave(request.amount, action, "capture")
                    capture = _capture(request, external_id, request.amount, final=True)
                    try:
                        await live.gateway.capture(capture)
                    except GatewayOutcomeUnknown:
                        pass
                    except GatewayError as error:
                        failures.append(
                            f"{action.value} raised {type(error).__name__}: {error}; expected"
                            " GatewayOutcomeUnknown (the vendor may have captured)"
                        )
                        continue
                    else:
                        failures.append(
                            f"{action.value} returned CaptureResult; expected GatewayOutcomeUnknown"
                        )
                        continue
                    found = await live.gateway.fetch_capture_status(_query(capture))
                    if found.status is not VendorCaptureStatus.SUCCEEDED:
                        failures.append(
                            f"after {action.value}, the vendor made the capture, and"
                            f" fetch_capture_status by its capture id answered {found!r}"
                        )
            return failures

        failures = run(check)
        assert not failures, "\n".join(failures)

    @needs(Capability.MANUAL_CAPTURE, Capability.SIMULATOR)
    def test_a_capture_while_the_vendor_is_down_is_unavailable(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3010)
                await control.go_down()
                with pytest.raises(GatewayUnavailable):
                    await live.gateway.capture(
                        _capture(request, external_id, request.amount, final=True)
                    )
                await control.come_up()
                held = await _held(control, request)
            assert held["captures"] == [], "a capture refused while down captured something"

        run(check)

    # -- void ---------------------------------------------------------------------------------

    @needs(Capability.VOID, Capability.SIMULATOR)
    def test_void_releases_the_authorization_and_again_answers_the_same(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3011)
                void = VoidRequest(payment_id=request.payment_id, external_id=external_id)
                assert await live.gateway.void(void) == VoidResult()
                held = await _held(control, request)
                assert held["status"] == "voided", (
                    f"void returned VoidResult, and the simulator holds the payment as"
                    f" {held['status']}: release the authorization at the vendor"
                )
                report = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
                assert report.status is VendorPaymentStatus.VOIDED, (
                    f"after void, fetch_status reports {report.status}: map the vendor's word"
                    " for a released authorization onto VendorPaymentStatus.VOIDED"
                )
                try:
                    again = await live.gateway.void(void)
                except GatewayError as error:
                    pytest.fail(
                        f"voiding the payment again raised {type(error).__name__}: {error};"
                        " void is idempotent, a payment voided before is voided again with the"
                        " same answer",
                        pytrace=False,
                    )
                assert again == VoidResult()
                capture = _capture(request, external_id, request.amount, final=True)
                with pytest.raises(GatewayDeclined):
                    await live.gateway.capture(capture)

        run(check)

    @needs(Capability.VOID, Capability.SIMULATOR)
    def test_void_after_a_capture_is_declined(self, vendor: ConformanceVendor) -> None:
        async def check() -> None:
            async with vendor.gateway() as live:
                request, external_id = await _authorized(vendor, live, 3012)
                await live.gateway.capture(
                    _capture(request, external_id, request.amount, final=True)
                )
                void = VoidRequest(payment_id=request.payment_id, external_id=external_id)
                with pytest.raises(GatewayDeclined):
                    await live.gateway.void(void)
                report = await live.gateway.fetch_status(StatusQuery(payment_id=request.payment_id))
            assert report.status is VendorPaymentStatus.PAID

        run(check)

    @needs(Capability.VOID, Capability.SIMULATOR)
    def test_void_after_the_authorization_lapsed_is_authorization_expired(
        self, vendor: ConformanceVendor
    ) -> None:
        async def check() -> None:
            async with vendor.gateway() as live, vendor.control() as control:
                request, external_id = await _authorized(vendor, live, 3013)
                await control.expire_authorization(external_id)
                with pytest.raises(AuthorizationExpired):
                    await live.gateway.void(
                        VoidRequest(payment_id=request.payment_id, external_id=external_id)
                    )

        run(check)


async def _authorized(
    vendor: ConformanceVendor, live: Live, minor: int
) -> tuple[InitiateRequest, str]:
    """A payment initiated with ``CaptureMode.MANUAL`` whose payer authorized it: on the
    vendor's page when the type declares a redirect, through the simulator's control
    otherwise."""
    request = InitiateRequest(
        payment_id=uuid.uuid4(),
        amount=vendor.amount(minor),
        return_url=RETURN_URL,
        capture=CaptureMode.MANUAL,
    )
    result = await live.gateway.initiate(request)
    action = result.next_action
    if action is not None:
        # As the next-action checks judge it: a breach fails there, and is skipped here.
        report_undeclared_kind(vendor, action)
        refused = refusal_of(action)
        if refused is not None:
            vendor.breaches.report(
                "initiate",
                "returned a next action the contract refuses",
                f"initiate of {request.amount.format()} returned a next action the contract"
                f" refuses: {refused}; {NEXT_ACTION_FIX}",
            )
    declared = vendor.target.loaded.capabilities.next_actions
    page = action.url if isinstance(action, RedirectAction) and action.method == "GET" else None
    if NextActionType.REDIRECT in declared and page is not None:
        async with httpx.AsyncClient(verify=vendor.tls) as browser:
            try:
                await walk_payment_page(browser, page)
            except PageNotWalkable as error:
                pytest.fail(
                    f"{error}: the simulator's payment page must follow the page protocol"
                    " of payments_plugins.testing.control (a VendorSimulator's page does)",
                    pytrace=False,
                )
        return request, result.external_id
    async with vendor.control() as control:
        await control.set_status(result.external_id, "authorized")
    return request, result.external_id


async def _held(control: SimulatorControl, request: InitiateRequest) -> dict[str, Any]:
    """The payment as the simulator holds it."""
    held = await control.payment_with_reference(str(request.payment_id))
    if held is None:
        pytest.fail("the simulator holds no payment under our reference", pytrace=False)
    held.setdefault("captures", [])
    return held


def _capture(
    request: InitiateRequest, external_id: str, amount: Amount, *, final: bool
) -> CaptureRequest:
    return CaptureRequest(
        payment_id=request.payment_id,
        capture_id=uuid.uuid4(),
        external_id=external_id,
        amount=amount,
        final=final,
    )


def _query(capture: CaptureRequest) -> CaptureStatusQuery:
    return CaptureStatusQuery(
        payment_id=capture.payment_id,
        capture_id=capture.capture_id,
        external_id=capture.external_id,
    )


def _assert_report(
    report: StatusReport,
    status: VendorPaymentStatus,
    authorized: Amount,
    captured: Amount | None,
) -> None:
    """``report`` says ``status``, and the amounts it gives are those the vendor holds."""
    assert report.status is status, (
        f"fetch_status reports {report.status}, and the vendor holds the payment as {status}:"
        f" {CAPTURED_IS_PAID}"
    )
    if report.authorized is not None:
        assert report.authorized == authorized, (
            f"fetch_status reports {report.authorized.format()} authorized; the vendor holds"
            f" {authorized.format()}"
        )
    if report.captured is not None:
        held = captured or Amount(0, authorized.currency)
        assert report.captured == held, (
            f"fetch_status reports {report.captured.format()} captured; the vendor holds"
            f" {held.format()}: {CAPTURE_SENT}"
        )
