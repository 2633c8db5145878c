"""A plugin written by ``payments plugin new`` installs beside the platform in a fresh
environment, passes its own tests (the conformance kit), and takes payments.

This is what a vendor does, from the scaffold to a refund: it builds real wheels of the contract,
the platform and the new plugin from their folders, installs them into a new virtual
environment (dependencies from the package registry, pinned as in requirements/dev.txt), runs the
plugin's tests there, and routes a payment through it in a ``payments serve`` of that
environment.
"""

from __future__ import annotations

import asyncio
import os
import shlex
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
from payments_plugins.testing.payer import PayerJourney, walk_payment_page

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


def run(
    command: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = clean_environment() | (env or {})
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


NEW_PLUGIN = ("payments", "plugin", "new", "acme")
CURRENCIES = ("--currency", "EUR", "--currency", "JPY", "--currency", "KWD")
"""A currency of each exponent: 2, 0 and 3 decimals."""


def uv_install(python: Path, constraints: Path) -> list[str]:
    """``uv pip install`` into the environment of ``python``, pinned by ``constraints``."""
    return [uv(), "pip", "install", "-q", "-p", str(python), "-c", str(constraints)]


def pinned(tmp_path: Path) -> Path:
    """A constraints file of the versions requirements/dev.txt pins, for the installers."""
    constraints = tmp_path / "constraints.txt"
    pins = (ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8").splitlines()
    constraints.write_text(
        "\n".join(line for line in pins if line and not line.startswith(("-e", " ", "#"))),
        encoding="utf-8",
    )
    return constraints


async def pay_on(page: str) -> PayerJourney:
    """A payer pressing Pay on the vendor's page."""
    async with httpx.AsyncClient(timeout=10) as payer:
        return await walk_payment_page(payer, page)


def next_steps(printed: str) -> list[list[str]]:
    """The commands ``payments plugin new`` tells the vendor to run next, comments left out."""
    lines = printed.split("next", 1)[1].splitlines()[1:]
    return [shlex.split(line, comments=True) for line in lines if line.startswith("  ")]


def test_a_scaffolded_plugin_installs_passes_its_kit_and_takes_a_payment(tmp_path: Path) -> None:
    """The vendor's first hour, following what `payments plugin new` prints word for word:
    the plugin's own environment gets the contract and its kit from `payments plugin sdk`
    (issue 19, finding 3.1: it was to come "from your package index", which has none), and
    the kit pays and refunds in a currency of each exponent, 0, 2 and 3 (finding 2.2)."""
    # The platform's commands first on the PATH, as where it is installed.
    tools = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    created = run(
        [*NEW_PLUGIN, "--directory", str(tmp_path), *CURRENCIES],
        tmp_path,
        env=tools,
    )
    plugin = tmp_path / "payments-plugin-acme"
    steps = next_steps(created.stdout)
    assert steps == [
        ["cd", str(plugin)],
        ["python3", "-m", "venv", ".venv"],
        ["payments", "plugin", "sdk", "--into", ".venv"],
        [".venv/bin/pip", "install", "-e", ".[test]"],
        [".venv/bin/pytest"],
    ]
    # pip takes the versions requirements/dev.txt pins from its registry.
    constraints = pinned(tmp_path)
    environment = tools | {"PIP_CONSTRAINT": str(constraints)}
    for step in steps[1:-1]:
        run(step, plugin, env=environment)
    tested = run([*steps[-1], "-q", "-p", "no:cacheprovider"], plugin, env=environment)
    assert "gateway type 'acme'): 41 checks selected" in tested.stdout
    assert " failed" not in tested.stdout

    # The operator's side: the platform installed beside the plugin.
    venv = plugin / ".venv"
    run(
        [*uv_install(venv / "bin" / "python", constraints), str(ROOT / "platform")],
        tmp_path,
    )
    listed = run([str(venv / "bin" / "payments"), "plugins"], tmp_path)
    assert "acme  (payments-plugin-acme 0.1.0)" in listed.stdout
    assert "gateway type acme: EUR, JPY, KWD  [simulator]" in listed.stdout

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
            # The payer pays on the vendor's page; its simulator then posts the vendor's signed
            # webhook to the platform.
            page = f"{server.base_url}/simulators/acme/pay/{external_id}"
            journey = asyncio.run(pay_on(page))
            assert journey.end == page  # no return URL: the page says it is done
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


KIT_PROBE = """
import importlib.metadata

from payments_plugins.testing import ConformanceTarget, GatewayConformance

assert importlib.metadata.version("payments-plugins") == {version!r}
assert "payments" in {{e.name for e in importlib.metadata.entry_points(group="pytest11")}}
print("the kit imports")
"""


def test_the_sdk_wheel_installs_into_a_fresh_environment_and_makes_itself_again(
    tmp_path: Path,
) -> None:
    """Issue 19, finding 3.1: from the installed platform alone (here with the contract
    installed editable, as requirements/service.txt installs it), `payments plugin sdk`
    writes a wheel that installs into a fresh environment, where the kit imports; there, with
    the contract installed from that wheel, it writes the very same wheel again."""
    tools = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    wheels = tmp_path / "wheels"
    run(["payments", "plugin", "sdk", "--wheel-dir", str(wheels)], tmp_path, env=tools)
    [wheel] = wheels.iterdir()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run([uv(), "venv", "-q", str(venv), "-p", sys.executable], tmp_path)
    run(
        [*uv_install(python, pinned(tmp_path)), f"{wheel}[testing]"],
        tmp_path,
    )
    probed = run([str(python), "-c", KIT_PROBE.format(version=CONTRACT_VERSION)], tmp_path)
    assert probed.stdout == "the kit imports\n"
    again = tmp_path / "again"
    run([str(python), "-m", "payments_plugins.sdk", "--wheel-dir", str(again)], tmp_path)
    assert (again / wheel.name).read_bytes() == wheel.read_bytes()


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
