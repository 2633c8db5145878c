"""Starting a payment (``usecases/initiate``): the claim of a payment id, retried."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from core_fixtures import RuntimeFactory
from databases import behind_a_held_row, postgresql_only
from payments_platform import errors
from payments_platform.lifecycle import PaymentStatus
from payments_platform.usecases import initiate, reads
from payments_plugins import GatewayUnavailable
from runtime_steps import AED_10
from scripted import accepted, new_script


@postgresql_only  # only PostgreSQL runs two writers at once; SQLite serialises them
async def test_two_retries_of_a_rejected_payment_queue_on_its_row(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script()
    script.fail("initiate", GatewayUnavailable("connection refused"))
    script.answer("initiate", accepted("ext-lock-2"))
    async with scripted_runtime({"gw": name}) as runtime:
        payment_id = uuid.uuid4()
        with pytest.raises(errors.NoGatewayAvailable) as first:
            await initiate.start_payment(runtime.deps, payment_id, AED_10)
        assert first.value.payment is not None
        assert first.value.payment.status is PaymentStatus.REJECTED

        def retry() -> Coroutine[Any, Any, Any]:
            return initiate.start_payment(runtime.deps, payment_id, AED_10)

        answers = await behind_a_held_row(runtime, payment_id, [retry, retry])

        # The second reads the row after the first moved it: the payment is on its way (or
        # already initiated), never the rejection the first retry just undid.
        routed = [a for a in answers if not isinstance(a, BaseException)]
        refused = [a for a in answers if isinstance(a, BaseException)]
        assert routed
        assert all(a.payment.status is PaymentStatus.INITIATED for a in routed), routed
        assert all(isinstance(a, errors.PaymentInProgress) for a in refused), refused
        assert len(script.calls["initiate"]) == 2
        history = await reads.payment_history(runtime.deps, payment_id)
        assert history.payment.status is PaymentStatus.INITIATED
