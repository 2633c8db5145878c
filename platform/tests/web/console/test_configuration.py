"""The plugins and configuration page (``web/console/configuration``): the plugins loaded, and
the configuration without a secret."""

from __future__ import annotations

import html
import re

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


async def test_settings_a_deployment_with_real_money_should_not_take_are_flagged(
    open_console: ConsoleFactory,
) -> None:
    key_hash = "sha256:" + "ab" * 32
    keys = {
        "auth": "api-keys",
        "merchants": {"shop": {"key_hashes": [key_hash]}},
        # The scripted gateway verifies no webhook: the one risk both configurations take.
        "allow_unsigned_webhooks": True,
    }
    name, _script = new_script()
    async with open_console({"gw": name}, security=keys) as console:
        await console.sign_in()
        safe = (await console.get("/console/plugins")).text
    risky = {"allow_http": True, "allow_private_addresses": True}
    async with open_console(
        {"gw": name},
        security=keys,
        notifications=risky,
        server={"public_url": "http://payments.example"},
    ) as console:
        await console.sign_in()
        flagged = (await console.get("/console/plugins")).text

    def listed(page: str) -> list[str]:
        shown = html.unescape(page.split("data-risks>")[1].split("</div>", maxsplit=1)[0])
        return re.findall(r"<code>([^<]+)</code>", shown)

    assert listed(safe) == ["security.allow_unsigned_webhooks"]
    assert listed(flagged) == [
        "security.allow_unsigned_webhooks",
        "notifications.allow_http",
        "notifications.allow_private_addresses",
        "server.public_url",
    ]
    assert 'class="notice bad" data-risks' in flagged
