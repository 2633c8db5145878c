"""Which chromium the browser tests drive (``tests/browsers.py``), with the machine's lookups
replaced: no browser, no network and no download is needed here.

Issue 19, section 5: the README's test command failed its browser tests on a machine without
Debian's chromium; now they find another or are skipped saying why, except in CI, where a
missing browser still fails.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .browsers import (
    INSTALL_SECONDS,
    Chromium,
    ChromiumLookups,
    NoChromium,
    chromium_or_skip,
    find_chromium,
    in_ci,
    run_within,
)

DEBIAN = "/usr/bin/chromium"
PLAYWRIGHT = "/home/dev/.cache/ms-playwright/chromium-1255/chrome-linux/chrome"
CANNOT_DOWNLOAD = "exit status 1: Error: Download failure, code=1"


@dataclass
class Machine:
    """A machine as the lookups see it, and what was asked of it."""

    debian: str | None = None
    playwright: str | None = None
    install_failure: str | None = CANNOT_DOWNLOAD
    installs_where_playwright_looks: bool = True
    asked: list[str] = field(default_factory=list)

    def lookups(self) -> ChromiumLookups:
        def debian() -> str | None:
            self.asked.append("debian")
            return self.debian

        def playwright() -> str | None:
            self.asked.append("playwright")
            return self.playwright

        def install(seconds: float) -> str | None:
            self.asked.append(f"install within {seconds:g} s")
            if self.install_failure is None and self.installs_where_playwright_looks:
                self.playwright = PLAYWRIGHT
            return self.install_failure

        return ChromiumLookups(debian=debian, playwright=playwright, install=install)


def test_debian_s_chromium_comes_first_and_nothing_else_is_asked() -> None:
    machine = Machine(debian=DEBIAN, playwright=PLAYWRIGHT)

    assert find_chromium(machine.lookups()) == Chromium(DEBIAN, "Debian's chromium")
    assert machine.asked == ["debian"]


def test_without_debian_s_the_one_playwright_installed_is_driven_and_nothing_downloaded() -> None:
    machine = Machine(playwright=PLAYWRIGHT)

    assert find_chromium(machine.lookups()) == Chromium(PLAYWRIGHT, "Playwright's chromium")
    assert machine.asked == ["debian", "playwright"]


def test_without_either_playwright_installs_one_within_a_bounded_time() -> None:
    machine = Machine(install_failure=None)

    found = find_chromium(machine.lookups())

    assert found == Chromium(PLAYWRIGHT, "Playwright's chromium, installed now")
    assert machine.asked == [
        "debian",
        "playwright",
        f"install within {INSTALL_SECONDS:g} s",
        "playwright",
    ]


def test_an_install_that_fails_leaves_one_line_saying_what_to_install() -> None:
    found = find_chromium(Machine().lookups())

    assert isinstance(found, NoChromium)
    assert "\n" not in found.reason
    assert "apt-get install chromium" in found.reason
    assert "playwright install chromium" in found.reason
    assert found.reason.endswith(CANNOT_DOWNLOAD)


def test_an_install_that_says_it_succeeded_but_left_no_browser_is_no_browser() -> None:
    machine = Machine(install_failure=None, installs_where_playwright_looks=False)

    found = find_chromium(machine.lookups())

    assert isinstance(found, NoChromium)
    assert "Playwright has no chromium where it looks" in found.reason


def test_a_found_chromium_is_driven_in_and_out_of_ci() -> None:
    for ci in (False, True):
        assert chromium_or_skip(Machine(debian=DEBIAN).lookups(), in_ci=ci) == DEBIAN


def test_no_chromium_outside_ci_skips_the_browser_tests_saying_why() -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        chromium_or_skip(Machine().lookups(), in_ci=False)

    assert str(skipped.value).startswith("no chromium for the browser tests: install Debian's")


def test_no_chromium_in_ci_fails_them_so_nothing_is_skipped_unseen() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        chromium_or_skip(Machine().lookups(), in_ci=True)

    assert "no chromium for the browser tests" in str(failed.value)
    assert "CI=true" in str(failed.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "True"}, True),
        ({}, False),
        ({"CI": ""}, False),
        ({"CI": "false"}, False),
    ],
)
def test_ci_is_told_by_the_ci_variable(environ: dict[str, str], expected: bool) -> None:
    assert in_ci(environ) is expected


def test_a_command_that_succeeds_in_time_is_a_success() -> None:
    assert run_within([sys.executable, "-c", "print('installed')"], 30) is None


def test_a_command_that_fails_says_why_in_one_line() -> None:
    command = [
        sys.executable,
        "-c",
        "print('Error: getaddrinfo ENOTFOUND cdn'); print('Downloading Chrome 0%');"
        " print('Error: getaddrinfo ENOTFOUND cdn'); print('Error: Download failure, code=1');"
        " print('    at stack.js:1'); raise SystemExit(1)",
    ]

    assert run_within(command, 30) == (
        "exit status 1: Error: getaddrinfo ENOTFOUND cdn Error: Download failure, code=1"
    )


def test_a_command_that_hangs_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    """Playwright's installer is a Node.js process under Python's: stopping only Python's
    would leave the download running."""
    pid_file = tmp_path / "grandchild.pid"
    command = [
        sys.executable,
        "-c",
        "import subprocess, sys, time;"
        " child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f" open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(60)",
    ]
    started = time.monotonic()

    said = run_within(command, 3.0)

    assert said == "it did not finish within 3 s"
    assert time.monotonic() - started < 15
    assert _ends(int(pid_file.read_text()), within=5.0)


def _ends(pid: int, *, within: float) -> bool:
    """Whether process ``pid`` is gone (or dead, waiting to be reaped) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        except FileNotFoundError:
            return True
        if "State:\tZ" in status:
            return True
        time.sleep(0.05)
    return False
