"""Contract 2.1, authorize now and capture later: what a type declares and what a gateway's
results carry are checked when they are made, naming the fix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from payments_plugins import (
    Amount,
    AuthorizationExpired,
    Capabilities,
    CaptureMode,
    CaptureResult,
    CaptureStatusQuery,
    CaptureStatusReport,
    GatewayDeclined,
    InitiateRequest,
    StatusReport,
    VendorPaymentStatus,
    WebhookEvent,
)

PAYMENT_ID = uuid.UUID("0b9f3c1e-5d2a-4c47-9b1e-3f0c2d4e5a6b")
CAPTURE_ID = uuid.UUID("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            {"partial_capture": True},
            "Capabilities(partial_capture=True) requires manual_capture=True: declare"
            " manual_capture too, or leave partial_capture out",
        ),
        (
            {"manual_capture": True, "multiple_captures": True},
            "Capabilities(multiple_captures=True) requires partial_capture=True: declare"
            " partial_capture too, or leave multiple_captures out",
        ),
        (
            {"void": True},
            "Capabilities(void=True) requires manual_capture=True: declare manual_capture too,"
            " or leave void out",
        ),
    ],
)
def test_a_capture_capability_without_what_it_builds_on_is_refused_naming_the_fix(
    declared: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="requires") as refused:
        Capabilities(**declared)
    assert str(refused.value) == message


def test_every_capture_capability_is_off_unless_declared() -> None:
    names = ("manual_capture", "partial_capture", "multiple_captures", "void")
    assert [getattr(Capabilities(), name) for name in names] == [False] * 4
    every = Capabilities(
        manual_capture=True, partial_capture=True, multiple_captures=True, void=True
    )
    assert [getattr(every, name) for name in names] == [True] * 4


def test_a_payment_is_captured_at_once_unless_the_platform_asks_for_manual_capture() -> None:
    request = InitiateRequest(payment_id=PAYMENT_ID, amount=Amount(100, "EUR"))
    assert request.capture is CaptureMode.AUTOMATIC
    assert CaptureMode("manual") is CaptureMode.MANUAL


def test_a_status_report_carries_what_is_authorized_captured_and_when_it_lapses() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    report = StatusReport(
        status=VendorPaymentStatus.AUTHORIZED,
        external_id="pay_1",
        authorized=Amount(1000, "EUR"),
        captured=Amount(400, "EUR"),
        authorization_expires_at=expires,
    )
    assert (report.authorized, report.captured) == (Amount(1000, "EUR"), Amount(400, "EUR"))
    assert report.authorization_expires_at == expires
    assert StatusReport(status=VendorPaymentStatus.PAID).authorized is None


# The wrong types are the point: they are what an untyped gateway hands back.
@pytest.mark.parametrize(
    ("make", "kind", "message"),
    [
        (
            lambda: StatusReport(
                status=VendorPaymentStatus.AUTHORIZED,
                authorized="10.00 EUR",  # type: ignore[arg-type]
            ),
            TypeError,
            "StatusReport.authorized must be a payments_plugins.Amount, not str '10.00 EUR'",
        ),
        (
            lambda: StatusReport(
                status=VendorPaymentStatus.AUTHORIZED,
                authorization_expires_at=datetime(2030, 1, 1),
            ),
            ValueError,
            "StatusReport.authorization_expires_at must be an aware datetime",
        ),
        (
            lambda: CaptureResult(external_capture_id=7),  # type: ignore[arg-type]
            TypeError,
            "CaptureResult.external_capture_id must be a str",
        ),
        (
            lambda: CaptureStatusReport(status="succeeded"),  # type: ignore[arg-type]
            TypeError,
            "CaptureStatusReport.status must be a VendorCaptureStatus, not str 'succeeded'",
        ),
    ],
)
def test_a_capture_result_of_the_wrong_type_is_refused_when_made(
    make: Any, kind: type[Exception], message: str
) -> None:
    with pytest.raises(kind) as refused:
        make()
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("reference", "external_id", "matches"),
    [
        (str(CAPTURE_ID), "pay_1", True),
        (str(PAYMENT_ID), "pay_1", False),
        ("cp-1", "pay_1", False),
        (str(CAPTURE_ID), "pay_2", False),
    ],
)
def test_a_capture_answer_must_be_about_the_capture_of_the_payment_asked_for(
    reference: str, external_id: str, matches: bool
) -> None:
    query = CaptureStatusQuery(payment_id=PAYMENT_ID, capture_id=CAPTURE_ID, external_id="pay_1")

    mismatch = query.mismatch(reference=reference, external_id=external_id)

    assert (mismatch is None) is matches
    if mismatch is not None:
        assert mismatch == (
            f"answer is for capture {reference!r} of {external_id!r}, not {CAPTURE_ID} of 'pay_1'"
        )


def test_an_expired_authorization_is_a_decline_with_its_own_vendor_code() -> None:
    expired = AuthorizationExpired("the authorization lapsed")
    assert isinstance(expired, GatewayDeclined)
    assert expired.vendor_code == "authorization_expired"
    assert AuthorizationExpired("lapsed", vendor_code="auth_expired").vendor_code == "auth_expired"


def test_a_notification_may_say_authorized_or_voided() -> None:
    for status in (VendorPaymentStatus.AUTHORIZED, VendorPaymentStatus.VOIDED):
        assert WebhookEvent(external_id="pay_1", status=status).status is status
