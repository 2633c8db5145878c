"""``payments operators new``: an operator account for the console, as a config entry;
``payments operators sign-out``: end an operator's console sessions."""

from __future__ import annotations

import argparse
import sys

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
from payments_platform.operators import (
    MIN_PASSWORD_LENGTH,
    OPERATOR_NAME,
    hash_password,
    new_password,
)
from payments_platform.usecases.operator_sign_in import end_sessions


def _new_operator(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise CommandError(
                f"the password read from stdin has {len(password)} characters: use at least"
                f" {MIN_PASSWORD_LENGTH}, or leave --password-stdin out to have one made"
            )
    else:
        password = new_password()
        print(f"Password for operator {args.name!r} (shown once; give it to the operator):")
        print(f"  {password}")
    print("Add the account to the config file:")
    print(f"  [console.operators.{args.name}]")
    print(f'  password_hash = "{hash_password(password)}"')
    return 0


def _sign_out(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)
    name: str = args.name

    ended = with_platform(settings, lambda deps: end_sessions(deps, name))
    if not ended:
        print(f"operator {name!r} has no console sessions: nothing to end", file=sys.stderr)
        return 1
    print(f"ended {ended} console session{'' if ended == 1 else 's'} of operator {name!r}")
    return 0


def _operator_name(text: str) -> str:
    if not OPERATOR_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError("use 1-40 of a-z, 0-9, '-', '_'")
    return text


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``operators new`` and ``operators sign-out``."""
    operators = add_command(
        commands,
        "operators",
        "console operators: make accounts, end sessions",
        "Operator accounts of the console at /console, and their sessions. A password is"
        " shown once at most; the config file keeps only its scrypt hash.",
        parents=[options.configured],
    )
    operators.set_defaults(run=help_of(operators))
    operators_commands = operators.add_subparsers(title="commands", metavar="COMMAND")
    new = operators_commands.add_parser(
        "new",
        parents=[options.logging],
        help="make an account and print its config entry",
        description="Make an operator account: print a new random password, to give to the"
        " operator, and the [console.operators.NAME] password_hash line to add to the config"
        " file. With --password-stdin, hash the password read from the first line of stdin"
        f" (at least {MIN_PASSWORD_LENGTH} characters) instead and print only the entry."
        " Nothing is stored.",
    )
    new.add_argument(
        "--name",
        required=True,
        type=_operator_name,
        metavar="NAME",
        help="the operator's name, as they sign in: 1-40 of a-z, 0-9, '-', '_'",
    )
    new.add_argument(
        "--password-stdin",
        action="store_true",
        help="hash the password on the first line of stdin instead of making one",
    )
    new.set_defaults(run=_new_operator)

    sign_out = operators_commands.add_parser(
        "sign-out",
        parents=[options.configured],
        help="end an operator's console sessions",
        formatter_class=HelpFormat,
        description="""\
End every console session of operator NAME, in the database every process of
the deployment shares: each server refuses the session's cookie from its next
request on, and the operator has to sign in again. Prints how many sessions
were ended; exits with status 1 when there were none.

Removing an operator from the config, or giving it a new password hash, ends
its sessions too once the servers restart; this ends them at once, also those
of an operator already removed.""",
    )
    sign_out.add_argument(
        "--name",
        required=True,
        type=_operator_name,
        metavar="NAME",
        help="the operator whose sessions to end",
    )
    sign_out.set_defaults(run=_sign_out)
