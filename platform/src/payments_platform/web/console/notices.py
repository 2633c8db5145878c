"""What an action tells the operator on the page it leads back to.

An action answers with a redirect (so reloading the page does not act again) whose query names
one of these notices by code; the text is the console's own, never taken from the address, so a
link cannot make the console say something it did not.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from payments_platform import errors


@dataclass(frozen=True)
class Notice:
    """A line at the top of a page: how it reads (``ok``, ``bad``, ``info``) and what it says."""

    tone: str
    text: str


_NOTICES = {
    "answered": ("ok", "The gateway answered: the timeline shows what became of the payment."),
    "unanswered": (
        "bad",
        "The gateway did not answer (the timeline says why); its reconcile job will ask again.",
    ),
    "not_unknown": ("info", "The payment's outcome is known: there was nothing to ask."),
    "cancelled": ("ok", "The payment is cancelled."),
    "cancelling": (
        "info",
        "The vendor gave no usable answer to the cancel: a reconcile job asks it what became of"
        " the payment.",
    ),
    "cancel_refused": (
        "bad",
        "The payment was not cancelled: the timeline says why (the payer may have paid first).",
    ),
    "not_cancellable": (
        "info",
        "Only an initiated payment, or an authorized one nothing was captured of, is cancelled:"
        " nothing was done.",
    ),
    "voided": ("ok", "The authorization is voided: the payer's money is released."),
    "captured": ("ok", "Captured: the timeline and the captures show it."),
    "capturing": (
        "info",
        "The gateway gave no usable answer to the capture yet: a job asks it what became of the"
        " capture, and never sends it twice.",
    ),
    "refunded": ("ok", "Refunded: the timeline and the refunds show it."),
    "refunding": (
        "info",
        "The refund is sent or queued without an answer yet: a job follows it, and never sends"
        " it twice.",
    ),
    "bad_amount": (
        "bad",
        "Nothing was done: the amount is not one of the payment's currency (e.g. 12.50), or is"
        " zero.",
    ),
    "form_expired": ("bad", "Nothing was done: the form was incomplete; reload the page."),
    "refused": ("bad", "Nothing was done: {problem}. The timeline records why."),
    "retried": ("ok", "Job {job} will run again."),
    "retried_many": ("ok", "{retried} dead job(s) will run again; each payment's log names you."),
    "resent": ("ok", "Delivery {delivery} will be sent again; its payment's log names you."),
    "resent_many": (
        "ok",
        "{retried} dead delivery(ies) will be sent again; each payment's log names you.",
    ),
    "not_resent": (
        "info",
        "Delivery {delivery} is not dead (it may be on its way again already): nothing was done.",
    ),
    "bad_period": (
        "bad",
        "Nothing was done: the period is not one of two times (2026-12-01T10:00, UTC), the"
        " first before the second.",
    ),
    "not_dead": ("info", "Job {job} is not dead: there was nothing to retry."),
    "not_found": ("bad", "There is no job {job}."),
}


_PROBLEMS = {problem.code: problem.title for problem in errors.problem_types()}
"""What a refusal names, by problem code: the platform's own titles, never the address's."""


def notice_query(
    code: str,
    *,
    job: int | None = None,
    problem: str | None = None,
    delivery: int | None = None,
) -> str:
    """The query string that shows notice ``code`` on the page redirected to (``problem``: the
    code of the problem that refused an action)."""
    values: dict[str, str | int] = {"notice": code}
    if job is not None:
        values["job"] = job
    if delivery is not None:
        values["delivery"] = delivery
    if problem is not None:
        values["problem"] = problem
    return "?" + urlencode(values)


def notice_of(
    code: str | None,
    *,
    job: int | None = None,
    retried: int | None = None,
    problem: str | None = None,
    delivery: int | None = None,
) -> Notice | None:
    """The notice a page's query names, if it names a known one."""
    known = _NOTICES.get(code or "")
    if known is None:
        return None
    tone, text = known
    return Notice(
        tone,
        text.format(
            job=job if job is not None else "?",
            retried=retried if retried is not None else "?",
            problem=_PROBLEMS.get(problem or "", "the platform refused it"),
            delivery=delivery if delivery is not None else "?",
        ),
    )
