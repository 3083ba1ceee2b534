"""The ODE machinery's FFJORD/RNODE extensions: regulariser integrals against closed forms on a linear field, and
the adjoint method's gradients against backpropagation through the solver."""

import math

import pytest
import torch

from shared.maths.ode import JacobianFrobenius, KineticEnergy, log_prob_ode

a = torch.tensor([-0.7, 0.4, 1.1], dtype=torch.float64)  # f(x, t) = diag(a) x


def std_normal(z):
    return -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)


@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
def test_regularizers_match_closed_form_on_a_linear_field(divergence):
    x0 = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    T = 0.8
    res = log_prob_ode(
        lambda x, t: x * a,
        x0,
        0.0,
        T,
        std_normal,
        divergence=divergence,
        noise="rademacher",
        regularizers=(KineticEnergy(), JacobianFrobenius()),
        generator=torch.Generator().manual_seed(1),
        atol=1e-9,
        rtol=1e-9,
    )
    # x_i(t) = x0_i e^{a_i t}:  int_0^T ||f||^2 dt = sum_i a_i x0_i^2 (e^{2 a_i T} - 1) / 2
    kinetic = (a * x0**2 * (torch.exp(2 * a * T) - 1) / 2).sum(1)
    # ||eps^T diag(a)||^2 = sum_i a_i^2 eps_i^2 = sum_i a_i^2 for Rademacher eps, constant in t
    jac = torch.full((64,), T * float((a**2).sum()), dtype=torch.float64)
    assert torch.allclose(res.regularization[0], kinetic, rtol=1e-6)
    assert torch.allclose(res.regularization[1], jac, rtol=1e-6)
    # and the log-density is still the closed form: log N(e^{aT} x0) + T tr(a)
    ref = std_normal(x0 * torch.exp(a * T)) + T * a.sum()
    assert torch.allclose(res.log_prob, ref, atol=1e-6)


def test_regularizers_are_positive_integrals_backwards_in_time():
    x0 = torch.randn(8, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    f = lambda x, t: x * a  # noqa: E731
    res = log_prob_ode(f, x0, 1.0, 0.0, std_normal, divergence="exact", regularizers=(KineticEnergy(),))
    assert (res.regularization[0] > 0).all()


def test_adjoint_gradients_match_backprop_through_the_solver():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)).double()

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, t):
            return self.net(x)

    f = Field()
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        f.zero_grad()
        res = log_prob_ode(
            f, x, 0.0, 1.0, std_normal, divergence="exact", create_graph=True, adjoint=adjoint, atol=1e-8, rtol=1e-8
        )
        (-res.log_prob.mean()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in f.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)
