"""The installed contract, written as a wheel for a plugin's own environment (issue 19,
finding 3.1: payments-plugins is on no package index, and the guide said "from your package
index"). Installing the wheel into a fresh environment is proven in tests/test_scaffold.py."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from payments_plugins.contract import CONTRACT_VERSION
from payments_plugins.sdk import SdkError, contract_wheel, install_into, main

INFO = f"payments_plugins-{CONTRACT_VERSION}.dist-info"


def test_the_wheel_holds_the_installed_package_and_its_own_metadata(tmp_path: Path) -> None:
    wheel = contract_wheel(tmp_path)

    assert wheel.name == f"payments_plugins-{CONTRACT_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"{INFO}/METADATA").decode()
        entry_points = archive.read(f"{INFO}/entry_points.txt").decode()
        wheel_file = archive.read(f"{INFO}/WHEEL").decode()
    # The kit, the scaffold's templates and the typing marker ship with the code; bytecode
    # does not.
    assert "payments_plugins/testing/conformance.py" in names
    assert "payments_plugins/scaffold/template/src/module/gateway.py.tmpl" in names
    assert "payments_plugins/py.typed" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    installed = importlib.metadata.distribution("payments-plugins")
    assert metadata == installed.read_text("METADATA")
    assert f"Version: {CONTRACT_VERSION}\n" in metadata
    assert "Provides-Extra: testing" in metadata
    assert "[pytest11]\npayments = payments_plugins.testing.kit" in entry_points
    assert "Root-Is-Purelib: true\nTag: py3-none-any\n" in wheel_file


def test_the_wheel_s_record_lists_every_member_with_its_hash_and_size(tmp_path: Path) -> None:
    with zipfile.ZipFile(contract_wheel(tmp_path)) as archive:
        record = archive.read(f"{INFO}/RECORD").decode().splitlines()
        members = {name: archive.read(name) for name in archive.namelist()}
    listed = {}
    for line in record:
        name, digest, size = line.split(",")
        listed[name] = (digest, size)
    assert set(listed) == set(members)
    assert listed.pop(f"{INFO}/RECORD") == ("", "")
    for name, (digest, size) in listed.items():
        data = members[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, size) == (f"sha256={expected}", str(len(data))), name


def test_the_same_installation_makes_the_same_wheel(tmp_path: Path) -> None:
    first = contract_wheel(tmp_path / "first").read_bytes()
    assert contract_wheel(tmp_path / "second").read_bytes() == first


def test_without_into_it_writes_the_wheel_and_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--wheel-dir", str(tmp_path)]) == 0
    wheel = tmp_path / f"payments_plugins-{CONTRACT_VERSION}-py3-none-any.whl"
    assert wheel.is_file()
    assert f'pip install "{wheel}[testing]"' in capsys.readouterr().out


def test_a_folder_that_is_not_a_virtual_environment_is_refused(tmp_path: Path) -> None:
    wheel = contract_wheel(tmp_path / "wheels")
    with pytest.raises(SdkError, match=r"is not a virtual environment .* python3 -m venv"):
        install_into(tmp_path / "nowhere", wheel)


def test_an_environment_without_pip_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    environment = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    wheel = contract_wheel(tmp_path / "wheels")
    with pytest.raises(SdkError, match=r"has no pip: create it with python3 -m venv"):
        install_into(environment, wheel)
