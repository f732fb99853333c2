"""Tests of nets.stats: the statistics the participation game is built from.

Every statistic `collect` returns is compared with an independent computation on a hand-written
forward pass of the effective-parameter network (rows of the weights scaled by s, no gates;
Shah & Khan 2025, Eq. 3-4 and 9-10; Molchanov et al. 2017 for the Taylor criterion). The
activation overlap is checked under both measures: the default correlation (cosine of the
activations centered per unit) and the plain cosine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from equilibria.spec import NetworkStatistics, build_game
from nets.data import load, synthetic_teacher_student
from nets.gates import GatedNetwork, attach_gates
from nets.models import teacher_student
from nets.stats import (
    OVERLAP_MEASURES,
    TAYLOR_MODES,
    activation_cosine,
    batch_game_statistics,
    collect,
    group_by_unit,
)

TIGHT = {"rtol": 1e-10, "atol": 1e-13}


# ----------------------------------------------------------------------------- builders


def randomize(model: nn.Sequential, seed: int) -> nn.Sequential:
    """Draw every weight and bias from a local generator (biases large enough to keep ReLUs on)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear | nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator)
                                    / fan_in ** 0.5)
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=generator))
                module.bias.copy_(0.3 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.3 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    return model


def make_mlp(seed: int = 0, inplace: bool = False,
             activation: type[nn.ReLU | nn.ELU] = nn.ReLU) -> nn.Sequential:
    """5-4-3-2 MLP (ReLU unless told) in float64."""
    model = nn.Sequential(nn.Linear(5, 4), activation(inplace=inplace), nn.Linear(4, 3),
                          activation(inplace=inplace), nn.Linear(3, 2))
    return randomize(model, seed).double()


def make_cnn(seed: int = 0) -> nn.Sequential:
    """Conv-ReLU-MaxPool-Conv-ReLU-Flatten-Linear on 1 x 8 x 8 inputs, float64."""
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 16, 3))
    return randomize(model, seed).double()


def random_s(n: int, seed: int) -> torch.Tensor:
    """Participations in (0.05, 0.95)."""
    return 0.05 + 0.9 * torch.rand(n, generator=torch.Generator().manual_seed(seed),
                                   dtype=torch.float64)


def gate(model: nn.Sequential, level: str, seed: int = 7) -> tuple[GatedNetwork, torch.Tensor]:
    gated = attach_gates(model, level).double()  # float64 gates too, for exact comparisons
    s = random_s(gated.n_players, seed)
    gated.set_participation(s)
    return gated, gated.get_participation()


def batch(shape: tuple[int, ...], n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    y = torch.randint(0, n_classes, (shape[0],), generator=generator)
    return x, y


# ----------------------------------------------------------------------------- references


def hand_cosine(h: torch.Tensor) -> np.ndarray:
    """Cosine of the channels of ``h`` over batch and space, entry by entry."""
    n = h.shape[1]
    rows = h.detach().transpose(0, 1).reshape(n, -1).numpy()
    norms = np.sqrt((rows ** 2).sum(axis=1))
    out = np.eye(n)
    for i in range(n):
        for j in range(n):
            if i != j and norms[i] > 0 and norms[j] > 0:
                out[i, j] = rows[i] @ rows[j] / (norms[i] * norms[j])
    return out


def hand_correlation(h: torch.Tensor) -> np.ndarray:
    """Pearson correlation of the channels of ``h`` over batch and space, entry by entry
    (0 with the others for a constant channel, 1 on the diagonal)."""
    n = h.shape[1]
    rows = h.detach().transpose(0, 1).reshape(n, -1).double().numpy()
    out = np.eye(n)
    for i in range(n):
        for j in range(n):
            x, y = rows[i] - rows[i].mean(), rows[j] - rows[j].mean()
            var_x, var_y = (x * x).sum(), (y * y).sum()
            if i != j and var_x > 0 and var_y > 0:
                out[i, j] = (x * y).sum() / np.sqrt(var_x * var_y)
    return out


HAND_OVERLAP = {"correlation": hand_correlation, "cosine": hand_cosine}


@dataclass
class Reference:
    dloss_ds: np.ndarray
    grad_inner: np.ndarray
    taylor_example: np.ndarray
    taylor_batch: np.ndarray
    sq_norms: np.ndarray
    gram: tuple[np.ndarray, ...]
    activations: tuple[torch.Tensor, ...]

    def overlap(self, measure: str) -> tuple[np.ndarray, ...]:
        return tuple(HAND_OVERLAP[measure](a) for a in self.activations)


def leaves(model: nn.Sequential) -> list[torch.Tensor]:
    """Weight and bias of every Linear/Conv as fresh leaf tensors requiring grad."""
    out = []
    for module in model:
        if isinstance(module, nn.Linear | nn.Conv2d):
            out += [module.weight.detach().clone().requires_grad_(True),
                    module.bias.detach().clone().requires_grad_(True)]
    return out


def finish(loss: torch.Tensor, s: list[torch.Tensor], z: list[torch.Tensor],
           h: list[torch.Tensor], weights: list[torch.Tensor],
           incoming: Callable[[int, list[torch.Tensor]], torch.Tensor],
           outgoing: Callable[[int, torch.Tensor], torch.Tensor],
           include_outgoing: bool) -> Reference:
    """Statistics from a hand-written forward: s leaves, pre-activations z, activations h."""
    grads = torch.autograd.grad(loss, s + z + weights)
    n = len(s)
    g_s, g_z, g_w = grads[:n], grads[n:2 * n], grads[2 * n:]
    dloss_ds, inner, t_ex, t_b, sq, gram = [], [], [], [], [], []
    for k in range(n):
        w, b, w_next = weights[2 * k], weights[2 * k + 1], weights[2 * k + 2]
        gw, gb, gw_next = g_w[2 * k], g_w[2 * k + 1], g_w[2 * k + 2]
        dloss_ds.append(g_s[k])
        value = incoming(k, [gw * w]) + gb * b
        norm = incoming(k, [w * w]) + b * b
        theta = torch.cat([w.reshape(w.shape[0], -1), b[:, None]], dim=1)
        if include_outgoing:
            value = value + outgoing(k, gw_next * w_next)
            norm = norm + outgoing(k, w_next * w_next)
            rows = outgoing_rows(w_next, w.shape[0])
            theta = torch.cat([theta, rows], dim=1)
        inner.append(value)
        sq.append(norm)
        gram.append((theta @ theta.T).detach().numpy())
        product = z[k] * g_z[k]
        per_example = product.reshape(product.shape[0], product.shape[1], -1).sum(dim=2)
        t_ex.append(per_example.abs().sum(dim=0))
        t_b.append(per_example.sum(dim=0).abs())
    cat = lambda xs: torch.cat([x.detach() for x in xs]).numpy()  # noqa: E731
    return Reference(cat(dloss_ds), cat(inner), cat(t_ex), cat(t_b), cat(sq), tuple(gram),
                     tuple(a.detach() for a in h))


def outgoing_rows(w_next: torch.Tensor, n_units: int) -> torch.Tensor:
    """Per-unit rows of the next layer's weight, any column order (the Gram ignores it)."""
    if w_next.dim() == 4:
        return w_next.transpose(0, 1).reshape(n_units, -1)
    return w_next.reshape(w_next.shape[0], n_units, -1).transpose(0, 1).reshape(n_units, -1)


def mlp_reference(model: nn.Sequential, s: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  include_outgoing: bool) -> Reference:
    w1, b1, w2, b2, w3, b3 = leaves(model)
    s1 = s[:4].double().clone().requires_grad_(True)
    s2 = s[4:].double().clone().requires_grad_(True)
    z1 = x @ (s1[:, None] * w1).T + s1 * b1
    h1 = torch.relu(z1)
    z2 = h1 @ (s2[:, None] * w2).T + s2 * b2
    h2 = torch.relu(z2)
    loss = F.cross_entropy(h2 @ w3.T + b3, y)
    return finish(loss, [s1, s2], [z1, z2], [h1, h2], [w1, b1, w2, b2, w3],
                  incoming=lambda k, p: p[0].sum(dim=1),
                  outgoing=lambda k, p: p.sum(dim=0), include_outgoing=include_outgoing)


def cnn_reference(model: nn.Sequential, s: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                  include_outgoing: bool) -> Reference:
    w1, b1, w2, b2, w3, b3 = leaves(model)
    s1 = s[:3].double().clone().requires_grad_(True)
    s2 = s[3:].double().clone().requires_grad_(True)
    z1 = F.conv2d(x, s1.view(-1, 1, 1, 1) * w1, s1 * b1, padding=1)
    h1 = torch.relu(z1)
    z2 = F.conv2d(F.max_pool2d(h1, 2), s2.view(-1, 1, 1, 1) * w2, s2 * b2, padding=1)
    h2 = torch.relu(z2)
    loss = F.cross_entropy(h2.flatten(1) @ w3.T + b3, y)

    def outgoing(k: int, p: torch.Tensor) -> torch.Tensor:
        if k == 0:
            return p.sum(dim=(0, 2, 3))  # input-channel slices of the next conv
        return p.reshape(3, 4, 16).sum(dim=(0, 2))  # flattened column blocks of the Linear

    return finish(loss, [s1, s2], [z1, z2], [h1, h2], [w1, b1, w2, b2, w3],
                  incoming=lambda k, p: p[0].sum(dim=(1, 2, 3)), outgoing=outgoing,
                  include_outgoing=include_outgoing)


def assert_matches(stats: NetworkStatistics, ref: Reference, taylor_mode: str = "per_example",
                   tol: dict[str, float] | None = None,
                   overlap_measure: str = "correlation") -> None:
    tol = tol or TIGHT
    np.testing.assert_allclose(stats.dloss_ds, ref.dloss_ds, **tol)
    np.testing.assert_allclose(stats.grad_inner, ref.grad_inner, **tol)
    taylor = ref.taylor_example if taylor_mode == "per_example" else ref.taylor_batch
    np.testing.assert_allclose(stats.taylor, taylor, **tol)
    np.testing.assert_allclose(stats.sq_norms, ref.sq_norms, **tol)
    for mine, theirs in zip(stats.parameter_gram, ref.gram, strict=True):
        np.testing.assert_allclose(mine, theirs, **tol)
    for mine, theirs in zip(stats.activation_overlap, ref.overlap(overlap_measure), strict=True):
        np.testing.assert_allclose(mine, theirs, **tol)


# ----------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("include_outgoing", [False, True])
@pytest.mark.parametrize("taylor_mode", TAYLOR_MODES)
def test_mlp_statistics_match_hand_computation(include_outgoing: bool, taylor_mode: str) -> None:
    model = make_mlp(seed=1)
    gated, s = gate(model, "neuron")
    x, y = batch((16, 5), 2, seed=2)
    stats = collect(gated, [(x, y)], include_outgoing=include_outgoing, taylor_mode=taylor_mode)
    assert_matches(stats, mlp_reference(model, s, x, y, include_outgoing), taylor_mode)
    assert stats.n_players == 7
    assert all(np.all(np.abs(stats.dloss_ds[stats.layer == k]) > 0) for k in (0, 1))


@pytest.mark.parametrize("include_outgoing", [False, True])
@pytest.mark.parametrize("taylor_mode", TAYLOR_MODES)
def test_cnn_statistics_match_hand_computation(include_outgoing: bool, taylor_mode: str) -> None:
    model = make_cnn(seed=3)
    gated, s = gate(model, "filter")
    x, y = batch((6, 1, 8, 8), 3, seed=4)
    stats = collect(gated, [(x, y)], include_outgoing=include_outgoing, taylor_mode=taylor_mode)
    assert_matches(stats, cnn_reference(model, s, x, y, include_outgoing), taylor_mode)
    assert [b.shape for b in stats.activation_overlap] == [(3, 3), (4, 4)]


@pytest.mark.parametrize("overlap_measure", OVERLAP_MEASURES)
@pytest.mark.parametrize("level", ["neuron", "filter"])
def test_both_overlap_measures_match_hand_computation(level: str, overlap_measure: str) -> None:
    """Correlation centers each unit over the batch and the spatial positions; cosine does not.
    Everything but the overlap is the same under both measures."""
    model = make_mlp(seed=1) if level == "neuron" else make_cnn(seed=3)
    gated, s = gate(model, level)
    x, y = batch((16, 5), 2, seed=2) if level == "neuron" else batch((6, 1, 8, 8), 3, seed=4)
    reference = (mlp_reference if level == "neuron" else cnn_reference)(model, s, x, y, False)
    stats = collect(gated, [(x, y)], overlap_measure=overlap_measure)
    assert_matches(stats, reference, overlap_measure=overlap_measure)
    other = "cosine" if overlap_measure == "correlation" else "correlation"
    for mine, theirs in zip(stats.activation_overlap, reference.overlap(other), strict=True):
        assert not np.allclose(mine, theirs, atol=1e-3)  # the two measures really differ
    default = batch_game_statistics(gated, x, y)
    for mine, theirs in zip(default.activation_overlap, reference.overlap("correlation"),
                            strict=True):
        np.testing.assert_allclose(mine, theirs, **TIGHT)


def test_include_outgoing_default_comes_from_attach_gates() -> None:
    model = make_mlp(seed=1)
    gated = attach_gates(model, include_outgoing=True).double()
    x, y = batch((8, 5), 2, seed=2)
    s = gated.get_participation()
    np.testing.assert_allclose(collect(gated, [(x, y)]).grad_inner,
                               mlp_reference(model, s, x, y, True).grad_inner, **TIGHT)


def test_float32_network_matches_double_reference() -> None:
    model = make_mlp(seed=5)
    gated, s = gate(model, "neuron")
    gated.float()
    x, y = batch((16, 5), 2, seed=6)
    stats = collect(gated, [(x.float(), y)])
    ref = mlp_reference(make_mlp(seed=5), s, x, y, False)
    assert_matches(stats, ref, tol={"rtol": 1e-4, "atol": 1e-6})


def test_overlap_is_the_gate_output_when_no_activation_follows() -> None:
    model = randomize(nn.Sequential(nn.Linear(5, 4), nn.Identity(), nn.Linear(4, 2)), 8).double()
    gated, s = gate(model, "neuron")
    x, y = batch((10, 5), 2, seed=9)
    stats = collect(gated, [(x, y)])
    z = x @ (s.double()[:, None] * model[0].weight).T + s.double() * model[0].bias
    np.testing.assert_allclose(stats.activation_overlap[0], hand_correlation(z), **TIGHT)
    assert bool((z < 0).any())  # the gate output itself, not a rectified version of it
    assert not np.allclose(stats.activation_overlap[0], hand_correlation(torch.relu(z)))
    plain = collect(gated, [(x, y)], overlap_measure="cosine")
    np.testing.assert_allclose(plain.activation_overlap[0], hand_cosine(z), **TIGHT)


def test_group_by_unit_lays_out_like_unit_parameters() -> None:
    for model, level in ((make_mlp(), "neuron"), (make_cnn(), "filter")):
        gated = attach_gates(model, level)
        for k, info in enumerate(gated.layers):
            layer = gated.model[info.layer_index]
            following = gated.model[info.next_index]
            for outgoing in (False, True):
                mine = group_by_unit(gated, k, layer.weight, layer.bias,
                                     following.weight if outgoing else None)
                assert torch.equal(mine, gated.unit_parameters(k, outgoing))


# ----------------------------------------------------------------------------- identities


@settings(max_examples=15, derandomize=True, deadline=None)
@given(s=st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7),
       seed=st.integers(0, 1000))
def test_grad_inner_is_s_times_dloss_ds_for_incoming_groups(s: list[float], seed: int) -> None:
    """Eq. 9 at the raw theta_i carries a factor s_i (no BatchNorm, incoming groups)."""
    gated = attach_gates(make_mlp(seed=seed)).double()
    gated.set_participation(np.array(s))
    x, y = batch((8, 5), 2, seed=seed + 1)
    stats = collect(gated, [(x, y)], include_outgoing=False)
    np.testing.assert_allclose(stats.grad_inner, stats.participation * stats.dloss_ds,
                               rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("level", ["neuron", "filter"])
def test_relu_outgoing_groups_double_the_incoming_term(level: str) -> None:
    """ReLU and max-pool are positively homogeneous, so by Euler's theorem the outgoing part of
    <dL/dtheta_i, theta_i> equals the incoming part s_i dL/ds_i."""
    model = make_mlp(seed=11) if level == "neuron" else make_cnn(seed=11)
    gated, s = gate(model, level)
    shape = (12, 5) if level == "neuron" else (5, 1, 8, 8)
    x, y = batch(shape, 2, seed=12)
    stats = collect(gated, [(x, y)], include_outgoing=True)
    np.testing.assert_allclose(stats.grad_inner, 2 * s.double().numpy() * stats.dloss_ds,
                               rtol=1e-9, atol=1e-14)


def test_taylor_modes_and_scale() -> None:
    """batch mode = |s dL/ds| (Molchanov's sum before the absolute value); per-example mode is
    larger by the triangle inequality and equals it for a single example; a summed loss is B
    times the mean loss."""
    gated, s = gate(make_cnn(seed=13), "filter")
    x, y = batch((6, 1, 8, 8), 3, seed=14)
    example = collect(gated, [(x, y)], taylor_mode="per_example")
    whole = collect(gated, [(x, y)], taylor_mode="batch")
    np.testing.assert_allclose(whole.taylor, np.abs(s.double().numpy() * whole.dloss_ds),
                               **TIGHT)
    assert np.all(example.taylor >= whole.taylor - 1e-15)
    assert np.any(example.taylor > whole.taylor * (1 + 1e-6))
    one_ex = collect(gated, [(x[:1], y[:1])], taylor_mode="per_example")
    one_b = collect(gated, [(x[:1], y[:1])], taylor_mode="batch")
    np.testing.assert_allclose(one_ex.taylor, one_b.taylor, **TIGHT)
    summed = collect(gated, [(x, y)], lambda out, lab: F.cross_entropy(out, lab, reduction="sum"))
    np.testing.assert_allclose(summed.taylor, 6 * example.taylor, rtol=1e-10)
    np.testing.assert_allclose(summed.dloss_ds, 6 * example.dloss_ds, rtol=1e-10)


def test_dloss_ds_matches_finite_differences_with_batchnorm() -> None:
    """With a BatchNorm the gate sits after it; dL/ds is still the derivative of the loss."""
    model = randomize(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Tanh(),
                                    nn.Linear(4, 3)), 15).double().eval()
    gated, s = gate(model, "neuron")
    x, y = batch((9, 5), 3, seed=16)
    stats = collect(gated, [(x, y)])
    h = 1e-6
    for i in range(4):
        values = []
        for sign in (1, -1):
            shifted = s.double().clone()
            shifted[i] += sign * h
            gated.set_participation(shifted)
            with torch.no_grad():
                values.append(F.cross_entropy(gated(x), y).item())
        assert stats.dloss_ds[i] == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-6,
                                                  abs=1e-10)
    gated.set_participation(s)


@pytest.mark.parametrize("overlap_measure", OVERLAP_MEASURES)
def test_dead_unit_has_zero_overlap_and_zero_benefit(overlap_measure: str) -> None:
    gated, s = gate(make_mlp(seed=17), "neuron")
    s = s.double()
    s[1] = 0.0
    gated.set_participation(s)
    x, y = batch((10, 5), 2, seed=18)
    stats = collect(gated, [(x, y)], overlap_measure=overlap_measure)
    overlap = stats.activation_overlap[0]
    assert np.all(np.isfinite(overlap))
    assert overlap[1, 1] == 1.0
    assert np.all(np.delete(overlap[1], 1) == 0.0) and np.all(np.delete(overlap[:, 1], 1) == 0.0)
    assert stats.grad_inner[1] == 0.0 and stats.taylor[1] == 0.0  # s_i = 0 is absorbing
    assert np.all(stats.grad_inner[[0, 2, 3]] != 0.0)


def test_activation_cosine_basics() -> None:
    a = torch.tensor([[1.0, 2.0, 0.0, -1.0], [3.0, 6.0, 0.0, 1.0]])
    cosine = activation_cosine(a)
    assert cosine.dtype == np.float64 and cosine.shape == (4, 4)
    assert cosine[0, 1] == pytest.approx(1.0) and cosine[2, 2] == 1.0
    assert np.all(cosine[2, [0, 1, 3]] == 0.0)
    np.testing.assert_allclose(cosine, cosine.T)
    with pytest.raises(ValueError, match="activations"):
        activation_cosine(torch.ones(3))
    with pytest.raises(TypeError, match="centered"):
        activation_cosine(a, centered=1)


def test_activation_correlation_by_hand() -> None:
    """Columns: u, 2u + 5 (an affine copy), a constant 0.1, -u, and w. By hand, with
    u = (1, 2, 3) and w = (1, 0, 0): centered u = (-1, 0, 1), centered w = (2, -1, -1) / 3, so
    corr(u, w) = (-1) / (sqrt(2) sqrt(6) / 3) = -sqrt(3) / 2."""
    u = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    w = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    a = torch.stack([u, 2 * u + 5, torch.full((3,), 0.1, dtype=torch.float64), -u, w], dim=1)
    corr = activation_cosine(a, centered=True)
    r = -np.sqrt(3) / 2
    expected = np.array([[1.0, 1.0, 0.0, -1.0, r],
                         [1.0, 1.0, 0.0, -1.0, r],
                         [0.0, 0.0, 1.0, 0.0, 0.0],
                         [-1.0, -1.0, 0.0, 1.0, -r],
                         [r, r, 0.0, -r, 1.0]])
    np.testing.assert_allclose(corr, expected, atol=1e-15)
    # 0.1 is not exactly representable: the float64 mean of 0.1, 0.1, 0.1 leaves a residue of
    # ~1e-17 that must not turn into a spurious +-1 correlation.
    assert np.all(corr[2, [0, 1, 3, 4]] == 0.0) and corr[2, 2] == 1.0
    np.testing.assert_allclose(corr, hand_correlation(a), atol=1e-15)
    # The plain cosine of the same columns: the constant is not orthogonal to anything.
    cos = activation_cosine(a)
    np.testing.assert_allclose(cos, hand_cosine(a), atol=1e-15)
    assert cos[0, 2] == pytest.approx(6 / (np.sqrt(14) * np.sqrt(3)))
    assert cos[0, 1] < 1.0 - 1e-3  # an affine copy is not a scaled copy
    # Conv activations are centered over the batch and the spatial positions together.
    conv = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(5),
                       dtype=torch.float64)
    flat = conv.transpose(0, 1).reshape(3, -1).numpy()
    np.testing.assert_allclose(activation_cosine(conv, centered=True), np.corrcoef(flat),
                               atol=1e-14)
    # One example of a dense layer: every unit is constant, so nobody overlaps anybody.
    np.testing.assert_array_equal(activation_cosine(a[:1], centered=True), np.eye(5))


def test_correlation_ignores_each_unit_mean_and_scale() -> None:
    """Correlation is invariant to adding a constant to a unit and to scaling it by c > 0."""
    a = torch.randn(30, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    shifted = a * torch.tensor([1.0, 3.0, 0.5, 2.0], dtype=torch.float64) + torch.tensor(
        [0.0, 7.0, -2.0, 1.0], dtype=torch.float64)
    np.testing.assert_allclose(activation_cosine(shifted, centered=True),
                               activation_cosine(a, centered=True), atol=1e-13)
    np.testing.assert_allclose(activation_cosine(a, centered=True), np.corrcoef(a.T.numpy()),
                               atol=1e-13)


def test_duplicate_units_have_cosine_one_and_equal_statistics() -> None:
    pair = teacher_student(n_features=6, teacher_hidden=4, n_classes=3, duplicates=2, seed=3)
    gated = attach_gates(pair.student).double()
    s = random_s(gated.n_players, 19)
    for original, copy in pair.duplicate_pairs:
        s[copy] = s[original]
    gated.set_participation(s)
    x, y = batch((20, 6), 3, seed=20)
    for outgoing, measure in ((False, "correlation"), (True, "correlation"), (False, "cosine")):
        stats = collect(gated, [(x, y)], include_outgoing=outgoing, overlap_measure=measure)
        for i, j in pair.duplicate_pairs:
            assert stats.activation_overlap[0][i, j] == pytest.approx(1.0, abs=1e-12)
            for name in ("dloss_ds", "grad_inner", "taylor", "sq_norms"):
                values = getattr(stats, name)
                assert values[i] == pytest.approx(values[j], rel=1e-12, abs=1e-15), name
            gram = stats.parameter_gram[0]
            assert gram[i, j] == pytest.approx(gram[i, i]) and gram[j, j] == pytest.approx(
                gram[i, i])


def test_correlation_separates_duplicates_from_unrelated_units_on_synthetic_data() -> None:
    """The reason correlation is the default (module docstring of nets.stats): on the synthetic
    teacher-student data the plain cosine of distinct ReLU units is 0.1-0.7, because ReLU
    outputs share a positive mean; their correlation is near 0, and duplicates have 1."""
    bundle = load("synthetic", n_samples=1000)
    pair = synthetic_teacher_student()
    gated = attach_gates(pair.student)
    x, y = bundle.train.tensors
    corr = batch_game_statistics(gated, x, y).activation_overlap[0]
    cos = batch_game_statistics(gated, x, y, overlap_measure="cosine").activation_overlap[0]
    for i, j in pair.duplicate_pairs:
        assert corr[i, j] == pytest.approx(1.0, abs=1e-6)
    n = len(pair.teacher[0].bias)  # the distinct teacher units 0..n-1
    off = ~np.eye(n, dtype=bool)
    assert cos[:n, :n][off].min() > 0.05 and np.median(cos[:n, :n][off]) > 0.2
    assert np.median(np.abs(corr[:n, :n][off])) < 0.15
    assert np.mean(np.abs(corr[:n, :n][off]) <= 0.3) > 0.8


# ----------------------------------------------------------------------------- batches


def test_two_batches_average_the_single_batch_statistics() -> None:
    gated, _ = gate(make_cnn(seed=21), "filter")
    batches = [batch((4, 1, 8, 8), 3, seed=22), batch((5, 1, 8, 8), 3, seed=23)]
    both = collect(gated, batches, n_batches=2)
    singles = [batch_game_statistics(gated, x, y) for x, y in batches]
    assert both.n_batches == 2 and singles[0].n_batches == 1
    for name in ("dloss_ds", "grad_inner", "taylor"):
        expected = (getattr(singles[0], name) + getattr(singles[1], name)) / 2
        np.testing.assert_allclose(getattr(both, name), expected, **TIGHT)
    for k in range(2):
        expected = (singles[0].activation_overlap[k] + singles[1].activation_overlap[k]) / 2
        np.testing.assert_allclose(both.activation_overlap[k], expected, **TIGHT)
        np.testing.assert_allclose(both.parameter_gram[k], singles[0].parameter_gram[k], **TIGHT)
    first = collect(gated, iter(batches))
    np.testing.assert_allclose(first.grad_inner, singles[0].grad_inner, **TIGHT)
    assert collect(gated, batches, n_batches=5).n_batches == 2


def test_dataloader_float32_inputs_and_inplace_relu() -> None:
    x, y = batch((12, 5), 2, seed=24)
    loader = DataLoader(TensorDataset(x.float(), y), batch_size=4)
    results = []
    for inplace in (False, True):
        gated, s = gate(make_mlp(seed=25, inplace=inplace), "neuron")
        results.append(collect(gated, loader, n_batches=3))
        assert gated.model[2].inplace is inplace
    reference = [mlp_reference(make_mlp(seed=25), s, xb.double(), yb, False)
                 for xb, yb in loader]
    for stats in results:
        assert stats.n_batches == 3
        np.testing.assert_allclose(stats.taylor, np.mean([r.taylor_example for r in reference],
                                                         axis=0), **TIGHT)
        np.testing.assert_allclose(stats.grad_inner, np.mean([r.grad_inner for r in reference],
                                                             axis=0), **TIGHT)


def test_inplace_activation_does_not_corrupt_the_gate_output() -> None:
    """ELU(inplace=True) overwrites its input; a_i and dL/da_i must still be the gate's."""
    x, y = batch((10, 5), 2, seed=35)
    results = []
    for inplace in (False, True):
        gated, _ = gate(make_mlp(seed=36, inplace=inplace, activation=nn.ELU), "neuron")
        results.append(collect(gated, [(x, y)]))
    for name in ("dloss_ds", "grad_inner", "taylor"):
        np.testing.assert_allclose(getattr(results[1], name), getattr(results[0], name), **TIGHT)
    for plain, inplace in zip(results[0].activation_overlap, results[1].activation_overlap,
                              strict=True):
        np.testing.assert_allclose(inplace, plain, **TIGHT)


def test_result_fields_and_options() -> None:
    gated, s = gate(make_cnn(seed=26), "filter")
    x, y = batch((3, 1, 8, 8), 3, seed=27)
    stats = batch_game_statistics(gated, x, y, parameter_gram=False, activation_overlap=False)
    assert stats.parameter_gram is None and stats.activation_overlap is None
    np.testing.assert_array_equal(stats.participation, s.double().numpy())
    assert stats.participation.dtype == np.float64
    np.testing.assert_array_equal(stats.layer, gated.player_layer)
    assert stats.layer_names == tuple(info.name for info in gated.layers) == ("0", "4")
    full = batch_game_statistics(gated, x, y)
    game = build_game(full, payoff="taylor", overlap="activations", beta=0.1, eta=0.05)
    assert game.n_players == 7
    assert build_game(full, payoff="paper", overlap="parameters", eta=0.1).n_players == 7


# ----------------------------------------------------------------------------- no side effects


def snapshot(gated: GatedNetwork) -> dict[str, object]:
    return {
        "state": {k: v.detach().clone() for k, v in gated.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in gated.parameters()],
        "flags": [p.requires_grad for p in gated.parameters()]
        + [g.participation.requires_grad for g in gated.gates()],
        "training": [m.training for m in gated.modules()],
        "hooks": [len(m._forward_hooks) for m in gated.modules()],
    }


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key
    for old, new in zip(before["grads"], after["grads"], strict=True):
        assert (old is None and new is None) or torch.equal(old, new)
    for key in ("flags", "training", "hooks"):
        assert before[key] == after[key], key


@pytest.mark.parametrize("training", [True, False])
def test_collect_leaves_the_network_as_it_was(training: bool) -> None:
    model = randomize(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(),
                                    nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), 28).double()
    gated, _ = gate(model, "neuron")
    gated.train(training)
    generator = torch.Generator().manual_seed(29)
    for p in list(gated.parameters())[:3]:
        p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype)
    gated.model[0].bias.requires_grad_(False)
    gated.model[gated.layers[1].layer_index].weight.requires_grad_(False)
    before = snapshot(gated)
    x, y = batch((8, 5), 2, seed=30)
    stats = collect(gated, [(x, y)], include_outgoing=True)
    with torch.no_grad():
        inside_no_grad = collect(gated, [(x, y)], include_outgoing=True)
    assert_same(before, snapshot(gated))
    np.testing.assert_allclose(stats.grad_inner, inside_no_grad.grad_inner, **TIGHT)
    assert np.all(stats.sq_norms > 0)


def test_state_is_restored_after_an_error() -> None:
    gated, _ = gate(make_mlp(seed=31), "neuron")
    before = snapshot(gated)
    x, y = batch((4, 5), 2, seed=32)
    with pytest.raises(ValueError, match="finite loss"):
        collect(gated, [(x, y)], lambda out, lab: out.sum() * float("nan"))
    with pytest.raises(TypeError, match="inputs, labels"):
        collect(gated, [(x, y), x], n_batches=2)
    assert_same(before, snapshot(gated))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda g, x, y: collect(g, [(x, y)], n_batches=0), ValueError, "n_batches"),
    (lambda g, x, y: collect(g, [(x, y)], n_batches=1.5), TypeError, "n_batches"),
    (lambda g, x, y: collect(g.model, [(x, y)]), TypeError, "attach_gates"),
    (lambda g, x, y: collect(g, []), ValueError, "loader yielded no batches"),
    (lambda g, x, y: collect(g, 3), TypeError, "loader must be an iterable"),
    (lambda g, x, y: collect(g, [x]), TypeError, r"\(inputs, labels\) pairs"),
    (lambda g, x, y: collect(g, [(x, y, y)]), TypeError, "length 3"),
    (lambda g, x, y: collect(g, [(x.numpy(), y)]), TypeError, "torch.as_tensor"),
    (lambda g, x, y: collect(g, [(x[:, :3], y)]), ValueError, "inputs of shape"),
    (lambda g, x, y: collect(g, [(x, y + 5)]), ValueError, "labels"),
    (lambda g, x, y: collect(g, [(x, y)], "mse"), TypeError, "loss_fn"),
    (lambda g, x, y: collect(g, [(x, y)], lambda o, t: F.cross_entropy(o, t, reduction="none")),
     ValueError, "scalar"),
    (lambda g, x, y: collect(g, [(x, y)], lambda o, t: o.detach().sum()), ValueError,
     "autograd graph"),
    (lambda g, x, y: collect(g, [(x, y)], include_outgoing="yes"), TypeError,
     "include_outgoing"),
    (lambda g, x, y: collect(g, [(x, y)], parameter_gram=1), TypeError, "parameter_gram"),
    (lambda g, x, y: collect(g, [(x, y)], taylor_mode="abs"), ValueError, "taylor_mode"),
    (lambda g, x, y: collect(g, [(x, y)], overlap_measure="pearson"), ValueError,
     "overlap_measure"),
    (lambda g, x, y: batch_game_statistics(g, x, y, overlap_measure=None), ValueError,
     "overlap_measure"),
    (lambda g, x, y: batch_game_statistics(g, x.numpy(), y), TypeError, "inputs"),
    (lambda g, x, y: batch_game_statistics(g, x, y, n_batches=2), TypeError, "unexpected"),
])
def test_bad_input_raises_a_clear_error(call: Callable[..., object], error: type[Exception],
                                        match: str) -> None:
    gated, _ = gate(make_mlp(seed=33), "neuron")
    x, y = batch((4, 5), 2, seed=34)
    before = snapshot(gated)
    with pytest.raises(error, match=match):
        call(gated, x, y)
    assert_same(before, snapshot(gated))
