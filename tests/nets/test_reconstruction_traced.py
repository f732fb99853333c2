"""The reconstruction statistic on traced models (nets.stats.collect(reconstruction=True)):
equal to the flat-model reading on an equivalent flat network, equal to a finite-difference
Jacobian of the reading layer's output on the groups read by one layer (a BasicBlock's inner
conv1, ViT heads and MLP hidden units), and refused, naming the group and the fix, where a
residual stage ties a group to many readers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nets import attach_gates, stats
from nets.gates import TracedGatedNetwork
from nets.models import mlp, resnet_cifar, vit

X = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
LABELS = torch.arange(10) % 3


class Wrapped(nn.Module):
    """A flat network inside a user's module: attach_gates traces it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def conv_net() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 10))


def random_participation(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 1.0, size=n)


@pytest.mark.parametrize("build", [lambda: mlp(64, (12, 8), 10, seed=0), conv_net])
def test_traced_reading_equals_the_flat_reading_on_an_equivalent_model(build) -> None:
    flat = attach_gates(build().double().eval(), level="all")
    traced = attach_gates(Wrapped(build().double().eval()), level="all",
                          example_inputs=X[:1])
    assert isinstance(traced, TracedGatedNetwork) and not isinstance(flat, TracedGatedNetwork)
    assert [layer.n_units for layer in traced.layers] == [info.n_units for info in flat.layers]
    s = random_participation(flat.n_players, 2)
    flat.set_participation(s)
    traced.set_participation(s)
    a = stats.collect(flat.eval(), [(X, LABELS)], reconstruction=True)
    b = stats.collect(traced.eval(), [(X, LABELS)], reconstruction=True)
    for ma, mb in zip(a.reconstruction_gram, b.reconstruction_gram, strict=True):
        np.testing.assert_allclose(mb, ma, rtol=1e-10, atol=1e-12)


def finite_difference_gram(gated: TracedGatedNetwork, k: int, h: float) -> np.ndarray:
    """``mean_e V_e V_e^T`` with ``V_e[i]`` the central difference of the reading layer's
    output in s_i (the bias cancels)."""
    layer = gated.layers[k]
    reader = gated.model.get_submodule(next(m.module for m in layer.members if m.role == "in"))
    s0 = gated.get_participation().double()
    outputs: list[torch.Tensor] = []
    handle = reader.register_forward_hook(lambda m, a, out: outputs.append(out.detach()))
    columns = []
    try:
        for i in range(layer.n_units):
            values = []
            for sign in (1, -1):
                s = s0.clone()
                s[layer.offset + i] += sign * h
                gated.set_participation(s)
                outputs.clear()
                with torch.no_grad():
                    gated(X)
                values.append(outputs[0])
            columns.append(((values[0] - values[1]) / (2 * h)).reshape(len(X), -1))
    finally:
        handle.remove()
        gated.set_participation(s0)
    v = torch.stack(columns, dim=1)  # (examples, players, outputs)
    return torch.einsum("bip,bjp->ij", v, v).numpy() / len(X)


def basic_block_inner_groups() -> TracedGatedNetwork:
    """resnet_cifar with its residual stages left whole: the players are the inner conv1
    filters of each BasicBlock (read by that block's conv2 only)."""
    model = resnet_cifar(8, 4, input_size=8, seed=0).double().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    return attach_gates(model, "filter", example_inputs=X[:1],
                        ignored_layers=["conv1", "layers.1.shortcut.0", "layers.2.shortcut.0"])


@pytest.mark.parametrize("build, names", [
    (basic_block_inner_groups, ["layers.0.conv1", "layers.1.conv1", "layers.2.conv1"]),
    (lambda: attach_gates(vit(input_size=8, patch=2, dim=8, depth=1, num_heads=2, head_dim=4,
                              mlp_hidden=6, seed=0).double().eval(), "all",
                          example_inputs=X[:1]), None),
])
def test_groups_read_by_one_layer_match_a_finite_difference_jacobian(build, names) -> None:
    gated = build().double().eval()  # float64 participations for the differences
    if names is not None:
        assert [layer.name for layer in gated.layers] == names
    else:
        assert {layer.kind for layer in gated.layers} == {"heads", "linear"}
    gated.set_participation(random_participation(gated.n_players, 3))
    grams = stats.collect(gated, [(X, LABELS)], reconstruction=True).reconstruction_gram
    for k in range(len(gated.layers)):
        expected = finite_difference_gram(gated, k, 1e-4)
        np.testing.assert_allclose(grams[k], expected, rtol=1e-6,
                                   atol=1e-9 * np.abs(expected).max())
        assert np.all(np.linalg.eigvalsh(grams[k]) >= -1e-9 * np.abs(expected).max())


def test_a_residual_stage_group_is_refused_naming_it_and_the_fix() -> None:
    gated = attach_gates(resnet_cifar(8, 4, input_size=8, seed=0).eval(), "filter",
                         example_inputs=X[:1].float())
    with pytest.raises(NotImplementedError) as caught:
        stats.collect(gated, [(X.float(), LABELS)], reconstruction=True)
    message = str(caught.value)
    assert "\n" not in message and "ignored_layers" in message and "'conv1'" in message
