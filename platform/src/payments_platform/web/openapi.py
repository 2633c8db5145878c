"""The OpenAPI document, made true to the deployment it describes."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable
from importlib.resources.abc import Traversable

from litestar import Litestar, Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.params import FromPath

from payments_platform.web.client_input import (
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    METADATA_KEY,
    RETURN_URL_PATTERN,
    STRICT_BODIES,
    InitPaymentBody,
)
from payments_platform.web.payments import LIST_PAYMENTS, MAX_METADATA_FILTERS
from payments_platform.web.problems import PROBLEM_MEDIA_TYPE, every_code

BEARER_AUTH = "BearerAuth"
SWAGGER_ASSETS_PATH = "/schema/assets"
_SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""The files the interactive page loads; the service serves them, so the page works on a network
without internet."""


@functools.cache
def _swagger_ui() -> Traversable:
    """The folder of Swagger UI's files in the ``swagger-ui-bundle`` distribution."""
    vendor = importlib.resources.files("swagger_ui_bundle") / "vendor"
    [folder] = [path for path in vendor.iterdir() if path.name.startswith("swagger-ui-")]
    return folder


@get(f"{SWAGGER_ASSETS_PATH}/{{name:str}}", include_in_schema=False, cache=86_400)
async def swagger_asset(name: FromPath[str]) -> Response[bytes]:
    """One of Swagger UI's files, from the package that ships them."""
    media_type = _SWAGGER_ASSETS.get(name)
    if media_type is None:
        raise NotFoundException(f"no asset {name!r}")
    return Response(
        (_swagger_ui() / name).read_bytes(),
        media_type=media_type,
        headers={"Content-Type": media_type, "Cache-Control": "public, max-age=86400"},
    )


def openapi_config(*, protected: bool) -> OpenAPIConfig:
    """The document's settings, with bearer authentication only where keys are enforced."""
    return OpenAPIConfig(
        title="Payments platform",
        version="0.1.0",
        description="Start payments, follow them through gateway webhooks, refund them.",
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui-standalone-preset.js",
                favicon=(
                    f"<link rel='icon' type='image/png'"
                    f" href='{SWAGGER_ASSETS_PATH}/favicon-32x32.png'>"
                ),
            )
        ],
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
    """Say in the OpenAPI document what the code and this deployment enforce, where the
    framework's own schema generation leaves it out.

    Request bodies take no properties beyond the documented ones, a payment's currency is one
    an enabled gateway takes, metadata is bounded as it is checked, problem codes are the ones
    the service uses, answers carry the headers they do, client routes answer 401 when the API
    needs keys, routes that read a body answer 413 for one too large, free text holds no NUL,
    and no route lists an error the service never sends.
    """
    document = app.openapi_schema
    schemas = (document.components.schemas if document.components else None) or {}
    for body in STRICT_BODIES:
        component = schemas.get(body.__name__)
        if isinstance(component, Schema):
            component.additional_properties = False
            for field in (component.properties or {}).values():
                _storable(field)
    _describe_init_body(schemas.get(InitPaymentBody.__name__), currencies)
    problem = schemas.get("Problem")
    if isinstance(problem, Schema) and problem.properties:
        code = problem.properties.get("code")
        if isinstance(code, Schema):
            code.enum = every_code()
    for operation in _operations(app):
        _describe_operation(operation, protected=protected)
        if operation.operation_id == LIST_PAYMENTS:
            operation.parameters = [*(operation.parameters or []), _metadata_filter()]


def _describe_operation(operation: Operation, *, protected: bool) -> None:
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.param_in == "header":
            _not_null(parameter)
        if isinstance(parameter, Parameter) and parameter.param_in == "query":
            _storable(parameter.schema)
    _drop_framework_validation_answer(operation)
    _describe_headers(operation)
    if protected and operation.security:
        operation.responses = {**(operation.responses or {}), "401": _unauthorized()}
    if operation.request_body is not None:
        operation.responses = {**(operation.responses or {}), "413": _body_too_large()}


def _operations(app: Litestar) -> list[Operation]:
    paths = app.openapi_schema.paths or {}
    return [op for item in paths.values() for op in (item.get, item.post) if op is not None]


def _describe_init_body(body: Schema | Reference | None, currencies: Iterable[str]) -> None:
    if not isinstance(body, Schema) or not body.properties:
        return
    currency = body.properties.get("currency")
    if isinstance(currency, Schema):
        currency.enum = sorted(currencies)
    return_url = body.properties.get("return_url")
    if isinstance(return_url, Schema):
        return_url.pattern = RETURN_URL_PATTERN
    metadata = body.properties.get("metadata")
    if isinstance(metadata, Schema):
        # The framework leaves out what msgspec checks of a mapping's keys and values.
        metadata.max_properties = MAX_METADATA_KEYS
        metadata.property_names = Schema(pattern=f"^{METADATA_KEY.pattern}$")
        metadata.additional_properties = Schema(
            type=OpenAPIType.STRING, max_length=MAX_METADATA_VALUE_LENGTH, pattern=STORABLE_TEXT
        )


def _metadata_filter() -> Parameter:
    """``metadata[<key>]=<value>``, which the handler reads from the query itself."""
    return Parameter(
        name="metadata",
        param_in="query",
        style="deepObject",
        explode=True,
        required=False,
        description=(
            "Only payments whose metadata has these values, written"
            f" `metadata[order_id]=A-1`: at most {MAX_METADATA_FILTERS}, keys and values as in"
            " metadata"
        ),
        schema=Schema(
            type=OpenAPIType.OBJECT,
            max_properties=MAX_METADATA_FILTERS,
            property_names=Schema(pattern=f"^{METADATA_KEY.pattern}$"),
            additional_properties=Schema(
                type=OpenAPIType.STRING,
                max_length=MAX_METADATA_VALUE_LENGTH,
                pattern=STORABLE_TEXT,
            ),
        ),
    )


STORABLE_TEXT = "^[^\\u0000]*$"
"""Free text as a client may send it: without NUL, which the store cannot hold
(:func:`payments_platform.store.text.unstorable_text`; JSON cannot carry the rest it refuses)."""


def _storable(schema: Schema | Reference | None) -> None:
    """Say of free text (a string with no pattern, format or choices) that it holds no NUL."""
    if not isinstance(schema, Schema) or schema.pattern or schema.format or schema.enum:
        return
    kinds = [schema, *(s for s in schema.one_of or [] if isinstance(s, Schema))]
    if any(kind.type == OpenAPIType.STRING and not kind.format for kind in kinds):
        schema.pattern = STORABLE_TEXT


_RETRY_AFTER = OpenAPIHeader(
    description="Seconds to wait before sending the same request again",
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
)
_LOCATION = OpenAPIHeader(
    description="Where the payment is: `/payments/{id}`", schema=Schema(type=OpenAPIType.STRING)
)


def _describe_headers(operation: Operation) -> None:
    """Every 503 says when to come back; so does a 409 for a payment in progress; a 201 says
    where the payment is."""
    for status, response in (operation.responses or {}).items():
        if not isinstance(response, OpenAPIResponse):
            continue
        headers: dict[str, OpenAPIHeader | Reference] = dict(response.headers or {})
        if status == "503" or "payment-in-progress" in response.description:
            headers["Retry-After"] = _RETRY_AFTER
        if status == "201":
            headers["Location"] = _LOCATION
        response.headers = headers or None


_FRAMEWORK_ERROR = {"status_code", "detail", "extra"}
"""The properties of the framework's own error body."""


def _drop_framework_validation_answer(operation: Operation) -> None:
    """The framework lists a 400 in its own shape (``status_code``, ``detail``, ``extra``) for
    every route with parameters. The service never sends it: its own checks and the handler of
    the framework's validation errors answer problem+json, listed per route."""
    responses = operation.responses or {}
    for status, response in list(responses.items()):
        if not isinstance(response, OpenAPIResponse) or PROBLEM_MEDIA_TYPE in (
            response.content or {}
        ):
            continue
        shapes = [media.schema for media in (response.content or {}).values()]
        if any(
            isinstance(shape, Schema) and set(shape.properties or ()) == _FRAMEWORK_ERROR
            for shape in shapes
        ):
            del responses[status]


def _problem(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description,
        content={
            PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))
        },
    )


def _unauthorized() -> OpenAPIResponse:
    return _problem("unauthorized: no valid API key")


def _body_too_large() -> OpenAPIResponse:
    return _problem("body-too-large: the body is larger than `server.max_body_bytes`")


def _not_null(parameter: Parameter) -> None:
    """An optional header is absent or a string, never JSON ``null``: say so."""
    schema = parameter.schema
    if isinstance(schema, Schema) and schema.one_of:
        strings = [s for s in schema.one_of if isinstance(s, Schema) and s.type != OpenAPIType.NULL]
        if len(strings) == 1:
            schema.type, schema.one_of = strings[0].type, None
