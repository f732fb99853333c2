"""Projected gradient and extragradient adapt their step when none is given (issue 13, item 4).

The Tullock contest of the issue, ``U_i = s_i / sum_j s_j - k s_i`` on [1e-3, 1] with the
symmetric equilibrium ``(N - 1) / (N^2 k)``, has a Jacobian that grows like 1 / S^2 towards
the lower bound: a step from one global Lipschitz estimate cycles, the backtracked one
converges.
"""

from __future__ import annotations

import numpy as np
import pytest

from equilibria import CallableGame, ParticipationGame, solve
from equilibria.solvers.extragradient import extragradient_step
from equilibria.solvers.projected_gradient import lipschitz_constant, projected_gradient_step

METHODS = ("projected_gradient", "extragradient")
TULLOCK = [(2, 1.0), (4, 1.0), (8, 0.5)]


def tullock(n: int, k: float) -> tuple[CallableGame, float]:
    """The Tullock contest with its exact gradient ``(S - s_i) / S^2 - k``."""
    def utility(s: np.ndarray) -> np.ndarray:
        return s / s.sum() - k * s

    def gradient(s: np.ndarray) -> np.ndarray:
        total = s.sum()
        return (total - s) / total**2 - k

    game = CallableGame(utility, n, bounds=(1e-3, 1.0), gradient_fn=gradient)
    return game, (n - 1) / (n * n * k)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "k"), TULLOCK)
def test_tullock_contest_converges_with_default_options(method: str, n: int, k: float) -> None:
    game, star = tullock(n, k)
    result = solve(game, method)
    assert result.converged, result.message
    # relative gap 1e-8 puts a free player about 1e-4 from the equilibrium (quadratic)
    assert np.abs(result.profile - star).max() <= 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_tullock_contest_converges_to_the_closed_form_from_random_starts(method: str) -> None:
    game, star = tullock(4, 1.0)
    for seed in range(2):
        result = solve(game, method, s0="random", rng=seed, tol=1e-13)
        assert result.converged, result.message
        assert np.abs(result.profile - star).max() <= 1e-5


def test_the_former_global_step_cycles_on_the_tullock_contest() -> None:
    """Why the step adapts: 1 / L with L from the box centre is too long near s*."""
    game, _ = tullock(2, 1.0)
    result = solve(game, "projected_gradient", step=1.0 / lipschitz_constant(game), max_iter=60)
    assert not result.converged


@pytest.mark.parametrize(("method", "make"), [("projected_gradient", projected_gradient_step),
                                              ("extragradient", extragradient_step)])
def test_a_given_step_keeps_the_fixed_step_iteration(method, make) -> None:
    game, _ = tullock(4, 1.0)
    result = solve(game, method, step=0.01, max_iter=25, record=True)
    step = make(game, 0.01)
    expected = [result.trajectory[0]]
    for k in range(result.iterations):
        expected.append(step(expected[-1], k))
    np.testing.assert_array_equal(result.trajectory, np.asarray(expected))


def test_adaptive_projected_gradient_ascends_the_potential_of_a_quadratic_game() -> None:
    """The accepted step ascends Phi (the secant estimate is exact for a quadratic)."""
    rng = np.random.default_rng(3)
    n = 12
    R = rng.uniform(-0.5, 1.5, (n, n))
    R = 0.5 * (R + R.T)
    game = ParticipationGame(rng.uniform(-1.0, 3.0, n), rng.uniform(0.1, 1.0, n), 0.1, R)
    result = solve(game, "projected_gradient", s0="random", rng=1, record=True, max_iter=300)
    potentials = np.array([game.potential(s) for s in result.trajectory])
    assert np.all(np.diff(potentials) >= -1e-12 * np.abs(potentials).max())


@pytest.mark.parametrize("method", METHODS)
def test_a_rotating_non_potential_game_converges_with_the_default(method: str) -> None:
    """Monotone with a strong antisymmetric part: projected gradient needs t < 2 mu / L^2,
    which the contraction test of the adaptive step finds."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    game = ParticipationGame(np.full(6, 2.0), 0.5, 0.0, 10.0 * (A - A.T))
    reference = solve(game, "newton", tol=1e-14)
    result = solve(game, method, tol=1e-10, max_iter=5000)
    assert result.converged, result.message
    assert np.abs(result.profile - reference.profile).max() <= 1e-3


def test_near_linear_players_converge_from_random_starts() -> None:
    """Tiny own costs (a trained net's sub-game: q ~ 1e-2): along a nearly constant gradient
    the step is a translation towards a bound, which the contraction test must accept."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        R = rng.uniform(-0.02, 0.06, (12, 12))
        game = ParticipationGame(rng.uniform(-0.03, 0.02, 12), rng.uniform(0.003, 0.03, 12),
                                 0.0, 0.5 * (R + R.T))
        for _ in range(3):
            result = solve(game, "projected_gradient", s0=rng.uniform(0, 1, 12), tol=1e-10,
                           max_iter=3000)
            assert result.converged, result.message


def test_projected_gradient_leaves_an_unstable_equilibrium() -> None:
    """Near (1/4, 1/4) of the duplicate pair the step expands (g grows along it): the
    contraction test must not stop it there."""
    game = ParticipationGame([1.0, 1.0], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])
    result = solve(game, "projected_gradient", s0=[0.26, 0.24], tol=1e-10)
    assert result.converged  # player 0 ends at hi with a zero gradient: gap ~ (1 - s_0)^2
    np.testing.assert_allclose(result.profile, [1.0, 0.0], atol=1e-4)
