"""Tests of nets.gates: participation gates on real networks (Shah & Khan 2025, Eq. 3-4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nets.checks import PruningError
from nets.gates import GatedNetwork, ParticipationGate, PlayerLayer, attach_gates

# ----------------------------------------------------------------------------- model builders
# (also used by test_apply.py and test_evaluate.py)


def randomize(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Overwrite every parameter and BatchNorm statistic from ``generator`` (no global RNG)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator)
                                    / fan_in ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                n = module.num_features
                if module.affine:
                    module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                    module.bias.copy_(0.3 * torch.randn(n, generator=generator))
                if module.track_running_stats:
                    module.running_mean.copy_(0.3 * torch.randn(n, generator=generator))
                    module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    return model


def mlp(widths: list[int], activation: type[nn.Module] = nn.ReLU, batchnorm: bool = False,
        seed: int = 0) -> nn.Sequential:
    """Linear-act stacks with the given widths (input first, output last)."""
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        modules.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            if batchnorm:
                modules.append(nn.BatchNorm1d(n_out))
            modules.append(activation())
    return randomize(nn.Sequential(*modules), torch.Generator().manual_seed(seed))


def cnn(c1: int = 3, c2: int = 4, hidden: int = 5, n_out: int = 3, batchnorm: bool = False,
        seed: int = 0) -> nn.Sequential:
    """Conv-ReLU-MaxPool-Conv-ReLU-Flatten-Linear-ReLU-Linear on 1 x 8 x 8 inputs."""
    def block(n_in: int, n_out: int) -> list[nn.Module]:
        conv = [nn.Conv2d(n_in, n_out, 3, padding=1)]
        return conv + ([nn.BatchNorm2d(n_out)] if batchnorm else []) + [nn.ReLU()]
    modules = (block(1, c1) + [nn.MaxPool2d(2)] + block(c1, c2)
               + [nn.Flatten(), nn.Linear(c2 * 16, hidden), nn.ReLU(), nn.Linear(hidden, n_out)])
    return randomize(nn.Sequential(*modules), torch.Generator().manual_seed(seed))


def inputs(model: nn.Sequential, batch: int = 6, seed: int = 1) -> torch.Tensor:
    """A random batch shaped for ``model`` (an mlp or a cnn from this file)."""
    generator = torch.Generator().manual_seed(seed)
    first = model[0]
    shape = (batch, first.in_features) if isinstance(first, nn.Linear) else (batch, 1, 8, 8)
    return torch.randn(shape, generator=generator)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5,
                 atol: float = 1e-6) -> None:
    """``torch.allclose`` with a readable failure (torch.testing imports torch.distributed)."""
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    difference = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), f"max |diff| = {difference:g}"


MODELS = {
    "mlp": lambda: mlp([5, 7, 6, 3]),
    "mlp_bn": lambda: mlp([5, 7, 6, 3], batchnorm=True),
    "cnn": lambda: cnn(),
    "cnn_bn": lambda: cnn(batchnorm=True),
}


# ----------------------------------------------------------------------------- s = 1 is neutral


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_gates_at_one_leave_outputs_and_gradients_unchanged(name: str, train: bool) -> None:
    model = MODELS[name]()
    gated = attach_gates(model, level="all")
    model.train(train)
    gated.train(train)
    x = inputs(model)
    out_plain, out_gated = model(x), gated(x)
    assert torch.equal(out_plain, out_gated)
    out_plain.square().sum().backward()
    out_gated.square().sum().backward()
    plain_params = list(model.parameters())
    gated_params = list(gated.parameters())
    assert len(plain_params) == len(gated_params)
    for p, q in zip(plain_params, gated_params, strict=True):
        assert p.grad is not None and q.grad is not None
        assert_close(p.grad, q.grad, rtol=0, atol=0)


def test_attach_does_not_modify_the_input_model() -> None:
    model = cnn(batchnorm=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gated = attach_gates(model, level="all")
    gated.set_participation(torch.zeros(gated.n_players))
    with torch.no_grad():
        for p in gated.parameters():
            p.add_(1.0)
    assert len(model) == 11
    assert not any(isinstance(m, ParticipationGate) for m in model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


# ----------------------------------------------------------------------------- structure


def test_layers_place_gates_after_batchnorm_and_skip_the_output_layer() -> None:
    gated = attach_gates(cnn(c1=3, c2=4, hidden=5, batchnorm=True), level="all")
    # 0 conv, 1 bn, 2 gate, 3 relu, 4 pool, 5 conv, 6 bn, 7 gate, 8 relu, 9 flatten,
    # 10 linear, 11 gate, 12 relu, 13 linear
    assert gated.layers == (
        PlayerLayer("0", "conv2d", 3, 0, 0, 2, 1, 5),
        PlayerLayer("5", "conv2d", 4, 3, 5, 7, 6, 10),
        PlayerLayer("10", "linear", 5, 7, 10, 11, None, 13),
    )
    assert [type(m).__name__ for m in gated.model][:4] == [
        "Conv2d", "BatchNorm2d", "ParticipationGate", "ReLU"]
    assert gated.n_players == 12
    np.testing.assert_array_equal(gated.player_layer, [0] * 3 + [1] * 4 + [2] * 5)
    assert [g.n_units for g in gated.gates()] == [3, 4, 5]


def test_levels_select_neurons_or_filters() -> None:
    model = cnn(c1=2, c2=3, hidden=4)
    neuron = attach_gates(model, level="neuron")
    filters = attach_gates(model, level="filter")
    assert [layer.kind for layer in neuron.layers] == ["linear"]
    assert [layer.kind for layer in filters.layers] == ["conv2d", "conv2d"]
    assert (neuron.n_players, filters.n_players) == (4, 5)
    assert filters.layers[-1].next_index == 8  # the Linear after Flatten (no gate after it)


def test_gate_multiplies_along_dim_one() -> None:
    gate = ParticipationGate(3)
    gate.participation.copy_(torch.tensor([0.0, 0.5, 2.0]))
    x = torch.ones(2, 3, 4, 5)
    assert torch.equal(gate(x)[:, 1], torch.full((2, 4, 5), 0.5))
    assert torch.equal(gate(torch.ones(2, 3)), torch.tensor([[0.0, 0.5, 2.0]] * 2))
    with pytest.raises(ValueError, match="shape"):
        gate(torch.ones(2, 4))


# ----------------------------------------------------------------------------- participation


def test_participation_is_a_buffer_not_a_parameter() -> None:
    gated = attach_gates(mlp([4, 5, 3]))
    assert "model.1.participation" in gated.state_dict()
    assert all(p is not gated.model[1].participation for p in gated.parameters())
    s = torch.linspace(0.2, 1.0, 5)
    gated.set_participation(s)
    x = inputs(gated.model)
    gated(x).sum().backward()
    with torch.no_grad():  # what any weight optimizer does with parameters()
        for p in gated.parameters():
            p.sub_(0.5 * p.grad)
    assert gated.model[0].weight.grad.abs().sum() > 0
    assert torch.equal(gated.get_participation(), s)


def test_participation_gradient_by_autograd_matches_finite_differences() -> None:
    gated = attach_gates(cnn(c1=2, c2=3, hidden=4, batchnorm=True), level="all").double()
    gated.eval()
    x = inputs(gated.model).double()
    s0 = torch.linspace(0.1, 0.9, gated.n_players, dtype=torch.float64)
    gated.set_participation(s0)
    for gate in gated.gates():
        gate.participation.requires_grad_(True)
    loss = gated(x).square().mean()
    loss.backward()
    autograd = torch.cat([gate.participation.grad for gate in gated.gates()])
    for gate in gated.gates():
        gate.participation.requires_grad_(False)

    def loss_at(s: torch.Tensor) -> float:
        gated.set_participation(s)
        with torch.no_grad():
            return gated(x).square().mean().item()

    h = 1e-6
    numeric = torch.zeros_like(s0)
    for i in range(gated.n_players):
        step = torch.zeros_like(s0)
        step[i] = h
        numeric[i] = (loss_at(s0 + step) - loss_at(s0 - step)) / (2 * h)
    assert autograd.abs().max() > 1e-4
    assert_close(autograd, numeric, rtol=1e-5, atol=1e-8)


def test_get_participation_is_a_copy_and_set_accepts_numpy() -> None:
    gated = attach_gates(mlp([4, 3, 2, 2]))
    values = np.array([0.0, 0.25, 0.5, 1.0, 0.75])
    gated.set_participation(values)
    s = gated.get_participation()
    assert s.dtype == torch.float32
    np.testing.assert_allclose(s.numpy(), values)
    s[:] = 0.5
    np.testing.assert_allclose(gated.get_participation().numpy(), values)
    assert torch.equal(gated.model[1].participation, torch.tensor([0.0, 0.25, 0.5]))


@pytest.mark.parametrize("bad, message", [
    (np.ones(4), "shape"),
    (np.ones((5, 1)), "shape"),
    (np.array([0.5, 0.5, np.nan, 0.5, 0.5]), "NaN"),
    (np.array([0.5, 0.5, 1.5, 0.5, 0.5]), r"\[0, 1\]"),
    (torch.full((5,), -0.1), r"\[0, 1\]"),
    ("abc", "numeric"),
])
def test_set_participation_rejects_bad_values(bad: object, message: str) -> None:
    gated = attach_gates(mlp([4, 3, 2, 2]))
    with pytest.raises(ValueError, match=message) as info:
        gated.set_participation(bad)
    assert str(info.value).startswith("s ")
    assert torch.equal(gated.get_participation(), torch.ones(5))


# ----------------------------------------------------------------------------- unit parameters


def test_unit_parameters_linear_rows_bias_and_outgoing_columns() -> None:
    model = mlp([4, 3, 2])
    gated = attach_gates(model, include_outgoing=True)
    groups = gated.unit_parameters(0)
    w, b, w_next = model[0].weight, model[0].bias, model[2].weight
    assert groups.shape == (3, 4 + 1 + 2)
    for i in range(3):
        expected = torch.cat([w[i], b[i:i + 1], w_next[:, i]])
        assert torch.equal(groups[i], expected)
    assert torch.equal(gated.unit_parameters(0, include_outgoing=False),
                       torch.cat([w, b[:, None]], dim=1))


def test_unit_parameters_without_bias() -> None:
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 2))
    gated = attach_gates(model)
    assert torch.equal(gated.unit_parameters(0), gated.model[0].weight)


def test_unit_parameters_conv_filters_and_flattened_blocks() -> None:
    model = cnn(c1=2, c2=3, hidden=4)
    gated = attach_gates(model, level="filter")
    first = gated.unit_parameters(0, include_outgoing=True)
    conv0, conv1 = model[0], model[3]
    assert first.shape == (2, 9 + 1 + 3 * 9)
    assert torch.equal(first[1], torch.cat([conv0.weight[1].flatten(), conv0.bias[1:2],
                                            conv1.weight[:, 1].flatten()]))
    second = gated.unit_parameters(1, include_outgoing=True)
    linear = model[6]
    assert second.shape == (3, 2 * 9 + 1 + 4 * 16)
    # channel 2 of the conv feeds flattened columns 32..47 of the Linear
    assert torch.equal(second[2, 19:], linear.weight[:, 32:48].flatten())


def test_unit_parameters_gradient_reaches_the_real_weights() -> None:
    gated = attach_gates(cnn(c1=2, c2=3, hidden=4), level="all", include_outgoing=True)
    gated.unit_parameters(1).square().sum().backward()
    conv, linear = gated.model[4], gated.model[8]
    assert gated.layers[1].layer_index == 4 and gated.layers[1].next_index == 8
    assert_close(conv.weight.grad, 2 * conv.weight.detach())
    assert_close(conv.bias.grad, 2 * conv.bias.detach())
    assert_close(linear.weight.grad, 2 * linear.weight.detach())
    assert gated.model[0].weight.grad is None


@pytest.mark.parametrize("layer, error", [(2, ValueError), (-1, ValueError), ("0", TypeError)])
def test_unit_parameters_rejects_bad_layer(layer: object, error: type[Exception]) -> None:
    gated = attach_gates(mlp([4, 3, 3, 2]))
    with pytest.raises(error, match="layer"):
        gated.unit_parameters(layer)


# ----------------------------------------------------------------------------- bad models


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.mark.parametrize("model", [
    Custom(), nn.Sequential(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), nn.Linear(3, 2))])
def test_attach_traces_other_modules_and_needs_an_example_input(model: nn.Module) -> None:
    with pytest.raises(PruningError, match="example_inputs="):
        attach_gates(model, level="all")
    with pytest.raises(TypeError, match="nn.Sequential"):
        attach_gates(model, level="all", traced=False)


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 2)), "LayerNorm"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(2, 2)), "Flatten"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 1)), "grouped"),
    (nn.Sequential(nn.Linear(2, 3), nn.BatchNorm2d(3), nn.Linear(3, 2)), "BatchNorm2d"),
    (nn.Sequential(*[nn.Linear(2, 2)] * 3), "same module"),
])
def test_attach_rejects_unsupported_models_with_type_error(model: nn.Module,
                                                           message: str) -> None:
    with pytest.raises(TypeError, match=message):
        attach_gates(model, level="all")


def test_attach_rejects_already_gated_models() -> None:
    gated = attach_gates(mlp([3, 3, 2]))
    with pytest.raises(TypeError, match="already"):
        attach_gates(gated)
    with pytest.raises(TypeError, match="already gated"):
        attach_gates(gated.model)


@pytest.mark.parametrize("model, level", [
    (mlp([4, 3, 2]), "neurons"),
    (mlp([4, 2]), "neuron"),
    (mlp([4, 3, 2]), "filter"),
    (cnn(), None),
])
def test_attach_value_errors_name_level(model: nn.Sequential, level: str | None) -> None:
    with pytest.raises(ValueError, match="level"):
        attach_gates(model, level=level)  # type: ignore[arg-type]


def test_gated_network_is_a_module_whose_forward_delegates() -> None:
    gated = attach_gates(mlp([4, 3, 2]))
    assert isinstance(gated, GatedNetwork) and isinstance(gated.model, nn.Sequential)
    gated.set_participation(np.array([1.0, 0.0, 0.5]))
    x = inputs(gated.model)
    assert torch.equal(gated(x), gated.model(x))
    hidden = gated.model[0](x) * torch.tensor([1.0, 0.0, 0.5])
    assert_close(gated(x), gated.model[3](torch.relu(hidden)))
