"""Run the real ``payments`` processes (``serve``, ``worker``, ``simulate``) for end-to-end
tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from payments_plugins.testing.asgi_server import free_port

STARTUP_SECONDS = 30.0


class ServerProcess:
    """A running ``payments serve`` (or ``simulate``) and where to reach it."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def payments_serve(
    workdir: Path,
    *,
    config: Path | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
    host: str | None = "127.0.0.1",
) -> Iterator[ServerProcess]:
    """Start ``payments serve [options]`` in ``workdir``, wait until it answers, stop it with
    SIGTERM. ``host`` None leaves ``--host`` out: the config (or profile) says."""
    port = port or free_port()
    arguments = ["serve", "--port", str(port), *options]
    if host is not None:
        arguments += ["--host", host]
    if config is not None:
        arguments += ["--config", str(config)]
    with _payments_process(workdir, arguments, port, "/health", env) as server:
        yield server


@contextlib.contextmanager
def payments_simulate(
    workdir: Path, config: Path, *arguments: str, port: int | None = None
) -> Iterator[ServerProcess]:
    """Start ``payments simulate`` for ``config``, wait until it answers, stop it."""
    port = port or free_port()
    command = ["simulate", "--config", str(config), "--port", str(port), *arguments]
    with _payments_process(workdir, command, port, "/", None) as simulators:
        yield simulators


@contextlib.contextmanager
def _payments_process(
    workdir: Path,
    arguments: list[str],
    port: int,
    ready_path: str,
    env: dict[str, str] | None,
) -> Iterator[ServerProcess]:
    command = [sys.executable, "-m", "payments_platform.cli", *arguments]
    log = workdir / f"{arguments[0]}-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=command_environment(env),
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_answering(server, ready_path, f"payments {arguments[0]}")
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def payments_worker(
    workdir: Path, config: Path | None, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Start ``payments worker`` for ``config`` (None: the demo profile, in ``workdir``), wait
    until its workers run, stop it."""
    command = [sys.executable, "-m", "payments_platform.cli", "worker"]
    if config is not None:
        command += ["--config", str(config)]
    log = workdir / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=command_environment(env),
        )
    worker = ServerProcess(process, "", log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while worker.output().count("started") < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"payments worker did not start:\n{worker.output()}")
            time.sleep(0.05)
        yield worker
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_answering(server: ServerProcess, path: str, name: str) -> None:
    """Wait until ``server`` answers ``GET path`` with 200; fail with its output if it exits."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{server.output()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not answer:\n{server.output()}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _toml_tables(prefix: str, table: Mapping[str, Any], header: str | None = None) -> list[str]:
    lines = [header or f"[{prefix}]"] if prefix else []
    nested: list[str] = []
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            nested += _toml_tables(name, value)
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            # An array of tables (``[[routing.rules]]``): each entry, then its own tables.
            for item in value:
                nested += _toml_tables(name, item, header=f"[[{name}]]")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines + nested


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write a config mapping as a TOML file (enough TOML for the platform's config)."""
    path.write_text("\n".join(_toml_tables("", config)) + "\n", encoding="utf-8")
    return path


def command_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a ``payments`` process gets: this one without its ``PAYMENTS_*``
    variables (the tests' own would be read as config overrides), plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    environment.update(env or {})
    return environment


def payments(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``payments`` command through its real entry point and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=command_environment(env),
        timeout=120,
    )


def migrate(config: Path) -> None:
    """Run ``payments migrate`` for a config file."""
    result = payments("migrate", "--config", str(config))
    assert result.returncode == 0, result.stderr
