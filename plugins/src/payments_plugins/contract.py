"""The version of the plugin contract, and whether a plugin built for another one can load.

The contract is versioned as the ``payments-plugins`` distribution is, with semantic
versioning: a new minor version only adds (a plugin built for 2.0 loads on a 2.3 platform),
a new major version may change what plugins rely on. A plugin declares the versions it was
built for the standard way, in its own dependency on ``payments-plugins``
(``dependencies = ["payments-plugins>=2.0,<3"]``); the platform reads that requirement from
the plugin's installed metadata and refuses a plugin whose requirement admits neither its
contract nor an earlier major it still loads (:data:`EARLIER_MAJORS_LOADED`), naming both
versions, before importing any of its code.

Contract 2.0 added what a payer does (next actions) and what a gateway can do beyond the four
calls (capabilities, cancel). A plugin built for 1.x still loads, as a 1.x plugin: its types
declare no capability, so the platform shows no next action for them and never asks them to
cancel, exactly as on a 1.x platform.

Contract 2.1 added authorizing now and capturing later (``CaptureMode``, capture and void,
declared as ``Capabilities.manual_capture`` and its companions); a 2.0 plugin declares none of
them and loads as it did.

Contract 2.2 added soft declines (``GatewayDeclined(..., soft=True)``, declared as
``Capabilities.soft_declines``): a decline the payer may get past on another gateway, which the
platform offers to the next candidate. A decline is hard unless a plugin says so, so a 2.0 or
2.1 plugin declines for good, as it did.
"""

from __future__ import annotations

import importlib.metadata
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

CONTRACT_VERSION: Final = "2.2.0"
"""The contract this installation of ``payments-plugins`` implements (its own version)."""
CALL_DEADLINE_SECONDS: Final = 30.0
"""The default time budget of one call into a gateway (``initiate``, ``refund``, the lookups,
``parse_webhook``): the platform stops waiting for a call past its deadline and treats it as an
unknown outcome, whatever the plugin does meanwhile. Operators may set another per gateway
(``deadline_seconds``); the conformance kit runs every call under this one."""
CONTRACT_DISTRIBUTION: Final = "payments-plugins"
"""The distribution a plugin depends on for the contract."""
EARLIER_MAJORS_LOADED: Final = ("1.1.0", "1.0.0")
"""The releases of earlier majors whose plugins this contract still loads (as plugins of their
major: no capability declared), newest first."""


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
    ``CONTRACT_VERSION``, or a release of an earlier major this contract still loads
    (:func:`built_for_earlier_major`); one that names no version range admits every contract.
    The message offers both ways out: a platform that implements a contract the plugin admits,
    or a release of the plugin built for this one.
    """
    requirement = contract_requirement(distribution)
    if requirement is None or requirement.specifier.contains(CONTRACT_VERSION, prereleases=True):
        return None
    if built_for_earlier_major(distribution) is not None:
        return None
    built_for = requirement_text(requirement.specifier)
    plugin = f"{distribution} {version}" if version else distribution
    current = Version(CONTRACT_VERSION)
    this_one = f"{current.major}.{current.minor}"
    works_here = (
        f"(one whose requirement admits {CONTRACT_VERSION}, such as"
        f" {CONTRACT_DISTRIBUTION}>={current.major}.0,<{current.major + 1})"
    )
    needed = _lowest_needed(requirement.specifier)
    if needed is not None:
        return (
            f"{plugin} is built for the plugin contract {built_for}, newer than contract"
            f" {CONTRACT_VERSION} that this platform implements: upgrade the platform to a"
            f" release that implements contract {needed.major}.{needed.minor} or later, or"
            f" install a release of {distribution} built for contract {this_one} or earlier"
            f" {works_here}"
        )
    return (
        f"{plugin} is built for the plugin contract {built_for}, but this platform implements"
        f" contract {CONTRACT_VERSION}: install a release of {distribution} built for contract"
        f" {current.major}.x {works_here}, or run it on a platform release whose contract it"
        " admits"
    )


def built_for_earlier_major(distribution: str) -> str | None:
    """The release of an earlier major (:data:`EARLIER_MAJORS_LOADED`) the installed plugin
    ``distribution`` is built for, when its requirement excludes ``CONTRACT_VERSION`` but
    admits one of them; None otherwise. Such a plugin loads as a plugin of that major."""
    requirement = contract_requirement(distribution)
    if requirement is None or requirement.specifier.contains(CONTRACT_VERSION, prereleases=True):
        return None
    return next(
        (
            earlier
            for earlier in EARLIER_MAJORS_LOADED
            if requirement.specifier.contains(earlier, prereleases=True)
        ),
        None,
    )


def _lowest_needed(specifier: SpecifierSet) -> Version | None:
    """The lowest contract above ``CONTRACT_VERSION`` that ``specifier`` asks for at least, or
    None when it asks for no newer one (it is built for an older contract, or excludes this
    one otherwise)."""
    current = Version(CONTRACT_VERSION)
    floors = [
        Version(spec.version.removesuffix(".*"))
        for spec in specifier
        if spec.operator in (">=", ">", "~=", "==")
    ]
    newer = [floor for floor in floors if floor > current]
    return max(newer) if newer else None


def admits_every_later_minor(specifier: SpecifierSet, version: str = CONTRACT_VERSION) -> bool:
    """Whether ``specifier`` admits ``version`` (this contract, unless given) and every later
    release of its major.

    A plugin built for contract 1.1 loads on every 1.x from 1.1 on, because minor releases only
    add; a requirement that stops short of the next major (``==1.1.0``, ``>=1.0,<1.2``,
    ``~=1.1.0``) would have a later 1.x platform refuse a plugin that works there.
    """
    if not specifier.contains(version, prereleases=True):
        return False
    current = Version(version)
    ceiling = Version(f"{current.major + 1}")
    return all(_admits_up_to(spec, current, ceiling) for spec in specifier)


def _admits_up_to(spec: Specifier, current: Version, ceiling: Version) -> bool:
    """Whether one clause that admits ``current`` admits every version up to ``ceiling``."""
    operator, text = spec.operator, spec.version
    if operator in (">=", ">"):
        admits = True  # a floor at or below the current contract (it admits it)
    elif operator in ("<", "<="):
        admits = Version(text) >= ceiling
    elif operator == "~=":
        admits = len(Version(text).release) == 2  # ~=1.1 is >=1.1,==1.*; ~=1.1.0 stops at 1.2
    elif operator == "==":
        admits = text == f"{current.major}.*"
    elif operator == "!=":
        admits = _excludes_none_between(text, current, ceiling)
    else:
        admits = False  # ===: one exact string
    return admits


def _excludes_none_between(excluded: str, current: Version, ceiling: Version) -> bool:
    """Whether ``!=excluded`` leaves every version from ``current`` up to ``ceiling`` in."""
    if not excluded.endswith(".*"):
        return not current <= Version(excluded) < ceiling
    release = Version(excluded.removesuffix(".*")).release
    start = Version(".".join(map(str, release)))
    end = Version(".".join(map(str, (*release[:-1], release[-1] + 1))))
    return end <= current or start >= ceiling


def suggested_requirement(specifier: SpecifierSet) -> str:
    """The requirement to write instead of ``specifier``: from the contract minor it asks for
    at least (the current major's first, when it names none) to the next major."""
    current = Version(CONTRACT_VERSION)
    floors = [
        Version(spec.version.removesuffix(".*"))
        for spec in specifier
        if spec.operator in (">=", ">", "~=", "==")
    ]
    ours = [floor for floor in floors if floor.major == current.major and floor <= current]
    minor = max(ours).minor if ours else 0
    return f"{CONTRACT_DISTRIBUTION}>={current.major}.{minor},<{current.major + 1}"


_ORDER: Final = {">": 0, ">=": 0, "~=": 1, "==": 2, "===": 2, "!=": 3, "<=": 4, "<": 4}


def requirement_text(specifier: SpecifierSet) -> str:
    """``payments-plugins>=1.0,<2``: a requirement on the contract as a person writes it,
    lower bounds first (``packaging`` sorts the clauses as text: ``<2,>=1.0``)."""
    clauses = sorted(specifier, key=lambda spec: (_ORDER.get(spec.operator, 5), str(spec)))
    return CONTRACT_DISTRIBUTION + ",".join(str(spec) for spec in clauses)
