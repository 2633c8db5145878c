"""The settings building blocks: what makes a URL unfit to be a vendor's address."""

from __future__ import annotations

import pytest
from payments_plugins.settings import vendor_url_problem


@pytest.mark.parametrize(
    "url",
    [
        "https://api.vendor.test",
        "http://127.0.0.1:8080/v1/",
        "https://api.vendor.test/v1?version=2#top",
    ],
)
def test_an_absolute_http_url_naming_a_host_is_fit(url: str):
    assert vendor_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (" https://vendor.test", "must not contain whitespace"),
        ("https://vendor .test", "must not contain whitespace"),
        ("https://vendor.test:99999", "is not a valid URL"),
        ("https://vendor.test:port", "is not a valid URL"),
        ("ftp://vendor.test", "must be an absolute http:// or https:// URL naming a host"),
        ("vendor.test/api", "must be an absolute http:// or https:// URL naming a host"),
        ("https:///path-only", "must be an absolute http:// or https:// URL naming a host"),
        ("", "must be an absolute http:// or https:// URL naming a host"),
        ("https://user:password@vendor.test", "must not carry credentials"),
        ("https://user@vendor.test", "must not carry credentials"),
    ],
)
def test_a_url_unfit_for_a_vendor_is_refused_saying_why(url: str, problem: str):
    found = vendor_url_problem(url)

    assert found is not None
    assert found.startswith(problem)
