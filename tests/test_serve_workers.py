"""``payments serve --workers N``: N server processes on one port, sharing the database."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from payments_plugins.testing.asgi_server import free_port

from . import server_process
from .conftest import Vendor
from .server_process import payments, payments_serve
from .test_races import config_for, json_gateway, payment_status, vendor_calls, wait_for


def children(pid: int) -> list[int]:
    """The server processes ``pid`` started that are alive now (multiprocessing's own resource
    tracker left out)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:
                found.append(int(child))
    return found


def test_two_workers_serve_one_port_and_the_supervisor_replaces_one_that_dies(
    tmp_path: Path,
    database_url: str,
    backend: str,
    vendor: Vendor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend == "sqlite":
        pytest.skip("several workers need PostgreSQL (SQLite is refused, tested below)")
    # Each process imports the whole platform as it starts: slow on a machine busy with tests.
    monkeypatch.setattr(server_process, "STARTUP_SECONDS", 120.0)
    config = config_for(tmp_path, database_url, {"json": json_gateway(vendor)})
    with payments_serve(tmp_path, config=config, options=["--workers", "2"]) as server:
        wait_for(lambda: len(children(server.process.pid)) == 2, "both workers have started")
        first, second = children(server.process.pid)
        paid = []
        for amount in range(1000, 1020):
            payment_id = str(uuid.uuid4())
            # A connection of its own for each request: the kernel hands them to either process.
            created = httpx.post(
                f"{server.base_url}/init-payment",
                json={"id": payment_id, "currency": "AED", "amount_fractions": amount},
            )
            assert created.status_code == 201, created.text
            paid.append(payment_id)
        assert vendor_calls(vendor)["initiate"] == len(paid)
        assert {payment_status(server, payment_id) for payment_id in paid} == {"initiated"}
        # Whichever process answers the scrape, it counts the requests both served.
        for _ in range(4):
            scraped = httpx.get(f"{server.base_url}/metrics").text
            assert (
                'payments_http_requests_total{app_name="payments",method="POST",'
                f'path="/init-payment",status_code="201"}} {float(len(paid))}' in scraped
            )
            assert (
                'payments_outcomes_total{currency="AED",gateway="json",outcome="initiated"}'
                f" {float(len(paid))}" in scraped
            )

        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: (
                len(children(server.process.pid)) == 2 and first not in children(server.process.pid)
            ),
            "the supervisor has replaced the killed worker",
            # Killed while the supervisor pinged it, a worker is found dead only when the
            # ping times out (30 s); its replacement then imports the platform.
            seconds=120,
        )
        assert second in children(server.process.pid)
        wait_for(
            lambda: httpx.get(f"{server.base_url}/health").status_code == 200,
            "the workers answer",
        )
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0


def test_several_workers_on_sqlite_are_refused_saying_why(tmp_path: Path) -> None:
    database = tmp_path / "payments.db"
    config = tmp_path / "payments.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{database}"\n\n[security]\nauth = "none"\n',
        encoding="utf-8",
    )

    port = str(free_port())
    result = payments(
        "serve", "--config", str(config), "--port", port, "--workers", "2", cwd=tmp_path
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        "payments: error: --workers above 1 needs PostgreSQL: on SQLite every write takes"
    )
    assert not database.exists()


@pytest.mark.parametrize("count", ["0", "two"])
def test_a_worker_count_below_one_or_not_a_number_is_refused(tmp_path: Path, count: str) -> None:
    result = payments("serve", "--workers", count, cwd=tmp_path)
    assert result.returncode == 2
    assert "--workers" in result.stderr
