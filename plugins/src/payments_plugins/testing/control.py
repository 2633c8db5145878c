"""The control surface every vendor simulator offers: JSON endpoints under ``/_simulator/``.

The conformance kit drives a simulator only through these endpoints, relative to the URL the
simulator is served at (the one given to ``Simulator.settings_for``). A simulator must:

* answer ``POST /_simulator/behaviours`` ``{"amount": "13.00 AED", "operation": "initiate" |
  "refund" | "capture" | "void" | "any", "action": ...}`` (``capture`` and ``void`` since 2.1;
  a void's amount is its payment's) by making vendor calls for that amount misbehave, where
  ``action`` is one of ``Misbehaviour`` (``slow`` takes ``"seconds"`` too: how long a call is
  held before the vendor processes it; ``decline`` declines for good, ``soft_decline``, since
  2.2, with a code the vendor documents as one the payer may get past elsewhere);
  ``DELETE /_simulator/behaviours`` clears them;
* while ``POST /_simulator/down`` is in force (until ``POST /_simulator/up``), refuse every
  vendor call in the way the vendor documents as "nothing was processed";
* on ``POST /_simulator/payments/{external_id}/status`` ``{"status": "paid" | "authorized" |
  "failed" | "expired"}``, set the payment's status and post the vendor's notification,
  authenticated with the gateway settings' credentials, to ``SimulatorOptions.webhook_url`` *before*
  answering ``200 {"payment": {...}, "webhook": {"status_code": ..., ...} | null}``;
* on ``POST /_simulator/payments/{external_id}/expire-authorization`` (since 2.1, for a type
  declaring manual capture), let the authorization of a payment its payer authorized lapse:
  later captures and voids are refused with ``authorization_expired``, the lookups say
  ``expired``, and ``expired`` is notified before answering as ``status`` does;
* answer ``GET /_simulator/calls`` with ``{"initiate": n, "refund": n, "status": n,
  "cancel": n, "capture": n, "void": n}``, the vendor calls received (status, refund-status
  and capture-status lookups all count as ``status``; ``cancel`` since 2.0, ``capture`` and
  ``void`` since 2.1);
* answer ``GET /_simulator/payments`` with ``{"payments": [{"id", "reference", "status",
  "amount", "refunds": [{"id", "reference", ...}], "captures": [{"id", "reference", "amount",
  "final", ...}], "return_url", "description"}]}``, where ``reference`` is what the gateway
  sent as the vendor's reference (our payment, refund or capture id), and ``status`` says
  ``cancelled`` for a payment cancelled, ``authorized`` for a manual payment its payer
  completed, ``paid`` once it is captured in full or finally, ``voided`` once released; a
  payment taken with manual capture also has ``"capture": "manual"``, ``"authorized"``,
  ``"captured"`` (amounts) and ``"authorization_expires_at"`` (ISO 8601, UTC);
* take the currencies its gateway type declares, and serve the operations statelessly per
  amount: behaviours are keyed by amount, and nothing else is shared between calls.

A simulator whose type declares a redirect next action also serves, at the URL the action
points to, the payer's **payment page** (since 2.0), which ``payments_plugins.testing.payer``
walks as a payer would:

* ``GET`` answers ``200`` ``text/html`` with one ``<form method="post">`` (posted to its
  ``action``, or to the page itself without one) holding hidden inputs, inputs whose
  ``data-simulator-value`` is what a payer who passes types, and buttons named ``action``:
  ``pay`` goes on, ``decline`` gives up;
* each press answers a ``303``: to the page again for the vendor's next step (a 3-D Secure
  challenge, say), or, once the payment is paid (authorized, with manual capture: its button
  says Authorize rather than Pay) or failed and the notification posted to
  ``SimulatorOptions.webhook_url``, to the payment's return URL with ``payment_id=<the
  reference>`` added to its query (to the page, with no form left, without a return URL).

``payments_plugins.simulation.VendorSimulator`` implements all of this; a simulator built
on it supplies only the vendor's own routes, error format and notification.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from payments_plugins.money import Amount
from payments_plugins.simulation.records import Misbehaviour, NotifiedStatus, Operation

__all__ = [
    "Misbehaviour",
    "NotifiedStatus",
    "Operation",
    "SimulatorControl",
    "SimulatorControlError",
]


class SimulatorControlError(RuntimeError):
    """A control endpoint did not answer as the protocol says."""


class SimulatorControl:
    """A client of a simulator's ``/_simulator/`` endpoints.

    ``client`` is an httpx client whose ``base_url`` is the simulator's root URL; the caller
    owns and closes it.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    @contextlib.asynccontextmanager
    async def served_at(
        cls, url: str, *, verify: ssl.SSLContext | bool = True
    ) -> AsyncIterator[SimulatorControl]:
        """The control of the simulator served at ``url``, on a client of its own."""
        async with httpx.AsyncClient(base_url=url, verify=verify) as client:
            yield cls(client)

    async def reset(self) -> None:
        """Clear every behaviour and come back up, as the next test expects the simulator."""
        await self.clear_behaviours()
        await self.come_up()

    async def misbehave(
        self,
        amount: Amount,
        action: Misbehaviour,
        operation: Operation = "any",
        *,
        seconds: float | None = None,
    ) -> None:
        """Make vendor calls of ``operation`` for ``amount`` answer with ``action``;
        ``seconds`` is how long the ``slow`` action holds a call before processing it."""
        body: dict[str, Any] = {
            "amount": amount.format(),
            "operation": operation,
            "action": action.value,
        }
        if seconds is not None:
            body["seconds"] = seconds
        await self._request("POST", "behaviours", body)

    async def clear_behaviours(self) -> None:
        """Undo every ``misbehave``."""
        await self._request("DELETE", "behaviours")

    async def go_down(self) -> None:
        """Refuse every vendor call, processing nothing, until ``come_up``."""
        await self._request("POST", "down")

    async def come_up(self) -> None:
        """Serve vendor calls again."""
        await self._request("POST", "up")

    async def set_status(self, external_id: str, status: NotifiedStatus) -> dict[str, Any]:
        """Move a payment to ``status`` and have the notification posted; the answer's body."""
        answer: dict[str, Any] = await self._request(
            "POST", f"payments/{external_id}/status", {"status": status}
        )
        return answer

    async def expire_authorization(self, external_id: str) -> dict[str, Any]:
        """Let the authorization of a payment its payer authorized lapse, and have ``expired``
        notified; the answer's body. Since 2.1."""
        answer: dict[str, Any] = await self._request(
            "POST", f"payments/{external_id}/expire-authorization"
        )
        return answer

    async def calls(self) -> dict[str, int]:
        """How many vendor calls of each kind the simulator has received."""
        counts: dict[str, int] = await self._request("GET", "calls")
        return counts

    async def payments(self) -> list[dict[str, Any]]:
        """Every payment the simulator holds, with its refunds."""
        listed: dict[str, list[dict[str, Any]]] = await self._request("GET", "payments")
        return listed["payments"]

    async def payment_with_reference(self, reference: str) -> dict[str, Any] | None:
        """The payment the gateway sent under ``reference``, if the simulator holds one."""
        return next(
            (payment for payment in await self.payments() if payment["reference"] == reference),
            None,
        )

    async def _request(self, method: str, path: str, body: object = None) -> Any:
        response = await self._client.request(method, f"_simulator/{path}", json=body)
        if response.status_code != 200:
            raise SimulatorControlError(
                f"{method} /_simulator/{path} answered HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise SimulatorControlError(
                f"{method} /_simulator/{path} answered a body that is not JSON"
            ) from error
