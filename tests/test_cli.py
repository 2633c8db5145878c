"""The ``payments`` command behaves like the tools operators know: options wherever the help
shows them, help for every command, one clear line for every error that stops a start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from core_fixtures import OPEN
from databases import sqlite_url
from payments_platform.database import head_revision, pending_migrations
from payments_plugins.contract import CONTRACT_VERSION

from .server_process import command_environment, payments, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config file whose SQLite database, in a folder of its own, is not migrated yet."""
    (tmp_path / "data").mkdir()
    return write_config(
        tmp_path / "payments.toml",
        {"database": {"url": sqlite_url(tmp_path / "data" / "prod.db")}, "security": OPEN},
    )


@pytest.fixture
def migrated(config: Path) -> Path:
    result = payments("migrate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return config


@pytest.mark.parametrize(
    "arguments",
    [
        ["jobs", "--config", "{config}", "list"],
        ["jobs", "list", "--config", "{config}"],
        ["jobs", "--config", "{config}"],
        ["--log-level", "warning", "jobs", "--config", "{config}", "list", "--all"],
        ["jobs", "--config", "{config}", "list", "--log-level", "warning"],
    ],
)
def test_options_are_taken_wherever_the_help_shows_them(
    migrated: Path, tmp_path: Path, arguments: list[str]
) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    result = payments(*(a.format(config=migrated) for a in arguments), cwd=workdir)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "no jobs\n"
    assert "demo profile" not in result.stderr
    assert list(workdir.iterdir()) == []


def test_a_command_on_the_demo_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    result = payments("jobs", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "payments: no --config or $PAYMENTS_CONFIG: using the demo profile and its database"
        f" {tmp_path / 'payments.db'}",
        f"payments: error: database file {tmp_path / 'payments.db'} does not exist:"
        " run `payments migrate` to create it",
    ]
    assert list(tmp_path.iterdir()) == []


def test_version_names_the_release_and_its_plugin_contract() -> None:
    """Issue 19, finding 3.2: a vendor could not tell which contract the platform implements."""
    result = payments("--version")

    assert result.returncode == 0
    assert result.stdout == (
        f"payments {version('payments-platform')}, plugin contract {CONTRACT_VERSION}\n"
    )


def test_the_top_level_help_lists_every_command_in_plain_text() -> None:
    result = payments("--help")

    assert result.returncode == 0
    assert "``" not in result.stdout
    commands = [
        "serve",
        "worker",
        "migrate",
        "jobs",
        "keys",
        "operators",
        "plugins",
        "plugin",
        "config",
        "routing",
        "simulate",
        "notifications",
    ]
    listed = [line.split()[0] for line in result.stdout.split("commands:\n")[1].splitlines()]
    assert sorted(listed) == sorted(commands)


@pytest.mark.parametrize(
    ("group", "command"),
    [("keys", "new"), ("operators", "new"), ("config", "check"), ("routing", "explain")],
)
def test_a_command_group_without_its_command_prints_its_help(group: str, command: str) -> None:
    result = payments(group)

    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: payments {group}")
    assert f"  {command} " in result.stderr


@pytest.mark.parametrize(
    ("arguments", "env", "warned"),
    [
        ([], {}, True),
        (["--log-level", "error"], {}, False),
        ([], {"PAYMENTS_LOG_LEVEL": "error"}, False),
        (["--log-level", "warning"], {"PAYMENTS_LOG_LEVEL": "error"}, True),
    ],
)
def test_the_log_level_is_chosen_by_option_or_environment(
    tmp_path: Path, arguments: list[str], env: dict[str, str], warned: bool
) -> None:
    # The demo's JSON gateway accepts unsigned webhooks, which is logged as a warning.
    result = payments(*arguments, "config", "check", "--offline", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert ("accepts unsigned webhooks" in result.stderr) is warned


def test_an_unknown_log_level_lists_the_valid_ones(tmp_path: Path) -> None:
    result = payments("plugins", env={"PAYMENTS_LOG_LEVEL": "loud"})

    assert result.returncode == 2
    assert result.stderr == (
        "payments: error: PAYMENTS_LOG_LEVEL='loud' is not a log level:"
        " use one of debug, info, warning, error\n"
    )


def test_retrying_a_job_that_does_not_exist_says_so(migrated: Path) -> None:
    result = payments("jobs", "retry", "999", "--config", str(migrated))

    assert result.returncode == 1
    assert result.stderr == "there is no job 999 (`payments jobs --all` lists them)\n"


def test_migrate_reports_the_revisions_it_applies_and_can_show_them_first(config: Path) -> None:
    everything = pending_migrations(None)
    url = f"sqlite+pysqlite:///{config.parent / 'data' / 'prod.db'}"

    status = payments("migrate", "--status", "--config", str(config))
    applied = payments("migrate", "--config", str(config))
    again = payments("migrate", "--config", str(config))
    after = payments("migrate", "--status", "--config", str(config))

    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines() == [
        f"database {url} is at schema revision none",
        f"`payments migrate` would apply, to reach revision {head_revision()}:",
        *(f"  {m.revision}: {m.description}" for m in everything),
    ]
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        *(f"applied {m.revision}: {m.description}" for m in everything),
        f"database {url} is at schema revision {head_revision()}, the one this version needs",
    ]
    assert applied.stderr == ""
    assert again.stdout.splitlines() == applied.stdout.splitlines()[-1:]
    assert after.stdout.splitlines() == [
        f"database {url} is at schema revision {head_revision()}",
        f"nothing to apply: this version needs revision {head_revision()}",
    ]


def test_a_port_in_use_stops_serve_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = payments("serve", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"payments: error: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (choose another port with --port or [server] port)"
    )
    # The demo profile would have created and migrated its database, then started a worker.
    assert list(tmp_path.iterdir()) == []


def test_config_check_checks_the_database_a_start_would_use(config: Path) -> None:
    unmigrated = payments("config", "check", "--config", str(config))
    offline = payments("config", "check", "--offline", "--config", str(config))
    payments("migrate", "--config", str(config))
    migrated = payments("config", "check", "--config", str(config))

    assert unmigrated.returncode == 2
    assert unmigrated.stderr == (
        f"payments: error: database file {config.parent / 'data' / 'prod.db'} does not exist:"
        " run `payments migrate` to create it\n"
    )
    assert offline.returncode == 0, offline.stderr
    assert "(not checked: --offline)" in offline.stdout
    assert migrated.returncode == 0, migrated.stderr
    assert f"(reachable, schema revision {head_revision()})" in migrated.stdout


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            "",
            {"PAYMENTS_DATABSE__URL": "sqlite:///x.db"},
            "PAYMENTS_DATABSE__URL: unknown field `databse` (did you mean `database`?)"
            " - at `databse`",
        ),
        (
            "[routing]\nstrategy = 'weigthed'\n",
            {},
            "invalid value 'weigthed' (did you mean 'weighted'?): choose one of 'adaptive',"
            " 'weighted', 'priority' - at `routing.strategy`",
        ),
        (
            "[gateways.acme]\ntype = 'json'\n[gateways.acme.settings]\nbase_url = 'http://x'\n",
            {"PAYMENTS_GATEWAYS__ACME__SETTINGS__WEBHOOK_SECRT": "whsec_x"},
            "PAYMENTS_GATEWAYS__ACME__SETTINGS__WEBHOOK_SECRT: unknown field `webhook_secrt`"
            " (did you mean `webhook_secret`?) - at `gateways.acme.settings.webhook_secrt`",
        ),
    ],
)
def test_config_errors_name_the_variable_and_what_would_do(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "payments.toml"
    config.write_text(text + '[security]\nauth = "none"\n', encoding="utf-8")

    result = payments("config", "check", "--offline", "--config", str(config), env=env)

    assert result.returncode == 2
    assert result.stderr == f"payments: error: {message}\n"


def test_a_reader_that_left_is_no_error(tmp_path: Path) -> None:
    """``payments plugins | head -1``: the command stops quietly when its reader has gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before a line is written
    try:
        command = subprocess.run(
            [sys.executable, "-m", "payments_platform.cli", "plugins"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=tmp_path,
            env=command_environment(None),
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert command.stderr == ""
    assert command.returncode == 141


def routing_config(tmp_path: Path) -> Path:
    """Two EUR gateways, and a rule sending large EUR payments to the second first; a second
    rule the first hides, and one naming a currency its gateway does not take."""
    gateway = {"type": "testgw", "settings": {"token": "webhook-token"}}
    rules = [
        {
            "name": "eur-large",
            "match": {"currencies": ["EUR"], "amount_min": 100_000},
            "gateways": ["eu-big"],
        },
        {
            "name": "eur-larger",
            "match": {"currencies": ["EUR"], "amount_min": 500_000},
            "gateways": ["eu-main"],
        },
        {"name": "usd", "match": {"currencies": ["USD"]}, "split": {"eu-main": 100}},
    ]
    return write_config(
        tmp_path / "payments.toml",
        {
            "database": {"url": sqlite_url(tmp_path / "never-created.db")},
            "security": OPEN,
            "routing": {"strategy": "priority", "rules": rules},
            "gateways": {"eu-main": gateway, "eu-big": gateway},
        },
    )


def test_routing_explain_shows_where_a_sample_payment_would_go_without_making_it(
    tmp_path: Path,
) -> None:
    config = routing_config(tmp_path)

    result = payments(
        "routing", "explain", "--config", str(config), "--currency", "eur", "--amount", "120000"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:5] == [
        "payment: 1200.00 EUR (120000 minor units), capture automatic, merchant (none),"
        " metadata (none)",
        "rule: eur-large (routing.rules[0]): EUR, amount >= 100000 -> eu-big; then the"
        " strategy's order",
        "candidates, in the order they would be tried (priority strategy):",
        "  1. eu-big   rule eur-large: its gateway 1 of 1, breaker closed",
        "  2. eu-main  rule eur-large: fallback, priority 1 in config order, breaker closed",
    ]
    assert not (tmp_path / "never-created.db").exists()


def test_routing_explain_explains_itself_and_refuses_a_sample_it_cannot_take(
    tmp_path: Path,
) -> None:
    helped = payments("routing", "explain", "--help")
    refused = payments("routing", "explain", "--currency", "EURO", "--amount", "5")
    negative = payments("routing", "explain", "--currency", "EUR", "--amount", "-5")

    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: payments routing explain")
    for option in ("--currency", "--amount MINOR", "--capture", "--merchant", "--metadata"):
        assert option in helped.stdout
    assert "making no payment" in helped.stdout
    assert refused.returncode == 2
    assert "'EURO' is not an ISO 4217 currency code" in refused.stderr
    assert negative.returncode == 2
    assert "'-5' is not an amount in minor units (0 or more)" in negative.stderr


def test_config_check_lists_the_rules_and_warns_of_those_that_can_never_work(
    tmp_path: Path,
) -> None:
    result = payments("config", "check", "--offline", "--config", str(routing_config(tmp_path)))

    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("  routing: priority\n")[1].splitlines()
    assert listed[2:8] == [
        "  rule eur-large: EUR, amount >= 100000 -> eu-big; then the strategy's order",
        "  rule eur-larger: EUR, amount >= 500000 -> eu-main; then the strategy's order",
        "  rule usd: USD -> split eu-main 100%; then the strategy's order",
        "  routing rules to review:",
        "    rule eur-larger never matches: rule eur-large before it matches every payment it"
        " would",
        "    rule usd never sends a payment to its gateways: none of eu-main takes USD",
    ]
