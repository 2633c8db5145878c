"""Run ``payments serve`` with one extra route, ``POST /bench/echo``: the bench's baseline.

``python -m bench.server --config PATH --host H --port P`` goes through the very command
``payments serve`` runs (settings, schema check, runtime, uvicorn and its options), so the bench
measures the production server. The only difference is that the app built by
``payments_platform.app.create_app`` gets the echo route registered on it: same app, same
middleware, same JSON body decoding, and no use case, database or vendor call behind it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence

from litestar import Litestar, post
from payments_platform import app as app_module
from payments_platform import cli
from payments_platform.api import InitPaymentBody
from payments_platform.runtime import Runtime

ECHO_PATH = "/bench/echo"

AppFactory = Callable[[Runtime], Litestar]


@post(ECHO_PATH, status_code=200, include_in_schema=False)
async def echo(data: InitPaymentBody) -> InitPaymentBody:
    """Decode an init-payment body and send it back."""
    return data


def with_echo_route(create_app: AppFactory) -> AppFactory:
    """Wrap an app factory so that the apps it builds also serve the echo route."""

    @functools.wraps(create_app)
    def create(runtime: Runtime) -> Litestar:
        built = create_app(runtime)
        built.register(echo)
        return built

    return create


def main(argv: Sequence[str] | None = None) -> int:
    """Serve like ``payments serve ARGS`` with the echo route added."""
    factory = with_echo_route(app_module.create_app)
    # The command imports the factory when it serves; should it ever import it at module
    # level instead, its own name is wrapped too.
    for module in (app_module, cli):
        if "create_app" in vars(module):
            vars(module)["create_app"] = factory
    return cli.main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
