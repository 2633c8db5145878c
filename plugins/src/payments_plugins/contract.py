"""The version of the plugin contract, and whether a plugin built for another one can load.

The contract is versioned as the ``payments-plugins`` distribution is, with semantic
versioning: a new minor version only adds (a plugin built for 1.0 loads on a 1.3 platform),
a new major version may change or remove what plugins rely on. A plugin declares the versions
it was built for the standard way, in its own dependency on ``payments-plugins``
(``dependencies = ["payments-plugins>=1.0,<2"]``); the platform reads that requirement from
the plugin's installed metadata and refuses a plugin whose requirement excludes its contract,
naming both versions, before importing any of its code.
"""

from __future__ import annotations

import importlib.metadata
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

CONTRACT_VERSION: Final = "1.1.0"
"""The contract this installation of ``payments-plugins`` implements (its own version)."""
CALL_DEADLINE_SECONDS: Final = 30.0
"""The default time budget of one call into a gateway (``initiate``, ``refund``, the lookups,
``parse_webhook``): the platform stops waiting for a call past its deadline and treats it as an
unknown outcome, whatever the plugin does meanwhile. Operators may set another per gateway
(``deadline_seconds``); the conformance kit runs every call under this one."""
CONTRACT_DISTRIBUTION: Final = "payments-plugins"
"""The distribution a plugin depends on for the contract."""


def contract_major() -> int:
    """The major version of ``CONTRACT_VERSION``."""
    return Version(CONTRACT_VERSION).major


def contract_requirement(distribution: str) -> Requirement | None:
    """The installed ``distribution``'s own requirement on ``payments-plugins``, if it has one.

    Requirements that apply only under an extra or another environment marker that does not
    hold here are left out, as pip leaves them out when installing.
    """
    try:
        requires = importlib.metadata.distribution(distribution).requires or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CONTRACT_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        return requirement
    return None


def incompatibility(distribution: str, version: str | None) -> str | None:
    """Why the installed plugin ``distribution`` cannot load on this contract, or None.

    A plugin is compatible when its requirement on ``payments-plugins`` admits
    ``CONTRACT_VERSION``; one that names no version range admits every contract.
    """
    requirement = contract_requirement(distribution)
    if requirement is None or requirement.specifier.contains(CONTRACT_VERSION, prereleases=True):
        return None
    built_for = f"{CONTRACT_DISTRIBUTION}{requirement.specifier}"
    return (
        f"{distribution} {version or ''} is built for the plugin contract {built_for},"
        f" but this platform implements contract {CONTRACT_VERSION}: install a release of"
        f" {distribution} built for contract {contract_major()}.x"
        f" (one that depends on {CONTRACT_DISTRIBUTION}>={contract_major()}.0,"
        f"<{contract_major() + 1})"
    ).replace("  ", " ")
