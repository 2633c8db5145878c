"""The migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from core_fixtures import RuntimeFactory
from payments_platform import schema
from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.database import Database
from payments_platform.process_breakers import BreakerReport, ProcessIdentity
from payments_platform.records import Payment, Refund
from payments_platform.resources import PaymentView
from payments_platform.schema import metadata
from payments_platform.store import payments, process_breakers, refunds
from payments_platform.usecases import reads
from payments_platform.usecases import refunds as usecase_refunds
from payments_plugins import RefundResult
from scripted import new_script


async def test_migrations_match_the_declared_tables_and_checking_the_schema_passes(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=0)
    try:
        await database.migrate()
        await database.check_schema()
        differences = await database.read(
            lambda conn: compare_metadata(MigrationContext.configure(conn), metadata)
        )
        assert differences == []
    finally:
        await database.dispose()


def _migrate_to(revision: str) -> Callable[[sa.Connection], None]:
    """Up from an empty database, or down from one at the head (PostgreSQL's are cloned from a
    migrated template)."""

    def migrate(connection: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "payments_platform:migrations")
        config.attributes["connection"] = connection
        if MigrationContext.configure(connection).get_current_revision() is None:
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)

    return migrate


async def test_payments_and_refunds_made_before_ids_were_per_merchant_keep_their_ids(
    database_url: str,
) -> None:
    payment_id, refund_id, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0003"))

        def earlier_rows(conn: sa.Connection) -> None:
            # Only the columns revision 0003 has.
            conn.execute(
                sa.insert(schema.payments).values(
                    id=payment_id,
                    merchant="shop",
                    currency="AED",
                    amount_minor=500,
                    status="paid",
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                sa.insert(schema.refunds).values(
                    id=refund_id,
                    payment_id=payment_id,
                    amount_minor=100,
                    status="succeeded",
                    gateway="json",
                    created_at=now,
                    updated_at=now,
                )
            )

        await database.write(earlier_rows)
        await database.migrate()

        def found(conn: sa.Connection) -> tuple[Payment | None, Refund | None]:
            return (
                payments.find_for_client(conn, "shop", payment_id),
                refunds.find_for_client(conn, "shop", refund_id),
            )

        payment, refund = await database.read(found)
        assert payment is not None
        assert (payment.id, payment.client_id) == (payment_id, payment_id)
        assert refund is not None
        assert (refund.id, refund.client_refund_id, refund.merchant) == (
            refund_id,
            refund_id,
            "shop",
        )
    finally:
        await database.dispose()


async def test_payments_the_platform_expired_before_0009_are_told_from_those_the_vendor_did(
    database_url: str,
) -> None:
    """Revision 0009 marks ``age-limit`` the payments the platform expired while the vendor still
    waited, so that the vendor's later "paid" recovers them; those the vendor expired, and
    every other payment, are left as they were."""
    now = datetime.now(UTC)
    ours, theirs, failed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0008"))

        def earlier_rows(conn: sa.Connection) -> None:
            for payment_id, status, reason in [
                (ours, "expired", "age limit reached; json reports initiated"),
                (theirs, "expired", "age limit reached; json reports expired"),
                (failed, "failed", "json reports failed"),
            ]:
                conn.execute(
                    sa.insert(schema.payments).values(
                        id=payment_id,
                        client_id=payment_id,
                        currency="AED",
                        amount_minor=500,
                        status=status,
                        gateway="json",
                        created_at=now,
                        updated_at=now,
                    )
                )
                conn.execute(
                    sa.insert(schema.payment_events).values(
                        payment_id=payment_id,
                        kind="status_changed",
                        from_status="initiated",
                        to_status=status,
                        accepted=True,
                        reason=reason,
                        created_at=now,
                    )
                )

        await database.write(earlier_rows)
        await database.migrate()

        def codes(conn: sa.Connection) -> dict[uuid.UUID, str | None]:
            return {
                payment_id: payments.load(conn, payment_id).failure_code
                for payment_id in (ours, theirs, failed)
            }

        assert await database.read(codes) == {ours: "age-limit", theirs: None, failed: None}
    finally:
        await database.dispose()


async def test_sessions_opened_before_they_were_bound_to_credentials_are_ended(
    database_url: str,
) -> None:
    """Issue 19, removed operators: a session from before revision 0010 has nothing to check
    its operator's credentials against, so the migration ends it."""
    now = datetime.now(UTC)
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0009"))

        def earlier_session(conn: sa.Connection) -> None:
            conn.execute(
                sa.text(
                    "INSERT INTO operator_sessions (token_sha256, operator, csrf_token,"
                    " created_at, last_seen_at, expires_at)"
                    " VALUES ('digest', 'alice', 'csrf', :now, :now, :now)"
                ),
                {"now": now},
            )

        await database.write(earlier_session)
        await database.migrate()

        def sessions(conn: sa.Connection) -> list[str]:
            return list(conn.execute(sa.select(schema.operator_sessions.c.operator)).scalars())

        assert await database.read(sessions) == []
    finally:
        await database.dispose()


async def test_failed_sign_ins_counted_per_name_alone_are_forgotten(database_url: str) -> None:
    """Issue 19, lock-outs: a name locked out everywhere before revision 0010 is not locked
    after it; counts per address stay."""
    now = datetime.now(UTC)
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0009"))

        def earlier_failures(conn: sa.Connection) -> None:
            for subject in ("operator:alice", "address:192.0.2.66"):
                conn.execute(
                    sa.insert(schema.sign_in_failures).values(
                        subject=subject, failures=0, first_failed_at=now, locked_until=now
                    )
                )

        await database.write(earlier_failures)
        await database.migrate()

        def subjects(conn: sa.Connection) -> list[str]:
            return list(conn.execute(sa.select(schema.sign_in_failures.c.subject)).scalars())

        assert await database.read(subjects) == ["address:192.0.2.66"]
    finally:
        await database.dispose()


async def test_a_payment_made_before_next_actions_reads_and_refunds_as_before(
    database_url: str, scripted_runtime: RuntimeFactory
) -> None:
    """Revision 0011 adds the return URL and the next action; a payment stored before it has
    neither, and is read, shown and refunded as it was."""
    now = datetime.now(UTC)
    payment_id = uuid.uuid4()
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0010"))

        def earlier_payment(conn: sa.Connection) -> None:
            conn.execute(
                sa.insert(schema.payments).values(
                    id=payment_id,
                    client_id=payment_id,
                    currency="AED",
                    amount_minor=1000,
                    status="paid",
                    gateway="gw",
                    external_id="ext-before",
                    description="Order A-0",
                    created_at=now,
                    updated_at=now,
                )
            )

        await database.write(earlier_payment)
    finally:
        await database.dispose()

    name, script = new_script(capable=True)
    script.answer("refund", RefundResult(external_refund_id="rf-before"))
    async with scripted_runtime({"gw": name}) as runtime:  # migrates to the head
        before = (await reads.payment_history(runtime.deps, payment_id)).payment
        assert (before.return_url, before.next_action) == (None, None)
        view = msgspec.to_builtins(PaymentView.of(before))
        assert (view["return_url"], view["next_action"], view["status"]) == (None, None, "paid")
        refunded = await usecase_refunds.refund_payment(runtime.deps, payment_id)
        assert refunded.payment.status == "refunded"
        assert script.calls["refund"][0].external_id == "ext-before"


async def test_payments_made_before_captures_read_and_refund_as_before(
    database_url: str, scripted_runtime: RuntimeFactory
) -> None:
    """Revision 0012 adds the capture mode and the authorized and captured amounts: a payment
    stored before it was taken with automatic capture, and one its payer paid has its whole
    amount authorized and captured, so that it is shown and refunded as before."""
    now = datetime.now(UTC)
    paid_id, partly_id, waiting_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0011"))

        def earlier_payments(conn: sa.Connection) -> None:
            for payment_id, status, refunded in [
                (paid_id, "paid", 0),
                (partly_id, "partially_refunded", 300),
                (waiting_id, "initiated", 0),
            ]:
                conn.execute(
                    sa.insert(schema.payments).values(
                        id=payment_id,
                        client_id=payment_id,
                        currency="AED",
                        amount_minor=1000,
                        status=status,
                        gateway="gw",
                        external_id=f"ext-{status}",
                        refund_claimed_minor=refunded,
                        refunded_minor=refunded,
                        created_at=now,
                        updated_at=now,
                    )
                )

        await database.write(earlier_payments)
    finally:
        await database.dispose()

    name, script = new_script(capable=True)
    script.answer("refund", RefundResult(external_refund_id="rf-paid"))
    script.answer("refund", RefundResult(external_refund_id="rf-partly"))
    async with scripted_runtime({"gw": name}) as runtime:  # migrates to the head
        stored = {
            payment_id: (await reads.payment_history(runtime.deps, payment_id)).payment
            for payment_id in (paid_id, partly_id, waiting_id)
        }
        assert {payment.capture_mode for payment in stored.values()} == {"automatic"}
        assert [
            (p.authorized_minor, p.capture_claimed_minor, p.captured_minor, p.refundable_minor)
            for p in stored.values()
        ] == [(1000, 1000, 1000, 1000), (1000, 1000, 1000, 700), (0, 0, 0, 0)]
        view = msgspec.to_builtins(PaymentView.of(stored[partly_id]))
        assert (view["capture"], view["authorized_fractions"], view["captured_fractions"]) == (
            "automatic",
            1000,
            1000,
        )
        assert view["refundable_fractions"] == 700
        refunded = await usecase_refunds.refund_payment(runtime.deps, paid_id)
        assert (refunded.payment.status, refunded.refund.amount_minor) == ("refunded", 1000)
        rest = await usecase_refunds.refund_payment(runtime.deps, partly_id)
        assert (rest.payment.status, rest.refund.amount_minor) == ("refunded", 700)


async def test_0013_adds_the_table_of_every_process_s_breakers_and_its_downgrade_drops_it(
    database_url: str,
) -> None:
    """Revision 0013 adds ``process_breakers``, empty: processes fill it as they start. Its
    downgrade drops it, and what the processes recorded with it."""
    now = datetime.now(UTC)
    process = ProcessIdentity("web-1", 4242, now)
    report = BreakerReport(
        process=process,
        gateway="json",
        state=BreakerState.OPEN,
        since=now,
        consecutive_failures=3,
        window=WindowSnapshot(3, 3),
        reported_at=now,
    )

    def tables(conn: sa.Connection) -> set[str]:
        return set(sa.inspect(conn).get_table_names())

    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0012"))
        assert "process_breakers" not in await database.read(tables)

        assert (await database.migrate())[0].revision == "0013"
        assert await database.read(lambda conn: process_breakers.heard_since(conn, now)) == []
        await database.write(lambda conn: process_breakers.record(conn, [report]))
        assert await database.read(lambda conn: process_breakers.heard_since(conn, now)) == [report]

        await database.write(_migrate_to("0012"))
        assert "process_breakers" not in await database.read(tables)
    finally:
        await database.dispose()


async def test_0014_indexes_when_attempts_finished_and_its_downgrade_drops_the_index(
    database_url: str,
) -> None:
    """Revision 0014 lets each process read only the attempts that finished since its last
    read (routing's learned scores)."""

    def indexes(conn: sa.Connection) -> set[str]:
        return {str(index["name"]) for index in sa.inspect(conn).get_indexes("payment_attempts")}

    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0013"))
        assert "ix_payment_attempts_finished_at" not in await database.read(indexes)
        assert (await database.migrate())[0].revision == "0014"
        assert "ix_payment_attempts_finished_at" in await database.read(indexes)
        await database.write(_migrate_to("0013"))
        assert "ix_payment_attempts_finished_at" not in await database.read(indexes)
    finally:
        await database.dispose()


async def test_0015_indexes_webhooks_and_deliveries_and_times_deliveries_and_downgrades(
    database_url: str,
) -> None:
    """Revision 0015 serves the console's webhooks and endpoints pages; its downgrade removes
    what it added (the deliveries' timings with it)."""

    def shape(conn: sa.Connection) -> tuple[set[str], set[str]]:
        inspector = sa.inspect(conn)
        indexes = {
            str(index["name"])
            for table in ("payment_events", "notification_deliveries")
            for index in inspector.get_indexes(table)
        }
        columns = {str(c["name"]) for c in inspector.get_columns("notification_deliveries")}
        return indexes, columns

    added = {
        "ix_payment_events_received",
        "ix_notification_deliveries_endpoint_id",
        "ix_notification_deliveries_undelivered",
    }
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0014"))
        indexes, columns = await database.read(shape)
        assert not added & indexes
        assert "last_duration_ms" not in columns
        assert (await database.migrate())[0].revision == "0015"
        indexes, columns = await database.read(shape)
        assert added <= indexes
        assert "last_duration_ms" in columns
        await database.write(_migrate_to("0014"))
        indexes, columns = await database.read(shape)
        assert not added & indexes
        assert "last_duration_ms" not in columns
    finally:
        await database.dispose()


async def test_operator_actions_recorded_before_0016_are_found_by_their_operator(
    database_url: str,
) -> None:
    """Revision 0016 copies each operator action's operator from its detail into the column the
    audit filters on (the first 64 characters of a longer name given on the command line);
    other events have none."""
    now = datetime.now(UTC)
    long_name = "x" * 70
    database = Database(database_url, pool_size=0)
    try:
        await database.write(_migrate_to("0015"))

        def earlier_events(conn: sa.Connection) -> None:
            for kind, detail in [
                ("operator_action", {"operator": "alice", "action": "cancel"}),
                ("operator_action", {"operator": long_name, "action": "retry_job"}),
                ("webhook", {"operator": "not an action's"}),
                ("status_changed", None),
            ]:
                conn.execute(
                    sa.insert(schema.payment_events).values(
                        payment_id=uuid.uuid4(), kind=kind, detail=detail, created_at=now
                    )
                )

        await database.write(earlier_events)
        await database.migrate()

        def by_operator(conn: sa.Connection) -> list[tuple[str, str | None]]:
            events = schema.payment_events.c
            found = conn.execute(sa.select(events.kind, events.operator).order_by(events.id))
            return [(kind, operator) for kind, operator in found]

        assert await database.read(by_operator) == [
            ("operator_action", "alice"),
            ("operator_action", "x" * 64),
            ("webhook", None),
            ("status_changed", None),
        ]
    finally:
        await database.dispose()
