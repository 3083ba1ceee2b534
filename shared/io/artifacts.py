"""The one loading path of every file the command line reads (``shared.io.atomic`` writes them).

Readers (``load_checkpoint``, ``load_train_state``, ``load_samples``, ``load_metrics``, ``load_feature_net``) check
that a file is complete, free of code, of the expected kind, replication and format version, and has the keys and
shapes expected; every failure is an ``ArtifactError`` whose one-line message names the file, says what was
expected, what was found and what to do. Every artifact the commands write records ``artifact`` (its kind),
``replication`` and ``format_version``.

Example:
    >>> ckpt = load_checkpoint("results/ddpm/smoke_toy/seed0/checkpoint.pt", replication="ddpm")
    >>> x, meta = load_samples(["results/ddpm/smoke_toy/seed0/samples/0-999.npz"], replication="ddpm", shape=(2,))
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.config import InputError

FORMAT_VERSION = 2
"""Format of checkpoints, training states, sample files and metrics written here; files without one are 1."""
OLDEST_READABLE = 1

STATE_NAME = "train_state.pt"  # the resumable state beside a run's final checkpoint (shared.pipeline.train.STATE_FILE)
CHECKPOINT_KEYS = ("replication", "config", "net", "ema_net", "step", "seed", "experiment")
STATE_KEYS = ("net", "ema", "optimizer", "step")
SAMPLE_META_KEYS = ("replication", "sample_seeds", "nfe_per_sample")

Fix = str | Callable[[], str]


class ArtifactError(InputError):
    """A file given to a command is missing, damaged or not what it should be; one line says which and what to do."""

    def __init__(self, path: str | Path, problem: str, fix: Fix = ""):
        fix = fix() if callable(fix) else fix
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"{path}: {problem}" + (f"; {fix}" if fix else ""))


class ArtifactMissing(ArtifactError, FileNotFoundError):
    """The file does not exist (also a ``FileNotFoundError``)."""


def check_output(path: str | Path, *, folder: bool = False, option: str = "--out") -> Path:
    """Fail before any compute when ``path`` (a file, or a folder with ``folder``) cannot be written.

    Raises:
        ArtifactError: the path is a folder where a file is wanted (or the reverse), a parent is a regular file,
            or the nearest existing folder is not writable.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise ArtifactError(path, f"is a folder, expected a file path for {option}", "name the file to write in it")
    if folder and path.exists() and not path.is_dir():
        raise ArtifactError(path, f"is a file, expected a folder for {option}", f"choose another {option}")
    parent = path if folder else path.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ArtifactError(path, f"cannot be created: {parent} is a file, not a folder", f"choose another {option}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(path, f"cannot be written: no write permission in {parent}", f"choose another {option}")
    return path


def _check_file(path: str | Path, what: str, fix: Fix) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(path, f"is a folder, expected {what}", "give the file inside it")
    if not path.exists():
        raise ArtifactMissing(path, f"not found (expected {what})", fix)
    if path.stat().st_size == 0:
        raise ArtifactError(path, f"is empty (0 bytes), expected {what}", fix)
    return path


def _sniff(path: Path) -> str:
    """What the first bytes say a file is: zip, npy, pickle, text or binary."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:1] == b"\x80":
        return "pickle"
    try:
        text = head.decode()
    except UnicodeDecodeError:
        return "binary"
    return "text" if all(c.isprintable() or c.isspace() for c in text) else "binary"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _zip_problem(path: Path, what: str) -> str | None:
    """Why a zip file is not a PyTorch archive (None when it is one)."""
    if not zipfile.is_zipfile(path):
        return f"truncated or damaged (an incomplete zip archive of {path.stat().st_size} bytes), expected {what}"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return None
    if names and all(n.endswith(".npy") for n in names):
        arrays = ", ".join(n.removesuffix(".npy") for n in names[:5])
        return f"is a NumPy .npz archive (arrays {arrays}), expected {what}"
    return f"is a zip archive without PyTorch data ({len(names)} members), expected {what}"


def read_torch(path: str | Path, what: str = "a PyTorch checkpoint", fix: Fix = "", map_location="cpu") -> Any:
    """Load a file written by ``save_torch`` with ``weights_only=True``; every failure is an ``ArtifactError``.

    Args:
        path: the file.
        what: what the caller expects, for messages ("a final checkpoint").
        fix: what to do when the file is unusable (or a function computing it).
        map_location: as for ``torch.load``.
    """
    path = _check_file(path, what, fix)
    kind = _sniff(path)
    if kind == "text":
        raise ArtifactError(path, f"is a text file, expected {what}", fix)
    if kind in ("npy", "binary"):
        found = "a NumPy .npy array" if kind == "npy" else "not a PyTorch file (unrecognised bytes)"
        raise ArtifactError(path, f"{found}, expected {what}", fix)
    if kind == "zip" and (problem := _zip_problem(path, what)):
        raise ArtifactError(path, problem, fix)
    import torch  # here, not at import: the report commands (tables, figures of metrics) never load torch (1.5 s)

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Weights only load failed" in text:
            found = re.search(r"GLOBAL ([\w.]+)", text)
            code = f"it would call {found.group(1)}" if found else "it holds objects that are not plain data"
            raise ArtifactError(
                path,
                f"refused: its pickle would run code ({code}); files written here hold only tensors and plain data",
                "load only files you trust, and write this one again with the command that makes it",
            ) from None
        raise ArtifactError(path, f"damaged ({_first_line(err)}), expected {what}", fix) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as err:
        raise ArtifactError(path, f"truncated or damaged ({_first_line(err)}), expected {what}", fix) from None


def kind_of(obj: Any) -> str | None:
    """The kind of a loaded torch artifact: checkpoint, train_state, feature_net, or None when unknown."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("artifact"), str):
        return obj["artifact"]
    if str(obj.get("format", "")).startswith("digits-classifier"):
        return "feature_net"
    if {"optimizer", "ema"} <= obj.keys():
        return "train_state"
    if {"replication", "config"} <= obj.keys():
        return "checkpoint"
    return None


def check_version(path: str | Path, version: Any, fix: Fix = "") -> None:
    """Refuse a format version this code cannot read (missing means 1, written before versions existed)."""
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise ArtifactError(path, f"damaged (format_version is {version!r}, expected an integer)", fix)
    if version > FORMAT_VERSION:
        raise ArtifactError(
            path,
            f"is format version {version}, newer than this code reads (up to {FORMAT_VERSION})",
            "update this checkout, or write the file again with this version",
        )
    if version < OLDEST_READABLE:
        raise ArtifactError(path, f"is format version {version}, older than this code reads", fix)


def _described(obj: Any) -> str:
    kind = kind_of(obj)
    if kind == "feature_net":
        return "a digits feature net (for --feature-net)"
    if kind == "train_state":
        return f"a resumable training state (step {obj.get('step')})"
    if kind == "checkpoint":
        return f"a {obj.get('replication')} checkpoint"
    if isinstance(obj, dict):
        return f"a dict with keys {', '.join(sorted(map(str, obj))[:6]) or 'none'}"
    return f"a {type(obj).__name__}"


def retrain_hint(path: str | Path) -> str:
    """What to do about an unusable final checkpoint: rerun train, saying whether the resumable state is intact."""
    state = Path(path).parent / STATE_NAME
    if state.is_file():
        try:
            obj = read_torch(state, "a resumable training state")
            if kind_of(obj) == "train_state":
                return (
                    f"rerun the train command (the train rule) with --out {path}: the resumable state {state} "
                    f"(step {obj.get('step')}) is intact"
                )
        except ArtifactError:
            pass
    return f"rerun the train command (the train rule) with --out {path} to write it again"


def load_checkpoint(path: str | Path, replication: str | None = None, map_location="cpu") -> dict:
    """A final checkpoint written by ``train``, checked: kind, replication, format version, keys.

    Args:
        path: ``checkpoint.pt``.
        replication: the replication the caller is (None accepts any).
        map_location: as for ``torch.load``.

    Raises:
        ArtifactError: missing, damaged, refused (code), another kind or replication, newer format, missing keys.
    """
    path = Path(path)
    what = "a final checkpoint (the --out of train)"
    obj = read_torch(path, what, lambda: retrain_hint(path), map_location)
    kind = kind_of(obj)
    if kind == "train_state":
        raise ArtifactError(
            path,
            f"is {_described(obj)}, not a final checkpoint",
            "rerun the train command with the same --out to finish it, and pass the checkpoint it writes",
        )
    if kind != "checkpoint":
        raise ArtifactError(path, f"is {_described(obj)}, expected {what}", lambda: retrain_hint(path))
    check_version(path, obj.get("format_version"), lambda: retrain_hint(path))
    if replication is not None and obj["replication"] != replication:
        raise ArtifactError(
            path,
            f"is a {obj['replication']} checkpoint, not {replication}",
            f"use python -m replications.{obj['replication']} with it",
        )
    missing = [k for k in CHECKPOINT_KEYS if k not in obj]
    if missing:
        raise ArtifactError(path, f"damaged: the checkpoint lacks {', '.join(missing)}", lambda: retrain_hint(path))
    if not isinstance(obj["config"], dict) or not isinstance(obj["net"], dict) or not isinstance(obj["ema_net"], dict):
        raise ArtifactError(path, "damaged: config, net or ema_net is not a mapping", lambda: retrain_hint(path))
    return obj


def load_train_state(path: str | Path, expect: dict | None = None, map_location="cpu") -> dict:
    """The resumable state ``fit`` writes, checked: kind, format version, keys, and that it is this run's.

    Args:
        path: ``train_state.pt``.
        expect: the metadata of the run about to resume (``replication``, ``seed``); a state written by another
            replication or seed is refused. Whether its config may go on is the resume policy's question
            (``shared.pipeline.resume``).
        map_location: as for ``torch.load``.
    """
    path = Path(path)
    fix = f"delete {path} to train from step 0 (or restore it)"
    obj = read_torch(path, "a resumable training state", fix, map_location)
    if kind_of(obj) != "train_state":
        raise ArtifactError(path, f"is {_described(obj)}, expected a resumable training state", fix)
    check_version(path, obj.get("format_version"), fix)
    missing = [k for k in STATE_KEYS if k not in obj]
    if missing:
        raise ArtifactError(path, f"damaged: the training state lacks {', '.join(missing)}", fix)
    stored, expect = obj.get("extra") or {}, expect or {}
    other = "use another --out (one folder per run), or delete it to train this run from step 0"
    for key in ("replication", "seed"):
        if key in stored and key in expect and stored[key] != expect[key]:
            raise ArtifactError(path, f"is a training state of {key} {stored[key]}, this run is {expect[key]}", other)
    return obj


def load_state(module: Any, state: Any, path: str | Path, problem: str, fix: Fix) -> None:
    """``module.load_state_dict(state)``; a mismatch is an ``ArtifactError``: ``path: problem (torch's words); fix``."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
        detail = re.sub(r"^Error\(s\) in loading state_dict for \w+: ", "", " ".join(str(err).split()))
        detail = detail.split(". ")[0].rstrip(".")  # torch lists every mismatch; the first names the problem
        detail = detail if len(detail) <= 200 else detail[:200] + "..."
        raise ArtifactError(path, f"{problem} ({detail})", fix) from None


def _npz_fix(path: Path) -> str:
    return f"rerun the sample command (the sample rule) for {path}"


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    what = "a samples .npz (the --out of sample)"
    fix = _npz_fix(path)
    path = _check_file(path, what, fix)
    kind = _sniff(path)
    if kind == "text":
        raise ArtifactError(path, f"is a text file, expected {what}", fix)
    if kind == "npy":
        raise ArtifactError(path, f"is a single NumPy .npy array, expected {what}", fix)
    if kind != "zip":
        raise ArtifactError(path, f"is not an .npz archive (unrecognised bytes), expected {what}", fix)
    if not zipfile.is_zipfile(path):
        raise ArtifactError(path, f"truncated or damaged (an incomplete zip archive), expected {what}", fix)
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if "x" not in names:
                with zipfile.ZipFile(path) as zf:
                    torch_file = any(n.endswith("data.pkl") for n in zf.namelist())
                found = "is a PyTorch checkpoint" if torch_file else f"has no array 'x' (has {', '.join(names)})"
                raise ArtifactError(path, f"{found}, expected {what}", fix)
            arrays = {k: f[k] for k in ("x", "meta", "seeds") if k in names}
    except ArtifactError:
        raise
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ArtifactError(
                path,
                "refused: it holds pickled Python objects (which can run code); sample files hold plain arrays",
                "load only files you trust; " + fix,
            ) from None
        raise ArtifactError(path, f"truncated or damaged ({_first_line(err)}), expected {what}", fix) from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as err:
        raise ArtifactError(path, f"truncated or damaged ({_first_line(err)}), expected {what}", fix) from None
    return arrays, names


def load_samples(
    paths: Sequence[str | Path],
    *,
    replication: str | None = None,
    experiment: str | None = None,
    seed: int | None = None,
    shape: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Sample shards written by ``sample``, checked and concatenated: (N, *shape) float samples and each meta.

    Args:
        paths: the shards.
        replication, experiment, seed: the run the samples must come from (None: any).
        shape: the shape of one example, e.g. (2,) or (1, 8, 8) (None: any, but equal over shards).

    Raises:
        ArtifactError: missing, damaged, refused (pickled objects), another run, newer format, a missing array or
            record, the wrong shape or dtype, no samples, non-finite values, or a seed in two shards.
    """
    if not paths:
        raise ArtifactError("--samples", "no sample files given")
    xs, metas, owner = [], [], {}
    for path in map(Path, paths):
        arrays, _ = _read_npz(path)
        fix = _npz_fix(path)
        if "meta" not in arrays:
            raise ArtifactError(path, "has no 'meta' record, so it was not written by sample", fix)
        try:
            meta = json.loads(str(arrays["meta"]))
        except (json.JSONDecodeError, ValueError) as err:
            raise ArtifactError(path, f"damaged: its 'meta' record is not JSON ({_first_line(err)})", fix) from None
        if not isinstance(meta, dict):
            raise ArtifactError(path, "damaged: its 'meta' record is not a mapping", fix)
        if meta.get("artifact", "samples") != "samples":
            raise ArtifactError(path, f"is a {meta['artifact']} file, expected samples", fix)
        check_version(path, meta.get("format_version"), fix)
        missing = [k for k in SAMPLE_META_KEYS if k not in meta]
        if missing:
            raise ArtifactError(path, f"damaged: its 'meta' record lacks {', '.join(missing)}", fix)
        expected = {"replication": replication, "experiment": experiment, "seed": seed}
        for key, want in expected.items():
            if want is not None and meta.get(key, want) != want:
                raise ArtifactError(
                    path,
                    f"holds samples of {key} {meta[key]!r}, but the checkpoint is {key} {want!r}",
                    "pass the shards sampled from this checkpoint",
                )
        x = arrays["x"]
        if not np.issubdtype(x.dtype, np.floating):
            raise ArtifactError(path, f"'x' has dtype {x.dtype}, expected floating-point samples", fix)
        want_shape = tuple(shape) if shape is not None else (tuple(xs[0].shape[1:]) if xs else None)
        if x.ndim < 1 or (want_shape is not None and tuple(x.shape[1:]) != want_shape):
            raise ArtifactError(
                path,
                f"'x' has shape {tuple(x.shape)}, expected (N, {', '.join(map(str, want_shape or ()))}) for this run",
                "pass the shards sampled from this checkpoint",
            )
        if len(x) == 0:
            raise ArtifactError(path, "holds no samples (x has 0 rows)", fix)
        bad = int((~np.isfinite(x)).sum())
        if bad:
            raise ArtifactError(path, f"holds {bad} NaN or infinite values (a diverged sampler?)", fix)
        if "seeds" in arrays:
            seeds = arrays["seeds"]
            if seeds.shape != (len(x),):
                raise ArtifactError(path, f"damaged: {seeds.size} seeds for {len(x)} samples", fix)
            for s in seeds.tolist():
                if s in owner:
                    raise ArtifactError(path, f"repeats sample seed {s} of {owner[s]}", "pass each shard once")
                owner[s] = path
        xs.append(x)
        metas.append(meta)
    return np.concatenate(xs), metas


def load_metrics(path: str | Path, replication: str | None = None) -> dict:
    """A metrics JSON written by ``evaluate``, checked: JSON object, kind, replication, version, metric values."""
    path = Path(path)
    what = "a metrics .json (the --out of evaluate)"
    fix = f"rerun the evaluate command (the evaluate rule) for {path}"
    _check_file(path, what, fix)
    try:
        report = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ArtifactError(path, f"is not a text file, expected {what}", fix) from None
    except json.JSONDecodeError as err:
        raise ArtifactError(path, f"is not valid JSON (truncated? {err.msg} at line {err.lineno})", fix) from None
    if not isinstance(report, dict):
        raise ArtifactError(path, f"holds a JSON {type(report).__name__}, expected an object", fix)
    if report.get("artifact", "metrics") != "metrics":
        raise ArtifactError(path, f"is a {report['artifact']} file, expected metrics", fix)
    check_version(path, report.get("format_version"), fix)
    if replication is not None and report.get("replication", replication) != replication:
        raise ArtifactError(path, f"holds metrics of {report['replication']}, not {replication}", fix)
    metrics = report.get("metrics")
    if not isinstance(metrics, dict) or not all(isinstance(m, dict) and "value" in m for m in metrics.values()):
        raise ArtifactError(path, "damaged: 'metrics' is missing or not a mapping of {value, stderr, n}", fix)
    return report


def load_feature_net(path: str | Path, fmt: str) -> dict:
    """A feature-net file (the digits classifier of ``shared.metrics.digits_features``), checked by its format."""
    path = Path(path)
    what = "a digits feature net (python -m shared.metrics.digits_features)"
    fix = f"train it with python -m shared.metrics.digits_features --out {path} --seed 0"
    obj = read_torch(path, what, fix)
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        if isinstance(obj, dict) and str(obj.get("format", "")).startswith("digits-classifier"):
            raise ArtifactError(path, f"is feature-net format {obj['format']!r}, this code reads {fmt!r}", fix)
        raise ArtifactError(path, f"is {_described(obj)}, expected {what}", fix)
    missing = [k for k in ("state_dict", "feature_dim") if k not in obj]
    if missing:
        raise ArtifactError(path, f"damaged: the feature net lacks {', '.join(missing)}", fix)
    return obj


__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "ArtifactMissing",
    "check_output",
    "check_version",
    "kind_of",
    "load_checkpoint",
    "load_feature_net",
    "load_metrics",
    "load_samples",
    "load_state",
    "load_train_state",
    "read_torch",
    "retrain_hint",
]
