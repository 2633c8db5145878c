"""Third-party plugin distributions laid out as an installer lays out a wheel, on a folder.

Putting the folder on ``sys.path`` (or ``PYTHONPATH``) installs them as far as Python is
concerned: ``importlib.metadata`` finds their ``.dist-info`` (name, version, requirements,
entry points) and ``import`` finds their modules. That is what the platform's discovery reads,
and it takes milliseconds instead of a build and a pip install.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CONTRACT_REQUIREMENT = "payments-plugins>=2.0,<3"

GATEWAY_TYPE_SOURCE = """
import msgspec
from payments_plugins import GatewayType, hookimpl


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token: str = "t"


def build(settings, resources):
    raise NotImplementedError("never built in these tests")


@hookimpl
def payments_register_gateway_types(register):
    register(
        GatewayType(
            name={name!r},
            currencies=frozenset({currencies!r}),
            settings_type=Settings,
            build=build,
            description="A gateway type of {module}",
        )
    )
"""


def gateway_type_module(module: str, type_name: str, currencies: tuple[str, ...] = ("EUR",)) -> str:
    """The source of a plugin module that registers one gateway type named ``type_name``."""
    return GATEWAY_TYPE_SOURCE.format(name=type_name, currencies=set(currencies), module=module)


def write_distribution(
    root: Path,
    name: str,
    *,
    version: str = "0.1.0",
    entry_points: dict[str, str],
    modules: dict[str, str],
    requires: tuple[str, ...] = (CONTRACT_REQUIREMENT,),
) -> Path:
    """Lay distribution ``name`` out in ``root``: its modules and its ``.dist-info``.

    ``entry_points`` maps a plugin name to its module in the ``payments`` group; ``modules``
    maps a module name to its source.
    """
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    lines = ["[payments]", *(f"{plugin} = {module}" for plugin, module in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
