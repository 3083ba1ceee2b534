"""The few-step sampler sections (shared.pipeline.few_step_config): any replication whose field lies on a Gaussian
path samples with DDIM, DPM-Solver++(2M) and EDM's Heun from its config, spending the NFE the section states, and a
section written without its kind keeps meaning what it meant."""

import dataclasses
from pathlib import Path

import pytest
import torch

from replications.ddpm.config import AncestralSamplerConfig
from replications.ddpm.method import SPEC as DDPM
from replications.flow_matching.method import SPEC as FLOW_MATCHING
from replications.score_sde.method import SPEC as SCORE_SDE
from shared.config import ConfigError, apply_overrides, from_dict, load, to_dict
from shared.pipeline.few_step_config import DDIMSamplerConfig, DPMSolver2MSamplerConfig, HeunEDMSamplerConfig
from shared.pipeline.method import draw

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {
    "ddim": (DDIMSamplerConfig(n_steps=6), 6),
    "ddim_eta1": (DDIMSamplerConfig(n_steps=5, eta=1.0), 5),
    "dpm_solver_2m": (DPMSolver2MSamplerConfig(n_steps=5), 5),
    "heun_edm": (HeunEDMSamplerConfig(n_steps=4), 7),
}
FAMILIES = [
    (spec, name)
    for spec in (DDPM, SCORE_SDE, FLOW_MATCHING)
    for name in SECTIONS
    if not (spec is DDPM and name == "heun_edm")  # a chain has no velocity (replications/ddpm/config.py)
]


@pytest.mark.parametrize("spec, name", FAMILIES, ids=[f"{s.name}-{n}" for s, n in FAMILIES])
def test_a_section_samples_at_its_stated_nfe(spec, name):
    section, nfe = SECTIONS[name]
    sets = [f"sample={to_dict(section)}".replace("'", "")]
    cfg = load(REPO / "replications" / spec.name / "configs" / "smoke_toy.yaml", spec.config, sets)
    assert cfg.sample == section and section.nfe == nfe
    method = spec.build(cfg)
    torch.manual_seed(0)
    drawn = draw(method, (2,), range(4), 4)
    assert drawn.nfe_per_sample == nfe and torch.isfinite(drawn.x).all()
    record = method.describe()
    assert record["sampler"] == section.kind and record["grid_points"] == section.n_steps + 1


def test_the_sweeps_few_step_families_build_through_the_sections():
    """A budget family at k steps is the config section with n_steps = k: the same grid and the same record."""
    from shared.pipeline.runner import Run

    cfg = load(REPO / "replications/score_sde/configs/smoke_toy.yaml", SCORE_SDE.config)
    run = Run(Path("x.pt"), {"config": to_dict(cfg)}, cfg, SCORE_SDE.build(cfg), SCORE_SDE)
    for family, section in [
        ("ddim", DDIMSamplerConfig(n_steps=9)),
        ("dpm_solver_2m", DPMSolver2MSamplerConfig(n_steps=9)),
    ]:
        swept = SCORE_SDE.budgets[family].method(run, 9)
        as_config = SCORE_SDE.build(from_dict(SCORE_SDE.config, {**to_dict(cfg), "sample": to_dict(section)}))
        torch.testing.assert_close(swept.grid.double(), as_config.grid.double())
        assert swept.sampler.describe() == as_config.sampler.describe()


def test_a_section_without_kind_takes_its_default_kind_and_a_new_kind_starts_afresh():
    base = to_dict(load(REPO / "replications/ddpm/configs/smoke_toy.yaml", DDPM.config))
    old = {**base, "sample": {"n_steps": 20, "variance": "posterior", "clip_x0": True}}  # written before kinds
    assert from_dict(DDPM.config, old).sample == AncestralSamplerConfig(n_steps=20, variance="posterior")
    switched = apply_overrides(dict(base, sample=dict(base["sample"])), ["sample.kind=ddim", "sample.n_steps=8"])
    assert from_dict(DDPM.config, switched).sample == DDIMSamplerConfig(n_steps=8)
    same = apply_overrides(dict(base, sample=dict(base["sample"])), ["sample.kind=ancestral", "sample.n_steps=8"])
    kept = dataclasses.replace(from_dict(DDPM.config, base).sample, n_steps=8)
    assert from_dict(DDPM.config, same).sample == kept and not kept.clip_x0  # same kind: the file's keys kept
    with pytest.raises(ConfigError, match=r"sample.variance: unknown key"):
        from_dict(DDPM.config, {**base, "sample": {"kind": "ddim", "variance": "forward"}})
