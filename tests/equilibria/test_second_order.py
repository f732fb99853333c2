"""The second-order readings: the game is minus a quadratic model of the loss, minus the price.

Properties (docs/explanation/second-order.md): the potential equals minus the model loss minus
the price up to a constant; damping > 0 makes the game monotone (one equilibrium); the LowRank
form never materializes H and is solved by newton to a certified gap; the build_game route
through NetworkStatistics gives the same game.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import analyze_stability, nash_gap, solve
from equilibria.competition import LowRank
from equilibria.errors import InvalidGameError, UnknownMethodError
from equilibria.secondorder import QuadraticModel, quadratic_game
from equilibria.spec import NetworkStatistics, build_game, quadratic_model


def _random_model(seed: int, n: int, n_examples: int, damping: float) -> QuadraticModel:
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n_examples, n))
    return QuadraticModel(rng.normal(size=n), rng.uniform(0.2, 1.0, size=n),
                          factors=G.T / np.sqrt(n_examples), damping=damping)


def _dense_curvature(model: QuadraticModel) -> np.ndarray:
    return model.factors @ model.factors.T + model.damping * np.eye(model.n_players)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), n_examples=st.integers(1, 8),
       damping=st.floats(0.0, 1.0), gamma=st.floats(0.0, 2.0), alpha=st.floats(0.1, 3.0))
def test_potential_is_minus_model_loss_minus_price(seed: int, n: int, n_examples: int,
                                                    damping: float, gamma: float,
                                                    alpha: float) -> None:
    model = _random_model(seed, n, n_examples, damping)
    l2 = np.random.default_rng(seed + 1).uniform(0, 0.5, size=n)
    game = quadratic_game(model, alpha=alpha, gamma=gamma, l2=l2)
    assert game.is_potential
    rng = np.random.default_rng(seed + 2)

    def priced(s: np.ndarray) -> float:
        return -alpha * model.loss_change(s) - gamma * s.sum() - l2 @ (s * s)

    constant = game.potential(model.reference) - priced(model.reference)
    for _ in range(5):
        s = rng.uniform(0, 1, size=n)
        assert game.potential(s) - priced(s) == pytest.approx(constant, abs=1e-9 * (
            1 + abs(constant) + abs(priced(s))))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 10), n_examples=st.integers(1, 6))
def test_game_matches_dense_curvature_and_loss_change(seed: int, n: int,
                                                       n_examples: int) -> None:
    model = _random_model(seed, n, n_examples, 0.1)
    H = _dense_curvature(model)
    game = quadratic_game(model)
    np.testing.assert_allclose(game.benefit, -model.gradient + H @ model.reference, atol=1e-12)
    np.testing.assert_allclose(game.quadratic_cost, np.diag(H) / 2, atol=1e-12)
    np.testing.assert_allclose(-game.jacobian(), H, atol=1e-12)
    dense = QuadraticModel(model.gradient, model.reference, matrix=H - 0.1 * np.eye(n),
                           damping=0.1)
    s = np.random.default_rng(seed).uniform(0, 1, size=n)
    d = s - model.reference
    assert model.loss_change(s) == pytest.approx(model.gradient @ d + 0.5 * d @ H @ d)
    assert dense.loss_change(s) == pytest.approx(model.loss_change(s))
    np.testing.assert_allclose(quadratic_game(dense).benefit, game.benefit, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_damping_makes_the_game_monotone_and_unique(seed: int) -> None:
    model = _random_model(seed, 30, 5, 1e-2)  # rank 5 < 30: only the damping makes H PD
    game = quadratic_game(model, gamma=0.1)
    result = solve(game, "newton", tol=1e-10)
    report = analyze_stability(game, result.profile)
    assert report.is_monotone and report.unique
    undamped = quadratic_game(QuadraticModel(model.gradient, model.reference,
                                             factors=model.factors))
    assert not analyze_stability(undamped, result.profile).is_monotone


@pytest.mark.parametrize("seed", [0, 1])
def test_low_rank_game_on_200_gates_solved_by_newton(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_examples = 200, 40
    layer = np.repeat([0, 1], [120, 80])
    G = rng.normal(size=(n_examples, n))
    stats = NetworkStatistics(layer=layer, grad_inner=np.zeros(n), dloss_ds=G.mean(axis=0),
                              taylor=np.zeros(n), sq_norms=rng.uniform(0.5, 2, size=n),
                              participation=np.ones(n), curvature_factors=G.T / np.sqrt(
                                  n_examples), curvature="fisher", curvature_damping=1e-2)
    game = build_game(stats, "second_order", gamma=0.05, beta=0.01)
    assert isinstance(game.competition, LowRank) and game.competition.rank == n_examples
    result = solve(game, "newton", tol=1e-8)
    assert result.converged and nash_gap(game, result.profile) <= 1e-8
    assert analyze_stability(game, result.profile).unique
    # the equilibrium is the minimizer of the priced model loss on the box: no box point is
    # better than it (it is the potential's maximizer, the potential being strictly concave)
    model = quadratic_model(stats)
    best = -model.loss_change(result.profile) - 0.05 * result.profile.sum() - 0.01 * (
        stats.sq_norms @ result.profile**2)
    for _ in range(20):
        s = np.clip(result.profile + rng.normal(scale=0.05, size=n), 0, 1)
        assert -model.loss_change(s) - 0.05 * s.sum() - 0.01 * (stats.sq_norms @ s**2) <= best


def test_reconstruction_reading_from_gram_blocks() -> None:
    rng = np.random.default_rng(3)
    blocks = []
    for size in (4, 3):
        V = rng.normal(size=(size, 6))
        blocks.append(V @ V.T / 6)
    n = 7
    s0 = rng.uniform(0.5, 1, size=n)
    stats = NetworkStatistics(layer=np.repeat([0, 1], [4, 3]), grad_inner=np.zeros(n),
                              dloss_ds=rng.normal(size=n), taylor=np.zeros(n),
                              sq_norms=np.ones(n), participation=s0, reconstruction_gram=tuple(
                                  blocks), curvature_damping=1e-3)
    game = build_game(stats, "reconstruction", gamma=0.01)
    M = sp.block_diag(blocks).toarray()
    s = rng.uniform(0, 1, size=n)
    d = s - s0
    assert quadratic_model(stats, "reconstruction").loss_change(s) == pytest.approx(
        d @ M @ d + 0.5e-3 * d @ d)
    # at gamma = 0 keeping s0 costs nothing: s0 is the (unique) equilibrium
    free = build_game(stats, "reconstruction")
    assert nash_gap(free, s0) <= 1e-12
    assert game.is_potential and analyze_stability(game, s0).is_monotone


def test_refusals() -> None:
    n = 3
    stats = NetworkStatistics(layer=np.zeros(n, dtype=int), grad_inner=np.zeros(n),
                              dloss_ds=np.zeros(n), taylor=np.zeros(n), sq_norms=np.ones(n))
    with pytest.raises(InvalidGameError, match="curvature_factors"):
        build_game(stats, "second_order")
    with pytest.raises(InvalidGameError, match="reconstruction_gram"):
        build_game(stats, "reconstruction")
    with pytest.raises(UnknownMethodError, match="payoff"):
        build_game(stats, "third_order")
    with pytest.raises(InvalidGameError, match="together"):
        NetworkStatistics(layer=np.zeros(n, dtype=int), grad_inner=np.zeros(n),
                          dloss_ds=np.zeros(n), taylor=np.zeros(n), sq_norms=np.ones(n),
                          curvature_factors=np.ones((n, 2)))
    with pytest.raises(InvalidGameError, match="exactly one"):
        QuadraticModel(np.zeros(n), np.ones(n))
    with pytest.raises(InvalidGameError, match="symmetric"):
        QuadraticModel(np.zeros(n), np.ones(n), matrix=np.triu(np.ones((n, n))))
    with pytest.raises(InvalidGameError, match="diagonal is negative"):
        quadratic_game(QuadraticModel(np.zeros(n), np.ones(n), matrix=-np.eye(n)))
    full = NetworkStatistics(layer=np.zeros(n, dtype=int), grad_inner=np.zeros(n),
                             dloss_ds=np.zeros(n), taylor=np.zeros(n), sq_norms=np.ones(n),
                             curvature_factors=np.ones((n, 2)), curvature="fisher")
    with pytest.raises(InvalidGameError, match="eta=0"):
        build_game(full, "second_order", eta=0.5)


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 5
    stats = NetworkStatistics(layer=np.array([0, 0, 0, 1, 1]), grad_inner=np.zeros(n),
                              dloss_ds=rng.normal(size=n), taylor=np.zeros(n),
                              sq_norms=np.ones(n), curvature_factors=rng.normal(size=(n, 4)),
                              curvature="gauss_newton", curvature_damping=0.25,
                              reconstruction_gram=(np.eye(3), np.eye(2)))
    stats.save(tmp_path / "s.npz")
    back = NetworkStatistics.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.curvature_factors, stats.curvature_factors)
    assert back.curvature == "gauss_newton" and back.curvature_damping == 0.25
    np.testing.assert_array_equal(back.reconstruction_gram[1], np.eye(2))
    np.testing.assert_allclose(build_game(back, "second_order").benefit,
                               build_game(stats, "second_order").benefit)
