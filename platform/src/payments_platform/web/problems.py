"""Errors as RFC 9457 problem+json bodies, each with a stable ``code``.

A :class:`~payments_platform.errors.PaymentProblem` carries its own status and code; errors the
framework raises itself (an unknown route, a wrong method, a body too large) get a code from
their status here; anything else is a bug, logged and answered 500 without its details.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsException

from payments_platform import errors
from payments_platform.resources import PaymentView
from payments_platform.web.examples import PROBLEM_DETAILS, problem_example
from payments_platform.web.views import Problem

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

CODE_OF_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}
"""Codes of the errors the framework itself raises (unknown route, wrong method, ...)."""

_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance", "field"})


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[Any]:
    """A problem+json answer; ``extra`` members never override the standard ones."""
    body: dict[str, Any] = {
        key: value for key, value in (extra or {}).items() if key not in _PROBLEM_MEMBERS
    }
    body.update(code=code, instance=request.url.path)
    if field:
        body["field"] = field
    return ProblemDetailsException(
        status_code=status,
        title=title,
        detail=detail,
        type_=f"urn:payments:problem:{code}",
        headers=headers,
        extra=msgspec.to_builtins(body),
    ).to_response(request)


def on_payment_problem(
    request: Request[Any, Any, Any], error: errors.PaymentProblem
) -> Response[Any]:
    """Render a problem a use case (or a request check) raised."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if isinstance(error, errors.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="payments"'
    extra = dict(error.extra)
    if error.payment is not None:
        extra["payment"] = PaymentView.of(error.payment)
    return problem_response(
        request,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        field=error.field,
        headers=headers,
        extra=extra,
    )


def on_http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Render an error the framework raised."""
    if isinstance(error, ValidationException):
        # The framework's own validation: path parameters and anything strict decoding let by.
        first = error.extra[0] if isinstance(error.extra, list) and error.extra else {}
        key = first.get("key") if isinstance(first, dict) else None
        message = first.get("message") if isinstance(first, dict) else None
        return problem_response(
            request,
            status=422 if key else 400,
            code="invalid-request" if key else "bad-request",
            title="The request is not valid",
            detail=f"{message} - at `{key}`" if key and message else str(error.detail),
            field=key,
        )
    status = error.status_code
    code = CODE_OF_STATUS.get(status, f"http-{status}")
    detail = str(error.detail)
    if status == 413:
        detail = "the request body is larger than this server accepts"
    return problem_response(
        request,
        status=status,
        code=code,
        title=detail,
        detail=detail,
        headers=dict(error.headers or {}),
    )


def on_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """A bug: logged whole, answered without its details."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(
        request,
        status=500,
        code="internal-error",
        title="Internal error",
        detail="the server failed to handle the request; it has been logged",
    )


def problem_responses(*problems: type[errors.PaymentProblem]) -> dict[int, ResponseSpec]:
    """The OpenAPI responses of a route that can answer these problems (and, since it reads
    or records through the database, ``database-unavailable``), each with an example."""
    by_status: dict[int, list[type[errors.PaymentProblem]]] = {}
    every: tuple[type[errors.PaymentProblem], ...] = (*problems, errors.DatabaseUnavailable)
    for problem in every:
        by_status.setdefault(problem.status, []).append(problem)
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description="problem: " + ", ".join(problem.code for problem in listed),
            generate_examples=False,
            examples=[problem_example(p, PROBLEM_DETAILS[p]) for p in listed],
        )
        for status, listed in by_status.items()
    }


def every_code() -> list[str]:
    """Every problem ``code`` the service answers with."""
    codes = set(CODE_OF_STATUS.values())
    codes.update(problem.code for problem in errors.problem_types())
    return sorted(codes)
