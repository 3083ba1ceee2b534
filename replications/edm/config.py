"""Experiment config of EDM (Karras et al. 2022): shared sections plus the sampling range on EDM's path, the design
column of Table 1 (preconditioning, p_train(sigma), lambda(sigma)), the loss's reduction and the sampler."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field

from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.denoiser_config import DenoiserObjectiveConfig, DesignConfig, EDMDesignConfig, SigmaPathConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import FewStepSamplerConfig, HeunEDMSamplerConfig
from shared.pipeline.ode_config import LikelihoodConfig


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """An EDM experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    path: SigmaPathConfig = field(default_factory=SigmaPathConfig)
    design: DesignConfig = field(default_factory=EDMDesignConfig)
    objective: DenoiserObjectiveConfig = field(default_factory=DenoiserObjectiveConfig)
    sample: FewStepSamplerConfig = field(default_factory=HeunEDMSamplerConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
