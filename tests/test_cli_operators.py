"""``payments operators new`` prints an account's config entry: a hash that checks the password
it was made for, and never stores anything."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from payments_platform.operators import PasswordHash

from .server_process import command_environment, payments


def _entry(stdout: str) -> tuple[str, PasswordHash]:
    table = stdout.split("Add the account to the config file:\n")[1]
    parsed = tomllib.loads("\n".join(line.strip() for line in table.splitlines()))
    [(name, account)] = parsed["console"]["operators"].items()
    return name, PasswordHash.parse(account["password_hash"])


def test_a_new_operator_gets_a_password_shown_once_and_its_hash() -> None:
    result = payments("operators", "new", "--name", "alice")

    assert result.returncode == 0, result.stderr
    password = re.search(r"give it to the operator\):\n  (\S+)\n", result.stdout)
    assert password is not None, result.stdout
    name, hashed = _entry(result.stdout)
    assert name == "alice"
    assert hashed.matches(password[1])
    assert not hashed.matches(password[1] + "x")


def test_a_chosen_password_is_read_from_stdin_and_not_printed() -> None:
    chosen = "correct horse battery staple"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "payments_platform.cli",
            "operators",
            "new",
            "--name",
            "bob",
            "--password-stdin",
        ],
        input=chosen + "\n",
        capture_output=True,
        text=True,
        check=False,
        env=command_environment(),
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert chosen not in result.stdout
    assert _entry(result.stdout)[1].matches(chosen)


def test_a_short_chosen_password_is_refused() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "payments_platform.cli",
            "operators",
            "new",
            "--name",
            "bob",
            "--password-stdin",
        ],
        input="hunter2\n",
        capture_output=True,
        text=True,
        check=False,
        env=command_environment(),
        timeout=60,
    )

    assert result.returncode == 2
    assert "use at least 12" in result.stderr
    assert "password_hash" not in result.stdout


def test_an_operator_name_is_one_the_config_accepts() -> None:
    result = payments("operators", "new", "--name", "Alice Smith")

    assert result.returncode == 2
    assert "use 1-40 of a-z, 0-9, '-', '_'" in result.stderr
