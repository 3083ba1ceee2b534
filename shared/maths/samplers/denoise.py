"""The final denoising step, a step of its own: any sampler, then Tweedie's E[x0 | x] at its last time.

Score-SDE ends every sampler with it (App. G, "noise removal"; the official code's ``denoise``), NCSNv2 adds it to
annealed Langevin (x + sigma_L^2 score, which is Tweedie's formula for alpha = 1). One formula for all of them:
``field.x0`` at ts[-1], one more network evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from shared.maths.samplers.bound import describe_value
from shared.utils import Callback, Generator, batch_time


@dataclass(frozen=True)
class Denoised:
    """``sampler`` (any of the one signature), then x <- E[x0 | x] = ``field.x0(x, ts[-1])``."""

    sampler: Any

    def __call__(self, field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None):
        x = self.sampler(field, x, ts, generator=generator, callback=callback)
        return field.x0(x, batch_time(ts[-1], x))

    def describe(self) -> dict[str, Any]:
        inner = describe_value(self.sampler)
        return {**(inner if isinstance(inner, dict) else {"sampler": inner}), "denoise": True}


def denoised(sampler: Any, denoise: bool = True) -> Any:
    """``Denoised(sampler)`` if ``denoise``, else ``sampler`` as it is (a config's ``denoise`` flag)."""
    return Denoised(sampler) if denoise else sampler


__all__ = ["Denoised", "denoised"]
