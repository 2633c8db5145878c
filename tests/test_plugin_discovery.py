"""Plugins are found through the ``payments`` entry points, with no change to the core."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from core_fixtures import OPEN
from packaging.version import Version
from payments_platform.config import PluginsConfig, decode_settings, load_settings
from payments_platform.plugin_host import PluginError, PluginHost
from payments_platform.runtime import build_runtime
from payments_plugins import GatewayType
from payments_plugins.contract import CONTRACT_VERSION
from payments_plugins.testing.asgi_server import free_port

from .conftest import AppFactory
from .distributions import gateway_type_module, write_distribution
from .server_process import write_config

Install = Callable[..., Path]

_CURRENT = Version(CONTRACT_VERSION)
THIS_MINOR = f"{_CURRENT.major}.{_CURRENT.minor}"
NEXT_MINOR = f"{_CURRENT.major}.{_CURRENT.minor + 1}"


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install third-party distributions for this test: their dist-info on ``sys.path``."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def installing(name: str, **layout: Any) -> Path:
        return write_distribution(site, name, **layout)

    yield installing
    for module in [name for name, m in sys.modules.items() if _loaded_from(m, site)]:
        del sys.modules[module]


def _loaded_from(module: object, folder: Path) -> bool:
    return str(getattr(module, "__file__", None) or "").startswith(str(folder))


def _payments(*arguments: str, site: Path | None = None, env: dict[str, str] | None = None):
    """Run ``payments`` (with ``site`` on the path); return the completed process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    if site is not None:
        # In front of the path the tests run with, so that it runs the code under test.
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [environment.get("PYTHONPATH")])]
        )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "payments_platform.cli", *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        timeout=60,
    )


def test_the_installed_test_plugin_is_discovered_with_its_distribution() -> None:
    host = PluginHost.discover()
    names = {plugin.name: plugin for plugin in host.plugins}
    assert names["testgw"].distribution == "payments-plugin-test-gateway"
    assert names["testgw"].gateway_types == ("testgw",)
    assert host.gateway_type("testgw").currencies == frozenset({"EUR", "JPY"})
    assert not host.failures


async def test_a_config_file_enabling_the_test_plugin_serves_payments(
    platform: AppFactory, tmp_path: Path
) -> None:
    config = tmp_path / "payments.toml"
    config.write_text(
        '[security]\nauth = "none"\nallow_unsigned_webhooks = true\n'
        '[gateways.tg]\ntype = "testgw"\n[gateways.tg.settings]\ndecline_amounts = [13]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    async with platform({"tg": settings.gateways["tg"]}) as client:
        payment_id = str(uuid.uuid4())
        response = await client.post(
            "/init-payment", json={"id": payment_id, "currency": "JPY", "amount_fractions": 500}
        )
        assert response.status_code == 201, response.text
        assert response.json()["gateway"] == "tg"
        assert response.json()["amount"] == "500 JPY"
        external_id = response.json()["external_id"]
        webhook = await client.post(
            "/external/testgw-webhook", json={"ref": external_id, "state": "paid"}
        )
        assert webhook.status_code == 200, webhook.text
        refund = await client.post("/refund", json={"id": payment_id})
        assert refund.json()["payment"]["status"] == "refunded"
        declined = await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "EUR", "amount_fractions": 13},
        )
        assert declined.status_code == 402
        assert declined.json()["payment"]["failure_code"] == "test_decline"


def test_payments_plugins_lists_plugins_types_and_currencies() -> None:
    result = _payments("plugins")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "testgw  (payments-plugin-test-gateway 0.1.0)" in result.stdout
    assert "gateway type testgw: EUR, JPY" in result.stdout
    assert "gateway type json: AED  [simulator]" in result.stdout


@pytest.mark.parametrize(
    ("requires", "shown"),
    [
        (("payments-plugins<3,>=2.0",), "built for payments-plugins>=2.0,<3"),
        (("payments-plugins~=2.0",), "built for payments-plugins~=2.0"),
        (
            ("payments-plugins<2,>=1.0",),
            "built for payments-plugins>=1.0,<2: loaded as a contract 1.1.0 plugin, with no"
            " capability (no next action, no cancel)",
        ),
        (
            ("payments-plugins",),
            "built for any contract (payments-plugins without a version range)",
        ),
        ((), "built for any contract (it does not depend on payments-plugins)"),
    ],
)
def test_payments_plugins_shows_the_contract_and_the_range_each_plugin_declares(
    install: Install, requires: tuple[str, ...], shown: str
) -> None:
    """Issue 19, finding 3.2: a vendor could not see which contract the platform implements
    nor which one a plugin declares."""
    site = install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "acme")},
        requires=requires,
    )
    result = _payments("plugins", site=site)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"payments {importlib.metadata.version('payments-platform')} implements plugin contract"
        f" {CONTRACT_VERSION}"
    )
    acme = lines.index("acme  (payments-plugin-acme 0.1.0)")
    assert lines[acme + 1] == f"    {shown}"
    assert lines[acme + 2] == "    gateway type acme: EUR"
    json = lines.index("json  (payments-plugin-json-gateway 0.1.0)")
    assert lines[json + 1] == "    built for payments-plugins>=2.2,<3"


def _with_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.entry_points

    def entry_points(*, group: str) -> importlib.metadata.EntryPoints:
        broken = importlib.metadata.EntryPoint(
            name="broken", value="payments_no_such_module_anywhere", group=group
        )
        return importlib.metadata.EntryPoints([*real(group=group), broken])

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_a_plugin_that_fails_to_import_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_broken_plugin(monkeypatch)
    host = PluginHost.discover()
    [failure] = host.failures
    assert failure.describe().startswith(
        "Error loading plugin \"broken\": its module 'payments_no_such_module_anywhere' cannot be"
        " imported: ModuleNotFoundError"
    )
    assert "payments_no_such_module_anywhere" in failure.traceback
    assert "testgw" in host.gateway_types  # the others still load


def test_start_up_fails_only_if_an_enabled_gateway_needs_the_broken_plugin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _with_broken_plugin(monkeypatch)
    host = PluginHost.discover()
    database = {"url": f"sqlite:///{tmp_path / 'p.db'}"}
    fine = decode_settings(
        {"database": database, "security": OPEN, "gateways": {"tg": {"type": "testgw"}}}
    )
    build_runtime(fine, host)
    needs_it = decode_settings(
        {"database": database, "security": OPEN, "gateways": {"b": {"type": "brokentype"}}}
    )
    with pytest.raises(
        PluginError,
        match=r"no installed plugin provides gateway type .brokentype."
        r'.*Error loading plugin "broken"',
    ):
        build_runtime(needs_it, host)


def test_the_plugin_failure_that_stops_the_start_is_named_first(
    install: Install, tmp_path: Path
) -> None:
    """Issue 19, finding 2.4: `serve` listed every plugin that failed to load, in the order
    they were found, the one the configured gateway needs among the others."""
    for name in ("aaa", "acme"):
        site = install(
            f"payments-plugin-{name}",
            entry_points={name: f"payments_plugin_{name}"},
            modules={f"payments_plugin_{name}": f"raise RuntimeError('{name} is broken')"},
        )
    config = write_config(
        tmp_path / "payments.toml",
        {
            "server": {"host": "127.0.0.1", "port": free_port()},
            "database": {"url": f"sqlite:///{tmp_path / 'p.db'}", "migrate_on_start": True},
            "security": OPEN,
            "gateways": {"acme": {"type": "acme"}},
        },
    )
    result = _payments("serve", "--config", str(config), site=site)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "payments: error: no installed plugin provides gateway type 'acme' (available: json,"
        ' soap, testgw); its plugin failed to load: Error loading plugin "acme": its module'
        " 'payments_plugin_acme' cannot be imported: RuntimeError: acme is broken; other plugins"
        " that failed to load: Error loading plugin \"aaa\": its module 'payments_plugin_aaa'"
        " cannot be imported: RuntimeError: aaa is broken"
    ]


def test_a_misspelled_hook_is_refused_naming_the_hook_it_meant() -> None:
    from payments_plugins import hookimpl

    class Typo:
        @hookimpl
        def payments_register_gateway_type(
            self, register: Callable[[GatewayType[Any]], None]
        ) -> None:
            return None

    host = PluginHost.discover()
    host.register(Typo(), "typo")
    [failure] = host.failures
    assert failure.name == "typo"
    assert (
        "it implements 'payments_register_gateway_type' (did you mean"
        " 'payments_register_gateway_types'?), which the platform does not define"
    ) in failure.error
    assert "typo" not in {plugin.name for plugin in host.plugins}


ACME = {"acme": "payments_plugin_acme"}


def test_a_third_party_type_named_like_a_built_in_one_is_served_by_neither(
    install: Install, tmp_path: Path
) -> None:
    install(
        "payments-plugin-acme",
        version="2.3.0",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "json", ("AED",))},
    )
    host = PluginHost.discover()
    conflict = host.conflicts["json"]
    described = conflict.describe()
    assert "'json' (payments-plugin-json-gateway 0.1.0)" in described
    assert "'acme' (payments-plugin-acme 2.3.0)" in described
    assert "json" not in host.gateway_types
    assert not host.failures  # both plugins loaded; only the contested type is withheld
    settings = decode_settings(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'p.db'}"},
            "security": OPEN,
            "gateways": {"aed": {"type": "json", "settings": {"base_url": "http://v.test"}}},
        }
    )
    with pytest.raises(PluginError, match=r"payments-plugin-acme 2\.3\.0.*served by neither"):
        build_runtime(settings, host)


def test_start_up_fails_even_when_the_gateway_of_a_contested_type_is_disabled(
    install: Install, tmp_path: Path
) -> None:
    install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "testgw", ("EUR",))},
    )
    settings = decode_settings(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'p.db'}"},
            "security": OPEN,
            "gateways": {"tg": {"type": "testgw", "enabled": False}},
        }
    )
    with pytest.raises(PluginError, match="gateway type 'testgw' is registered by both"):
        build_runtime(settings, PluginHost.discover())


def test_payments_plugins_shows_a_conflict_and_exits_non_zero(install: Install) -> None:
    site = install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "json", ("AED",))},
    )
    result = _payments("plugins", site=site)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gateway type json: CONTESTED, served by no plugin" in result.stdout
    [conflict] = [line for line in result.stdout.splitlines() if line.startswith("Conflict:")]
    assert conflict.startswith("Conflict: gateway type 'json' is registered by both")
    assert "'acme' (payments-plugin-acme 0.1.0)" in conflict


def test_the_allow_list_loads_only_the_plugins_it_names(install: Install) -> None:
    # Importing this module would fail: a plugin left out is not even imported.
    install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": "raise RuntimeError('imported')"},
    )
    host = PluginHost.discover(PluginsConfig(load=["json", "payments-plugin-soap-gateway"]))
    assert sorted(plugin.name for plugin in host.plugins) == ["json", "soap"]
    assert not host.failures
    assert {skipped.name: skipped.reason for skipped in host.skipped} == {
        "acme": "not named in plugins.load",
        "testgw": "not named in plugins.load",
    }


def test_the_allow_list_comes_from_the_environment_and_names_what_is_missing(
    install: Install,
) -> None:
    site = install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "json", ("AED",))},
    )
    result = _payments(
        "plugins", site=site, env={"PAYMENTS_PLUGINS__LOAD": '["json", "soap", "sopa"]'}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gateway type json: AED  [simulator]" in result.stdout  # no conflict: acme left out
    assert "not loaded: 'acme' (payments-plugin-acme 0.1.0): not named in plugins.load" in (
        result.stdout
    )
    assert "plugins.load names 'sopa', which no installed plugin is" in result.stdout


def test_a_blocked_plugin_is_not_loaded_and_the_config_still_loads(tmp_path: Path) -> None:
    # The block-list once came from a variable the config loader refused as an unknown key.
    result = _payments("config", "check", env={"PAYMENTS_PLUGINS__BLOCK": '["testgw"]'})
    assert result.returncode == 0, result.stderr
    listing = _payments("plugins", env={"PAYMENTS_PLUGINS__BLOCK": '["testgw"]'})
    assert "not loaded: 'testgw' (payments-plugin-test-gateway 0.1.0): blocked by" in (
        listing.stdout
    )


@pytest.mark.parametrize("blocked", ["testgw", "payments-plugin-test-gateway"])
def test_the_block_list_takes_a_plugin_or_distribution_name(blocked: str) -> None:
    """Guards against a block list that checks only the entry-point name: the docs promise
    that either name works, and a plugin blocked by its distribution name would be loaded
    anyway (``load`` alone was tested with distribution names)."""
    host = PluginHost.discover(PluginsConfig(block=[blocked]))

    assert "testgw" not in {plugin.name for plugin in host.plugins}
    assert "testgw" not in host.gateway_types
    assert {skipped.name: skipped.reason for skipped in host.skipped} == {
        "testgw": "blocked by plugins.block"
    }
    assert not host.failures
    assert {"json", "soap"} <= {plugin.name for plugin in host.plugins}


def test_a_module_without_hookimpl_is_a_failure_naming_the_decorator(install: Install) -> None:
    unmarked = gateway_type_module("acme", "acme").replace("@hookimpl\n", "")
    site = install(
        "payments-plugin-acme", entry_points=ACME, modules={"payments_plugin_acme": unmarked}
    )
    [failure] = PluginHost.discover().failures
    assert failure.error == (
        "it registers no gateway type: its payments_register_gateway_types is not marked as a"
        " hook implementation; decorate it with @payments_plugins.hookimpl"
    )
    result = _payments("plugins", site=site)
    assert result.returncode == 1
    assert 'Error loading plugin "acme": it registers no gateway type' in result.stdout
    assert "acme  (payments-plugin-acme" not in result.stdout


def test_an_installed_plugin_with_a_misnamed_hook_is_refused(install: Install) -> None:
    misnamed = gateway_type_module("acme", "acme").replace(
        "def payments_register_gateway_types", "def payments_register_gateway_type"
    )
    install("payments-plugin-acme", entry_points=ACME, modules={"payments_plugin_acme": misnamed})
    [failure] = PluginHost.discover().failures
    assert "did you mean 'payments_register_gateway_types'?" in failure.error


def test_a_requirement_of_arbitrary_equality_is_refused_not_a_crash(install: Install) -> None:
    """A requirement that names no version (``===`` compares strings) is refused like any
    other that excludes the contract, instead of failing discovery as a version to compare."""
    install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": "raise RuntimeError('imported')"},
        requires=("payments-plugins===nightly",),
    )
    [failure] = PluginHost.discover().failures
    assert failure.error.startswith(
        "payments-plugin-acme 0.1.0 is built for the plugin contract payments-plugins===nightly,"
        f" but this platform implements contract {CONTRACT_VERSION}: install a release"
    )


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        (
            "payments-plugins>=3.0,<4",
            "payments-plugin-acme 3.0.0 is built for the plugin contract payments-plugins>=3.0,<4,"
            f" newer than contract {CONTRACT_VERSION} that this platform implements: upgrade the"
            " platform to a release that implements contract 3.0 or later, or install a release"
            f" of payments-plugin-acme built for contract {THIS_MINOR} or earlier (one whose"
            f" requirement admits {CONTRACT_VERSION}, such as payments-plugins>=2.0,<3)",
        ),
        (
            f"payments-plugins>={NEXT_MINOR},<3",
            f"payments-plugin-acme 3.0.0 is built for the plugin contract"
            f" payments-plugins>={NEXT_MINOR},<3, newer than contract {CONTRACT_VERSION} that"
            f" this platform implements: upgrade the platform to a release that implements"
            f" contract {NEXT_MINOR} or later, or install a release of payments-plugin-acme"
            f" built for contract {THIS_MINOR} or earlier (one whose requirement admits"
            f" {CONTRACT_VERSION}, such as payments-plugins>=2.0,<3)",
        ),
        (
            "payments-plugins<1,>=0.1",
            "payments-plugin-acme 3.0.0 is built for the plugin contract"
            f" payments-plugins>=0.1,<1, but this platform implements contract {CONTRACT_VERSION}:"
            " install a release of payments-plugin-acme built for contract 2.x (one whose"
            f" requirement admits {CONTRACT_VERSION}, such as payments-plugins>=2.0,<3), or run"
            " it on a platform release whose contract it admits",
        ),
    ],
)
def test_a_plugin_built_for_another_contract_is_refused_naming_both_ways_out(
    install: Install, requirement: str, message: str
) -> None:
    """Issue 19, finding 2.4: a plugin that needs a newer contract (a newer minor included) is
    told to upgrade the platform or install an older plugin, not only the latter."""
    install(
        "payments-plugin-acme",
        version="3.0.0",
        entry_points=ACME,
        modules={"payments_plugin_acme": "raise RuntimeError('imported')"},
        requires=(requirement, "httpx>=0.27"),
    )
    [failure] = PluginHost.discover().failures
    assert failure.error == message


@pytest.mark.parametrize(
    "requirement",
    [
        "payments-plugins>=2.0,<3",
        "payments-plugins~=2.0",
        "payments-plugins",
        # Built for contract 1.x: it loads, as a 1.x plugin (no capability declared).
        "payments-plugins>=1.0,<2",
        "payments-plugins==1.0.0",
    ],
)
def test_a_plugin_built_for_this_contract_or_for_1_x_loads(
    install: Install, requirement: str
) -> None:
    install(
        "payments-plugin-acme",
        entry_points=ACME,
        modules={"payments_plugin_acme": gateway_type_module("acme", "acme")},
        requires=(requirement,),
    )
    host = PluginHost.discover()
    assert not host.failures
    assert host.gateway_types["acme"].plugin.distribution == "payments-plugin-acme"


def test_payments_plugins_prints_each_types_description() -> None:
    result = _payments("plugins")
    assert result.returncode == 0, result.stdout
    assert "    gateway type testgw: EUR, JPY\n        In-process test vendor (EUR, JPY)\n" in (
        result.stdout
    )
