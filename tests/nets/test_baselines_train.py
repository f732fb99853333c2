"""Baselines that train with their own machinery: lottery tickets (rewinding), network slimming
(L1 on unit scales) and L0 (hard-concrete gates)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from nets import attach_gates, models
from nets.baselines import lottery as lottery_module
from nets.baselines.base import Budget, PruningError, StepCounter, prunable_layers, train
from nets.baselines.l0 import (
    BETA,
    GAMMA,
    ZETA,
    HardConcreteGate,
    L0Pruner,
    deterministic_gate,
    expected_l0,
    hard_concrete_sample,
    l0_penalty,
    with_l0_gates,
)
from nets.baselines.lottery import LotteryPruner, rewind_weights
from nets.baselines.slimming import (
    ScaleGate,
    SlimmingPruner,
    fold_scales,
    l1_penalty,
    scales,
    with_scale_gates,
)

BUDGET = Budget(epochs=4, batch_size=256, lr=1e-2)
LINEARS = ("1", "3", "5")  # positions of the Linear layers in mlp(64, (16, 8), 10)


def _mlp():
    return models.mlp(64, (16, 8), 10, seed=0)


def _finite_outputs(model, bundle) -> bool:
    model.eval()
    with torch.no_grad():
        return bool(torch.isfinite(model(bundle.test.tensors[0])).all())


def _kept_units(model) -> list[int]:
    return [info.n_units for info in attach_gates(model).layers]


# ---------------------------------------------------------------------------- lottery
def test_lottery_rewinds_survivors_exactly_to_the_step_k_weights(digits, monkeypatch):
    k = 3
    reference = copy.deepcopy(_mlp())
    early = {}

    def capture(net):
        if not early and counter.steps + 1 == k:
            early.update({n: p.detach().clone() for n, p in net.named_parameters()})

    counter = StepCounter()
    train(reference, digits.train, BUDGET, 1, counter, after_step=capture)

    calls = []

    def spy(model, saved, skip=()):
        trained = {n: (layer.weight_orig * layer.weight_mask).detach().clone()
                   for n, layer in zip(LINEARS, prunable_layers(model), strict=True)}
        rewind_weights(model, saved, skip)
        assert saved.keys() >= early.keys()
        for name, value in early.items():
            assert torch.equal(saved[name], value)  # the saved weights are step k's
        moved = False
        for layer, module_name in zip(prunable_layers(model), LINEARS, strict=True):
            mask = layer.weight_mask.bool()
            saved_weight = saved[f"{module_name}.weight"]
            assert torch.equal(layer.weight.detach()[mask], saved_weight[mask])
            assert torch.equal(layer.bias.detach(), saved[f"{module_name}.bias"])
            assert bool((layer.weight.detach()[~mask] == 0).all())
            moved |= not torch.equal(trained[module_name][mask], saved_weight[mask])
        assert moved  # training had moved the survivors away from step k
        calls.append(1)

    monkeypatch.setattr(lottery_module, "rewind_weights", spy)
    outcome = LotteryPruner(rewind_steps=k).prune(_mlp(), digits, 0.7, BUDGET,
                                                 granularity="unstructured",
                                                 schedule="iterative")
    assert len(calls) == BUDGET.rounds
    assert outcome.achieved_sparsity == pytest.approx(0.7, abs=1e-3)
    assert _finite_outputs(outcome.model, digits)


def test_structured_lottery_rewinds_every_parameter_and_keeps_the_gates(digits, monkeypatch):
    calls = []

    def spy(model, saved, skip=()):
        gates = model.get_participation()
        rewind_weights(model, saved, skip)
        for name, parameter in model.named_parameters():
            assert torch.equal(parameter.detach(), saved[name])
        assert torch.equal(model.get_participation(), gates)  # pruned units stay pruned
        assert int((gates == 0).sum()) > 0
        calls.append(1)

    monkeypatch.setattr(lottery_module, "rewind_weights", spy)
    outcome = LotteryPruner(rewind_steps=0).prune(_mlp(), digits, 0.5, BUDGET,
                                                 granularity="structured",
                                                 schedule="iterative")
    assert len(calls) == BUDGET.rounds
    assert sum(_kept_units(outcome.model)) == 12


@pytest.mark.parametrize("granularity", ["unstructured", "structured"])
def test_lottery_masks_only_shrink_and_reach_each_round_target(digits, granularity):
    outcome = LotteryPruner(rewind_steps=2).prune(_mlp(), digits, 0.8, BUDGET,
                                                 granularity=granularity,
                                                 schedule="iterative")
    masks = outcome.details["masks"]
    assert len(masks) == BUDGET.rounds
    if granularity == "unstructured":
        flat = [torch.cat([m.flatten() for m in round_masks]) for round_masks in masks]
        total = flat[0].numel()
        for target, mask in zip(outcome.details["targets"], flat, strict=True):
            assert int((~mask).sum()) == round(target * total)
        final = [layer.weight != 0 for layer in prunable_layers(outcome.model)]
        assert all(int(m.sum()) >= 1 for m in final)  # no layer emptied
        assert not bool((torch.cat([m.flatten() for m in final]) & ~flat[-1]).any())
    else:
        flat = masks
        assert all(k >= 1 for k in _kept_units(outcome.model))
        assert sum(_kept_units(outcome.model)) == int(flat[-1].sum())
    for before, after in zip(flat, flat[1:], strict=False):
        assert not bool((after & ~before).any())  # a pruned weight / unit never returns
        assert int(after.sum()) < int(before.sum())
    assert _finite_outputs(outcome.model, digits)


def test_lottery_counts_every_run_even_beyond_the_epoch_budget(digits):
    budget = Budget(epochs=2, batch_size=256, lr=1e-2, rounds=3)
    outcome = LotteryPruner(rewind_steps=2).prune(_mlp(), digits, 0.5, budget,
                                                 granularity="unstructured",
                                                 schedule="iterative")
    per_epoch = math.ceil(len(digits.train) / budget.batch_size)
    assert outcome.details["epochs_per_run"] == [1, 1, 1, 1]
    assert outcome.steps == 4 * per_epoch > budget.epochs * per_epoch


def test_lottery_rewind_point_must_lie_in_the_first_run(digits):
    with pytest.raises(PruningError, match="rewind_steps"):
        LotteryPruner(rewind_steps=10_000).prune(_mlp(), digits, 0.5, BUDGET,
                                                 granularity="unstructured")


# ---------------------------------------------------------------------------- slimming
def test_slimming_penalty_shrinks_the_scales(digits):
    free = SlimmingPruner(strength=0.0).prune(_mlp(), digits, 0.5, BUDGET)
    penalized = SlimmingPruner(strength=1e-2).prune(_mlp(), digits, 0.5, BUDGET)
    free_l1 = float(free.details["scales"].abs().sum())
    penalized_l1 = float(penalized.details["scales"].abs().sum())
    assert penalized_l1 < 0.95 * free_l1


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.9])
def test_slimming_reaches_the_target_within_one_unit_per_layer(digits, scope, sparsity):
    outcome = SlimmingPruner(scope=scope).prune(_mlp(), digits, sparsity, BUDGET)
    kept = _kept_units(outcome.model)
    assert outcome.details["kept_per_layer"] == kept
    assert all(k >= 1 for k in kept)  # no layer emptied
    players, layers = 24, 2
    assert abs((players - sum(kept)) - sparsity * players) <= layers
    assert outcome.achieved_sparsity == pytest.approx(1 - sum(kept) / players)
    assert _finite_outputs(outcome.model, digits)


def test_slimming_emergent_threshold_removes_small_scales(digits):
    outcome = SlimmingPruner(strength=0.1, threshold=0.6).prune(_mlp(), digits, None, BUDGET)
    gamma = outcome.details["scales"].abs()
    assert outcome.target_sparsity is None
    expected = [max(1, int((gamma[sl] >= 0.6).sum())) for sl in (slice(0, 16), slice(16, 24))]
    assert _kept_units(outcome.model) == expected
    assert _finite_outputs(outcome.model, digits)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_folding_real_scales_keeps_the_outputs(batch_norm):
    generator = torch.Generator().manual_seed(3)
    model = models.lenet5(1, 10, input_size=8, channels=(3, 4), hidden=(6,),
                          batch_norm=batch_norm, seed=1)
    gated = with_scale_gates(model, "all")
    with torch.no_grad():
        for module in gated.modules():
            if isinstance(module, ScaleGate):  # negative and > 1 scales too
                module.scale.copy_(4 * torch.rand(module.n_units, generator=generator) - 2)
    gated.eval()
    x = torch.rand(5, 1, 8, 8, generator=generator)
    before = gated(x).detach()
    gamma = scales(gated)
    folded = fold_scales(gated)
    assert torch.allclose(folded(x), before, atol=1e-5)
    assert gamma.shape == (folded.n_players,)
    assert torch.equal(folded.get_participation(), torch.ones(folded.n_players))
    assert all(p.requires_grad for p in folded.parameters())
    penalty = l1_penalty(0.5)(with_scale_gates(model, "all")).detach()
    assert float(penalty) == pytest.approx(0.5 * folded.n_players)


def test_slimming_prunes_batchnorm_filters(digits):
    model = models.lenet5(1, 10, input_size=8, channels=(4, 6), hidden=(8,), batch_norm=True,
                          seed=0)
    budget = Budget(epochs=2, batch_size=256, lr=1e-2, level="filter")
    outcome = SlimmingPruner().prune(model, digits, 0.5, budget)
    assert outcome.details["kept_per_layer"] == [2, 3]
    assert _finite_outputs(outcome.model, digits)


# ---------------------------------------------------------------------------- L0
def test_hard_concrete_samples_lie_in_the_unit_interval_with_exact_zeros_and_ones():
    log_alpha = torch.linspace(-4.0, 4.0, 41, requires_grad=True)
    z = hard_concrete_sample(log_alpha, (4000, 41), torch.Generator().manual_seed(0))
    assert bool(((z >= 0) & (z <= 1)).all())
    assert bool((z == 0).any()) and bool((z == 1).any())
    assert bool(((z > 0) & (z < 1)).any())
    z.sum().backward()  # differentiable in log_alpha
    assert bool((log_alpha.grad > 0).all())
    # P(z != 0) by Monte Carlo matches the closed form of the expected L0 norm
    frequency = (z > 0).double().mean(dim=0)
    closed = torch.sigmoid(log_alpha.detach().double() - BETA * math.log(-GAMMA / ZETA))
    assert torch.allclose(expected_l0(log_alpha.detach()).double(), closed, atol=1e-6)
    assert torch.allclose(frequency, closed, atol=0.03)
    again = hard_concrete_sample(log_alpha, (4000, 41), torch.Generator().manual_seed(0))
    assert torch.equal(again, z)


def test_l0_gates_are_deterministic_in_eval_mode_and_penalized_in_closed_form():
    generator = torch.Generator().manual_seed(0)
    gated = with_l0_gates(_mlp(), "neuron", 0.3, generator)
    alpha = torch.cat([gated.model[i.gate_index].log_alpha.detach() for i in gated.layers])
    assert alpha.mean().item() == pytest.approx(math.log(0.7 / 0.3), abs=0.02)
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    gated.eval()
    assert torch.equal(gated(x), gated(x))
    gate = gated.model[gated.layers[0].gate_index]
    assert isinstance(gate, HardConcreteGate)
    hidden = torch.ones(3, gate.n_units)
    assert torch.equal(gate(hidden)[0], deterministic_gate(gate.log_alpha.detach()))
    gated.train()
    assert not torch.equal(gated(x), gated(x))  # fresh noise every pass
    expected = 0.2 * torch.sigmoid(alpha - BETA * math.log(-GAMMA / ZETA)).sum()
    assert float(l0_penalty(0.2)(gated).detach()) == pytest.approx(float(expected), rel=1e-6)


def test_l0_larger_strength_prunes_more_units(digits):
    removed = []
    for strength in (0.0, 1e-3, 1e-2):
        outcome = L0Pruner(strength=strength, gate_lr=0.3).prune(_mlp(), digits, None, BUDGET)
        kept = _kept_units(outcome.model)
        assert all(k >= 1 for k in kept)  # no layer emptied
        z = outcome.details["gates"]
        assert 24 - sum(kept) == int((z == 0).sum()) - outcome.details["zero_gate_kept"]
        assert outcome.target_sparsity is None
        assert outcome.achieved_sparsity == pytest.approx(1 - sum(kept) / 24)
        assert _finite_outputs(outcome.model, digits)
        removed.append(24 - sum(kept))
    assert removed == sorted(removed)
    assert removed[-1] > removed[0]


def test_l0_with_a_target_prunes_to_it(digits):
    outcome = L0Pruner().prune(_mlp(), digits, 0.5, BUDGET)
    assert abs((24 - sum(_kept_units(outcome.model))) - 12) <= 2
    assert outcome.steps == BUDGET.epochs * math.ceil(len(digits.train) / BUDGET.batch_size)
    assert _finite_outputs(outcome.model, digits)


# ---------------------------------------------------------------------------- options
@pytest.mark.parametrize(("build", "argument"), [
    (lambda: SlimmingPruner(strength=-1.0), "strength"),
    (lambda: SlimmingPruner(threshold=float("nan")), "threshold"),
    (lambda: SlimmingPruner(scope="everywhere"), "scope"),
    (lambda: SlimmingPruner(gate_lr=0.0), "gate_lr"),
    (lambda: L0Pruner(strength=float("inf")), "strength"),
    (lambda: L0Pruner(droprate_init=1.0), "droprate_init"),
    (lambda: L0Pruner(scope="nowhere"), "scope"),
    (lambda: L0Pruner(gate_lr=-1.0), "gate_lr"),
    (lambda: LotteryPruner(rewind_steps=-1), "rewind_steps"),
    (lambda: LotteryPruner(rewind_steps=2.5), "rewind_steps"),
    (lambda: LotteryPruner(scope="somewhere"), "scope"),
])
def test_bad_constructor_options_raise_naming_the_argument(build, argument):
    with pytest.raises(PruningError, match=argument):
        build()


@pytest.mark.parametrize(("pruner", "options", "argument"), [
    (SlimmingPruner(), {"sparsity": 1.0}, "sparsity"),
    (SlimmingPruner(), {"sparsity": 0.5, "granularity": "unstructured"}, "granularity"),
    (L0Pruner(), {"sparsity": -0.1}, "sparsity"),
    (L0Pruner(), {"sparsity": 0.5, "schedule": "iterative"}, "schedule"),
    (LotteryPruner(), {"sparsity": None}, "sparsity"),
    (LotteryPruner(), {"sparsity": 0.5, "schedule": "progressive"}, "schedule"),
])
def test_bad_prune_options_raise_naming_the_argument(digits, pruner, options, argument):
    sparsity = options.pop("sparsity")
    with pytest.raises(PruningError, match=argument):
        pruner.prune(_mlp(), digits, sparsity, BUDGET, **options)
