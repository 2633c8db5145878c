"""The conformance kit itself: it fails gateways that break the contract, reports what it leaves
out, and stays out of the way of test runs that do not use it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from xml.etree import ElementTree

import httpx
import pytest
from packaging.version import Version
from payments_plugins import Amount, Gateway, InitiateRequest, InitiateResult
from payments_plugins.contract import CONTRACT_VERSION
from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting
from payments_plugins.testing.control import SimulatorControl, SimulatorControlError
from payments_plugins.testing.guard import ContractGuard
from payments_plugins.testing.kit import SECTION_TITLE
from payments_plugins.testing.target import NotLoadable

from .distributions import CONTRACT_REQUIREMENT, gateway_type_module, write_distribution

MAJOR, MINOR = Version(CONTRACT_VERSION).major, Version(CONTRACT_VERSION).minor

HASTY_PLUGIN = """
import dataclasses

from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import GatewayOutcomeUnknown, GatewayUnavailable, hookimpl


class HastyGateway(JsonGateway):
    # The dangerous mistake: an unknown outcome reported as "not processed", which would make
    # the platform try another gateway and could charge the payer twice.
    async def initiate(self, request):
        try:
            return await super().initiate(request)
        except GatewayOutcomeUnknown as error:
            raise GatewayUnavailable(str(error)) from error


HASTY = dataclasses.replace(
    JSON_GATEWAY_TYPE,
    name="hasty",
    build=lambda settings, resources: HastyGateway(settings, resources),
)


@hookimpl
def payments_register_gateway_types(register):
    register(HASTY)
"""

HASTY_TESTS = """
from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting


class TestHastyConformance(GatewayConformance):
    target = ConformanceTarget(
        distribution="payments-plugin-hasty",
        gateway_type="hasty",
        settings={"webhook_secret": "whsec_one"},
        foreign_webhook_settings={"webhook_secret": "whsec_two"},
        quick_timeouts={"read_timeout": 0.3},
        invalid_settings=[InvalidSetting({"read_timeout": 0}, "read_timeout")],
    )
"""

# The JSON gateway's type declaring a currency its vendor (and simulator) does not take.
WIDE_PLUGIN = """
import dataclasses

from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import hookimpl

WIDE = dataclasses.replace(
    JSON_GATEWAY_TYPE, name="wide", currencies=JSON_GATEWAY_TYPE.currencies | {"KWD"}
)


@hookimpl
def payments_register_gateway_types(register):
    register(WIDE)
"""

GULLIBLE_PLUGIN = """
import dataclasses

import msgspec
from payments_plugin_test_gateway import GATEWAY_TYPE, TestGateway
from payments_plugins import hookimpl


class LaxSettings(msgspec.Struct, frozen=True, kw_only=True):
    # No forbid_unknown_fields: a misspelt setting would be ignored without a word.
    token: str | None = None
    decline_amounts: list[int] = msgspec.field(default_factory=list)


class GullibleGateway(TestGateway):
    # Believes any notification, whoever made it.
    async def parse_webhook(self, headers, body):
        lax = msgspec.structs.replace(self.settings, token=None)
        return await TestGateway(lax).parse_webhook(headers, body)


GULLIBLE = dataclasses.replace(
    GATEWAY_TYPE,
    name="gullible",
    settings_type=LaxSettings,
    build=lambda settings, resources: GullibleGateway(settings),
)


@hookimpl
def payments_register_gateway_types(register):
    register(GULLIBLE)
"""

# Gateways built on the test plugin's in-process vendor, each breaking the contract one way.
MISBEHAVING_PLUGIN = """
import dataclasses

from payments_plugin_test_gateway import GATEWAY_TYPE, TestGateway
from payments_plugins import GatewayDeclined, InitiateResult, hookimpl


class Misbehaving(TestGateway):
    async def initiate(self, request):
        {body}


TYPE = dataclasses.replace(
    GATEWAY_TYPE, name={name!r}, build=lambda settings, resources: Misbehaving(settings)
)


@hookimpl
def payments_register_gateway_types(register):
    register(TYPE)
"""

IN_PROCESS_TESTS = """
import json

from payments_plugins import Amount
from payments_plugins.testing import (
    ConformanceTarget,
    GatewayConformance,
    InvalidSetting,
    Notification,
)


def notification(external_id, status):
    body = json.dumps({{"ref": external_id, "state": status.value}}).encode()
    return Notification(headers={{"X-Testgw-Token": "right"}}, body=body)


class Test{name}Conformance(GatewayConformance):
    target = ConformanceTarget(
        distribution="payments-plugin-{name}",
        gateway_type={type_name!r},
        settings={{"token": "right", "decline_amounts": [1313]}},
        foreign_webhook_settings={{"token": "wrong"}},
        declined_amount=Amount(1313, "EUR"),
        notification=notification,
        invalid_settings=[InvalidSetting({{"decline_amounts": ["x"]}}, "decline_amounts")],
    )
"""


def in_process_tests(name: str, type_name: str | None = None) -> str:
    """A conformance class for the in-process plugin ``name`` (type ``type_name``)."""
    return IN_PROCESS_TESTS.format(name=name, type_name=type_name or name)


BROKEN_PLUGINS: dict[str, str] = {
    "misnamed": gateway_type_module("misnamed", "misnamed").replace(
        "def payments_register_gateway_types", "def payments_register_gateway_type"
    ),
    "unmarked": gateway_type_module("unmarked", "unmarked").replace("@hookimpl\n", ""),
    "foreign": gateway_type_module("foreign", "foreigner"),
    "letters": gateway_type_module("letters", "letters").replace("frozenset({'EUR'})", "'EUR'"),
    "plain": MISBEHAVING_PLUGIN.format(name="plain", body="raise Exception('vendor said 500')"),
    "intid": MISBEHAVING_PLUGIN.format(
        name="intid", body="return InitiateResult(external_id=12345)"
    ),
    "pinned": MISBEHAVING_PLUGIN.format(
        name="pinned", body="return await super().initiate(request)"
    ),
    "capped": MISBEHAVING_PLUGIN.format(
        name="capped", body="return await super().initiate(request)"
    ),
    # The type declares EUR and JPY (the test plugin's), the gateway takes EUR only.
    "nojpy": MISBEHAVING_PLUGIN.format(
        name="nojpy",
        body="if request.amount.currency == 'JPY':\n"
        "            raise GatewayDeclined('not taken', vendor_code='unsupported_currency')\n"
        "        return await super().initiate(request)",
    ),
    "keyjpy": MISBEHAVING_PLUGIN.format(
        name="keyjpy",
        body="{'EUR': '978'}[request.amount.currency]\n"
        "        return await super().initiate(request)",
    ),
}
"""Each plugin breaks the contract in one way a vendor did; each should fail the kit."""

FIXES = {
    "misnamed": "it implements 'payments_register_gateway_type' (did you mean"
    " 'payments_register_gateway_types'?), which the platform does not define",
    "unmarked": "its payments_register_gateway_types is not marked as a hook implementation;"
    " decorate it with @payments_plugins.hookimpl",
    "foreign": "gateway type 'testgw' is registered by 'testgw' (payments-plugin-test-gateway"
    " 0.1.0), not by payments-plugin-foreign; certify a type your distribution registers (it"
    " registers ['foreigner'])",
    "letters": "currencies must be a set of strings such as frozenset({'EUR'}), not the string"
    " 'EUR'",
    "plain": "initiate of 10.01 EUR raised Exception: vendor said 500\na gateway raises only the"
    " contract's errors (payments_plugins): GatewayUnavailable when",
    "intid": "initiate of 10.01 EUR raised TypeError: InitiateResult.external_id must be a str"
    " (the vendor's id as text), not int 12345",
    "pinned": f"payments-plugin-pinned requires payments-plugins=={CONTRACT_VERSION}, which"
    f" refuses later {MAJOR}.x contracts: a platform of a later minor release would refuse to load"
    f' it, though a minor release only adds; depend on "payments-plugins>={MAJOR}.{MINOR},'
    f'<{MAJOR + 1}" instead',
    "capped": f"payments-plugin-capped requires payments-plugins>={MAJOR}.0,<{MAJOR}.{MINOR + 1},"
    f" which refuses later {MAJOR}.x contracts: a platform of a later minor release would refuse"
    f' to load it, though a minor release only adds; depend on "payments-plugins>={MAJOR}.0,'
    f'<{MAJOR + 1}" instead',
}
"""What the kit says about each broken plugin: the fix, not a symptom."""

FIXES |= {
    "nojpy": "JPY: initiate of 123456 JPY raised GatewayDeclined: not taken (vendor code"
    " unsupported_currency)",
    "keyjpy": "initiate of 123456 JPY raised KeyError: 'JPY'\na gateway raises only the"
    " contract's errors",
}

REQUIRES = {
    "pinned": f"payments-plugins=={CONTRACT_VERSION}",
    "capped": f"payments-plugins>={MAJOR}.0,<{MAJOR}.{MINOR + 1}",
}
"""Each plugin's requirement on the contract, where it is not the usual range."""

SLOW_PLUGIN = """
import asyncio
import dataclasses

from payments_plugin_test_gateway import GATEWAY_TYPE, TestGateway
from payments_plugins import hookimpl

LATE = 3.0


class Slow(TestGateway):
    # Every answer comes, but only after the platform stopped waiting for it.
    async def initiate(self, request):
        await asyncio.sleep(LATE)
        return await super().initiate(request)

    async def refund(self, request):
        await asyncio.sleep(LATE)
        return await super().refund(request)

    async def fetch_status(self, query):
        await asyncio.sleep(LATE)
        return await super().fetch_status(query)

    async def fetch_refund_status(self, query):
        await asyncio.sleep(LATE)
        return await super().fetch_refund_status(query)

    async def parse_webhook(self, headers, body):
        await asyncio.sleep(LATE)
        return await super().parse_webhook(headers, body)


SLOW = dataclasses.replace(
    GATEWAY_TYPE, name="slow", build=lambda settings, resources: Slow(settings)
)


@hookimpl
def payments_register_gateway_types(register):
    register(SLOW)
"""

SHORT_DEADLINE = """
import payments_plugins.contract

# A platform whose default deadline is short, so that a gateway overruns it in a short test.
payments_plugins.contract.CALL_DEADLINE_SECONDS = 0.2
"""

UNRELATED_TESTS = """
def test_the_payments_plugin_is_loaded_and_inert(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("payments")
"""


@dataclass
class KitRun:
    """One pytest run of conformance classes: its output and each test's outcome."""

    completed: subprocess.CompletedProcess[str]
    outcomes: dict[tuple[str, str], str]
    """``passed``, ``failed`` or ``skipped`` by (module, test name); a module that failed to
    collect is listed under its own name with the test name ``""``."""
    messages: dict[tuple[str, str], str]
    """The message of each failed or skipped test."""
    seconds: dict[tuple[str, str], float]
    """How long each test took."""

    def failed_in(self, module: str) -> list[str]:
        return self.in_module(module, "failed")

    def in_module(self, module: str, outcome: str) -> list[str]:
        return sorted(
            name
            for (where, name), found in self.outcomes.items()
            if where == module and found == outcome
        )


_OUTCOMES = (("failure", "failed"), ("error", "failed"), ("skipped", "skipped"))
"""The JUnit element that marks a test's outcome, and the outcome."""


def run_pytest(tmp_path: Path, modules: dict[str, str], site: Path | None = None) -> KitRun:
    """Run pytest on ``modules`` (name -> source) in a project of their own, with the
    distributions installed in ``site``."""
    project = tmp_path / "project"
    project.mkdir()
    for name, source in modules.items():
        (project / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    report = tmp_path / "report.xml"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if site is not None:
        # In front of the path the tests run with, so that it runs the code under test.
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(site), *filter(None, [environment.get("PYTHONPATH")])]
        )
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            f"--junitxml={report}",
        ],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    outcomes: dict[tuple[str, str], str] = {}
    messages: dict[tuple[str, str], str] = {}
    seconds: dict[tuple[str, str], float] = {}
    # The report was written by the run just above, not by anyone untrusted.
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314
        module = case.attrib["classname"].split(".")[0] or case.attrib["name"]
        name = case.attrib["name"] if case.attrib["classname"] else ""
        outcomes[(module, name)] = "passed"
        seconds[(module, name)] = float(case.attrib.get("time", "0"))
        for element, outcome in (
            ("failure", "failed"),
            ("error", "failed"),
            ("skipped", "skipped"),
        ):
            found = case.find(element)
            if found is not None:
                outcomes[(module, name)] = outcome
                messages[(module, name)] = (found.text or "") + found.attrib.get("message", "")
                break
    return KitRun(completed, outcomes, messages, seconds)


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    """One run of the kit against every broken plugin, read by several tests."""
    root = tmp_path_factory.mktemp("broken")
    site = root / "site"
    plugins = {
        "hasty": HASTY_PLUGIN,
        "wide": WIDE_PLUGIN,
        "gullible": GULLIBLE_PLUGIN,
        **BROKEN_PLUGINS,
    }
    for name, source in plugins.items():
        module = f"payments_plugin_{name}"
        write_distribution(
            site,
            f"payments-plugin-{name}",
            entry_points={name: module},
            modules={module: source},
            requires=(REQUIRES.get(name, CONTRACT_REQUIREMENT),),
        )
    tests = {
        "test_hasty": HASTY_TESTS,
        "test_wide": HASTY_TESTS.replace("hasty", "wide").replace("Hasty", "Wide"),
        "test_gullible": in_process_tests("gullible"),
    }
    tests |= {f"test_{name}": in_process_tests(name) for name in BROKEN_PLUGINS}
    tests["test_foreign"] = in_process_tests("foreign", "testgw")
    return run_pytest(root, tests, site)


def test_the_kit_fails_a_gateway_that_reports_unknown_outcomes_as_unavailable(
    broken_run: KitRun,
):
    assert broken_run.completed.returncode == 1, broken_run.completed.stdout
    assert broken_run.failed_in("test_hasty") == [
        "test_a_garbage_answer_is_an_unknown_outcome",
        "test_a_timeout_is_an_unknown_outcome",
        "test_an_error_after_processing_is_an_unknown_outcome",
    ]
    assert "raised GatewayUnavailable" in broken_run.completed.stdout
    assert len([key for key in broken_run.outcomes if key[0] == "test_hasty"]) == 41


def test_the_kit_fails_lax_settings_and_a_gateway_that_believes_any_notification(
    broken_run: KitRun,
):
    assert broken_run.failed_in("test_gullible") == [
        "test_a_notification_made_with_other_credentials_is_refused",
        "test_settings_refuse_bad_values_naming_the_setting",
    ]
    assert "an unknown setting: accepted" in broken_run.completed.stdout


@pytest.mark.parametrize("plugin", sorted(BROKEN_PLUGINS))
def test_each_broken_plugin_fails_the_kit_with_a_message_naming_the_fix(
    broken_run: KitRun, plugin: str
):
    module = f"test_{plugin}"
    failed = {
        name: broken_run.messages[(where, name)]
        for where, name in broken_run.outcomes
        if where == module and broken_run.outcomes[(where, name)] == "failed"
    }
    assert failed, f"the kit passed the {plugin} plugin"
    for name, message in failed.items():
        assert FIXES[plugin] in message, f"{name}: {message}"
    # A gateway's own error fails the check with the contract's words, not its traceback.
    if plugin in ("plain", "intid"):
        assert all(message.startswith(FIXES[plugin]) for message in failed.values())


def test_checks_that_do_not_apply_are_deselected_and_listed_with_their_reason(
    broken_run: KitRun,
):
    completed, outcomes = broken_run.completed, broken_run.outcomes
    # hasty and wide leave out 1 check each; gullible and the six in-process plugins that load
    # (plain, intid, pinned, capped, nojpy, keyjpy) 25 each: 8 that need a vendor over the
    # network or a webhook_reply, 17 that certify capabilities they do not declare.
    assert "177 deselected" in completed.stdout
    assert ("test_gullible", "test_a_timeout_is_an_unknown_outcome") not in outcomes
    assert ("test_hasty", "test_webhook_replies_render_every_outcome") not in outcomes
    summary = completed.stdout.split(SECTION_TITLE, 1)[1]
    assert "(gateway type 'hasty'): 41 checks selected, 1 not applicable" in summary
    assert "(gateway type 'gullible'): 17 checks selected, 25 not applicable" in summary
    assert (
        "not applicable: test_a_timeout_is_an_unknown_outcome "
        "(needs a simulator (GatewayType.simulator))"
    ) in summary
    assert (
        "not applicable: test_webhook_replies_render_every_outcome "
        "(needs GatewayType.webhook_reply)"
    ) in summary


def test_a_run_without_conformance_classes_is_not_affected(tmp_path: Path):
    run = run_pytest(tmp_path, {"test_unrelated": UNRELATED_TESTS})
    completed, outcomes = run.completed, run.outcomes

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert outcomes == {
        ("test_unrelated", "test_the_payments_plugin_is_loaded_and_inert"): "passed"
    }
    assert SECTION_TITLE not in completed.stdout


def test_importing_the_kit_imports_no_server_and_the_server_no_pytest():
    probe = textwrap.dedent(
        """
        import sys
        import payments_plugins.testing.kit
        from payments_plugins.testing import GatewayConformance
        assert "uvicorn" not in sys.modules, "the kit imported uvicorn"
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
    probe = textwrap.dedent(
        """
        import sys
        import payments_plugins.testing.asgi_server
        assert "pytest" not in sys.modules, "the ASGI server helper imported pytest"
        """
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (
            ConformanceTarget(
                distribution="payments-plugin-json-gateway",
                gateway_type="json",
                foreign_webhook_settings={"webhook_secret": "x"},
                invalid_settings=[InvalidSetting({"read_timeout": 0}, "read_timeout")],
            ),
            "quick_timeouts is required with a simulator",
        ),
        (
            ConformanceTarget(
                distribution="payments-plugin-test-gateway",
                gateway_type="testgw",
                foreign_webhook_settings={},
                invalid_settings=[InvalidSetting({"token": 1}, "token")],
            ),
            "foreign_webhook_settings must name other webhook credentials",
        ),
        (
            ConformanceTarget(
                distribution="payments-plugin-test-gateway",
                gateway_type="testgw",
                foreign_webhook_settings={"token": "x"},
            ),
            "invalid_settings must list at least one value",
        ),
    ],
)
def test_an_incomplete_target_is_refused_when_the_class_is_defined(
    target: ConformanceTarget, problem: str
):
    with pytest.raises(TypeError, match=problem):
        type("TestIncomplete", (GatewayConformance,), {"target": target})


def test_a_distribution_that_is_not_installed_is_refused_naming_the_entry_point():
    target = ConformanceTarget(
        distribution="payments-plugin-nowhere",
        gateway_type="nowhere",
        foreign_webhook_settings={"token": "x"},
    )
    with pytest.raises(NotLoadable, match=r"\[project.entry-points.payments\]"):
        type("TestNowhere", (GatewayConformance,), {"target": target})


async def test_a_control_endpoint_that_does_not_answer_as_documented_is_reported():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/calls"):
            return httpx.Response(200, content=b"<html>calls</html>")
        return httpx.Response(404, json={"error": {"code": "not_found"}})

    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://vendor/sim") as client:
        control = SimulatorControl(client)
        with pytest.raises(SimulatorControlError, match=r"POST /_simulator/down answered HTTP 404"):
            await control.go_down()
        with pytest.raises(SimulatorControlError, match="not JSON"):
            await control.calls()


def test_a_raw_error_fails_one_check_naming_the_fix_and_skips_the_rest(broken_run: KitRun):
    """Issue 19, finding 2.4: one bug (initiate raising Exception) was 15 failures."""
    assert broken_run.failed_in("test_plain") == ["test_initiate_returns_an_external_id"]
    skipped = broken_run.in_module("test_plain", "skipped")
    assert "test_every_declared_currency_is_paid_and_refunded" in skipped
    assert len(skipped) >= 8, skipped
    for name in skipped:
        assert (
            "initiate raised Exception, as it did in test_initiate_returns_an_external_id, which"
            " fails naming the fix; this check runs once that one passes"
        ) in broken_run.messages[("test_plain", name)]
    # Checks that never start a payment still run.
    passed = broken_run.in_module("test_plain", "passed")
    assert "test_a_payment_the_vendor_never_saw_is_not_found" in passed


@pytest.fixture(scope="module")
def slow_run(tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    """The kit against a gateway that answers every call after the deadline."""
    root = tmp_path_factory.mktemp("slow")
    site = root / "site"
    write_distribution(
        site,
        "payments-plugin-slow",
        entry_points={"slow": "payments_plugin_slow"},
        modules={"payments_plugin_slow": SLOW_PLUGIN},
    )
    tests = {"conftest": SHORT_DEADLINE, "test_slow": in_process_tests("slow")}
    return run_pytest(root, tests, site)


def test_a_call_past_the_platform_s_deadline_fails_the_check_naming_the_deadline(
    slow_run: KitRun,
):
    """Issue 19, finding 2.1: a gateway that hung on every call was certified."""
    assert slow_run.completed.returncode == 1, slow_run.completed.stdout
    assert slow_run.failed_in("test_slow") == [
        "test_a_payment_the_vendor_never_saw_is_not_found",
        "test_initiate_returns_an_external_id",
    ]
    message = slow_run.messages[("test_slow", "test_initiate_returns_an_external_id")]
    assert message.startswith(
        "initiate of 10.01 EUR did not finish within 0.2 s, the platform's deadline of one"
        " gateway call (payments_plugins.contract.CALL_DEADLINE_SECONDS)"
    ), message
    message = slow_run.messages[("test_slow", "test_a_payment_the_vendor_never_saw_is_not_found")]
    assert message.startswith("fetch_status did not finish within 0.2 s"), message


def test_checks_needing_an_operation_that_overran_skip_at_once(slow_run: KitRun):
    """Issue 19, finding 2.1: every later check waited out the deadline again (515 s)."""
    skipped = slow_run.in_module("test_slow", "skipped")
    assert len(skipped) >= 8, skipped
    for name in skipped:
        assert (
            "initiate overran the deadline, as it did in test_initiate_returns_an_external_id"
            in (slow_run.messages[("test_slow", name)])
        )
        # Skipped before calling: the gateway answers only after 3 s.
        assert slow_run.seconds[("test_slow", name)] < 1.5, name


async def test_the_gateway_s_own_timeout_error_is_a_raw_error_not_the_deadline():
    """Issue 19, finding 2.1: only the deadline's own expiry is reported as the deadline."""

    class OwnTimeout:
        async def initiate(self, request: InitiateRequest) -> InitiateResult:
            raise TimeoutError("the vendor client gave up")

    guard = ContractGuard(cast(Gateway, OwnTimeout()))
    request = InitiateRequest(payment_id=uuid.uuid4(), amount=Amount(1250, "EUR"))
    with pytest.raises(pytest.fail.Exception, match=r"initiate of 12\.50 EUR raised TimeoutError"):
        await guard.initiate(request)


def test_a_declared_currency_the_vendor_does_not_take_fails_the_kit(broken_run: KitRun):
    """Issue 19, finding 2.2: only the first declared currency was ever paid in."""
    assert broken_run.failed_in("test_wide") == [
        "test_every_declared_currency_is_paid_and_refunded"
    ]
    message = broken_run.messages[
        ("test_wide", "test_every_declared_currency_is_paid_and_refunded")
    ]
    assert "KWD: initiate of 123.456 KWD raised GatewayDeclined" in message, message
    assert "AED:" not in message


# Capabilities: what a type declares is certified; what it does not is left alone.

CAPABLE_PLUGIN = """
import dataclasses
import pathlib

from payments_plugin_test_gateway import GATEWAY_TYPE, TestGateway
from payments_plugins import (
    CancelResult,
    Capabilities,
    GatewayDeclined,
    NextActionType,
    VendorPaymentStatus,
    hookimpl,
)


class Gateway(TestGateway):
{methods}


TYPE = dataclasses.replace(
    GATEWAY_TYPE,
    name={name!r},
    build=lambda settings, resources: Gateway(settings),
    capabilities=Capabilities({capabilities}),
)


@hookimpl
def payments_register_gateway_types(register):
    register(TYPE)
"""

CANCELS = """
    async def cancel(self, request):
        if self.payments.get(request.external_id) is VendorPaymentStatus.PAID:
            raise GatewayDeclined("paid", vendor_code="payment_already_paid")
        self.payments[request.external_id] = VendorPaymentStatus.CANCELLED
        return CancelResult()
"""

SAYS_WHEN_ASKED = """
    async def initiate(self, request):
        if request.capture != "automatic":
            pathlib.Path('manual-capture-was-sent').write_text(str(request))
        return await super().initiate(request)

    async def cancel(self, request):
        pathlib.Path('cancel-was-called').write_text(str(request))
        return CancelResult()

    async def capture(self, request):
        pathlib.Path('capture-was-called').write_text(str(request))
        raise NotImplementedError

    async def void(self, request):
        pathlib.Path('void-was-called').write_text(str(request))
        raise NotImplementedError
"""

CAPABLE_PLUGINS = {
    # Declares cancel; its gateway has none.
    "nocancel": CAPABLE_PLUGIN.format(
        name="nocancel", methods="    pass", capabilities="cancel=True"
    ),
    # Declares cancel; its gateway's cancel was left a stub.
    "stubcancel": CAPABLE_PLUGIN.format(
        name="stubcancel",
        methods="    async def cancel(self, request):\n        raise NotImplementedError",
        capabilities="cancel=True",
    ),
    # Declares cancel, and cancels in its in-process vendor's books.
    "goodcancel": CAPABLE_PLUGIN.format(
        name="goodcancel", methods=CANCELS, capabilities="cancel=True"
    ),
    # Declares nothing; its gateway could cancel, capture and void, and says so if it is ever
    # asked to, or sent a payment to capture manually.
    "quiet": CAPABLE_PLUGIN.format(name="quiet", methods=SAYS_WHEN_ASKED, capabilities=""),
    # Declares manual capture; its gateway has no capture.
    "nocapture": CAPABLE_PLUGIN.format(
        name="nocapture", methods="    pass", capabilities="manual_capture=True, void=True"
    ),
}
"""In-process plugins, each declaring a capability (or none) with a gateway that can or not."""

# The JSON gateway's type, its next action broken one way or another.
REDIRECTING_PLUGIN = """
import dataclasses

import msgspec
from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import Capabilities, InitiateResult, RedirectAction, hookimpl


class Gateway(JsonGateway):
    async def initiate(self, request):
        result = await super().initiate(request)
{body}


TYPE = dataclasses.replace(
    JSON_GATEWAY_TYPE,
    name={name!r},
    build=lambda settings, resources: Gateway(settings, resources),
    capabilities={capabilities},
)


@hookimpl
def payments_register_gateway_types(register):
    register(TYPE)
"""

REDIRECTS = "JSON_GATEWAY_TYPE.capabilities"

# The JSON gateway's type, declaring manual capture, its capture broken one way or another.
CAPTURING_PLUGIN = """
import dataclasses

from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import CaptureResult, hookimpl


class Gateway(JsonGateway):
    async def capture(self, request):
{body}


TYPE = dataclasses.replace(
    JSON_GATEWAY_TYPE,
    name={name!r},
    build=lambda settings, resources: Gateway(settings, resources),
)


@hookimpl
def payments_register_gateway_types(register):
    register(TYPE)
"""

CAPTURING_PLUGINS = {
    # Answers every capture without sending it to the vendor.
    "idlecapture": CAPTURING_PLUGIN.format(
        name="idlecapture", body="        return CaptureResult(external_capture_id='cp_1')"
    ),
    # Its capture was left a stub.
    "stubcapture": CAPTURING_PLUGIN.format(
        name="stubcapture", body="        raise NotImplementedError"
    ),
}
"""Plugins on the JSON vendor's simulator that declare manual capture and do not capture."""

# The JSON gateway's type, its declines soft or hard one way or another (contract 2.2).
DECLINING_PLUGIN = """
import dataclasses

from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import GatewayDeclined, hookimpl


class Gateway(JsonGateway):
    async def initiate(self, request):
        try:
            return await super().initiate(request)
        except GatewayDeclined as declined:
            raise GatewayDeclined(
                str(declined), vendor_code=declined.vendor_code, soft={soft}
            ) from None


TYPE = dataclasses.replace(
    JSON_GATEWAY_TYPE,
    name={name!r},
    build=lambda settings, resources: Gateway(settings, resources),
    capabilities=dataclasses.replace(JSON_GATEWAY_TYPE.capabilities, soft_declines={declares}),
)


@hookimpl
def payments_register_gateway_types(register):
    register(TYPE)
"""

DECLINING_PLUGINS = {
    # Declares soft declines and raises every decline hard.
    "hardonly": DECLINING_PLUGIN.format(name="hardonly", soft="False", declares="True"),
    # Declares soft declines and raises every decline soft, a stolen card's too.
    "allsoft": DECLINING_PLUGIN.format(name="allsoft", soft="True", declares="True"),
    # Tells soft declines apart as the JSON gateway does, and forgot to declare it.
    "undeclaredsoft": DECLINING_PLUGIN.format(
        name="undeclaredsoft", soft="declined.soft", declares="False"
    ),
}
"""Plugins on the JSON vendor's simulator whose declines are soft or hard where they should not
be."""

REDIRECTING_PLUGINS = {
    # Declares a redirect and never returns one: the vendor's page is dropped.
    "noredirect": REDIRECTING_PLUGIN.format(
        name="noredirect",
        body="        return InitiateResult(external_id=result.external_id)",
        capabilities=REDIRECTS,
    ),
    # Returns a javascript: URL, slipped past RedirectAction's own check.
    "jsurl": REDIRECTING_PLUGIN.format(
        name="jsurl",
        body="        msgspec.structs.force_setattr(\n"
        "            result.next_action, 'url', 'javascript:alert(document.cookie)'\n"
        "        )\n"
        "        return result",
        capabilities=REDIRECTS,
    ),
    # Makes a RedirectAction of the vendor's javascript: URL, and lets the refusal out.
    "rawurl": REDIRECTING_PLUGIN.format(
        name="rawurl",
        body="        action = RedirectAction(url='javascript:alert(document.cookie)')\n"
        "        return InitiateResult(external_id=result.external_id, next_action=action)",
        capabilities=REDIRECTS,
    ),
    # Returns the vendor's page without declaring a next action (its soft declines, the JSON
    # gateway's, declared: one bug at a time).
    "undeclared": REDIRECTING_PLUGIN.format(
        name="undeclared",
        body="        return result",
        capabilities="Capabilities(soft_declines=True)",
    ),
}


def redirecting_tests(name: str) -> str:
    return HASTY_TESTS.replace("hasty", name).replace("Hasty", name.capitalize())


@pytest.fixture(scope="module")
def capability_run(tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    """One run of the kit against plugins declaring capabilities they have or not."""
    root = tmp_path_factory.mktemp("capabilities")
    site = root / "site"
    written = CAPABLE_PLUGINS | REDIRECTING_PLUGINS | CAPTURING_PLUGINS | DECLINING_PLUGINS
    for name, source in written.items():
        module = f"payments_plugin_{name}"
        write_distribution(
            site,
            f"payments-plugin-{name}",
            entry_points={name: module},
            modules={module: source},
        )
    tests = {f"test_{name}": in_process_tests(name) for name in CAPABLE_PLUGINS}
    tests |= {
        f"test_{name}": redirecting_tests(name)
        for name in (*REDIRECTING_PLUGINS, *CAPTURING_PLUGINS, *DECLINING_PLUGINS)
    }
    return run_pytest(root, tests, site)


def test_a_type_declaring_cancel_its_gateway_cannot_do_fails_naming_the_fix(
    capability_run: KitRun,
):
    fix = (
        "the type declares cancel (Capabilities(cancel=True)), so its gateway must cancel:"
        " implement async cancel(request: CancelRequest) -> CancelResult"
        " (payments_plugins.CancellingGateway), or leave cancel out of GatewayType.capabilities"
    )
    run = capability_run
    assert run.failed_in("test_nocancel") == [
        "test_the_settings_build_a_gateway_with_every_operation"
    ]
    message = run.messages[
        ("test_nocancel", "test_the_settings_build_a_gateway_with_every_operation")
    ]
    assert f"cancel is not an async method: {fix}" in message
    # One bug, one failure: the check that would call cancel is skipped, naming the first.
    skipped = run.messages[
        ("test_nocancel", "test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same")
    ]
    assert "cancel is missing, as it did in test_the_settings_build_a_gateway" in skipped

    assert run.failed_in("test_stubcancel") == [
        "test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same"
    ]
    message = run.messages[
        ("test_stubcancel", "test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same")
    ]
    assert message.startswith("cancel raised NotImplementedError: \n" + fix), message


def test_a_type_whose_gateway_cancels_is_certified_for_cancel(capability_run: KitRun):
    outcomes = capability_run.outcomes
    assert capability_run.failed_in("test_goodcancel") == []
    check = ("test_goodcancel", "test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same")
    assert outcomes[check] == "passed"


def test_a_type_declaring_nothing_gets_no_capability_check_and_is_never_asked_to_cancel(
    capability_run: KitRun, tmp_path_factory: pytest.TempPathFactory
):
    run = capability_run
    assert run.failed_in("test_quiet") == []
    checks = {name for module, name in run.outcomes if module == "test_quiet"}
    assert not {name for name in checks if "cancel" in name or "next_action" in name}, checks
    summary = run.completed.stdout.split(SECTION_TITLE, 1)[1]
    assert (
        "not applicable: test_cancel_cancels_a_payment_not_paid_and_again_answers_the_same"
        " (needs cancel declared (Capabilities.cancel))"
    ) in summary
    assert (
        "not applicable: test_initiate_returns_a_declared_next_action_that_is_well_formed"
        " (needs a next action declared (Capabilities.next_actions))"
    ) in summary
    assert (
        "not applicable: test_a_capture_repeated_with_its_capture_id_captures_once"
        " (needs manual capture declared (Capabilities.manual_capture))"
    ) in summary
    project = next(tmp_path_factory.getbasetemp().glob("capabilities*/project"))
    for called in ("cancel", "capture", "void"):
        assert not (project / f"{called}-was-called").exists(), f"the kit called {called}"
    assert not (project / "manual-capture-was-sent").exists(), "the kit sent manual capture"


def test_a_type_declaring_a_redirect_its_gateway_never_returns_fails_once(
    capability_run: KitRun,
):
    run = capability_run
    assert run.failed_in("test_noredirect") == [
        "test_initiate_returns_a_declared_next_action_that_is_well_formed"
    ]
    message = run.messages[
        ("test_noredirect", "test_initiate_returns_a_declared_next_action_that_is_well_formed")
    ]
    assert message.startswith(
        "the type declares next actions ['redirect'], but initiate of 10.17 AED returned none:"
        " return what the payer must do as InitiateResult(next_action=...)"
    ), message
    for check in (
        "test_the_redirect_next_action_opens_the_vendor_s_page",
        "test_the_vendor_s_page_sends_the_payer_back_to_the_return_url",
    ):
        assert run.outcomes[("test_noredirect", check)] == "skipped"
        assert (
            "initiate returned no next action, as it did in"
            in run.messages[("test_noredirect", check)]
        )


@pytest.mark.parametrize(
    ("plugin", "check", "fix"),
    [
        (
            "jsurl",
            "test_initiate_returns_a_declared_next_action_that_is_well_formed",
            "initiate of 10.17 AED returned a next action the contract refuses:"
            " RedirectAction.url must be an absolute http or https URL, not"
            " 'javascript:alert(document.cookie)'. A browser could not follow it",
        ),
        (
            "rawurl",
            "test_initiate_returns_an_external_id",
            "initiate of 10.01 AED raised ValueError: RedirectAction.url must be an absolute"
            " http or https URL, not 'javascript:alert(document.cookie)'\na next action the"
            " contract refuses (RedirectAction and DisplayAction check themselves when made) is"
            " no usable answer from the vendor, which holds the payment by then: raise"
            " GatewayOutcomeUnknown from it",
        ),
    ],
)
def test_a_javascript_url_fails_the_kit_as_a_page_no_browser_can_follow(
    capability_run: KitRun, plugin: str, check: str, fix: str
):
    module = f"test_{plugin}"
    assert capability_run.failed_in(module) == [check]
    assert capability_run.messages[(module, check)].startswith(fix), capability_run.messages[
        (module, check)
    ]


def test_a_next_action_of_a_kind_the_type_does_not_declare_fails(capability_run: KitRun):
    assert capability_run.failed_in("test_undeclared") == ["test_initiate_returns_an_external_id"]
    message = capability_run.messages[("test_undeclared", "test_initiate_returns_an_external_id")]
    assert (
        "a next action of a kind the type does not declare (Capabilities.next_actions is [])"
        in (message)
    )


# Manual capture: declared, it is certified; a gateway that does not capture fails naming the fix.

CAPTURE_FIX = (
    "the type declares manual capture (Capabilities(manual_capture=True)), so its gateway must"
    " capture: implement async capture(request: CaptureRequest) -> CaptureResult and async"
    " fetch_capture_status(query: CaptureStatusQuery) -> CaptureStatusReport"
    " (payments_plugins.CapturingGateway), or leave manual_capture out of"
    " GatewayType.capabilities"
)


def test_a_type_declaring_manual_capture_its_gateway_cannot_do_fails_naming_the_fix(
    capability_run: KitRun,
):
    run = capability_run
    check = "test_the_settings_build_a_gateway_with_every_operation"
    assert run.failed_in("test_nocapture") == [check]
    message = run.messages[("test_nocapture", check)]
    assert f"capture is not an async method: {CAPTURE_FIX}" in message
    assert f"fetch_capture_status is not an async method: {CAPTURE_FIX}" in message
    assert (
        "void is not an async method: the type declares void (Capabilities(void=True)), so its"
        " gateway must void: implement async void(request: VoidRequest) -> VoidResult"
        " (payments_plugins.VoidingGateway), or leave void out of GatewayType.capabilities"
    ) in message


def test_a_capture_left_a_stub_fails_once_naming_the_fix(capability_run: KitRun):
    run = capability_run
    check = "test_a_capture_repeated_with_its_capture_id_captures_once"
    assert run.failed_in("test_stubcapture") == [check]
    message = run.messages[("test_stubcapture", check)]
    assert message.startswith(
        "capture of 30.02 AED raised NotImplementedError: \n" + CAPTURE_FIX
    ), message
    # One bug, one failure: the checks that capture later are skipped, naming the first.
    skipped = run.in_module("test_stubcapture", "skipped")
    assert "test_a_capture_of_more_than_is_authorized_is_declined" in skipped
    assert (
        "capture raised NotImplementedError, as it did in test_a_capture_repeated"
        in (
            run.messages[
                ("test_stubcapture", "test_a_capture_of_more_than_is_authorized_is_declined")
            ]
        )
    )


def test_a_capture_that_does_nothing_at_the_vendor_fails_naming_the_fix(capability_run: KitRun):
    run = capability_run
    check = "test_a_capture_repeated_with_its_capture_id_captures_once"
    assert check in run.failed_in("test_idlecapture")
    message = run.messages[("test_idlecapture", check)]
    assert (
        "capture returned CaptureResult(external_capture_id='cp_1'), and the simulator holds 0"
        " captures of the payment: send the capture to the vendor with"
        " CaptureRequest.capture_id as its idempotency reference and CaptureRequest.amount as"
        " what to take, so that the same capture id captures once"
    ) in message, message
    # What does not capture is certified still: the payer authorizes; a lapsed one is not voided.
    for passed in (
        "test_a_manual_payment_the_payer_completes_is_authorized_not_paid",
        "test_void_after_the_authorization_lapsed_is_authorization_expired",
    ):
        assert run.outcomes[("test_idlecapture", passed)] == "passed", passed


def test_a_type_whose_gateway_captures_is_certified_for_capture_and_void(capability_run: KitRun):
    # undeclared returns the JSON vendor's page without declaring it, failing one check; the
    # JSON gateway's capture and void are the rest of its type's.
    outcomes = capability_run.outcomes
    for check in (
        "test_a_manual_payment_the_payer_completes_is_authorized_not_paid",
        "test_a_capture_repeated_with_its_capture_id_captures_once",
        "test_a_final_partial_capture_releases_the_rest",
        "test_a_capture_of_part_then_one_of_the_rest_capture_it_all",
        "test_a_capture_of_more_than_is_authorized_is_declined",
        "test_a_capture_after_the_authorization_lapsed_is_authorization_expired",
        "test_a_capture_that_may_have_been_made_is_an_unknown_outcome_found_by_its_id",
        "test_a_capture_while_the_vendor_is_down_is_unavailable",
        "test_void_releases_the_authorization_and_again_answers_the_same",
        "test_void_after_a_capture_is_declined",
        "test_void_after_the_authorization_lapsed_is_authorization_expired",
    ):
        assert outcomes[("test_noredirect", check)] == "passed", check


# Soft declines: a declared type's soft decline is soft, every type's hard decline hard, and a
# type that does not declare them never raises one.

SOFT_CHECK = "test_a_soft_decline_is_soft_where_the_type_declares_soft_declines"
HARD_CHECK = "test_a_decline_is_gateway_declined_with_the_vendor_code"


def test_a_type_declaring_soft_declines_that_raises_them_hard_fails_naming_the_fix(
    capability_run: KitRun,
):
    assert capability_run.failed_in("test_hardonly") == [SOFT_CHECK]
    message = capability_run.messages[("test_hardonly", SOFT_CHECK)]
    assert (
        "the vendor declined softly (code 'issuer_unavailable': the payer may succeed"
        " elsewhere) and the gateway raised a hard decline; the type declares soft declines"
        " (Capabilities(soft_declines=True)), so raise GatewayDeclined(message,"
        " vendor_code=..., soft=True)"
    ) in message, message


def test_a_gateway_that_makes_a_hard_decline_soft_fails(capability_run: KitRun):
    """The dangerous mistake: a stolen card would be sent to the next gateway."""
    assert capability_run.failed_in("test_allsoft") == [HARD_CHECK]
    message = capability_run.messages[("test_allsoft", HARD_CHECK)]
    assert (
        "the vendor declined for good (code 'payment_declined') and the gateway raised a soft"
        " decline: the platform would offer the payer's card to another gateway"
    ) in message, message


def test_a_soft_decline_from_a_type_that_does_not_declare_them_fails_naming_the_fix(
    capability_run: KitRun,
):
    assert capability_run.failed_in("test_undeclaredsoft") == [SOFT_CHECK]
    message = capability_run.messages[("test_undeclaredsoft", SOFT_CHECK)]
    assert message.startswith(
        "initiate of 10.23 AED raised GatewayDeclined(soft=True) (json gateway initiate"
        " declined: HTTP 402 issuer_unavailable"
    ), message
    assert (
        "the type does not declare soft declines, so the platform takes every decline of its"
        " gateway as final, soft or not: declare Capabilities(soft_declines=True) on the type,"
        " or raise GatewayDeclined without soft=True"
    ) in message, message


def test_both_kinds_of_decline_are_certified_where_told_apart_and_declared(
    capability_run: KitRun,
):
    # noredirect's declines are the JSON gateway's own, and its type declares soft declines.
    for check in (SOFT_CHECK, HARD_CHECK):
        assert capability_run.outcomes[("test_noredirect", check)] == "passed", check
    # quiet declares nothing: its declines, all hard, are certified as before.
    assert capability_run.outcomes[("test_quiet", HARD_CHECK)] == "passed"
