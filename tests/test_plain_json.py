"""Every public result's ``to_dict()`` holds only plain Python types (issue 9, item 2).

Each result is built on inputs that produce numpy scalars (sparse competition matrices,
numpy reductions, fields filled with numpy values) and must survive a bare ``json.dumps`` (no
``default=`` hook) and load back equal, with every leaf a bool, int, float, str or None.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from equilibria import (
    ParticipationGame,
    analyze_stability,
    iterated_dominance,
    perturbation_test,
    solve,
)
from equilibria.finite import bimatrix_solution, pair_game, solve_pair
from equilibria.plain import PLAIN_TYPES, is_plain, to_plain

LEAVES = (bool, int, float, str, type(None))


def walk(value, path="$"):
    """Yield (path, leaf) for every leaf; fail on any container that is not list or dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{path}: key {key!r} is a {type(key).__name__}"
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from walk(item, f"{path}[{k}]")
    else:
        yield path, value


def assert_plain_json(record) -> None:
    assert isinstance(record, dict)
    for path, leaf in walk(record):
        assert type(leaf) in LEAVES, f"{path} is a {type(leaf).__module__}.{type(leaf).__name__}"
    assert json.loads(json.dumps(record)) == record
    assert is_plain(record)


# ------------------------------------------------------------------------------ to_plain
def test_to_plain_converts_numpy_tuples_paths_and_complex():
    value = {"b": np.bool_(True), "i": np.int64(3), "f": np.float32(0.5),
             "a": np.arange(3), "m": np.eye(2, dtype=np.float16), "t": (np.float64(1.5), 2),
             "p": Path("/tmp/x"), "z": np.complex128(1 - 2j), "s": {np.int64(2), 1},
             7: "int key", "zero_d": np.array(4.0)}
    plain = to_plain(value)
    assert plain == {"b": True, "i": 3, "f": 0.5, "a": [0, 1, 2], "m": [[1.0, 0.0], [0.0, 1.0]],
                     "t": [1.5, 2], "p": "/tmp/x", "z": [1.0, -2.0], "s": [1, 2],
                     "7": "int key", "zero_d": 4.0}
    assert_plain_json(plain)


def test_to_plain_refuses_what_it_cannot_convert():
    with pytest.raises(TypeError, match="object"):
        to_plain({"x": object()})


def test_is_plain_finds_a_numpy_leaf_deep_inside():
    assert is_plain({"a": [1, 2.0, "x", None, {"b": False}]})
    assert not is_plain({"a": [1, {"b": np.bool_(False)}]})
    assert not is_plain({"a": (1, 2)})
    assert not is_plain({1: "x"})
    assert set(PLAIN_TYPES) == set(LEAVES)


# ------------------------------------------------------------------------------ equilibria
@pytest.fixture(scope="module")
def sparse_game() -> ParticipationGame:
    """A potential game with a sparse competition symmetric up to rounding (0.1 + 0.2 against
    0.3, as measured overlaps are): its is_potential used to be a numpy.bool."""
    R = sp.csr_matrix(np.array([[0.0, 0.1 + 0.2, 0.0], [0.3, 0.0, 0.2], [0.0, 0.2, 0.0]]))
    return ParticipationGame([1.0, 0.8, 0.6], [0.5, 0.4, 0.3], 0.05, R)


def test_equilibrium_result(sparse_game):
    result = solve(sparse_game, "newton")
    assert_plain_json(result.to_dict())
    recorded = solve(sparse_game, "best_response", record=True)
    assert_plain_json(recorded.to_dict())


def test_stability_report(sparse_game):
    report = analyze_stability(sparse_game, solve(sparse_game, "newton").profile)
    assert_plain_json(report.to_dict())
    assert report.to_dict()["is_potential"] is True


def test_perturbation_report(sparse_game):
    s = solve(sparse_game, "newton", tol=1e-12).profile
    assert_plain_json(perturbation_test(sparse_game, s, trials=2, rng=0).to_dict())


def test_dominance_result(sparse_game):
    assert_plain_json(iterated_dominance(sparse_game).to_dict())


@pytest.mark.parametrize("method", ["vertex_enumeration", "support_enumeration",
                                    "lemke_howson"])
def test_finite_game_results(sparse_game, method):
    pair = pair_game(sparse_game, 0, 1, [0.5, 0.5, 0.5], grid=3)
    assert_plain_json(pair.to_dict())
    for equilibrium in solve_pair(pair, method):
        assert_plain_json(equilibrium.to_dict())
    result = bimatrix_solution(pair.row_payoffs, pair.col_payoffs, method)
    assert_plain_json(result.to_dict())


# ------------------------------------------------------------------- filled with numpy values
def numpy_value(annotation):
    """A numpy-typed value for a field annotation (the kind a computation hands a result)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return numpy_value(options[0])
    if annotation is bool:
        return np.bool_(True)
    if annotation is int:
        return np.int64(3)
    if annotation is float:
        return np.float64(0.25)
    if annotation is str:
        return "label"
    if annotation is np.ndarray:
        return np.linspace(0.0, 1.0, 3)
    if dataclasses.is_dataclass(annotation):  # an embedded result (e.g. an Evaluation)
        return filled(annotation)
    if origin is tuple:
        return tuple(np.int64(k) for k in range(2))
    if origin is list:
        return [np.float64(0.5), np.float64(1.5)]
    if origin is dict:
        return {"x": np.float64(1.0), "ok": np.bool_(False)}
    raise AssertionError(f"no numpy value for annotation {annotation!r}")


def filled(cls, **overrides):
    hints = typing.get_type_hints(cls)
    values = {f.name: numpy_value(hints[f.name]) for f in dataclasses.fields(cls) if f.init}
    values.update(overrides)
    return cls(**values)


def _data_classes():
    from nets.compare import ComparisonRow
    from nets.evaluate import Evaluation
    from nets.training import EpochRecord
    from papers.beyond.certificates import Certificate
    from papers.beyond.filters import FilterRow
    from papers.beyond.overlap import InitScore, RunRow

    return [ComparisonRow, Evaluation, EpochRecord, Certificate, FilterRow, InitScore, RunRow]


@pytest.mark.parametrize("cls", _data_classes(), ids=lambda c: c.__name__)
def test_results_filled_with_numpy_values(cls):
    assert_plain_json(filled(cls).to_dict())


def test_certificate_round_trips_through_plain_json():
    from papers.beyond.certificates import Certificate

    certificate = filled(Certificate, eigenvalues_at_s=np.array([-1.0 + 0.5j, -2.0]))
    record = json.loads(json.dumps(certificate.to_dict()))
    assert Certificate.from_dict(record).to_dict() == certificate.to_dict()


def test_run_result_filled_with_numpy_values():
    from analysis.runner import RunResult

    result = filled(RunResult, config={"epochs": np.int64(2), "hidden": (np.int64(8),)},
                    history=[{"epoch": np.int64(1), "train_loss": np.float32(0.5)}],
                    kept_per_layer=[np.int64(4)])
    assert_plain_json(result.to_dict())


# ------------------------------------------------------------------- real runs (small)
def test_evaluation_of_a_tiny_model():
    import torch

    from nets import models
    from nets.evaluate import evaluate

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(16, 5), torch.randint(0, 3, (16,)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    result = evaluate(models.mlp(5, (4,), 3, seed=0), loader, latency_repeats=0)
    assert_plain_json(result.to_dict())


def test_pruning_result_and_its_epoch_records():
    import torch

    from nets import data, models
    from nets.training import EquilibriumPruning, PruningConfig

    bundle = data.load("digits", limit=200)
    test = torch.utils.data.TensorDataset(*(t[:100] for t in bundle.test.tensors))
    config = PruningConfig(beta=0.05, gamma=0.05, epochs=1, batch_size=64)
    result = EquilibriumPruning(config).fit(models.mlp(64, (8,), 10, seed=0),
                                            (bundle.train, test), progress=False)
    assert_plain_json(result.to_dict())
    for record in result.history:
        assert_plain_json(record.to_dict())
    assert_plain_json(config.to_dict())


def test_run_config_and_run_result_of_a_tiny_run():
    from analysis.runner import RunConfig, run

    config = RunConfig(method="equilibrium", hidden=(8,), epochs=1, data_limit=200,
                       pruning={"beta": np.float64(0.05), "gamma": 0.05})
    assert_plain_json(config.to_dict())
    result = run(config)
    assert_plain_json(result.to_dict())


def test_atomic_write_json_writes_numpy_values_as_plain_json(tmp_path):
    from equilibria.atomic import atomic_write_json

    payload = {"ok": np.bool_(True), "gap": np.float64(1e-9), "sizes": (np.int64(3),),
               "where": tmp_path}
    path = atomic_write_json(tmp_path / "summary.json", payload, indent=2)
    record = json.loads(path.read_text())
    assert record == {"ok": True, "gap": 1e-9, "sizes": [3], "where": str(tmp_path)}
    assert_plain_json(record)
