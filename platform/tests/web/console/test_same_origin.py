"""Whether a console action comes from the console's own pages: what ``Origin`` and
``Sec-Fetch-Site`` say, against the host the request was addressed to or ``[server]
public_url`` (issue 19: actions check where they were made, besides the CSRF token)."""

import pytest
from payments_platform.web.console.same_origin import cross_origin, parse_origin

PUBLIC = parse_origin("https://payments.example/console")


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://console.example", "console.example"),
        ("https://console.example", "console.example:443"),
        ("http://console.example", "console.example"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://[::1]:8080", "[::1]:8080"),
        ("HTTPS://CONSOLE.example", "console.EXAMPLE"),
        ("https://payments.example", "10.0.0.5:8080"),  # public_url, behind a proxy
        ("https://payments.example:443", None),
    ],
)
def test_the_consoles_own_origin_passes(origin: str, host: str | None) -> None:
    assert cross_origin(origin=origin, fetch_site=None, host=host, public_origin=PUBLIC) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://elsewhere.example", "console.example"),
        ("https://console.example:8443", "console.example"),
        ("http://127.0.0.1:8081", "127.0.0.1:8080"),
        ("https://console.example.elsewhere.example", "console.example"),
        ("https://sub.console.example", "console.example"),
        ("null", "console.example"),
        ("", "console.example"),
        ("file://", "console.example"),
        ("https://console.example:99999", "console.example"),
        ("http://payments.example", "10.0.0.5:8080"),  # public_url names its scheme
        ("https://console.example", None),
        ("https://console.example", "console.example:bad"),
    ],
)
def test_another_origin_is_refused(origin: str, host: str | None) -> None:
    reason = cross_origin(origin=origin, fetch_site=None, host=host, public_origin=PUBLIC)

    assert reason == f"it was sent from {origin}, not from this console"


@pytest.mark.parametrize(
    ("fetch_site", "refused"),
    [
        ("same-origin", False),
        ("none", False),
        ("Same-Origin", False),
        ("same-site", True),
        ("cross-site", True),
        ("anything", True),
    ],
)
def test_sec_fetch_site_must_say_same_origin_or_none(fetch_site: str, refused: bool) -> None:
    reason = cross_origin(
        origin="https://console.example",
        fetch_site=fetch_site,
        host="console.example",
        public_origin=None,
    )

    assert (reason is not None) is refused


def test_a_request_without_either_header_is_left_to_the_csrf_token() -> None:
    assert (
        cross_origin(origin=None, fetch_site=None, host="console.example", public_origin=None)
        is None
    )


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("https://payments.example", ("https", "payments.example", 443)),
        ("https://payments.example/", ("https", "payments.example", 443)),
        ("http://Payments.Example:8080/x", ("http", "payments.example", 8080)),
        ("", None),
        ("payments.example", None),
        ("ftp://payments.example", None),
    ],
)
def test_a_public_url_gives_its_origin(url: str, parsed: tuple[str, str, int] | None) -> None:
    assert parse_origin(url) == parsed
