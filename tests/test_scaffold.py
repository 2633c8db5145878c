"""A plugin written by ``payments plugin new`` installs beside the platform in a fresh
environment, passes its own tests (the conformance kit), and takes payments.

This is what a vendor does, from the scaffold to a refund: it builds real wheels of the contract,
the platform and the new plugin from their folders, installs them into a new virtual
environment (dependencies from the package registry, pinned as in requirements/dev.txt), runs the
plugin's tests there, and routes a payment through it in a ``payments serve`` of that
environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from payments_plugins.contract import CONTRACT_VERSION
from payments_plugins.testing.asgi_server import free_port

from .server_process import ServerProcess, wait_until_answering, write_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.scaffold


def clean_environment() -> dict[str, str]:
    """This process's environment without what would reach into it from the new one."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAYMENTS_", "PYTEST_"))
    }
    environment.pop("VIRTUAL_ENV", None)
    return environment


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = clean_environment()
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, f"{command}:\n{completed.stdout}\n{completed.stderr}"
    return completed


def uv() -> str:
    found = shutil.which(
        "uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    assert found, "uv is part of the dev dependencies"
    return found


def test_a_scaffolded_plugin_installs_passes_its_kit_and_takes_a_payment(tmp_path: Path) -> None:
    run(
        [
            sys.executable,
            "-m",
            "payments_platform.cli",
            "plugin",
            "new",
            "acme",
            "--directory",
            str(tmp_path),
            "--currency",
            "EUR",
            "--currency",
            "GBP",
        ],
        tmp_path,
    )
    plugin = tmp_path / "payments-plugin-acme"
    constraints = tmp_path / "constraints.txt"
    pins = (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines()
    constraints.write_text(
        "\n".join(line for line in pins if line and not line.startswith(("-e", " ", "#"))),
        encoding="utf-8",
    )
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run([uv(), "venv", "-q", str(venv), "-p", sys.executable], tmp_path)
    run(
        [
            uv(),
            "pip",
            "install",
            "-q",
            "-p",
            str(python),
            "-c",
            str(constraints),
            f"{ROOT / 'plugins'}[testing]",
            str(ROOT / "platform"),
            f"{plugin}[test]",
        ],
        tmp_path,
    )

    tested = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], plugin)
    assert "gateway type 'acme'): 22 checks selected" in tested.stdout

    listed = run([str(venv / "bin" / "payments"), "plugins"], tmp_path)
    assert "acme  (payments-plugin-acme 0.1.0)" in listed.stdout
    assert "gateway type acme: EUR, GBP  [simulator]" in listed.stdout

    port = free_port()
    config = write_config(
        tmp_path / "payments.toml",
        {
            "server": {"host": "127.0.0.1", "port": port},
            "database": {"url": f"sqlite:///{tmp_path / 'payments.db'}", "migrate_on_start": True},
            "security": {"auth": "none"},
            "gateways": {
                "acme": {
                    "type": "acme",
                    "settings": {"api_key": "k-123", "webhook_secret": "whsec_scaffold_test1"},
                    "simulator": {"payer_pays_at_once": False},
                }
            },
        },
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(venv / "bin" / "payments"), "serve", "--config", str(config)],
            cwd=tmp_path,
            env=clean_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_answering(server, "/health", "payments serve")
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            payment_id = str(uuid.uuid4())
            started = client.post(
                "/init-payment",
                json={"id": payment_id, "currency": "EUR", "amount_fractions": 1250},
            )
            assert started.status_code == 201, started.text
            assert started.json()["gateway"] == "acme"
            assert started.json()["amount"] == "12.50 EUR"
            external_id = started.json()["external_id"]
            # The vendor's signed webhook, posted by its simulator to the platform.
            moved = client.post(
                f"/simulators/acme/_simulator/payments/{external_id}/status",
                json={"status": "paid"},
            )
            assert moved.json()["webhook"]["status_code"] == 200, moved.text
            assert client.get(f"/payments/{payment_id}").json()["payment"]["status"] == "paid"
            refund = client.post("/refund", json={"id": payment_id})
            assert refund.status_code in (200, 201), refund.text
            assert refund.json()["payment"]["status"] == "refunded"
            forged = client.post(
                "/external/acme-webhook", json={"payment_id": external_id, "status": "failed"}
            )
            assert forged.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_contract_builds_as_a_wheel_and_an_sdist_of_its_contract_version(
    tmp_path: Path,
) -> None:
    run([uv(), "build", "-q", "--out-dir", str(tmp_path), str(ROOT / "plugins")], tmp_path)
    version = CONTRACT_VERSION
    built = sorted(path.name for path in tmp_path.iterdir() if path.suffix in (".whl", ".gz"))
    assert built == [
        f"payments_plugins-{version}-py3-none-any.whl",
        f"payments_plugins-{version}.tar.gz",
    ]
    with zipfile.ZipFile(tmp_path / built[0]) as wheel:
        names = wheel.namelist()
    # The scaffold's templates and the typing marker ship with the code.
    assert "payments_plugins/scaffold/template/src/module/gateway.py.tmpl" in names
    assert "payments_plugins/py.typed" in names
    with tarfile.open(tmp_path / built[1]) as sdist:
        members = sdist.getnames()
    assert f"payments_plugins-{version}/CHANGELOG.md" in members
