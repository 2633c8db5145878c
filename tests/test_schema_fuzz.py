"""The OpenAPI document is the contract: schemathesis drives the real server from it and finds
no 5xx and no answer that breaks the document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .server_process import payments_serve

# Bounded so that the run takes seconds: enough examples per operation to cover every
# documented status, with a fixed seed so a failure can be replayed.
MAX_EXAMPLES = 40


@pytest.mark.parametrize("profile", ["demo"])
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    tmp_path: Path, profile: str
) -> None:
    with payments_serve(tmp_path) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.base_url}/schema/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "Traceback" not in server.output(), server.output()[-4000:]
