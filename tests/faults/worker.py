"""Fault-injection worker: runs CLI commands in forked children and kills them with SIGKILL where a plan says.

    python tests/faults/worker.py PLAN.json RESULTS.json   # one JSON result per command of the plan

Torch and the code are imported once, then every command runs in a fork of this process (a real process that a
real kill -9 ends), so a chain of killed and resumed runs costs seconds instead of an interpreter start each.
Nothing has computed before the fork (no thread pool exists yet). A plan entry is
``{"replication": "ddpm", "argv": [...], "kill": KILL or null, "check": [paths]}`` where KILL is one of

    {"at": "step", "step": k}            as training asks for the batch of step k (k steps done)
    {"at": "write", "name": N}           half-way through writing the bytes of the file named N
    {"at": "sample_batch", "batch": i}   as sampling starts its i-th batch (1-based)

The result of an entry: how the child ended (``signal`` or ``code``) and, for each path in ``check``, "missing",
"ok" or the loader's error (``shared.io.artifacts``), read after the child is dead.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(kill: dict) -> None:
    """Arm the kill of this child."""
    if kill["at"] == "step":
        from shared.data.source import DataSource

        batch = DataSource.batch

        def batch_or_die(self, step, *args, **kwargs):
            if step == kill["step"]:
                die()
            return batch(self, step, *args, **kwargs)

        DataSource.batch = batch_or_die
    elif kill["at"] == "write":  # the serialisers that shared.io.atomic's writes call
        prefix = f".{kill['name']}.tmp"
        torch_save, savez = torch.save, np.savez_compressed

        def half_then_die(fh, write) -> None:
            buf = io.BytesIO()
            write(buf)
            fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            fh.flush()
            os.fsync(fh.fileno())
            die()

        def save(obj, fh, *args, **kwargs):
            if Path(getattr(fh, "name", "")).name.startswith(prefix):
                half_then_die(fh, lambda buf: torch_save(obj, buf, *args, **kwargs))
            return torch_save(obj, fh, *args, **kwargs)

        def savez_compressed(fh, *args, **kwargs):
            if Path(getattr(fh, "name", "")).name.startswith(prefix):
                half_then_die(fh, lambda buf: savez(buf, *args, **kwargs))
            return savez(fh, *args, **kwargs)

        torch.save, np.savez_compressed = save, savez_compressed
    elif kill["at"] == "sample_batch":
        # the one batched sampling loop (shared.pipeline.method.draw) calls its sample
        import shared.pipeline.method as method

        sample, calls = method.sample, [0]

        def sample_or_die(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill["batch"]:
                die()
            return sample(*args, **kwargs)

        method.sample = sample_or_die


def check(path: str) -> str:
    from shared.io import artifacts

    p = Path(path)
    if not p.exists():
        return "missing"
    try:
        if p.suffix == ".npz":
            artifacts.load_samples([p])
        elif p.name == "train_state.pt":
            artifacts.load_train_state(p)
        else:
            artifacts.load_checkpoint(p)
    except artifacts.ArtifactError as err:
        return str(err)
    return "ok"


def run(entry: dict, main, specs: dict) -> dict:
    pid = os.fork()
    if pid == 0:  # the child: arm the kill, run the command, never return into the plan
        code = 0
        try:
            if entry.get("kill"):
                install(entry["kill"])
            main(specs[entry["replication"]], entry["argv"])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    start = time.perf_counter()
    _, status = os.waitpid(pid, 0)
    result = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
    result["code"] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["check"] = {p: check(p) for p in entry.get("check", [])}
    return result


def main() -> None:
    torch.set_num_threads(1)
    plan = json.loads(Path(sys.argv[1]).read_text())
    from shared.pipeline.cli import main as cli_main

    specs = {e["replication"]: importlib.import_module(f"replications.{e['replication']}.method").SPEC for e in plan}
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # import torch's lazy optimiser modules once, here
    results = [run(entry, cli_main, specs) for entry in plan]
    Path(sys.argv[2]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
