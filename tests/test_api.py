"""The HTTP API against real SQLite and a JSON vendor simulator served over HTTP."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from core_fixtures import WallClock
from litestar.testing import AsyncTestClient

from .conftest import AppFactory, Vendor, runtime_of

PAYMENT_ID = "6b77a7bc-0bee-49ab-bbb0-70d5245a20f7"


def json_gateway(vendor: Vendor, **extra: Any) -> dict[str, Any]:
    return {"type": "json", "settings": {"base_url": vendor.base_url}, **extra}


async def init(
    client: AsyncTestClient[Any],
    payment_id: str = PAYMENT_ID,
    headers: dict[str, str] | None = None,
    **body: Any,
):
    payload = {"id": payment_id, "currency": "AED", "amount_fractions": 99999, **body}
    return await client.post("/init-payment", json=payload, headers=headers)


async def pay(client: AsyncTestClient[Any], external_id: str, status: str = "paid"):
    return await client.post(
        "/external/json-webhook", json={"external_id": external_id, "status": status}
    )


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert body["type"] == f"urn:payments:problem:{code}"
    return body


async def test_the_prototype_flow_init_webhook_refund_read(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        created = await init(client)
        assert created.status_code == 201, created.text
        payment = created.json()
        assert payment["id"] == PAYMENT_ID
        assert payment["status"] == "initiated"
        assert payment["amount"] == "999.99 AED"
        assert payment["amount_fractions"] == 99999
        assert payment["gateway"] == "json"
        external_id = payment["external_id"]
        assert external_id

        # The payer pays at the vendor, which then notifies us.
        await vendor.payer_acts(external_id)
        paid = await pay(client, external_id)
        assert paid.status_code == 200, paid.text
        assert paid.json() == {
            "ok": True,
            "changed": True,
            "payment_id": PAYMENT_ID,
            "status": "paid",
        }

        refunded = await client.post("/refund", json={"id": PAYMENT_ID})
        assert refunded.status_code == 200, refunded.text
        answer = refunded.json()
        assert answer["ok"] is True
        assert answer["refund"]["status"] == "succeeded"
        assert answer["refund"]["amount"] == "999.99 AED"
        assert answer["refund"]["external_refund_id"]
        assert answer["payment"]["status"] == "refunded"
        assert answer["payment"]["refundable_fractions"] == 0

        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert detail["payment"]["status"] == "refunded"
        [attempt] = detail["attempts"]
        assert attempt["gateway"] == "json"
        assert attempt["outcome"] == "accepted"
        assert attempt["reason"] == (
            "adaptive rank 1 (share 1.00; nothing learned yet), health 1.00, breaker closed"
        )
        assert [refund["status"] for refund in detail["refunds"]] == ["succeeded"]
        kinds = [(event["kind"], event["to_status"]) for event in detail["events"]]
        assert ("status_changed", "pending") in kinds
        assert ("status_changed", "initiated") in kinds
        assert ("webhook", "paid") in kinds
        assert ("refund_succeeded", "refunded") in kinds
        assert (await vendor.calls())["initiate"] == 1
        assert (await vendor.calls())["refund"] == 1


async def test_same_id_same_body_returns_the_payment_without_a_second_gateway_call(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        first = await init(client)
        again = await init(client)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json() == first.json()
        assert (await vendor.calls())["initiate"] == 1


@pytest.mark.parametrize("changed", [{"amount_fractions": 100}, {"amount_fractions": 100000}])
async def test_same_id_other_body_is_a_conflict(
    platform: AppFactory, vendor: Vendor, changed: dict[str, Any]
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        assert (await init(client)).status_code == 201
        body = assert_problem(await init(client, **changed), 409, "idempotency-key-reused")
        assert body["field"] == "id"
        assert (await vendor.calls())["initiate"] == 1


BAD_INIT_BODIES: list[tuple[str, bytes, int, str, str | None]] = [
    ("not json", b"{not json", 400, "malformed-json", None),
    ("empty body", b"", 400, "malformed-json", None),
    ("json array", b"[]", 422, "invalid-request", None),
    ("missing id", b'{"currency":"AED","amount_fractions":1}', 422, "invalid-request", "id"),
    (
        "id not a uuid",
        b'{"id":"abc","currency":"AED","amount_fractions":1}',
        422,
        "invalid-request",
        "id",
    ),
    (
        "id a number",
        b'{"id":5,"currency":"AED","amount_fractions":1}',
        422,
        "invalid-request",
        "id",
    ),
    (
        "missing currency",
        f'{{"id":"{PAYMENT_ID}","amount_fractions":1}}'.encode(),
        422,
        "invalid-request",
        "currency",
    ),
    (
        "lowercase currency",
        f'{{"id":"{PAYMENT_ID}","currency":"aed","amount_fractions":1}}'.encode(),
        422,
        "invalid-request",
        "currency",
    ),
    (
        "unknown currency",
        f'{{"id":"{PAYMENT_ID}","currency":"XYZ","amount_fractions":1}}'.encode(),
        422,
        "unknown-currency",
        "currency",
    ),
    (
        "unsupported currency",
        f'{{"id":"{PAYMENT_ID}","currency":"EUR","amount_fractions":1}}'.encode(),
        422,
        "currency-not-supported",
        "currency",
    ),
    (
        "amount zero",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":0}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "amount negative",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":-5}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "amount huge",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":{10**30}}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "amount as string",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":"100"}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "amount as float",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":1.5}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "amount as bool",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":true}}'.encode(),
        422,
        "invalid-request",
        "amount_fractions",
    ),
    (
        "unknown field",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":1,"x":1}}'.encode(),
        422,
        "invalid-request",
        "x",
    ),
    # Issue 19 section 5: PostgreSQL text holds no NUL; the description answered 500 there.
    (
        "NUL in the description",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":1,'
        f'"description":"a\\u0000b"}}'.encode(),
        422,
        "invalid-request",
        "description",
    ),
    (
        "NUL in a metadata value",
        f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":1,'
        f'"metadata":{{"note":"\\u0000"}}}}'.encode(),
        422,
        "invalid-request",
        "metadata.note",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [case[1:] for case in BAD_INIT_BODIES],
    ids=[case[0] for case in BAD_INIT_BODIES],
)
async def test_bad_init_bodies_get_a_problem_naming_the_field_and_change_nothing(
    platform: AppFactory, vendor: Vendor, body: bytes, status: int, code: str, field: str | None
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        response = await client.post(
            "/init-payment", content=body, headers={"content-type": "application/json"}
        )
        problem = assert_problem(response, status, code)
        if field is not None:
            assert problem["field"] == field
        assert (await vendor.calls())["initiate"] == 0
        assert_problem(await client.get(f"/payments/{PAYMENT_ID}"), 404, "payment-not-found")


async def test_a_form_encoded_content_type_is_read_as_json_like_the_prototypes_curl(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        response = await client.post(
            "/init-payment",
            content=f'{{"currency":"AED", "id": "{PAYMENT_ID}", "amount_fractions":99999}}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 201, response.text


async def test_oversized_body_is_413(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}, server={"max_body_bytes": 1024}) as client:
        response = await client.post("/init-payment", content=b"{" + b" " * 4096 + b"}")
        assert_problem(response, 413, "body-too-large")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not-found"),
        ("GET", "/init-payment", 405, "method-not-allowed"),
        ("GET", "/payments/not-a-uuid", 422, "invalid-request"),
        ("GET", "/payments/0d1f4b7e-5c2a-4e8b-9a3d-6f7e8c9b0a1d", 404, "payment-not-found"),
        ("POST", "/external/nobody-webhook", 404, "not-found"),
        ("POST", "/external/json", 404, "not-found"),
    ],
)
async def test_routing_errors_are_problems(
    platform: AppFactory, vendor: Vendor, method: str, path: str, status: int, code: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        assert_problem(await client.request(method, path), status, code)


async def test_a_decline_rejects_the_payment_without_failover(
    platform: AppFactory, vendor: Vendor
) -> None:
    with_backup = {"json": json_gateway(vendor), "backup": json_gateway(vendor)}
    await vendor.misbehave("999.99 AED", "decline", operation="initiate")
    async with platform(with_backup, routing={"strategy": "priority"}) as client:
        body = assert_problem(await init(client), 402, "payment-declined")
        assert body["payment"]["status"] == "rejected"
        assert (await vendor.calls())["initiate"] == 1
        again = assert_problem(await init(client), 402, "payment-declined")
        assert again["payment"]["id"] == PAYMENT_ID
        assert (await vendor.calls())["initiate"] == 1


async def test_an_unknown_outcome_is_202_and_never_fails_over(
    platform: AppFactory, vendor: Vendor
) -> None:
    await vendor.misbehave("999.99 AED", "error_500", operation="initiate")
    both = {"json": json_gateway(vendor), "backup": json_gateway(vendor)}
    async with platform(both, routing={"strategy": "priority"}) as client:
        response = await init(client)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "unknown"
        assert response.json()["gateway"] == "json"
        assert (await vendor.calls())["initiate"] == 1
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert [a["outcome"] for a in detail["attempts"]] == ["unknown"]


async def test_webhook_answers(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        external_id = (await init(client)).json()["external_id"]
        assert_problem(await pay(client, "no-such-id"), 404, "payment-not-found")
        assert_problem(
            await client.post("/external/json-webhook", content=b"garbage"), 400, "invalid-webhook"
        )
        assert (await pay(client, external_id)).json()["changed"] is True
        repeat = await pay(client, external_id)
        assert repeat.status_code == 200
        assert repeat.json()["changed"] is False
        contradiction = assert_problem(
            await pay(client, external_id, "failed"), 409, "transition-not-allowed"
        )
        assert contradiction["payment_status"] == "paid"
        events = (await client.get(f"/payments/{PAYMENT_ID}")).json()["events"]
        webhooks = [e for e in events if e["kind"] == "webhook"]
        assert [e["accepted"] for e in webhooks] == [True, True, False]
        assert all(len(e["body_sha256"]) == 64 for e in webhooks)


async def test_refund_refusals(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        assert_problem(
            await client.post("/refund", json={"id": PAYMENT_ID}), 404, "payment-not-found"
        )
        external_id = (await init(client)).json()["external_id"]
        unpaid = assert_problem(
            await client.post("/refund", json={"id": PAYMENT_ID}), 409, "payment-not-refundable"
        )
        assert unpaid["payment_status"] == "initiated"
        await vendor.payer_acts(external_id)
        await pay(client, external_id)
        too_much = await client.post("/refund", json={"id": PAYMENT_ID, "amount_fractions": 100000})
        assert_problem(too_much, 409, "refund-exceeds-balance")
        part = await client.post("/refund", json={"id": PAYMENT_ID, "amount_fractions": 99990})
        assert part.status_code == 200, part.text
        assert part.json()["payment"]["status"] == "partially_refunded"
        rest = await client.post("/refund", json={"id": PAYMENT_ID})
        assert rest.json()["refund"]["amount"] == "0.09 AED"
        assert rest.json()["payment"]["status"] == "refunded"
        assert_problem(
            await client.post("/refund", json={"id": PAYMENT_ID}), 409, "payment-not-refundable"
        )
        assert_problem(await client.post("/refund", json={"id": "nope"}), 422, "invalid-request")


async def test_a_refund_id_is_idempotent(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        external_id = (await init(client)).json()["external_id"]
        await vendor.payer_acts(external_id)
        await pay(client, external_id)
        refund_id = str(uuid.uuid4())
        body = {"id": PAYMENT_ID, "amount_fractions": 500, "refund_id": refund_id}
        first = await client.post("/refund", json=body)
        second = await client.post("/refund", json=body)
        assert first.status_code == second.status_code == 200
        assert first.json()["refund"] == second.json()["refund"]
        assert (await vendor.calls())["refund"] == 1
        other = await client.post("/refund", json={**body, "amount_fractions": 501})
        assert_problem(other, 409, "refund-id-reused")


async def test_health_and_readiness(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        assert (await client.get("/health")).json() == {"status": "ok", "checks": {}}
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        await runtime_of(client).database.dispose()


async def test_a_browser_asking_for_the_icon_gets_one(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        icon = await client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.content.startswith(b"<svg")
        document = (await client.get("/schema/openapi.json")).json()
        assert "/favicon.ico" not in document["paths"]


async def test_openapi_document_describes_every_route(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        document = (await client.get("/schema/openapi.json")).json()
        assert set(document["paths"]) >= {
            "/init-payment",
            "/refund",
            "/external/{hook}",
            "/payments/{payment_id}",
            "/health",
            "/ready",
        }
        init_op = document["paths"]["/init-payment"]["post"]
        assert "requestBody" in init_op
        assert {"201", "409", "422", "503"} <= set(init_op["responses"])


def _examples(node: Any) -> list[Any]:
    """Every example value anywhere in an OpenAPI document."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "examples" and isinstance(value, dict):
                found += [entry.get("value") for entry in value.values()]
            elif key == "examples" and isinstance(value, list):
                found += value
            else:
                found += _examples(value)
    elif isinstance(node, list):
        for item in node:
            found += _examples(item)
    return found


async def test_the_openapi_document_is_exact_about_what_is_sent(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        document = (await client.get("/schema/openapi.json")).json()
        schemas = document["components"]["schemas"]
        problem = schemas["Problem"]["properties"]
        assert "extra" not in problem
        assert {"refundable_fractions", "payment_status", "refund_id", "payment"} <= set(problem)
        codes = problem["code"]["enum"]
        assert {"refund-exceeds-balance", "malformed-json", "not-found", "internal-error"} <= set(
            codes
        )
        statuses = schemas["PaymentStatus"]["enum"]
        assert "partially_refunded" in statuses
        assert schemas["PaymentView"]["properties"]["status"] == {
            "$ref": "#/components/schemas/PaymentStatus"
        }
        init_op = document["paths"]["/init-payment"]["post"]["responses"]
        assert "Location" in init_op["201"]["headers"]
        assert "Retry-After" in init_op["503"]["headers"]
        assert "Retry-After" in init_op["409"]["headers"]
        refund_op = document["paths"]["/refund"]["post"]["responses"]
        assert "Retry-After" in refund_op["503"]["headers"]
        assert "422" in document["paths"]["/payments/{payment_id}"]["get"]["responses"]
        # No made-up values: every example string reads as the service writes one.
        for value in _examples(document):
            for text in re.findall(r'"([A-Za-z]{16,})"', json.dumps(value)):
                assert not re.fullmatch(r"[A-Za-z]{16,}", text) or text.islower(), text
        for path, item in document["paths"].items():
            for operation in item.values():
                for status, answer in operation["responses"].items():
                    for content in answer.get("content", {}).values():
                        if content["schema"] == {"$ref": "#/components/schemas/Problem"}:
                            for entry in content.get("examples", {}).values():
                                assert entry["value"]["code"] in codes, (path, status)
                                assert str(entry["value"]["status"]) == status, (path, status)


CLIENT_ERRORS_SENT = {
    ("/init-payment", "post"): {"400", "402", "409", "413", "422", "503"},
    ("/refund", "post"): {"400", "402", "404", "409", "413", "422", "503"},
    ("/payments", "get"): {"422", "503"},
    ("/payments/{payment_id}", "get"): {"404", "422", "503"},
}


async def test_the_openapi_document_lists_only_the_errors_a_client_route_sends(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: the GET routes listed the framework's 400 (`status_code`, `detail`,
    `extra`), which they never send; a body too large (413) went unlisted. Every error listed
    is problem+json, and a malformed id in the path is not called a bad body."""
    async with platform({"json": json_gateway(vendor)}) as client:
        document = (await client.get("/schema/openapi.json")).json()
        for (path, method), statuses in CLIENT_ERRORS_SENT.items():
            responses = document["paths"][path][method]["responses"]
            errors = {status: answer for status, answer in responses.items() if status >= "400"}
            assert set(errors) == statuses, (path, method)
            for status, answer in errors.items():
                assert set(answer["content"]) == {"application/problem+json"}, (path, status)
        malformed = assert_problem(await client.get("/payments/not-a-uuid"), 422, "invalid-request")
        assert malformed["field"] == "id"
        assert "body" not in malformed["title"]


async def test_the_openapi_document_says_free_text_holds_no_nul(
    platform: AppFactory, vendor: Vendor
) -> None:
    """Issue 19 section 5: a NUL in a client's text is refused (422, PostgreSQL cannot store
    it), so the document does not call such a request valid."""
    async with platform({"json": json_gateway(vendor)}) as client:
        document = (await client.get("/schema/openapi.json")).json()
        no_nul = "^[^\\u0000]*$"
        init_body = document["components"]["schemas"]["InitPaymentBody"]["properties"]
        assert init_body["description"]["pattern"] == no_nul
        assert init_body["metadata"]["additionalProperties"]["pattern"] == no_nul
        listing = document["paths"]["/payments"]["get"]["parameters"]
        patterns = {parameter["name"]: parameter["schema"].get("pattern") for parameter in listing}
        assert patterns["external_id"] == patterns["gateway"] == no_nul


async def test_a_whole_number_written_with_a_zero_fraction_is_that_integer(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        response = await client.post(
            "/init-payment",
            content=f'{{"id":"{PAYMENT_ID}","currency":"AED","amount_fractions":99999.0}}',
        )
        assert response.status_code == 201, response.text
        assert response.json()["amount_fractions"] == 99999
        assert response.json()["amount"] == "999.99 AED"


@pytest.mark.parametrize("external_id", ["x" * 60_000, "pay\x00_1"], ids=["long", "nul"])
async def test_a_webhook_naming_an_external_id_that_cannot_be_stored_is_refused_and_recorded(
    platform: AppFactory, vendor: Vendor, external_id: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        body = {"external_id": external_id, "status": "paid"}
        response = await client.post("/external/json-webhook", json=body)
        assert_problem(response, 400, "invalid-webhook")


@pytest.mark.parametrize(
    ("refund", "after"), [({}, "refunded"), ({"amount_fractions": 500}, "partially_refunded")]
)
async def test_a_late_paid_webhook_after_a_refund_changes_nothing_and_writes_no_payment_row(
    platform: AppFactory, vendor: Vendor, refund: dict[str, Any], after: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        external_id = (await init(client)).json()["external_id"]
        await vendor.payer_acts(external_id)
        await pay(client, external_id)
        refunded = await client.post("/refund", json={"id": PAYMENT_ID, **refund})
        assert refunded.json()["payment"]["status"] == after
        before = (await client.get(f"/payments/{PAYMENT_ID}")).json()["payment"]

        late = await pay(client, external_id)
        assert late.status_code == 200, late.text
        assert late.json()["changed"] is False
        assert late.json()["status"] == after
        stored = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        # Not even the update time moves: a repeat never writes the payment row.
        assert stored["payment"] == before
        last = stored["events"][-1]
        assert (last["kind"], last["accepted"], last["to_status"]) == ("webhook", True, None)


EXPIRE_AFTER_A_MINUTE = {"expire_after_seconds": 60}


async def expire_by_age(client: AsyncTestClient[Any], wall_clock: WallClock) -> None:
    """Let the payment's age limit pass and run its expiry job, which asks the vendor first."""
    wall_clock.advance(61)
    await runtime_of(client).worker().run_once()


@pytest.mark.parametrize("expired_by", ["its webhook", "its answer to the expiry job"])
async def test_a_late_paid_for_a_payment_its_vendor_expired_is_refused_and_it_stays_expired(
    platform: AppFactory, vendor: Vendor, wall_clock: WallClock, expired_by: str
) -> None:
    """Guards against expired -> paid being allowed, which only the pure lifecycle table's test
    refused. The vendor's books are the truth about money: its own word that the payment
    expired stands, and a later "paid" contradicting it is refused (409), recorded, and changes
    nothing."""
    payments = EXPIRE_AFTER_A_MINUTE
    async with platform(
        {"json": json_gateway(vendor)}, wall_clock=wall_clock, payments=payments
    ) as client:
        external_id = (await init(client)).json()["external_id"]
        await vendor.payer_acts(external_id, "expired")
        if expired_by == "its webhook":
            assert (await pay(client, external_id, "expired")).json()["changed"] is True
        else:
            await expire_by_age(client, wall_clock)
        expired = (await client.get(f"/payments/{PAYMENT_ID}")).json()["payment"]
        assert (expired["status"], expired["failure_code"]) == ("expired", None)

        await vendor.payer_acts(external_id, "paid")
        late = await pay(client, external_id)

        body = assert_problem(late, 409, "transition-not-allowed")
        assert body["payment_status"] == "expired"
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert detail["payment"] == expired
        last = detail["events"][-1]
        assert (last["kind"], last["accepted"]) == ("webhook", False)
        assert "recovered" not in {event["kind"] for event in detail["events"]}


async def test_a_late_paid_for_a_payment_the_platform_expired_at_its_age_limit_makes_it_paid(
    platform: AppFactory, vendor: Vendor, wall_clock: WallClock
) -> None:
    """What the vendor's-books rule changed on purpose: the platform expired the payment at its
    age limit while the vendor still waited for the payer (``age-limit``), and the payer paid
    after all. Guards against refusing that "paid" like one for a payment the vendor expired:
    the money the vendor took would be dropped."""
    payments = EXPIRE_AFTER_A_MINUTE
    async with platform(
        {"json": json_gateway(vendor)}, wall_clock=wall_clock, payments=payments
    ) as client:
        external_id = (await init(client)).json()["external_id"]
        await expire_by_age(client, wall_clock)  # the vendor still reports it initiated
        expired = (await client.get(f"/payments/{PAYMENT_ID}")).json()["payment"]
        assert (expired["status"], expired["failure_code"]) == ("expired", "age-limit")

        await vendor.payer_acts(external_id, "paid")
        late = await pay(client, external_id)

        assert late.status_code == 200, late.text
        assert late.json() == {
            "ok": True,
            "changed": True,
            "payment_id": PAYMENT_ID,
            "status": "paid",
        }
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert (detail["payment"]["status"], detail["payment"]["failure_code"]) == ("paid", None)
        recovered = [event for event in detail["events"] if event["kind"] == "recovered"]
        assert [(event["from_status"], event["to_status"]) for event in recovered] == [
            ("expired", "paid")
        ]
        refund = await client.post("/refund", json={"id": PAYMENT_ID})
        assert refund.json()["payment"]["status"] == "refunded"


async def paid_payment(client: AsyncTestClient[Any], vendor: Vendor) -> None:
    external_id = (await init(client)).json()["external_id"]
    await vendor.payer_acts(external_id)
    await pay(client, external_id)


async def test_a_refund_whose_gateway_was_down_is_a_503_and_the_same_request_sends_it_later(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        await paid_payment(client, vendor)
        body = {"id": PAYMENT_ID, "amount_fractions": 500, "refund_id": str(uuid.uuid4())}
        await vendor.go_down()
        for _ in range(2):  # a failed refund is never a 2xx, however often it is asked about
            down = assert_problem(
                await client.post("/refund", json=body), 503, "gateway-unavailable"
            )
            assert down["refund_id"] == body["refund_id"]
        answer = await client.post("/refund", json=body)
        assert answer.headers["retry-after"]
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert detail["payment"]["refundable_fractions"] == 99999  # nothing is held

        refused_calls = (await vendor.calls())["refund"]
        await vendor.come_up()
        sent = await client.post("/refund", json=body)
        assert sent.status_code == 200, sent.text
        assert sent.json()["refund"]["status"] == "succeeded"
        assert sent.json()["refund"]["id"] == body["refund_id"]
        again = await client.post("/refund", json=body)
        assert again.status_code == 200
        assert again.json()["refund"] == sent.json()["refund"]
        # Sent once more (the same reference), and paid out once.
        assert (await vendor.calls())["refund"] == refused_calls + 1
        [held] = await vendor.payments()
        assert [refund["reference"] for refund in held["refunds"]] == [body["refund_id"]]
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()
        assert [r["status"] for r in detail["refunds"]] == ["succeeded"]
        assert detail["payment"]["refunded_fractions"] == 500


async def test_a_declined_refund_repeated_is_declined_again_without_a_second_call(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        await paid_payment(client, vendor)
        await vendor.misbehave("5.00 AED", "decline", operation="refund")
        body = {"id": PAYMENT_ID, "amount_fractions": 500, "refund_id": str(uuid.uuid4())}
        for _ in range(2):
            assert_problem(await client.post("/refund", json=body), 402, "refund-declined")
        assert (await vendor.calls())["refund"] == 1


async def test_a_201_says_where_the_payment_is(platform: AppFactory, vendor: Vendor) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        created = await init(client)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"/payments/{PAYMENT_ID}"
        assert (await client.get(created.headers["location"])).status_code == 200
        assert "location" not in (await init(client)).headers


async def test_the_idempotency_key_header_is_a_refunds_key_when_the_body_has_none(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        await paid_payment(client, vendor)
        refund_id = str(uuid.uuid4())
        body = {"id": PAYMENT_ID, "amount_fractions": 100}
        first = await client.post(
            "/refund", json=body, headers={"Idempotency-Key": f'"{refund_id}"'}
        )
        again = await client.post("/refund", json={**body, "refund_id": refund_id})
        assert first.status_code == again.status_code == 200, first.text
        assert first.json()["refund"]["id"] == again.json()["refund"]["id"] == refund_id
        # Any opaque key names one refund, always the same one.
        opaque = [
            await client.post("/refund", json=body, headers={"Idempotency-Key": '"order-7/1"'})
            for _ in range(2)
        ]
        assert [r.status_code for r in opaque] == [200, 200], opaque[0].text
        assert opaque[0].json()["refund"]["id"] == opaque[1].json()["refund"]["id"] != refund_id
        assert (await vendor.calls())["refund"] == 2
        too_long = await client.post("/refund", json=body, headers={"Idempotency-Key": "x" * 300})
        assert_problem(too_long, 422, "invalid-request")
        assert (await vendor.calls())["refund"] == 2


async def test_the_interactive_api_page_loads_nothing_from_outside_the_service(
    platform: AppFactory, vendor: Vendor
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        page = await client.get("/schema/swagger")
        assert page.status_code == 200
        assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", page.text), page.text
        assets = re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", page.text)
        assert {a.rsplit("/", 1)[1] for a in assets} >= {
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-ui.css",
        }
        for asset in assets:
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 500
        assert (await client.get("/schema/assets/index.html")).status_code == 404


async def test_metadata_and_a_description_are_kept_shown_and_part_of_the_idempotency_key(
    platform: AppFactory, vendor: Vendor
) -> None:
    notes: dict[str, Any] = {
        "metadata": {"order_id": "A-10452", "customer": "c_8812"},
        "description": "Tickets",
    }
    async with platform({"json": json_gateway(vendor)}) as client:
        created = await init(client, **notes)
        assert created.status_code == 201, created.text
        assert {k: created.json()[k] for k in notes} == notes
        detail = (await client.get(f"/payments/{PAYMENT_ID}")).json()["payment"]
        assert {k: detail[k] for k in notes} == notes
        assert (await init(client, **notes)).status_code == 200
        for changed in [
            {**notes, "metadata": {"order_id": "A-10453", "customer": "c_8812"}},
            {**notes, "description": "Other tickets"},
            {"metadata": notes["metadata"]},
        ]:
            assert_problem(await init(client, **changed), 409, "idempotency-key-reused")
        bare = await init(client, payment_id=str(uuid.uuid4()))
        assert (bare.json()["metadata"], bare.json()["description"]) == ({}, None)
        assert (await vendor.calls())["initiate"] == 2


@pytest.mark.parametrize(
    ("notes", "field"),
    [
        ({"metadata": {"": "v"}}, "metadata."),
        ({"metadata": {"has space": "v"}}, "metadata.has space"),
        ({"metadata": {"k" * 41: "v"}}, "metadata." + "k" * 41),
        ({"metadata": {"note": "v" * 501}}, "metadata.note"),
        ({"metadata": {f"k{n}": "v" for n in range(51)}}, "metadata"),
        # Issue 19 section 5: a value that is not a string was named `metadata` alone.
        ({"metadata": {"n": 1}}, "metadata.n"),
        ({"metadata": {"fine": "v", "list": ["v"]}}, "metadata.list"),
        ({"description": "d" * 1001}, "description"),
    ],
)
async def test_bad_metadata_is_a_problem_naming_the_key(
    platform: AppFactory, vendor: Vendor, notes: dict[str, Any], field: str
) -> None:
    async with platform({"json": json_gateway(vendor)}) as client:
        refused = assert_problem(await init(client, **notes), 422, "invalid-request")
        assert refused["field"] == field, refused
        assert (await vendor.calls())["initiate"] == 0
