"""What the CLI's commands do, for any method: train a run, load it back, sample shards, evaluate, plot.

Every tool that reads a checkpoint (the CLI, figure scripts, sweeps) goes through ``load_run``: the checkpoint
names its replication and the module of its ``Spec``, so the method is rebuilt from the file alone. Files are
written and read through ``shared.io.artifacts`` (atomic writes; checked loads with one-line errors).
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from shared.config import ConfigError, apply_overrides, from_dict, to_dict
from shared.data.source import DataSource
from shared.data.transforms import to_uint8
from shared.io import artifacts
from shared.io.artifacts import FORMAT_VERSION
from shared.io.atomic import save_config, save_json, save_npz, save_torch
from shared.io.provenance import provenance
from shared.pipeline.distributed import StopCondition
from shared.pipeline.evaluate import evaluate_run
from shared.pipeline.method import Draw, Method, Spec, compiled, draw, nll_of, sample
from shared.pipeline.resume import SAMPLE_TIME_SECTIONS
from shared.pipeline.runlock import RunLock
from shared.pipeline.train import fit
from shared.utils import PerSampleGenerator, derive_seed


@dataclass
class Run:
    """A trained run loaded back: its checkpoint dict, resolved config, method (weights loaded, eval mode), spec."""

    path: Path
    ckpt: dict
    cfg: object
    method: Method
    spec: Spec
    overrides: tuple[str, ...] = ()  # sample-time --set overrides applied to the stored config
    name: str | None = None  # the run's name when sampled another way (a variant of the trained experiment)

    @property
    def experiment(self) -> str:
        return self.name or self.ckpt["experiment"]

    @property
    def variant(self) -> dict:
        """What a variant run changed of the trained one: recorded in its samples and metrics."""
        return {"trained_experiment": self.ckpt["experiment"], "overrides": list(self.overrides)}

    @property
    def seed(self) -> int:
        return int(self.ckpt["seed"])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.cfg.data.shape)

    def data(self) -> DataSource:
        """The run's data source (held-out data, scaling), seeded as in training."""
        return DataSource(self.cfg.data, self.seed)


def spec_of(ckpt: dict) -> Spec:
    """The ``Spec`` a checkpoint was written by (its ``spec_module``; older files: replications.<name>.method)."""
    module = ckpt.get("spec_module") or f"replications.{ckpt['replication']}.method"
    return importlib.import_module(module).SPEC


def build_method(spec: Spec, cfg, source: str) -> Method:
    """``spec.build(cfg)``; a value the builder rejects (one that no single field can check) is a ConfigError."""
    try:
        return spec.build(cfg)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def check_sample_time(overrides: Sequence[str]) -> None:
    """Refuse a --set that would change what was trained (the net, the process, the loss, the data)."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if "=" not in item or key.split(".")[0] not in SAMPLE_TIME_SECTIONS:
            allowed = ", ".join(f"{s}.*" for s in SAMPLE_TIME_SECTIONS)
            raise ConfigError(
                f"--set {item}: only {allowed} may change after training (KEY=VALUE); train again to change {key}"
            )


def load_run(
    path: str | Path,
    spec: Spec | None = None,
    weights: str = "ema",
    device: torch.device | str = "cpu",
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> Run:
    """Rebuild the method of a final checkpoint and load its EMA (or raw) weights.

    Args:
        path: a final ``checkpoint.pt`` written by ``train``.
        spec: the replication expected (the CLI's own); None takes the one the checkpoint names.
        weights: "ema" or "raw".
        device: where the net goes.
        overrides: ``--set`` items of the sample-time sections (another sampler, tolerances, ...) applied to the
            stored config before the method is rebuilt.
        name: the run's name in its samples and metrics (a variant of the trained experiment); None: the trained.

    Raises:
        shared.io.artifacts.ArtifactError: no such file, damaged, refused, another kind or replication (see
            ``shared.io.artifacts.load_checkpoint``), or weights that do not fit the stored config.
        ConfigError: the stored config is not valid.
    """
    path = Path(path)
    ckpt = artifacts.load_checkpoint(path, spec.name if spec is not None else None)
    if spec is None:
        try:
            spec = spec_of(ckpt)
        except (ImportError, AttributeError) as err:
            raise artifacts.ArtifactError(
                path, f"names replication {ckpt['replication']!r}, which this checkout cannot import ({err})"
            ) from None
    check_sample_time(overrides)
    source = f"{path} (stored config" + (f" with --set {' '.join(overrides)})" if overrides else ")")
    stored = copy.deepcopy(ckpt["config"]) if overrides else ckpt["config"]  # apply_overrides edits in place
    cfg = from_dict(spec.config, apply_overrides(stored, overrides), source)
    method = build_method(spec, cfg, source)
    key = "ema_net" if weights == "ema" else "net"
    artifacts.load_state(
        method.net,
        ckpt[key],
        path,
        f"its {key} weights do not fit the net of its stored config",
        lambda: artifacts.retrain_hint(path),
    )
    method.net.to(device).eval()
    return Run(path, ckpt, cfg, method, spec, tuple(overrides), name)


def train(
    spec: Spec,
    cfg,
    config_path: Path,
    seed: int,
    out: Path,
    ddp,
    max_minutes: float | None,
    experiment: str | None = None,
) -> None:
    """Train (resuming from the run folder's state) and write the final checkpoint ``out`` on rank 0.

    ``experiment``: the run's name in its checkpoint and tables (default: the config file's stem). Rank 0 holds the
    run folder's lock throughout (``shared.pipeline.runlock``): a second process training the same run stops at once.
    """
    with RunLock(out.parent) if ddp.is_main else nullcontext():
        _train(spec, cfg, config_path, seed, out, ddp, max_minutes, experiment)


def _train(spec, cfg, config_path: Path, seed: int, out: Path, ddp, max_minutes, experiment) -> None:
    experiment = experiment or config_path.stem
    device = ddp.device
    torch.manual_seed(derive_seed(seed, "init"))  # identical initial weights on every rank
    method = build_method(spec, cfg, str(config_path))
    if hasattr(method.loss, "initialize"):  # a distillation starts from its teacher (a resumed run: from its state)
        method.loss.initialize(method.net)
    run_dir = out.parent
    n_params = sum(p.numel() for p in method.net.parameters())
    if ddp.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        where = f", {ddp.world} processes" if ddp.world > 1 else ""
        job = f", SLURM job {os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else ""
        print(
            f"{spec.name}: {experiment}, seed {seed}, {n_params / 1e6:.3f}M parameters, device {device}{where}{job}",
            flush=True,
        )
    extra = {
        "artifact": "checkpoint",
        "replication": spec.name,
        "spec_module": spec.module,
        "format_version": FORMAT_VERSION,
        "experiment": experiment,
        "seed": seed,
        "config": to_dict(cfg),
    }
    data = DataSource(cfg.data, seed)

    def write_snapshot(state: dict) -> None:
        path = run_dir / SNAPSHOT_DIR / f"step{state['step']:08d}.pt"
        save_torch(weights_only(state, extra, n_params), path)

    with StopCondition(max_minutes) as stop:
        state = fit(
            method.net,
            method.loss,
            data,
            cfg.train,
            run_dir,
            seed=seed,
            device=device,
            extra=extra,
            stop=stop,
            normalize_config=lambda stored: to_dict(from_dict(spec.config, stored)),
            on_snapshot=write_snapshot if ddp.is_main else None,
        )
    if not ddp.is_main:
        return
    save_torch(weights_only(state, extra, n_params), out)
    print(f"wrote {out}", flush=True)


SNAPSHOT_DIR = "snapshots"  # beside the final checkpoint: snapshots/step<N:08d>.pt


def weights_only(state: dict, extra: dict, n_params: int) -> dict:
    """A checkpoint (what ``load_run`` reads) of a training state: the raw and EMA weights at its step, the run's
    identity and config (``extra``), the training seconds so far and the provenance; no optimizer."""
    ema_net = {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    return {
        **extra,
        "net": state["net"],
        "ema_net": ema_net,
        "step": state["step"],
        "train_wall_s": state["wall_s"],
        "n_params": n_params,
        "provenance": provenance(),
    }


def snapshots_of(checkpoint: str | Path) -> list[Path]:
    """The weight snapshots written beside a final checkpoint (``train.snapshot_every``), in step order."""
    return sorted((Path(checkpoint).parent / SNAPSHOT_DIR).glob("step*.pt"))


def sample_seeds(run: Run, seeds: Sequence[int], batch_size: int, device: torch.device) -> Draw:
    """The run's samples of per-sample ``seeds`` (``shared.pipeline.method.draw``) with a progress bar (a line per
    batch off a terminal)."""
    bar = tqdm(total=len(seeds), desc=f"sample {run.spec.name}/{run.experiment}", unit="img", disable=None)

    def progress(done: int) -> None:
        bar.update(done - bar.n)
        if not sys.stderr.isatty():
            print(f"sampled {done}/{len(seeds)}", flush=True)

    fast = run.cfg.evaluate
    try:
        with compiled(run.method.net, fast.compile):
            return draw(run.method, run.shape, seeds, batch_size, device, progress=progress, bf16=fast.bf16)
    finally:
        bar.close()


def write_samples(run: Run, seeds: Sequence[int], batch_size: int, device: torch.device, out: Path, weights: str):
    """Sample ``seeds`` and write them atomically to ``out`` (.npz: x, uint8 for images, seeds, metadata)."""
    drawn = sample_seeds(run, seeds, batch_size, device)
    x, nfe, wall = drawn.x, drawn.nfe_per_sample, drawn.wall_s
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"non-finite samples from {run.path}; not writing {out}")
    meta = {
        "artifact": "samples",
        "replication": run.spec.name,
        "format_version": FORMAT_VERSION,
        "experiment": run.experiment,
        "seed": run.seed,
        "sample_seeds": f"{seeds[0]}-{seeds[-1]}",
        "weights": weights,
        "nfe_per_sample": nfe,
        "sample_wall_s": wall,
        "sample_s_per_1000": 1000.0 * wall / len(seeds),
        "sampler": run.method.describe(),
        "fast_paths": {"bf16": run.cfg.evaluate.bf16, "compile": run.cfg.evaluate.compile},
        **run.variant,
        "provenance": provenance(),
    }
    arrays = {"x": x.numpy(), "seeds": np.asarray(seeds), "meta": np.asarray(json.dumps(meta))}
    if run.cfg.data.is_image:
        arrays["uint8"] = to_uint8(x, run.cfg.data.data_range).numpy()
    save_npz(arrays, out)
    print(f"wrote {out} ({len(x)} samples, NFE {nfe:.0f})", flush=True)


def load_samples(paths: Sequence[Path], run: Run | None = None) -> tuple[torch.Tensor, dict]:
    """Samples (N, *D) concatenated over shards written by ``write_samples``, and the metadata of the set.

    With ``run``, the shards must come from that run (replication, experiment, seed) and fit its data's shape;
    any bad shard is a ``shared.io.artifacts.ArtifactError`` naming it.
    """
    checks = {}
    if run is not None:
        checks = {"replication": run.spec.name, "experiment": run.experiment, "seed": run.seed, "shape": run.shape}
    x, metas = artifacts.load_samples(paths, **checks)
    meta = dict(metas[0])
    meta["sample_seeds"] = ", ".join(m["sample_seeds"] for m in metas)
    meta["nfe_per_sample"] = float(np.mean([m["nfe_per_sample"] for m in metas]))
    meta["shards"] = [str(p) for p in paths]
    if all("sample_wall_s" in m for m in metas):  # seconds per 1000 samples over all shards
        meta["sample_wall_s"] = float(sum(m["sample_wall_s"] for m in metas))
        meta["sample_s_per_1000"] = 1000.0 * meta["sample_wall_s"] / len(x)
    return torch.from_numpy(x), meta


def evaluate(run: Run, sample_paths: Sequence[Path], out: Path, weights: str, feature_net, cache_dir, device) -> dict:
    """Every metric of the run's data set (``shared.pipeline.evaluate``), written with provenance to ``out`` (JSON)."""
    samples, sample_meta = load_samples(sample_paths, run)
    nll_fn, kinds, nll = None, set(), nll_of(run.method)
    if nll is not None:

        def nll_fn(x, gen):
            res = nll(x, gen)
            kinds.add("bound" if res.bound else "exact")  # what the report calls the number
            return res

    metrics, info = evaluate_run(
        run.data(),
        run.cfg.evaluate,
        samples,
        nll_fn,
        device=device,
        seed=derive_seed(run.seed, "evaluate"),
        feature_net=feature_net,
        cache_dir=cache_dir,
    )
    metrics["nfe_per_sample"] = {"value": sample_meta["nfe_per_sample"], "stderr": None, "n": len(samples)}
    info["nll_kind"] = "/".join(sorted(kinds)) or "none"  # a variational bound, or the model's exact likelihood
    report = {
        "artifact": "metrics",
        "replication": run.spec.name,
        "format_version": FORMAT_VERSION,
        "experiment": run.experiment,
        "dataset": run.cfg.data.name,
        "seed": run.seed,
        "train_steps": run.ckpt["step"],
        # which checkpoint: a snapshot chosen by a rule (shared.pipeline.select), else the last one
        "selection": run.ckpt.get("selection") or {"rule": "last", "step": run.ckpt["step"]},
        "train_wall_s": run.ckpt.get("train_wall_s"),
        "n_params": run.ckpt.get("n_params"),
        "weights": weights,
        "n_samples": len(samples),
        "metrics": metrics,
        "protocol": info,
        "sampler": run.method.describe(),
        **run.variant,
        "samples": sample_meta,
        "config": run.ckpt["config"],
        "checkpoint_provenance": run.ckpt["provenance"],
        "provenance": provenance(),
    }
    write_json(report, out)
    summary = ", ".join(f"{k} {v['value']:.4g}" for k, v in metrics.items())
    print(f"wrote {out}: {summary}", flush=True)
    return report


def write_json(obj: dict, path: Path) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    save_json(obj, path)


def figures(run: Run, sample_paths: Sequence[Path], out: Path, device: torch.device) -> None:
    """Loss curve; 2-D scatter or image grid; for images, a strip of the state along the sampler."""
    samples, _ = load_samples(sample_paths, run)  # checked before the plotting stack is imported
    from shared.report import figures as fig

    title = f"{run.spec.name} · {run.experiment}"
    out.mkdir(parents=True, exist_ok=True)
    log = run.path.parent / "train_log.csv"
    if log.is_file():
        fig.loss_curve(log, out / "loss.png", title=title)
    if not run.cfg.data.is_image:
        fig.scatter_2d(samples.numpy(), run.data().test_points().numpy(), out / "samples.png", title=title)
        return
    data_range = run.cfg.data.data_range
    fig.image_grid(to_uint8(samples[:64], data_range).numpy(), out / "samples.png", title=title)
    frames, times = [], []

    def keep(state: dict) -> None:
        frames.append(to_uint8(state.get("x0", state["x"]).float().cpu(), data_range).numpy())
        times.append(float(state["t"]))

    n_show = 8
    sample(
        run.method,
        (n_show, *run.shape),
        generator=PerSampleGenerator(range(n_show), device),
        device=device,
        callback=keep,
    )
    if not frames:
        return
    pick = np.unique(np.linspace(0, len(frames) - 1, 10).round().astype(int))
    fig.progressive_strip(
        np.stack([frames[i] for i in pick]),
        [times[i] for i in pick],
        out / "progressive.png",
        title=f"{title}: along the sampler (predicted x0 where the sampler has one)",
    )


__all__ = [
    "FORMAT_VERSION",
    "Run",
    "evaluate",
    "figures",
    "load_run",
    "load_samples",
    "sample_seeds",
    "spec_of",
    "train",
    "write_json",
    "write_samples",
]
