"""The plugins and configuration page (``web/console/configuration``): the plugins loaded, and
the configuration without a secret."""

from __future__ import annotations

import html

from console_app import OPERATORS, ConsoleFactory
from scripted import new_script


async def test_the_configuration_page_lists_the_plugins_and_shows_no_secret(
    open_console: ConsoleFactory,
) -> None:
    key_hash = "sha256:" + "cd" * 32
    security = {
        "auth": "none",
        "allow_unsigned_webhooks": True,
        "merchants": {"shop": {"key_hashes": [key_hash]}},
    }
    name, _script = new_script()
    async with open_console({"gw": name}, security=security) as console:
        await console.sign_in()
        page = (await console.get("/console/plugins")).text

    assert 'data-plugin="scripted"' in page
    assert "<strong>scripted</strong>" in page
    config = html.unescape(page.split("data-config>")[1].split("</pre>")[0])
    assert "[console.operators.alice]" in config
    assert 'password_hash = "<redacted>"' in config
    assert 'key_hashes = "<redacted>"' in config
    assert OPERATORS["alice"]["password_hash"] not in page
    assert key_hash not in page
