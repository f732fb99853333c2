"""Pruning at initialization: SNIP, GraSP and SynFlow scores against hand or independent
computations, SynFlow's data independence and layer-collapse avoidance, and the harness."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nets import attach_gates, models
from nets.baselines.base import (
    Budget,
    PruningError,
    apply_weight_masks,
    prunable_layers,
    select_weights,
)
from nets.baselines.grasp import GraSPPruner
from nets.baselines.snip import SNIPPruner
from nets.baselines.synflow import SynFlowPruner

PRUNERS = {"snip": SNIPPruner, "grasp": GraSPPruner, "synflow": SynFlowPruner}


def _tiny() -> nn.Sequential:
    """Linear(2, 2) - ReLU - Linear(2, 2) in float64 with set weights (both hidden units
    active on the input (1, 2))."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -0.5], [0.5, 0.25]]))
        model[0].bias.copy_(torch.tensor([0.1, -0.2]))
        model[2].weight.copy_(torch.tensor([[2.0, -1.0], [-0.5, 1.5]]))
        model[2].bias.copy_(torch.tensor([0.3, -0.1]))
    return model


def _tiny_batches():
    return [(torch.tensor([[1.0, 2.0]]), torch.tensor([0])),
            (torch.tensor([[0.5, -1.0], [2.0, 0.5]]), torch.tensor([1, 0]))]


# ---------------------------------------------------------------------------- SNIP
def test_snip_scores_match_a_hand_computed_backward_pass():
    model = _tiny()
    x, y = torch.tensor([1.0, 2.0], dtype=torch.float64), 0
    w1, b1 = model[0].weight.detach(), model[0].bias.detach()
    w2, b2 = model[2].weight.detach(), model[2].bias.detach()
    a = w1 @ x + b1
    assert torch.all(a > 0)
    h = a.clamp(min=0)
    p = torch.softmax(w2 @ h + b2, dim=0)
    dz = p - F.one_hot(torch.tensor(y), 2).double()
    da = (w2.T @ dz) * (a > 0)
    expected = [(torch.outer(da, x) * w1).abs(), (torch.outer(dz, h) * w2).abs()]
    batch = [(x.float().unsqueeze(0), torch.tensor([y]))]
    scores = SNIPPruner().weight_scores(model, batch)
    for score, want in zip(scores, expected, strict=True):
        torch.testing.assert_close(score.double(), want)
    # structured: |s_i dL/ds_i| at s = 1 is |a_i dL/da_i| (the gate scales the pre-activation),
    # which is |sum over the unit's incoming weights and bias of g * theta|
    units = SNIPPruner().unit_scores(attach_gates(model), batch)
    torch.testing.assert_close(units, (da * a).abs())
    group = (torch.outer(da, x) * w1).sum(1) + da * b1
    torch.testing.assert_close(units, group.abs())


def test_snip_structured_is_the_group_sum_over_several_batches():
    model = models.mlp(6, (5, 4), 3, seed=3).double()
    batches = [(torch.randn(7, 6, generator=torch.Generator().manual_seed(k)),
                torch.arange(7) % 3) for k in range(2)]
    gated = attach_gates(model)
    loss = sum(F.cross_entropy(model(x.double()), y) for x, y in batches) / 2
    grads = torch.autograd.grad(loss, list(model.parameters()))
    products = dict(zip((id(p) for p in model.parameters()),
                        (g * p.detach() for g, p in zip(grads, model.parameters(),
                                                        strict=True)), strict=True))
    want = torch.cat([(products[id(model[i].weight)].sum(1) + products[id(model[i].bias)]).abs()
                      for i in (1, 3)])
    torch.testing.assert_close(SNIPPruner().unit_scores(gated, batches), want)


# ---------------------------------------------------------------------------- GraSP
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_grasp_score_is_theta_times_the_exact_hessian_gradient_product(temperature):
    model = _tiny()
    batches = _tiny_batches()
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    theta = torch.cat([p.detach().flatten() for p in model.parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params = {name: chunk.reshape(shape) for name, chunk, shape in
                  zip(names, flat.split(sizes), shapes, strict=True)}
        return sum(F.cross_entropy(functional_call(model, params, (x.double(),)) / temperature,
                                   y) for x, y in batches) / len(batches)

    hessian = torch.autograd.functional.hessian(loss, theta)
    gradient = torch.func.grad(loss)(theta)
    paper = -theta * (hessian @ gradient)  # S(-theta) = -theta * H g; GraSP removes the highest
    ours = dict(zip(names, (-paper).split(sizes), strict=True))
    pruner = GraSPPruner(temperature=temperature)
    scores = pruner.weight_scores(model, batches)
    torch.testing.assert_close(scores[0].double(), ours["0.weight"].reshape(2, 2))
    torch.testing.assert_close(scores[1].double(), ours["2.weight"].reshape(2, 2))
    # the sign: the first weight removed is the one with the highest paper score
    weights = torch.cat([s.flatten() for s in scores])
    first = select_weights(scores, 1 / weights.numel())
    removed = int(torch.argmin(torch.cat([m.flatten() for m in first])))
    paper_weights = torch.cat([paper[:4], paper[6:10]])
    assert removed == int(torch.argmax(paper_weights))
    # structured: the sum over the unit's incoming weights and bias
    units = pruner.unit_scores(attach_gates(model), batches)
    torch.testing.assert_close(units, ours["0.weight"].reshape(2, 2).sum(1) + ours["0.bias"])


def test_grasp_default_temperature_is_the_authors():
    assert GraSPPruner().temperature == 200.0
    with pytest.raises(ValueError, match="temperature"):
        GraSPPruner(temperature=0.0)


# ---------------------------------------------------------------------------- SynFlow
def _chain() -> nn.Sequential:
    """A bias-free ReLU chain 3 -> 4 -> 3 -> 2 with signed weights."""
    generator = torch.Generator().manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(),
                          nn.Linear(4, 3, bias=False), nn.ReLU(),
                          nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        for layer in prunable_layers(model):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))
    return model


def test_synflow_scores_are_sums_of_path_products_of_absolute_weights():
    model = _chain()
    w1, w2, w3 = (layer.weight.detach().double().abs() for layer in prunable_layers(model))
    want = [torch.zeros_like(w) for w in (w1, w2, w3)]
    through = [torch.zeros(4, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)]
    # every input -> output path: input j, hidden i, hidden k, output m (input value 1)
    for j, i, k, m in itertools.product(range(3), range(4), range(3), range(2)):
        flow = w1[i, j] * w2[k, i] * w3[m, k]
        want[0][i, j] += flow
        want[1][k, i] += flow
        want[2][m, k] += flow
        through[0][i] += flow
        through[1][k] += flow
    batch = [(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))]
    scores = SynFlowPruner().weight_scores(model, batch)
    for score, expected in zip(scores, want, strict=True):
        torch.testing.assert_close(score.double(), expected)
    units = SynFlowPruner().unit_scores(attach_gates(model), batch)
    torch.testing.assert_close(units, torch.cat(through))


def test_synflow_is_data_free(digits):
    model = models.mlp(64, (16, 8), 10, seed=4)
    images = digits.train.tensors[0]
    labels = digits.train.tensors[1]
    inputs = [images[:32], torch.randn(3, 1, 8, 8) * 100, torch.zeros(1, 1, 8, 8)]
    pruner = SynFlowPruner()
    weight_scores = [pruner.weight_scores(model, [(x, labels[:len(x)])]) for x in inputs]
    unit_scores = [pruner.unit_scores(attach_gates(model), [(x, labels[:len(x)])])
                   for x in inputs]
    for other in weight_scores[1:]:
        assert all(torch.equal(a, b) for a, b in zip(weight_scores[0], other, strict=True))
    for other in unit_scores[1:]:
        assert torch.equal(unit_scores[0], other)


def _connected_paths(model: nn.Sequential) -> float:
    """Number of input -> output paths through nonzero weights."""
    paths = None
    for layer in prunable_layers(model):
        nonzero = (layer.weight.detach() != 0).double()
        paths = nonzero if paths is None else nonzero @ paths
    return float(paths.sum())


def test_iterative_synflow_avoids_layer_collapse(digits):
    budget = Budget(epochs=1, batch_size=256)
    outcome = SynFlowPruner().prune(models.mlp(64, (16, 8), 10, seed=0), digits, 0.99, budget,
                                    granularity="unstructured", schedule="at_init")
    total = sum(layer.weight.numel() for layer in prunable_layers(outcome.model))
    assert outcome.achieved_sparsity == pytest.approx(round(0.99 * total) / total)
    assert outcome.details["iterations"] == 100
    assert all(int((layer.weight != 0).sum()) >= 1 for layer in prunable_layers(outcome.model))
    assert _connected_paths(outcome.model) > 0
    # the paper's contrast: one-shot synaptic flow at the same sparsity disconnects the net
    # (the big first layer's conserved flow is spread over 1024 weights, all scoring low)
    collapsed = SynFlowPruner(iterations=1).prune(models.mlp(64, (16, 8), 10, seed=0), digits,
                                                  0.99, budget, granularity="unstructured",
                                                  schedule="at_init")
    assert _connected_paths(collapsed.model) == 0


def test_synflow_rejects_bad_iterations():
    with pytest.raises(ValueError, match="iterations"):
        SynFlowPruner(iterations=0)


# ---------------------------------------------------------------------------- the harness
@pytest.mark.parametrize("name", sorted(PRUNERS))
@pytest.mark.parametrize("granularity", ["structured", "unstructured"])
def test_at_init_reaches_the_target_and_trains_the_whole_budget(digits, name, granularity):
    model = models.mlp(64, (16, 8), 10, seed=0)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    pruner = PRUNERS[name]()
    assert pruner.schedules == ("at_init", "one_shot", "iterative")
    outcome = pruner.prune(model, digits, 0.6, Budget(epochs=2, batch_size=256),
                           granularity=granularity, schedule="at_init")
    assert outcome.method == name and outcome.schedule == "at_init"
    assert outcome.steps == 2 * math.ceil(len(digits.train) / 256)
    if granularity == "structured":
        assert all(k >= 1 for k in outcome.details["kept_per_layer"])
        assert abs(outcome.achieved_sparsity - 0.6) <= 2 / 24 + 1e-9
    else:
        assert outcome.achieved_sparsity == pytest.approx(round(0.6 * 1232) / 1232)
    assert torch.all(torch.isfinite(outcome.model(digits.test.tensors[0][:4])))
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_iterative_schedule_rescores_masked_models(digits, name):
    outcome = PRUNERS[name]().prune(models.mlp(64, (16, 8), 10, seed=1), digits, 0.8,
                                    Budget(epochs=2, batch_size=256, rounds=2),
                                    granularity="unstructured", schedule="iterative")
    assert outcome.achieved_sparsity == pytest.approx(round(0.8 * 1232) / 1232)
    assert outcome.steps == 2 * math.ceil(len(digits.train) / 256)


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_masked_weights_score_lowest_and_the_rest_see_the_masked_network(name):
    model = models.mlp(6, (5,), 3, seed=2)
    plain = models.mlp(6, (5,), 3, seed=2)
    masks = [(torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(9)) > 0.4)
             .float() for layer in prunable_layers(model)]
    apply_weight_masks(model, masks)
    with torch.no_grad():
        for layer, mask in zip(prunable_layers(plain), masks, strict=True):
            layer.weight.mul_(mask)
    batches = [(torch.randn(4, 6, generator=torch.Generator().manual_seed(1)),
                torch.tensor([0, 1, 2, 0]))]
    model(batches[0][0])  # the prune hook's weight is now a non-leaf tensor
    scores = PRUNERS[name]().weight_scores(model, batches)
    reference = PRUNERS[name]().weight_scores(plain, batches)
    for score, want, mask in zip(scores, reference, masks, strict=True):
        assert torch.all(score[mask == 0] == -torch.inf)
        torch.testing.assert_close(score[mask > 0], want[mask > 0])


def test_scoring_leaves_batchnorm_statistics_alone():
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    model.train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    batches = [(torch.randn(8, 4, generator=torch.Generator().manual_seed(1)),
                torch.arange(8) % 3)]
    for pruner in (SNIPPruner(), GraSPPruner(), SynFlowPruner()):
        for scores in (pruner.weight_scores(model, batches),
                       [pruner.unit_scores(attach_gates(model), batches)]):
            assert all(torch.all(torch.isfinite(s)) for s in scores)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert model.training


def test_unsupported_schedule_is_refused(digits):
    with pytest.raises(PruningError, match="schedule"):
        SNIPPruner().prune(models.mlp(64, (16, 8), 10, seed=0), digits, 0.5, Budget(epochs=1),
                           schedule="progressive")
