"""The payer's next action (``usecases/initiate`` and ``failover``): the client's return URL
and description reach the gateway; the vendor's next action is stored, shown while the payer
is to act, and notified; one the gateway's type did not declare is never handed to a payer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from core_fixtures import Receiver, RuntimeFactory, deliver_all, endpoint_settings
from payments_platform import errors
from payments_platform.lifecycle import AttemptOutcome, PaymentStatus
from payments_platform.resources import PaymentView
from payments_platform.usecases import initiate, reads
from payments_plugins import DisplayAction, InitiateRequest, InitiateResult, RedirectAction
from runtime_steps import AED_10, pay
from scripted import new_script

RETURN_URL = "https://shop.example/orders/A-1/back"
PAGE = RedirectAction(url="https://vendor.example/pay/ext-1")
TRANSFER = DisplayAction(
    instructions="Transfer the amount with this reference",
    fields={"iban": "AE070331234567890123456", "reference": "A-1"},
    expires_at=datetime(2026, 12, 9, 12, 0, tzinfo=UTC),
)


async def test_the_return_url_and_description_reach_the_gateway_and_its_redirect_the_client(
    scripted_runtime: RuntimeFactory, receiver: Receiver
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", InitiateResult(external_id="ext-1", next_action=PAGE))
    sections = {"notifications": endpoint_settings(receiver.url)}
    async with scripted_runtime({"gw": name}, **sections) as runtime:
        client_id = uuid.uuid4()
        started = await initiate.start_payment(
            runtime.deps, client_id, AED_10, description="Order A-1", return_url=RETURN_URL
        )
        (asked,) = script.calls["initiate"]
        assert isinstance(asked, InitiateRequest)
        assert (asked.return_url, asked.description) == (RETURN_URL, "Order A-1")
        assert started.payment.payer_action == PAGE
        read = (await reads.payment_history(runtime.deps, client_id)).payment
        assert (read.next_action, read.return_url) == (PAGE, RETURN_URL)
        view = PaymentView.of(read)
        assert (view.next_action, view.return_url) == (PAGE, RETURN_URL)

        await pay(runtime, client_id)
        paid = (await reads.payment_history(runtime.deps, client_id)).payment
        assert paid.status is PaymentStatus.PAID
        # Kept as the vendor's word, but the payer has nothing left to do.
        assert (paid.next_action, paid.payer_action) == (PAGE, None)
        assert PaymentView.of(paid).next_action is None

        await deliver_all(runtime)
        told = {event["type"]: event["data"]["payment"] for event in receiver.delivered()}
        assert told["payment.initiated"]["next_action"] == {
            "type": "redirect",
            "url": PAGE.url,
            "method": "GET",
            "fields": {},
        }
        assert told["payment.paid"]["next_action"] is None
        assert told["payment.paid"]["return_url"] == RETURN_URL


async def test_instructions_to_display_keep_their_fields_and_expiry(
    scripted_runtime: RuntimeFactory,
) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", InitiateResult(external_id="ext-2", next_action=TRANSFER))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10)
        read = (await reads.payment_history(runtime.deps, client_id)).payment
        assert read.payer_action == TRANSFER
        assert isinstance(read.payer_action, DisplayAction)
        assert read.payer_action.expires_at == TRANSFER.expires_at


@pytest.mark.parametrize(
    "action",
    [PAGE, TRANSFER],
    ids=["redirect", "display"],
)
async def test_a_next_action_the_type_does_not_declare_is_no_usable_answer(
    scripted_runtime: RuntimeFactory, action: RedirectAction | DisplayAction
) -> None:
    """The vendor may have taken the payment: it is reconciled, never handed to the payer nor
    sent elsewhere."""
    name, script = new_script()  # a type that declares no next action
    other, other_script = new_script()
    script.answer("initiate", InitiateResult(external_id="ext-3", next_action=action))
    sections = {"routing": {"strategy": "priority"}}
    async with scripted_runtime({"gw": name, "next": other}, **sections) as runtime:
        client_id = uuid.uuid4()
        started = await initiate.start_payment(runtime.deps, client_id, AED_10)
        assert started.payment.status is PaymentStatus.UNKNOWN
        assert started.payment.next_action is None
        assert other_script.calls["initiate"] == []
        history = await reads.payment_history(runtime.deps, client_id)
        (attempt,) = history.attempts
        assert attempt.outcome is AttemptOutcome.UNKNOWN
        assert "does not declare" in (attempt.error or "")


async def test_a_plugin_s_subclass_that_skips_the_contract_s_checks_is_refused(
    scripted_runtime: RuntimeFactory,
) -> None:
    class Unchecked(RedirectAction, frozen=True, tag="redirect"):
        def __post_init__(self) -> None:
            pass  # a plugin's subclass that skips the contract's checks

    name, script = new_script(capable=True)
    sneaky = Unchecked(url="javascript:alert(1)")
    script.answer("initiate", InitiateResult(external_id="ext-4", next_action=sneaky))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        started = await initiate.start_payment(runtime.deps, client_id, AED_10)
        assert started.payment.status is PaymentStatus.UNKNOWN
        assert started.payment.next_action is None


async def test_a_repeat_must_name_the_same_return_url(scripted_runtime: RuntimeFactory) -> None:
    name, script = new_script(capable=True)
    script.answer("initiate", InitiateResult(external_id="ext-5", next_action=PAGE))
    async with scripted_runtime({"gw": name}) as runtime:
        client_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, client_id, AED_10, return_url=RETURN_URL)
        again = await initiate.start_payment(runtime.deps, client_id, AED_10, return_url=RETURN_URL)
        assert again.answer is initiate.InitAnswer.REPEATED
        assert again.payment.payer_action == PAGE
        with pytest.raises(errors.IdempotencyKeyReused, match="another return_url"):
            await initiate.start_payment(
                runtime.deps, client_id, AED_10, return_url=RETURN_URL + "?again"
            )
        assert len(script.calls["initiate"]) == 1
