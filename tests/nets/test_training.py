"""Algorithm 1: the s-step is the equilibria projected-gradient step; resume; determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from equilibria.solvers.projected_gradient import projected_gradient_step
from nets import attach_gates, models
from nets.training import (
    PAPER_CONFIGS,
    EquilibriumPruning,
    PruningConfig,
    TrainingDivergedError,
)


@pytest.fixture(scope="module")
def digits_pair(digits):
    """(train, first 200 test examples) of digits, as a pair of datasets."""
    test = torch.utils.data.TensorDataset(*(t[:200] for t in digits.test.tensors))
    return digits.train, test


def _gated(seed: int = 0, level: str = "neuron"):
    model = models.mlp(64, (12, 8), 10, seed=seed) if level == "neuron" else \
        models.lenet5(1, 10, input_size=8, channels=(3, 4), hidden=(10,), seed=seed)
    gated = attach_gates(model, level)
    rng = np.random.default_rng(seed)
    gated.set_participation(rng.uniform(0.2, 1.0, gated.n_players))
    return gated


CASES = [
    dict(payoff="paper", beta=0.05, gamma=0.01),
    dict(payoff="loss_descent", beta=0.1, gamma=0.02, eta=0.3, overlap="parameters"),
    dict(payoff="paper", beta=0.05, eta=0.2, overlap="parameters", include_outgoing=True),
    dict(payoff="taylor", beta=0.05, gamma=0.01),
    dict(payoff="loss_descent", beta=0.05, eta=0.5, overlap="activations"),
    dict(payoff="paper", beta=0.05, gamma=0.01, s_update="sequential"),
]


@pytest.mark.parametrize("level", ["neuron", "filter"])
@pytest.mark.parametrize("options", CASES)
def test_one_trainer_step_is_one_projected_gradient_step_of_the_batch_game(options, level):
    config = PruningConfig(participation_lr=0.05, optimizer="sgd", lr=0.0, **options)
    trainer = EquilibriumPruning(config)
    gated = _gated(level=level)
    inputs = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2))
    game = trainer.batch_game(gated, inputs, labels)
    s = gated.get_participation().double().numpy()
    expected = projected_gradient_step(game, config.participation_lr)(s, 0)
    optimizer = torch.optim.SGD(gated.parameters(), lr=0.0)
    trainer.step(gated, optimizer, inputs, labels)
    np.testing.assert_allclose(gated.get_participation().double().numpy(), expected,
                               rtol=1e-4, atol=1e-6)


def test_simultaneous_update_uses_the_gradient_before_the_weight_step():
    config = PruningConfig(participation_lr=0.05, beta=0.05, gamma=0.01, lr=0.1,
                           optimizer="sgd")
    trainer = EquilibriumPruning(config)
    gated = _gated()
    inputs = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2))
    game = trainer.batch_game(gated, inputs, labels)
    s = gated.get_participation().double().numpy()
    before = [p.detach().clone() for p in gated.parameters()]
    trainer.step(gated, torch.optim.SGD(gated.parameters(), lr=0.1), inputs, labels)
    assert any(not torch.equal(a, b) for a, b in zip(before, gated.parameters(), strict=True))
    np.testing.assert_allclose(gated.get_participation().double().numpy(),
                               projected_gradient_step(game, 0.05)(s, 0), rtol=1e-4, atol=1e-6)


def _history(result):
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in result.history]


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(digits_pair, tmp_path):
    config = PruningConfig(beta=0.05, gamma=0.02, participation_lr=0.05, epochs=3,
                           batch_size=256)
    model = models.mlp(64, (16, 8), 10, seed=0)
    whole = EquilibriumPruning(config).fit(model, digits_pair, checkpoint_dir=tmp_path / "a",
                                           progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_first(record):
        if record.epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        EquilibriumPruning(config).fit(model, digits_pair, checkpoint_dir=tmp_path / "b",
                                       progress=False, callback=stop_after_first)
    resumed = EquilibriumPruning(config).fit(model, digits_pair, checkpoint_dir=tmp_path / "b",
                                             progress=False)
    assert resumed.resumed_from_epoch == 1
    assert _history(resumed) == _history(whole)
    np.testing.assert_array_equal(resumed.participation, whole.participation)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["checkpoint.pt"]
    with pytest.raises(ValueError, match="different config"):
        EquilibriumPruning(dataclasses.replace(config, beta=0.1)).fit(
            model, digits_pair, checkpoint_dir=tmp_path / "b", progress=False)


def test_a_checkpoint_written_before_the_below_epsilon_rename_resumes(digits_pair, tmp_path):
    config = PruningConfig(beta=0.05, gamma=0.02, participation_lr=0.05, epochs=2,
                           batch_size=256)
    model = models.mlp(64, (16, 8), 10, seed=0)
    whole = EquilibriumPruning(config).fit(model, digits_pair, progress=False)

    class Interrupt(Exception):
        pass

    def stop(record):
        raise Interrupt

    with pytest.raises(Interrupt):
        EquilibriumPruning(config).fit(model, digits_pair, checkpoint_dir=tmp_path,
                                       progress=False, callback=stop)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    payload["history"] = [{("sparsity" if k == "below_epsilon" else k): v for k, v in r.items()}
                          for r in payload["history"]]  # the old name
    torch.save(payload, path)
    resumed = EquilibriumPruning(config).fit(model, digits_pair, checkpoint_dir=tmp_path,
                                             progress=False)
    assert resumed.resumed_from_epoch == 1 and _history(resumed) == _history(whole)


def test_training_is_deterministic_and_leaves_the_input_model_alone(digits_pair):
    config = PruningConfig(beta=0.05, gamma=0.02, participation_lr=0.05, epochs=2,
                           batch_size=32, lr=0.01, seed=3)
    model = models.mlp(64, (16, 8), 10, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    first = EquilibriumPruning(config).fit(model, digits_pair, progress=False)
    second = EquilibriumPruning(config).fit(model, digits_pair, progress=False)
    assert _history(first) == _history(second)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert torch.equal(state, torch.random.get_rng_state())
    record = first.history[-1]
    assert 0.0 <= record.below_epsilon <= 1.0 and len(record.active_per_layer) == 2
    assert record.nash_gap >= 0.0 and record.test_accuracy > 0.3  # chance is 0.1


def test_costs_drive_participation_down_and_units_get_pruned(digits_pair):
    config = PruningConfig(beta=0.5, gamma=0.2, participation_lr=0.2, epochs=3,
                           batch_size=128)
    result = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), digits_pair,
                                            progress=False)
    means = [r.mean_participation for r in result.history]
    assert means[-1] < means[0] < 1.0
    assert result.below_epsilon > 0.0
    removed = result.pruned("remove")
    kept = [m.out_features for m in removed if isinstance(m, torch.nn.Linear)][:-1]
    assert sum(kept) == sum(result.history[-1].active_per_layer) or min(kept) == 1


def test_divergence_is_detected_and_reported(digits_pair):
    config = PruningConfig(optimizer="sgd", lr=1e12, epochs=2, batch_size=256)
    with pytest.raises(TrainingDivergedError, match=r"lower the learning rate \(lr=1e\+12\)"):
        EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), digits_pair,
                                       progress=False)


def test_paper_configs_are_table_1():
    table = {(c.beta, c.gamma) for c in PAPER_CONFIGS.values()}
    assert table == {(0.1, 0.0), (0.5, 0.0), (0.001, 0.1), (0.05, 0.05)}
    assert all(c.alpha == 1.0 and c.participation_lr == 0.001 and c.epochs == 20
               and c.batch_size == 128 and c.eta == 0.0 for c in PAPER_CONFIGS.values())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"payoff": "gradient"}, "payoff"), ({"beta": -1.0}, "beta"), ({"epochs": 0}, "epochs"),
    ({"eta": 0.1}, "overlap"), ({"eval_mode": "hard"}, "eval_mode"), ({"lr": float("nan")}, "lr"),
])
def test_bad_configs_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PruningConfig(**kwargs)


def test_fit_rejects_bad_data():
    with pytest.raises(TypeError, match="DataBundle"):
        EquilibriumPruning(PruningConfig(epochs=1)).fit(models.mlp(64, (8,), 10), [1, 2, 3],
                                                        progress=False)
