"""Where notifications may go (``notifications/addresses``): which addresses are public, which
endpoints a production config takes, and a delivery refused when its endpoint's name resolves,
even in part, to an address that is not public."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from core_fixtures import (
    NOTIFICATION_SECRET,
    OPEN,
    Receiver,
    RuntimeFactory,
    WallClock,
    deliver_all,
)
from payments_platform.config import ConfigError, decode_settings
from payments_platform.notifications.addresses import AddressRefused, check_url, is_public, resolve
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import build_runtime
from payments_platform.store import history
from payments_platform.usecases import initiate
from runtime_steps import AED_10
from scripted import ScriptedPlugin, accepted, new_script


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.7", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to refuse, not one to bind
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.7", False),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://merchant.example/hook", True),
        ("http://merchant.example/hook", False),
        ("https://127.0.0.1/hook", False),
        ("https://[::1]:8443/hook", False),
        ("ftp://merchant.example/hook", False),
        ("https:///hook", False),
    ],
)
def test_a_production_url_is_https_to_a_name_or_a_public_address(url: str, allowed: bool) -> None:
    if allowed:
        check_url(url, allow_http=False, allow_private=False)
    else:
        with pytest.raises(AddressRefused):
            check_url(url, allow_http=False, allow_private=False)


async def test_an_endpoint_that_resolves_to_a_private_address_is_refused_in_production(
    scripted_runtime: RuntimeFactory, wall_clock: WallClock, receiver: Receiver
) -> None:
    name, script = new_script()
    script.answer("initiate", accepted("ext-5"))
    # The URL names a host, not an address: it is checked when each delivery resolves it.
    url = receiver.url.replace("127.0.0.1", "localhost")
    production = {
        "allow_http": True,
        "backoff_seconds": 1,
        "endpoints": {"shop": {"url": url, "secret": NOTIFICATION_SECRET}},
    }
    async with scripted_runtime({"gw": name}, notifications=production) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await deliver_all(runtime)
        detail = await runtime.database.read(lambda conn: history.read(conn, payment_id))
    assert receiver.requests == []
    assert detail is not None
    [sent] = detail.notifications
    [delivery] = sent.deliveries
    assert delivery.last_error is not None
    assert "non-public address" in delivery.last_error


PUBLIC = "93.184.216.34"


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make the running event loop resolve each of ``names`` to its addresses, in that order;
    any other host is looked up as before (the receiver's own address, for one)."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **options: Any) -> list[Any]:
        if host not in names:
            return await real(host, port, **options)
        return [_address_info(address, port) for address in names[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


def _address_info(address: str, port: int) -> tuple[Any, ...]:
    """One entry of ``getaddrinfo``'s answer: a TCP stream to ``address``."""
    if ipaddress.ip_address(address).version == 6:
        return socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0)
    return socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port)


async def test_an_endpoint_whose_name_resolves_to_a_public_and_a_private_address_is_refused(
    scripted_runtime: RuntimeFactory, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against SSRF by mixed resolution: a host refused only when *every* address it
    resolves to is private lets ``rebind.example`` -> [127.0.0.1, 93.184.216.34] through, and
    the delivery connects to the first, inside this service's own network."""
    name, script = new_script()
    script.answer("initiate", accepted("ext-rebind"))
    # The receiver listens on loopback: a delivery that went to 127.0.0.1 would reach it.
    url = f"http://rebind.example:{urlsplit(receiver.url).port}/hook"
    resolving(monkeypatch, {"rebind.example": ["127.0.0.1", PUBLIC]})
    production = {
        "allow_http": True,
        "backoff_seconds": 1,
        "endpoints": {"shop": {"url": url, "secret": NOTIFICATION_SECRET}},
    }
    async with scripted_runtime({"gw": name}, notifications=production) as runtime:
        payment_id = uuid.uuid4()
        await initiate.start_payment(runtime.deps, payment_id, AED_10)
        await deliver_all(runtime)
        detail = await runtime.database.read(lambda conn: history.read(conn, payment_id))

    assert receiver.requests == []
    assert detail is not None
    [sent] = detail.notifications
    [delivery] = sent.deliveries
    assert delivery.last_error is not None
    assert "'rebind.example' resolves to non-public address 127.0.0.1" in delivery.last_error


@pytest.mark.parametrize(
    ("addresses", "refused"),
    [
        (["127.0.0.1", PUBLIC], "127.0.0.1"),
        ([PUBLIC, "10.0.0.7"], "10.0.0.7"),
        ([PUBLIC, "169.254.169.254"], "169.254.169.254"),
        (["2606:2800:220:1:248:1893:25c8:1946", "::1"], "::1"),
        ([PUBLIC, "::ffff:127.0.0.1"], "::ffff:127.0.0.1"),
        ([PUBLIC], None),
    ],
)
async def test_a_name_is_refused_if_any_address_it_resolves_to_is_not_public(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str], refused: str | None
) -> None:
    """Guards against SSRF by mixed resolution: refusing a name only when every address it
    resolves to is private lets a name with one public address reach the private ones."""
    resolving(monkeypatch, {"rebind.example": addresses})

    if refused is None:
        target = await resolve("https://rebind.example/hook", allow_http=False, allow_private=False)
        assert target.address == PUBLIC
        return
    with pytest.raises(AddressRefused, match=f"non-public address {re.escape(refused)}$"):
        await resolve("https://rebind.example/hook", allow_http=False, allow_private=False)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://merchant.example/hook", "https://"),
        ("https://127.0.0.1/hook", "non-public"),
        ("https://10.1.2.3/hook", "non-public"),
        ("https://[::1]/hook", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("https://user:pw@merchant.example/hook", "credentials"),
    ],
)
def test_a_production_config_refuses_endpoints_no_delivery_may_use(
    url: str, complaint: str
) -> None:
    raw = {
        "security": OPEN,
        "database": {"url": "sqlite:///unused.db"},
        "notifications": {"endpoints": {"shop": {"url": url, "secret": NOTIFICATION_SECRET}}},
    }
    plugins = PluginHost()
    plugins.register(ScriptedPlugin(), "scripted")
    with pytest.raises(ConfigError, match=complaint) as refused:
        build_runtime(decode_settings(raw), plugins)
    assert "notifications.endpoints.shop.url" in str(refused.value)
