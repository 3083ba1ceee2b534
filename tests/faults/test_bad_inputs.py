"""Bad inputs of every kind a careful (or hostile) user tries: each stops the CLI with exit status 2 and one line
naming the key or the file, never a traceback, and leaves no output that looks finished.

All cases run in-process on one tiny trained run (``trained``, ``samples`` in conftest.py)."""

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from replications.ddpm.method import SPEC
from shared.io import artifacts, atomic
from shared.pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
TRAIN_SETS = ("--set", "train.steps=20", "--set", "train.checkpoint_every=10")  # as conftest's trained run
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


class Evil:
    """Pickles to a call of os.system: what a booby-trapped checkpoint holds."""

    def __reduce__(self):
        return (os.system, ("echo this should never run",))


def edited(src, dst, **changes):
    """A copy of the torch file ``src`` at ``dst`` with top-level keys changed (None deletes)."""
    obj = torch.load(src, weights_only=True)
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value(obj[key]) if callable(value) else value
    torch.save(obj, dst)
    return dst


def tsave(obj, dst, **kwargs):
    torch.save(obj, dst, **kwargs)
    return dst


def npz(dst, **arrays):
    with open(dst, "wb") as fh:  # a file object: np.savez would append .npz to other names
        np.savez(fh, **arrays)
    return dst


def shard(samples, dst, x=None, **meta_changes):
    """A copy of the shard ``samples`` at ``dst`` with its x replaced and its meta record changed."""
    with np.load(samples) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(meta_changes)
    arrays["meta"] = np.asarray(json.dumps(meta))
    if x is not None:
        arrays["x"] = x
        arrays["seeds"] = np.arange(len(x))
    return npz(dst, **arrays)


def half(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def write(dst, data):
    dst.write_bytes(data)
    return dst


def write_zip(dst):
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("notes.txt", "not a checkpoint")
    return dst


RANDOM = b"\x00\x01" + np.random.default_rng(1234).bytes(4094)

# ---- train: config values ----

OVERRIDES = [
    ("train.lr=0", "train.lr"),
    ("train.lr=-1e-3", "train.lr"),
    ("train.lr=nan", "train.lr"),  # the string 'nan'
    ("train.lr=.nan", "train.lr"),  # YAML's own NaN
    ("train.lr=.inf", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.steps=-1", "train.steps"),
    ("train.steps=1.5", "train.steps"),
    ("train.steps=true", "train.steps"),
    ("train.steps=many", "train.steps"),
    ("train.grad_clip=-1", "train.grad_clip"),
    ("train.grad_clip=0", "train.grad_clip"),
    ("train.warmup_steps=-5", "train.warmup_steps"),
    ("train.adam_betas=[0.9, 1.5]", "train.adam_betas[1]"),
    ("train.adam_betas=[0.9]", "train.adam_betas"),
    ("train.adam_betas=[-0.1, 0.9]", "train.adam_betas[0]"),
    ("train.adam_eps=0", "train.adam_eps"),
    ("train.weight_decay=-0.1", "train.weight_decay"),
    ("train.ema_decay=1.0", "train.ema_decay"),
    ("train.checkpoint_every=0", "train.checkpoint_every"),
    ("train.log_every=0", "train.log_every"),
    ("train.noise_groups=3", "train.noise_groups"),  # does not divide the batch of 128
    ("train.lr_schedule=exponential", "train.lr_schedule"),
    ("train.lrate=1e-3", "train.lrate"),  # a typo
    ("data.name=nope", "data.name"),
    ("data.n_test=0", "data.n_test"),
    ("data.data_range=[0,2]", "data.data_range"),
    ("evaluate.nll_batch_size=0", "evaluate.nll_batch_size"),
    ("evaluate.sample_batch_size=-1", "evaluate.sample_batch_size"),
    ("evaluate.nll_examples=-1", "evaluate.nll_examples"),
    ("sample.n_steps=0", "sample.n_steps"),
    ("sample.n_steps=101", "sample.n_steps"),  # more than the chain's T = 100 steps
    ("sample.variance=exact", "sample.variance"),
    ("process.beta_1=0", "beta_1"),
    ("process.T=0", "process"),
    ("net.hidden=0", "hidden"),
    ("net.kind=transformer", "net.kind"),
    ("train=5", "train"),
    ("train.lr", "train.lr"),  # no '='
    ("train.lr=[1", "train.lr"),  # not YAML
    ("train.lr.x=1", "train.lr.x"),  # lr is not a section
]


@pytest.mark.parametrize("override, key", OVERRIDES, ids=[o for o, _ in OVERRIDES])
def test_bad_config_value(bad_input, tmp_path, override, key):
    run = tmp_path / "run"
    argv = ["train", "--config", TINY, "--set", override, "--out", run / "checkpoint.pt", "--device", "cpu"]
    bad_input(SPEC, argv, [key], absent=[run])


CONFIG_FILES = {
    "empty": b"",
    "random_bytes": RANDOM,
    "invalid_yaml": b"train: {lr: [\n",
    "a_list": b"- 1\n- 2\n",
    "yaml_nan_in_file": TINY.read_bytes().replace(b"lr: 1.0e-3", b"lr: .nan"),
    "yaml_inf_in_file": TINY.read_bytes().replace(b"lr: 1.0e-3", b"lr: -.inf"),
    "typo_in_file": TINY.read_bytes().replace(b"lr: 1.0e-3", b"lrate: 1.0e-3"),
}


@pytest.mark.parametrize("kind", CONFIG_FILES)
def test_bad_config_file(bad_input, tmp_path, kind):
    config = write(tmp_path / "bad.yaml", CONFIG_FILES[kind])
    run = tmp_path / "run"
    bad_input(SPEC, ["train", "--config", config, "--out", run / "checkpoint.pt"], [config], absent=[run])


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_config_path_that_is_no_file(bad_input, tmp_path, kind):
    config = tmp_path / "nope.yaml"
    if kind == "folder":
        config.mkdir()
    run = tmp_path / "run"
    bad_input(SPEC, ["train", "--config", config, "--out", run / "checkpoint.pt"], [config], absent=[run])


# ---- train: paths, options, the run folder's resumable state ----


def test_train_without_out(bad_input):
    bad_input(SPEC, ["train", "--config", TINY], ["--out"])


def test_train_out_under_a_regular_file(bad_input, tmp_path):
    blocker = write(tmp_path / "blocker", b"a file, not a folder")
    bad_input(SPEC, ["train", "--config", TINY, "--out", blocker / "run" / "checkpoint.pt"], [blocker])
    assert blocker.read_bytes() == b"a file, not a folder"


def test_train_out_is_a_folder(bad_input, tmp_path):
    bad_input(SPEC, ["train", "--config", TINY, "--out", tmp_path], [tmp_path])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_train_out_in_an_unwritable_folder(bad_input, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        bad_input(SPEC, ["train", "--config", TINY, "--out", locked / "run" / "checkpoint.pt"], [locked])
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(
    "option, value, name",
    [
        pytest.param("--device", "cuda", "--device cuda", marks=NO_CUDA),
        ("--device", "nonsense", "--device nonsense"),
        ("--device", "tpu", "--device tpu"),
        ("--max-minutes", "-1", "--max-minutes"),
        ("--max-minutes", "nan", "--max-minutes"),
        ("--seed", "abc", "--seed"),
    ],
)
def test_bad_train_option(bad_input, tmp_path, option, value, name):
    run = tmp_path / "run"
    bad_input(SPEC, ["train", "--config", TINY, "--out", run / "checkpoint.pt", option, value], [name], absent=[run])


STATES = {
    "truncated": lambda src, dst: half(src, dst),
    "code": lambda src, dst: tsave({"net": Evil(), "ema": {}, "optimizer": {}, "step": 3}, dst),
    "of_another_replication": lambda src, dst: edited(src, dst, extra=lambda e: {**e, "replication": "pfgm"}),
    "not_a_state": lambda src, dst: write(dst, b"hello\n"),
}


OTHER_RUNS = {  # the trained run's state (seed 0, steps 20) resumed by a run it does not belong to
    "of_another_net": (["--set", "net.hidden=16"], "net.hidden: 32 -> 16"),
    "of_another_lr": (["--set", "train.lr=5e-4"], "train.lr: 0.001 -> 0.0005"),
    "of_another_seed": (["--seed", "1"], "seed 0, this run is 1"),
    "of_weights_that_do_not_fit": (["--set", "net.hidden=16"], "do not fit"),
}


@pytest.mark.parametrize("kind", [*STATES, *OTHER_RUNS])
def test_bad_resumable_state_in_the_run_folder(bad_input, tmp_path, trained, kind):
    run = tmp_path / "run"
    run.mkdir()
    state = run / artifacts.STATE_NAME
    if kind == "of_weights_that_do_not_fit":  # a state without its run's config (fit called from code)
        edited(trained.parent / artifacts.STATE_NAME, state, extra={})
    else:
        STATES.get(kind, shutil.copy)(trained.parent / artifacts.STATE_NAME, state)
    extra, words = OTHER_RUNS.get(kind, ([], ""))
    argv = ["train", "--config", TINY, "--out", run / "checkpoint.pt", "--device", "cpu", *TRAIN_SETS, *extra]
    bad_input(SPEC, argv, [state, words], absent=[run / "checkpoint.pt"])


def test_more_steps_resume_from_the_state(capsys, tmp_path, trained):
    """The other side: a rerun asking for more steps (or other sampling settings, or a fast path) resumes."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained.parent / artifacts.STATE_NAME, run / artifacts.STATE_NAME)
    sets = ["--set", "train.steps=22", "--set", "train.checkpoint_every=10", "--set", "sample.n_steps=50"]
    sets += ["--set", "train.channels_last=true", "--set", "train.loader_workers=1"]
    main(SPEC, [str(a) for a in ["train", "--config", TINY, "--out", run / "checkpoint.pt", "--device", "cpu", *sets]])
    assert "at step 20" in capsys.readouterr().out
    assert artifacts.load_checkpoint(run / "checkpoint.pt", "ddpm")["step"] == 22


# ---- sample: the checkpoint ----

CHECKPOINTS = {
    "missing": (lambda t, d: d, "not found"),
    "folder": (lambda t, d: d.parent, "folder"),
    "empty": (lambda t, d: write(d, b""), "empty"),
    "text_file": (lambda t, d: write(d, b"just some notes\n"), "text file"),
    "random_bytes": (lambda t, d: write(d, RANDOM), "not a PyTorch file"),
    "truncated": (lambda t, d: half(t, d), "truncated"),
    "pickle_runs_code": (lambda t, d: tsave({"net": Evil()}, d), "refused"),
    "legacy_pickle_runs_code": (
        lambda t, d: tsave({"net": Evil()}, d, _use_new_zipfile_serialization=False),
        "refused",
    ),
    "train_state": (lambda t, d: shutil.copy(t.parent / artifacts.STATE_NAME, d) and d, "resumable training state"),
    "of_another_replication": (lambda t, d: edited(t, d, replication="pfgm"), "pfgm checkpoint"),
    "samples_file": (lambda t, d: npz(d, x=np.zeros((4, 2), np.float32)), "NumPy .npz"),
    "without_ema_net": (lambda t, d: edited(t, d, ema_net=None), "ema_net"),
    "newer_format": (lambda t, d: edited(t, d, format_version=99), "format version 99"),
    "bad_format_version": (lambda t, d: edited(t, d, format_version="two"), "format_version"),
    "weights_of_another_shape": (
        lambda t, d: edited(t, d, ema_net=lambda sd: {k: torch.zeros(3) for k in sd}),
        "do not fit",
    ),
    "invalid_stored_config": (
        lambda t, d: edited(t, d, config=lambda c: {**c, "train": {**c["train"], "lr": -1.0}}),
        "train.lr",
    ),
    "feature_net": (
        lambda t, d: tsave({"format": "digits-classifier-v1", "state_dict": {}, "feature_dim": 64}, d),
        "feature net",
    ),
    "a_list": (lambda t, d: tsave([1, 2, 3], d), "a list"),
    "zip_without_torch_data": (lambda t, d: write_zip(d), "zip archive"),
}


@pytest.mark.parametrize("kind", CHECKPOINTS)
def test_bad_checkpoint(bad_input, tmp_path, trained, kind):
    make, words = CHECKPOINTS[kind]
    (tmp_path / "given").mkdir()
    ckpt = make(trained, tmp_path / "given" / "checkpoint.pt")
    out = tmp_path / "s.npz"
    argv = ["sample", "--ckpt", ckpt, "--seeds", "0-3", "--out", out, "--device", "cpu"]
    bad_input(SPEC, argv, [ckpt, words], absent=[out])


def test_checkpoint_of_another_replication_names_it(bad_input, tmp_path, trained):
    from replications.score_sde.method import SPEC as SCORE_SDE

    out = tmp_path / "s.npz"
    argv = ["sample", "--ckpt", trained, "--seeds", "0-3", "--out", out, "--device", "cpu"]
    line = bad_input(SCORE_SDE, argv, [trained, "ddpm checkpoint", "python -m replications.ddpm"], absent=[out])
    assert "process.kind" not in line


def test_truncated_checkpoint_says_the_resumable_state_is_intact(bad_input, tmp_path, trained):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained.parent / artifacts.STATE_NAME, run / artifacts.STATE_NAME)
    ckpt = half(trained, run / "checkpoint.pt")
    out = tmp_path / "s.npz"
    argv = ["sample", "--ckpt", ckpt, "--seeds", "0-3", "--out", out, "--device", "cpu"]
    bad_input(SPEC, argv, [ckpt, "truncated", "rerun the train", "is intact"], absent=[out])


# ---- sample: options and paths ----


@pytest.mark.parametrize(
    "option, value, name",
    [
        ("--seeds", "9-2", "--seeds"),
        ("--seeds", "abc", "--seeds"),
        ("--seeds", "", "--seeds"),
        ("--batch-size", "0", "--batch-size"),
        ("--batch-size", "-3", "--batch-size"),
        ("--weights", "best", "--weights"),
        pytest.param("--device", "cuda", "--device cuda", marks=NO_CUDA),
        ("--device", "cuda:x", "--device cuda:x"),
    ],
)
def test_bad_sample_option(bad_input, tmp_path, trained, option, value, name):
    out = tmp_path / "s.npz"
    argv = ["sample", "--ckpt", trained, "--seeds", "0-3", "--out", out, "--device", "cpu", option, value]
    bad_input(SPEC, argv, [name], absent=[out])


@pytest.mark.parametrize("command", ["sample", "evaluate"])
@pytest.mark.parametrize("where", ["under_a_regular_file", "a_folder"])
def test_out_that_cannot_be_written(bad_input, tmp_path, trained, samples, command, where):
    blocker = write(tmp_path / "blocker", b"x")
    out = blocker / "sub" / "out.file" if where == "under_a_regular_file" else tmp_path
    extra = ["--seeds", "0-3"] if command == "sample" else ["--samples", samples]
    argv = [command, "--ckpt", trained, *extra, "--out", out, "--device", "cpu"]
    bad_input(SPEC, argv, [blocker if where == "under_a_regular_file" else out])


def test_figures_out_dir_is_a_regular_file(bad_input, tmp_path, trained, samples):
    blocker = write(tmp_path / "figures", b"x")
    argv = ["figures", "--ckpt", trained, "--samples", samples, "--out-dir", blocker, "--device", "cpu"]
    bad_input(SPEC, argv, [blocker])


# ---- evaluate / figures: the sample shards ----


def pickled(dst):
    return npz(dst, x=np.array([{"a": 1}], dtype=object), meta=np.asarray("{}"))


SHARDS = {
    "missing": (lambda s, d: d, "not found"),
    "folder": (lambda s, d: d.parent, "folder"),
    "empty": (lambda s, d: write(d, b""), "empty"),
    "text_file": (lambda s, d: write(d, b"0.1, 0.2\n"), "text file"),
    "random_bytes": (lambda s, d: write(d, RANDOM), "not an .npz"),
    "truncated": (lambda s, d: half(s, d), "truncated"),
    "single_npy": (lambda s, d: np.save(d.with_suffix(".npy"), np.zeros((4, 2))) or d.with_suffix(".npy"), ".npy"),
    "without_x": (lambda s, d: npz(d, meta=np.asarray("{}")), "'x'"),
    "without_meta": (lambda s, d: npz(d, x=np.zeros((4, 2), np.float32)), "meta"),
    "meta_not_json": (lambda s, d: npz(d, x=np.zeros((4, 2), np.float32), meta=np.asarray("{oops")), "JSON"),
    "pickled_objects": (lambda s, d: pickled(d), "refused"),
    "with_nan": (lambda s, d: shard(s, d, x=np.full((4, 2), np.nan, np.float32)), "NaN"),
    "with_inf": (lambda s, d: shard(s, d, x=np.array([[np.inf, 0.0]] * 4, np.float32)), "infinite"),
    "wrong_shape": (lambda s, d: shard(s, d, x=np.zeros((4, 3), np.float32)), "shape"),
    "integer_samples": (lambda s, d: shard(s, d, x=np.zeros((4, 2), np.int64)), "dtype"),
    "no_samples": (lambda s, d: shard(s, d, x=np.zeros((0, 2), np.float32)), "no samples"),
    "of_another_replication": (lambda s, d: shard(s, d, replication="pfgm"), "pfgm"),
    "of_another_seed": (lambda s, d: shard(s, d, seed=7), "seed"),
    "newer_format": (lambda s, d: shard(s, d, format_version=99), "format version 99"),
    "a_checkpoint": (lambda s, d: shutil.copy(s.parents[1] / "checkpoint.pt", d) and d, "PyTorch checkpoint"),
}


FIGURE_SHARDS = ["truncated", "with_nan", "wrong_shape", "of_another_replication"]  # the same loader: a few suffice


@pytest.mark.parametrize("command, kind", [("evaluate", k) for k in SHARDS] + [("figures", k) for k in FIGURE_SHARDS])
def test_bad_samples(bad_input, tmp_path, trained, samples, kind, command):
    make, words = SHARDS[kind]
    (tmp_path / "given").mkdir()
    shard_path = make(samples, tmp_path / "given" / "0-3.npz")
    out = tmp_path / ("m.json" if command == "evaluate" else "figures")
    target = ["--out", out] if command == "evaluate" else ["--out-dir", out]
    argv = [command, "--ckpt", trained, "--samples", samples, shard_path, *target, "--device", "cpu"]
    bad_input(SPEC, argv, [shard_path, words], absent=[out])


def test_the_same_shard_twice(bad_input, tmp_path, trained, samples):
    out = tmp_path / "m.json"
    argv = ["evaluate", "--ckpt", trained, "--samples", samples, samples, "--out", out, "--device", "cpu"]
    bad_input(SPEC, argv, [samples, "repeats sample seed"], absent=[out])


FEATURE_NETS = {
    "missing": (lambda t, d: d, "not found"),
    "a_checkpoint": (lambda t, d: shutil.copy(t, d) and d, "ddpm checkpoint"),
    "truncated": (lambda t, d: half(t, d), "truncated"),
    "other_format": (lambda t, d: tsave({"format": "digits-classifier-v0"}, d), "digits-classifier-v0"),
    "weights_of_another_net": (
        lambda t, d: tsave(
            {"format": "digits-classifier-v1", "state_dict": {"w": torch.zeros(1)}, "feature_dim": 64}, d
        ),
        "do not fit",
    ),
}


@pytest.mark.parametrize("kind", FEATURE_NETS)
def test_bad_feature_net(bad_input, tmp_path, trained, samples, kind):
    make, words = FEATURE_NETS[kind]
    net = make(trained, tmp_path / "digits.pt")
    out = tmp_path / "m.json"
    argv = ["evaluate", "--ckpt", trained, "--samples", samples, "--feature-net", net, "--out", out]
    bad_input(SPEC, [*argv, "--device", "cpu"], [net, words], absent=[out])


# ---- metrics files (read by the report and comparison tools through the same loader) ----

METRICS = {
    "missing": (None, "not found"),
    "empty": (b"", "empty"),
    "truncated_json": (b'{"replication": "ddpm", "metrics": {"nll_nats": {"val', "not valid JSON"),
    "binary": (RANDOM, "not a text file"),
    "a_list": (b"[1, 2]", "JSON list"),
    "without_metrics": (b'{"replication": "ddpm"}', "'metrics'"),
    "newer_format": (b'{"replication": "ddpm", "format_version": 99, "metrics": {}}', "format version 99"),
    "of_another_replication": (b'{"replication": "pfgm", "metrics": {}}', "pfgm"),
}


@pytest.mark.parametrize("kind", METRICS)
def test_bad_metrics_file(tmp_path, kind):
    data, words = METRICS[kind]
    path = tmp_path / "metrics.json"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(artifacts.ArtifactError) as err:
        artifacts.load_metrics(path, replication="ddpm")
    message = str(err.value)
    assert str(path) in message and words in message and "\n" not in message


def test_good_files_still_load(trained, samples, tmp_path):
    """The loaders accept what the commands write (the other side of every case above)."""
    assert artifacts.load_checkpoint(trained, "ddpm")["artifact"] == "checkpoint"
    state = artifacts.load_train_state(trained.parent / artifacts.STATE_NAME, {"replication": "ddpm", "seed": 0})
    assert state["artifact"] == "train_state" and state["step"] == 20
    x, metas = artifacts.load_samples([samples], replication="ddpm", shape=(2,))
    assert x.shape == (16, 2) and metas[0]["artifact"] == "samples" and metas[0]["format_version"] == 2
    atomic.save_json({"replication": "ddpm", "metrics": {"nll": {"value": 1.0}}}, tmp_path / "m.json")
    assert artifacts.load_metrics(tmp_path / "m.json", "ddpm")["metrics"]["nll"]["value"] == 1.0


def _without_ema_warmup(extra: dict) -> dict:
    """The state's metadata as a version without train.ema_warmup wrote it."""
    config = {**extra["config"], "train": {k: v for k, v in extra["config"]["train"].items() if k != "ema_warmup"}}
    return {**extra, "config": config}


@pytest.mark.parametrize("sets, resumes", [([], True), (["--set", "train.ema_warmup=true"], False)])
def test_a_state_of_an_older_version_resumes_unless_the_new_key_changes(trained, tmp_path, capsys, sets, resumes):
    """A config key that a newer version added (train.ema_warmup) is no change at its default: the older run
    resumes. Set to anything else, it is a change, and the state is refused naming the key."""
    run = tmp_path / "run"
    run.mkdir()
    edited(trained.parent / artifacts.STATE_NAME, run / artifacts.STATE_NAME, extra=_without_ema_warmup)
    argv = ["train", "--config", TINY, "--out", run / "checkpoint.pt", "--device", "cpu", *TRAIN_SETS, *sets]
    argv = [str(a) for a in argv]
    if resumes:
        main(SPEC, [*argv, "--set", "train.steps=25"])  # 5 more steps than the state's 20
        assert "resuming from" in capsys.readouterr().out and (run / "checkpoint.pt").is_file()
    else:
        with pytest.raises(SystemExit) as exit_:
            main(SPEC, argv)
        assert exit_.value.code == 2 and "train.ema_warmup: False -> True" in capsys.readouterr().err
