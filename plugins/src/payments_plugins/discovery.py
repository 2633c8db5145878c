"""How plugins are found and loaded: the one door the platform and the conformance kit share.

A plugin is a module published under the ``payments`` entry-point group. Loading one goes
through these steps, and a plugin that fails any of them is recorded as a
``PluginFailure`` whose message says what to fix, instead of being listed as if it worked:

1. the operator's selection (``PluginSelection``: an allow-list and a block-list of
   plugin or distribution names) decides whether it is loaded at all;
2. its distribution's requirement on ``payments-plugins`` must admit this contract version
   (``payments_plugins.contract``), checked before any of its code is imported;
3. its module is imported and registered with pluggy, which validates each hook
   implementation's arguments; every hook it implements must be one the platform defines
   (pluggy's ``check_pending``), so a misspelt hook name is an error, not a silent no-op;
4. its ``payments_register_gateway_types`` hook is called, and must register at least one
   ``GatewayType``.

A gateway type name registered by two plugins is **contested**: it is served by neither, so
that no plugin can take over another's gateways; ``PluginRegistry`` lists the conflict
with both distributions and their versions, and asking for the type is an error naming them.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, TypedDict

import pluggy
from packaging.utils import canonicalize_name

from payments_plugins import hookspecs
from payments_plugins.contract import incompatibility
from payments_plugins.gateway import GatewayType
from payments_plugins.markers import PROJECT_NAME

ENTRY_POINT_GROUP: Final = PROJECT_NAME
"""The entry-point group plugins are published under: ``[project.entry-points.payments]``."""
REGISTER_HOOK: Final = "payments_register_gateway_types"


class PluginError(RuntimeError):
    """A needed gateway type cannot be served; the message names the plugins involved."""


@dataclass(frozen=True, kw_only=True)
class PluginOrigin:
    """A plugin's entry-point name and the distribution (with its version) that publishes it."""

    name: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        """``'acme' (payments-plugin-acme 1.2.0)``, as messages name a plugin."""
        if self.distribution is None:
            return repr(self.name)
        return f"{self.name!r} ({self.distribution} {self.version or '?'})"


@dataclass(frozen=True, kw_only=True)
class LoadedPlugin(PluginOrigin):
    """A plugin that loaded, and the gateway types it registered."""

    gateway_types: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PluginFailure(PluginOrigin):
    """A plugin that could not be loaded: what went wrong, and the traceback when code raised."""

    error: str
    traceback: str = ""

    def describe(self) -> str:
        """One line naming the plugin and its error, as pytest words it."""
        return f'Error loading plugin "{self.name}": {self.error}'


@dataclass(frozen=True, kw_only=True)
class SkippedPlugin(PluginOrigin):
    """An installed plugin the operator's selection left out."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class RegisteredGatewayType:
    """A gateway type and the plugin that registered it."""

    type: GatewayType[Any]
    plugin: PluginOrigin


@dataclass(frozen=True)
class GatewayTypeConflict:
    """A gateway type name registered by more than one plugin: served by none of them."""

    name: str
    claims: tuple[RegisteredGatewayType, ...]

    def describe(self) -> str:
        """``gateway type 'json' is registered by both 'acme' (...) and 'json' (...)``."""
        names = [claim.plugin.describe() for claim in self.claims]
        listed = " and ".join([", ".join(names[:-1]), names[-1]])
        return f"gateway type {self.name!r} is registered by both {listed}"


@dataclass(frozen=True, kw_only=True)
class PluginSelection:
    """Which installed plugins to load, by entry-point name or distribution name.

    ``load`` is an allow-list (None loads every installed plugin); ``block`` is never loaded.
    """

    load: frozenset[str] | None = None
    block: frozenset[str] = frozenset()

    @classmethod
    def of(cls, load: Iterable[str] | None = None, block: Iterable[str] = ()) -> PluginSelection:
        """A selection from plain lists of names (blank names are ignored)."""
        return cls(
            load=None if load is None else _names(load),
            block=_names(block),
        )

    def skip_reason(self, origin: PluginOrigin) -> str | None:
        """Why ``origin`` is not loaded, or None when it is."""
        names = {origin.name, origin.distribution or origin.name}
        if names & self.block:
            return "blocked by plugins.block"
        if self.load is not None and not names & self.load:
            return "not named in plugins.load"
        return None

    def unmatched(self, origins: Iterable[PluginOrigin]) -> list[str]:
        """Names in ``load`` that no installed plugin has."""
        if self.load is None:
            return []
        known = {name for o in origins for name in (o.name, o.distribution) if name is not None}
        return sorted(self.load - known)


def _names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(name.strip() for name in names if name.strip())


class PluginRegistry:
    """The plugins found through the entry points and the gateway types they contribute.

    It alone holds the pluggy plugin manager; callers read plain records.
    """

    def __init__(self) -> None:
        self._manager = pluggy.PluginManager(PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self.plugins: list[LoadedPlugin] = []
        self.failures: list[PluginFailure] = []
        self.skipped: list[SkippedPlugin] = []
        self.unmatched: list[str] = []
        """Names the selection's ``load`` list gives that no installed plugin has."""
        self._claims: dict[str, list[RegisteredGatewayType]] = {}

    @classmethod
    def discover(
        cls,
        selection: PluginSelection | None = None,
        *,
        entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
    ) -> PluginRegistry:
        """Load every plugin published under the ``payments`` entry-point group that
        ``selection`` admits (all of them by default)."""
        selection = selection or PluginSelection()
        registry = cls()
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        origins: list[PluginOrigin] = []
        for entry_point in entry_points:
            dist = entry_point.dist
            origin = PluginOrigin(
                name=entry_point.name,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
            origins.append(origin)
            reason = selection.skip_reason(origin)
            if reason is not None:
                registry.skipped.append(SkippedPlugin(**_fields(origin), reason=reason))
                continue
            if origin.distribution is not None:
                why = incompatibility(origin.distribution, origin.version)
                if why is not None:
                    registry.failures.append(PluginFailure(**_fields(origin), error=why))
                    continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                registry.failures.append(
                    PluginFailure(
                        **_fields(origin),
                        error=f"its module {entry_point.value!r} cannot be imported:"
                        f" {type(error).__name__}: {error}",
                        traceback=traceback.format_exc(),
                    )
                )
                continue
            registry.register(plugin, origin)
        registry.unmatched = selection.unmatched(origins)
        return registry

    def register(self, plugin: object, origin: PluginOrigin) -> None:
        """Register one plugin object (a module, or an object with hook implementations)."""
        try:
            self._manager.register(plugin, name=origin.name)
        except Exception as error:
            self._fail(origin, f"its hook implementations are not valid: {error}", error)
            return
        problem = self._unknown_hooks(plugin)
        if problem is not None:
            self._fail(origin, problem, unregister=plugin)
            return
        try:
            types = self._collect(plugin)
        except Exception as error:
            problem = f"{REGISTER_HOOK} raised {type(error).__name__}: {error}"
            self._fail(origin, problem, error, unregister=plugin)
            return
        if not types:
            self._fail(origin, _registers_nothing(plugin), unregister=plugin)
            return
        for gateway_type in types:
            claim = RegisteredGatewayType(type=gateway_type, plugin=origin)
            self._claims.setdefault(gateway_type.name, []).append(claim)
        self.plugins.append(
            LoadedPlugin(**_fields(origin), gateway_types=tuple(t.name for t in types))
        )

    @property
    def gateway_types(self) -> dict[str, RegisteredGatewayType]:
        """Every gateway type registered by exactly one plugin, by name."""
        return {name: claims[0] for name, claims in self._claims.items() if len(claims) == 1}

    @property
    def conflicts(self) -> dict[str, GatewayTypeConflict]:
        """Every gateway type name registered by more than one plugin, by name."""
        return {
            name: GatewayTypeConflict(name, tuple(claims))
            for name, claims in self._claims.items()
            if len(claims) > 1
        }

    def gateway_type(self, name: str) -> GatewayType[Any]:
        """The gateway type ``name``.

        Raises ``PluginError`` when it is contested (naming every plugin that registers
        it) or when nobody provides it (naming the types there are and the plugins that
        failed, one of which may have had it).
        """
        conflict = self.conflicts.get(name)
        if conflict is not None:
            raise PluginError(
                f"{conflict.describe()}; a contested type is served by neither: uninstall one,"
                " or leave one out with `plugins.block` (or `plugins.load`)"
            )
        registered = self.gateway_types.get(name)
        if registered is not None:
            return registered.type
        message = f"no installed plugin provides gateway type {name!r}"
        if self._claims:
            message += f" (available: {', '.join(sorted(self._claims))})"
        # The failure that stops the start comes first; the others may be about plugins no
        # gateway uses.
        its_own = [failure for failure in self.failures if _may_provide(failure, name)]
        others = [failure for failure in self.failures if failure not in its_own]
        if its_own:
            message += "; its plugin failed to load: " + _listed(its_own)
            if others:
                message += "; other plugins that failed to load: " + _listed(others)
        elif others:
            message += "; plugins that failed to load, one of which may provide it: " + _listed(
                others
            )
        raise PluginError(message)

    def _unknown_hooks(self, plugin: object) -> str | None:
        try:
            self._manager.check_pending()
        except pluggy.PluginValidationError:
            pass
        else:
            return None
        known = sorted(
            name
            for name, caller in vars(self._manager.hook).items()
            if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
        )
        unknown = sorted(
            caller.name
            for caller in self._manager.get_hookcallers(plugin) or []
            if not caller.has_spec()
        )
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return (
            f"it implements {', '.join(hints)}, which the platform does not define;"
            f" the hooks a plugin can implement are: {', '.join(known)}"
        )

    def _collect(self, plugin: object) -> list[GatewayType[Any]]:
        collected: list[GatewayType[Any]] = []

        def register(gateway_type: GatewayType[Any]) -> None:
            # Checked at run time too: a plugin may not be type-checked.
            given: object = gateway_type
            if not isinstance(given, GatewayType):
                raise TypeError(
                    f"register() takes a payments_plugins.GatewayType[Any], not {given!r}"
                )
            if any(t.name == gateway_type.name for t in collected):
                raise ValueError(f"gateway type {gateway_type.name!r} is registered twice")
            collected.append(gateway_type)

        caller = self._manager.subset_hook_caller(
            REGISTER_HOOK,
            remove_plugins=[p for p in self._manager.get_plugins() if p is not plugin],
        )
        caller(register=register)
        return collected

    def _fail(
        self,
        origin: PluginOrigin,
        problem: str,
        error: BaseException | None = None,
        *,
        unregister: object = None,
    ) -> None:
        if unregister is not None and self._manager.is_registered(unregister):
            self._manager.unregister(unregister)
        trace = "".join(traceback.format_exception(error)) if error is not None else ""
        self.failures.append(PluginFailure(**_fields(origin), error=problem, traceback=trace))


def _may_provide(failure: PluginFailure, type_name: str) -> bool:
    """Whether the plugin that failed is, by its names, the one providing ``type_name``: its
    entry point has the type's name, or its distribution's name has it as a word
    (``payments-plugin-acme`` for ``acme``)."""
    words = re.split(r"[-_.]+", canonicalize_name(failure.distribution or ""))
    return failure.name == type_name or canonicalize_name(type_name) in words


def _listed(failures: Iterable[PluginFailure]) -> str:
    return "; ".join(failure.describe() for failure in failures)


def _registers_nothing(plugin: object) -> str:
    """What to say about a plugin whose hook registered no gateway type."""
    function: object = getattr(plugin, REGISTER_HOOK, None)
    if callable(function) and not hasattr(function, f"{PROJECT_NAME}_impl"):
        return (
            f"it registers no gateway type: its {REGISTER_HOOK} is not marked as a hook"
            " implementation; decorate it with @payments_plugins.hookimpl"
        )
    if function is None:
        return (
            f"it registers no gateway type: it has no {REGISTER_HOOK} hook; add one, decorated"
            " with @payments_plugins.hookimpl, that calls register(GatewayType(...))"
        )
    return f"it registers no gateway type: its {REGISTER_HOOK} never calls register()"


class _OriginFields(TypedDict):
    name: str
    distribution: str | None
    version: str | None


def _fields(origin: PluginOrigin) -> _OriginFields:
    """``origin``'s fields, for the record of what became of it."""
    return {"name": origin.name, "distribution": origin.distribution, "version": origin.version}


__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTER_HOOK",
    "GatewayTypeConflict",
    "LoadedPlugin",
    "PluginError",
    "PluginFailure",
    "PluginOrigin",
    "PluginRegistry",
    "PluginSelection",
    "RegisteredGatewayType",
    "SkippedPlugin",
]
