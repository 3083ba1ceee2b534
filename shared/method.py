"""What a replication hands to the shared machinery: its net, objective, sampler and (optional) likelihood."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from shared.likelihood import NLL
from shared.train import Loss
from shared.utils import Generator

Sampler = Callable[..., Tensor]
"""(net, x_prior (B, *D), *, generator, callback) -> x (B, *D): the paper's sampler bound to its options."""


@dataclass
class Method:
    """A generative method as the CLI and the training loop see it (EDM's split of loss, network and sampler).

    Attributes:
        net: the raw trainable network; ``fit`` trains it and keeps its EMA.
        loss: per-example objective (net, x, generator) -> (B,).
        prior_sample: (shape, generator, device) -> x_prior, the start of sampling.
        sample: the paper's sampler, (net, x_prior, *, generator, callback) -> x.
        nll: optional (net, x, generator) -> NLL, for likelihood evaluation.
    """

    net: nn.Module
    loss: Loss
    prior_sample: Callable[[Sequence[int], Generator, torch.device], Tensor]
    sample: Sampler
    nll: Callable[[nn.Module, Tensor, torch.Generator], NLL] | None = None
