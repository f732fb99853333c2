"""Tests of nets.evaluate: accuracy, loss, parameter and MAC counts, ratios and latency."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nets.apply import apply_participation
from nets.evaluate import (
    EVAL_BATCH_SIZE,
    Evaluation,
    EvaluationError,
    accuracy_and_loss,
    evaluate,
    measure_latency,
)
from nets.gates import attach_gates
from tests.nets.test_gates import mlp, randomize


def batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, ...]]:
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def random_loader(shape: tuple[int, ...], n_classes: int, n: int = 10,
                  seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=generator)
    y = torch.randint(0, n_classes, (n,), generator=generator)
    return batches(x, y, 4)


FAST = {"latency_repeats": 0}


# ----------------------------------------------------------------------------- hand-checked counts


def test_tiny_mlp_counts_by_hand() -> None:
    model = randomize(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)),
                      torch.Generator().manual_seed(0))
    dense = evaluate(model, random_loader((4,), 2), **FAST)
    assert dense.params_total == dense.params_nonzero == 4 * 3 + 3 + 3 * 2 + 2 == 23
    assert dense.macs_dense == dense.macs_remaining == 4 * 3 + 3 * 2 == 18
    assert dense.compression_ratio == dense.theoretical_speedup == 1.0
    with torch.no_grad():
        model[0].weight[0, 0] = 0.0
        model[0].weight[1] = 0.0  # 5 zero weights in the first layer
        model[0].bias[2] = 0.0
        model[2].weight[:, 1] = 0.0  # 2 zero weights in the second layer
    sparse = evaluate(model, random_loader((4,), 2), **FAST)
    assert sparse.params_total == 23
    assert sparse.params_nonzero == 7 + 2 + 4 + 2 == 15
    assert sparse.macs_dense == 18
    assert sparse.macs_remaining == 7 + 4 == 11
    assert sparse.compression_ratio == pytest.approx(23 / 15)
    assert sparse.theoretical_speedup == pytest.approx(18 / 11)


def test_tiny_cnn_counts_by_hand() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 2x6x6
                          nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(),  # 3x1x1
                          nn.Linear(3, 2))
    randomize(model, torch.Generator().manual_seed(1))
    loader = random_loader((1, 6, 6), 2)
    dense = evaluate(model, loader, **FAST)
    assert dense.params_total == 18 + 2 + 54 + 3 + 6 + 2 == 85
    assert dense.macs_dense == 18 * 36 + 54 * 1 + 6 == 708
    assert dense.macs_remaining == 708
    with torch.no_grad():
        model[0].weight[1] = 0.0  # one 3x3 filter, used at 36 positions
    sparse = evaluate(model, loader, **FAST)
    assert sparse.params_nonzero == 85 - 9
    assert sparse.macs_remaining == 9 * 36 + 54 + 6 == 384
    assert sparse.theoretical_speedup == pytest.approx(708 / 384)


def test_strided_conv_counts_its_output_positions() -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 3))
    result = evaluate(model, random_loader((2, 8, 8), 3), **FAST)
    assert result.macs_dense == (4 * 2 * 9) * 16 + 64 * 3
    assert result.params_total == 72 + 192 + 3


# ----------------------------------------------------------------------------- pruning


def half_pruned() -> tuple[nn.Sequential, np.ndarray]:
    model = mlp([6, 8, 4, 3], seed=2)
    s = np.array([1, 0, 1, 0, 1, 0, 1, 0] + [0, 0.7, 0, 0.9], dtype=float)
    return model, s


def test_removing_half_the_hidden_units_reduces_macs_accordingly() -> None:
    model, s = half_pruned()
    loader = random_loader((6,), 3)
    removed = apply_participation(attach_gates(model), s, mode="remove")
    result = evaluate(removed, loader, reference=model, **FAST)
    assert result.macs_dense == result.macs_remaining == 6 * 4 + 4 * 2 + 2 * 3 == 38
    assert result.params_total == result.params_nonzero == 24 + 4 + 8 + 2 + 6 + 3 == 47
    assert result.theoretical_speedup == pytest.approx((6 * 8 + 8 * 4 + 4 * 3) / 38)
    assert result.compression_ratio == pytest.approx((48 + 8 + 32 + 4 + 12 + 3) / 47)


def test_gated_network_counts_zero_participation_units_as_removed() -> None:
    model, s = half_pruned()
    loader = random_loader((6,), 3)
    gated = attach_gates(model)
    gated.set_participation(s)
    removed = apply_participation(gated, mode="remove")
    on_gated = evaluate(gated, loader, **FAST)
    on_removed = evaluate(removed, loader, reference=model, **FAST)
    assert on_gated.params_total == 107
    assert on_gated.macs_dense == 92
    assert on_gated.params_nonzero == on_removed.params_nonzero == 47
    assert on_gated.macs_remaining == on_removed.macs_remaining == 38
    assert on_gated.compression_ratio == on_removed.compression_ratio
    assert on_gated.theoretical_speedup == on_removed.theoretical_speedup
    assert on_gated.accuracy == on_removed.accuracy
    assert on_gated.loss == pytest.approx(on_removed.loss, rel=1e-5)
    assert torch.equal(gated.get_participation(), torch.tensor(s, dtype=torch.float32))


def test_outgoing_weights_of_units_with_nonzero_dead_output_still_count() -> None:
    _, s = half_pruned()
    gated = attach_gates(mlp([6, 8, 4, 3], nn.Sigmoid, seed=2))
    gated.set_participation(s)
    result = evaluate(gated, random_loader((6,), 3), **FAST)
    # sigmoid(0) = 0.5 still reaches the next layer: only incoming rows vanish
    assert result.macs_remaining == 6 * 4 + 2 * 8 + 3 * 4


# ----------------------------------------------------------------------------- accuracy and loss


def test_accuracy_and_loss_by_hand() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0], [0.5, 0.2]])
    y = torch.tensor([0, 1, 1, 1, 1])  # predictions 0, 1, 0, 1, 0
    result = evaluate(model, batches(x, y, 2), **FAST)
    assert result.n_examples == 5
    assert result.accuracy == pytest.approx(3 / 5)
    expected = [math.log(math.exp(a) + math.exp(b)) - (a, b)[label]
                for (a, b), label in zip(x.tolist(), y.tolist(), strict=True)]
    assert result.loss == pytest.approx(sum(expected) / 5, rel=1e-6)
    custom = evaluate(model, batches(x, y, 2), loss_fn=lambda out, lab: torch.tensor(
        float(len(lab))), **FAST)
    assert custom.loss == pytest.approx((2 * 2 + 2 * 2 + 1 * 1) / 5)  # batch means, weighted


def test_training_flags_are_restored_and_eval_mode_is_used() -> None:
    model = randomize(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(),
                                    nn.Dropout(0.5), nn.Linear(4, 2)),
                      torch.Generator().manual_seed(3))
    model.train()
    model[3].eval()
    running_mean = model[1].running_mean.clone()
    loader = random_loader((3,), 2)
    first = evaluate(model, loader, latency_batch=4, latency_repeats=2)
    second = evaluate(model, loader, **FAST)
    assert first.loss == second.loss  # no dropout noise, no batch statistics
    assert torch.equal(model[1].running_mean, running_mean)
    assert [m.training for m in model] == [True, True, True, False, True]
    reference = mlp([3, 4, 2]).train()
    evaluate(model, loader, reference=reference, **FAST)
    assert reference.training


def test_latency_is_a_positive_median_or_none() -> None:
    model = mlp([3, 4, 2])
    timed = evaluate(model, random_loader((3,), 2), latency_batch=8, latency_repeats=3)
    assert timed.latency_ms is not None and 0 < timed.latency_ms < 1000
    assert evaluate(model, random_loader((3,), 2), **FAST).latency_ms is None


class Counting(nn.Module):
    """Counts its forward passes and records which instance ran, in a shared log."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(self.name)
        return x


def test_measure_latency_interleaves_the_models_round_by_round() -> None:
    log: list[str] = []
    models = [Counting("a", log), Counting("b", log), Counting("c", log)]
    medians = measure_latency(models, torch.zeros(2, 3), repeats=4, warmup=0)
    assert len(medians) == 3 and all(0 < m < 1 for m in medians)
    # each timed pass is Timer.timeit(1): two untimed passes, then the timed one
    assert log == [name for k in range(4) for j in range(3) for name in ["abc"[(k + j) % 3]] * 3]
    log.clear()
    measure_latency(models, torch.zeros(2, 3), repeats=5, warmup=0,
                    order=np.random.default_rng(0))
    rounds = [log[i:i + 9:3] for i in range(0, len(log), 9)]
    assert len(rounds) == 5 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len({"".join(r) for r in rounds}) > 1, "the order changes between rounds"


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"repeats": 0}, "repeats"), ({"repeats": 1, "warmup": -1}, "warmup"),
    ({"repeats": 1, "threads": 0}, "threads"), ({"repeats": 1, "order": "random"}, "order")])
def test_measure_latency_rejects_bad_options(kwargs, name) -> None:
    with pytest.raises(EvaluationError, match=name):
        measure_latency([mlp([3, 2])], torch.zeros(1, 3), **kwargs)
    with pytest.raises(EvaluationError, match="models"):
        measure_latency([], torch.zeros(1, 3), repeats=1)


def test_result_is_frozen_and_serializable() -> None:
    result = evaluate(mlp([3, 4, 2]), random_loader((3,), 2), **FAST)
    assert isinstance(result, Evaluation)
    with pytest.raises(AttributeError):
        result.accuracy = 1.0  # type: ignore[misc]
    data = result.to_dict()
    assert set(data) == {"accuracy", "loss", "params_total", "params_nonzero", "macs_dense",
                         "macs_remaining", "compression_ratio", "theoretical_speedup",
                         "latency_ms", "n_examples"}
    assert json.loads(json.dumps(data)) == data


# ----------------------------------------------------------------------------- what data may be


def test_a_dataset_a_dataloader_and_batches_give_the_same_evaluation() -> None:
    generator = torch.Generator().manual_seed(1)
    n = EVAL_BATCH_SIZE + 37  # more than one wrapped batch
    x, y = torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator)
    model = randomize(mlp([3, 4, 2]), generator)
    dataset = TensorDataset(x, y)
    from_dataset = evaluate(model, dataset, **FAST)
    from_loader = evaluate(model, DataLoader(dataset, batch_size=64), **FAST)
    from_batches = evaluate(model, batches(x, y, 100), **FAST)
    assert from_dataset.n_examples == from_loader.n_examples == from_batches.n_examples == n
    assert from_dataset.accuracy == from_loader.accuracy == from_batches.accuracy
    assert from_dataset.loss == pytest.approx(from_loader.loss)
    assert from_dataset.params_nonzero == from_loader.params_nonzero
    with torch.no_grad():
        expected = float((model(x).argmax(1) == y).double().mean())
    assert from_dataset.accuracy == pytest.approx(expected)


def test_accuracy_and_loss_takes_a_dataset_or_a_dataloader() -> None:
    generator = torch.Generator().manual_seed(2)
    x, y = torch.randn(50, 3, generator=generator), torch.randint(0, 2, (50,), generator=generator)
    model = randomize(mlp([3, 4, 2]), generator)
    dataset = TensorDataset(x, y)
    accuracy, loss = accuracy_and_loss(model, dataset)
    assert (accuracy, loss) == pytest.approx(accuracy_and_loss(model, DataLoader(dataset, 7)))
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(model(x), y))
    assert loss == pytest.approx(expected)


@pytest.mark.parametrize("loader", [
    None, 3, "digits", {"x": 1}, torch.ones(4, 3), [(torch.ones(3), 1)], [(torch.ones(3), 0)] * 2,
], ids=["None", "int", "str", "dict", "tensor", "one-example", "examples"])
def test_data_that_is_not_a_dataset_or_batches_is_refused(loader: object) -> None:
    with pytest.raises(EvaluationError, match="loader") as info:
        evaluate(mlp([3, 4, 2]), loader, **FAST)
    assert "\n" not in str(info.value)
    with pytest.raises(EvaluationError, match="loader"):
        accuracy_and_loss(mlp([3, 4, 2]), loader)


def test_the_model_in_place_of_the_data_is_named() -> None:
    model = mlp([3, 4, 2])
    with pytest.raises(EvaluationError, match="loader .*got the model Sequential"):
        evaluate(model, model, **FAST)


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("kwargs, error, name", [
    ({"loader": []}, ValueError, "loader"),
    ({"loader": [torch.ones(2, 3)]}, ValueError, "loader"),
    ({"latency_batch": 0}, ValueError, "latency_batch"),
    ({"latency_repeats": -1}, ValueError, "latency_repeats"),
    ({"device": "cuda"}, ValueError, "device"),
    ({"device": "no-such-device"}, ValueError, "device"),
    ({"model": "not a module"}, TypeError, "model"),
    ({"reference": [nn.Linear(3, 2)]}, TypeError, "reference"),
])
def test_bad_arguments_name_the_argument(kwargs: dict, error: type[Exception],
                                         name: str) -> None:
    arguments = {"model": mlp([3, 4, 2]), "loader": random_loader((3,), 2), **kwargs}
    model, loader = arguments.pop("model"), arguments.pop("loader")
    with pytest.raises(error, match=name):
        evaluate(model, loader, **arguments)
