"""The effective configuration as the console shows it: every setting, as TOML, with every
secret replaced. Pure.

A value is withheld when its plugin declares the setting secret, when its name says it is one
(secret, password, token, key: API key hashes and operators' password hashes among them), when
it is a value the runtime keeps out of the logs, and a URL keeps its user but not its password.
Better one harmless value too many withheld than one secret shown.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from payments_platform.config import Settings

REDACTED = "<redacted>"
SECRET_NAME_PARTS = ("secret", "password", "token", "key")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def redacted_settings(
    settings: Settings,
    secret_settings: Mapping[str, Collection[str]],
    known_secrets: Collection[str] = (),
) -> dict[str, Any]:
    """The settings as plain data with secrets withheld; ``secret_settings`` names, by gateway,
    the settings its plugin declares secret; ``known_secrets`` are values to withhold wherever
    they appear."""
    raw: dict[str, Any] = msgspec.to_builtins(settings)
    withheld = frozenset(value for value in known_secrets if value)
    shown: dict[str, Any] = _redacted(raw, withheld)
    for name, gateway in shown.get("gateways", {}).items():
        declared = secret_settings.get(name, ())
        for key in gateway.get("settings", {}):
            if key in declared:
                gateway["settings"][key] = REDACTED
    return shown


def _redacted(value: Any, withheld: frozenset[str], name: str = "") -> Any:
    if isinstance(value, dict):
        return {key: _redacted(item, withheld, str(key)) for key, item in value.items()}
    if any(part in name.lower() for part in SECRET_NAME_PARTS):
        return REDACTED
    if isinstance(value, list):
        return [_redacted(item, withheld, name) for item in value]
    if isinstance(value, str):
        return REDACTED if value in withheld else _without_password(value)
    return value


def _without_password(text: str) -> str:
    """A URL with its password replaced; any other text as it is."""
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{REDACTED}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def as_toml(data: Mapping[str, Any]) -> str:
    """``data`` written as a TOML document; a value that is not set (None) is a comment."""
    return "\n".join(_table_lines([], data)).strip() + "\n"


def _table_lines(path: list[str], table: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    nested: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            nested.append((key, value))
        elif value is None:
            lines.append(f"# {_key(key)}: not set")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    if path and (lines or not nested):
        lines.insert(0, f"[{'.'.join(_key(part) for part in path)}]")
    out = [*lines, ""] if lines else []
    for key, value in nested:
        out += _table_lines([*path, key], value)
    return out


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return _string(str(value))


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
