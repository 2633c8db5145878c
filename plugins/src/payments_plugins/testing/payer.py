"""A payer on a simulated vendor's payment page, over real HTTP: how the conformance kit, and a
plugin's own tests, walk the page a redirect next action points to.

The page protocol (``payments_plugins.testing.control`` documents it; every simulator built on
``payments_plugins.simulation.VendorSimulator`` follows it): the page is HTML with one
``<form method="post">``, posted to its ``action`` (the page's own URL when it has none), with
hidden inputs, inputs carrying what a payer who passes types in ``data-simulator-value``, and
buttons named ``action``: ``pay`` goes on, ``decline`` gives up. Each press is answered with a
303: to the page again for the next step, or away from it (the return URL) once the payment is
over; without a return URL, to the page, which then offers no form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit

import httpx

MAX_STEPS: Final = 6
"""How many pages a payer passes at most before the vendor must have sent them on."""


class PageNotWalkable(Exception):
    """The page does not follow the page protocol; the message says where it broke."""


@dataclass(frozen=True, kw_only=True)
class PageForm:
    """The form of a payment page, filled as a payer who passes would fill it."""

    posts_to: str
    """The absolute URL the form is posted to."""
    fields: dict[str, str]
    """The hidden fields and the inputs, filled with their ``data-simulator-value``."""
    actions: frozenset[str]
    """The values of the form's ``action`` buttons."""


@dataclass(frozen=True, kw_only=True)
class PayerJourney:
    """Where a payer went on the vendor's pages."""

    pages: list[str] = field(default_factory=list)
    """Every page shown, in order (the URLs the payer was on)."""
    end: str = ""
    """Where the vendor sent the payer at last: the return URL, or the payment's own page
    without one."""


def page_form(page_url: str, html: str) -> PageForm | None:
    """The first ``<form method="post">`` of ``html``, read as the page protocol says; None
    when the page has none (a payment that is over)."""
    reader = _FormReader()
    reader.feed(html)
    reader.close()
    if reader.form is None:
        return None
    action, fields, actions = reader.form
    return PageForm(
        posts_to=urljoin(page_url, action or page_url), fields=fields, actions=frozenset(actions)
    )


async def walk_payment_page(
    client: httpx.AsyncClient,
    url: str,
    *,
    press: Literal["pay", "decline"] = "pay",
    posted: Mapping[str, str] | None = None,
) -> PayerJourney:
    """Open the page at ``url`` (a GET, or, given ``posted``, the form POST a redirect next
    action asks for) and press ``press`` on each page until the vendor sends the payer away
    from it (or to a page with nothing left to press); return where it went.

    Redirects are followed by hand, one at a time, so that every one is checked. Raises
    ``PageNotWalkable`` naming what is not as the protocol says.
    """
    pages: list[str] = []
    current = url
    entry: httpx.Response | None = None
    if posted is not None:
        entry = await client.post(url, data=dict(posted), follow_redirects=False)
        location = entry.headers.get("location")
        if entry.status_code in (302, 303) and location:
            current, entry = urljoin(url, location), None
    for _ in range(MAX_STEPS):
        page = entry or await client.get(current, follow_redirects=False)
        entry = None
        pages.append(current)
        if page.status_code != 200:
            raise PageNotWalkable(f"the payment page {current} answered HTTP {page.status_code}")
        content_type = page.headers.get("content-type", "")
        if not content_type.startswith("text/html"):
            raise PageNotWalkable(
                f"the payment page {current} is {content_type or 'of no content type'},"
                " not text/html"
            )
        form = page_form(current, page.text)
        if form is None:
            if len(pages) == 1:
                raise PageNotWalkable(
                    f'the payment page {current} has no <form method="post"> to pay with'
                )
            return PayerJourney(pages=pages, end=current)
        if press not in form.actions:
            raise PageNotWalkable(
                f"the form of {current} has no button named action with value {press!r}"
                f" (it has {sorted(form.actions)})"
            )
        answer = await client.post(
            form.posts_to, data={**form.fields, "action": press}, follow_redirects=False
        )
        location = answer.headers.get("location")
        if answer.status_code != 303 or not location:
            raise PageNotWalkable(
                f"pressing {press} on {current} answered HTTP {answer.status_code}, not a 303"
                " with a Location"
            )
        following = urljoin(form.posts_to, location)
        if _without_query(following) != _without_query(form.posts_to):
            return PayerJourney(pages=pages, end=following)
        current = following
    raise PageNotWalkable(f"the payer was still on the vendor's pages after {MAX_STEPS} steps")


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _FormReader(HTMLParser):
    """Keeps the first post form: its action, its fields and its ``action`` buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: tuple[str | None, dict[str, str], list[str]] | None = None
        self._inside = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if self._done:
            return
        if tag == "form" and found.get("method", "get").lower() == "post" and not self._inside:
            self._inside = True
            self.form = (found.get("action"), {}, [])
            return
        if not self._inside or self.form is None:
            return
        _, fields, actions = self.form
        name = found.get("name")
        if tag == "input" and name:
            if found.get("type", "text").lower() == "hidden":
                fields[name] = found.get("value", "")
            else:
                fields[name] = found.get("data-simulator-value", found.get("value", ""))
        elif tag == "button" and name == "action":
            actions.append(found.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._inside:
            self._inside = False
            self._done = True
