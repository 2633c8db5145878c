"""One vendor call's zeep transport, over the platform's shared httpx client.

zeep's own ``AsyncTransport`` is not used as it is, because with a shared client it would do
three things a platform cannot allow: replace the client's default headers with its own,
close the client in ``aclose()``, and open a second, blocking client for loading documents. It
also sends without a per-call timeout and reads answers of any size. This transport sends
one envelope with the gateway's timeouts, follows no redirect, reads at most
:data:`~payments_plugin_soap_gateway.wire.MAX_DOCUMENT_BYTES`, and records what happened so the
gateway can tell "never sent" from "sent, no usable answer".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from lxml import etree
from payments_plugins.vendor_call import read_answer
from zeep import Plugin
from zeep.wsdl.utils import etree_to_string

from payments_plugin_soap_gateway.service import OfflineTransport
from payments_plugin_soap_gateway.wire import MAX_DOCUMENT_BYTES


@dataclass(frozen=True, kw_only=True)
class VendorAnswer:
    """An HTTP answer with the attributes zeep reads from one (those of a requests Response)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    encoding: str | None


class CallTransport(OfflineTransport):
    """Posts one envelope through the shared client and remembers the exchange.

    ``sent`` becomes True once zeep has built the envelope and hands it over (from then on the
    vendor may have received it); ``status_code`` is the answer's HTTP status, when one came.
    """

    def __init__(self, http: httpx.AsyncClient, timeout: httpx.Timeout) -> None:
        super().__init__()
        self._http = http
        self._timeout = timeout
        self.sent = False
        self.status_code: int | None = None

    async def post_xml(self, address: str, envelope: etree._Element, headers: Any) -> VendorAnswer:
        """Send ``envelope`` to ``address`` and return the answer as zeep expects it."""
        self.sent = True
        message = etree_to_string(envelope)
        # Redirects are never followed: re-sending a payment to another address is not
        # something to do without the vendor saying so.
        async with self._http.stream(
            "POST",
            address,
            content=message,
            headers=dict(headers),
            timeout=self._timeout,
            follow_redirects=False,
        ) as response:
            self.status_code = response.status_code
            body = await read_answer(response, MAX_DOCUMENT_BYTES)
        return VendorAnswer(
            status_code=response.status_code,
            headers=response.headers,
            content=body,
            encoding=response.encoding,
        )

    async def get(self, address: str, params: Any, headers: Any) -> Any:
        """The service is only ever posted to."""
        raise RuntimeError(f"the SOAP gateway does not GET {address!r}")


class EnvelopeCatcher(Plugin):
    """A zeep plugin keeping the parsed answer, so a fault can be read with its namespaces.

    zeep reports a fault code as the text it found (``soap:Client``), without the namespace
    the prefix stood for; the envelope kept here resolves it.
    """

    def __init__(self) -> None:
        self.envelope: etree._Element | None = None

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> Any:
        """Keep the answer's envelope; change nothing."""
        self.envelope = envelope
        return envelope, http_headers
