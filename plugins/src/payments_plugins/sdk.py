"""The installed contract, as a wheel for a plugin's own environment: ``payments plugin sdk``.

A vendor who has only the installed platform needs ``payments-plugins`` (the contract, the
conformance kit and the scaffold) in the virtual environment of the plugin they write, at the
very version the platform implements, and it is on no package index. ``contract_wheel`` writes
the installed distribution as a wheel: the files of the ``payments_plugins`` package as they
are installed (an editable install's source folder, or an installed wheel's), with the
distribution's own metadata (its requirements, the ``testing`` extra, the ``pytest11`` entry
point of the kit). Nothing is built or downloaded. ``install_into`` installs that wheel, with
the ``testing`` extra, into a virtual environment with the environment's own pip, which fetches
the dependencies from the package registry it is configured with.

``payments plugin sdk --into .venv`` does both; ``python -m payments_plugins.sdk`` does the same
where only the contract is installed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Final

from payments_plugins.contract import CONTRACT_DISTRIBUTION, CONTRACT_VERSION

PACKAGE: Final = "payments_plugins"
WHEEL_TAG: Final = "py3-none-any"
KIT_EXTRA: Final = "testing"
"""The extra that brings what the conformance kit needs (pytest, uvicorn, ...)."""
_METADATA_FILES: Final = ("METADATA", "entry_points.txt")
"""The distribution's own metadata files a wheel carries; RECORD and WHEEL are written anew,
and what an installer adds (INSTALLER, REQUESTED, direct_url.json) is left out."""
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
"""Every member's time stamp, so that the same installation makes the same wheel."""


class SdkError(Exception):
    """The wheel cannot be written or installed; the message says why and what to do."""


def wheel_name() -> str:
    """``payments_plugins-1.1.0-py3-none-any.whl``."""
    return f"{PACKAGE}-{CONTRACT_VERSION}-{WHEEL_TAG}.whl"


def contract_wheel(directory: Path) -> Path:
    """Write the installed ``payments-plugins`` as a wheel into ``directory``; its path."""
    try:
        distribution = importlib.metadata.distribution(CONTRACT_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise SdkError(
            f"{CONTRACT_DISTRIBUTION} is importable but not installed as a distribution:"
            " install it (pip install -e plugins/ from the platform's repository)"
        ) from None
    if distribution.version != CONTRACT_VERSION:
        raise SdkError(
            f"the installed {CONTRACT_DISTRIBUTION} metadata says {distribution.version}, the"
            f" code contract {CONTRACT_VERSION}: reinstall the platform"
        )
    info = f"{PACKAGE}-{CONTRACT_VERSION}.dist-info"
    members = list(_package_files(Path(__file__).resolve().parent))
    for name in _METADATA_FILES:
        text = distribution.read_text(name)
        if text is None:
            raise SdkError(f"the installed {CONTRACT_DISTRIBUTION} has no {name}: reinstall it")
        members.append((f"{info}/{name}", text.encode("utf-8")))
    members.append((f"{info}/WHEEL", _wheel_file().encode("utf-8")))
    record = [f"{name},{_digest(data)},{len(data)}" for name, data in members]
    record.append(f"{info}/RECORD,,")
    members.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode("utf-8")))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / wheel_name()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in members:
            member = zipfile.ZipInfo(name, date_time=_EPOCH)
            member.external_attr = 0o644 << 16
            wheel.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _package_files(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file of the installed package (templates and ``py.typed`` included), by its
    path in a wheel, without compiled bytecode."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        yield str(PurePosixPath(PACKAGE, *relative.parts)), path.read_bytes()


def _wheel_file() -> str:
    generator = f"{CONTRACT_DISTRIBUTION} {CONTRACT_VERSION} (payments_plugins.sdk)"
    return f"Wheel-Version: 1.0\nGenerator: {generator}\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"


def _digest(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode('ascii')}"


def environment_python(environment: Path) -> Path:
    """The interpreter of the virtual environment at ``environment``."""
    if sys.platform == "win32":
        return environment / "Scripts" / "python.exe"
    return environment / "bin" / "python"


def install_into(environment: Path, wheel: Path) -> None:
    """Install ``wheel`` with the kit's extra into ``environment`` with its own pip."""
    python = environment_python(environment)
    if not python.exists():
        raise SdkError(
            f"{environment} is not a virtual environment (there is no {python}): create it"
            f" with python3 -m venv {environment}"
        )
    has_pip = subprocess.run(  # noqa: S603 - the interpreter the vendor named, its pip
        [str(python), "-m", "pip", "--version"], capture_output=True, check=False
    )
    if has_pip.returncode != 0:
        raise SdkError(
            f"the virtual environment {environment} has no pip: create it with"
            f" python3 -m venv {environment}, or install {wheel.name}[{KIT_EXTRA}] with the"
            " installer you use (payments plugin sdk --wheel-dir DIR writes it)"
        )
    installed = subprocess.run(  # noqa: S603 - the interpreter the vendor named, its pip
        [str(python), "-m", "pip", "install", f"{wheel}[{KIT_EXTRA}]"], check=False
    )
    if installed.returncode != 0:
        raise SdkError(f"pip could not install {wheel.name} into {environment} (see above)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``payments plugin sdk`` (and of ``python -m payments_plugins.sdk``)."""
    parser.add_argument(
        "--into",
        type=Path,
        metavar="VENV",
        help="install the contract and its conformance kit (the testing extra) into this"
        " virtual environment, with its pip",
    )
    parser.add_argument(
        "--wheel-dir",
        type=Path,
        metavar="DIR",
        help=f"write {wheel_name()} into DIR (default: the current folder; with --into, a"
        " temporary one)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the wheel, and install it where ``args`` say."""
    try:
        if args.into is None:
            wheel = contract_wheel(args.wheel_dir or Path())
            print(f"wrote {wheel}: the plugin contract {CONTRACT_VERSION} and its kit")
            print("install it into your plugin's virtual environment with:")
            print(f'  pip install "{wheel}[{KIT_EXTRA}]"')
            return 0
        if args.wheel_dir is not None:
            install_into(args.into, contract_wheel(args.wheel_dir))
        else:
            with tempfile.TemporaryDirectory() as folder:
                install_into(args.into, contract_wheel(Path(folder)))
    except SdkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"installed {CONTRACT_DISTRIBUTION} {CONTRACT_VERSION} (the plugin contract) and its"
        f" conformance kit into {args.into}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m payments_plugins.sdk``."""
    parser = argparse.ArgumentParser(
        prog="python -m payments_plugins.sdk",
        description="Write the installed plugin contract and its conformance kit as a wheel,"
        " or install it into a plugin's virtual environment.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
