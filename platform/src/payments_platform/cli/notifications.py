"""``payments notifications``: make a signing secret, see which endpoints fail, re-deliver."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import msgspec

from payments_platform.cli.common import (
    CommandError,
    HelpFormat,
    Options,
    add_command,
    help_of,
    on_demo_database,
    settings_of,
    with_platform,
)
from payments_platform.notifications.signing import new_secret
from payments_platform.usecases import notify


def _secret(args: argparse.Namespace) -> int:
    secret = new_secret()
    print(f"Signing secret for endpoint {args.endpoint!r} (give it to the merchant too):")
    print(f"  {secret}")
    print("Add the endpoint to the config file:")
    print(f"  [notifications.endpoints.{args.endpoint}]")
    print('  url = "https://merchant.example/payments-notifications"')
    print('  merchant = "<merchant name>"')
    print(f'  secret = "{secret}"')
    return 0


def _failing(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)

    failing = with_platform(settings, notify.failing_endpoints)
    if not failing:
        print("no endpoint is failing")
        return 0
    print(f"{'endpoint':<24} {'retrying':>8} {'dead':>6}  last failure (UTC)   last error")
    for entry in failing:
        last = entry["last_failure_at"]
        when = last.strftime("%Y-%m-%d %H:%M:%S") if isinstance(last, datetime) else str(last)
        print(
            f"{entry['endpoint']!s:<24} {entry['retrying']!s:>8} {entry['dead']!s:>6}"
            f"  {when:<19}  {entry['last_error'] or ''}"
        )
    return 1 if any(entry["dead"] for entry in failing) else 0


def _redeliver(args: argparse.Namespace) -> int:
    if args.notification_id is None and args.since is None:
        raise CommandError("name a notification (evt_...) or a time range (--since, --until)")
    settings = settings_of(args)
    on_demo_database(settings)
    count = with_platform(
        settings,
        lambda deps: notify.redeliver(
            deps,
            notification_id=args.notification_id,
            since=args.since,
            until=args.until,
            endpoint=args.endpoint,
        ),
    )
    if count == 0:
        print("no dead delivery matches: nothing to deliver again", file=sys.stderr)
        return 1
    print(f"{count} dead deliver{'y' if count == 1 else 'ies'} will be delivered again")
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = msgspec.convert(text, datetime, strict=True)
    except msgspec.ValidationError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``notifications secret``, ``failing`` and ``redeliver``."""
    group = add_command(
        commands,
        "notifications",
        "notify merchants: secrets, failures, re-delivery",
        """\
Merchant notifications: every status a payment or refund reaches is posted,
signed (Standard Webhooks), to the merchant's endpoints in [notifications],
and retried for at least a day before it is kept as dead.""",
        parents=[options.logging],
    )
    group.set_defaults(run=help_of(group))
    sub = group.add_subparsers(title="commands", metavar="COMMAND")
    secret = sub.add_parser(
        "secret",
        parents=[options.logging],
        formatter_class=HelpFormat,
        help="make a signing secret and print the endpoint's config entry",
        description="Make a signing secret (whsec_...) for a merchant's endpoint and print the"
        " config entry to add. Nothing is stored.",
    )
    secret.add_argument("--endpoint", required=True, metavar="NAME", help="the endpoint's name")
    secret.set_defaults(run=_secret)
    failing = sub.add_parser(
        "failing",
        parents=[options.configured],
        help="list endpoints whose deliveries fail",
        description="List the endpoints with deliveries that failed and are not delivered:"
        " how many are still retried, how many are dead, and the last error. Exits 1 when any"
        " delivery is dead.",
    )
    failing.set_defaults(run=_failing)
    redeliver = sub.add_parser(
        "redeliver",
        parents=[options.configured],
        formatter_class=HelpFormat,
        help="deliver dead notifications again",
        description="Deliver dead notifications again, from a fresh set of attempts: one"
        " notification by its id, or all of those created in a time range (of one endpoint).",
    )
    redeliver.add_argument(
        "notification_id", nargs="?", metavar="ID", help="a notification's id (evt_...)"
    )
    redeliver.add_argument("--since", type=_moment, help="created at or after (RFC 3339)")
    redeliver.add_argument("--until", type=_moment, help="created before (RFC 3339)")
    redeliver.add_argument("--endpoint", metavar="NAME", help="only deliveries to this endpoint")
    redeliver.set_defaults(run=_redeliver)
