"""A new gateway plugin distribution, complete and certified: ``payments plugin new acme``.

``new_plugin`` writes a distribution named ``payments-plugin-<name>`` with a settings
struct, a gateway speaking to a toy REST vendor over the platform's shared httpx client (the
error taxonomy applied to every failure), HMAC-signed webhooks, a simulator of the vendor's API
built on ``payments_plugins.simulation``, a README, and tests that run the conformance kit.
Freshly written, it installs with pip and its tests pass; a vendor then replaces the toy wire
format with its own. ``python -m payments_plugins.scaffold acme`` does the same without the
platform installed.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from collections.abc import Iterator, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Final

from packaging.version import Version

from payments_plugins.contract import CONTRACT_DISTRIBUTION, CONTRACT_VERSION
from payments_plugins.money import is_currency

NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""A gateway type name the scaffold takes: it is also a Python module name's tail."""
DEFAULT_CURRENCIES: Final = ("EUR", "GBP")
SDK_COMMAND: Final = "python -m payments_plugins.sdk"
"""How the next steps put the contract and its kit into the plugin's environment, where only
the contract is installed; ``payments plugin new`` says ``payments plugin sdk``."""
_TEMPLATE_SUFFIX: Final = ".tmpl"
_MODULE_FOLDER: Final = "module"


class ScaffoldError(ValueError):
    """The plugin cannot be written as asked; the message says why."""


def new_plugin(
    name: str,
    directory: Path,
    *,
    currencies: Sequence[str] = DEFAULT_CURRENCIES,
    description: str | None = None,
) -> Path:
    """Write the distribution of a plugin whose gateway type is ``name`` into ``directory``.

    Returns the distribution's folder, ``directory / "payments-plugin-<name>"`` (underscores
    become dashes). Raises ``ScaffoldError`` for a name that is not lower-case letters,
    digits and underscores, an unknown currency, or a folder that already exists.
    """
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a gateway type name the scaffold takes: 1-40 of a-z, 0-9 and _,"
            " starting with a letter"
        )
    unknown = sorted(code for code in currencies if not is_currency(code))
    if unknown or not currencies:
        raise ScaffoldError(f"currencies must be ISO 4217 codes such as EUR, not {unknown}")
    distribution = f"payments-plugin-{name.replace('_', '-')}"
    target = directory / distribution
    if target.exists():
        raise ScaffoldError(f"{target} already exists; choose another folder or name")
    # The plugin written uses what this contract has (a webhook's reference came in 1.1): it
    # is built for this minor and every later one of the major.
    contract = Version(CONTRACT_VERSION)
    specifier = f">={contract.major}.{contract.minor},<{contract.major + 1}"
    codes = sorted(set(currencies))
    words = {
        "name": name,
        "module": f"payments_plugin_{name}",
        "distribution": distribution,
        "Class": "".join(part.capitalize() for part in name.split("_")),
        "currencies": "frozenset({" + ", ".join(f'"{code}"' for code in codes) + "})",
        "currency_list": ", ".join(codes),
        "contract_requirement": f"{CONTRACT_DISTRIBUTION}{specifier}",
        "contract_specifier": specifier,
        "description": (description or f"The {name} REST vendor: HMAC-signed webhooks.").replace(
            '"', "'"
        ),
    }
    template = files(__name__) / "template"
    for relative, source in _templates(template, PurePosixPath()):
        parts = [words["module"] if part == _MODULE_FOLDER else part for part in relative.parts]
        path = target.joinpath(*parts).with_name(relative.name.removesuffix(_TEMPLATE_SUFFIX))
        path.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(source.read_text(encoding="utf-8")).substitute(words)
        path.write_text(text, encoding="utf-8")
    return target


def _templates(
    folder: Traversable, relative: PurePosixPath
) -> Iterator[tuple[PurePosixPath, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            yield from _templates(entry, relative / entry.name)
        elif entry.name.endswith(_TEMPLATE_SUFFIX):
            yield relative / entry.name, entry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``payments plugin new`` (and of ``python -m payments_plugins.scaffold``)."""
    parser.add_argument("name", help="the gateway type's name, e.g. acme (a-z, 0-9, _)")
    parser.add_argument(
        "--directory",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="where to write payments-plugin-<name>/ (default: the current folder)",
    )
    parser.add_argument(
        "--currency",
        dest="currencies",
        action="append",
        metavar="CODE",
        help="an ISO 4217 code the vendor takes; repeat for several (default: EUR and GBP)",
    )
    parser.add_argument("--description", metavar="TEXT", help="one line for `payments plugins`")


def run(args: argparse.Namespace, *, sdk_command: str = SDK_COMMAND) -> int:
    """Write the plugin ``args`` describe and say what to do next; ``sdk_command`` is the
    command that puts the contract and its kit into the plugin's virtual environment."""
    try:
        target = new_plugin(
            args.name,
            args.directory,
            currencies=args.currencies or DEFAULT_CURRENCIES,
            description=args.description,
        )
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {target}")
    print(
        "next, in a virtual environment of the plugin's own, with the plugin contract"
        f" {CONTRACT_VERSION} and its conformance kit:"
    )
    print(f"  cd {target}")
    print("  python3 -m venv .venv")
    print(f"  {sdk_command} --into .venv")
    print('  .venv/bin/pip install -e ".[test]"')
    print(
        "  .venv/bin/pytest   # the conformance kit certifies the plugin as the platform loads it"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m payments_plugins.scaffold NAME``."""
    parser = argparse.ArgumentParser(
        prog="python -m payments_plugins.scaffold", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
