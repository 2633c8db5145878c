"""The database tables (SQLAlchemy Core). Migrations in ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
_Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcTimestamp(sa.TypeDecorator[datetime]):
    """A moment, stored in UTC and read back with its zone on either backend.

    PostgreSQL keeps the zone; SQLite keeps text without one, so a time is converted to UTC
    before it is written there and read back as UTC. Every time the platform stores goes
    through this type, whether SQLAlchemy runs the statement or the store hands it to the
    driver itself (``store/sql.py`` asks this type for its processors).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """The time in UTC (a time without a zone is taken to be UTC already)."""
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """The time with its zone, UTC where the database kept none."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_Timestamp = UtcTimestamp()

payments = sa.Table(
    "payments",
    metadata,
    # The platform's own id, the reference gateways get: the client's id while the API is
    # open, else derived from the merchant and the client's id (see ``access.payment_key``).
    sa.Column("id", sa.Uuid(), primary_key=True),
    # The merchant whose API key created it; NULL while the client API is open.
    sa.Column("merchant", sa.String(64)),
    # The id the client gave, its idempotency key, unique per merchant.
    sa.Column("client_id", sa.Uuid(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("gateway", sa.String(40)),
    sa.Column("external_id", sa.String(255)),
    sa.Column("refund_claimed_minor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("refunded_minor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("failure_code", sa.String(64)),
    # The client's own key-value pairs and text about the payment, shown back and notified.
    sa.Column("metadata", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    sa.Column("description", sa.Text()),
    # Where the vendor sends the payer back (the client's, passed to the gateway), and the step
    # the vendor asked of the payer, as its gateway answered (a next action of the contract).
    sa.Column("return_url", sa.Text()),
    sa.Column("next_action", sa.JSON()),
    # ``automatic`` (paid when the payer pays) or ``manual`` (authorized, then captured); what
    # the vendor authorized, what captures in flight claimed of it, and what they captured; and
    # when the vendor lets the authorization lapse, as it said.
    sa.Column("capture_mode", sa.String(16), nullable=False, server_default="automatic"),
    sa.Column("authorized_minor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("capture_claimed_minor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("captured_minor", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("authorization_expires_at", _Timestamp),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.CheckConstraint(
        "refunded_minor >= 0 AND refunded_minor <= refund_claimed_minor"
        " AND refund_claimed_minor <= amount_minor",
        name="refunds_within_amount",
    ),
    sa.UniqueConstraint("gateway", "external_id"),
    sa.UniqueConstraint("merchant", "client_id"),
    # A merchant's payments newest first, all of them or of one status (GET /payments).
    sa.Index("ix_payments_merchant_created_at_id", "merchant", "created_at", "id"),
    sa.Index("ix_payments_merchant_status_created_at_id", "merchant", "status", "created_at", "id"),
    sa.Index("ix_payments_external_id", "external_id"),
    # Every merchant's payments newest first (the console's search and its CSV, page by page).
    sa.Index("ix_payments_created_at_id", "created_at", "id"),
)

payment_attempts = sa.Table(
    "payment_attempts",
    metadata,
    sa.Column("id", _Serial, primary_key=True, autoincrement=True),
    sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("gateway", sa.String(40), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("error", sa.Text()),
    sa.Column("external_id", sa.String(255)),
    sa.Column("started_at", _Timestamp, nullable=False),
    sa.Column("finished_at", _Timestamp),
    # The request that made the call: the job that reconciles a lost call links to its trace.
    sa.Column("trace_parent", sa.String(64)),
)

refunds = sa.Table(
    "refunds",
    metadata,
    # The reference the gateway gets, derived like a payment's id (``access.refund_key``).
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("merchant", sa.String(64)),
    # The refund id the client gave (or was given), its idempotency key, unique per merchant.
    sa.Column("client_refund_id", sa.Uuid(), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("gateway", sa.String(40), nullable=False),
    sa.Column("external_refund_id", sa.String(255)),
    sa.Column("sent_at", _Timestamp),
    sa.Column("trace_parent", sa.String(64)),
    sa.Column("failure_code", sa.String(64)),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.UniqueConstraint("merchant", "client_refund_id"),
)

captures = sa.Table(
    "captures",
    metadata,
    # The reference the gateway gets, derived like a refund's id (``access.capture_key``).
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("payment_id", sa.Uuid(), sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("merchant", sa.String(64)),
    # The capture id the client gave (or was given), its idempotency key, unique per merchant.
    sa.Column("client_capture_id", sa.Uuid(), nullable=False),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    # The last capture of the authorization: the rest is released.
    sa.Column("final", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("gateway", sa.String(40), nullable=False),
    sa.Column("external_capture_id", sa.String(255)),
    sa.Column("sent_at", _Timestamp),
    sa.Column("trace_parent", sa.String(64)),
    sa.Column("failure_code", sa.String(64)),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    sa.UniqueConstraint("merchant", "client_capture_id"),
)

payment_events = sa.Table(
    "payment_events",
    metadata,
    sa.Column("id", _Serial, primary_key=True, autoincrement=True),
    # No foreign key: a webhook for a payment we do not know is recorded too.
    sa.Column("payment_id", sa.Uuid(), index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(24)),
    sa.Column("to_status", sa.String(24)),
    sa.Column("gateway", sa.String(40)),
    sa.Column("external_id", sa.String(255)),
    sa.Column("accepted", sa.Boolean()),
    sa.Column("reason", sa.Text()),
    sa.Column("body_sha256", sa.String(64)),
    sa.Column("detail", sa.JSON()),
    sa.Column("created_at", _Timestamp, nullable=False),
    # Who did it, for an ``operator_action`` (also in ``detail``), so that the operators' audit
    # finds one operator's actions by index; NULL for every other kind.
    sa.Column("operator", sa.String(64)),
    # Webhooks that arrived before we knew the external id wait here to be replayed.
    sa.Index(
        "ix_payment_events_unmatched",
        "gateway",
        "external_id",
        postgresql_where=sa.text("payment_id IS NULL"),
        sqlite_where=sa.text("payment_id IS NULL"),
    ),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", _Serial, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("payment_id", sa.Uuid(), nullable=False),
    sa.Column("refund_id", sa.Uuid()),
    # The capture a ``capture`` job finds out about.
    sa.Column("capture_id", sa.Uuid()),
    # The notification delivery a ``notify`` job makes.
    sa.Column("delivery_id", sa.BigInteger()),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("run_at", _Timestamp, nullable=False),
    sa.Column("locked_by", sa.String(64)),
    sa.Column("locked_until", _Timestamp),
    sa.Column("last_error", sa.Text()),
    sa.Column("trace_parent", sa.String(64)),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
    sa.Index("ix_jobs_status_run_at", "status", "run_at"),
    sa.Index("ix_jobs_payment_id", "payment_id"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    # The event's stable id, ``evt_<32 hex digits>``: the Standard Webhooks message id.
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("payment_id", sa.Uuid(), nullable=False),
    sa.Column("merchant", sa.String(64)),
    sa.Column("type", sa.String(40), nullable=False),
    # Counts a payment's notifications from 1, so that a receiver can order them.
    sa.Column("sequence", sa.Integer(), nullable=False),
    # The body sent: the event with the resource as it stood when it happened.
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.UniqueConstraint("payment_id", "sequence"),
    sa.Index("ix_notifications_created_at", "created_at"),
)

notification_deliveries = sa.Table(
    "notification_deliveries",
    metadata,
    sa.Column("id", _Serial, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(40), sa.ForeignKey("notifications.id"), nullable=False),
    # The merchant's endpoint, by its name in the config.
    sa.Column("endpoint", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("last_error", sa.Text()),
    # How long the last attempt took, from sending to the answer (or the failure).
    sa.Column("last_duration_ms", sa.Integer()),
    sa.Column("delivered_at", _Timestamp),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("updated_at", _Timestamp, nullable=False),
    sa.UniqueConstraint("notification_id", "endpoint"),
    sa.Index("ix_notification_deliveries_endpoint_status", "endpoint", "status"),
)

# The console's operators: sessions kept in the database, so that every process of the
# deployment knows them and signing out ends them everywhere; the token itself is never stored,
# only its SHA-256.
operator_sessions = sa.Table(
    "operator_sessions",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("operator", sa.String(40), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", _Timestamp, nullable=False),
    sa.Column("last_seen_at", _Timestamp, nullable=False),
    sa.Column("expires_at", _Timestamp, nullable=False),
    # The operator's password hash the session was opened with, as an HMAC keyed with the
    # session's token (OperatorAccounts.fingerprint): a new hash ends the session.
    sa.Column("credentials_hmac", sa.String(64), nullable=False),
)

# Failed sign-ins by account (``operator:<name>``) and by network address (``address:<ip>``),
# shared by every process, so that spreading guesses over replicas gains nothing.
sign_in_failures = sa.Table(
    "sign_in_failures",
    metadata,
    sa.Column("subject", sa.String(120), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("first_failed_at", _Timestamp, nullable=False),
    sa.Column("locked_until", _Timestamp),
)

# Each running process's circuit breakers, recorded by the process itself (when one changes, and
# every few seconds anyway), so that the console shows every process's. A process is its host,
# pid and start; rows of processes not heard from for minutes are deleted. A handful of rows.
process_breakers = sa.Table(
    "process_breakers",
    metadata,
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("pid", sa.Integer(), primary_key=True),
    sa.Column("started_at", _Timestamp, primary_key=True),
    sa.Column("gateway", sa.String(40), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    # When the breaker entered its state; how many calls failed in a row; its window's counts.
    sa.Column("state_since", _Timestamp, nullable=False),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("window_calls", sa.Integer(), nullable=False),
    sa.Column("window_failures", sa.Integer(), nullable=False),
    sa.Column("reported_at", _Timestamp, nullable=False),
)

# The console's overview reads the last hour of attempts.
sa.Index("ix_payment_attempts_started_at", payment_attempts.c.started_at)
# Each process reads the attempts that finished since it last looked, to learn success rates.
sa.Index("ix_payment_attempts_finished_at", payment_attempts.c.finished_at)
# Operators look a payment up by its client's id whatever its merchant.
sa.Index("ix_payments_client_id", payments.c.client_id)
# Gateway calls with no recorded end, which the worker's sweep reconciles once they are overdue:
# a handful of rows at any time, however many payments there are.
_IN_FLIGHT_ATTEMPT = sa.text("outcome = 'in_flight'")
sa.Index(
    "ix_payment_attempts_in_flight",
    payment_attempts.c.started_at,
    postgresql_where=_IN_FLIGHT_ATTEMPT,
    sqlite_where=_IN_FLIGHT_ATTEMPT,
)
_IN_FLIGHT_REFUND = sa.text("status = 'pending' AND sent_at IS NOT NULL")
sa.Index(
    "ix_refunds_in_flight",
    refunds.c.sent_at,
    postgresql_where=_IN_FLIGHT_REFUND,
    sqlite_where=_IN_FLIGHT_REFUND,
)
_IN_FLIGHT_CAPTURE = sa.text("status = 'pending' AND sent_at IS NOT NULL")
sa.Index(
    "ix_captures_in_flight",
    captures.c.sent_at,
    postgresql_where=_IN_FLIGHT_CAPTURE,
    sqlite_where=_IN_FLIGHT_CAPTURE,
)
# Payments the vendor took after the platform had given up on them, and the webhooks refused in
# the last hour, for the operator's overview.
_RECOVERED = sa.text("kind = 'recovered'")
sa.Index(
    "ix_payment_events_recovered",
    payment_events.c.created_at,
    postgresql_where=_RECOVERED,
    sqlite_where=_RECOVERED,
)
sa.Index(
    "ix_payment_events_refused_webhooks",
    payment_events.c.created_at,
    postgresql_where=sa.text("kind = 'webhook' AND accepted = false"),
    sqlite_where=sa.text("kind = 'webhook' AND accepted = 0"),
)
# The console's webhooks page: every webhook a vendor sent, newest first, and the last hour's
# counted by gateway and verdict, from the index alone.
RECEIVED_WEBHOOK = sa.text("body_sha256 IS NOT NULL")
"""An event that records a vendor's webhook: only those keep the SHA-256 of a body. The same
text as the index's condition, so that SQLite sees the index applies."""
sa.Index(
    "ix_payment_events_received",
    payment_events.c.created_at,
    payment_events.c.id,
    payment_events.c.gateway,
    payment_events.c.accepted,
    postgresql_where=RECEIVED_WEBHOOK,
    sqlite_where=RECEIVED_WEBHOOK,
)
# The console's endpoints page: an endpoint's deliveries, the latest first.
sa.Index(
    "ix_notification_deliveries_endpoint_id",
    notification_deliveries.c.endpoint,
    notification_deliveries.c.id,
)
# Deliveries failing, counted by endpoint for the attention bar and the endpoints page, among
# those not delivered (waiting, retrying, dead), however many were delivered before them.
UNDELIVERED = sa.text("status <> 'delivered'")
"""A delivery not delivered (yet); the same text as the index's condition, so that SQLite sees
the index applies."""
sa.Index(
    "ix_notification_deliveries_undelivered",
    notification_deliveries.c.endpoint,
    notification_deliveries.c.status,
    notification_deliveries.c.updated_at,
    postgresql_where=UNDELIVERED,
    sqlite_where=UNDELIVERED,
)
# The operators' audit, newest first: every operator's actions, or one operator's.
sa.Index("ix_payment_events_kind_id", payment_events.c.kind, payment_events.c.id)
_BY_OPERATOR = sa.text("operator IS NOT NULL")
sa.Index(
    "ix_payment_events_operator_id",
    payment_events.c.operator,
    payment_events.c.id,
    postgresql_where=_BY_OPERATOR,
    sqlite_where=_BY_OPERATOR,
)
