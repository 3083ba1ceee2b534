"""A distillation's teacher: a trained run loaded from its final checkpoint (its own replication, EMA weights,
frozen), checked to sit on the student's path, and copied into the student to start from.

A replication never imports another: the teacher is rebuilt from what its checkpoint names
(``shared.pipeline.runner.load_run``), so any run on the same path and parametrization teaches.
"""

from __future__ import annotations

import torch
from torch import nn

from shared.config import ConfigError
from shared.maths.fields import Field
from shared.maths.processes.base import GaussianProcess
from shared.pipeline.method import Method

PROBE_TIMES = (0.1, 0.35, 0.6, 0.85)  # fractions of the path's time interval where the two paths are compared


def load_teacher(path: str, key: str, process: GaussianProcess) -> Method:
    """The teacher's method (EMA weights, eval mode, no gradients, on the CPU) from its final checkpoint ``path``.

    Raises:
        ConfigError: ``key`` (the config key that named it) is empty, or the teacher's path is not ``process``.
        shared.io.artifacts.ArtifactError: no such checkpoint, or a damaged one.
    """
    from shared.pipeline.runner import load_run  # the runner imports the training loop, which imports losses

    if not path:
        raise ConfigError(f"{key}: name the teacher's final checkpoint (e.g. --set {key}=results/.../checkpoint.pt)")
    method = load_run(path).method
    method.net.requires_grad_(False)
    own = method.field.process
    lo, hi = sorted((process.t_noise, process.t_data))
    t = torch.tensor([lo + f * (hi - lo) for f in PROBE_TIMES], dtype=torch.float64)
    if own is None or not all(
        torch.allclose(getattr(own, name)(t).double(), getattr(process, name)(t).double(), rtol=1e-6, atol=1e-9)
        for name in ("alpha", "sigma")
    ):
        raise ConfigError(f"{key}: the teacher {path} is trained on {own!r}, this run's path is {process!r}; set path")
    return method


def start_from(student: nn.Module, student_field: Field, teacher: Method, key: str, shape: tuple[int, ...]) -> None:
    """Copy the teacher's weights into ``student`` and check that ``student_field`` (the student's net under the
    teacher's parametrization) then predicts the teacher's x0 on a few points of shape (4, *shape): ConfigError
    naming ``key`` if the architectures or the parametrizations differ."""
    try:
        student.load_state_dict(teacher.net.state_dict())
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(
            f"{key}: the teacher's net does not fit this run's net ({first}); set net to the teacher's"
        ) from None
    process = teacher.field.process
    lo, hi = sorted((process.t_noise, process.t_data))
    t = torch.tensor([lo + f * (hi - lo) for f in PROBE_TIMES])
    x = torch.randn(len(t), *shape, generator=torch.Generator().manual_seed(0))
    was_training = student.training
    student.eval()
    with torch.no_grad():
        same = torch.allclose(student_field.x0(x, t), teacher.field.x0(x, t), rtol=1e-4, atol=1e-5)
    student.train(was_training)
    if not same:
        raise ConfigError(f"{key}: the teacher's parametrization differs from this run's; set parametrization")


__all__ = ["load_teacher", "start_from"]
