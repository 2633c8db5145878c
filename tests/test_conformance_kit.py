"""The conformance kit itself: it fails gateways that break the contract, reports what it leaves
out, and stays out of the way of test runs that do not use it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugin_test_gateway import GATEWAY_TYPE as TESTGW_GATEWAY_TYPE
from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting
from payments_plugins.testing.control import SimulatorControl, SimulatorControlError
from payments_plugins.testing.kit import SECTION_TITLE

HASTY_GATEWAY = """
import dataclasses

from payments_plugin_json_gateway.gateway import JsonGateway
from payments_plugin_json_gateway.plugin import JSON_GATEWAY_TYPE
from payments_plugins import GatewayOutcomeUnknown, GatewayUnavailable
from payments_plugins.testing import ConformanceTarget, GatewayConformance, InvalidSetting


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


class TestHastyConformance(GatewayConformance):
    target = ConformanceTarget(
        gateway_type=HASTY,
        settings={"webhook_secret": "whsec_one"},
        foreign_webhook_settings={"webhook_secret": "whsec_two"},
        quick_timeouts={"read_timeout": 0.3},
        invalid_settings=[InvalidSetting({"read_timeout": 0}, "read_timeout")],
    )
"""

GULLIBLE_GATEWAY = """
import dataclasses
import json

import msgspec
from payments_plugin_test_gateway import GATEWAY_TYPE, TestGateway
from payments_plugins import Amount, WebhookEvent
from payments_plugins.testing import (
    ConformanceTarget,
    GatewayConformance,
    InvalidSetting,
    Notification,
)


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


def notification(external_id, status):
    body = json.dumps({"ref": external_id, "state": status.value}).encode()
    return Notification(headers={"X-Testgw-Token": "right"}, body=body)


class TestGullibleConformance(GatewayConformance):
    target = ConformanceTarget(
        gateway_type=GULLIBLE,
        settings={"token": "right", "decline_amounts": [1313]},
        foreign_webhook_settings={"token": "wrong"},
        declined_amount=Amount(1313, "EUR"),
        notification=notification,
        invalid_settings=[InvalidSetting({"decline_amounts": ["x"]}, "decline_amounts")],
    )
"""

UNRELATED_TESTS = """
def test_the_payments_plugin_is_loaded_and_inert(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("payments")
"""


Outcomes = tuple[subprocess.CompletedProcess[str], dict[tuple[str, str], str]]


def run_pytest(tmp_path: Path, modules: dict[str, str]) -> Outcomes:
    """Run pytest on ``modules`` (name -> source) in a project of their own.

    Returns the run and the outcome of each test by (module, test name).
    """
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    report = tmp_path / "report.xml"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    outcomes: dict[tuple[str, str], str] = {}
    # The report was written by the run just above, not by anyone untrusted.
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314
        failed = case.find("failure") is not None or case.find("error") is not None
        module = case.attrib["classname"].split(".")[0]
        outcomes[(module, case.attrib["name"])] = "failed" if failed else "passed"
    return completed, outcomes


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    """One run of the kit against both broken gateways, read by several tests."""
    modules = {"test_hasty": HASTY_GATEWAY, "test_gullible": GULLIBLE_GATEWAY}
    return run_pytest(tmp_path_factory.mktemp("broken"), modules)


def failed_in(outcomes: dict[tuple[str, str], str], module: str) -> list[str]:
    return sorted(
        name
        for (where, name), outcome in outcomes.items()
        if where == module and outcome == "failed"
    )


def test_the_kit_fails_a_gateway_that_reports_unknown_outcomes_as_unavailable(
    broken_run: Outcomes,
):
    completed, outcomes = broken_run

    assert completed.returncode == 1, completed.stdout
    assert failed_in(outcomes, "test_hasty") == [
        "test_a_garbage_answer_is_an_unknown_outcome",
        "test_a_timeout_is_an_unknown_outcome",
        "test_an_error_after_processing_is_an_unknown_outcome",
    ]
    assert "raised GatewayUnavailable" in completed.stdout
    assert len([key for key in outcomes if key[0] == "test_hasty"]) == 20


def test_the_kit_fails_lax_settings_and_a_gateway_that_believes_any_notification(
    broken_run: Outcomes,
):
    completed, outcomes = broken_run

    assert failed_in(outcomes, "test_gullible") == [
        "test_a_notification_made_with_other_credentials_is_refused",
        "test_settings_refuse_bad_values_naming_the_setting",
    ]
    assert "an unknown setting: accepted" in completed.stdout


def test_checks_that_do_not_apply_are_deselected_and_listed_with_their_reason(
    broken_run: Outcomes,
):
    completed, outcomes = broken_run

    assert "8 deselected" in completed.stdout
    assert ("test_gullible", "test_a_timeout_is_an_unknown_outcome") not in outcomes
    assert ("test_hasty", "test_webhook_replies_render_every_outcome") not in outcomes
    summary = completed.stdout.split(SECTION_TITLE, 1)[1]
    assert "(gateway type 'hasty'): 20 checks selected, 1 not applicable" in summary
    assert "(gateway type 'gullible'): 14 checks selected, 7 not applicable" in summary
    assert (
        "not applicable: test_a_timeout_is_an_unknown_outcome "
        "(needs a simulator (GatewayType.simulator))"
    ) in summary
    assert (
        "not applicable: test_webhook_replies_render_every_outcome "
        "(needs GatewayType.webhook_reply)"
    ) in summary


def test_a_run_without_conformance_classes_is_not_affected(tmp_path: Path):
    completed, outcomes = run_pytest(tmp_path, {"test_unrelated": UNRELATED_TESTS})

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
                gateway_type=JSON_GATEWAY_TYPE,
                foreign_webhook_settings={"webhook_secret": "x"},
                invalid_settings=[InvalidSetting({"read_timeout": 0}, "read_timeout")],
            ),
            "quick_timeouts is required with a simulator",
        ),
        (
            ConformanceTarget(
                gateway_type=TESTGW_GATEWAY_TYPE,
                foreign_webhook_settings={},
                invalid_settings=[InvalidSetting({"token": 1}, "token")],
            ),
            "foreign_webhook_settings must name other webhook credentials",
        ),
        (
            ConformanceTarget(
                gateway_type=TESTGW_GATEWAY_TYPE, foreign_webhook_settings={"token": "x"}
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
