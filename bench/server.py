"""Run ``payments serve`` with one extra route, ``POST /bench/echo``: the bench's baseline.

``python -m bench.server --config PATH --host H --port P`` reads its arguments as ``payments
serve`` does and serves through the very function that command runs (settings, schema check,
runtime, uvicorn and its options), so the bench measures the production server. The only
difference is the echo route served beside the API: same app, same middleware, same JSON body
decoding, and no use case, database or vendor call behind it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from litestar import post
from payments_platform import cli
from payments_platform.web.requests import InitPaymentBody

ECHO_PATH = "/bench/echo"


@post(ECHO_PATH, status_code=200, include_in_schema=False)
async def echo(data: InitPaymentBody) -> InitPaymentBody:
    """Decode an init-payment body and send it back."""
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Serve like ``payments serve ARGS`` with the echo route added."""
    args = cli.parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    cli.serve(cli.settings_of(args, host=args.host, port=args.port), extra_routes=[echo])
    return 0


if __name__ == "__main__":
    sys.exit(main())
