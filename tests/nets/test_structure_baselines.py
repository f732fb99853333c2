"""Every structured baseline, the solve-and-apply pruner and Algorithm 1 on traced models
(the nested models of nets.models and a user-defined residual module)."""

from __future__ import annotations

import pytest
import torch

from nets import EquilibriumPruning, PruningConfig, baselines
from nets import data as datasets
from nets.baselines import Budget
from tests.nets.test_structure import MODELS

STRUCTURED = sorted(name for name, cls in baselines.REGISTRY.items()
                    if "structured" in cls.granularities)
ROTATION = sorted(MODELS)  # user_residual among them: the Done-when list's residual model


@pytest.fixture(scope="module")
def digits() -> datasets.DataBundle:
    return datasets.load("digits", limit=96)


@pytest.mark.parametrize("index, name", list(enumerate(STRUCTURED)))
def test_structured_baselines_prune_traced_models(index: int, name: str,
                                                  digits: datasets.DataBundle) -> None:
    # each method on one model in turn, so every model meets several methods (the full
    # models x methods table is in the report of issue 12: 65 of 65 run)
    for model_name in (ROTATION[index % len(ROTATION)],):
        model = MODELS[model_name](0)
        options = {"rewind_steps": 0} if name == "lottery" else {}
        pruner = baselines.get(name, **options)
        budget = Budget(epochs=2, batch_size=48, level="all", rounds=2)
        outcome = pruner.prune(model, digits, 0.3, budget, granularity="structured",
                               schedule="one_shot")
        assert type(outcome.model) is type(model)
        assert 0.2 <= outcome.achieved_sparsity <= 0.35
        assert sum(p.numel() for p in outcome.model.parameters()) < \
            sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            assert outcome.model.eval()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_algorithm_one_trains_a_traced_resnet(digits: datasets.DataBundle) -> None:
    config = PruningConfig(epochs=1, batch_size=48, level="all", eta=0.1,
                           overlap="parameters")
    result = EquilibriumPruning(config).fit(MODELS["resnet_cifar"](0), digits, progress=False)
    assert result.participation.shape == (result.gated.n_players,)
    assert not (result.participation == 1.0).all()  # the s-step moved the gates


def test_second_order_solve_on_a_batchnorm_resnet_collects_in_eval_mode(
        digits: datasets.DataBundle) -> None:
    # per-example curvature needs examples that do not interact: the statistics of the
    # second-order game are taken at the norms' running statistics, which stay unchanged
    model = MODELS["resnet_cifar"](0)
    pruner = baselines.get("equilibrium_solve", payoff="second_order")
    budget = Budget(epochs=1, batch_size=48, level="filter", rounds=2)
    outcome = pruner.prune(model, digits, 0.3, budget, granularity="structured",
                           schedule="iterative")
    assert 0.2 <= outcome.achieved_sparsity <= 0.35
    certificates = outcome.details["certificates"]
    assert len(certificates) == 2
    assert all(record["nash_gap"] <= 1e-8 for record in certificates)
    assert outcome.model.training, "the training flags are restored after the statistics"
