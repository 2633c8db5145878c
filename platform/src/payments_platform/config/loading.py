"""Reading the configuration: one TOML file (or the demo profile) plus ``PAYMENTS_*``
environment overrides, decoded into :class:`~payments_platform.config.sections.Settings`, with
errors that name the key, or the variable, that is wrong."""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect

from payments_platform.config.sections import Settings
from payments_platform.demo import demo_profile

ENV_PREFIX = "PAYMENTS_"
CONFIG_PATH_VARIABLE = "PAYMENTS_CONFIG"
LOG_LEVEL_VARIABLE = "PAYMENTS_LOG_LEVEL"
_NOT_OVERRIDES = frozenset({CONFIG_PATH_VARIABLE, LOG_LEVEL_VARIABLE})

_AT_KEY = re.compile(r" - at `([^`]*)`$")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the offending key (it ends with
    `` - at `key` ``), and the ``PAYMENTS_*`` variable when one set it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(f"{variable}: {message}" if variable else message)
        self.message = message
        self.variable = variable

    @property
    def key(self) -> str | None:
        """The dotted key the message is about, if it names one."""
        match = _AT_KEY.search(self.message)
        return match[1] if match else None


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _override_path(variable: str) -> list[str]:
    return variable.removeprefix(ENV_PREFIX).lower().split("__")


def _overrides(environ: Mapping[str, str]) -> list[str]:
    """The variables of ``environ`` that override config keys, sorted."""
    return sorted(v for v in environ if v.startswith(ENV_PREFIX) and v not in _NOT_OVERRIDES)


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Return ``raw`` with every ``PAYMENTS_A__B=value`` variable set at ``a.b``."""
    for variable in _overrides(environ):
        path = _override_path(variable)
        if not all(path):
            raise ConfigError("empty key in the override's path", variable=variable)
        node = raw
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{'.'.join(path)} goes through a non-table value", variable=variable
                )
            node = child
        node[path[-1]] = _env_value(environ[variable])
    return raw


def blame_override(
    error: ConfigError, environ: Mapping[str, str], written: Mapping[str, Any] | None = None
) -> ConfigError:
    """``error``, naming the ``PAYMENTS_*`` variable that set the key it is about, if one did.

    A variable is blamed when it set that very key or a table holding it, or when the key is
    not in the file (``written``, when known) and the variable set something under it:
    ``PAYMENTS_DATABSE__URL`` for ``unknown field `databse```.
    """
    key = error.key
    if error.variable is not None or not key:
        return error
    for variable in _overrides(environ):
        path = ".".join(_override_path(variable))
        if (
            path == key
            or key.startswith(f"{path}.")
            or (path.startswith(f"{key}.") and written is not None and not _holds(written, key))
        ):
            return ConfigError(error.message, variable=variable)
    return error


def _holds(raw: Mapping[str, Any], key: str) -> bool:
    node: Any = raw
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


_MSGSPEC_ERROR = re.compile(r"(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]*)`")
_INVALID_CHOICE = re.compile(r"Invalid enum value (?P<value>.*)")
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[[^\]]*\]")
_VARIABLE_PART = re.compile(r"[a-z0-9_]+")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _explained(
    error: msgspec.ValidationError, decoded: type[Any], prefix: str = "", raw: Any = None
) -> str:
    """msgspec's message for ``decoded``, made an operator's: the key in config terms
    (``prefix`` leads to the decoded table; an entry of a table of tables, such as a merchant,
    is named when ``raw``, what was decoded, shows which), the nearest known key for an
    unknown one, the whole key and its variable for a missing one, the valid values for a
    choice."""
    match = _MSGSPEC_ERROR.fullmatch(str(error))
    assert match is not None  # noqa: S101 - the pattern matches any text
    text, path = match["text"], match["path"] or ""
    entry = _entry_explained(raw, decoded, prefix, path)
    if entry is not None:
        return entry
    key = (prefix.rstrip(".") + path).lstrip(".")
    node = _type_at(decoded, path)
    if unknown := _UNKNOWN_FIELD.fullmatch(text):
        name = unknown["name"]
        known = [field.encode_name for t in node for field in _struct_fields(t)]
        text = f"unknown field `{name}`{_nearest(name, known, '`')}"
        key = f"{key}.{name}" if key else name
    elif missing := _MISSING_FIELD.fullmatch(text):
        name = missing["name"]
        text = f"missing required field `{name}`: {_how_to_set(f'{key}.{name}' if key else name)}"
    elif invalid := _INVALID_CHOICE.fullmatch(text):
        choices = [repr(choice) for t in node for choice in _choices(t)]
        if choices:
            value = invalid["value"]
            text = (
                f"invalid value {value}{_nearest(value, choices)}: choose one of"
                f" {', '.join(choices)}"
            )
    return f"{text} - at `{key}`" if key else text


def _how_to_set(key: str) -> str:
    """Where ``key`` can be given: the file, and the variable that sets it, when one can."""
    parts = key.split(".")
    where = f"set `{key}` in the config file"
    if not all(_VARIABLE_PART.fullmatch(part) for part in parts):
        return where  # a variable's name is lower-cased into the key: it cannot set this one
    return f"{where}, or {ENV_PREFIX}{'__'.join(part.upper() for part in parts)} in the environment"


def _entry_explained(raw: Any, decoded: type[Any], prefix: str, path: str) -> str | None:
    """The error of the entry of a table of tables (``merchants``, ``gateways``) that ``path``
    goes through, which msgspec writes ``[...]``, explained with the entry's name; None when it
    goes through none, or ``raw`` does not show which entry it is."""
    steps = [step[0] for step in _PATH_STEP.finditer(path)]
    if "[...]" not in steps:
        return None
    before = steps[: steps.index("[...]")]
    if not all(step.startswith(".") for step in before):
        return None
    names = [step[1:] for step in before]
    table = raw
    for name in names:
        table = table.get(name) if isinstance(table, Mapping) else None
    entry_types = [
        entry.cls
        for node in _type_at(decoded, "".join(before))
        if isinstance(node, msgspec.inspect.DictType)
        for entry in _unwrapped(node.value_type)
        if isinstance(entry, msgspec.inspect.StructType)
    ]
    if not isinstance(table, Mapping) or not entry_types:
        return None
    key = ".".join(part for part in (prefix.rstrip("."), *names) if part)
    for name, value in table.items():
        try:
            msgspec.convert(value, entry_types[0])
        except msgspec.ValidationError as error:
            return _explained(error, entry_types[0], f"{key}.{_key_part(name)}.", value)
    return None


def _key_part(name: object) -> str:
    """``name`` as one part of a dotted key, quoted as TOML quotes it when it must be."""
    text = str(name)
    return text if _BARE_KEY.fullmatch(text) else f'"{text}"'


def _nearest(word: str, known: list[str], quote: str = "") -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {quote}{close[0]}{quote}?)" if close else ""


def _type_at(decoded: type[Any], path: str) -> list[msgspec.inspect.Type]:
    """The types a msgspec error path (``.routing.strategy``, ``.merchants[...]``) leads to
    in ``decoded``, unions and constraints unwrapped; empty when it leads nowhere known."""
    nodes = _unwrapped(msgspec.inspect.type_info(decoded))
    for step in _PATH_STEP.finditer(path):
        name = step[1]
        following: list[msgspec.inspect.Type] = []
        for node in nodes:
            if name is not None:
                following += [f.type for f in _struct_fields(node) if f.encode_name == name]
            elif isinstance(node, msgspec.inspect.DictType):
                following.append(node.value_type)
            elif isinstance(node, msgspec.inspect.ListType):
                following.append(node.item_type)
        nodes = [unwrapped for t in following for unwrapped in _unwrapped(t)]
    return nodes


def _unwrapped(node: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    if isinstance(node, msgspec.inspect.Metadata):
        return _unwrapped(node.type)
    if isinstance(node, msgspec.inspect.UnionType):
        return [unwrapped for member in node.types for unwrapped in _unwrapped(member)]
    return [node]


def _struct_fields(node: msgspec.inspect.Type) -> tuple[msgspec.inspect.Field, ...]:
    return node.fields if isinstance(node, msgspec.inspect.StructType) else ()


def _choices(node: msgspec.inspect.Type) -> list[object]:
    if isinstance(node, msgspec.inspect.EnumType):
        return [member.value for member in node.cls]
    if isinstance(node, msgspec.inspect.LiteralType):
        return list(node.values)
    return []


def decode_settings(raw: dict[str, Any]) -> Settings:
    """Validate a raw configuration mapping; errors name the key."""
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as error:
        raise ConfigError(_explained(error, Settings, raw=raw)) from None


def decode_plugin_settings(raw: Mapping[str, Any], settings_type: type[Any], where: str) -> Any:
    """Validate a plugin's settings table; ``where`` is its config path, used in errors."""
    try:
        return msgspec.convert(dict(raw), settings_type)
    except msgspec.ValidationError as error:
        raise ConfigError(_explained(error, settings_type, f"{where}.", raw)) from None


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read the file at ``path`` (or the demo profile when None) and apply the overrides."""
    if path is None:
        raw = demo_profile()
    else:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
        if raw.get("demo"):
            raise ConfigError("`demo` is set only by the demo profile, not in a config file")
    written = copy.deepcopy(raw)
    try:
        return decode_settings(apply_overrides(raw, environ))
    except ConfigError as error:
        raise blame_override(error, environ, written) from None
