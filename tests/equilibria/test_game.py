"""ParticipationGame and CallableGame: payoffs, best responses, potential, validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from equilibria import (
    CallableGame,
    InvalidGameError,
    InvalidProfileError,
    LowRank,
    NotPotentialGameError,
    ParticipationGame,
)
from equilibria.testing import potential_games
from tests.equilibria.games import low_rank_game, monotone_game

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 5), symmetric=st.booleans())
def test_best_response_matches_brute_force_maximization(seed, n, symmetric):
    game = monotone_game(seed, n, symmetric=symmetric)
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n)
    response = game.best_response(s)
    grid = np.linspace(0.0, 1.0, 401)
    for i in range(n):
        def utility(t, i=i):
            trial = s.copy()
            trial[i] = t
            return game.utilities(trial)[i]
        on_grid = max(utility(t) for t in grid)
        search = minimize_scalar(lambda t, i=i: -utility(t, i), bounds=(0, 1), method="bounded",
                                 options={"xatol": 1e-12})
        best_found = max(on_grid, -search.fun, utility(0.0), utility(1.0))
        assert utility(response[i]) >= best_found - 1e-12
        assert utility(response[i]) >= utility(s[i]) - 1e-12


def test_best_response_with_zero_quadratic_cost_is_an_endpoint():
    game = ParticipationGame([1.0, -0.5, 0.3], 0.0, 0.3, None)
    np.testing.assert_array_equal(game.best_response(np.zeros(3)), [1.0, 0.0, 0.0])


@SETTINGS
@given(game=potential_games(2, 6, strength=3.0), seed=st.integers(0, 2**32 - 1))
def test_potential_differences_equal_utility_differences(game, seed):
    n = game.n_players
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n)
    for i in range(n):
        moved = s.copy()
        moved[i] = rng.uniform(0, 1)
        utility_change = game.utilities(moved)[i] - game.utilities(s)[i]
        assert np.isclose(game.potential(moved) - game.potential(s), utility_change,
                          atol=1e-12)


def test_potential_raises_for_asymmetric_competition():
    game = ParticipationGame([1.0, 1.0], 1.0, 0.0, [[0.0, 0.5], [0.1, 0.0]])
    assert not game.is_potential
    with pytest.raises(NotPotentialGameError, match="symmetric"):
        game.potential([0.5, 0.5])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6))
def test_pseudo_gradient_is_the_derivative_of_own_utility(seed, n):
    game = monotone_game(seed, n, symmetric=False)
    s = np.random.default_rng(seed).uniform(0.1, 0.9, n)
    h = 1e-6
    for i in range(n):
        up, down = s.copy(), s.copy()
        up[i] += h
        down[i] -= h
        numeric = (game.utilities(up)[i] - game.utilities(down)[i]) / (2 * h)
        assert np.isclose(game.pseudo_gradient(s)[i], numeric, atol=1e-6)
    J = game.jacobian()
    for j in range(n):
        up, down = s.copy(), s.copy()
        up[j] += h
        down[j] -= h
        column = (game.pseudo_gradient(up) - game.pseudo_gradient(down)) / (2 * h)
        np.testing.assert_allclose(J[:, j], column, atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), d=st.integers(1, 6),
       scale=st.floats(0.01, 2.0))
def test_low_rank_sparse_and_dense_agree(seed, n, d, scale):
    low, dense, sparse = low_rank_game(seed, n, d, scale)
    s = np.random.default_rng(seed + 1).uniform(0, 1, n)
    for other in (dense, sparse):
        np.testing.assert_allclose(low.pseudo_gradient(s), other.pseudo_gradient(s),
                                   rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(low.utilities(s), other.utilities(s), rtol=1e-10,
                                   atol=1e-10)
        np.testing.assert_allclose(low.best_response(s), other.best_response(s), atol=1e-10)
        assert np.isclose(low.payoff_scale(), other.payoff_scale(), rtol=1e-9)
    np.testing.assert_allclose(low.jacobian(), dense.jacobian(), atol=1e-10)
    np.testing.assert_allclose(low.jacobian_operator().matvec(s), dense.jacobian() @ s,
                               atol=1e-9)


def test_from_paper_maps_the_weights():
    grad_inner = np.array([0.5, -0.2, 0.1])
    sq_norms = np.array([2.0, 1.0, 4.0])
    theta = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 2.0]])
    gram = theta @ theta.T
    game = ParticipationGame.from_paper(grad_inner, sq_norms, gram, alpha=2.0, beta=0.1,
                                        gamma=0.05, eta=0.3)
    s = np.array([0.2, 0.7, 0.4])
    expected = (2.0 * grad_inner * s - 0.1 * sq_norms * s**2 - 0.05 * s
                - 0.3 * s * ((gram - np.diag(np.diag(gram))) @ s))
    np.testing.assert_allclose(game.utilities(s), expected)
    low = ParticipationGame.from_paper(grad_inner, sq_norms, LowRank(theta), alpha=2.0,
                                       beta=0.1, gamma=0.05, eta=0.3)
    np.testing.assert_allclose(low.utilities(s), expected)


def test_diagonal_of_competition_is_ignored():
    with_diagonal = ParticipationGame([1.0, 1.0], 1.0, 0.0, [[5.0, 0.5], [0.5, -3.0]])
    without = ParticipationGame([1.0, 1.0], 1.0, 0.0, [[0.0, 0.5], [0.5, 0.0]])
    s = np.array([0.3, 0.6])
    np.testing.assert_allclose(with_diagonal.utilities(s), without.utilities(s))
    sparse = ParticipationGame([1.0, 1.0], 1.0, 0.0, sp.csr_matrix([[5.0, 0.5], [0.5, -3.0]]))
    np.testing.assert_allclose(sparse.utilities(s), without.utilities(s))


def test_restrict_folds_fixed_players_into_the_benefit():
    game = monotone_game(3, 5)
    s = np.random.default_rng(0).uniform(0, 1, 5)
    sub = game.restrict([1, 3], s)
    for t in ([0.1, 0.9], [0.5, 0.5]):
        full = s.copy()
        full[[1, 3]] = t
        np.testing.assert_allclose(sub.utilities(t), game.utilities(full)[[1, 3]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"benefit": [1.0, np.nan], "quadratic_cost": 1.0}, "benefit holds NaN"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": [1.0, np.inf]}, "quadratic_cost holds"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": [1.0, 1.0, 1.0]}, "quadratic_cost has 3"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": [1.0, -1.0]}, "quadratic_cost must be >= 0"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0, "linear_cost": -0.1},
         "linear_cost must be >= 0"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0, "bounds": (1.0, 0.0)}, "lo < hi"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0, "bounds": (-1.0, 1.0)}, "lo must be"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0, "competition": np.ones((3, 3))},
         r"shape \(2, 2\)"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0,
          "competition": [[0.0, np.nan], [0.0, 0.0]]}, "competition holds NaN"),
        ({"benefit": [1.0, 2.0], "quadratic_cost": 1.0,
          "competition": LowRank(np.ones((3, 2)))}, "LowRank"),
        ({"benefit": [], "quadratic_cost": 1.0}, "at least one player"),
        ({"benefit": [[1.0]], "quadratic_cost": 1.0}, "1-D"),
    ],
)
def test_bad_game_input_raises_a_clear_error(kwargs, match):
    with pytest.raises(InvalidGameError, match=match):
        ParticipationGame(**kwargs)


@pytest.mark.parametrize(("s", "match"), [([0.5], r"shape \(2,\)"), ([0.5, np.nan], "NaN"),
                                          ([0.5, 1.5], "box"), ([-0.1, 0.5], "box")])
def test_bad_profile_raises_a_clear_error(s, match):
    game = ParticipationGame([1.0, 2.0], 1.0)
    with pytest.raises(InvalidProfileError, match=match):
        game.utilities(s)


def test_low_rank_rejects_bad_factors():
    with pytest.raises(InvalidGameError, match="shape"):
        LowRank(np.ones(3))
    with pytest.raises(InvalidGameError, match="NaN"):
        LowRank(np.array([[np.nan, 1.0]]))


def test_callable_game_reproduces_the_quadratic_game():
    game = monotone_game(11, 4, symmetric=False)
    wrapped = CallableGame(lambda s: game.utilities(s), 4, scale=game.payoff_scale())
    s = np.random.default_rng(2).uniform(0, 1, 4)
    np.testing.assert_allclose(wrapped.best_response(s), game.best_response(s), atol=1e-7)
    np.testing.assert_allclose(wrapped.pseudo_gradient(s), game.pseudo_gradient(s), atol=1e-6)
    np.testing.assert_allclose(wrapped.deviation_gains(s), game.deviation_gains(s), atol=1e-10)
    np.testing.assert_allclose(wrapped.jacobian(s), game.jacobian(), atol=1e-4)


def test_callable_game_rejects_bad_utilities():
    with pytest.raises(InvalidGameError, match="callable"):
        CallableGame(3.0, 2)
    game = CallableGame(lambda s: s[:1], 2)
    with pytest.raises(InvalidGameError, match=r"shape \(2,\)"):
        game.utilities([0.5, 0.5])
    with pytest.raises(InvalidGameError, match="n_players"):
        CallableGame(lambda s: s, 0)
