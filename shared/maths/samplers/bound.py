"""A sampler with its options bound: called with the one signature, and able to say exactly what it is.

``bind("ddim", eta=0.0, clip_x0=(-1, 1))`` checks the options against the sampler's own parameters at once (a typo
is a TypeError naming it, not a surprise at sampling time); ``describe()`` is the record that samples and metrics
keep, made from the same name and options that run, so the record cannot disagree with what ran.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from shared.utils import Callback, Generator

_SIGNATURE = {"field", "x", "ts", "generator", "callback"}


def describe_value(value: Any) -> Any:
    """A JSON-safe description of an option: scalars as they are, sequences item by item, an object (a predictor, a
    corrector) as its kind and its scalar attributes."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [describe_value(v) for v in value]
    if hasattr(value, "describe"):
        return value.describe()
    attrs = {k: describe_value(v) for k, v in vars(value).items() if not k.startswith("_")}
    return {"kind": type(value).__name__, **attrs}


@dataclass(frozen=True)
class BoundSampler:
    """``fn`` (a sampler of the one signature) with ``options`` bound, under ``name``.

    Attributes:
        name: the registry's name (``SAMPLERS``), or a replication's own sampler's.
        fn: ``fn(field, x, ts, *, generator, callback, **options) -> x``.
        options: keyword options, each a parameter of ``fn``.
    """

    name: str
    fn: Callable[..., Tensor]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        params = inspect.signature(self.fn).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = [k for k in self.options if k in _SIGNATURE or (k not in params and not takes_any)]
        if unknown:
            raise TypeError(
                f"sampler {self.name!r}: no option {', '.join(map(repr, unknown))} (it takes {self._own()})"
            )

    def _own(self) -> str:
        names = [p for p in inspect.signature(self.fn).parameters if p not in _SIGNATURE]
        return ", ".join(names) or "no options"

    def __call__(self, field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None):
        return self.fn(field, x, ts, generator=generator, callback=callback, **self.options)

    def describe(self) -> dict[str, Any]:
        """{"sampler": name, option: value, ...}: JSON-safe, what samples and metrics record."""
        return {"sampler": self.name, **{k: describe_value(v) for k, v in self.options.items()}}


__all__ = ["BoundSampler", "describe_value"]
