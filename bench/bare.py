"""The bare baseline: a plain Litestar app with the echo route, nothing else.

``python -m bench.bare --port P`` serves ``POST /bench/echo`` (the same msgspec body as the
platform's echo route, decoded and sent back) and ``GET /health`` under uvicorn with the server
options ``payments serve`` uses, in a process of its own: no middleware, no plugins, no
OpenTelemetry, no Prometheus, no access log, no platform. What the platform's own echo route
costs beyond this app's is the middleware and framework tax every request pays.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn
from litestar import Litestar, get
from payments_platform.cli.serving import UVICORN_OPTIONS

from bench.server import echo


@get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Answer that the process is up."""
    return {"status": "ok"}


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the bare app on 127.0.0.1 until stopped."""
    commands = argparse.ArgumentParser(prog="python -m bench.bare")
    commands.add_argument("--port", type=int, required=True)
    args = commands.parse_args(argv)
    app = Litestar(route_handlers=[echo, health], logging_config=None, openapi_config=None)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_config=None, access_log=False, **UVICORN_OPTIONS
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
