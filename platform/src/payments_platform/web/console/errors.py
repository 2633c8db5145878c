"""What the console answers when a request under ``/console`` goes wrong: a page of the console,
with its headers and a way back, never the API's problem+json.

The app's exception handlers answer for the whole service, also for what no route of the
console sees (a URL below ``/console`` that no route matches, a method a page does not take),
so the console wraps them: under ``/console`` an error is a page, anywhere else it is answered
as before.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.types import ExceptionHandler, ExceptionHandlersMap

from payments_platform.errors import PaymentProblem
from payments_platform.web.console.access import CONSOLE, refusal
from payments_platform.web.console.headers import PAGE_HEADERS

logger = logging.getLogger(__name__)

_NOT_FOUND = "Not Found"
"""The detail of the framework's own 404: no route matches the URL."""

_TITLES = {
    400: "Bad request",
    401: "Sign in first",
    403: "Refused",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many requests",
}


def under_console(path: str) -> bool:
    """``path`` is the console's."""
    return path == CONSOLE or path.startswith(f"{CONSOLE}/")


def console_error_handlers(handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """``handlers`` (the app's), each answering a page under ``/console`` instead."""
    return {key: _or_console_page(handler) for key, handler in handlers.items()}


def _or_console_page(handler: ExceptionHandler[Any]) -> ExceptionHandler[Any]:
    def handle(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        if under_console(request.url.path):
            return error_page(request, error)
        return handler(request, error)

    return handle


def error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """The page saying what went wrong, with the console's headers (and the error's own:
    ``Allow``, ``Retry-After``); a bug is logged whole and shown without its details."""
    headers = dict(PAGE_HEADERS)
    if isinstance(error, NotFoundException) and error.detail == _NOT_FOUND:
        status, message = 404, "There is no such page in the console."
    elif isinstance(error, ValidationException):
        status, message = 400, f"The request is not valid: {_invalid(error)}."
    elif isinstance(error, HTTPException):
        status, message = error.status_code, str(error.detail)
        headers.update(error.headers or {})
        if status == 405:
            message = f"This page cannot be asked for with {request.method}."
    elif isinstance(error, PaymentProblem):
        status, message = error.status, f"{error.title}."
        if error.retry_after:
            headers["Retry-After"] = str(error.retry_after)
            message += " Try again in a moment."
    else:
        logger.exception(
            "unhandled error on %s %s", request.method, request.url.path, exc_info=error
        )
        status = 500
        message = "The console could not show this page; the failure has been logged."
    return refusal(status, _TITLES.get(status, "Something went wrong"), message, headers=headers)


def _invalid(error: ValidationException) -> str:
    """What the framework found wrong with a parameter, naming it."""
    first = error.extra[0] if isinstance(error.extra, list) and error.extra else {}
    if isinstance(first, dict) and first.get("key") and first.get("message"):
        return f"{first['key']}: {first['message']}"
    return str(error.detail)
