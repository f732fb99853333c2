"""Activation, first-order Taylor and OBD scores against hand computations on tiny networks,
and the three pruners behind the baseline contract."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nets import attach_gates, models
from nets.baselines.activation import ActivationPruner
from nets.baselines.base import (
    Budget,
    PruningError,
    apply_weight_masks,
    prunable_layers,
    select_weights,
)
from nets.baselines.obd import OBDPruner
from nets.baselines.taylor import TaylorPruner


def _tiny_mlp() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(),
                         nn.Linear(4, 3)).double()


def _tiny_cnn() -> nn.Sequential:
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 3)).double()


def _batches(shape: tuple[int, ...], seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two batches of unequal size (7 and 5), so the pooling over batches matters."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn((n, *shape), generator=generator, dtype=torch.float64),
             torch.randint(0, 3, (n,), generator=generator)) for n in (7, 5)]


NETS = {"mlp": (_tiny_mlp, (6,)), "cnn": (_tiny_cnn, (1, 6, 6))}


def _setup(kind: str):
    build, shape = NETS[kind]
    return build(), _batches(shape)


def _player_layers(model: nn.Sequential) -> list[nn.Module]:
    """The Linear/Conv layers whose units are players at level 'all' (all but the last)."""
    return prunable_layers(model)[:-1]


def _group_sum(weight_part: torch.Tensor, bias_part: torch.Tensor) -> torch.Tensor:
    """Per unit: sum of a per-parameter quantity over its incoming weights and bias."""
    return weight_part.reshape(weight_part.shape[0], -1).sum(dim=1) + bias_part


# ---------------------------------------------------------------------------- activation
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_activation_score_is_the_mean_absolute_relu_output(kind):
    model, batches = _setup(kind)
    inputs = torch.cat([x for x, _ in batches])
    expected, apoz = [], []
    with torch.no_grad():
        for i, module in enumerate(model):
            if isinstance(module, nn.ReLU):
                a = model[:i + 1](inputs)  # pooled over all 12 examples
                per_unit = a.transpose(0, 1).reshape(a.shape[1], -1)
                expected.append(per_unit.abs().mean(dim=1))
                apoz.append((per_unit == 0).double().mean(dim=1))
    expected, apoz = torch.cat(expected), torch.cat(apoz)
    gated = attach_gates(model, "all")
    scores = ActivationPruner().unit_scores(gated, batches)
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)
    nonzero = ActivationPruner(statistic="apoz").unit_scores(gated, batches)
    torch.testing.assert_close(nonzero, 1.0 - apoz, rtol=1e-12, atol=1e-12)
    assert torch.all(scores >= 0) and torch.all((nonzero >= 0) & (nonzero <= 1))
    assert nonzero.min() < 1  # some ReLU outputs are zero, so APoZ is not trivial here


def test_activation_reads_the_gate_output_when_no_activation_follows():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.5), nn.ReLU(), nn.Linear(5, 3)).double()
    batches = _batches((6,))
    inputs = torch.cat([x for x, _ in batches])
    with torch.no_grad():
        pre = model[0](inputs)  # Dropout is off in eval mode; the gate sits before it
    scores = ActivationPruner().unit_scores(attach_gates(model), batches)
    torch.testing.assert_close(scores, pre.abs().mean(dim=0), rtol=1e-12, atol=1e-12)
    assert bool((pre < 0).any())  # the score really saw pre-activations, not ReLU outputs


# ---------------------------------------------------------------------------- taylor
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_taylor_scores_match_group_sums_of_g_times_w(kind):
    model, batches = _setup(kind)
    unit_expected = torch.zeros(sum(m.weight.shape[0] for m in _player_layers(model)),
                                dtype=torch.float64)
    weight_expected = [torch.zeros_like(m.weight) for m in prunable_layers(model)]
    for inputs, labels in batches:
        model.zero_grad()
        F.cross_entropy(model(inputs), labels).backward()
        with torch.no_grad():
            unit_expected += torch.cat([
                _group_sum(m.weight.grad * m.weight, m.bias.grad * m.bias) ** 2
                for m in _player_layers(model)])
            for total, m in zip(weight_expected, prunable_layers(model), strict=True):
                total += (m.weight.grad * m.weight) ** 2
    model.zero_grad()
    pruner = TaylorPruner()
    units = pruner.unit_scores(attach_gates(model, "all"), batches)
    torch.testing.assert_close(units, unit_expected / 2, rtol=1e-9, atol=1e-14)
    weights = pruner.weight_scores(model, batches)
    for score, expected in zip(weights, weight_expected, strict=True):
        torch.testing.assert_close(score, expected / 2, rtol=1e-9, atol=1e-14)
    assert torch.all(units >= 0) and all(torch.all(s >= 0) for s in weights)
    assert all(m.weight.grad is None for m in prunable_layers(model))  # model untouched


def test_taylor_gate_after_batchnorm_sums_over_its_scale_and_shift():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(48, 3)).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    model.eval()
    batches = _batches((1, 6, 6))
    expected = torch.zeros(3, dtype=torch.float64)
    for inputs, labels in batches:
        model.zero_grad()
        F.cross_entropy(model(inputs), labels).backward()
        bn = model[1]
        expected += (bn.weight.grad * bn.weight + bn.bias.grad * bn.bias).detach() ** 2
    scores = TaylorPruner().unit_scores(attach_gates(model, "filter"), batches)
    torch.testing.assert_close(scores, expected / 2, rtol=1e-9, atol=1e-14)


def test_taylor_masked_weights_score_lowest_and_use_the_masked_weights():
    model, batches = _setup("mlp")
    masks = select_weights([m.weight.detach().abs() for m in prunable_layers(model)], 0.4)
    apply_weight_masks(model, masks)
    plain = _tiny_mlp()
    with torch.no_grad():
        for layer, mask in zip(prunable_layers(plain), masks, strict=True):
            layer.weight.mul_(mask.double())
    masked = TaylorPruner().weight_scores(model, batches)
    reference = TaylorPruner().weight_scores(plain, batches)
    for score, ref, mask in zip(masked, reference, masks, strict=True):
        assert torch.all(torch.isneginf(score[mask == 0]))
        torch.testing.assert_close(score[mask > 0], ref[mask > 0], rtol=1e-12, atol=0.0)


# ---------------------------------------------------------------------------- OBD: Fisher
def _fisher_by_loops(model: nn.Sequential, batches, parameters: list[torch.Tensor]
                     ) -> list[torch.Tensor]:
    """Mean over all examples of the squared gradient of each example's own loss."""
    totals = [torch.zeros_like(p) for p in parameters]
    count = 0
    for inputs, labels in batches:
        for n in range(inputs.shape[0]):
            model.zero_grad()
            F.cross_entropy(model(inputs[n:n + 1]), labels[n:n + 1]).backward()
            for total, p in zip(totals, parameters, strict=True):
                total += p.grad ** 2
            count += 1
    model.zero_grad()
    return [total / count for total in totals]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_obd_fisher_saliency_matches_per_example_loops(kind):
    model, batches = _setup(kind)
    layers = prunable_layers(model)
    fisher_w = _fisher_by_loops(model, batches, [m.weight for m in layers])
    fisher_b = _fisher_by_loops(model, batches, [m.bias for m in layers])
    pruner = OBDPruner(chunk=4)  # chunks smaller than a batch
    weights = pruner.weight_scores(model, batches)
    for score, layer, fisher in zip(weights, layers, fisher_w, strict=True):
        torch.testing.assert_close(score, 0.5 * fisher * layer.weight.detach() ** 2,
                                   rtol=1e-9, atol=1e-15)
    expected = torch.cat([
        _group_sum(0.5 * fw * m.weight.detach() ** 2, 0.5 * fb * m.bias.detach() ** 2)
        for m, fw, fb in zip(layers[:-1], fisher_w, fisher_b, strict=False)])
    units = pruner.unit_scores(attach_gates(model, "all"), batches)
    torch.testing.assert_close(units, expected, rtol=1e-9, atol=1e-15)
    assert torch.all(units >= 0) and all(torch.all(s >= 0) for s in weights)


# ---------------------------------------------------------------------------- OBD: Hessian
def _exact_hessian(model: nn.Sequential, batches, names: list[str]) -> torch.Tensor:
    """The Hessian of the mean cross-entropy over all examples w.r.t. `names`, flattened."""
    parameters = dict(model.named_parameters())
    shapes = [parameters[n].shape for n in names]
    flat = torch.cat([parameters[n].detach().flatten() for n in names])
    inputs = torch.cat([x for x, _ in batches])
    labels = torch.cat([y for _, y in batches])

    def loss(vector: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(vector, [math.prod(s) for s in shapes])
        params = {n: p.reshape(s) for n, p, s in zip(names, pieces, shapes, strict=True)}
        return F.cross_entropy(functional_call(model, params, (inputs,)), labels)

    return torch.autograd.functional.hessian(loss, flat)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_hutchinson_approaches_the_exact_hessian_diagonal(kind):
    model, batches = _setup(kind)
    names = [n for n, _ in model.named_parameters()]
    hessian = _exact_hessian(model, batches, names)
    diagonal = torch.diagonal(hessian)
    samples = 300
    estimate = OBDPruner(curvature="hutchinson", samples=samples, seed=1).curvature_diagonal(
        model, names, batches)
    flat = torch.cat([estimate[n].flatten() for n in names])
    # z_i (Hz)_i = H_ii + sum_{j != i} H_ij z_i z_j: unbiased, variance sum_{j != i} H_ij^2
    spread = ((hessian ** 2).sum(dim=1) - diagonal ** 2).clamp(min=0).sqrt() / math.sqrt(samples)
    assert torch.all((flat - diagonal).abs() <= 5 * spread + 1e-12)
    assert (flat - diagonal).abs().max() > 0  # an estimate, not the exact diagonal
    # ReLU network + cross-entropy: the exact diagonal is nonnegative (Gauss-Newton)
    assert torch.all(diagonal >= -1e-12)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_obd_hutchinson_scores_are_clipped_saliencies(kind):
    model, batches = _setup(kind)
    pruner = OBDPruner(curvature="hutchinson", samples=4, seed=2)
    layers = prunable_layers(model)
    index = {id(m): i for i, m in enumerate(model)}
    weight_names = [f"{index[id(m)]}.weight" for m in layers]
    parameters = dict(model.named_parameters())

    def saliency(diagonal: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        return 0.5 * diagonal[name].clamp(min=0) * parameters[name].detach() ** 2

    # unstructured: probes over all weights
    diagonal = pruner.curvature_diagonal(model, weight_names, batches)
    assert any(bool((d < 0).any()) for d in diagonal.values())  # few probes: noisy signs
    weights = pruner.weight_scores(model, batches)
    for score, name in zip(weights, weight_names, strict=True):
        torch.testing.assert_close(score, saliency(diagonal, name), rtol=1e-12, atol=0.0)
    # structured: probes over the player layers' weights and biases
    groups = [(m, f"{index[id(m)]}.weight", f"{index[id(m)]}.bias") for m in layers[:-1]]
    diagonal = pruner.curvature_diagonal(model, [n for _, w, b in groups for n in (w, b)],
                                         batches)
    expected = torch.cat([_group_sum(saliency(diagonal, w), saliency(diagonal, b))
                          for m, w, b in groups])
    units = pruner.unit_scores(attach_gates(model, "all"), batches)
    torch.testing.assert_close(units, expected, rtol=1e-12, atol=0.0)
    assert torch.all(units >= 0) and all(torch.all(s >= 0) for s in weights)


# ---------------------------------------------------------------------------- the contract
CASES = [
    ("activation", {}, "structured", "one_shot"),
    ("activation", {"statistic": "apoz", "scope": "layer"}, "structured", "one_shot"),
    ("taylor", {}, "structured", "one_shot"),
    ("taylor", {}, "unstructured", "one_shot"),
    ("taylor", {}, "unstructured", "iterative"),
    ("obd", {}, "structured", "one_shot"),
    ("obd", {}, "unstructured", "one_shot"),
    ("obd", {"curvature": "hutchinson"}, "structured", "one_shot"),
    ("obd", {"curvature": "hutchinson"}, "unstructured", "iterative"),
]
PRUNERS = {"activation": ActivationPruner, "taylor": TaylorPruner, "obd": OBDPruner}


@pytest.mark.parametrize(("name", "options", "granularity", "schedule"), CASES)
def test_pruners_reach_the_requested_sparsity(digits, name, options, granularity, schedule):
    model = models.mlp(64, (16, 8), 10, seed=0)
    sparsity = 0.5 if granularity == "structured" else 0.6
    outcome = PRUNERS[name](**options).prune(model, digits, sparsity,
                                             Budget(epochs=2, batch_size=256),
                                             granularity=granularity, schedule=schedule)
    assert outcome.method == name and outcome.steps == 2 * math.ceil(len(digits.train) / 256)
    if granularity == "structured":
        kept = outcome.details["kept_per_layer"]
        assert all(k >= 1 for k in kept) and len(kept) == 2
        removed = 24 - sum(kept)
        assert abs(removed - round(sparsity * 24)) <= len(kept)
    else:
        layers = prunable_layers(outcome.model)
        total = sum(m.weight.numel() for m in layers)
        assert outcome.achieved_sparsity == round(sparsity * total) / total
        assert all(bool((m.weight != 0).any()) for m in layers)
    assert torch.all(torch.isfinite(outcome.model(digits.test.tensors[0][:4])))


def test_bad_options_raise_pruning_errors(digits):
    with pytest.raises(PruningError, match="granularity"):
        ActivationPruner().prune(models.mlp(64, (8,), 10, seed=0), digits, 0.5,
                                 Budget(epochs=1), granularity="unstructured")
    with pytest.raises(PruningError, match="granularity"):
        TaylorPruner().prune(models.mlp(64, (8,), 10, seed=0), digits, 0.5, Budget(epochs=1),
                             granularity="semi")
    with pytest.raises(PruningError, match="curvature"):
        OBDPruner(curvature="exact")
    with pytest.raises(PruningError, match="samples"):
        OBDPruner(curvature="hutchinson", samples=0)
    with pytest.raises(PruningError, match="statistic"):
        ActivationPruner(statistic="median")
    with pytest.raises(PruningError, match="scope"):
        TaylorPruner(scope="network")
