"""NCSN's score network (replications/ncsn/nets.py): CIN++ by hand, shapes, labels, gradients, size."""

import dataclasses
import typing

import pytest
import torch

from replications.ncsn.nets import (
    CIN_EPS,
    CondInstanceNormPlusPlus,
    RefineNetConfig,
    build_refinenet,
    stage_dilations,
)


def test_cin_plus_plus_matches_hand_computation_for_two_labels():
    torch.manual_seed(0)
    norm = CondInstanceNormPlusPlus(num_features=3, num_classes=4)
    gamma = torch.tensor([[1.5, -0.5, 2.0], [0.1, 0.2, 0.3], [0.7, 3.0, -1.2], [1.0, 1.0, 1.0]])
    beta = torch.tensor([[0.3, -1.0, 0.0], [5.0, 5.0, 5.0], [-2.0, 0.4, 1.1], [0.0, 0.0, 0.0]])
    alpha = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [-0.3, 1.7, 0.9], [1.0, 1.0, 1.0]])
    with torch.no_grad():
        norm.gamma.weight.copy_(gamma)
        norm.beta.weight.copy_(beta)
        norm.alpha.weight.copy_(alpha)
    x = (
        torch.randn(2, 3, 4, 4) * torch.tensor([1.0, 3.0, 0.5])[:, None, None]
        + torch.tensor([0.0, 2.0, -1.0])[:, None, None]
    )
    y = torch.tensor([0, 2])

    expected = torch.empty_like(x)
    for b in range(2):
        i = int(y[b])
        mus = [x[b, k].mean() for k in range(3)]
        m = sum(mus) / 3
        v = (sum((mu - m) ** 2 for mu in mus) / 3 + CIN_EPS).sqrt()
        for k in range(3):
            s = (((x[b, k] - mus[k]) ** 2).mean() + CIN_EPS).sqrt()
            expected[b, k] = gamma[i, k] * (x[b, k] - mus[k]) / s + beta[i, k] + alpha[i, k] * (mus[k] - m) / v

    out = norm(x, y)
    assert torch.allclose(out, expected, atol=1e-5), (out - expected).abs().max()
    assert not torch.allclose(out[0], norm(x, torch.tensor([2, 2]))[0], atol=1e-3)  # the label selects the row


def test_cin_plus_plus_init_and_constant_input():
    norm = CondInstanceNormPlusPlus(num_features=64, num_classes=10)
    for emb in (norm.gamma, norm.alpha):  # official init: N(1, 0.02)
        assert abs(emb.weight.mean().item() - 1.0) < 0.01 and 0.01 < emb.weight.std().item() < 0.03
    assert torch.count_nonzero(norm.beta.weight) == 0
    out = norm(torch.full((2, 64, 3, 3), 7.0), torch.tensor([0, 9]))  # zero variances: eps keeps it finite
    assert torch.isfinite(out).all()


def test_config_validation_and_runtime_literal():
    kind = {f.name: f for f in dataclasses.fields(RefineNetConfig)}["kind"].type
    assert typing.get_args(kind) == ("refinenet",)  # a real Literal at runtime, as shared.config needs
    with pytest.raises(ValueError, match="net.ngf must be >= 1"):
        RefineNetConfig(ngf=0)
    with pytest.raises(ValueError, match="net.dilations"):
        RefineNetConfig(dilations=(2, 0))


def test_dilations_adapt_to_the_image_size():
    assert stage_dilations((2, 4), 32, 32) == (2, 4)  # CIFAR-10: 16x16 maps
    assert stage_dilations((2, 4), 28, 28) == (2, 4)  # MNIST: 14x14 maps
    assert stage_dilations((2, 4), 8, 8) == (2, 2)  # digits: 4x4 maps, dilation capped at 2
    net = build_refinenet(RefineNetConfig(ngf=4), (1, 8, 8), 10)
    assert net.stages[3][0].conv1.dilation == (2, 2)
    assert build_refinenet(RefineNetConfig(ngf=4), (3, 32, 32), 10).stages[3][1].conv2.dilation == (4, 4)


@pytest.mark.parametrize("shape, ngf", [((1, 8, 8), 16), ((1, 28, 28), 4), ((3, 32, 32), 4)])
def test_shapes_labels_and_gradients(shape, ngf):
    torch.manual_seed(0)
    net = build_refinenet(RefineNetConfig(ngf=ngf), shape, num_classes=3)
    x = torch.rand(3, *shape)
    out = net(x, torch.tensor([0.0, 1.0, 2.0]))
    assert out.shape == x.shape

    with torch.no_grad():
        same = net(x, torch.tensor([0, 1, 2]))  # long labels: the same as float ones
        other = net(x, torch.tensor([0.0, 2.0, 2.0]))  # only example 1 changes its label
    assert torch.allclose(same, out)
    assert torch.allclose(other[0], out[0]) and torch.allclose(other[2], out[2])  # examples do not interact
    assert not torch.allclose(other[1], out[1], atol=1e-4)

    (out * torch.randn_like(out)).sum().backward()  # all 3 labels used: every embedding row gets a gradient
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not no_grad, no_grad


def _expected_count(c: int, f: int, n_cls: int) -> int:
    """The parameter count of the App. A layout, written out by hand (official layer list)."""

    def conv(i, o, k=3, bias=True):
        return k * k * i * o + (o if bias else 0)

    def cin(k):
        return 3 * n_cls * k  # gamma, beta, alpha per class

    def res(k):  # plain block, identity shortcut
        return 2 * cin(k) + 2 * conv(k, k)

    def rcu(k, n_blocks):
        return n_blocks * 2 * (cin(k) + conv(k, k, bias=False))

    def refine(ins, out, end=False):
        msf = sum(cin(i) + conv(i, out) for i in ins) if len(ins) > 1 else 0
        return (
            sum(rcu(i, 2) for i in ins) + msf + 2 * (cin(out) + conv(out, out, bias=False)) + rcu(out, 3 if end else 1)
        )

    w = 2 * f
    stage1 = 2 * res(f)
    stage2 = 2 * cin(f) + conv(f, f) + conv(f, w) + conv(f, w, k=1) + res(w)  # mean-pooling transition
    stage34 = 2 * (2 * cin(w) + 3 * conv(w, w) + res(w))  # dilated transition with a 3x3 shortcut
    decoder = refine([w], w) + refine([w, w], w) + refine([w, w], f) + refine([f, f], f, end=True)
    return conv(c, f) + stage1 + stage2 + stage34 + decoder + cin(f) + conv(f, c)


def test_parameter_counts():
    counts = {}
    for name, shape, ngf in [("CIFAR-10", (3, 32, 32), 128), ("MNIST", (1, 28, 28), 64), ("digits", (1, 8, 8), 16)]:
        net = build_refinenet(RefineNetConfig(ngf=ngf), shape, num_classes=10)
        counts[name] = sum(p.numel() for p in net.parameters())
        print(f"CondRefineNetDilated, {name} {shape}, ngf {ngf}, 10 levels: {counts[name]:,} parameters")
        assert counts[name] == _expected_count(shape[0], ngf, 10), name
    # The paper does not state the size and no official count was found: only a broad range is asserted.
    assert 20e6 < counts["CIFAR-10"] < 40e6
