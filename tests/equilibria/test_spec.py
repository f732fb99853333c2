"""From network statistics to games: the paper's readings, block competition, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from equilibria import InvalidGameError, NetworkStatistics, UnknownMethodError, build_game


def _stats(rng: np.random.Generator) -> NetworkStatistics:
    sizes = (3, 2)
    layer = np.repeat(np.arange(2), sizes)
    thetas = [rng.standard_normal((k, 4)) for k in sizes]
    activations = [rng.standard_normal((16, k)) for k in sizes]
    overlaps = []
    for a in activations:
        unit = a / np.linalg.norm(a, axis=0)
        overlaps.append(unit.T @ unit)
    n = layer.size
    return NetworkStatistics(layer=layer, grad_inner=rng.standard_normal(n),
                             dloss_ds=rng.standard_normal(n), taylor=rng.uniform(0, 1, n),
                             sq_norms=np.concatenate([(t**2).sum(1) for t in thetas]),
                             parameter_gram=tuple(t @ t.T for t in thetas),
                             activation_overlap=tuple(overlaps),
                             participation=np.ones(n), layer_names=("fc1", "fc2"))


def test_readings_of_the_benefit():
    stats = _stats(np.random.default_rng(0))
    paper = build_game(stats, "paper", None, alpha=2.0)
    np.testing.assert_allclose(paper.benefit, 2.0 * stats.grad_inner)
    descent = build_game(stats, "loss_descent", None, alpha=2.0)
    np.testing.assert_allclose(descent.benefit, -2.0 * stats.dloss_ds)
    taylor = build_game(stats, "taylor", None)
    np.testing.assert_allclose(taylor.benefit, stats.taylor)


def test_costs_and_block_diagonal_competition():
    stats = _stats(np.random.default_rng(1))
    game = build_game(stats, "paper", "parameters", beta=0.1, gamma=0.05, eta=0.3)
    np.testing.assert_allclose(game.quadratic_cost, 0.1 * stats.sq_norms)
    np.testing.assert_allclose(game.linear_cost, 0.05)
    R = game.competition.toarray()
    assert np.all(R[:3, 3:] == 0) and np.all(R[3:, :3] == 0)
    block = 0.3 * stats.parameter_gram[0]
    np.testing.assert_allclose(R[:3, :3], block - np.diag(np.diag(block)))
    assert game.is_potential
    activations = build_game(stats, "taylor", "activations", eta=1.0)
    np.testing.assert_allclose(activations.competition.toarray()[3:, 3:],
                               stats.activation_overlap[1] - np.eye(2), atol=1e-12)
    assert build_game(stats, overlap="parameters", eta=0.0).competition is None


def test_save_and_load_round_trip(tmp_path):
    stats = _stats(np.random.default_rng(2))
    path = tmp_path / "stats.npz"
    stats.save(path)
    loaded = NetworkStatistics.load(path)
    for name in ("layer", "grad_inner", "dloss_ds", "taylor", "sq_norms", "participation"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(stats, name))
    for a, b in zip(loaded.parameter_gram, stats.parameter_gram, strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.layer_names == ("fc1", "fc2")
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]


def test_bad_statistics_and_options_raise_clear_errors():
    stats = _stats(np.random.default_rng(3))
    with pytest.raises(UnknownMethodError, match="payoff"):
        build_game(stats, "magnitude")
    with pytest.raises(UnknownMethodError, match="overlap"):
        build_game(stats, overlap="weights", eta=1.0)
    with pytest.raises(InvalidGameError, match="beta"):
        build_game(stats, beta=-1.0)
    with pytest.raises(InvalidGameError, match="sorted"):
        NetworkStatistics(layer=np.array([1, 0]), grad_inner=[0, 0], dloss_ds=[0, 0],
                          taylor=[0, 0], sq_norms=[1, 1])
    with pytest.raises(InvalidGameError, match="parameter_gram"):
        NetworkStatistics(layer=np.array([0, 0]), grad_inner=[0, 0], dloss_ds=[0, 0],
                          taylor=[0, 0], sq_norms=[1, 1], parameter_gram=(np.eye(3),))
    without = NetworkStatistics(layer=np.array([0, 0]), grad_inner=[0, 0], dloss_ds=[0, 0],
                                taylor=[0, 0], sq_norms=[1, 1])
    with pytest.raises(InvalidGameError, match="activation_overlap"):
        build_game(without, overlap="activations", eta=1.0)
