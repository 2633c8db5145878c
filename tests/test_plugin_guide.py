"""The plugin authors' guide says what the contract and its kit do (issue 19, finding 3.4):
the time budget of a gateway call, the simulator's error codes, the amounts the kit pays."""

from __future__ import annotations

import ast
from importlib.resources import files
from pathlib import Path

from payments_plugins.contract import CALL_DEADLINE_SECONDS
from payments_plugins.money import Amount
from payments_plugins.testing.conformance import PAID_MINOR, REFUNDED_MINOR

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "plugin-authors.md").read_text(encoding="utf-8")
ANSWERING = {"Refusal", "json_error", "error_answer"}
"""What the simulation building blocks refuse a call with: (status, code, message)."""


def _section(title: str) -> str:
    """The guide's text under the heading ``title``, up to the next heading."""
    after = GUIDE.split(f"{title}\n", 1)[1]
    return after.split("\n#", 1)[0]


def _called(call: ast.Call) -> str | None:
    """The name of the function or method ``call`` calls."""
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def _simulator_codes() -> set[str]:
    """Every error code a module of ``payments_plugins.simulation`` answers with."""
    codes: set[str] = set()
    for module in files("payments_plugins.simulation").iterdir():
        if not module.name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _called(node) in ANSWERING:
                arguments = node.args
            elif isinstance(node, ast.Tuple):  # a refusal kept as a constant
                arguments = node.elts
            else:
                continue
            if (
                len(arguments) >= 2
                and isinstance(arguments[0], ast.Constant)
                and isinstance(arguments[0].value, int)
                and isinstance(arguments[1], ast.Constant)
                and isinstance(arguments[1].value, str)
            ):
                codes.add(arguments[1].value)
    return codes


def test_the_guide_explains_every_error_code_the_simulator_answers_with() -> None:
    codes = _simulator_codes()
    assert {"unavailable", "internal_error", "payment_not_found", "too_large"} <= codes
    table = _section("#### The simulator's error codes")
    missing = sorted(code for code in codes if f"`{code}`" not in table)
    assert not missing, f"the guide's table of simulator error codes leaves out {missing}"


def test_the_guide_gives_the_time_budget_of_a_gateway_call() -> None:
    budget = _section("### The time budget of a call")
    assert f"**{CALL_DEADLINE_SECONDS:g} seconds**" in budget
    assert "CALL_DEADLINE_SECONDS" in budget
    assert "deadline_seconds" in budget


def test_the_guide_says_which_amounts_the_kit_pays_in_every_currency() -> None:
    checks = _section("## 5. Certify it with the conformance kit")
    for currency in ("JPY", "EUR", "KWD"):
        paid, refunded = Amount(PAID_MINOR, currency), Amount(REFUNDED_MINOR, currency)
        assert f"{paid.format()} then {refunded.format()}" in checks
