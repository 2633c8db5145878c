"""The OpenAPI document, made true to the deployment it describes."""

from __future__ import annotations

from collections.abc import Iterable

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
    SecurityScheme,
)

from payments_platform.web.problems import PROBLEM_MEDIA_TYPE
from payments_platform.web.requests import STRICT_BODIES, InitPaymentBody

BEARER_AUTH = "BearerAuth"


def openapi_config(*, protected: bool) -> OpenAPIConfig:
    """The document's settings, with bearer authentication only where keys are enforced."""
    return OpenAPIConfig(
        title="Payments platform",
        version="0.1.0",
        description="Start payments, follow them through gateway webhooks, refund them.",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                BEARER_AUTH: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key from `payments keys new`, per merchant",
                )
            }
            if protected
            else None
        ),
    )


def document_deployment(app: Litestar, *, protected: bool, currencies: Iterable[str]) -> None:
    """Say in the OpenAPI document what this deployment enforces.

    Request bodies take no properties beyond the documented ones, a payment's currency is one
    an enabled gateway takes, and client routes answer 401 when the API needs keys.
    """
    document = app.openapi_schema
    schemas = (document.components.schemas if document.components else None) or {}
    for body in STRICT_BODIES:
        component = schemas.get(body.__name__)
        if isinstance(component, Schema):
            component.additional_properties = False
    init_body = schemas.get(InitPaymentBody.__name__)
    if isinstance(init_body, Schema) and init_body.properties:
        currency = init_body.properties.get("currency")
        if isinstance(currency, Schema):
            currency.enum = sorted(currencies)
    if not protected or document.paths is None:
        return
    unauthorized = OpenAPIResponse(
        description="unauthorized: no valid API key",
        content={
            PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))
        },
    )
    for item in document.paths.values():
        for operation in (item.get, item.post):
            if operation is not None and operation.security:
                operation.responses = {**(operation.responses or {}), "401": unauthorized}
