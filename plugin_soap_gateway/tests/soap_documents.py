"""SOAP documents for the tests, written out independently of the code under test."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
VENDOR = "urn:soap-vendor:payments:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"


def vendor_answer(element: str, **fields: str) -> bytes:
    """A SOAP 1.1 answer whose Body holds ``<v:element>`` with ``fields`` as children."""
    children = "".join(f"<v:{name}>{value}</v:{name}>" for name, value in fields.items())
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:v="{VENDOR}"><soap:Body>'
        f"<v:{element}>{children}</v:{element}></soap:Body></soap:Envelope>"
    ).encode()


def fault(faultcode: str, message: str = "refused", detail: str = "", *, xmlns: str = "") -> bytes:
    """A SOAP 1.1 fault; ``detail`` is the inner XML of its detail element."""
    detail_xml = f"<detail>{detail}</detail>" if detail else ""
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:v="{VENDOR}" {xmlns}><soap:Body><soap:Fault>'
        f"<faultcode>{faultcode}</faultcode><faultstring>{message}</faultstring>{detail_xml}"
        f"</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def fault_detail(
    code: str, processed: str | None = None, *, decline_type: str | None = None
) -> str:
    """The vendor's FaultDetail, as the inner XML of a fault's detail."""
    processed_xml = f"<v:processed>{processed}</v:processed>" if processed is not None else ""
    if decline_type is not None:
        processed_xml += f"<v:declineType>{decline_type}</v:declineType>"
    return f"<v:FaultDetail><v:code>{code}</v:code>{processed_xml}</v:FaultDetail>"


def vendor_digest(nonce: bytes, created: str, password: str) -> str:
    """A PasswordDigest as the OASIS profile defines it, written apart from the gateway's."""
    # SHA-1 is what the UsernameToken Profile fixes.
    digest = hashlib.sha1(nonce + created.encode() + password.encode())  # noqa: S324
    return base64.b64encode(digest.digest()).decode()


def digest_token(
    username: str, password: str, *, created: datetime, nonce: bytes, as_text: bool = False
) -> str:
    """A UsernameToken header entry, computed the way the OASIS profile defines it."""
    created_text = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if as_text:
        return (
            f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username>"
            f'<wsse:Password Type="{PROFILE}#PasswordText">{password}</wsse:Password>'
            f"</wsse:UsernameToken></wsse:Security>"
        )
    digest = vendor_digest(nonce, created_text, password)
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created_text}</wsu:Created>"
        f"</wsse:UsernameToken></wsse:Security>"
    )


def notification(
    external_id: str = "soappay_1", status: str = "paid", *, header: str = "", body: str = ""
) -> bytes:
    """A PaymentStatusNotification envelope with ``header`` entries (or another ``body``)."""
    inner = body or (
        f"<v:PaymentStatusNotification><v:externalId>{external_id}</v:externalId>"
        f"<v:status>{status}</v:status></v:PaymentStatusNotification>"
    )
    header_xml = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:v="{VENDOR}">{header_xml}'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    ).encode()


def parse(document: bytes) -> etree._Element:
    """Parse a document the code under test produced (trusted)."""
    return etree.fromstring(document, etree.XMLParser(resolve_entities=False))


def text_of(root: etree._Element, path: str) -> str | None:
    """The text at ``path`` (prefixes soap, v, wsse, wsu)."""
    namespaces = {"soap": SOAP, "v": VENDOR, "wsse": WSSE, "wsu": WSU}
    return root.findtext(path, namespaces=namespaces)
