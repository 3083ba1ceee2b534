"""Likelihood bookkeeping: negative log-likelihoods in nats -> bits per dimension, data scaling handled here only.

Images are 8-bit; dequantized data y = x_uint8 + u lives in [0, 256)^D and models see x = a * y / 256 + b
(a = 2 for [-1, 1], a = 1 for [0, 1]). A density over model space therefore costs D log(256 / a) extra nats
in data units (Theis et al. 2016; Papamakarios et al. 2017, App. E.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

_SCALE = {"[-1,1]": 2.0, "[0,1]": 1.0}


@dataclass(frozen=True)
class NLL:
    """Per-example negative log-likelihood in nats.

    Attributes:
        nats: (B,) values.
        discrete: True when ``nats`` is -log P of the 8-bit data itself (e.g. DDPM's discretized decoder);
            False when it is -log p of a density over model space (probability flow, CNFs, toys).
        bound: True when ``nats`` is an upper bound on the NLL (a variational bound, DDPM Eq. 5), False when it is
            the model's own likelihood (exactly, or an unbiased estimate of it: Hutchinson's trace).
    """

    nats: Tensor
    discrete: bool
    bound: bool = False


Estimator = Literal["mean", "importance_weighted"]


def over_draws(nats: Tensor, estimator: Estimator) -> Tensor:
    """One NLL per example (N,) from K dequantization draws each, ``nats`` (K, N).

    "mean": the average NLL over draws, E_u[-log p(x + u)], the variational bound on the discrete NLL (Theis et al.
    2016; Score-SDE averages several passes, App. D.2). "importance_weighted": -log (1/K) sum_k p(x + u_k), the
    K-sample bound of Burda et al. (2016) with the uniform dequantizer as proposal; it never exceeds the mean (Jensen),
    falls in expectation as K grows and tends to the discrete NLL -log P(x) (flow matching's Table 1, K = 50).
    """
    if nats.ndim != 2:
        raise ValueError(f"over_draws: expected NLLs of shape (K, N), got {tuple(nats.shape)}")
    if estimator == "mean":
        return nats.mean(0)
    if estimator == "importance_weighted":
        return -(torch.logsumexp(-nats.double(), 0) - math.log(nats.shape[0])).to(nats.dtype)
    raise ValueError(f"estimator must be 'mean' or 'importance_weighted', got {estimator!r}")


def bits_per_dim(nll: NLL, dims: int, data_range: str) -> Tensor:
    """(B,) bits/dim of 8-bit data from a model-space NLL.

    Args:
        nll: per-example NLL; a density NLL is moved to data units with the scaling Jacobian.
        dims: D, the number of dimensions of one example (C * H * W).
        data_range: the model-space range of the data, "[-1,1]" or "[0,1]".

    Returns:
        (B,) bits per dimension (a discrete NLL needs no correction; a density one gets + D log(256 / a)).
    """
    if data_range not in _SCALE:
        raise ValueError(f"data_range must be one of {sorted(_SCALE)}, got {data_range!r}")
    nats = nll.nats if nll.discrete else nll.nats + dims * math.log(256.0 / _SCALE[data_range])
    return nats / (dims * math.log(2.0))
