"""The operator's console at ``/console``: server-rendered pages (Jinja templates, htmx for the
parts that refresh themselves), served by the platform itself, every asset included.

It is served only when ``[console.operators]`` names at least one operator. Operators sign in
with their own accounts (:mod:`payments_platform.operators`); merchants' API keys open nothing
here. Every page but the sign-in form needs a session, every action a CSRF token too and an
origin that is the console's own (:mod:`.same_origin`), and every answer, errors included
(:mod:`.errors`), is a page with the headers of :mod:`.headers`.
"""

from __future__ import annotations

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.plugins import InitPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap

from payments_platform.operators import OperatorAccounts
from payments_platform.runtime import Runtime
from payments_platform.web.console import (
    attention,
    audit,
    configuration,
    endpoints,
    jobs,
    money,
    overview,
    payments,
    sign_in,
    webhooks,
)
from payments_platform.web.console.access import (
    CONSOLE,
    Console,
    CrossOriginRefused,
    CsrfRefused,
    SignInRequired,
    console_dependency,
    on_cross_origin,
    on_csrf_refused,
    on_not_found,
    on_sign_in_required,
    operator_session,
    require_csrf_token,
    require_operator,
    require_same_origin,
)
from payments_platform.web.console.errors import console_error_handlers
from payments_platform.web.console.headers import asset_headers, page_headers
from payments_platform.web.console.rendering import STATIC, template_config
from payments_platform.web.console.same_origin import parse_origin
from payments_platform.web.console.server_timing import server_timing

__all__ = ["ConsolePlugin"]


class ConsolePlugin(InitPlugin):
    """Mounts the console on the app when operators are configured; does nothing otherwise."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the console's routes, templates and state."""
        settings = self.runtime.settings
        if not settings.console.enabled:
            return app_config
        app_config.state["console"] = Console(
            runtime=self.runtime,
            settings=settings.console,
            accounts=OperatorAccounts.of(
                {
                    name: account.password_hash
                    for name, account in settings.console.operators.items()
                }
            ),
            # The demo is served over plain HTTP; anywhere else the cookie needs TLS.
            secure_cookies=not settings.demo,
            public_origin=parse_origin(settings.server.public_url or ""),
        )
        app_config.template_config = template_config()
        app_config.route_handlers += _routes()
        # Also what no console route sees (an unknown URL, a method a page does not take).
        app_config.exception_handlers = console_error_handlers(app_config.exception_handlers)
        return app_config


def _routes() -> list[Router]:
    handlers: ExceptionHandlersMap = {
        SignInRequired: on_sign_in_required,
        CsrfRefused: on_csrf_refused,
        CrossOriginRefused: on_cross_origin,
        NotFoundException: on_not_found,
    }
    pages = Router(
        path=CONSOLE,
        route_handlers=[
            overview.overview_page,
            overview.gateways_partial,
            payments.search_page,
            payments.payments_csv,
            payments.payment_page,
            payments.reconcile,
            payments.cancel,
            money.capture,
            money.refund,
            jobs.jobs_page,
            jobs.jobs_partial,
            jobs.retry_job,
            jobs.retry_dead,
            webhooks.webhooks_page,
            endpoints.endpoints_page,
            endpoints.resend,
            endpoints.resend_dead,
            attention.attention_partial,
            configuration.plugins_page,
            audit.audit_page,
            audit.audit_csv,
            sign_in.sign_out_post,
        ],
        # The origin first: another site's request is refused before its session is looked up.
        guards=[require_same_origin, require_operator, require_csrf_token],
        dependencies={
            "console": Provide(console_dependency, sync_to_thread=False),
            "session": Provide(operator_session, sync_to_thread=False),
        },
        exception_handlers=handlers,
        # The timing first: it counts the time of everything within.
        middleware=[server_timing, page_headers],
        include_in_schema=False,
    )
    public = Router(
        path="/",
        route_handlers=[sign_in.sign_in_form, sign_in.sign_in_post],
        guards=[require_same_origin],
        exception_handlers=handlers,
        middleware=[page_headers],
        include_in_schema=False,
    )
    assets = create_static_files_router(
        path=f"{CONSOLE}/static",
        directories=[STATIC],
        middleware=[asset_headers],
        include_in_schema=False,
        name="console:static",
    )
    return [pages, public, assets]
