"""The curvature that `collect` measures for the second-order readings, checked exactly.

- the empirical Fisher factors equal the mean outer product of per-example gate gradients
  taken one example at a time;
- the Gauss-Newton factors equal J^T (diag p - p p^T) J from the logits' Jacobian in s;
- with logits affine in the gates (one hidden layer), Gauss-Newton is the exact Hessian, so the
  game's predicted loss change for removing a random set of units, scaled by t, is off by
  O(t^3); with the exact Hessian of a two-hidden-layer tanh net the same holds;
- the reconstruction Gram gives the next layer's output error exactly (ReLU nets);
- end to end: collect -> build_game("second_order") -> newton -> certified and unique.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from equilibria import analyze_stability, nash_gap, solve
from equilibria.competition import LowRank
from equilibria.secondorder import QuadraticModel
from equilibria.spec import build_game, quadratic_model
from nets import data, models
from nets.gates import GatedNetwork, attach_gates
from nets.stats import collect


@pytest.fixture(scope="module")
def sample() -> tuple[torch.Tensor, torch.Tensor]:
    bundle = data.load("digits", limit=96)
    inputs, labels = bundle.train.tensors
    return inputs.double(), labels


def _gated(hidden: tuple[int, ...], activation: str = "relu", seed: int = 0) -> GatedNetwork:
    gated = attach_gates(models.mlp(64, hidden, 10, activation=activation, seed=seed))
    gated.double()
    gated.eval()
    return gated


def _loss_at(gated: GatedNetwork, s: torch.Tensor, inputs: torch.Tensor,
             labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy as a differentiable function of the participation vector."""
    buffers, offset = {}, 0
    for info in gated.layers:
        buffers[f"{info.gate_index}.participation"] = s[offset:offset + info.n_units]
        offset += info.n_units
    outputs = torch.func.functional_call(gated.model, buffers, (inputs,))
    return F.cross_entropy(outputs, labels)


def _removal(gated: GatedNetwork, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A generic s0 in (0.5, 1) and a target removing a random third of the units."""
    rng = np.random.default_rng(seed)
    s0 = rng.uniform(0.5, 1.0, size=gated.n_players)
    target = s0.copy()
    target[rng.random(gated.n_players) < 1 / 3] = 0.0
    return s0, target


def _errors(gated: GatedNetwork, model: QuadraticModel, target: np.ndarray,
            inputs: torch.Tensor, labels: torch.Tensor,
            ts: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """|measured - predicted| for s = s0 + t (target - s0), second and first order."""
    s0 = model.reference
    base = float(_loss_at(gated, torch.from_numpy(s0), inputs, labels).detach())
    second, first = [], []
    for t in ts:
        s = s0 + t * (target - s0)
        measured = float(_loss_at(gated, torch.from_numpy(s), inputs, labels).detach()) - base
        second.append(abs(measured - model.loss_change(s)))
        first.append(abs(measured - model.gradient @ (s - s0)))
    return np.array(second), np.array(first)


def _slope(ts: tuple[float, ...], errors: np.ndarray) -> float:
    return float(np.polyfit(np.log(ts), np.log(errors), 1)[0])


TS = (0.2, 0.1, 0.05, 0.025)


@pytest.mark.parametrize("seed", [0, 1])
def test_fisher_factors_are_per_example_gradient_outer_products(sample, seed: int) -> None:
    inputs, labels = sample
    gated = _gated((12, 8), seed=seed)
    gated.set_participation(_removal(gated, seed)[0])
    stats = collect(gated, [(inputs, labels)], curvature="fisher", damping=0.0)
    s = gated.get_participation().to(torch.float64)
    per_example = torch.stack([
        torch.func.grad(lambda v, i=i: _loss_at(gated, v, inputs[i:i + 1], labels[i:i + 1]))(s)
        for i in range(inputs.shape[0])]).detach().numpy()
    F_ = stats.curvature_factors  # 96 examples > 20 gates: narrowed to at most 20 columns
    assert F_.shape[0] == gated.n_players and F_.shape[1] <= gated.n_players
    np.testing.assert_allclose(F_ @ F_.T, per_example.T @ per_example / inputs.shape[0],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(per_example.mean(axis=0), stats.dloss_ds, rtol=1e-9,
                               atol=1e-12)


def test_gauss_newton_factors_match_the_logit_jacobian(sample) -> None:
    inputs, labels = sample
    gated = _gated((10, 6), seed=2)
    gated.set_participation(_removal(gated, 2)[0])
    stats = collect(gated, [(inputs, labels)], curvature="gauss_newton")
    s = gated.get_participation().to(torch.float64)

    def logits(v: torch.Tensor) -> torch.Tensor:
        buffers, offset = {}, 0
        for info in gated.layers:
            buffers[f"{info.gate_index}.participation"] = v[offset:offset + info.n_units]
            offset += info.n_units
        return torch.func.functional_call(gated.model, buffers, (inputs,))

    J = torch.autograd.functional.jacobian(logits, s)                # (B, C, N)
    p = torch.softmax(logits(s), dim=1)
    out_hessian = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    gn = torch.einsum("bcn,bcd,bdm->nm", J, out_hessian, J).detach().numpy() / inputs.shape[0]
    F_ = stats.curvature_factors
    np.testing.assert_allclose(F_ @ F_.T, gn, rtol=1e-8, atol=1e-12)
    assert stats.curvature == "gauss_newton" and stats.curvature_damping == 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prediction_is_exact_to_second_order_when_logits_are_affine_in_the_gates(
        sample, seed: int) -> None:
    # one hidden layer: the logits are affine in s, so the loss's Hessian in s is exactly the
    # Gauss-Newton matrix, and the quadratic model's error is the Taylor remainder, O(t^3)
    inputs, labels = sample
    gated = _gated((16,), seed=seed)
    s0, target = _removal(gated, seed)
    gated.set_participation(s0)
    stats = collect(gated, [(inputs, labels)], curvature="gauss_newton", damping=0.0)
    s = gated.get_participation().to(torch.float64)
    hessian = torch.autograd.functional.hessian(lambda v: _loss_at(gated, v, inputs, labels), s)
    F_ = stats.curvature_factors
    np.testing.assert_allclose(F_ @ F_.T, hessian.detach().numpy(), rtol=1e-8, atol=1e-12)
    model = quadratic_model(stats)
    second, first = _errors(gated, model, target, inputs, labels, TS)
    assert 2.6 <= _slope(TS, second) <= 3.4
    assert 1.6 <= _slope(TS, first) <= 2.4
    assert second[-1] < 0.05 * first[-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_hessian_of_a_deeper_net_predicts_to_second_order(sample, seed: int) -> None:
    # two hidden tanh layers: the loss is smooth in s but not a function of affine logits; the
    # exact Hessian (through QuadraticModel(matrix=...)) still gives an O(t^3) error, and the
    # Gauss-Newton curvature, which drops the logits' second derivatives, only O(t^2)
    inputs, labels = sample
    gated = _gated((12, 8), activation="tanh", seed=seed)
    s0, target = _removal(gated, seed)
    gated.set_participation(s0)
    stats = collect(gated, [(inputs, labels)], curvature="gauss_newton", damping=0.0)
    s = gated.get_participation().to(torch.float64)
    hessian = torch.autograd.functional.hessian(lambda v: _loss_at(gated, v, inputs, labels), s)
    exact = QuadraticModel(stats.dloss_ds, stats.participation, matrix=hessian.detach().numpy())
    second, _ = _errors(gated, exact, target, inputs, labels, TS)
    assert 2.6 <= _slope(TS, second) <= 3.4
    gn_errors, _ = _errors(gated, quadratic_model(stats), target, inputs, labels, TS)
    assert 1.6 <= _slope(TS, gn_errors) <= 2.4


def _next_outputs(gated: GatedNetwork, layer: int, inputs: torch.Tensor) -> torch.Tensor:
    info = gated.layers[layer]
    with torch.no_grad():
        return gated.model[:info.next_index + 1](inputs)


@pytest.mark.parametrize("build", ["mlp", "conv"])
def test_reconstruction_gram_is_the_next_layer_error(sample, build: str) -> None:
    inputs, labels = sample
    torch.manual_seed(0)
    if build == "mlp":
        gated = attach_gates(models.mlp(64, (12, 8), 10, seed=0))
    else:
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 10))
        gated = attach_gates(model, level="all")
        inputs = inputs.reshape(-1, 1, 8, 8)
    gated.double()
    gated.eval()
    s0, target = _removal(gated, 3)
    gated.set_participation(s0)
    stats = collect(gated, [(inputs, labels)], reconstruction=True, damping=0.0)
    rng = np.random.default_rng(4)
    for k, info in enumerate(gated.layers):
        reference = _next_outputs(gated, k, inputs)
        s = s0.copy()
        s[info.players] = target[info.players] * rng.uniform(0, 1, size=info.n_units)
        gated.set_participation(s)
        moved = _next_outputs(gated, k, inputs)
        gated.set_participation(s0)
        error = float(((moved - reference) ** 2).sum(dim=tuple(range(1, moved.dim()))).mean())
        d = s[info.players] - s0[info.players]
        assert d @ stats.reconstruction_gram[k] @ d == pytest.approx(error, rel=1e-9)


def test_second_order_game_end_to_end_is_certified_and_unique(sample) -> None:
    inputs, labels = sample
    gated = _gated((32, 16), seed=5)
    stats = collect(gated, [(inputs[:48], labels[:48]), (inputs[48:], labels[48:])],
                    n_batches=2, curvature="fisher", damping=1e-3)
    game = build_game(stats, "second_order", gamma=1e-3)
    assert isinstance(game.competition, LowRank)
    assert game.competition.rank <= min(gated.n_players, inputs.shape[0])
    result = solve(game, "newton", tol=1e-10)
    assert result.converged and nash_gap(game, result.profile) <= 1e-10
    assert analyze_stability(game, result.profile).unique
    recon = build_game(collect(gated, [(inputs, labels)], reconstruction=True),
                       "reconstruction", gamma=1e-3)
    assert solve(recon, "newton", tol=1e-10).converged


def test_refusals(sample) -> None:
    inputs, labels = sample
    gated = _gated((8,))
    batch = [(inputs, labels)]
    with pytest.raises(ValueError, match="curvature must be one of"):
        collect(gated, batch, curvature="hessian")
    with pytest.raises(ValueError, match="damping"):
        collect(gated, batch, curvature="fisher", damping=-1.0)
    with pytest.raises(ValueError, match="cross-entropy"):
        collect(gated, batch, lambda out, y: F.cross_entropy(out, y) * 2,
                curvature="gauss_newton")
    norm = attach_gates(nn.Sequential(nn.Linear(64, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                      nn.Linear(8, 10)))
    norm.train()
    with pytest.raises(ValueError, match="BatchNorm"):
        collect(norm, [(inputs.float(), labels)], curvature="fisher")
    plain = collect(gated, batch)
    assert plain.curvature_factors is None and plain.reconstruction_gram is None


def test_second_order_collection_has_no_side_effects(sample) -> None:
    inputs, labels = sample
    gated = _gated((8, 6), seed=1)
    s0 = _removal(gated, 1)[0]
    gated.set_participation(s0)
    before = {name: value.clone() for name, value in gated.state_dict().items()}
    collect(gated, [(inputs, labels)], curvature="gauss_newton", reconstruction=True)
    collect(gated, [(inputs, labels)], curvature="fisher")
    for name, value in gated.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in gated.parameters())
    assert not any(gate.participation.requires_grad for gate in gated.gates())
    assert not gated.training
