"""Moving money from a payment's page (``web/console/money``, and the void through the cancel
form): capture, void and refund, each in the operator's name, each form's id the idempotency
key, each refusal said on the page and recorded."""

from __future__ import annotations

import re
import uuid

from console_app import ConsoleClient, ConsoleFactory
from payments_platform.usecases import initiate
from payments_plugins import Amount, CaptureResult, GatewayDeclined, RefundResult, VoidResult
from runtime_steps import authorized, pay
from scripted import accepted, new_script


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found is not None, f"no {name} field"
    return found.group(1)


async def _page(console: ConsoleClient, payment_id: uuid.UUID) -> str:
    return (await console.get(f"/console/payments/{payment_id}")).text


async def test_an_operator_captures_in_parts_then_refunds_and_the_log_names_them(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", CaptureResult(external_capture_id="cap-1"))
    script.answer("capture", CaptureResult(external_capture_id="cap-2"))
    script.answer("refund", RefundResult(external_refund_id="rf-1"))
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-parts")
        await console.sign_in()
        before = await _page(console, payment_id)
        first = await console.act(
            f"/console/payments/{payment_id}/capture",
            capture_id=_hidden(before, "capture_id"),
            amount="4.00",
        )
        between = await _page(console, payment_id)
        rest = await console.act(
            f"/console/payments/{payment_id}/capture", capture_id=_hidden(between, "capture_id")
        )
        paid = await _page(console, payment_id)
        refunded = await console.act(
            f"/console/payments/{payment_id}/refund",
            refund_id=_hidden(paid, "refund_id"),
            amount="2.5",
        )
        after = (await console.get(refunded.headers["location"])).text

    assert "Authorized and not yet captured: 10.00 AED" in before
    assert "Void the authorization" in before
    assert "Refund</button>" not in before
    assert first.headers["location"] == f"/console/payments/{payment_id}?notice=captured"
    assert rest.headers["location"] == first.headers["location"]
    assert "data-status>partially_captured<" in between
    assert "Authorized and not yet captured: 6.00 AED" in between
    assert "Void the authorization" not in between  # something is captured: refund instead
    assert [call.amount.minor for call in script.calls["capture"]] == [400, 600]
    assert "data-status>paid<" in paid
    assert "Capture</button>" not in paid
    assert refunded.headers["location"] == f"/console/payments/{payment_id}?notice=refunded"
    assert script.calls["refund"][0].amount == Amount(250, "AED")
    assert "Refunded: the timeline and the refunds show it." in after
    assert "2.50 AED of 10.00 AED captured" in after
    assert after.count("data-capture-row") == 2
    assert "alice asked for capture" in after
    assert "alice asked for refund" in after
    assert "capture succeeded" in after  # the timeline's entries of the captures


async def test_a_capture_form_sent_twice_captures_once(open_console: ConsoleFactory) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("capture", CaptureResult(external_capture_id="cap-once"))
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-twice")
        await console.sign_in()
        form = await _page(console, payment_id)
        key = _hidden(form, "capture_id")
        answers = [
            await console.act(
                f"/console/payments/{payment_id}/capture", capture_id=key, amount="3.00"
            )
            for _ in range(2)
        ]
        after = await _page(console, payment_id)

    assert [a.headers["location"].rpartition("=")[2] for a in answers] == ["captured"] * 2
    assert len(script.calls["capture"]) == 1
    assert after.count("data-capture-row") == 1
    assert "3.00 AED" in after


async def test_an_operator_voids_an_authorization(open_console: ConsoleFactory) -> None:
    name, script = new_script(capturing="multiple")
    script.answer("void", VoidResult())
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-void")
        await console.sign_in()
        answer = await console.act(f"/console/payments/{payment_id}/cancel")
        after = (await console.get(answer.headers["location"])).text

    assert answer.headers["location"] == f"/console/payments/{payment_id}?notice=voided"
    assert "data-status>voided<" in after
    assert "alice voided the authorization" in after
    assert "Capture</button>" not in after
    assert len(script.calls["void"]) == 1


async def test_refusals_say_why_on_the_page_record_it_and_move_nothing(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-refused")
        await console.sign_in()
        form = await _page(console, payment_id)
        path = f"/console/payments/{payment_id}/capture"
        key = _hidden(form, "capture_id")
        bad_amounts = [
            await console.act(path, capture_id=key, amount=amount)
            for amount in ("12.345", "ten", "0", "-1")
        ]
        no_id = await console.act(path, capture_id="not-a-uuid")
        too_much = await console.act(path, capture_id=key, amount="10.01")
        refund = await console.act(
            f"/console/payments/{payment_id}/refund", refund_id=str(uuid.uuid4())
        )
        after = (await console.get(too_much.headers["location"])).text

    assert {a.headers["location"].partition("?")[2] for a in bad_amounts} == {"notice=bad_amount"}
    assert no_id.headers["location"].endswith("?notice=form_expired")
    assert too_much.headers["location"].endswith(
        "?notice=refused&problem=capture-exceeds-authorization"
    )
    assert refund.headers["location"].endswith("?notice=refused&problem=payment-not-refundable")
    assert "Nothing was done: The capture exceeds what is left of the authorization." in after
    assert "alice&#39;s capture was refused" in after
    assert "alice&#39;s refund was refused" in after
    assert "data-status>authorized<" in after
    assert not script.calls["capture"]
    assert not script.calls["refund"]


async def test_a_declined_capture_is_said_and_the_authorization_stays(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capturing="multiple")
    script.fail("capture", GatewayDeclined("capture_declined"))
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-declined")
        await console.sign_in()
        form = await _page(console, payment_id)
        answer = await console.act(
            f"/console/payments/{payment_id}/capture", capture_id=_hidden(form, "capture_id")
        )
        after = (await console.get(answer.headers["location"])).text

    assert answer.headers["location"].endswith("?notice=refused&problem=capture-declined")
    assert "The gateway declined the capture" in after
    assert "Authorized and not yet captured: 10.00 AED" in after  # the claim is given back


async def test_a_gateway_that_captures_only_the_whole_shows_no_amount_to_type(
    open_console: ConsoleFactory,
) -> None:
    name, script = new_script(capturing="once")
    async with open_console({"gw": name}) as console:
        payment_id = await authorized(console.runtime, script, "ext-whole")
        await console.sign_in()
        page = await _page(console, payment_id)

    assert "captures only the whole of what is left" in page
    assert 'name="amount"' not in page
    assert "Void the authorization" not in page  # it declares no void


async def test_a_paid_payment_offers_a_refund_only(open_console: ConsoleFactory) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-paid"))
    async with open_console({"gw": name}) as console:
        payment_id = uuid.uuid4()
        await initiate.start_payment(console.runtime.deps, payment_id, Amount(1000, "AED"))
        await pay(console.runtime, payment_id)
        await console.sign_in()
        page = await _page(console, payment_id)
        unsigned = await console.post(
            f"/console/payments/{payment_id}/refund", {"refund_id": str(uuid.uuid4())}
        )

    assert "Captured and not yet refunded: 10.00 AED" in page
    assert "Capture</button>" not in page
    assert "Cancel the payment" not in page
    assert unsigned.status_code == 403  # no CSRF token: refused before anything is read
    assert not script.calls["refund"]
