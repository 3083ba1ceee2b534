"""The sections every experiment config has: its data, its training run and its evaluation.

A replication's ``Config`` extends ``ExperimentConfig`` with what its paper adds (the net, the process or path, the
objective, the sampler, the likelihood solve, ...); ``shared.config`` loads and checks either the same way.

    >>> @dataclass(frozen=True)
    ... class Config(ExperimentConfig):
    ...     net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
"""

# No ``from __future__ import annotations``: shared.config reads the field types off the dataclass.
from dataclasses import dataclass, field

from shared.config import validate_tree
from shared.data.source import DataConfig
from shared.pipeline.evaluate import EvalConfig
from shared.pipeline.select import SelectConfig
from shared.pipeline.train import TrainConfig


@dataclass(frozen=True)
class ExperimentConfig:
    """data, train, evaluate and select: the sections of every experiment (``shared.data``,
    ``shared.pipeline.train``, ``shared.pipeline.evaluate``, ``shared.pipeline.select``)."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    select: SelectConfig = field(default_factory=SelectConfig)  # which snapshot the numbers come from

    def __post_init__(self):
        validate_tree(self)  # every section's declared types and ranges, for configs built in code too


__all__ = ["ExperimentConfig"]
