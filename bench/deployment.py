"""The deployment under test: its work folder, its config file and its schema."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench import console_facts, seeding
from bench.database import BenchDatabase
from bench.processes import BenchError, Child, child_environment, python_module
from bench.server import ECHO_PATH


def check_echo_route(server: Child) -> None:
    """Fail unless the server answers the echo route with the body it was sent (and the
    defaults of the fields it left out)."""
    body = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 1000}
    answer = httpx.post(server.base_url + ECHO_PATH, json=body, timeout=10)
    echoed = answer.json() if answer.status_code == 200 else {}
    if answer.status_code != 200 or {key: echoed.get(key) for key in body} != body:
        raise BenchError(
            f"the server does not echo on {ECHO_PATH} ({answer.status_code}): {answer.text[:300]}"
        )


def write_config(
    path: Path,
    database: BenchDatabase,
    port: int,
    vendor_url: str,
    secret: str,
    api_key: str | None,
) -> None:
    """A production-like config: one JSON gateway at the fake vendor, signed webhooks, and
    client API keys when this version of the platform has them."""
    text = f"""\
[server]
host = "127.0.0.1"
port = {port}

[database]
url = "{database.url}"

[gateways.{seeding.GATEWAY}]
type = "json"

[gateways.{seeding.GATEWAY}.settings]
base_url = "{vendor_url}"
webhook_secret = "{secret}"
"""
    if api_key is not None:
        hashed = hashlib.sha256(api_key.encode()).hexdigest()
        text += f"""
[security]
auth = "api-keys"

[security.merchants.{seeding.MERCHANT}]
key_hashes = ["sha256:{hashed}"]
"""
    path.write_text(text, encoding="utf-8")


def write_console_config(
    path: Path, database: BenchDatabase, port: int, operator: str, password_hash: str
) -> None:
    """The config of the console's bench: the gateways, merchants and notification endpoints
    :mod:`bench.console_seeding` writes the history of, and one operator. Nothing listens at
    the gateways' or the endpoints' addresses: no job falls due while pages are measured, and
    no page calls a vendor."""
    text = f"""\
[server]
host = "127.0.0.1"
port = {port}

[database]
url = "{database.url}"

[security]
auth = "api-keys"
"""
    for merchant in console_facts.MERCHANTS:
        key = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        text += f"""
[security.merchants.{merchant}]
key_hashes = ["sha256:{key}"]
"""
    for gateway, weight in zip(console_facts.GATEWAYS, (2, 1), strict=True):
        text += f"""
[gateways.{gateway}]
type = "json"
weight = {weight}

[gateways.{gateway}.settings]
base_url = "http://127.0.0.1:9"
webhook_secret = "{secrets.token_hex(16)}"
"""
    for merchant, endpoint in console_facts.ENDPOINTS.items():
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        text += f"""
[notifications.endpoints.{endpoint}]
url = "https://{endpoint}.example/payments/notify"
secret = "whsec_{secret}"
merchant = "{merchant}"
"""
    text += f"""
[console.operators.{operator}]
password_hash = "{password_hash}"
"""
    path.write_text(text, encoding="utf-8")


def migrate(config: Path, workdir: Path) -> None:
    """Run ``payments migrate`` with ``config``."""
    command = python_module("payments_platform.cli", "migrate", f"--config={config}")
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command, cwd=workdir, env=child_environment(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"payments migrate failed:\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def work_folder(keep: bool) -> Iterator[Path]:
    """A temporary folder for the run, removed at the end unless ``keep``."""
    folder = Path(tempfile.mkdtemp(prefix="payments-bench-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"work folder kept: {folder}")
        else:
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            folder.rmdir()
