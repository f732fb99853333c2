"""Stability classification, uniqueness tests and dominance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import (
    LowRank,
    ParticipationGame,
    analyze_stability,
    dominated_players,
    is_monotone,
    iterated_dominance,
    perturbation_test,
    solve,
)
from equilibria.testing import assert_stable, assert_unique, monotone_games
from tests.equilibria.games import duplicate_pair, low_rank_game, monotone_game

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def test_duplicates_are_non_monotone_and_the_interior_equilibrium_is_unstable():
    game = duplicate_pair()
    assert not is_monotone(game)
    interior = analyze_stability(game, [0.25, 0.25])
    assert interior.classification == "unstable" and not interior.locally_stable
    np.testing.assert_allclose(np.sort(interior.eigenvalues.real), [-4.0, 2.0])
    assert interior.br_spectral_radius == pytest.approx(3.0)
    assert not interior.unique


def test_a_strict_corner_of_the_duplicate_game_is_stable():
    game = ParticipationGame([1.5, 1.5], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])
    report = analyze_stability(game, [1.0, 0.0])
    assert report.strictly_complementary and report.classification == "stable"
    assert perturbation_test(game, [1.0, 0.0], radius=0.05).returned


@SETTINGS
@given(symmetric=st.booleans(), data=st.data())
def test_diagonally_dominant_games_are_monotone_contractive_and_stable(symmetric, data):
    game = data.draw(monotone_games(2, 12, symmetric=symmetric))
    n = game.n_players
    result = solve(game, "newton", tol=1e-14)
    report = analyze_stability(game, result.profile)
    assert report.is_monotone and report.unique
    assert_unique(game)
    assert report.br_spectral_radius < 1.0
    assert report.is_potential == symmetric
    assert np.all(report.eigenvalues.real < 0)
    if report.strictly_complementary:
        assert report.locally_stable
        assert_stable(game, result.profile)
    assert report.n_free <= n
    assert report.n_at_lower + report.n_at_upper + np.sum(
        (result.profile > 1e-9) & (result.profile < 1 - 1e-9)) == n


def test_perturbations_return_to_a_stable_unique_equilibrium():
    game = monotone_game(4, 8)
    result = solve(game, "newton", tol=1e-14)
    report = perturbation_test(game, result.profile, radius=0.2, trials=6, rng=1)
    assert report.returned and report.max_return_distance < 1e-3


def test_perturbations_leave_an_unstable_equilibrium():
    report = perturbation_test(duplicate_pair(), [0.25, 0.25], radius=0.05, trials=6, rng=0)
    assert not report.returned and report.max_return_distance > 0.5


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 40), d=st.integers(1, 5),
       scale=st.floats(0.05, 3.0))
def test_low_rank_monotonicity_by_inertia_matches_dense_eigenvalues(seed, n, d, scale):
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, d))
    q = rng.uniform(0.0, 1.0, n) * scale * np.einsum("ij,ij->i", factors, factors)
    operator = LowRank(factors, scale)
    from equilibria.stability import _low_rank_positive_definite

    dense = ParticipationGame(np.ones(n), q, 0.0, operator.rows(0, n))
    assert _low_rank_positive_definite(2 * q, operator) == is_monotone(dense)


def test_large_low_rank_game_is_classified_without_dense_matrices():
    low, _, _ = low_rank_game(0, 3000, 4, 0.5)
    assert is_monotone(low)
    result = solve(low, "newton", tol=1e-10)
    report = analyze_stability(low, result.profile)
    assert report.is_monotone and report.locally_stable


def test_dominated_players_match_the_closed_form():
    # Player 2's benefit net of its cost is below the competition it faces even when the
    # others play their friendliest profile (player 0 at 1 gives complementarity -0.2).
    R = np.array([[0.0, 0.1, 0.0], [0.1, 0.0, 0.3], [-0.2, 0.3, 0.0]])
    game = ParticipationGame([1.0, 0.5, 0.15], 1.0, 0.3, R)
    assert list(dominated_players(game)) == []
    game = ParticipationGame([1.0, 0.5, 0.05], 1.0, 0.3, R)
    np.testing.assert_array_equal(dominated_players(game), [2])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 10), symmetric=st.booleans())
def test_iterated_dominance_brackets_and_pins_down_the_equilibrium(seed, n, symmetric):
    game = monotone_game(seed, n, symmetric=symmetric, margin=0.6)
    equilibrium = solve(game, "newton", tol=1e-14).profile
    narrowed = iterated_dominance(game)
    assert np.all(narrowed.lower <= equilibrium + 1e-9)
    assert np.all(equilibrium <= narrowed.upper + 1e-9)
    # rho(diag(1/2q)|R|) <= 0.6 here, so the intervals collapse to the equilibrium.
    assert narrowed.converged and narrowed.width < 1e-8
    assert set(dominated_players(game)) <= set(narrowed.eliminated)


def test_iterated_dominance_keeps_every_equilibrium_of_the_duplicate_game():
    narrowed = iterated_dominance(duplicate_pair())
    for equilibrium in ([1.0, 0.0], [0.0, 1.0], [0.25, 0.25]):
        assert np.all(narrowed.lower <= equilibrium) and np.all(equilibrium <= narrowed.upper)
