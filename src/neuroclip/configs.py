"""Configs as frozen dataclasses, read from dicts and files: build one from a mapping (nested, unknown keys
refused by name), write one as JSON-ready dicts, read JSON/YAML files with the line and column of a syntax error,
apply dotted overrides, and the value checks each config's ``__post_init__`` uses. Every message names the field."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path

from neuroclip.errors import ConfigError, MissingDependencyError


def check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def check_finite(name: str, value, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or (
            positive and value <= 0):
        raise ConfigError(f"{name} must be a finite{' positive' if positive else ''} number, got {value!r}")


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def _is_dataclass_type(kind) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _unwrap_optional(kind):
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def from_dict(cls, values: dict | None, base=None, where: str = ""):
    """A frozen dataclass ``cls`` from ``base`` (or the defaults) with the fields in ``values`` replaced, nested
    dataclasses merged recursively. Unknown keys raise :class:`ConfigError` naming the known ones."""
    base = base if base is not None else cls()
    if values is None:
        return base
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{where or cls.__name__} must be a mapping of fields, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown} in {where or cls.__name__}; known: {', '.join(sorted(names))}")
    changes = {}
    for key, value in values.items():
        kind = _unwrap_optional(hints[key])
        label = f"{where}.{key}" if where else key
        if _is_dataclass_type(kind) and (isinstance(value, dict) or value is None):
            changes[key] = from_dict(kind, value, getattr(base, key), label)
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            changes[key] = tuple(value)
        else:
            changes[key] = value
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as error:
        raise ConfigError(f"bad value in {where or cls.__name__}: {error}") from None


def to_dict(config) -> dict:
    """A JSON-ready dict of a (nested) config."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


def load_config_file(path) -> dict:
    """A JSON (``.json``) or YAML (``.yaml``/``.yml``) mapping."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError("pyyaml", "reading YAML config files") from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise ConfigError(f"{path} is not valid YAML{where}: {problem}; fix the file") from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}; "
                              "fix the file") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(values).__name__}")
    return values


def set_dotted(values: dict, overrides: dict) -> dict:
    """``values`` with dotted-key ``overrides`` applied in place (``{"optim.lr": 1e-3}`` sets values["optim"]["lr"],
    creating the mappings on the way); returns ``values``."""
    for dotted, value in overrides.items():
        target = values
        keys = dotted.split(".")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"cannot set {dotted}: {key} is not a mapping")
        target[keys[-1]] = value
    return values
