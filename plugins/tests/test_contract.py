"""Which requirements on the contract a plugin may declare, and how they are written back."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from payments_plugins.contract import (
    CONTRACT_VERSION,
    admits_every_later_minor,
    requirement_text,
    suggested_requirement,
)

CURRENT = Version(CONTRACT_VERSION)
MAJOR, MINOR = CURRENT.major, CURRENT.minor


@pytest.mark.parametrize(
    "specifier",
    [
        f">={MAJOR}.0,<{MAJOR + 1}",
        f">={MAJOR}.{MINOR},<{MAJOR + 1}",
        f"~={MAJOR}.{MINOR}",
        f"~={MAJOR}.0",
        f"=={MAJOR}.*",
        f">={MAJOR}.0,<{MAJOR + 1}.0.0,!={MAJOR - 1}.0.0",
        f">={MAJOR}.0,<{MAJOR + 1},!={MAJOR - 1}.*",
        f">={MAJOR}.0,<={MAJOR + 1}",
    ],
)
def test_a_range_up_to_the_next_major_admits_every_later_minor(specifier: str) -> None:
    """Issue 19, finding 2.3: these are the ranges the kit accepts."""
    assert admits_every_later_minor(SpecifierSet(specifier))


@pytest.mark.parametrize(
    ("specifier", "instead"),
    [
        (f"=={CONTRACT_VERSION}", f">={MAJOR}.{MINOR},<{MAJOR + 1}"),
        (f">={MAJOR}.0,<{MAJOR}.{MINOR + 1}", f">={MAJOR}.0,<{MAJOR + 1}"),
        (f"~={MAJOR}.{MINOR}.0", f">={MAJOR}.{MINOR},<{MAJOR + 1}"),
        (f"=={MAJOR}.{MINOR}.*", f">={MAJOR}.{MINOR},<{MAJOR + 1}"),
        (f">={MAJOR}.0,<{MAJOR + 1},!={MAJOR}.{MINOR + 1}.0", f">={MAJOR}.0,<{MAJOR + 1}"),
        (f">={MAJOR}.0,<{MAJOR + 1},!={MAJOR}.{MINOR + 2}.*", f">={MAJOR}.0,<{MAJOR + 1}"),
        (f">={MAJOR}.0,<={MAJOR}.99", f">={MAJOR}.0,<{MAJOR + 1}"),
        (f"==={CONTRACT_VERSION}", f">={MAJOR}.0,<{MAJOR + 1}"),
        (f">={MAJOR}.{MINOR + 1},<{MAJOR + 1}", f">={MAJOR}.0,<{MAJOR + 1}"),
    ],
)
def test_a_range_that_stops_short_of_the_next_major_is_refused_with_what_to_write(
    specifier: str, instead: str
) -> None:
    """Issue 19, finding 2.3: a pin, or a ceiling below the next major, would have a later
    minor platform refuse the plugin; the suggestion keeps the minor the plugin asks for."""
    assert not admits_every_later_minor(SpecifierSet(specifier))
    assert suggested_requirement(SpecifierSet(specifier)) == f"payments-plugins{instead}"


def test_a_requirement_is_written_with_its_lower_bound_first() -> None:
    """Issue 19, finding 3.2: `payments plugins` and the messages show the range as written."""
    assert requirement_text(SpecifierSet("<2,>=1.0")) == "payments-plugins>=1.0,<2"
    assert requirement_text(SpecifierSet("!=1.3.0,<2,~=1.1")) == "payments-plugins~=1.1,!=1.3.0,<2"
    assert requirement_text(SpecifierSet()) == "payments-plugins"
