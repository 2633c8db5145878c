"""What the scaffold tells a vendor to do next gets the contract and its kit from the installed
contract, not from a package index that has none (issue 19, finding 3.1)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from payments_plugins import scaffold
from payments_plugins.contract import CONTRACT_VERSION


def _arguments(directory: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scaffold.add_arguments(parser)
    return parser.parse_args(["acme", "--directory", str(directory)])


def test_the_next_steps_install_the_contract_with_the_sdk_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scaffold.run(_arguments(tmp_path)) == 0
    printed = capsys.readouterr().out
    assert f"with the plugin contract {CONTRACT_VERSION} and its conformance kit" in printed
    assert "  python -m payments_plugins.sdk --into .venv\n" in printed
    assert "package index" not in printed


def test_the_platform_names_its_own_sdk_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scaffold.run(_arguments(tmp_path), sdk_command="payments plugin sdk") == 0
    assert "  payments plugin sdk --into .venv\n" in capsys.readouterr().out


def test_the_plugin_s_readme_installs_the_contract_with_the_sdk_command(tmp_path: Path) -> None:
    readme = (scaffold.new_plugin("acme", tmp_path) / "README.md").read_text(encoding="utf-8")
    assert "payments plugin sdk --into .venv" in readme
    assert "python -m payments_plugins.sdk" in readme
    assert "from your package index" not in readme
