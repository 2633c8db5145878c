"""What a vendor tells the conformance kit about its gateway type, and what each check needs."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from payments_plugins.gateway import GatewayType
from payments_plugins.messages import VendorPaymentStatus
from payments_plugins.money import Amount
from payments_plugins.simulation.records import Notification

NEEDS_ATTRIBUTE: Final = "__payments_conformance_needs__"


class Capability(enum.StrEnum):
    """What a check needs from the target; a check whose needs are not met is not applicable."""

    SIMULATOR = "a simulator (GatewayType.simulator)"
    DECLINE = "a simulator, or ConformanceTarget.declined_amount"
    NOTIFICATION = "a simulator, or ConformanceTarget.notification"
    WEBHOOK_REPLY = "GatewayType.webhook_reply"


@dataclass(frozen=True)
class InvalidSetting:
    """Settings ``overrides`` the type must refuse, with a message that names ``names``."""

    overrides: Mapping[str, Any]
    names: str


@dataclass(frozen=True, kw_only=True)
class ConformanceTarget:
    """The gateway type under test and what the kit needs to know to exercise it."""

    gateway_type: GatewayType[Any]
    foreign_webhook_settings: Mapping[str, Any]
    """Settings overrides (other webhook credentials) under which the gateway must refuse the
    notifications made under :attr:`settings`."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Raw settings. With a simulator, laid over ``simulator.settings_for(url)``; without one,
    the complete settings of the in-process vendor."""
    invalid_settings: Sequence[InvalidSetting] = ()
    """Values the settings must refuse; required when the settings type has fields."""
    quick_timeouts: Mapping[str, Any] = field(default_factory=dict)
    """Settings overrides that make the gateway give up on an unanswered call within a second
    or so; required with a simulator."""
    declined_amount: Amount | None = None
    """Without a simulator: an amount the in-process vendor declines under :attr:`settings`."""
    notification: Callable[[str, VendorPaymentStatus], Notification] | None = None
    """Without a simulator: the genuine notification the vendor would send for a payment."""

    def capabilities(self) -> frozenset[Capability]:
        """What this target offers the checks."""
        offered: set[Capability] = set()
        if self.gateway_type.simulator is not None:
            offered |= {Capability.SIMULATOR, Capability.DECLINE, Capability.NOTIFICATION}
        if self.declined_amount is not None:
            offered.add(Capability.DECLINE)
        if self.notification is not None:
            offered.add(Capability.NOTIFICATION)
        if self.gateway_type.webhook_reply is not None:
            offered.add(Capability.WEBHOOK_REPLY)
        return frozenset(offered)

    def problems(self) -> list[str]:
        """What is wrong with this target as a description, before any check runs."""
        found: list[str] = []
        # Checked at run time too: a vendor's tests may not be type-checked.
        declared: object = self.gateway_type
        if not isinstance(declared, GatewayType):
            return [f"gateway_type must be a GatewayType, not {type(declared).__name__}"]
        if not self.foreign_webhook_settings:
            found.append("foreign_webhook_settings must name other webhook credentials")
        if self.gateway_type.simulator is not None and not self.quick_timeouts:
            found.append("quick_timeouts is required with a simulator")
        if settings_fields(self.gateway_type.settings_type) and not self.invalid_settings:
            found.append("invalid_settings must list at least one value the settings refuse")
        if self.declined_amount is not None and (
            self.declined_amount.currency not in self.gateway_type.currencies
        ):
            found.append("declined_amount must be in a currency the type declares")
        return found


def needs(*capabilities: Capability) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Mark a check as applicable only to targets that offer ``capabilities``."""

    def mark(check: Callable[..., None]) -> Callable[..., None]:
        setattr(check, NEEDS_ATTRIBUTE, frozenset(capabilities))
        return check

    return mark


def missing_capabilities(target: ConformanceTarget, check: object) -> frozenset[Capability]:
    """What ``check`` needs that ``target`` does not offer."""
    wanted: frozenset[Capability] = getattr(check, NEEDS_ATTRIBUTE, frozenset())
    return wanted - target.capabilities()


def settings_fields(settings_type: type[Any]) -> tuple[msgspec.inspect.Field, ...]:
    """The fields of a settings Struct (none for anything else)."""
    info = msgspec.inspect.type_info(settings_type)
    return info.fields if isinstance(info, msgspec.inspect.StructType) else ()
