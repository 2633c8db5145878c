"""Developer tasks: ``nox`` runs lint, typecheck and tests; ``nox -s docs`` builds the
documentation site; ``nox -s bench`` is separate."""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = False

DEV_REQUIREMENTS = "requirements/dev.txt"
# The sampling profiler behind `nox -s bench -- --profile`.
BENCH_TOOLS = ["py-spy==0.4.3"]
SOURCES = [
    "platform/src",
    "plugins/src",
    "plugin_json_gateway/src",
    "plugin_soap_gateway/src",
    "tests/plugin_test_gateway/src",
    "bench",
]
# Each test folder is checked on its own: they share module names such as conftest. The core's
# fixtures and helpers in platform/tests are found through mypy_path (pyproject.toml) from
# the others; the root conftest.py registers them for pytest.
TEST_FOLDERS = [
    "conftest.py",
    "platform/tests",
    "plugins/tests",
    "plugin_json_gateway/tests",
    "plugin_soap_gateway/tests",
    "tests/*.py",
]
# Test functions need no annotations; everything else is as strict as the sources.
TEST_MYPY_FLAGS = [
    "--allow-untyped-defs",
    "--allow-incomplete-defs",
    "--check-untyped-defs",
    "--no-warn-unreachable",
    "--disable-error-code=comparison-overlap",
]


def _install(session: nox.Session) -> None:
    session.install("-r", DEV_REQUIREMENTS)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every workspace member, and on the tests."""
    _install(session)
    session.run("mypy", *SOURCES)
    for folder in TEST_FOLDERS:
        session.run("mypy", *TEST_MYPY_FLAGS, *_glob(folder))


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The whole test suite, against real SQLite, PostgreSQL and vendor simulators over HTTP,
    on twice as many worker processes as the machine has cores (``-- -n 0`` runs it in one).

    Twice: much of the suite waits on server processes, browsers and deadlines rather than
    computing, and its race tests are meant to hold on a busy machine (on two cores: 8:54
    with four workers against 10:09 with two)."""
    _install(session)
    workers = 2 * (os.cpu_count() or 1)
    session.run("pytest", "-n", str(workers), *session.posargs)


@nox.session(python="3.11", default=False)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) into site/; a broken link or reference fails it."""
    _install(session)
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """The benchmark: each route's server CPU per request, throughput, latency and SQL
    statements, beside a bare app measured in the same run; one and two worker processes.

    Runs ``python -m bench`` (which installs wrk with apt-get when it is missing and it runs as
    root); arguments after ``--`` go to it, e.g.
    ``nox -s bench -- --db postgresql://127.0.0.1:5432/test``, or ``nox -s bench -- --smoke``
    (every route for a second, answers judged, no figure: CI runs it).
    ``nox -s bench -- routing`` runs the routing benchmark instead: strategies on synthetic
    gateways over simulated time, against an oracle, no server; ``nox -s bench -- console``
    times every page of the operator console over 100,000 stored payments (``console --smoke``:
    each page once, answers judged). See docs/performance.md.
    """
    _install(session)
    session.install(*BENCH_TOOLS)
    session.run("python", "-m", "bench", *session.posargs)


def _glob(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern)) or [pattern]
