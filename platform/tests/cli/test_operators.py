"""``payments operators new`` prints an account's config entry: a hash that checks the password
it was made for, and never stores anything.

The command runs in this process, as its parser dispatches it (without ``main``, which would
point the whole process's logging at this test's captured stderr)."""

from __future__ import annotations

import io
import re
import tomllib

import pytest
from payments_platform.cli import parser
from payments_platform.cli.common import CommandError
from payments_platform.operators import PasswordHash


def _run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *arguments: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run ``payments operators new ARGUMENTS`` with ``stdin``: status, stdout, stderr."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    args = parser().parse_args(["operators", "new", *arguments])
    code: int = args.run(args)
    out, err = capsys.readouterr()
    return code, out, err


def _entry(stdout: str) -> tuple[str, PasswordHash]:
    table = stdout.split("Add the account to the config file:\n")[1]
    parsed = tomllib.loads("\n".join(line.strip() for line in table.splitlines()))
    [(name, account)] = parsed["console"]["operators"].items()
    return name, PasswordHash.parse(account["password_hash"])


def test_a_new_operator_gets_a_password_shown_once_and_its_hash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _run(capsys, monkeypatch, "--name", "alice")

    assert code == 0
    password = re.search(r"give it to the operator\):\n  (\S+)\n", out)
    assert password is not None, out
    name, hashed = _entry(out)
    assert name == "alice"
    assert hashed.matches(password[1])
    assert not hashed.matches(password[1] + "x")


def test_a_chosen_password_is_read_from_stdin_and_not_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = "correct horse battery staple"

    code, out, _ = _run(
        capsys, monkeypatch, "--name", "bob", "--password-stdin", stdin=chosen + "\n"
    )

    assert code == 0
    assert chosen not in out
    assert _entry(out)[1].matches(chosen)


def test_a_short_chosen_password_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError, match="use at least 12"):
        _run(capsys, monkeypatch, "--name", "bob", "--password-stdin", stdin="hunter2\n")

    assert "password_hash" not in capsys.readouterr().out


def test_an_operator_name_is_one_the_config_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        _run(capsys, monkeypatch, "--name", "Alice Smith")

    assert exited.value.code == 2
    assert "use 1-40 of a-z, 0-9, '-', '_'" in capsys.readouterr().err
