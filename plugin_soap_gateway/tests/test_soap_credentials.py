"""The UsernameToken building blocks: the digest, the token we send, the nonces we remember."""

from __future__ import annotations

import base64

import pytest
from lxml import etree
from payments_plugin_soap_gateway.credentials import (
    CredentialsRejected,
    NonceMemory,
    PasswordType,
    UsernameCredentials,
    UsernameTokenSigner,
    created_text,
    password_digest,
    security_header,
    verify_username_token,
)
from soap_documents import PROFILE, SOAP, WSSE, WSU, notification, vendor_digest

NOW = 1_893_553_445.0  # 2030-01-02T03:04:05Z
CREDENTIALS = UsernameCredentials(username="merchant", password="pa55word")


def test_the_digest_is_sha1_of_nonce_created_and_password_in_base64():
    nonce = b"\x01\x02\x03\x04"
    expected = vendor_digest(nonce, "2030-01-02T03:04:05Z", "pa55word")

    assert password_digest(nonce, "2030-01-02T03:04:05Z", "pa55word") == expected


def test_created_is_utc_to_the_second_with_a_z():
    assert created_text(NOW + 0.9) == "2030-01-02T03:04:05Z"


def test_a_digest_token_carries_digest_nonce_and_created_and_never_the_password():
    header = security_header(CREDENTIALS, now=NOW, nonce=b"fixed-nonce-0001")
    namespaces = {"wsse": WSSE, "wsu": WSU}

    password = header.find("wsse:UsernameToken/wsse:Password", namespaces)
    assert password is not None
    assert password.get("Type") == f"{PROFILE}#PasswordDigest"
    assert password.text == password_digest(b"fixed-nonce-0001", "2030-01-02T03:04:05Z", "pa55word")
    assert header.findtext("wsse:UsernameToken/wsse:Nonce", namespaces=namespaces) == (
        base64.b64encode(b"fixed-nonce-0001").decode()
    )
    assert header.findtext("wsse:UsernameToken/wsu:Created", namespaces=namespaces) == (
        "2030-01-02T03:04:05Z"
    )
    assert b"pa55word" not in etree.tostring(header)


def test_each_digest_token_gets_a_fresh_nonce():
    first = security_header(CREDENTIALS, now=NOW)
    second = security_header(CREDENTIALS, now=NOW)
    path = f"{{{WSSE}}}UsernameToken/{{{WSSE}}}Nonce"

    assert first.findtext(path) != second.findtext(path)


def test_the_signer_adds_the_token_to_an_envelope_without_a_header():
    envelope = etree.fromstring(
        f'<soap-env:Envelope xmlns:soap-env="{SOAP}"><soap-env:Body/></soap-env:Envelope>'
    )
    text = UsernameCredentials(
        username="merchant", password="pa55word", password_type=PasswordType.TEXT
    )

    UsernameTokenSigner(text, now=lambda: NOW).apply(envelope, {})

    assert envelope[0].tag == f"{{{SOAP}}}Header"
    verify_username_token(
        envelope,
        expected=text,
        accepted_types=(PasswordType.TEXT,),
        tolerance_seconds=1,
        now=NOW,
        nonces=NonceMemory(),
    )


def test_a_text_password_is_compared_exactly():
    envelope = etree.fromstring(notification())
    wrong = UsernameCredentials(
        username="merchant", password="pa55wor", password_type=PasswordType.TEXT
    )
    UsernameTokenSigner(wrong, now=lambda: NOW).apply(envelope, {})

    with pytest.raises(CredentialsRejected, match="not accepted"):
        verify_username_token(
            envelope,
            expected=CREDENTIALS,
            accepted_types=(PasswordType.TEXT,),
            tolerance_seconds=1,
            now=NOW,
            nonces=NonceMemory(),
        )


def test_the_credentials_representation_hides_the_password():
    assert "pa55word" not in repr(CREDENTIALS)


def test_a_remembered_nonce_is_seen_until_it_expires():
    memory = NonceMemory()
    memory.remember(("vendor", "n1"), until=NOW + 300, now=NOW)

    assert memory.seen(("vendor", "n1"), now=NOW + 300)
    assert not memory.seen(("vendor", "n1"), now=NOW + 301)
    assert not memory.seen(("other", "n1"), now=NOW)


def test_expired_nonces_are_forgotten_when_new_ones_arrive():
    memory = NonceMemory()
    memory.remember(("vendor", "old"), until=NOW, now=NOW - 300)

    memory.remember(("vendor", "new"), until=NOW + 600, now=NOW + 300)

    assert len(memory) == 1


def test_past_its_capacity_the_memory_forgets_the_oldest_nonce():
    memory = NonceMemory(capacity=2)
    for name in ("a", "b", "c"):
        memory.remember(("vendor", name), until=NOW + 300, now=NOW)

    assert len(memory) == 2
    assert not memory.seen(("vendor", "a"), now=NOW)
    assert memory.seen(("vendor", "c"), now=NOW)


def test_a_memory_without_room_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        NonceMemory(capacity=0)
