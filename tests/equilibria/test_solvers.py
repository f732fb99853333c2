"""Every solver reaches a certified equilibrium; the theory's invariances hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from equilibria import (
    METHODS,
    CallableGame,
    ParticipationGame,
    UnknownMethodError,
    is_equilibrium,
    kkt_residual,
    nash_gap,
    solve,
)
from equilibria.dominance import dominated_players
from equilibria.testing import assert_dominated_at_zero, assert_equilibrium, monotone_games
from tests.equilibria.games import duplicate_pair, low_rank_game, monotone_game

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)

#: (method, options, tolerance): fictitious play converges at a sublinear rate (a player held at
#: a bound by a negative gradient has a gap linear in its average, which decays like 1/k), so
#: it is asked for a looser certificate.
SOLVERS = [
    ("best_response", {"scheme": "gauss_seidel"}, 1e-10),
    ("best_response", {"scheme": "jacobi"}, 1e-10),
    ("best_response", {"scheme": "gauss_seidel", "order": "random", "damping": 0.8}, 1e-10),
    ("fictitious_play", {}, 1e-3),
    ("projected_gradient", {}, 1e-10),
    ("extragradient", {}, 1e-10),
    ("newton", {}, 1e-10),
]


@SETTINGS
@given(game=monotone_games(2, 12), seed=st.integers(0, 2**32 - 1))
def test_every_solver_certifies_and_all_agree_on_monotone_games(game, seed):
    reference = solve(game, "newton", tol=1e-14)
    assert reference.converged
    for method, options, tol in SOLVERS:
        result = solve(game, method, s0="random", rng=seed, tol=tol, max_iter=20_000, **options)
        assert result.converged, (method, options, result.message)
        assert result.nash_gap <= tol
        assert nash_gap(game, result.profile) == pytest.approx(result.nash_gap)
        assert is_equilibrium(game, result.profile, tol)
        assert_equilibrium(game, result.profile, tol)
        # Unique equilibrium, so every solver is near the reference: the gap is quadratic in
        # the distance for free players and linear for players held at a bound.
        assert np.abs(result.profile - reference.profile).max() <= 50 * np.sqrt(tol)


@SETTINGS
@given(game=monotone_games(2, 12))
def test_dominated_players_sit_at_zero_in_every_solvers_equilibrium(game):
    dominated = dominated_players(game)
    for method, options, tol in SOLVERS:
        result = solve(game, method, tol=tol, max_iter=20_000, **options)
        if method == "fictitious_play":
            # The running average approaches 0 like 1/k; best response itself is exactly 0.
            assert np.all(game.best_response(result.profile)[dominated] == 0.0)
        else:
            assert_dominated_at_zero(game, result.profile, atol=1e-9)


def test_dominance_has_players_to_prune_in_a_game_built_for_it():
    game = ParticipationGame([1.0, 0.1, -0.2, 2.0], 1.0, 0.2, None)
    np.testing.assert_array_equal(dominated_players(game), [1, 2])


def _active_count_along_gamma(game: ParticipationGame, gammas) -> list[int]:
    counts = []
    for gamma in gammas:
        result = solve(game.with_costs(linear_cost=gamma), "newton", tol=1e-14)
        assert result.converged
        counts.append(int((result.profile > 1e-9).sum()))
    return counts


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8))
def test_raising_gamma_never_activates_players_without_competition_or_with_complements(seed,
                                                                                       n):
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.5, 2.0, n)
    b = rng.uniform(-1.0, 3.0, n)
    complements = -rng.uniform(0.0, 1.0, (n, n))
    complements = 0.5 * (complements + complements.T)
    complements *= 0.7 * 2.0 * q.min() / max(np.abs(complements).sum(axis=1).max(), 1e-12)
    gammas = np.linspace(0.0, 4.0, 41)
    for competition in (None, complements):
        counts = _active_count_along_gamma(ParticipationGame(b, q, 0.0, competition), gammas)
        assert all(later <= earlier for earlier, later in zip(counts, counts[1:], strict=False))


def test_raising_gamma_can_activate_a_player_under_competition():
    """A certified counterexample to 'more L1 cost never means more active players'.

    The game is monotone (unique equilibrium at every gamma). Player 1 has a tiny quadratic
    cost, so a higher gamma shrinks it fast; that relieves the competition on player 0, which
    enters. Documented in docs/explanation/game.md.
    """
    from equilibria.stability import is_monotone

    R = np.array([[0.0, 0.68, 0.22], [0.68, 0.0, 0.17], [0.22, 0.17, 0.0]])
    game = ParticipationGame([1.43, 1.22, 1.12], [1.33, 0.2, 0.49], 0.0, R)
    before = solve(game.with_costs(linear_cost=0.90), "newton", tol=1e-14)
    after = solve(game.with_costs(linear_cost=0.95), "newton", tol=1e-14)
    assert is_monotone(game.with_costs(linear_cost=0.9)) and before.converged and after.converged
    assert before.profile[0] == 0.0 and after.profile[0] > 0.01
    assert (after.profile > 0).sum() > (before.profile > 0).sum()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 10))
def test_gauss_seidel_never_decreases_the_potential(seed, n):
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.1, 1.0, n)
    R = rng.uniform(0.0, 2.0, (n, n))
    game = ParticipationGame(rng.uniform(-1, 3, n), q, 0.1, 0.5 * (R + R.T))
    result = solve(game, "best_response", s0="random", rng=seed, record=True, max_iter=200)
    potentials = [game.potential(s) for s in result.trajectory]
    assert all(b >= a - 1e-12 * max(1.0, abs(a)) for a, b in zip(potentials, potentials[1:],
                                                                   strict=False))
    assert result.converged


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 10))
def test_equilibrium_matches_lbfgsb_on_the_potential(seed, n):
    game = monotone_game(seed, n, symmetric=True)
    result = solve(game, "best_response", tol=1e-13)
    found = minimize(lambda s: -game.potential(s), np.full(n, 0.5),
                     jac=lambda s: -game.pseudo_gradient(s), method="L-BFGS-B",
                     bounds=[(0.0, 1.0)] * n, options={"ftol": 1e-15, "gtol": 1e-12})
    np.testing.assert_allclose(result.profile, found.x, atol=1e-5)
    assert game.potential(result.profile) >= game.potential(found.x) - 1e-12


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 10), factor=st.floats(1e-3, 1e3))
def test_permutation_and_scaling_invariance(seed, n, factor):
    game = monotone_game(seed, n, symmetric=False)
    order = np.random.default_rng(seed).permutation(n)
    base = solve(game, "newton", tol=1e-14).profile
    permuted = solve(game.permuted(order), "newton", tol=1e-14).profile
    np.testing.assert_allclose(permuted, base[order], atol=1e-9)
    scaled = solve(game.scaled(factor), "best_response", tol=1e-14)
    np.testing.assert_allclose(scaled.profile, base, atol=1e-6)
    assert nash_gap(game.scaled(factor), base) == pytest.approx(nash_gap(game, base),
                                                                 rel=1e-6, abs=1e-14)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), d=st.integers(1, 5))
def test_low_rank_sparse_and_dense_reach_the_same_equilibrium(seed, n, d):
    games = low_rank_game(seed, n, d, 0.5)
    profiles = [solve(g, method, tol=1e-13).profile
                for g in games for method in ("newton", "best_response")]
    for profile in profiles[1:]:
        np.testing.assert_allclose(profile, profiles[0], atol=1e-5)


def test_duplicates_have_several_equilibria_found_from_different_starts():
    game = duplicate_pair()
    found = set()
    for start in ([1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]):
        result = solve(game, "best_response", s0=start)
        assert result.converged
        found.add(tuple(np.round(result.profile, 6)))
    assert {(1.0, 0.0), (0.0, 1.0)} <= found
    interior = np.array([0.25, 0.25])
    assert is_equilibrium(game, interior, 1e-14)
    assert kkt_residual(game, interior) == pytest.approx(0.0, abs=1e-14)


def test_jacobi_oscillates_where_gauss_seidel_converges():
    game = duplicate_pair()
    jacobi = solve(game, "best_response", scheme="jacobi", s0=[0.5, 0.5], max_iter=50)
    assert not jacobi.converged
    assert solve(game, "best_response", s0=[0.5, 0.5]).converged


def test_history_and_trajectory_are_recorded():
    game = monotone_game(1, 5)
    result = solve(game, "projected_gradient", record=True)
    assert result.history.shape == (result.iterations + 1,)
    assert result.trajectory.shape == (result.iterations + 1, 5)
    assert result.history[-1] == result.nash_gap
    assert result.to_dict()["converged"] is True


def test_callable_game_is_solved_by_the_generic_solvers():
    target = np.array([0.3, 0.6, 0.9])

    def utility(s):
        return -(s - target) ** 2 - 0.1 * s * (s.sum() - s)

    game = CallableGame(utility, 3)
    result = solve(game, "best_response", tol=1e-12)
    assert result.converged
    eg = solve(game, "extragradient", tol=1e-10)
    np.testing.assert_allclose(eg.profile, result.profile, atol=1e-4)
    with pytest.raises(TypeError, match="ParticipationGame"):
        solve(game, "newton")


def test_unconverged_runs_say_so():
    result = solve(monotone_game(2, 6), "fictitious_play", tol=1e-14, max_iter=5)
    assert not result.converged and "max_iter" in result.message


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "simplex"}, UnknownMethodError, "unknown method"),
        ({"method": "best_response", "scheme": "red_black"}, UnknownMethodError, "scheme"),
        ({"method": "best_response", "step": 0.1}, TypeError, "unexpected"),
        ({"method": "best_response", "damping": 0.0}, ValueError, "damping"),
        ({"method": "projected_gradient", "step": -1.0}, ValueError, "step"),
        ({"method": "newton", "tol": float("nan")}, ValueError, "tol"),
        ({"method": "newton", "max_iter": -1}, ValueError, "max_iter"),
        ({"method": "newton", "s0": [2.0, 0.0, 0.0]}, ValueError, "s0"),
        ({"method": "newton", "s0": "ones"}, ValueError, "s0"),
    ],
)
def test_bad_solver_input_raises_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        solve(monotone_game(0, 3), **kwargs)


def test_methods_table_lists_every_solver():
    assert set(METHODS) == {"best_response", "fictitious_play", "projected_gradient",
                            "extragradient", "newton"}
