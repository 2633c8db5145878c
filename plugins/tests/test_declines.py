"""Soft and hard declines (contract 2.2): what a plugin says, and what it says by default."""

from __future__ import annotations

import pytest
from payments_plugins import AuthorizationExpired, Capabilities, GatewayDeclined


def test_a_decline_is_hard_unless_the_plugin_says_it_is_soft() -> None:
    """A plugin built before 2.2 never says: its declines stay final."""
    assert GatewayDeclined("no").soft is False
    assert GatewayDeclined("no", vendor_code="do_not_honour").soft is False
    assert AuthorizationExpired("lapsed").soft is False
    soft = GatewayDeclined("not now", vendor_code="issuer_unavailable", soft=True)
    assert (soft.soft, soft.vendor_code, str(soft)) == (True, "issuer_unavailable", "not now")


@pytest.mark.parametrize("said", ["hard", "soft", 1, None])
def test_soft_takes_true_or_false_only(said: object) -> None:
    """``soft="hard"`` would be truthy: a plugin's typo must not send a stolen card elsewhere."""
    with pytest.raises(TypeError, match=r"soft=\.\.\.\) takes True or False"):
        GatewayDeclined("no", soft=said)  # type: ignore[arg-type]


def test_soft_declines_are_declared_by_a_type_that_tells_them_apart() -> None:
    assert Capabilities().soft_declines is False
    assert Capabilities(soft_declines=True).soft_declines is True
