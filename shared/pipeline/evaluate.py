"""Evaluation protocol: which metrics a run gets, chosen by what its data is (``DataConfig.quality_metric``).

2-D toys: NLL in nats on fresh test points and two-sample distances (energy distance, MMD) to fresh data.
8x8 digits: Fréchet distance in a digits classifier's feature space (``fd_digits``, never called FID) and
bits/dim on the test split. MNIST / CIFAR-10: Inception FID with clean-fid against cached training-set statistics,
in its clean mode (``fid``) and its legacy_tensorflow mode (``fid_legacy_tensorflow``, the TF code's bilinear
resize inside the network), and bits/dim on the test split. No Inception Score: the offline Inception weights have
no classifier layer, and every package that has it downloads its weights at run time (``shared.metrics.fid``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from shared.config import NonNegativeInt, PositiveInt
from shared.data.source import DataSource
from shared.data.transforms import to_uint8, uniform_dequantize, unit_to_model
from shared.maths.likelihood import NLL, bits_per_dim, over_draws
from shared.utils import derive_seed, make_generator


@dataclass(frozen=True)
class EvalConfig:
    """Sizes of the evaluation; how many samples to draw is the workflow's choice (its runs' ``n_samples``)."""

    nll_examples: NonNegativeInt = 10_000  # test examples for NLL (0 skips NLL)
    nll_batch_size: PositiveInt = 500
    sample_batch_size: PositiveInt = 500
    # Test images for the NLL: 0 = scaled as the data config says (a discrete NLL, e.g. DDPM's decoder);
    # k >= 1 = k uniform dequantizations (x + u) / 256 per image, NLL averaged over them (density models:
    # the bound E_u[-log p(x + u)], Theis et al. 2016; Song et al. 2021 average several draws, App. D.2)
    dequantization_draws: NonNegativeInt = 0
    # How the K draws' NLLs become one per image (shared.maths.likelihood.over_draws): "mean" (the bound above) or
    # "importance_weighted", -log (1/K) sum_k p(x + u_k) (Burda et al. 2016; flow matching's Table 1, K = 50)
    nll_estimator: Literal["mean", "importance_weighted"] = "mean"
    # Sampling fast paths (sampling at paper scale is evaluation's dominant cost: 50k samples x up to 2000 NFE).
    # bf16: the net under bfloat16 autocast; compile: its forward torch.compile'd. Both are recorded in the samples;
    # tests/shared/test_sampling_fast_paths.py states how far each moves samples and the quality metric.
    bf16: bool = False
    compile: bool = False
    # The sampling noise of each sample-quality metric: its "stderr" is the standard deviation of B bootstrap
    # replicates over the finite sample set (toys: samples and reference resampled; digits: the samples; 0 = none).
    # NLL's stderr is over the test points.
    bootstrap_resamples: NonNegativeInt = 200
    # FID's own bootstrap (the samples' Inception features resampled): each replicate is a 2048 x 2048 sqrtm (1-3 s
    # on a CPU), so it is off by default; 20 gives its standard error to about 16 % at paper scale.
    fid_bootstrap_resamples: NonNegativeInt = 0

    def __post_init__(self):
        if self.dequantization_draws < 0:
            raise ValueError(f"evaluate.dequantization_draws must be >= 0, got {self.dequantization_draws}")
        if self.nll_estimator == "importance_weighted" and self.dequantization_draws < 1:
            raise ValueError("evaluate.nll_estimator importance_weighted needs evaluate.dequantization_draws >= 1")


_BOOTSTRAP_NOTE = (
    "stderr of each sample-quality metric: the standard deviation of {b} bootstrap replicates (the {what} resampled "
    "with replacement, the metric recomputed exactly); NLL stderr: std / sqrt(n) over the test points"
)


def mean_stderr(values: Tensor) -> dict:
    v = values.double()
    stderr = float(v.std() / math.sqrt(v.numel())) if v.numel() > 1 else float("nan")
    return {"value": float(v.mean()), "stderr": stderr, "n": int(v.numel())}


def nll_in_batches(
    nll_fn: Callable[[Tensor, torch.Generator], NLL], x: Tensor, batch_size: int, seed: int
) -> tuple[Tensor, bool]:
    """Run ``nll_fn`` over ``x`` in batches; returns (nats (N,), discrete)."""
    out, discrete = [], False
    starts = range(0, x.shape[0], batch_size)
    for k, start in enumerate(tqdm(starts, desc="likelihood", unit="batch", disable=None, leave=False)):
        res = nll_fn(x[start : start + batch_size], make_generator(derive_seed(seed, "nll", k), x.device))
        out.append(res.nats.detach().cpu())
        discrete = res.discrete
    return torch.cat(out), discrete


def evaluate_run(
    data: DataSource,
    cfg: EvalConfig,
    samples: Tensor,
    nll_fn: Callable[[Tensor, torch.Generator], NLL] | None,
    *,
    device: torch.device,
    seed: int,
    feature_net: Path | None = None,
    cache_dir: Path,
) -> tuple[dict, dict]:
    """Compute every metric that applies to the run's data set.

    Args:
        data: the run's data source (held-out data, scaling).
        cfg: evaluation sizes.
        samples: model-space samples (N, *D) on CPU.
        nll_fn: (x_model, generator) -> NLL, or None when the method has no likelihood.
        device: where to evaluate.
        seed: evaluation seed (dequantization draws, fresh toy points).
        feature_net: the digits classifier (required for digits).
        cache_dir: where Inception reference statistics are cached.

    Returns:
        (metrics, info): metrics maps a name to {"value", "stderr", "n"}; info says how they were computed.
    """
    metrics, info = {}, {}
    name, quality = data.cfg.name, data.cfg.quality_metric
    if quality == "two_sample":
        from shared.data.toy2d import toy_log_density
        from shared.metrics.two_sample import bootstrap_fits, bootstrap_two_sample, energy_distance, mmd_rbf

        fresh = data.test_points()
        ref = fresh[: samples.shape[0]]
        metrics["energy_distance"] = {"value": energy_distance(samples, ref), "stderr": None, "n": len(samples)}
        metrics["mmd_rbf"] = {"value": mmd_rbf(samples, ref), "stderr": None, "n": len(samples)}
        if cfg.bootstrap_resamples >= 2 and bootstrap_fits(len(samples), len(ref)):
            replicates = bootstrap_two_sample(samples, ref, cfg.bootstrap_resamples, derive_seed(seed, "bootstrap"))
            for key, values in replicates.items():
                metrics[key]["stderr"] = float(values.std())
            info["sampling_stderr"] = _BOOTSTRAP_NOTE.format(b=cfg.bootstrap_resamples, what="samples and reference")
        if nll_fn is not None and cfg.nll_examples > 0:
            nats, _ = nll_in_batches(nll_fn, fresh[: cfg.nll_examples].to(device), cfg.nll_batch_size, seed)
            metrics["nll_nats"] = mean_stderr(nats)
            true_logp = toy_log_density(name, fresh[: cfg.nll_examples])
            if true_logp is not None:  # the data's own NLL (its entropy, estimated on the same points)
                metrics["data_nll_nats"] = mean_stderr(-true_logp)
        info["two_sample_reference"] = f"{len(ref)} fresh points from {name} (seeded, disjoint from training)"
        return metrics, info

    samples_uint8 = to_uint8(samples, data.cfg.data_range)
    if quality == "fd_digits":
        from shared.metrics.digits_features import fd_digits_with_stderr, load_classifier

        if feature_net is None:
            raise ValueError(f"{name} runs need --feature-net (train one: python -m shared.metrics.digits_features)")
        classifier = load_classifier(feature_net)
        value, stderr = fd_digits_with_stderr(
            samples_uint8, data.train_uint8, classifier, cfg.bootstrap_resamples, derive_seed(seed, "bootstrap")
        )
        metrics["fd_digits"] = {"value": value, "stderr": None if math.isnan(stderr) else stderr, "n": len(samples)}
        if not math.isnan(stderr):
            info["sampling_stderr"] = _BOOTSTRAP_NOTE.format(b=cfg.bootstrap_resamples, what="samples")
        info["fd_implementation"] = f"Fréchet distance in the feature space of the digits classifier {feature_net}"
    elif quality == "fid":
        from shared.metrics.fid import FID_IMPLEMENTATION

        # Both of clean-fid's modes, each with its own cached reference statistics; their resizes differ, so each
        # takes its own pass over the samples. "fid" is the clean mode, as before.
        for key, mode in (("fid", "clean"), ("fid_legacy_tensorflow", "legacy_tensorflow")):
            metrics[key], info[f"{key}_protocol"] = _fid_of_mode(
                data, samples_uint8, mode, cache_dir, cfg.fid_bootstrap_resamples, derive_seed(seed, "bootstrap")
            )
        info["fid_implementation"] = FID_IMPLEMENTATION
        info["fid_reference"] = f"{name} training set, all images"
    else:
        raise ValueError(f"data set {name}: no evaluation for quality metric {quality!r}")
    if nll_fn is not None and cfg.nll_examples > 0:
        bpd, discrete = bits_per_dim_of_test_images(data, nll_fn, cfg, cfg.nll_examples, device, seed)
        metrics["bits_per_dim"] = mean_stderr(bpd)
        draws = cfg.dequantization_draws
        if discrete:
            info["nll_protocol"] = "discrete log-likelihood of the 8-bit test images"
        elif draws > 0 or data.cfg.dequantize:
            how = "importance-weighted (log-mean-exp of the likelihoods)" if cfg.nll_estimator != "mean" else "averaged"
            info["nll_protocol"] = (
                "density of uniformly dequantized test images, with the scaling Jacobian and 8-bit correction; "
                f"NLL {how} over {max(draws, 1)} dequantization draw(s) per image"
            )
        else:
            info["nll_protocol"] = (
                "density at the undequantized 8-bit test images (no dequantization: not a bound on the discrete "
                "NLL; set evaluate.dequantization_draws >= 1)"
            )
        # the estimator and its K: a bound (DDPM), one pass, the mean over K draws, or importance-weighted over K
        estimator = "discrete" if discrete else (cfg.nll_estimator if draws > 0 else "single pass")
        info["nll_estimator"] = {"estimator": estimator, "draws": max(draws, 1)}
    return metrics, info


def _fid_of_mode(
    data: DataSource, samples_uint8: Tensor, mode: str, cache_dir: Path, n_resamples: int = 0, seed: int = 0
) -> tuple[dict, dict]:
    """FID of uint8 samples (N, C, H, W) against the training set in clean-fid mode ``mode``: its metrics entry
    {"value", "stderr", "n"} and what produced it (mode, sample count, reference set and the sha1 of its statistics,
    the implementation string naming clean-fid's version and the Inception weights' file and sha1)."""
    from shared.metrics.fid import (
        FID_IMPLEMENTATIONS,
        frechet_with_stderr,
        inception_features,
        reference_stats,
        stats_digest,
    )

    reference = f"{data.cfg.name}-train"
    mu, sigma = reference_stats(reference, lambda: data.train_uint8, cache_dir, mode=mode)
    # the samples' features resampled against the fixed training statistics (n_resamples >= 2)
    value, stderr = frechet_with_stderr(inception_features(samples_uint8, mode=mode), mu, sigma, n_resamples, seed)
    entry = {"value": value, "stderr": None if math.isnan(stderr) else stderr, "n": len(samples_uint8)}
    protocol = {
        "mode": mode,
        "n_samples": len(samples_uint8),
        "reference": f"{reference} ({data.cfg.name} training set, all images)",
        "reference_stats_sha1": stats_digest(mu, sigma),
        "implementation": FID_IMPLEMENTATIONS[mode],
        "stderr": f"bootstrap over the samples, {n_resamples} replicates" if n_resamples >= 2 else "not computed",
    }
    return entry, protocol


def nll_of_test_images(
    data: DataSource,
    test: Tensor,
    nll_fn: Callable[[Tensor, torch.Generator], NLL],
    cfg: EvalConfig,
    device: torch.device,
    seed: int,
) -> tuple[Tensor, bool]:
    """Per-image NLL (N,) in nats of uint8 test images (N, C, H, W), and whether it is discrete.

    With ``cfg.dequantization_draws = k >= 1`` each image is dequantized k times with independent uniform noise
    and its NLL combines the draws by ``cfg.nll_estimator`` (``over_draws``: the mean, or importance-weighted);
    with 0 the images are scaled as the data config says.
    """
    if cfg.dequantization_draws == 0:
        x = data.to_model(test, make_generator(derive_seed(seed, "dequantize"))).to(device)
        return nll_in_batches(nll_fn, x, cfg.nll_batch_size, seed)
    per_draw, discrete = [], False
    for k in range(cfg.dequantization_draws):
        gen = make_generator(derive_seed(seed, "dequantize", k))
        x = unit_to_model(uniform_dequantize(test, gen), data.cfg.data_range).to(device)
        nats, discrete = nll_in_batches(nll_fn, x, cfg.nll_batch_size, derive_seed(seed, "draw", k))
        per_draw.append(nats.double())
    return over_draws(torch.stack(per_draw), cfg.nll_estimator).float(), discrete


def bits_per_dim_of_test_images(
    data: DataSource,
    nll_fn: Callable[[Tensor, torch.Generator], NLL],
    cfg: EvalConfig,
    n: int,
    device: torch.device,
    seed: int,
) -> tuple[Tensor, bool]:
    """Bits/dim (n,) of the first ``n`` test images (``nll_of_test_images``, then the scaling and 8-bit
    correction of ``bits_per_dim``), and whether the NLL is discrete."""
    nats, discrete = nll_of_test_images(data, data.test_uint8()[:n], nll_fn, cfg, device, seed)
    return bits_per_dim(NLL(nats, discrete), int(np.prod(data.cfg.shape)), data.cfg.data_range), discrete


def sample_quality(data: DataSource, x: Tensor, feature_net: Path | None = None, cache_dir: Path | None = None):
    """(metric name, value) of samples x (N, *D) by the data's quality metric, lower is better: energy distance to
    fresh points (toys), fd_digits (digits, needs ``feature_net``) or FID (MNIST / CIFAR-10)."""
    quality = data.cfg.quality_metric
    if quality == "two_sample":
        from shared.metrics.two_sample import energy_distance

        return "energy_distance", float(energy_distance(x, data.test_points()[: len(x)]))
    x_uint8 = to_uint8(x, data.cfg.data_range)
    if quality == "fd_digits":
        from shared.metrics.digits_features import fd_digits, load_classifier

        if feature_net is None:
            raise ValueError(f"{data.cfg.name} samples need --feature-net for fd_digits")
        return "fd_digits", float(fd_digits(x_uint8, data.train_uint8, load_classifier(feature_net)))
    from shared.metrics.fid import fid_from_samples, reference_stats

    cache = cache_dir or Path.home() / ".cache" / "replications"
    mu, sigma = reference_stats(f"{data.cfg.name}-train", lambda: data.train_uint8, cache)
    return "fid", float(fid_from_samples(x_uint8, mu, sigma))
