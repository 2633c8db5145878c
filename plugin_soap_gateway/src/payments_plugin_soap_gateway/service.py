"""The vendor's service description: the WSDL shipped in this package, parsed once by zeep.

The WSDL is self-contained and is read from the installed package, never fetched: building a
gateway does no network I/O, and nothing the vendor's service answers can make zeep fetch a
schema, a DTD or an entity either (see :data:`ZEEP_SETTINGS`).
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import logging
from typing import Any, Final, cast

from zeep import Settings
from zeep.transports import AsyncTransport
from zeep.wsdl import Document

from payments_plugin_soap_gateway.wire import VENDOR_NS

WSDL_RESOURCE: Final = "service.wsdl"
PAYMENT_BINDING: Final = f"{{{VENDOR_NS}}}PaymentBinding"

ZEEP_SETTINGS: Final = Settings(
    strict=True,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xml_huge_tree=False,
)
"""How zeep parses the WSDL and every answer: strictly, with no DTD, entity or external fetch."""


class OfflineTransport(AsyncTransport):
    """A zeep transport that loads nothing: the only document zeep reads is handed to it.

    It does not call ``AsyncTransport.__init__``, which would open an httpx client of its own.
    """

    def __init__(self) -> None:
        self.cache = None
        self.client = None
        self.wsdl_client = None
        self.logger = logging.getLogger(__name__)
        self._close_session = False

    def load(self, url: str) -> bytes:
        """Refuse: the shipped WSDL imports nothing, so anything asked for is unexpected."""
        raise RuntimeError(f"the SOAP gateway loads no documents, was asked for {url!r}")

    async def aclose(self) -> None:
        """Nothing is open."""


def wsdl_bytes() -> bytes:
    """The shipped WSDL, as installed."""
    return (importlib.resources.files(__package__) / WSDL_RESOURCE).read_bytes()


@functools.cache
def service_document() -> Document:
    """The parsed WSDL, shared by every gateway of the process (zeep does not modify it)."""
    # zeep annotates ``transport`` as a class, but uses (and needs) an instance.
    transport = cast("Any", OfflineTransport())
    return Document(io.BytesIO(wsdl_bytes()), transport, settings=ZEEP_SETTINGS)


def payment_binding() -> Any:
    """The zeep binding of the vendor's payment operations."""
    return service_document().bindings[PAYMENT_BINDING]
