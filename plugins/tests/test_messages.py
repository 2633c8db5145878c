"""A vendor's answer to a lookup is taken only when it is about what was asked."""

from __future__ import annotations

import uuid

import pytest
from payments_plugins import RefundStatusQuery, StatusQuery

PAYMENT_ID = uuid.UUID("0b9f3c1e-5d2a-4c47-9b1e-3f0c2d4e5a6b")
REFUND_ID = uuid.UUID("7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")


@pytest.mark.parametrize(
    ("query", "reference", "external_id", "mismatch"),
    [
        (StatusQuery(payment_id=PAYMENT_ID), str(PAYMENT_ID), "pay_1", None),
        (StatusQuery(payment_id=PAYMENT_ID), str(PAYMENT_ID).upper(), "pay_1", None),
        (StatusQuery(payment_id=PAYMENT_ID, external_id="pay_1"), str(PAYMENT_ID), "pay_1", None),
        (
            StatusQuery(payment_id=PAYMENT_ID),
            str(REFUND_ID),
            "pay_1",
            f"answer is for reference '{REFUND_ID}', not {PAYMENT_ID}",
        ),
        (
            StatusQuery(payment_id=PAYMENT_ID),
            "not-a-uuid",
            "pay_1",
            f"answer is for reference 'not-a-uuid', not {PAYMENT_ID}",
        ),
        (
            StatusQuery(payment_id=PAYMENT_ID, external_id="pay_1"),
            str(PAYMENT_ID),
            "pay_2",
            "answer is for payment 'pay_2', not 'pay_1'",
        ),
    ],
)
def test_a_status_answer_must_be_about_the_payment_asked_for(
    query: StatusQuery, reference: str, external_id: str, mismatch: str | None
):
    assert query.mismatch(reference=reference, external_id=external_id) == mismatch


@pytest.mark.parametrize(
    ("reference", "external_id", "matches"),
    [
        (str(REFUND_ID), "pay_1", True),
        (str(PAYMENT_ID), "pay_1", False),
        ("rf-1", "pay_1", False),
        (str(REFUND_ID), "pay_2", False),
    ],
)
def test_a_refund_answer_must_be_about_the_refund_of_the_payment_asked_for(
    reference: str, external_id: str, matches: bool
):
    query = RefundStatusQuery(refund_id=REFUND_ID, external_id="pay_1")

    mismatch = query.mismatch(reference=reference, external_id=external_id)

    assert (mismatch is None) is matches
    if mismatch is not None:
        assert mismatch == (
            f"answer is for refund {reference!r} of {external_id!r}, not {REFUND_ID} of 'pay_1'"
        )
