"""Who may use the console: the session cookie, the guards every page and action passes, and
what a refused request is answered.

Operators are not merchants: a client API key opens nothing here, only a session from the
sign-in form does. Its cookie is HttpOnly (scripts never see it), SameSite=Strict (no other
site's page sends it), scoped to ``/console``, and Secure outside the demo. A POST the browser
says was made by another site's page is refused before anything else (:mod:`.same_origin`);
every POST carries the session's CSRF token, checked in constant time before the action runs.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template

from payments_platform.operators import ConsoleSettings, OperatorAccounts
from payments_platform.runtime import Runtime
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.usecases.operator_sign_in import session_of
from payments_platform.web.console.same_origin import Origin, cross_origin

logger = logging.getLogger(__name__)

CONSOLE = "/console"
SIGN_IN = f"{CONSOLE}/sign-in"
SESSION_COOKIE = "payments_console"
SIGN_IN_COOKIE = "payments_console_sign_in"
"""The sign-in form's own CSRF token (there is no session yet to hold one)."""
CSRF_FIELD = "csrf_token"
_SAFE_NEXT = re.compile(r"/console(/[A-Za-z0-9/_.-]*)?(\?[A-Za-z0-9_.=&%-]*)?")


@dataclass(frozen=True)
class Console:
    """What the console's pages act on: the runtime, the operators and the sign-in policy."""

    runtime: Runtime
    settings: ConsoleSettings
    accounts: OperatorAccounts
    secure_cookies: bool
    public_origin: Origin | None = None
    """``[server] public_url``'s origin, which actions may come from besides the host they
    are addressed to."""

    @property
    def deps(self) -> Dependencies:
        """The platform the use cases act on."""
        return self.runtime.deps

    def session_cookie(self, token: str | None) -> Cookie:
        """The session cookie carrying ``token``, or (None) the one that deletes it."""
        return Cookie(
            key=SESSION_COOKIE,
            value=token or "",
            path=CONSOLE,
            max_age=int(self.settings.session_minutes * 60) if token else 0,
            httponly=True,
            secure=self.secure_cookies,
            samesite="strict",
        )

    def sign_in_cookie(self, token: str | None) -> Cookie:
        """The sign-in form's CSRF cookie, or (None) the one that deletes it."""
        return Cookie(
            key=SIGN_IN_COOKIE,
            value=token or "",
            path=SIGN_IN,
            max_age=3600 if token else 0,
            httponly=True,
            secure=self.secure_cookies,
            samesite="strict",
        )


class SignInRequired(NotAuthorizedException):
    """The request carries no live session."""


class CsrfRefused(PermissionDeniedException):
    """A POST without the token of the session (or of the sign-in form) it was made in."""


class CrossOriginRefused(PermissionDeniedException):
    """A POST the browser says was made by another site's page."""


def console_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Console:
    """The console the app serves."""
    console: Console = connection.app.state.console
    return console


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_same_origin(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of every action, the sign-in's included, before any other: refused (403) when its
    ``Origin`` is another site's or its ``Sec-Fetch-Site`` is not ``same-origin`` (or
    ``none``); one with neither header is left to the CSRF token."""
    if connection.scope.get("method", "GET") in _SAFE_METHODS:
        return
    headers = connection.headers
    reason = cross_origin(
        origin=headers.get("origin"),
        fetch_site=headers.get("sec-fetch-site"),
        host=headers.get("host"),
        public_origin=console_of(connection).public_origin,
    )
    if reason is not None:
        client = connection.client.host if connection.client else "unknown"
        logger.warning(
            "console %s %s from address %s refused: %s (Host: %s)",
            connection.scope.get("method"),
            connection.url.path,
            client,
            reason,
            headers.get("host"),
        )
        raise CrossOriginRefused(f"Refused, and nothing was done: {reason}.")


async def require_operator(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of every page and action but signing in: a live session, found in the database
    (any process may have opened it), of an operator configured now with the password hash it
    signed in with."""
    console = console_of(connection)
    session = await session_of(
        console.deps,
        console.accounts,
        console.settings,
        connection.cookies.get(SESSION_COOKIE),
    )
    if session is None:
        raise SignInRequired("sign in to use the console")
    connection.state.operator_session = session


async def require_csrf_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of every action: a POST must carry its session's CSRF token."""
    if not isinstance(connection, Request) or connection.method != "POST":
        return
    session: OperatorSession = connection.state.operator_session
    if not tokens_match(await form_value(connection, CSRF_FIELD), session.csrf_token):
        raise CsrfRefused("the form carries no valid CSRF token: reload the page and try again")


async def form_value(request: Request[Any, Any, Any], name: str) -> str:
    """A field of the request's urlencoded form; empty when absent."""
    value = (await request.form()).get(name)
    return value if isinstance(value, str) else ""


def tokens_match(sent: str, expected: str) -> bool:
    """Compare a token sent with the one expected, in time that does not depend on where
    they differ; an empty token never matches."""
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


def console_dependency(request: Request[Any, Any, Any]) -> Console:
    """The console (a dependency of the pages)."""
    return console_of(request)


def operator_session(request: Request[Any, Any, Any]) -> OperatorSession:
    """The session :func:`require_operator` found (a dependency of the pages)."""
    session: OperatorSession = request.state.operator_session
    return session


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if path and _SAFE_NEXT.fullmatch(path) and ".." not in path and "//" not in path:
        return path
    return f"{CONSOLE}/"


def on_sign_in_required(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    """A page asked for without a session leads to the sign-in form (htmx follows the
    ``HX-Redirect``); an action is refused outright."""
    if request.headers.get("hx-request"):
        return Response(b"", status_code=401, headers={"HX-Redirect": SIGN_IN})
    if request.method == "GET":
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{SIGN_IN}?next={quote(safe_next(path), safe='/')}", status_code=303)
    return refusal(401, "Sign in first", "This action needs a signed-in operator.")


def on_csrf_refused(_: Request[Any, Any, Any], error: CsrfRefused) -> Response[Any]:
    """An action without its CSRF token is refused, and changes nothing."""
    return refusal(403, "Refused", str(error.detail))


def on_cross_origin(_: Request[Any, Any, Any], error: CrossOriginRefused) -> Response[Any]:
    """An action another site's page made is refused, and changes nothing."""
    return refusal(403, "Refused", str(error.detail))


def on_not_found(_: Request[Any, Any, Any], error: NotFoundException) -> Response[Any]:
    """A page about something that does not exist says so, as a page."""
    return refusal(404, "Not found", str(error.detail))


def refusal(
    status: int, title: str, message: str, *, headers: dict[str, str] | None = None
) -> Template:
    """A page saying why a request was refused."""
    return Template(
        template_name="refused.html",
        context={"title": title, "message": message, "operator": None},
        status_code=status,
        headers=headers,
    )
