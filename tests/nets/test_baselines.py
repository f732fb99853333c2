"""The baseline contract: registry, sparsity targets, masks, and the comparison table."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import prune

from nets import attach_gates, models
from nets.baselines import REGISTRY, Budget, PruningError, get
from nets.baselines.base import (
    apply_weight_masks,
    current_weight_masks,
    prunable_layers,
    schedule_targets,
    select_units,
    select_weights,
)
from nets.compare import COLUMNS, compare, to_csv, to_markdown
from nets.evaluate import Evaluation


def _mlp(seed: int = 0):
    return models.mlp(64, (16, 8), 10, seed=seed)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       sparsity=st.floats(0.0, 0.99), seed=st.integers(0, 10_000),
       scope=st.sampled_from(["global", "layer"]))
def test_unit_selection_hits_the_target_and_never_empties_a_layer(widths, sparsity, seed,
                                                                   scope):
    gated = attach_gates(models.mlp(5, tuple(widths), 3, seed=0))
    scores = torch.rand(gated.n_players, generator=torch.Generator().manual_seed(seed))
    keep = select_units(gated, scores, sparsity, scope)
    for info in gated.layers:
        assert keep[info.players].any()
        if scope == "layer":
            wanted = info.n_units - min(round(sparsity * info.n_units), info.n_units - 1)
            assert int(keep[info.players].sum()) == wanted
    removed = int((~keep).sum())
    target = round(sparsity * gated.n_players)
    # within one unit per layer of the target (rounding per layer, or protecting the best
    # unit of a layer)
    assert abs(removed - target) <= len(gated.layers)
    if scope == "global":
        assert removed <= target
    # the removed players are the lowest-scoring among the unprotected ones
    if scope == "global" and removed:
        assert scores[~keep].max() <= scores[keep].max()


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.3, 0.75, 0.9])
def test_magnitude_masks_match_torch_l1_unstructured(scope, sparsity):
    ours, theirs = _mlp(1), _mlp(1)
    masks = select_weights([m.weight.detach().abs() for m in prunable_layers(ours)], sparsity,
                           scope)
    if scope == "layer":
        for layer in prunable_layers(theirs):
            prune.l1_unstructured(layer, "weight", amount=sparsity)
    else:
        prune.global_unstructured([(layer, "weight") for layer in prunable_layers(theirs)],
                                  pruning_method=prune.L1Unstructured, amount=sparsity)
    for mask, layer in zip(masks, prunable_layers(theirs), strict=True):
        if layer.weight_mask.sum() == 0:
            # torch empties the layer (global magnitude can); we keep its largest weight
            largest = int(torch.argmax(layer.weight_orig.detach().abs()))
            assert mask.sum() == 1 and mask.view(-1)[largest] == 1
        else:
            assert torch.equal(mask, layer.weight_mask)


def test_masks_only_shrink_across_rounds():
    model = _mlp(2)
    previous = current_weight_masks(model)
    for target in schedule_targets(0.9, 4, "iterative"):
        scores = [torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(7))
                  for layer in prunable_layers(model)]
        apply_weight_masks(model, select_weights(scores, target))
        masks = current_weight_masks(model)
        for old, new in zip(previous, masks, strict=True):
            assert torch.all(new <= old)
        previous = masks


def test_schedules():
    iterative = schedule_targets(0.9, 3, "iterative")
    assert iterative[-1] == pytest.approx(0.9)
    assert all(1 - b == pytest.approx((1 - a) * (1 - iterative[0]))
               for a, b in zip(iterative, iterative[1:], strict=False))
    progressive = schedule_targets(0.8, 4, "progressive")
    assert progressive == sorted(progressive) and progressive[-1] == pytest.approx(0.8)
    assert schedule_targets(0.5, 3, "one_shot") == [0.5]


@pytest.mark.parametrize("name", ["random", "unit_norm", "magnitude"])
@pytest.mark.parametrize("schedule", ["one_shot", "iterative", "progressive"])
def test_score_methods_reach_their_target(digits, name, schedule):
    pruner = get(name)
    granularity = pruner.granularities[0]
    outcome = pruner.prune(_mlp(), digits, 0.6, Budget(epochs=2, batch_size=256),
                           granularity=granularity, schedule=schedule)
    batches = math.ceil(len(digits.train) / 256)
    assert outcome.steps == 2 * batches
    if granularity == "structured":
        kept = outcome.details["kept_per_layer"]
        assert all(k >= 1 for k in kept)
        assert abs(outcome.achieved_sparsity - 0.6) <= 2 / 24 + 1e-9
    else:
        assert outcome.achieved_sparsity == pytest.approx(0.6, abs=1e-3)
    assert torch.all(torch.isfinite(outcome.model(digits.test.tensors[0][:4])))


def test_equilibrium_method_behind_the_contract(digits):
    outcome = get("equilibrium").prune(_mlp(), digits, 0.5, Budget(epochs=2, batch_size=256))
    assert outcome.achieved_sparsity == pytest.approx(0.5, abs=2 / 24)
    emergent = get("equilibrium").prune(_mlp(), digits, None, Budget(epochs=1, batch_size=256))
    assert emergent.target_sparsity is None and 0.0 <= emergent.achieved_sparsity < 1.0


def test_bad_requests_raise_clear_errors(digits):
    with pytest.raises(PruningError, match="registered"):
        get("optimal_brain_surgeon")
    with pytest.raises(PruningError, match="sparsity"):
        get("random").prune(_mlp(), digits, 1.0, Budget(epochs=1))
    with pytest.raises(PruningError, match="sparsity"):
        get("unit_norm").prune(_mlp(), digits, -0.1, Budget(epochs=1))
    with pytest.raises(PruningError, match="granularity"):
        get("unit_norm").prune(_mlp(), digits, 0.5, Budget(epochs=1),
                               granularity="unstructured")
    with pytest.raises(PruningError, match="epochs"):
        Budget(epochs=0)
    with pytest.raises(PruningError, match="registered"):
        compare(["nonexistent"], data=digits, progress=False)


def test_compare_returns_a_tidy_table(digits, tmp_path):
    rows = compare(["random", "unit_norm"], sparsities=(0.5, 0.8), data=digits,
                   budget=Budget(epochs=1, batch_size=256), progress=False)
    assert [r.method for r in rows] == ["dense"] + ["random"] * 2 + ["unit_norm"] * 2
    assert all(r.dense_accuracy == rows[0].accuracy for r in rows)
    assert all(r.params_nonzero < rows[0].params_nonzero for r in rows[1:])
    path = to_csv(rows, tmp_path / "table.csv")
    assert path.read_text().count("\n") == len(rows) + 1
    assert to_markdown(rows).count("\n") == len(rows) + 1
    assert path.read_text().splitlines()[0].split(",") == list(COLUMNS)
    assert all(isinstance(r.evaluation, Evaluation) for r in rows)
    assert rows[1].accuracy == rows[1].evaluation.accuracy
    assert rows[1].compression_ratio == rows[1].evaluation.compression_ratio
    assert list(rows[1].to_dict()) == list(COLUMNS)


def test_equilibrium_is_one_method_with_one_default(digits):
    """compare's "equilibrium" and RunConfig(method="equilibrium") are the registry's
    EquilibriumPruner with PruningConfig()'s game; a named game is an explicit option."""
    from nets.baselines.equilibrium import EquilibriumPruner
    from nets.presets import DEMO
    from nets.training import PruningConfig

    default = get("equilibrium").config
    game = [f for f in PruningConfig().to_dict() if f != "name"]
    assert all(getattr(default, f) == getattr(PruningConfig(), f) for f in game)
    assert isinstance(get("equilibrium"), EquilibriumPruner)
    assert get("equilibrium", config=DEMO).config == DEMO
    budget = Budget(epochs=1, batch_size=256)
    via_prune = get("equilibrium", config=DEMO).prune(_mlp(), digits, 0.5, budget)
    config = dataclasses.replace(DEMO, epochs=1, batch_size=256)
    direct = EquilibriumPruner().fit_and_prune(_mlp(), digits, 0.5, config)
    assert via_prune.details["participation"] == direct.details["participation"]
    assert via_prune.achieved_sparsity == direct.achieved_sparsity


def test_registry_names_match_classes():
    assert all(cls.name == name for name, cls in REGISTRY.items())


@pytest.mark.parametrize("name", ["magnitude", "random", "taylor"])
def test_unstructured_sparsity_is_the_share_of_every_weight_matrix(digits, name):
    """On LeNet-5 (conv and linear weights) the reported sparsity is the share of zeros among
    all of the model's weight matrices and kernels, not of some layers only."""
    model = models.lenet5(1, 10, input_size=8, channels=(3, 4), hidden=(8,), seed=0)
    outcome = get(name).prune(model, digits, 0.5, Budget(epochs=1, batch_size=256),
                              granularity="unstructured")
    weights = [p for p in outcome.model.parameters() if p.dim() >= 2]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert outcome.achieved_sparsity == pytest.approx(zeros / sum(w.numel() for w in weights))
    assert outcome.achieved_sparsity == pytest.approx(0.5, abs=1e-2)
    assert all(int((w == 0).sum()) > 0 for w in weights)  # every layer was pruned


def test_unstructured_pruning_refuses_weights_it_cannot_mask(digits):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 64)),
                                torch.nn.Conv1d(1, 4, 5), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(240, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    with pytest.raises(PruningError, match=r"2\.weight \(20 of its 2020 weights\)"):
        get("magnitude").prune(model, digits, 0.5, Budget(epochs=1),
                               granularity="unstructured")


def test_compare_runs_the_schedule_asked_for(digits):
    rows = compare(["random", "magnitude"], sparsities=(0.6,), granularity="unstructured",
                   schedule="iterative", data=digits, budget=Budget(epochs=2, batch_size=256),
                   progress=False)
    assert [(r.method, r.schedule) for r in rows] == [("dense", "-"), ("random", "iterative"),
                                                     ("magnitude", "iterative")]
    assert all(r.achieved_sparsity == pytest.approx(0.6, abs=1e-2) for r in rows[1:])


# ---------------------------------------------------------------------------- options
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_pruner_has_one_typed_options_dataclass(name):
    import dataclasses

    from nets.baselines.base import Options

    cls = REGISTRY[name]
    assert dataclasses.is_dataclass(cls.Options) and issubclass(cls.Options, Options)
    pruner = get(name)
    assert pruner.options == cls.Options()
    for option in dataclasses.fields(cls.Options):  # every option is an attribute too
        assert getattr(pruner, option.name) == getattr(pruner.options, option.name) or \
            option.name == "config"
    with pytest.raises(PruningError, match="it takes") as info:
        get(name, no_such_option=1)
    assert all(f.name in str(info.value) for f in dataclasses.fields(cls.Options))
