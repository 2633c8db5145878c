"""A payment's whole history as one timeline, oldest first. Pure.

Everything the platform stored about the payment, merged by time: the routing decision with
every candidate (weight, health, breaker), each gateway attempt with its outcome and timing,
every status change (applied or not, and why), every webhook (accepted or refused, and why,
including those that arrived before the payment was known by its external id), captures,
refunds, jobs,
the notifications sent to the merchant with their deliveries, and what operators did. An event
of a kind this module does not know is still shown, plainly: the log is append-only and newer
versions may write kinds this one never heard of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payments_platform.jobs import Job
from payments_platform.lifecycle import DeliveryStatus
from payments_platform.records import Attempt, Event, NotificationSent, PaymentHistory

OK, BAD, WARN, INFO = "ok", "bad", "warn", "info"
"""How an entry reads at a glance (the stylesheet's colours)."""

_ATTEMPT_TONE = {
    "accepted": OK,
    "declined": BAD,
    "unavailable": WARN,
    "unknown": WARN,
    "in_flight": INFO,
}
_JOB_TONE = {"done": OK, "dead": BAD, "pending": INFO, "running": INFO}


@dataclass(frozen=True)
class Candidate:
    """A gateway the routing decision considered."""

    gateway: str
    weight: float
    health: float
    breaker: str
    share: float
    skipped: bool
    score: float | None = None
    """The learned success rate the adaptive strategy ranked it by."""
    samples: int = 0
    scored_in: str | None = None
    eliminated: bool = False


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str
    title: str
    tone: str
    details: list[tuple[str, str]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    order: int = 0
    """Breaks ties between entries written at the same instant: the order they were written."""


def payment_timeline(
    history: PaymentHistory, jobs: Iterable[Job], early_webhooks: Iterable[Event] = ()
) -> list[Entry]:
    """Every stored fact about the payment, oldest first."""
    entries = [_event_entry(event) for event in (*history.events, *early_webhooks)]
    entries += [_attempt_entry(attempt) for attempt in history.attempts]
    entries += [_job_entry(job) for job in jobs]
    entries += [_notification_entry(sent) for sent in history.notifications]
    return sorted(entries, key=lambda entry: (entry.at, entry.order))


def _attempt_entry(attempt: Attempt) -> Entry:
    details = [("why this gateway", attempt.reason)]
    if attempt.finished_at is not None:
        took = (attempt.finished_at - attempt.started_at).total_seconds()
        details.append(("took", f"{took * 1000:.0f} ms"))
    else:
        details.append(("took", "no recorded end"))
    if attempt.external_id:
        details.append(("external id", attempt.external_id))
    if attempt.error:
        details.append(("error", attempt.error))
    return Entry(
        at=attempt.started_at,
        kind="attempt",
        title=f"attempt {attempt.id} at {attempt.gateway}: {attempt.outcome}",
        tone=_ATTEMPT_TONE.get(attempt.outcome, INFO),
        details=details,
        order=1,
    )


def _job_entry(job: Job) -> Entry:
    details = [
        ("status", str(job.status)),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("due", f"{job.run_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    if job.refund_id is not None:
        details.append(("refund", str(job.refund_id)))
    if job.capture_id is not None:
        details.append(("capture", str(job.capture_id)))
    if job.delivery_id is not None:
        details.append(("notification delivery", str(job.delivery_id)))
    if job.last_error:
        details.append(("last error", job.last_error))
    return Entry(
        at=job.created_at,
        kind="job",
        title=f"{job.kind} job {job.id}: {job.status}",
        tone=_JOB_TONE.get(job.status, INFO),
        details=details,
        order=2,
    )


def _notification_entry(sent: NotificationSent) -> Entry:
    notification = sent.notification
    details = [("event", notification.id)]
    for delivery in sent.deliveries:
        how = f"{delivery.status} after {delivery.attempts} attempt(s)"
        if delivery.last_status_code is not None:
            how += f", last answer HTTP {delivery.last_status_code}"
        if delivery.last_error:
            how += f", last error: {delivery.last_error}"
        details.append((f"to {delivery.endpoint}", how))
    statuses = {delivery.status for delivery in sent.deliveries}
    # Said as it stands: a delivery still pending or given up on is no notification received.
    if DeliveryStatus.DEAD in statuses:
        tone, said = BAD, "merchant NOT notified (delivery dead)"
    elif statuses == {DeliveryStatus.DELIVERED}:
        tone, said = OK, "merchant notified"
    elif statuses:
        tone, said = INFO, "notification pending"
    else:
        tone, said = INFO, "event recorded (no endpoint takes it)"
    return Entry(
        at=notification.created_at,
        kind="notification",
        title=f"{said}: {notification.type} (#{notification.sequence})",
        tone=tone,
        details=details,
        order=3,
    )


def _event_entry(event: Event) -> Entry:
    detail = event.detail or {}
    builder = _EVENT_ENTRIES.get(event.kind, _plain_entry)
    if event.kind.startswith(("refund_", "capture_")):
        builder = _movement_entry
    return builder(event, detail)


def _routing_entry(event: Event, detail: dict[str, Any]) -> Entry:
    candidates = [_candidate(view, skipped=False) for view in detail.get("order", [])]
    candidates += [_candidate(view, skipped=True) for view in detail.get("skipped", [])]
    return Entry(
        at=event.created_at,
        kind="routing",
        title=f"routing decision for {detail.get('segment') or detail.get('currency', '?')}:"
        f" {event.reason or ''}"
        + (" (the first chosen to explore)" if detail.get("explored") else ""),
        tone=INFO if candidates and not candidates[0].skipped else WARN,
        candidates=candidates,
    )


def _candidate(view: dict[str, Any], *, skipped: bool) -> Candidate:
    return Candidate(
        gateway=str(view.get("gateway", "?")),
        weight=float(view.get("weight", 0)),
        health=float(view.get("health", 0)),
        breaker=str(view.get("breaker", "?")),
        share=float(view.get("share", 0)),
        skipped=skipped,
        score=None if view.get("score") is None else float(view["score"]),
        samples=int(view.get("samples", 0)),
        scored_in=None if view.get("scored_in") is None else str(view["scored_in"]),
        eliminated=bool(view.get("eliminated", False)),
    )


def _status_entry(event: Event, _detail: dict[str, Any]) -> Entry:
    applied = event.accepted is not False
    if event.from_status is None:
        title = f"payment created: {event.to_status}"
    else:
        title = f"status {event.from_status} → {event.to_status}"
    return Entry(
        at=event.created_at,
        kind="status",
        title=title + ("" if applied else " (not applied)"),
        tone=_status_tone(event.to_status) if applied else WARN,
        details=_reason(event),
    )


def _status_tone(status: str | None) -> str:
    if status in (
        "paid",
        "initiated",
        "authorized",
        "partially_captured",
        "refunded",
        "partially_refunded",
    ):
        return OK
    if status in ("rejected", "failed", "expired"):
        return BAD
    return WARN if status == "unknown" else INFO


def _webhook_entry(event: Event, detail: dict[str, Any]) -> Entry:
    verdict = "accepted" if event.accepted else "refused"
    replayed = event.kind == "webhook_replayed"
    late = " (arrived early, applied once the payment was known)" if replayed else ""
    details = _reason(event)
    if event.gateway:
        details.insert(0, ("gateway", event.gateway))
    if detail.get("status"):
        details.append(("reports", str(detail["status"])))
    if event.body_sha256:
        details.append(("body SHA-256", event.body_sha256))
    title = f"webhook {verdict}{late}"
    if event.kind == "status_lookup":
        title = "asked the gateway: " + ("answer applied" if event.to_status else "no change")
    return Entry(
        at=event.created_at,
        kind="webhook",
        title=title,
        tone=OK if event.accepted else BAD,
        details=details,
    )


def _movement_entry(event: Event, detail: dict[str, Any]) -> Entry:
    """A refund's or a capture's step: ``refund_requested``, ``capture_succeeded``, ..."""
    movement, _, status = event.kind.partition("_")
    tone = {"requested": INFO, "succeeded": OK, "failed": BAD}.get(status, WARN)
    details = _reason(event)
    if f"{movement}_id" in detail:
        details.insert(0, (movement, str(detail[f"{movement}_id"])))
    return Entry(
        at=event.created_at,
        kind=movement,
        title=f"{movement} {status.replace('_', ' ')}",
        tone=tone,
        details=details,
    )


def _operator_entry(event: Event, detail: dict[str, Any]) -> Entry:
    operator = detail.get("operator", "an operator")
    return Entry(
        at=event.created_at,
        kind="operator",
        title=f"operator {operator}: {detail.get('action', 'action')}",
        tone=BAD if event.accepted is False else INFO,
        details=_reason(event),
    )


def _recovered_entry(event: Event, detail: dict[str, Any]) -> Entry:
    details = _reason(event)
    if event.gateway:
        details.insert(0, ("gateway", event.gateway))
    if event.external_id:
        details.append(("vendor's id", event.external_id))
    if event.accepted:
        title = f"paid at {event.gateway} after the platform gave it up: recovered"
    else:
        title = f"{event.gateway} took money for it, but another gateway holds it: act"
    return Entry(
        at=event.created_at,
        kind="recovered",
        title=title,
        tone=WARN if event.accepted else BAD,
        details=details,
    )


def _plain_entry(event: Event, detail: dict[str, Any]) -> Entry:
    details = _reason(event)
    details += [(str(key), str(value)) for key, value in detail.items()]
    return Entry(
        at=event.created_at,
        kind="event",
        title=event.kind.replace("_", " "),
        tone=INFO,
        details=details,
    )


def _reason(event: Event) -> list[tuple[str, str]]:
    return [("reason", event.reason)] if event.reason else []


_EVENT_ENTRIES = {
    "routing_decision": _routing_entry,
    "status_changed": _status_entry,
    "webhook": _webhook_entry,
    "webhook_replayed": _webhook_entry,
    "operator_action": _operator_entry,
    "recovered": _recovered_entry,
    "status_lookup": _webhook_entry,
}
