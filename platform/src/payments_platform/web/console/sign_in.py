"""Signing in to the console and out of it.

The sign-in form has no session to take a CSRF token from, so it carries its own: a random
token set in a cookie scoped to the form and written into the form; a POST whose two copies
differ (a form posted from another site) is refused before any password is checked.
"""

from __future__ import annotations

import math
import secrets
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_sign_in import (
    SignInLocked,
    SignInRefused,
    sign_in,
    sign_out,
)
from payments_platform.web.console.access import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN,
    SIGN_IN_COOKIE,
    Console,
    CsrfRefused,
    console_of,
    form_value,
    safe_next,
    tokens_match,
)


def _form(
    console: Console,
    token: str,
    next_path: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    return Template(
        template_name="sign_in.html",
        context={
            "title": "Sign in",
            "operator": None,
            "demo": console.runtime.settings.demo,
            "sign_in_token": token,
            "next": safe_next(next_path),
            **context,
        },
        status_code=status,
        headers=headers,
        cookies=[console.sign_in_cookie(token)],
    )


def _duration(seconds: int) -> str:
    """``45 seconds``, ``2 minutes``: how long to wait, rounded up to the minute past one."""
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


@get(SIGN_IN, name="console:sign-in")
async def sign_in_form(
    request: Request[Any, Any, Any],
    next_path: Annotated[str | None, QueryParameter(name="next")] = None,
    signed_out: FromQuery[bool] = False,
) -> Template:
    """The sign-in form, with a fresh token of its own."""
    console = console_of(request)
    return _form(console, secrets.token_urlsafe(32), next_path or "", signed_out=signed_out)


@post(SIGN_IN, name="console:sign-in-post", status_code=303)
async def sign_in_post(request: Request[Any, Any, Any]) -> Redirect | Template:
    """Check the name and password; open a session, or say why not."""
    console = console_of(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not tokens_match(await form_value(request, CSRF_FIELD), expected):
        raise CsrfRefused("the sign-in form expired or came from elsewhere: reload it")
    name = await form_value(request, "name")
    next_path = await form_value(request, "next")
    address = request.client.host if request.client else "unknown"
    try:
        signed_in = await sign_in(
            console.deps,
            console.accounts,
            console.settings,
            name=name.strip(),
            password=await form_value(request, "password"),
            address=address,
        )
    except SignInLocked as locked:
        seconds = max(1, math.ceil(locked.wait.total_seconds()))
        whom = "" if locked.whole_address else f" as {name.strip()}"
        return _form(
            console,
            expected,
            next_path,
            status=429,
            headers={"Retry-After": str(seconds)},
            error=f"Too many failed sign-ins{whom} from your address: try again in"
            f" {_duration(seconds)}, after {locked.until:%H:%M:%S} UTC.",
            name=name,
        )
    except SignInRefused:
        return _form(
            console,
            expected,
            next_path,
            status=401,
            error="Unknown operator or wrong password.",
            name=name,
        )
    return Redirect(
        safe_next(next_path),
        status_code=303,
        cookies=[console.session_cookie(signed_in.token), console.sign_in_cookie(None)],
    )


@post("/sign-out", name="console:sign-out", status_code=303)
async def sign_out_post(
    request: Request[Any, Any, Any], session: NamedDependency[OperatorSession]
) -> Redirect:
    """End the session, here and in every other process."""
    del session  # the guards found it: only a signed-in operator's form gets here
    console = console_of(request)
    address = request.client.host if request.client else "unknown"
    await sign_out(console.deps, request.cookies.get(SESSION_COOKIE, ""), address=address)
    return Redirect(
        f"{SIGN_IN}?signed_out=true", status_code=303, cookies=[console.session_cookie(None)]
    )
