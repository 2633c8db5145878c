"""The vendor's wire format: SOAP 1.1 envelopes in its namespace, parsed and built with lxml.

Every document from outside is parsed by :func:`parse_envelope`: no DTD, no entity expansion,
no network, no huge trees, a size limit. Every document we send is built element by element,
so no value from a request ever becomes markup.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from lxml import etree

SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
VENDOR_NS: Final = "urn:soap-vendor:payments:v1"
WSSE_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

ENVELOPE: Final = etree.QName(SOAP_ENV_NS, "Envelope")
HEADER: Final = etree.QName(SOAP_ENV_NS, "Header")
BODY: Final = etree.QName(SOAP_ENV_NS, "Body")
FAULT: Final = etree.QName(SOAP_ENV_NS, "Fault")

NOTIFICATION: Final = etree.QName(VENDOR_NS, "PaymentStatusNotification")
NOTIFICATION_RESPONSE: Final = etree.QName(VENDOR_NS, "PaymentStatusNotificationResponse")
FAULT_DETAIL: Final = etree.QName(VENDOR_NS, "FaultDetail")

CURRENCIES: Final = frozenset({"AED", "USD"})
"""The currencies the vendor takes."""

CONTENT_TYPE: Final = "text/xml; charset=utf-8"
SOAP_ACTION_PREFIX: Final = f"{VENDOR_NS}#"

MAX_DOCUMENT_BYTES: Final = 1 << 20
"""A document longer than this is not one the vendor's service produces; it is not parsed."""
MAX_IDENTIFIER_LENGTH: Final = 200
MAX_URL_LENGTH: Final = 2048
"""The longest ``returnUrl`` and ``redirectUrl`` the service takes."""
MAX_DESCRIPTION_LENGTH: Final = 1000
"""The longest ``description`` the service takes."""
NOTIFIED_STATUSES: Final = ("paid", "authorized", "failed", "expired")
DeclineType = Literal["soft", "hard"]
"""``FaultDetail/declineType``: whether the payer may succeed on another gateway."""
SOFT_DECLINE_CODES: Final = frozenset({"issuer_unavailable", "try_again_later", "processing_error"})
"""The decline codes the vendor's service documents as soft; its other decline codes are hard."""

_NOT_XML_CHARACTERS: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MalformedEnvelope(ValueError):
    """The document is not a SOAP 1.1 envelope this service accepts."""


class FaultKind(enum.StrEnum):
    """The SOAP 1.1 fault codes, and the WS-Security ones that mean "not authenticated"."""

    CLIENT = "Client"
    """The request was processed and refused for what it says: a decline."""
    SERVER = "Server"
    """The service failed; ``processed`` in the detail says whether anything was done."""
    NOT_UNDERSTOOD = "NotUnderstood"
    """``VersionMismatch`` or ``MustUnderstand``: refused before the body was looked at."""
    NOT_AUTHENTICATED = "NotAuthenticated"
    """A WS-Security fault (``wsse:FailedAuthentication`` ...): refused before processing."""
    OTHER = "Other"


_SOAP_FAULT_KINDS: Final = {
    "Client": FaultKind.CLIENT,
    "Server": FaultKind.SERVER,
    "VersionMismatch": FaultKind.NOT_UNDERSTOOD,
    "MustUnderstand": FaultKind.NOT_UNDERSTOOD,
}
WSSE_FAILED_AUTHENTICATION: Final = etree.QName(WSSE_NS, "FailedAuthentication")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A SOAP fault as the vendor sent it."""

    kind: FaultKind
    faultcode: str
    """The fault code as written, e.g. ``soap:Client``."""
    message: str
    vendor_code: str | None = None
    """The ``FaultDetail/code`` the vendor documents, e.g. ``payment_declined``."""
    processed: bool | None = None
    """``FaultDetail/processed``: False means the vendor did nothing; None means it did not say."""
    decline_type: DeclineType | None = None
    """``FaultDetail/declineType`` of a decline: ``soft`` (the payer may succeed elsewhere) or
    ``hard``; None when the vendor did not say, or said something else."""


def _parser() -> etree.XMLParser:
    # resolve_entities=False and load_dtd=False keep entity and DTD tricks (XXE, billion laughs)
    # inert; no_network stops any fetch; huge_tree=False keeps libxml2's depth and size limits.
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_envelope(document: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse ``document`` safely and return its SOAP 1.1 ``Envelope`` element.

    Raises :class:`MalformedEnvelope` for anything longer than ``max_bytes``, not well-formed,
    carrying a DOCTYPE, or whose root is not a SOAP 1.1 envelope.
    """
    if len(document) > max_bytes:
        raise MalformedEnvelope(f"the document is longer than {max_bytes} bytes")
    if not document.strip():
        raise MalformedEnvelope("the document is empty")
    try:
        root = etree.fromstring(document, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise MalformedEnvelope(f"the document is not well-formed XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise MalformedEnvelope("a document type declaration is not accepted")
    if root.tag != ENVELOPE.text:
        raise MalformedEnvelope(
            f"the root element is {tag_of(root)}, not a SOAP 1.1 {ENVELOPE.text}"
        )
    return root


def body_element(envelope: etree._Element) -> etree._Element:
    """The single element inside the envelope's ``Body``."""
    bodies = envelope.findall(BODY.text)
    if len(bodies) != 1:
        raise MalformedEnvelope("the envelope must have exactly one Body")
    children = _element_children(bodies[0])
    if len(children) != 1:
        raise MalformedEnvelope("the Body must hold exactly one element")
    return children[0]


def header_element(envelope: etree._Element) -> etree._Element | None:
    """The envelope's ``Header``, when it has one."""
    headers = envelope.findall(HEADER.text)
    if len(headers) > 1:
        raise MalformedEnvelope("the envelope has more than one Header")
    return headers[0] if headers else None


def read_fields(
    element: etree._Element,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    *,
    longer: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """The text of ``element``'s children in the vendor namespace, checked against a shape.

    Each child must be a leaf in the vendor's namespace named in ``required`` or ``optional``,
    at most once; every required one must be there with non-blank text of at most 200
    characters (or what ``longer`` allows it). Raises :class:`MalformedEnvelope` naming the
    first problem.
    """
    known = set(required) | set(optional)
    fields: dict[str, str] = {}
    for child in _element_children(element):
        name = etree.QName(child)
        if name.namespace != VENDOR_NS or name.localname not in known:
            raise MalformedEnvelope(f"unexpected element {name.text} in {tag_of(element)}")
        if name.localname in fields:
            raise MalformedEnvelope(f"{name.localname} is given more than once")
        if _element_children(child):
            raise MalformedEnvelope(f"{name.localname} must hold text, not elements")
        text = child.text or ""
        if not text.strip():
            raise MalformedEnvelope(f"{name.localname} must not be blank")
        limit = (longer or {}).get(name.localname, MAX_IDENTIFIER_LENGTH)
        if len(text) > limit:
            raise MalformedEnvelope(f"{name.localname} is longer than {limit} characters")
        fields[name.localname] = text
    missing = [name for name in required if name not in fields]
    if missing:
        raise MalformedEnvelope(f"{tag_of(element)} lacks {', '.join(missing)}")
    return fields


def read_fault(envelope: etree._Element) -> Fault | None:
    """The fault in ``envelope``'s body, or None when the body is not a SOAP 1.1 fault."""
    try:
        element = body_element(envelope)
    except MalformedEnvelope:
        return None
    if element.tag != FAULT.text:
        return None
    code_element = element.find("faultcode")
    faultcode = (code_element.text or "").strip() if code_element is not None else ""
    kind = _fault_kind(code_element, faultcode) if code_element is not None else FaultKind.OTHER
    message = (element.findtext("faultstring") or "").strip()
    vendor_code: str | None = None
    processed: bool | None = None
    decline_type: DeclineType | None = None
    detail = element.find(f"detail/{FAULT_DETAIL}")
    if detail is not None:
        vendor_code = (detail.findtext(f"{{{VENDOR_NS}}}code") or "").strip() or None
        processed = _xsd_boolean(detail.findtext(f"{{{VENDOR_NS}}}processed"))
        declared = (detail.findtext(f"{{{VENDOR_NS}}}declineType") or "").strip()
        decline_type = "soft" if declared == "soft" else "hard" if declared == "hard" else None
    return Fault(
        kind=kind,
        faultcode=faultcode,
        message=message[:500],
        vendor_code=vendor_code[:100] if vendor_code else None,
        processed=processed,
        decline_type=decline_type,
    )


def _fault_kind(code_element: etree._Element, faultcode: str) -> FaultKind:
    prefix, _, local = faultcode.rpartition(":")
    namespace = code_element.nsmap.get(prefix or None)
    # SOAP 1.1 lets a code be refined with dots: "Client.Authentication" is still a Client fault.
    base = local.split(".", 1)[0]
    if namespace == SOAP_ENV_NS:
        return _SOAP_FAULT_KINDS.get(base, FaultKind.OTHER)
    if namespace == WSSE_NS:
        return FaultKind.NOT_AUTHENTICATED
    return FaultKind.OTHER


def tag_of(element: etree._Element) -> str:
    """The element's name as ``{namespace}local``, for messages."""
    return etree.QName(element).text


def _xsd_boolean(text: str | None) -> bool | None:
    value = (text or "").strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return None


def _element_children(element: etree._Element) -> list[etree._Element]:
    # Comments and processing instructions are dropped by the parser, so only elements remain;
    # text between elements (indentation) is not a child.
    return [child for child in element if isinstance(child.tag, str)]


# Building documents.


def vendor_element(name: str, *children: etree._Element, text: str | None = None) -> etree._Element:
    """An element in the vendor's namespace with ``children`` or ``text``."""
    element = etree.Element(etree.QName(VENDOR_NS, name), nsmap={"v": VENDOR_NS})
    if text is not None:
        element.text = text
    element.extend(children)
    return element


def vendor_record(name: str, fields: dict[str, str]) -> etree._Element:
    """``<v:name><v:key>value</v:key>...</v:name>`` in the order of ``fields``."""
    return vendor_element(name, *(vendor_element(key, text=value) for key, value in fields.items()))


def envelope(body: etree._Element, *, header: list[etree._Element] | None = None) -> bytes:
    """A SOAP 1.1 envelope around ``body`` (and ``header`` entries), serialized as UTF-8."""
    root = etree.Element(ENVELOPE, nsmap={"soap": SOAP_ENV_NS})
    if header:
        header_node = etree.SubElement(root, HEADER)
        header_node.extend(header)
    etree.SubElement(root, BODY).append(body)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def fault_envelope(
    kind: FaultKind,
    message: str,
    *,
    vendor_code: str | None,
    processed: bool | None = None,
    decline_type: DeclineType | None = None,
) -> bytes:
    """A SOAP 1.1 fault of ``kind`` (Client or Server) with the vendor's ``FaultDetail``
    (``declineType`` too, for a decline)."""
    if kind not in (FaultKind.CLIENT, FaultKind.SERVER):
        raise ValueError(f"only Client and Server faults are built here, not {kind}")
    fault = etree.Element(FAULT, nsmap={"soap": SOAP_ENV_NS})
    etree.SubElement(fault, "faultcode").text = f"soap:{kind.value}"
    etree.SubElement(fault, "faultstring").text = xml_text(message)
    if vendor_code is not None or processed is not None or decline_type is not None:
        fields = {"code": xml_text(vendor_code or kind.value.lower())}
        if processed is not None:
            fields["processed"] = "true" if processed else "false"
        if decline_type is not None:
            fields["declineType"] = decline_type
        etree.SubElement(fault, "detail").append(vendor_record("FaultDetail", fields))
    return envelope(fault)


def authentication_fault_envelope(message: str) -> bytes:
    """The WS-Security fault a service answers a call whose credentials it does not accept."""
    fault = etree.Element(FAULT, nsmap={"soap": SOAP_ENV_NS, "wsse": WSSE_NS})
    etree.SubElement(fault, "faultcode").text = "wsse:FailedAuthentication"
    etree.SubElement(fault, "faultstring").text = xml_text(message)
    return envelope(fault)


def notification_response(*, accepted: bool, changed: bool) -> bytes:
    """Our answer to a notification we accepted."""
    fields = {"accepted": _boolean(accepted), "changed": _boolean(changed)}
    return envelope(vendor_record("PaymentStatusNotificationResponse", fields))


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD.

    Messages may quote what a caller sent; a control character in one must not make the
    answer itself unbuildable.
    """
    return _NOT_XML_CHARACTERS.sub("\ufffd", text)


def _boolean(value: bool) -> str:
    return "true" if value else "false"
