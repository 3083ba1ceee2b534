"""The typed config loader: unknown keys, wrong types and missing files are rejected with the key's name."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from shared.config import ConfigError, apply_overrides, dump, from_dict, load
from shared.nets import MLPConfig, UNetConfig


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    steps: int = 10
    mult: tuple[int, ...] = (1, 2)
    mode: Literal["a", "b"] = "a"
    clip: float | None = 1.0


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    net: MLPConfig | UNetConfig = field(default_factory=MLPConfig)
    name: str = "x"


def write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_loads_values_and_defaults(tmp_path):
    cfg = load(write(tmp_path, "inner: {lr: 2e-4, mult: [1, 2, 2]}\nnet: {kind: unet, ch: 64}\n"), Outer)
    assert cfg.inner.lr == pytest.approx(2e-4) and isinstance(cfg.inner.lr, float)  # '2e-4' is a float, not a str
    assert cfg.inner.mult == (1, 2, 2) and cfg.inner.steps == 10
    assert isinstance(cfg.net, UNetConfig) and cfg.net.ch == 64


@pytest.mark.parametrize(
    "text, key",
    [
        ("inner: {lrr: 1.0}", "inner.lrr"),
        ("inner: {steps: 1.5}", "inner.steps"),
        ("inner: {steps: '10'}", "inner.steps"),
        ("inner: {steps: true}", "inner.steps"),
        ("inner: {lr: abc}", "inner.lr"),
        ("inner: {mode: c}", "inner.mode"),
        ("inner: {mult: [1, x]}", "inner.mult[1]"),
        ("net: {kind: transformer}", "net.kind"),
        ("net: {kind: mlp, ch: 3}", "net.ch"),
        ("typo: 1", "typo"),
    ],
)
def test_bad_values_name_the_key_and_file(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path, Outer)
    assert key in str(err.value) and str(path) in str(err.value)


def test_post_init_validation_is_reported_as_config_error(tmp_path):
    with pytest.raises(ConfigError, match="hidden"):
        load(write(tmp_path, "net: {kind: mlp, hidden: 0}"), Outer)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load(tmp_path / "nope.yaml", Outer)


def test_overrides_are_typed(tmp_path):
    cfg = load(write(tmp_path, "name: y"), Outer, overrides=["inner.lr=1e-4", "inner.mult=[4]", "inner.clip=null"])
    assert cfg.inner.lr == pytest.approx(1e-4) and cfg.inner.mult == (4,) and cfg.inner.clip is None
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["inner.lr"])


def test_dump_round_trip(tmp_path):
    cfg = load(write(tmp_path, "inner: {lr: 3.0e-4}\nnet: {kind: unet, ch_mult: [1, 2]}"), Outer)
    dump(cfg, tmp_path / "resolved.yaml")
    assert load(tmp_path / "resolved.yaml", Outer) == cfg
    assert from_dict(Outer, {}) == Outer()
