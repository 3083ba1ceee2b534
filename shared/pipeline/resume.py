"""The resume policy: which changes of a run's config a rerun may make and still continue its training state.

A rerun may train longer, log, checkpoint and run differently (the fast paths that change how a step runs, not its
arithmetic or the optimizer's state), and sample or evaluate otherwise; anything else is another run, refused with
one line naming the first changed keys. ``shared.io.artifacts.load_train_state`` checks the file itself and whose it
is; ``shared.pipeline.train.fit`` asks ``check_resumable`` before it loads the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.io.artifacts import ArtifactError

# Sections of a stored config that may change after training: how to sample and evaluate, never what was trained
# (a resumed run may change them, and so may `sample` / `evaluate` --set of a trained checkpoint).
SAMPLE_TIME_SECTIONS = ("sample", "evaluate", "likelihood", "select")
RESUMABLE_CHANGES = (  # config keys a rerun may change and still resume: more steps, logging, sampling, evaluation
    "train.steps",
    "train.time_budget_s",  # a longer budget, like more steps
    "train.checkpoint_every",
    "train.snapshot_every",
    "train.log_every",
    "train.compile",  # the fast paths that change how a step runs, not its arithmetic or the optimizer's state
    "train.channels_last",
    "train.loader_workers",
    "data.root",
    "data.download",
    "data.n_test",
    *SAMPLE_TIME_SECTIONS,
)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: value}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_changes(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved configs, except the ``RESUMABLE_CHANGES``."""
    a, b = flatten(old), flatten(new)
    keep = [k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
    return [k for k in keep if not any(k == r or k.startswith(f"{r}.") for r in RESUMABLE_CHANGES)]


def check_resumable(
    state: dict, path: str | Path, config: dict | None, normalize: Callable[[dict], dict] | None = None
) -> None:
    """Refuse (``ArtifactError``) a training state written with another config than ``config``, but for the
    ``RESUMABLE_CHANGES``.

    Args:
        state: the loaded state (``load_train_state``); its ``extra.config`` is the config it was written with.
        path: the state's file, for the message.
        config: the resolved config of the run about to resume (None: nothing to compare).
        normalize: resolves the stored config with this code's defaults (the replication's config class): a key
            that a newer version added, at its default, is then no change, so an older run still resumes.
    """
    before = (state.get("extra") or {}).get("config")
    if not isinstance(before, dict) or not isinstance(config, dict):
        return
    if normalize is not None:
        try:
            before = normalize(before)
        except (ValueError, TypeError):  # no longer valid under this code: compared as stored
            pass
    changed = config_changes(before, config)
    if changed:
        old, new = flatten(before), flatten(config)
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        raise ArtifactError(
            path,
            f"was written with another config ({shown}{more})",
            "restore that config, use another --out, or delete it to train afresh with this one",
        )


__all__ = ["RESUMABLE_CHANGES", "SAMPLE_TIME_SECTIONS", "check_resumable", "config_changes", "flatten"]
