"""Atomic writes of every file the project writes: a hidden temporary file beside the target, fsync, rename.

Checkpoints, samples, metrics, tables, reports, figures, FID statistics and the feature net all go through
``atomic_write``: a kill -9 or a full disk never leaves a partial file under the final name, and the previous version
stays loadable; ``shared.io.artifacts`` reads the files back. Light to import (torch and matplotlib only when used).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-{socket.gethostname()}-"


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Open a hidden temporary file beside ``path`` for writing; on success fsync it and rename it to ``path``.

    On any exception (a full disk, a kill that Python sees) the temporary file is removed and ``path`` keeps its
    previous content. Stale temporary files of dead processes (after a kill -9) are removed by the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{_tmp_prefix(path)}{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a quota: name the file meant, not the temporary one
        tmp.unlink(missing_ok=True)
        strerror = err.strerror or str(err)
        raise OSError(err.errno, f"{strerror} (not written; any previous version is unchanged)", str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    _remove_stale(path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale(path: Path) -> None:
    """Delete temporary files of ``path`` left by processes of this host that no longer exist."""
    prefix = _tmp_prefix(path)
    for tmp in path.parent.glob(f"{prefix}*"):
        pid = tmp.name[len(prefix) :]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def save_torch(obj: dict, path: str | Path) -> None:
    """``torch.save`` atomically (plain tensors and containers only, so it reloads with ``weights_only``)."""
    import torch

    with atomic_write(path) as fh:
        torch.save(obj, fh)


def save_figure(fig, path: str | Path, **savefig) -> None:
    """A matplotlib figure atomically, in the format of ``path``'s suffix (``savefig`` options: dpi, bbox_inches)."""
    path = Path(path)
    with atomic_write(path) as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", **savefig)


def save_npz(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    """``np.savez_compressed`` atomically."""
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **arrays)


def save_json(obj: dict, path: str | Path) -> None:
    """JSON (indented) atomically."""
    save_text(json.dumps(obj, indent=2, default=float), path)


def save_config(cfg: Any, path: str | Path) -> None:
    """A resolved config (a config dataclass) as YAML, atomically: what ``shared.config.load`` reads back."""
    import yaml

    from shared.config import to_dict

    save_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), path)


def save_text(text: str, path: str | Path) -> None:
    """A UTF-8 text file atomically."""
    with atomic_write(path) as fh:
        fh.write(text.encode())


__all__ = ["atomic_write", "save_config", "save_figure", "save_json", "save_npz", "save_text", "save_torch"]
