"""Which chromium the browser tests drive (``-m browser``; the fixture is in ``conftest.py``).

In this order: Debian's chromium (``apt-get install chromium``, as ``.ci/run`` does); the one
Playwright installed; the one ``playwright install chromium`` installs now, if it can within
:data:`INSTALL_SECONDS` (it downloads, so only where the internet is reachable). With none, the
tests are skipped with one line saying what to install, except in CI (``CI=true``), where
they fail: a browser CI lost must not turn into tests that pass unseen.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

INSTALL_SECONDS = 120.0
"""How long Playwright's own download may take: a cold download of chromium on a good line
takes well under this; a line that cannot reach it fails in seconds, or hangs."""
INSTALL_COMMAND = (sys.executable, "-m", "playwright", "install", "chromium")
MAX_SAID = 240
"""Characters of a failed command's own words kept in the reason."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Offline and quiet: no GPU, no sandbox (CI runs as root), no calls home."""
WHAT_TO_INSTALL = (
    "install Debian's chromium (`apt-get install chromium`) or Playwright's"
    " (`python -m playwright install chromium`)"
)


@dataclass(frozen=True, kw_only=True)
class ChromiumLookups:
    """Where a chromium may come from, each asked only when the ones before found none."""

    debian: Callable[[], str | None]
    """The path of Debian's chromium, if installed."""
    playwright: Callable[[], str | None]
    """The path of the chromium Playwright installed, if it did."""
    install: Callable[[float], str | None]
    """Run Playwright's install within the seconds given: None when it succeeded, else why
    not, in one line."""


@dataclass(frozen=True)
class Chromium:
    """A chromium found, and where it came from."""

    path: str
    source: str


@dataclass(frozen=True)
class NoChromium:
    """Why no chromium could be had, in one line."""

    reason: str


def find_chromium(lookups: ChromiumLookups) -> Chromium | NoChromium:
    """The first chromium the lookups give, in the order the module says."""
    found = lookups.debian()
    if found:
        return Chromium(found, "Debian's chromium")
    found = lookups.playwright()
    if found:
        return Chromium(found, "Playwright's chromium")
    failure = lookups.install(INSTALL_SECONDS)
    if failure is None:
        found = lookups.playwright()
        if found:
            return Chromium(found, "Playwright's chromium, installed now")
        failure = "it succeeded, yet Playwright has no chromium where it looks"
    return NoChromium(
        f"no chromium for the browser tests: {WHAT_TO_INSTALL};"
        f" installing Playwright's failed: {failure}"
    )


def chromium_or_skip(lookups: ChromiumLookups, *, in_ci: bool) -> str:
    """The path of the chromium to drive; without one, skip the test, or fail it in CI."""
    found = find_chromium(lookups)
    if isinstance(found, Chromium):
        return found.path
    missing(found.reason, in_ci=in_ci)


def missing(reason: str, *, in_ci: bool) -> NoReturn:
    """Skip (fail, in CI) every test that needs a browser, saying ``reason``."""
    if in_ci:
        pytest.fail(f"{reason} (CI=true: a missing browser fails)", pytrace=False)
    pytest.skip(reason)


def in_ci(environ: Mapping[str, str]) -> bool:
    """Whether this run is CI's, as the ``CI`` variable CI services set says."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def machine_lookups(playwright_executable: Callable[[], str]) -> ChromiumLookups:
    """The lookups on this machine; ``playwright_executable`` says where Playwright keeps (or
    would keep) its chromium (``BrowserType.executable_path``)."""

    def playwright() -> str | None:
        path = playwright_executable()
        return path if Path(path).is_file() else None

    return ChromiumLookups(
        debian=lambda: shutil.which("chromium"),
        playwright=playwright,
        install=lambda seconds: run_within(INSTALL_COMMAND, seconds),
    )


def run_within(command: Sequence[str], seconds: float) -> str | None:
    """Run ``command``: None when it succeeded within ``seconds``, else why not, in one line.
    One that runs out of time is stopped with everything it started (Playwright's installer
    is a Node.js process under Python's)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"it did not finish within {seconds:g} s"
    if process.returncode == 0:
        return None
    lines = [line.strip() for line in output.decode(errors="replace").splitlines()]
    # Playwright's installer says what failed on lines of their own ("Error: ..."), under
    # its progress and above a stack trace, the same line once per try.
    errors = dict.fromkeys(line for line in lines if line.startswith("Error"))
    said = " ".join(errors) or next((line for line in reversed(lines) if line), "no output")
    return f"exit status {process.returncode}: {said[:MAX_SAID]}"
