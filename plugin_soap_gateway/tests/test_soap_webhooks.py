"""parse_webhook: the notification's UsernameToken, replay protection, strict and safe parsing."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime

import pytest
from lxml import etree
from payments_plugin_soap_gateway.gateway import MAX_NOTIFICATION_BYTES, SoapGateway
from payments_plugin_soap_gateway.settings import SoapGatewaySettings
from payments_plugins import GatewayResources, InvalidWebhook, VendorPaymentStatus, WebhookEvent
from soap_documents import PROFILE, WSSE, WSU, digest_token, notification, vendor_digest
from zeep.wsse.username import UsernameToken

USERNAME = "vendor"
PASSWORD = "inbound-secret"
CREATED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = CREATED.timestamp()
PAID = WebhookEvent(external_id="soappay_1", status=VendorPaymentStatus.PAID)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(resources: GatewayResources, clock: Clock) -> SoapGateway:
    settings = SoapGatewaySettings(
        endpoint="https://vendor.test/ws",
        username="merchant",
        password="outbound-secret",
        webhook_username=USERNAME,
        webhook_password=PASSWORD,
        webhook_tolerance_seconds=300,
    )
    return SoapGateway(settings, resources, now=clock)


def token(
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    created: datetime = CREATED,
    nonce: bytes = b"0123456789abcdef",
) -> str:
    return digest_token(username, password, created=created, nonce=nonce)


def signed(
    external_id: str = "soappay_1",
    status: str = "paid",
    *,
    created: datetime = CREATED,
    nonce: bytes = b"0123456789abcdef",
) -> bytes:
    return notification(external_id, status, header=token(created=created, nonce=nonce))


async def test_a_notification_with_a_fresh_digest_token_is_accepted(gateway: SoapGateway):
    assert await gateway.parse_webhook({}, signed()) == PAID


@pytest.mark.parametrize("status", ["paid", "failed", "expired"])
async def test_every_final_status_is_decoded(gateway: SoapGateway, status: str):
    event = await gateway.parse_webhook({}, signed(status=status))

    assert event == WebhookEvent(external_id="soappay_1", status=VendorPaymentStatus(status))


async def test_a_token_made_by_zeeps_own_username_token_is_accepted(gateway: SoapGateway):
    # Interoperability: another implementation of the profile produces what we accept.
    envelope = etree.fromstring(notification())
    UsernameToken(USERNAME, PASSWORD, use_digest=True, created=CREATED, zulu_timestamp=True).apply(
        envelope, {}
    )

    assert await gateway.parse_webhook({}, etree.tostring(envelope)) == PAID


@pytest.mark.parametrize("offset", [-300, 300])
async def test_a_token_created_at_the_edge_of_the_tolerance_is_accepted(
    gateway: SoapGateway, clock: Clock, offset: int
):
    clock.now = NOW - offset

    assert await gateway.parse_webhook({}, signed()) == PAID


@pytest.mark.parametrize(("offset", "reason"), [(301, "old"), (-301, "ahead"), (86_400, "old")])
async def test_a_token_created_outside_the_tolerance_is_refused_as_a_replay(
    gateway: SoapGateway, clock: Clock, offset: int, reason: str
):
    clock.now = NOW + offset

    with pytest.raises(InvalidWebhook, match=reason):
        await gateway.parse_webhook({}, signed())


async def test_a_captured_notification_replayed_within_the_window_is_refused(
    gateway: SoapGateway, clock: Clock
):
    captured = signed()
    assert await gateway.parse_webhook({}, captured) == PAID
    clock.now += 10

    with pytest.raises(InvalidWebhook, match="already used"):
        await gateway.parse_webhook({}, captured)


async def test_a_new_nonce_is_accepted_after_another(gateway: SoapGateway):
    await gateway.parse_webhook({}, signed(nonce=b"first-nonce-0001"))

    assert await gateway.parse_webhook({}, signed(nonce=b"second-nonce-002")) == PAID


async def test_a_refused_token_does_not_use_up_its_nonce(gateway: SoapGateway, clock: Clock):
    clock.now = NOW + 301
    with pytest.raises(InvalidWebhook, match="old"):
        await gateway.parse_webhook({}, signed())
    clock.now = NOW

    assert await gateway.parse_webhook({}, signed()) == PAID


def _security(inner: str) -> str:
    return f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">{inner}</wsse:Security>'


def _token_parts(**parts: str) -> str:
    """A UsernameToken from ``parts`` (element name -> XML), in the order given."""
    return _security("<wsse:UsernameToken>" + "".join(parts.values()) + "</wsse:UsernameToken>")


GOOD_NONCE = base64.b64encode(b"0123456789abcdef").decode()
GOOD = token()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "no Header"),
        (f'<x:Other xmlns:x="urn:x">{GOOD}</x:Other>', "exactly one wsse:Security"),
        (GOOD + GOOD, "exactly one wsse:Security"),
        (token(password="wrong"), "not accepted"),
        (token(username="vendor2"), "not accepted"),
        (token(username="Vendor"), "not accepted"),
        (
            digest_token(USERNAME, PASSWORD, created=CREATED, nonce=b"n", as_text=True),
            "text UsernameToken password is not accepted",
        ),
        (_security(""), "exactly one UsernameToken"),
        (
            _token_parts(
                user=f"<wsse:Username>{USERNAME}</wsse:Username>",
                password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">x</wsse:Password>',
                created="<wsu:Created>2030-01-02T03:04:05Z</wsu:Created>",
            ),
            "exactly one Nonce",
        ),
        (
            _token_parts(
                user=f"<wsse:Username>{USERNAME}</wsse:Username>",
                password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">x</wsse:Password>',
                nonce=f"<wsse:Nonce>{GOOD_NONCE}</wsse:Nonce>",
            ),
            "exactly one Created",
        ),
        (
            _token_parts(
                user=f"<wsse:Username>{USERNAME}</wsse:Username>",
                password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">x</wsse:Password>',
                nonce="<wsse:Nonce>***not base64***</wsse:Nonce>",
                created="<wsu:Created>2030-01-02T03:04:05Z</wsu:Created>",
            ),
            "not Base64",
        ),
        (
            _token_parts(
                user=f"<wsse:Username>{USERNAME}</wsse:Username>",
                password='<wsse:Password Type="urn:other#Hash">x</wsse:Password>',
            ),
            "Type is not one we know",
        ),
        (
            _token_parts(
                password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">x</wsse:Password>'
            ),
            "exactly one Username",
        ),
        (
            _token_parts(
                user="<wsse:Username>  </wsse:Username>",
                password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">x</wsse:Password>',
            ),
            "Username is empty",
        ),
    ],
)
async def test_missing_malformed_or_wrong_credentials_are_refused(
    gateway: SoapGateway, header: str, reason: str
):
    with pytest.raises(InvalidWebhook, match=reason):
        await gateway.parse_webhook({}, notification(header=header))


@pytest.mark.parametrize(
    ("created", "reason"),
    [("2030-01-02T03:04:05", "time zone"), ("yesterday", "ISO 8601")],
)
async def test_a_created_that_is_not_a_utc_time_is_refused(
    gateway: SoapGateway, created: str, reason: str
):
    nonce = b"0123456789abcdef"
    # Signed over the odd text itself, so only the time's shape can be what is refused.
    digest = vendor_digest(nonce, created, PASSWORD)
    header = _token_parts(
        user=f"<wsse:Username>{USERNAME}</wsse:Username>",
        password=f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest}</wsse:Password>',
        nonce=f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>",
        created=f"<wsu:Created>{created}</wsu:Created>",
    )

    with pytest.raises(InvalidWebhook, match=reason):
        await gateway.parse_webhook({}, notification(header=header))


async def test_credentials_are_checked_before_the_body(gateway: SoapGateway):
    body = notification(header=token(password="wrong"), body="<v:Nonsense/>")

    with pytest.raises(InvalidWebhook, match="not accepted"):
        await gateway.parse_webhook({}, body)


def _v(name: str, text: str) -> str:
    return f"<v:{name}>{text}</v:{name}>"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("<v:PaymentStatus/>", "not {urn:soap-vendor:payments:v1}PaymentStatusNotification"),
        (
            '<w:PaymentStatusNotification xmlns:w="urn:other">'
            + _v("externalId", "a")
            + _v("status", "paid")
            + "</w:PaymentStatusNotification>",
            "not {urn:soap-vendor:payments:v1}PaymentStatusNotification",
        ),
        ("<v:PaymentStatusNotification>" + _v("status", "paid") + "</v:PaymentStatusNotification>",
         "lacks externalId"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + "</v:PaymentStatusNotification>",
         "lacks status"),
        ("<v:PaymentStatusNotification>" + _v("externalId", " ") + _v("status", "paid")
         + "</v:PaymentStatusNotification>", "must not be blank"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "x" * 201) + _v("status", "paid")
         + "</v:PaymentStatusNotification>", "longer than 200"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("externalId", "b")
         + _v("status", "paid") + "</v:PaymentStatusNotification>", "more than once"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("status", "paid")
         + _v("amount", "1.00") + "</v:PaymentStatusNotification>", "unexpected element"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "<v:inner>a</v:inner>")
         + _v("status", "paid") + "</v:PaymentStatusNotification>", "must hold text"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("status", "initiated")
         + "</v:PaymentStatusNotification>", "status 'initiated'"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("status", "refunded")
         + "</v:PaymentStatusNotification>", "status 'refunded'"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("status", "PAID")
         + "</v:PaymentStatusNotification>", "status 'PAID'"),
        ("<v:PaymentStatusNotification>" + _v("externalId", "a") + _v("status", "paid")
         + "</v:PaymentStatusNotification><v:Another/>", "exactly one element"),
        ("", "exactly one element"),
    ],
)  # fmt: skip
async def test_a_body_not_in_the_documented_shape_is_refused_naming_the_problem(
    gateway: SoapGateway, body: str, named: str
):
    envelope = notification(header=token(), body=body or " ")

    with pytest.raises(InvalidWebhook, match=re.escape(named)):
        await gateway.parse_webhook({}, envelope)


XXE = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE soap:Envelope [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:v="urn:soap-vendor:payments:v1"><soap:Body><v:PaymentStatusNotification>'
    b"<v:externalId>&secret;</v:externalId><v:status>paid</v:status>"
    b"</v:PaymentStatusNotification></soap:Body></soap:Envelope>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'.encode()
        for n in range(1, 10)
    )
    + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body>&lol9;</soap:Body></soap:Envelope>"
)


async def test_an_xxe_payload_is_refused_without_reading_the_file(gateway: SoapGateway):
    with pytest.raises(InvalidWebhook, match="document type declaration") as refused:
        await gateway.parse_webhook({}, XXE)

    assert "root:" not in str(refused.value)


async def test_a_billion_laughs_payload_is_refused_without_expanding_it(gateway: SoapGateway):
    # libxml2 stops at the amplification before our DOCTYPE check even sees the tree.
    with pytest.raises(InvalidWebhook, match=r"amplification|document type declaration"):
        await gateway.parse_webhook({}, BILLION_LAUGHS)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"not xml", "not well-formed"),
        (b"<soap:Envelope", "not well-formed"),
        (b"\xff\xfe<x/>", "not well-formed"),
        (b'{"external_id": "soappay_1", "status": "paid"}', "not well-formed"),
        (b"<Envelope><Body/></Envelope>", "not a SOAP 1.1"),
        (
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
            "not a SOAP 1.1",
        ),
        (b"<x>" + b" " * MAX_NOTIFICATION_BYTES + b"</x>", "longer than"),
    ],
)
async def test_what_is_not_a_soap_envelope_is_refused(
    gateway: SoapGateway, body: bytes, named: str
):
    with pytest.raises(InvalidWebhook, match=named):
        await gateway.parse_webhook({}, body)


async def test_a_notification_with_comments_and_indentation_is_still_read(gateway: SoapGateway):
    body = notification(
        header=token(),
        body=(
            "<!-- sent by the vendor -->\n  <v:PaymentStatusNotification>\n"
            "    <v:externalId>soappay_1</v:externalId>\n    <v:status>paid</v:status>\n"
            "  </v:PaymentStatusNotification>\n"
        ),
    )

    assert await gateway.parse_webhook({}, body) == PAID


def _with_reference(reference: str) -> bytes:
    inner = (
        "<v:PaymentStatusNotification><v:externalId>soappay_1</v:externalId>"
        f"<v:status>paid</v:status><v:reference>{reference}</v:reference>"
        "</v:PaymentStatusNotification>"
    )
    return notification(body=inner, header=token())


async def test_the_reference_a_notification_carries_is_the_events(gateway: SoapGateway):
    """A notification carries the reference the payment was initiated under, so the platform
    can match it to its payment when it never learned the vendor's id (contract 1.1)."""
    reference = uuid.uuid4()

    event = await gateway.parse_webhook({}, _with_reference(str(reference)))

    assert event == WebhookEvent(
        external_id="soappay_1", status=VendorPaymentStatus.PAID, reference=reference
    )


async def test_a_reference_that_is_no_payment_id_is_refused(gateway: SoapGateway):
    with pytest.raises(InvalidWebhook, match="reference 'order-7' is not a payment id"):
        await gateway.parse_webhook({}, _with_reference("order-7"))
