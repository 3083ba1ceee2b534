"""Every `python -m` entry point keeps the bad-input contract: a missing input file, a text file where a checkpoint
(or samples, metrics, a config) belongs, an output path that cannot be made, and an unknown option each end with
exit status 2, one error line naming the path or option, no traceback, and no output written.

The table below must list every module that has a ``__main__``: a new entry point fails the first test until it is
added here. Each call runs the module as ``python -m`` does (runpy, in this process: no interpreter start-up).
"""

import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REPLICATIONS = (
    "consistency",
    "ddpm",
    "edm",
    "ffjord",
    "flow_matching",
    "ncsn",
    "pfgm",
    "pfgmpp",
    "progressive_distillation",
    "score_sde",
)

# module -> argv with placeholders: {ckpt} {samples} {metrics} {config} are inputs, {out} the output path (given a
# suffix where the module wants one). Every argv is otherwise valid, so that each case's error is the one injected.
ENTRY_POINTS = {
    **{f"replications.{r}": "sample --ckpt {ckpt} --seeds 0-1 --out {out}.npz" for r in REPLICATIONS},
    "replications.ffjord.toy_figure": "panel --ckpt {ckpt} --out {out}.npz",
    "replications.flow_matching.reflow": "--ckpt {ckpt} --out {out}/checkpoint.pt",
    "replications.ncsn.inpaint": "--ckpt {ckpt} --out {out}.png",
    "replications.ncsn.mixture_figure": "--out {out}.png",
    "replications.ncsn.objectives": "--config {config} --out {out}.md",
    "replications.ncsn.score_figure": "--out {out}.png",
    "replications.pfgm.exact_figures": "disk --out {out}.png",
    "replications.pfgm.hemisphere": "--config {config}",
    "replications.pfgm.hyper": "--N 3072",
    "replications.pfgmpp.robustness": "--config {config} --out {out}.md",
    "replications.score_sde.figures": "samplers --ckpt {ckpt} --out {out}.md",
    "shared.report.compare": "table --metrics {metrics} --labels a --out {out}",
    "shared.metrics.digits_features": "--out {out}.pt",
    "shared.report.protocol": "--check {folder}",
    "shared.report.summary": "--metrics {metrics} --out-dir {out}",
    "shared.pipeline.sweep": "--ckpt {ckpt} --out {out}.png",
    "shared.pipeline.select": "--ckpt {ckpt} --out {out}.pt",
    "shared.pipeline.curve": "--ckpt {ckpt} --n 10 --out {out}.csv",
    "shared.pipeline.floor": "--ckpt {ckpt} --n 10 --out {out}.json",
    "shared.pipeline.plan": "--configfile {config} --out {out}.md",
}
INPUTS = ("ckpt", "samples", "metrics", "config", "folder")


def modules_with_main() -> set[str]:
    found = set()
    for path in [*REPO.glob("shared/**/*.py"), *REPO.glob("replications/**/*.py")]:
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        if path.name == "__main__.py":
            found.add(name.removesuffix(".__main__"))
        elif 'if __name__ == "__main__"' in path.read_text():
            found.add(name)
    return found


def test_the_table_lists_every_entry_point():
    assert modules_with_main() == set(ENTRY_POINTS)


@pytest.fixture(autouse=True)
def _torch_state_is_kept():
    """An entry point run in-process must leave global torch state as it found it (grad mode, threads)."""
    import torch

    before = (torch.is_grad_enabled(), torch.get_num_threads())
    yield
    assert (torch.is_grad_enabled(), torch.get_num_threads()) == before


def run_module(module: str, argv: list[str], capsys) -> tuple[int, str]:
    """``python -m module argv`` in this process: (exit status, stderr). An exception escaping is a failure."""
    old = sys.argv
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


def cases(module: str) -> list[str]:
    spec = ENTRY_POINTS[module]
    out = ["unknown option"] + (["bad output"] if "{out}" in spec else [])
    for name in INPUTS:
        if "{" + name + "}" in spec:
            out += [f"missing {name}", f"text for {name}"]
    return out


@pytest.mark.parametrize(
    "module, case", [(m, c) for m in sorted(ENTRY_POINTS) for c in cases(m)], ids=lambda v: str(v).replace(" ", "_")
)
def test_bad_input_is_one_line_exit_2(module, case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    text = tmp_path / "notes.txt"
    text.write_text("this is a text file, not what the option wants\n")
    # valid-looking inputs that are never read: each case replaces one of them; the others exist
    values = {name: str(tmp_path / "missing" / f"{name}.bin") for name in INPUTS}
    out = tmp_path / "out" / "result"
    values["out"] = str(out)
    argv = ENTRY_POINTS[module]
    expect = ""
    if case == "unknown option":
        for name in INPUTS:
            values[name] = str(text)
        argv += " --no-such-option"
        expect = "--no-such-option"
    elif case == "bad output":
        for name in INPUTS:
            values[name] = str(text)
        values["out"] = str(text / "result")  # under a regular file: no folder can be made there
        expect = str(text)
        out = text / "result"
    else:
        kind, name = case.split(" ", 1)[0], case.rsplit(" ", 1)[1]
        for other in INPUTS:
            values[other] = str(text)
        if kind == "missing":
            values[name] = str(tmp_path / "missing" / f"{name}.bin")
            expect = values[name]
        else:  # a text file where a checkpoint / samples / metrics / config belongs
            values[name] = str(text)
            expect = str(text)
        if name == "folder":
            expect = values[name]
    code, err = run_module(module, argv.format(**values).split(), capsys)
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, err[-2000:]
    assert expect in errors[0], (expect, errors[0])
    written = [p for p in out.parent.rglob("*")] if out.parent.is_dir() else []
    assert written == [], written
