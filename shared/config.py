"""Typed experiment configs: YAML values loaded into frozen dataclasses, rejecting unknown keys, wrong types and
values out of range.

The dataclass is the schema (defaults live there, once), ranges included: a field declares its range in its type,
``lr: PositiveFloat = 2e-4`` or ``decay: Annotated[float, Range(ge=0, lt=1)]``, and every float must be finite
(YAML's ``.nan`` and ``.inf`` are refused). ``load`` fails before any compute with a message naming the file and
the dotted key, e.g. ``replications/ddpm/configs/x.yaml: train.lr: must be > 0, got 0.0``.

Example:
    >>> from replications.ddpm.config import Config
    >>> cfg = load("replications/ddpm/configs/smoke_toy.yaml", Config, overrides=["train.steps=10"])
    >>> cfg.train.steps
    10
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml

T = TypeVar("T")


class InputError(Exception):
    """A bad input (config, option, file, path): every entry point prints its one line and exits with status 2
    (``shared.entry.guarded``)."""


class ConfigError(InputError, ValueError):
    """A config value is missing, unknown, of the wrong type or out of range; the message names the file and key."""


@dataclasses.dataclass(frozen=True)
class Range:
    """The interval a numeric config field must lie in, declared in its type: ``Annotated[float, Range(gt=0)]``."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def _bounds(self):
        bounds = ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
        return [(op, v) for op, v in bounds if v is not None]

    def __str__(self) -> str:
        return " and ".join(f"{op} {v:g}" for op, v in self._bounds())

    def contains(self, value: float) -> bool:
        """True when ``value`` satisfies every bound."""
        return all(_COMPARE[op](value, bound) for op, bound in self._bounds())


_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}

PositiveInt = Annotated[int, Range(ge=1)]  # counts, sizes, intervals in steps
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]  # rates, tolerances, scales
NonNegativeFloat = Annotated[float, Range(ge=0)]
UnitInterval = Annotated[float, Range(ge=0, lt=1)]  # decays and Adam betas: [0, 1)
ODEMethod = Literal[  # torchdiffeq's solvers (scipy_solver needs options these configs do not pass)
    "dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "euler", "midpoint", "heun2", "heun3", "rk4",
    "explicit_adams", "implicit_adams", "fixed_adams",
]  # fmt: skip


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``; a silent string is a trap)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$|^[-+]?\d[\d_]*\.\d*$|^[-+]?\.\d+$"),
    list("-+0123456789."),
)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file with the float-friendly loader; a missing file raises FileNotFoundError naming it."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a YAML config file")
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, expected a YAML config") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Annotated:
        base, *marks = typing.get_args(tp)
        value = _convert(value, base, key)
        for mark in marks:
            if isinstance(mark, Range) and not mark.contains(value):
                raise ConfigError(f"{key}: must be {mark}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        plain = [o for o in options if o is not type(None)]
        if len(plain) == 1:  # X | None: X's own message (its range, its type)
            return _convert(value, plain[0], key)
        tagged = [o for o in options if dataclasses.is_dataclass(o)]
        if tagged and isinstance(value, Mapping):
            kinds = {typing.get_args(typing.get_type_hints(o)["kind"])[0]: o for o in tagged}
            kind = value.get("kind", next(iter(kinds)) if len(kinds) == 1 else None)
            if kind not in kinds:
                raise ConfigError(f"{key}.kind: expected one of {sorted(kinds)}, got {kind!r}")
            return _build(kinds[kind], value, key)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: expected one of {list(allowed)}, got {value!r}")
        return value
    if origin in (tuple, list, Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed length, e.g. tuple[float, float]
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected a list of {len(args)} values, got {list(value)!r}")
            item_tps = list(args)
        else:
            item_tps = [args[0] if args else Any] * len(value)
        items = [_convert(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_tps))]
        return tuple(items) if origin is not list else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, val_tp = typing.get_args(tp) or (str, Any)
        return {str(k): _convert(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected float, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite float, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected int, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config annotation {tp!r} at {key} is not supported")


def _build(cls: type[T], data: Any, prefix: str) -> T:
    """Instantiate dataclass ``cls`` from a mapping, recursively; unknown and missing keys are errors."""
    where = f"{prefix}: " if prefix else ""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}expected a mapping of {cls.__name__} fields, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"{key}: unknown key (valid keys here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _convert(_with_default_kind(data[name], field), hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                kwargs[name] = _build(hints[name], {}, key)
            else:
                raise ConfigError(f"{key}: required key is missing")
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as err:
        message = str(err)
        if prefix and message.startswith(prefix):  # the message names the section or key already
            raise ConfigError(message) from err
        raise ConfigError(f"{where}{message}") from err
    return obj


def _with_default_kind(value: Any, field: dataclasses.Field) -> Any:
    """A tagged section written without its ``kind`` takes the kind of the field's default (a union field grown
    from one kind keeps reading the files written before it grew: DDPM's ``sample`` before DDIM joined it)."""
    if not isinstance(value, Mapping) or "kind" in value:
        return value
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        return value
    kind = getattr(default, "kind", None) if dataclasses.is_dataclass(default) else None
    return value if kind is None else {"kind": kind, **value}


def validate_tree(obj: Any, prefix: str = "") -> None:
    """``validate`` a config and every section nested in it (an experiment built in code: ``ExperimentConfig``)."""
    if prefix:
        validate(obj, prefix)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            validate_tree(value, f"{prefix}.{f.name}" if prefix else f.name)


def validate(obj: Any, prefix: str) -> None:
    """Check a config instance built in code against its declared types and ranges (``load`` does it on reading).

    Call it from ``__post_init__``; raises ConfigError (a ValueError) naming ``prefix.field``.
    """
    hints = typing.get_type_hints(type(obj), include_extras=True)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not dataclasses.is_dataclass(value):
            _convert(value, hints[f.name], f"{prefix}.{f.name}")


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set ``a.b.c = value``; setting a section's ``kind`` to another kind starts the section afresh (the old kind's
    keys would not fit the new one), so ``--set sample.kind=ddim --set sample.n_steps=50`` reads as it says."""
    node = data
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: '{p}' is not a section")
    if last == "kind" and node.get("kind", value) != value:
        node.clear()
    node[last] = value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Apply ``key.sub=value`` strings (values parsed as YAML, so ``lr=1e-4`` is a float, ``mult=[1,2]`` a list)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
        key, raw = item.split("=", 1)
        if not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
        try:
            value = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
        _set_dotted(data, key.strip(), value)
    return data


def from_dict(cls: type[T], data: Mapping, source: str = "<dict>") -> T:
    """Build a config dataclass from plain data; errors are prefixed with ``source``."""
    try:
        return _build(cls, data, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load(path: str | Path, cls: type[T], overrides: Sequence[str] = ()) -> T:
    """Load a YAML experiment config into ``cls``, applying ``overrides`` first.

    Args:
        path: YAML file.
        cls: the replication's ``Config`` dataclass (the schema).
        overrides: ``key.sub=value`` strings (the CLI's ``--set``).

    Returns:
        A frozen, fully typed instance of ``cls``.

    Raises:
        ConfigError: unknown key, missing key or wrong type; the message names the file and the dotted key.
    """
    data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: is empty, expected a YAML mapping of config sections (data, net, train, ...)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return from_dict(cls, apply_overrides(data, overrides), str(path))


def to_dict(cfg: Any) -> dict:
    """Plain, JSON-safe dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))
