"""The typed config loader: unknown keys, wrong types and missing files are rejected with the key's name."""

from dataclasses import dataclass, field
from typing import Annotated, Literal

import pytest

from shared.config import (
    ConfigError,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    UnitInterval,
    apply_overrides,
    from_dict,
    load,
    validate,
)
from shared.io.atomic import save_config
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
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load(tmp_path / "resolved.yaml", Outer) == cfg
    assert from_dict(Outer, {}) == Outer()


@dataclass(frozen=True)
class Ranged:
    lr: PositiveFloat = 1e-3
    steps: PositiveInt = 10
    warmup: NonNegativeInt = 0
    decay: Annotated[float, Range(ge=0, lt=1)] = 0.9
    betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    clip: PositiveFloat | None = 1.0

    def __post_init__(self):
        validate(self, "ranged")


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr: 0", "lr: must be > 0, got 0.0"),
        ("lr: .nan", "lr: expected a finite float, got nan"),
        ("lr: -.inf", "lr: expected a finite float, got -inf"),
        ("steps: 0", "steps: must be >= 1, got 0"),
        ("warmup: -5", "warmup: must be >= 0, got -5"),
        ("decay: 1.0", "decay: must be >= 0 and < 1, got 1.0"),
        ("betas: [0.9, 1.5]", "betas[1]: must be >= 0 and < 1, got 1.5"),
        ("betas: [0.9]", "betas: expected a list of 2 values, got [0.9]"),
        ("clip: -1", "clip: must be > 0, got -1.0"),
    ],
)
def test_declared_ranges_and_finite_floats_are_checked_on_load(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path, Ranged)
    assert str(err.value) == f"{path}: {message}"


def test_declared_ranges_also_hold_for_configs_built_in_code(tmp_path):
    assert load(write(tmp_path, "clip: null\nwarmup: 0"), Ranged) == Ranged(clip=None)
    with pytest.raises(ValueError, match=r"^ranged\.steps: must be >= 1, got 0$"):
        Ranged(steps=0)
    assert str(Range(gt=0, le=2)) == "> 0 and <= 2" and Range(ge=1).contains(1) and not Range(gt=0).contains(0)


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_config_file_is_an_error(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="is empty"):
        load(path, Outer)


def test_an_experiment_built_in_code_has_its_ranges_checked():
    """ExperimentConfig validates every nested section on construction, as load does on reading: a section built
    in code with a value out of its declared range is refused, naming the dotted key."""
    from replications.flow_matching.config import Config as FlowConfig
    from shared.pipeline.ode_config import ODESamplerConfig

    ODESamplerConfig(rtol=-1.0)  # a section alone is not checked (no __post_init__ of its own)...
    with pytest.raises(ConfigError, match=r"sample\.rtol"):
        FlowConfig(sample=ODESamplerConfig(rtol=-1.0))  # ...the experiment that holds it is
    assert FlowConfig(sample=ODESamplerConfig(rtol=1e-3)).sample.rtol == 1e-3
