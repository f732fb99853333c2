"""equilibria.testing: every strategy draws games with its stated property, and every
assertion passes at a real equilibrium and fails elsewhere, naming the offending player."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import (
    InvalidOptionError,
    LowRank,
    ParticipationGame,
    dominated_players,
    is_monotone,
    nash_gap,
    solve,
)
from equilibria import competition as comp
from equilibria.testing import (
    assert_dominated_at_zero,
    assert_equilibrium,
    assert_stable,
    assert_unique,
    games_with_dominated_players,
    games_with_duplicates,
    low_rank_games,
    monotone_games,
    network_games,
    network_statistics,
    potential_games,
    profiles,
)
from tests.equilibria.games import duplicate_pair

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


def _dense(game: ParticipationGame) -> np.ndarray:
    n = game.n_players
    return np.zeros((n, n)) if game.competition is None else comp.to_dense(game.competition, n)


# ---------------------------------------------------------------------------- strategies
@SETTINGS
@given(game=monotone_games(1, 10, margin=0.7))
def test_monotone_games_are_monotone_and_best_response_contracts(game):
    assert is_monotone(game)
    contraction = np.abs(_dense(game)).sum(axis=1) / (2 * game.quadratic_cost)
    assert contraction.max() <= 0.7 + 1e-12  # max-norm factor of the Jacobi map
    assert_unique(game)
    assert_equilibrium(game, solve(game, "newton", tol=1e-13).profile, tol=1e-12)


@SETTINGS
@given(game=monotone_games(2, 6, symmetric=True))
def test_symmetric_monotone_games_are_potential_games(game):
    assert game.is_potential


@SETTINGS
@given(game=potential_games(1, 8, strength=3.0), data=st.data())
def test_potential_games_have_an_exact_potential(game, data):
    assert game.is_potential
    s = data.draw(profiles(game.n_players))
    i = data.draw(st.integers(0, game.n_players - 1))
    moved = s.copy()
    moved[i] = data.draw(st.floats(0.0, 1.0))
    utility_change = game.utilities(moved)[i] - game.utilities(s)[i]
    assert game.potential(moved) - game.potential(s) == pytest.approx(utility_change, abs=1e-10)


@SETTINGS
@given(game=games_with_dominated_players(max_players=8, dominated=3))
def test_games_with_dominated_players_have_that_many(game):
    assert dominated_players(game).size >= 3
    result = solve(game, "projected_gradient", max_iter=5_000)
    # Dominated players are at zero whatever the others play, converged or not.
    assert_dominated_at_zero(game, result.profile)


@SETTINGS
@given(drawn=games_with_duplicates(max_players=8, pairs=2))
def test_planted_duplicates_are_interchangeable(drawn):
    game, pairs = drawn
    assert len(pairs) == 2 and len({p for pair in pairs for p in pair}) == 4
    for i, j in pairs:
        assert i < j
        swap = np.arange(game.n_players)
        swap[[i, j]] = [j, i]
        swapped = game.permuted(swap)
        for name in ("benefit", "quadratic_cost", "linear_cost"):
            np.testing.assert_array_equal(getattr(swapped, name), getattr(game, name))
        np.testing.assert_array_equal(_dense(swapped), _dense(game))


@SETTINGS
@given(rank=st.integers(1, 4), data=st.data())
def test_low_rank_games_have_the_given_rank(rank, data):
    game = data.draw(low_rank_games(rank, 1, 10))
    assert isinstance(game.competition, LowRank) and game.competition.rank == rank
    assert np.linalg.matrix_rank(game.competition.factors @ game.competition.factors.T) <= rank
    monotone = data.draw(low_rank_games(rank, 1, 10, monotone=True))
    assert is_monotone(monotone)


@SETTINGS
@given(stats=network_statistics(max_layers=3, max_width=5))
def test_network_statistics_are_those_of_a_network(stats):
    sizes = np.bincount(stats.layer)
    assert np.all(sizes >= 1) and sizes.size <= 3 and sizes.max() <= 5
    for gram, overlap in zip(stats.parameter_gram, stats.activation_overlap, strict=True):
        np.testing.assert_allclose(gram, gram.T)
        assert np.linalg.eigvalsh(gram).min() >= -1e-9  # a Gram matrix
        np.testing.assert_allclose(np.diag(overlap), 1.0)  # a correlation
    np.testing.assert_allclose(np.concatenate([np.diag(g) for g in stats.parameter_gram]),
                               stats.sq_norms)


@SETTINGS
@given(game=network_games())
def test_network_games_are_potential_games_with_concave_utilities(game):
    assert game.is_potential
    assert np.all(game.quadratic_cost > 0)


def test_strategies_refuse_impossible_sizes_when_built():
    with pytest.raises(InvalidOptionError, match="max_players"):
        monotone_games(5, 2)
    with pytest.raises(ValueError, match="max_players"):
        games_with_duplicates(max_players=3, pairs=2)
    with pytest.raises(InvalidOptionError, match="payoff"):
        network_games(payoff="second_order")


# ---------------------------------------------------------------------------- assertions
def test_assert_equilibrium_names_the_player_who_gains():
    game = ParticipationGame([1.0, 0.2], 0.5)  # best response (1, 0.2) whatever the others do
    assert_equilibrium(game, [1.0, 0.2])
    with pytest.raises(AssertionError, match=r"player 1 gains [0-9.e-]+ .* s_1 = 0\.9 to its "
                                             r"best response 0\.2; 1 of 2 players"):
        assert_equilibrium(game, [1.0, 0.9])


@SETTINGS
@given(game=monotone_games(2, 8), data=st.data())
def test_assert_equilibrium_fails_exactly_off_equilibrium(game, data):
    s = data.draw(profiles(game.n_players))
    gaps = nash_gap(game, s, per_player=True)
    if gaps.max() <= 1e-8:
        assert_equilibrium(game, s)
        return
    with pytest.raises(AssertionError) as failure:
        assert_equilibrium(game, s)
    assert re.search(rf"player {int(np.argmax(gaps))} gains", str(failure.value))


def test_assert_dominated_at_zero_names_the_dominated_player():
    game = ParticipationGame([1.0, -0.5], 1.0, competition=[[0.0, 0.2], [0.2, 0.0]])
    assert list(dominated_players(game)) == [1]
    assert_dominated_at_zero(game, [0.5, 0.0])
    with pytest.raises(AssertionError, match=r"player 1 is dominated .* -0\.5 <= 0.*s_1 = 0\.3"):
        assert_dominated_at_zero(game, [0.5, 0.3])


def test_assert_unique_shows_two_equilibria_of_duplicates():
    with pytest.raises(AssertionError, match=r"not unique: [23] distinct equilibria from 6 "
                                             r"starts; two differ most at player [01]"):
        assert_unique(duplicate_pair())


def test_assert_unique_says_when_uniqueness_is_only_not_certified():
    # Player 1 is dominated, so (1, 0) is the only equilibrium, but 2 diag(q) + R has the
    # eigenvalues 4 and -2: not monotone, so uniqueness is not certified.
    game = ParticipationGame([1.0, -5.0], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])
    assert not is_monotone(game)
    with pytest.raises(AssertionError, match=r"not certified.*eigenvalue 2 >= 0"):
        assert_unique(game)


def test_assert_stable_names_the_repelling_player():
    game = duplicate_pair()
    assert_stable(ParticipationGame([1.5, 1.5], [0.5, 0.5], 0.0, [[0, 3.0], [3.0, 0]]), [1, 0])
    with pytest.raises(AssertionError, match=r"'unstable'.*eigenvalue 2 .* player [01] "
                                             r"\(s_[01] = 0\.25\)"):
        assert_stable(game, [0.25, 0.25])
