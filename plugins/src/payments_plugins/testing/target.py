"""What a vendor tells the conformance kit about its gateway type, and what each check needs.

The kit certifies a gateway type as the platform would load it: ``ConformanceTarget.loaded``
goes through ``payments_plugins.discovery``, from the distribution's ``payments`` entry point,
and refuses a type the platform would not serve with what to fix.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from packaging.utils import canonicalize_name

from payments_plugins.discovery import PluginOrigin, PluginRegistry
from payments_plugins.gateway import GatewayType
from payments_plugins.messages import NextActionType, VendorPaymentStatus
from payments_plugins.money import Amount
from payments_plugins.simulation.records import Notification

NEEDS_ATTRIBUTE: Final = "__payments_conformance_needs__"


class Capability(enum.StrEnum):
    """What a check needs from the target; a check whose needs are not met is not applicable."""

    SIMULATOR = "a simulator (GatewayType.simulator)"
    DECLINE = "a simulator, or ConformanceTarget.declined_amount"
    NOTIFICATION = "a simulator, or ConformanceTarget.notification"
    WEBHOOK_REPLY = "GatewayType.webhook_reply"
    NEXT_ACTION = "a next action declared (Capabilities.next_actions)"
    """Since 2.0."""
    REDIRECT = "a redirect next action declared (NextActionType.REDIRECT)"
    """Since 2.0."""
    CANCEL = "cancel declared (Capabilities.cancel)"
    """Since 2.0."""
    MANUAL_CAPTURE = "manual capture declared (Capabilities.manual_capture)"
    """Since 2.1."""
    PARTIAL_CAPTURE = "partial capture declared (Capabilities.partial_capture)"
    """Since 2.1."""
    MULTIPLE_CAPTURES = "multiple captures declared (Capabilities.multiple_captures)"
    """Since 2.1."""
    VOID = "void declared (Capabilities.void)"
    """Since 2.1."""
    SOFT_DECLINES = "soft declines declared (Capabilities.soft_declines)"
    """Since 2.2."""


@dataclass(frozen=True)
class InvalidSetting:
    """Settings ``overrides`` the type must refuse, with a message that names ``names``."""

    overrides: Mapping[str, Any]
    names: str


class NotLoadable(Exception):
    """The gateway type under test is not one the platform would load and serve."""


@dataclass(frozen=True, kw_only=True)
class ConformanceTarget:
    """The gateway type under test and what the kit needs to know to exercise it."""

    distribution: str
    """The installed distribution that registers the type, e.g. ``"payments-plugin-acme"``."""
    gateway_type: str
    """The name of the type under test, as the distribution registers it."""
    foreign_webhook_settings: Mapping[str, Any]
    """Settings overrides (other webhook credentials) under which the gateway must refuse the
    notifications made under ``settings``."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Raw settings. With a simulator, laid over ``simulator.settings_for(url)``; without one,
    the complete settings of the in-process vendor."""
    invalid_settings: Sequence[InvalidSetting] = ()
    """Values the settings must refuse; required when the settings type has fields."""
    quick_timeouts: Mapping[str, Any] = field(default_factory=dict)
    """Settings overrides that make the gateway give up on an unanswered call within a second
    or so; required with a simulator."""
    declined_amount: Amount | None = None
    """Without a simulator: an amount the in-process vendor declines for good (a hard
    decline) under ``settings``."""
    notification: Callable[[str, VendorPaymentStatus], Notification] | None = None
    """Without a simulator: the genuine notification the vendor would send for a payment."""

    @functools.cached_property
    def loaded(self) -> GatewayType[Any]:
        """The type under test, loaded through its distribution's ``payments`` entry point by
        the platform's own discovery; ``NotLoadable`` says why the platform would not."""
        registry = PluginRegistry.discover()
        wanted = canonicalize_name(self.distribution)

        def of_ours(origin: PluginOrigin) -> bool:
            return canonicalize_name(origin.distribution or "") == wanted

        if not any(of_ours(origin) for origin in (*registry.plugins, *registry.failures)):
            raise NotLoadable(
                f"no plugin of the distribution {self.distribution!r} is installed: declare its"
                " module under [project.entry-points.payments] in its pyproject.toml, e.g."
                ' acme = "payments_plugin_acme.plugin", and install it (pip install -e .)'
            )
        failures = [failure for failure in registry.failures if of_ours(failure)]
        if failures:
            raise NotLoadable(
                f"the platform would not load {self.distribution}: "
                + "; ".join(failure.describe() for failure in failures)
                + "".join(f"\n{failure.traceback}" for failure in failures if failure.traceback)
            )
        conflict = registry.conflicts.get(self.gateway_type)
        if conflict is not None:
            raise NotLoadable(
                f"{conflict.describe()}: the platform serves a contested type nowhere; give"
                " yours a name of its own"
            )
        registered = registry.gateway_types.get(self.gateway_type)
        if registered is None or not of_ours(registered.plugin):
            owner = (
                f" is registered by {registered.plugin.describe()}, not by {self.distribution}"
                if registered is not None
                else f" is not registered by {self.distribution}"
            )
            own = sorted(
                name
                for plugin in registry.plugins
                if of_ours(plugin)
                for name in plugin.gateway_types
            )
            raise NotLoadable(
                f"gateway type {self.gateway_type!r}{owner}; certify a type your distribution"
                f" registers (it registers {own})"
            )
        return registered.type

    def capabilities(self) -> frozenset[Capability]:
        """What this target offers the checks."""
        offered: set[Capability] = set()
        if self.loaded.simulator is not None:
            offered |= {Capability.SIMULATOR, Capability.DECLINE, Capability.NOTIFICATION}
        if self.declined_amount is not None:
            offered.add(Capability.DECLINE)
        if self.notification is not None:
            offered.add(Capability.NOTIFICATION)
        if self.loaded.webhook_reply is not None:
            offered.add(Capability.WEBHOOK_REPLY)
        declared = self.loaded.capabilities
        if declared.next_actions:
            offered.add(Capability.NEXT_ACTION)
        if NextActionType.REDIRECT in declared.next_actions:
            offered.add(Capability.REDIRECT)
        if declared.cancel:
            offered.add(Capability.CANCEL)
        for declares, capability in (
            (declared.manual_capture, Capability.MANUAL_CAPTURE),
            (declared.partial_capture, Capability.PARTIAL_CAPTURE),
            (declared.multiple_captures, Capability.MULTIPLE_CAPTURES),
            (declared.void, Capability.VOID),
            (declared.soft_declines, Capability.SOFT_DECLINES),
        ):
            if declares:
                offered.add(capability)
        return frozenset(offered)

    def problems(self) -> list[str]:
        """What is wrong with this target as a description, before any check runs.

        Raises ``NotLoadable`` when the type is not one the platform would load.
        """
        found: list[str] = []
        loaded = self.loaded
        if not self.foreign_webhook_settings:
            found.append("foreign_webhook_settings must name other webhook credentials")
        if loaded.simulator is not None and not self.quick_timeouts:
            found.append("quick_timeouts is required with a simulator")
        if settings_fields(loaded.settings_type) and not self.invalid_settings:
            found.append("invalid_settings must list at least one value the settings refuse")
        if self.declined_amount is not None and (
            self.declined_amount.currency not in loaded.currencies
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
