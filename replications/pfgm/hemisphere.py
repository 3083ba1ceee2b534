"""PFGM's prior (App. B.2): uniform on the hemisphere of radius z_max in R^{N+1}, projected along rays from the
origin onto the plane z = z_max. Its density on that plane is p(x) = Gamma((N+1)/2) z_max / (pi^{(N+1)/2}
(||x||^2 + z_max^2)^{(N+1)/2}), a multivariate Cauchy, and x = z_max g / |g'| with g ~ N(0, I_N), g' ~ N(0, 1) is
an exact draw: its radius is z_max sqrt(beta / (1 - beta)) with beta = ||g||^2 / (||g||^2 + g'^2) ~ Beta(N/2, 1/2),
the paper's rule, and its direction is uniform."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shared.maths.priors import Prior
from shared.utils import randn


class HemispherePrior(Prior):
    """The projected hemisphere prior on R^N at z = z_max; sampled radii are clipped to [1, upper_norm] (official).

    ``log_prob`` is the unclipped density, normalised with lgamma for every N (the official factorial loop is exact
    only for even N).
    """

    def __init__(self, n_dims: int, z_max: float, upper_norm: float = math.inf):
        self.n, self.z_max, self.upper_norm = n_dims, float(z_max), float(upper_norm)

    def sample(self, shape, generator=None, device="cpu", dtype=torch.float32) -> Tensor:
        g = randn(shape, generator, device=device, dtype=torch.float64)
        g_z = randn((shape[0], 1), generator, device=device, dtype=torch.float64).abs()
        x = self.z_max * g.reshape(shape[0], -1) / g_z
        r = x.norm(dim=1, keepdim=True)
        x = x * r.clamp(1.0, self.upper_norm) / r
        return x.reshape(tuple(shape)).to(dtype)

    def _log_norm(self) -> float:
        """log of Gamma((N+1)/2) z_max / pi^{(N+1)/2}, the density's constant."""
        a = (self.n + 1) / 2
        return math.lgamma(a) + math.log(self.z_max) - a * math.log(math.pi)

    def log_prob(self, x: Tensor) -> Tensor:
        sq = x.reshape(x.shape[0], -1).double().pow(2).sum(1)
        return (self._log_norm() - (self.n + 1) / 2 * torch.log(sq + self.z_max**2)).to(x.dtype)

    def radius_log_prob(self, r: Tensor) -> Tensor:
        """log density of ||x|| under the unclipped prior: surface of S^{N-1} times r^{N-1} p(r)."""
        n = self.n
        log_surface = math.log(2) + (n / 2) * math.log(math.pi) - math.lgamma(n / 2)
        r = r.double()
        return log_surface + (n - 1) * r.log() + self._log_norm() - (n + 1) / 2 * torch.log(r**2 + self.z_max**2)

    def __repr__(self) -> str:
        return f"HemispherePrior(N={self.n}, z_max={self.z_max:g}, upper_norm={self.upper_norm:g})"


def main(argv: list[str] | None = None) -> None:
    """Print App. B.1.1 / B.2's M, z_max and upper_norm for a config's data beside the configured values."""
    import argparse
    from pathlib import Path

    from replications.pfgm.config import Config
    from replications.pfgm.hyper import pfgm_hyperparameters
    from shared.config import load
    from shared.data.source import DataSource

    p = argparse.ArgumentParser(
        prog="python -m replications.pfgm.hemisphere",
        description="PFGM's prior hyper-parameters (App. B.2) for an experiment config, beside the configured ones.",
    )
    p.add_argument("--config", required=True, type=Path, help="a replications/pfgm/configs/*.yaml")
    p.add_argument("--batches", type=int, default=4, help="training batches used for the data's RMS norm")
    args = p.parse_args(argv)
    cfg = load(args.config, Config)
    n = math.prod(cfg.data.shape)
    data = DataSource(cfg.data, 0)
    x = torch.cat([data.batch(k, min(cfg.train.batch_size, 512)) for k in range(args.batches)])
    rms = float(x.flatten(1).pow(2).sum(1).mean().sqrt())
    h = pfgm_hyperparameters(rms**2, n, cfg.perturb.sigma, cfg.perturb.tau)
    print(f"{args.config}: N = {n}, data E||x||^2 {rms**2:.4g} (from {len(x)} training examples)")
    print(f"  M          rule {h.M}   configured {cfg.perturb.M}")
    print(f"  z_max      rule {h.z_max:.4g}   configured {cfg.prior.z_max:g}")
    print(f"  upper_norm rule {h.upper_norm:.4g}   configured {cfg.prior.upper_norm:g}")


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
