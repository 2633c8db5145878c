"""The HTTP edge: the Litestar app, its routes by resource, request and response bodies,
problem rendering, the API-key guard and the OpenAPI document. Routes decode, call a use case,
and translate its outcome; they hold no rule of their own."""
