"""Vendor simulators: how a gateway's settings and its simulator's fit together, and the app
``payments simulate`` serves them with.

A simulator is the demo's and the tests' stand-in for a vendor. ``Simulator.settings_for(url)``
gives the gateway settings that point at a simulator served at ``url``; those that change with
the URL say *where* the vendor is, the others are the simulator's own (fixed credentials). The
operator's settings always win over the simulator's own, so that a simulator signs and checks
with the operator's secrets; where the operator's settings point elsewhere, the two disagree
about where the vendor is, and the caller decides what that means (an error for a simulator
served in the same process, a line to change in the config for ``payments simulate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from payments_plugins import ASGIApp, Simulator
from payments_plugins.gateway import Receive, Scope, Send
from payments_plugins.simulation import json_answer, json_error
from payments_plugins.simulation.asgi import send_answer

_PROBES = ("http://simulator-a.invalid:1/a", "http://simulator-b.invalid:2/b/c")


@dataclass(frozen=True, kw_only=True)
class SimulatedSettings:
    """A gateway's raw settings beside those its simulator at ``url`` needs."""

    settings: dict[str, Any]
    """What the simulator and a gateway pointed at it run with: the operator's settings laid
    over the simulator's."""
    elsewhere: dict[str, Any]
    """Settings the operator wrote that point somewhere else, with the simulator's value."""
    missing: dict[str, Any]
    """Settings only the simulator supplied, with its value."""


def simulated_settings(
    written: Mapping[str, Any], simulator: Simulator[Any], url: str
) -> SimulatedSettings:
    """The operator's settings (``written``) against those of a simulator served at ``url``."""
    pointing = simulator.settings_for(url)
    where = _address_keys(simulator)
    return SimulatedSettings(
        settings=pointing | dict(written),
        elsewhere={
            key: value
            for key, value in pointing.items()
            if key in where and key in written and written[key] != value
        },
        missing={key: value for key, value in pointing.items() if key not in written},
    )


def _address_keys(simulator: Simulator[Any]) -> frozenset[str]:
    """The settings that say where the vendor is: those ``settings_for`` changes with the URL
    (the plugin contract has it differ in nothing else)."""
    first, second = (simulator.settings_for(url) for url in _PROBES)
    return frozenset(
        key for key in first.keys() | second.keys() if first.get(key) != second.get(key)
    )


class SimulatedVendors:
    """Vendor simulators side by side in one ASGI app, each under ``/<gateway name>``.

    ``GET /`` lists them (a readiness probe); the lifespan's shutdown closes them.
    """

    def __init__(self, simulators: Mapping[str, ASGIApp], types: Mapping[str, str]) -> None:
        self._simulators = dict(simulators)
        self._index = {name: {"type": types[name], "path": f"/{name}"} for name in simulators}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"simulators serve HTTP only, not {scope['type']}")
        path: str = scope["path"]
        name = path.split("/", 2)[1]
        simulator = self._simulators.get(name)
        if simulator is not None:
            # Like a mount: the simulator finds the URL it is served at in root_path.
            inner = {**scope, "root_path": scope.get("root_path", "") + f"/{name}"}
            await simulator(inner, receive, send)
        elif path == "/" and scope["method"] == "GET":
            await send_answer(send, json_answer(200, {"simulators": self._index}))
        else:
            served = ", ".join(f"/{name}" for name in self._simulators)
            await send_answer(
                send, json_error(404, "not_found", f"no simulator at {path}; served: {served}")
            )

    async def aclose(self) -> None:
        """Close every simulator (pending notifications, their HTTP clients)."""
        for simulator in self._simulators.values():
            close = getattr(simulator, "aclose", None)
            if close is not None:
                await close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
