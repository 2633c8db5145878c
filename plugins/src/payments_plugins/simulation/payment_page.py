"""The vendor's hosted payment page, as a simulator serves it to the payer: what it shows and
how it is written.

A page is plain HTML built on the server: no script, every value escaped (the description is
the merchant's text), one inline style allowed by its hash in the ``Content-Security-Policy``,
laid out for a phone's width. An actionable page has one ``<form method="post">`` posted to the
page's own URL, with a hidden ``step``, the step's inputs (each carrying the answer a payer who
passes types, in ``data-simulator-value``, so that a test can walk the page as a payer would)
and two buttons named ``action``: ``pay`` goes on, ``decline`` gives up. The conformance kit's
payer (``payments_plugins.testing.payer``) reads pages written so.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final
from urllib.parse import urlsplit

from payments_plugins.simulation.asgi import Answer

HTML: Final = "text/html; charset=utf-8"
CHECKOUT: Final = "checkout"
"""The ``step`` of the first page, before the payer pressed Pay."""

_STYLE: Final = (
    "*{box-sizing:border-box}"
    'body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;'
    "background:#eef1f5;color:#111827}"
    "main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}"
    ".card{background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.15);"
    "padding:1.5rem}"
    ".vendor{margin:0 0 1rem;font-size:.8125rem;color:#4b5563;letter-spacing:.04em;"
    "text-transform:uppercase}"
    ".amount{margin:0;font-size:2rem;font-weight:700;line-height:1.2}"
    ".description{margin:.5rem 0 1.25rem;color:#374151;overflow-wrap:anywhere;"
    "white-space:pre-line}"
    "h2{margin:1rem 0 .25rem;font-size:1.25rem}"
    "p{margin:.5rem 0}"
    "label{display:block;margin-top:1rem;font-weight:600}"
    "input{display:block;width:100%;margin-top:.25rem;padding:.75rem;border:1px solid #9ca3af;"
    "border-radius:.5rem;font:inherit;font-size:1.25rem;letter-spacing:.2em}"
    "button{display:block;width:100%;margin-top:.75rem;padding:.875rem;border:0;"
    "border-radius:.5rem;font:inherit;font-weight:600;cursor:pointer}"
    ".pay{background:#1d4ed8;color:#fff}"
    ".decline{background:#e5e7eb;color:#111827}"
    ".notice{padding:.75rem;border-radius:.5rem;background:#fef3c7;color:#78350f}"
    ".done{color:#065f46}.over{color:#991b1b}"
    ".back{display:block;margin-top:1.25rem;text-align:center;font-weight:600;color:#1d4ed8}"
    ".note{margin-top:1.5rem;font-size:.8125rem;color:#6b7280;text-align:center}"
)
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

_FINAL_STATES: Final = {
    "paid": ("Payment complete", "{amount} was paid. The merchant has been told.", "done"),
    "authorized": (
        "Payment authorized",
        "{amount} is held for the merchant, who takes it when your order ships.",
        "done",
    ),
    "voided": (
        "Authorization released",
        "The merchant released this payment; nothing was charged.",
        "over",
    ),
    "failed": ("Payment failed", "Nothing was charged.", "over"),
    "cancelled": (
        "Payment cancelled",
        "The merchant cancelled this payment; nothing was charged.",
        "over",
    ),
    "expired": ("Payment expired", "This payment can no longer be paid.", "over"),
}


@dataclass(frozen=True, kw_only=True)
class StepField:
    """An input of a payer step: what the payer types."""

    name: str
    """The form field's name."""
    label: str
    """What the page calls it."""
    simulated_value: str
    """What a payer who passes the step types; the page carries it in
    ``data-simulator-value`` for tests."""
    inputmode: str = "text"
    """The keyboard a phone shows (``numeric`` for a code)."""
    autocomplete: str = "off"
    """The browser's autofill hint (``one-time-code`` for a code sent by text message)."""


@dataclass(frozen=True, kw_only=True)
class PayerStep:
    """A page the payer passes after pressing Pay and before the vendor takes the money (a
    3-D Secure challenge, say): ``VendorSimulator.payer_steps`` lists them, and
    ``VendorSimulator.judge_step`` judges the payer's answers."""

    name: str
    """The step's name, sent back in the form's hidden ``step``."""
    title: str
    instructions: str
    """What the payer is asked to do."""
    fields: tuple[StepField, ...] = ()
    confirm_label: str = "Confirm"
    """The label of the button that goes on (its ``action`` is ``pay``)."""


class StepOutcome(enum.Enum):
    """What the payer's answers to a step make of the payment."""

    PASSED = "passed"
    """On to the next step, or the vendor takes the money."""
    ASK_AGAIN = "ask_again"
    """The same step again, telling the payer why."""
    FAILED = "failed"
    """The payment fails, telling the payer why."""


@dataclass(frozen=True)
class StepVerdict:
    """``VendorSimulator.judge_step``'s answer."""

    outcome: StepOutcome
    notice: str | None = None
    """What to tell the payer (ignored when the step passed)."""


@dataclass(frozen=True, kw_only=True)
class PageView:
    """Everything one page shows."""

    vendor_name: str
    amount: str
    """The amount as the payer reads it: ``999.99 AED``."""
    description: str | None
    status: str
    """The payment's status at the vendor."""
    manual: bool = False
    """The payment is taken with manual capture: the payer authorizes it. Since 2.1."""
    step: PayerStep | None = None
    """The step the payer is at after Pay; None before it."""
    notice: str | None = None
    back_url: str | None = None
    """Where a finished payment's page links back to (the return URL with the payment's id)."""


def payment_page(view: PageView, *, http_status: int = 200) -> Answer:
    """The page of a payment: Pay and Decline while it waits for the payer, the step the payer
    is at, or what became of it (with a link back to the merchant when it has a return URL)."""
    parts = [
        f'<p class="vendor">{escape(view.vendor_name)} · simulated payment page</p>',
        f'<p class="amount">{escape(view.amount)}</p>',
        f'<p class="description">{escape(view.description or "A payment")}</p>',
    ]
    if view.notice:
        parts.append(f'<p class="notice" role="alert">{escape(view.notice)}</p>')
    if view.status == "initiated":
        parts.append(
            _step_form(view.step) if view.step else _checkout_form(view.amount, view.manual)
        )
    else:
        title, text, tone = _FINAL_STATES.get(
            view.status, ("Payment " + view.status, "This payment cannot be paid here.", "over")
        )
        parts.append(f'<h2 class="{tone}">{escape(title)}</h2>')
        parts.append(f"<p>{escape(text.format(amount=view.amount))}</p>")
        if view.back_url:
            parts.append(f'<a class="back" href="{escape(view.back_url)}">Back to the merchant</a>')
    title = f"{view.amount} · {view.vendor_name}"
    return _document(title, "\n".join(parts), http_status, form_target=view.back_url)


def message_page(title: str, text: str, *, http_status: int) -> Answer:
    """A page that only says something (a payment the vendor does not have, say)."""
    body = f'<h2 class="over">{escape(title)}</h2>\n<p>{escape(text)}</p>'
    return _document(title, body, http_status, form_target=None)


def security_headers(form_target: str | None) -> tuple[tuple[str, str], ...]:
    """The headers every page is served with: a policy that allows no script, no frame and no
    fetch, only the page's own style, and forms posted to the page itself, whose answer may
    send the payer on to ``form_target``'s origin."""
    form_action = "'self'"
    origin = _origin(form_target)
    if origin is not None:
        form_action += f" {origin}"
    policy = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action {form_action};"
        " frame-ancestors 'none'; base-uri 'none'"
    )
    return (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    )


def _checkout_form(amount: str, manual: bool) -> str:
    return _form(
        CHECKOUT,
        (),
        f"{'Authorize' if manual else 'Pay'} {amount}",
    )


def _step_form(step: PayerStep) -> str:
    intro = f"<h2>{escape(step.title)}</h2>\n<p>{escape(step.instructions)}</p>"
    return intro + "\n" + _form(step.name, step.fields, step.confirm_label)


def _form(step: str, fields: Sequence[StepField], confirm: str) -> str:
    # No action attribute: the form is posted to the page's own URL, wherever it is mounted.
    lines = ['<form method="post">', _hidden("step", step)]
    for field in fields:
        lines.append(
            f'<label>{escape(field.label)}<input name="{escape(field.name)}"'
            f' inputmode="{escape(field.inputmode)}" autocomplete="{escape(field.autocomplete)}"'
            f' data-simulator-value="{escape(field.simulated_value)}" required></label>'
        )
    lines.append(f'<button class="pay" name="action" value="pay">{escape(confirm)}</button>')
    lines.append(
        '<button class="decline" name="action" value="decline" formnovalidate>Decline</button>'
    )
    lines.append("</form>")
    return "\n".join(lines)


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _document(title: str, body: str, http_status: int, *, form_target: str | None) -> Answer:
    page = (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f'<body>\n<main>\n<div class="card">\n{body}\n</div>\n'
        '<p class="note">A vendor simulator: no money moves.</p>\n</main>\n</body>\n</html>\n'
    )
    return Answer(
        status=http_status,
        body=page.encode(),
        content_type=HTML,
        headers=security_headers(form_target),
    )


def _origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of ``url``, when it is a URL the vendor took as a return URL
    (its host checked when it was taken, so nothing in it can end the policy's directive)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
