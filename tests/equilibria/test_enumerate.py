"""all_equilibria finds exactly the equilibria of small participation games."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import CallableGame, GameTypeError, LowRank, ParticipationGame, nash_gap
from equilibria.certify import distinct_profiles
from equilibria.enumerate import EquilibriumSet, all_equilibria
from equilibria.errors import InvalidOptionError
from tests.equilibria.games import duplicate_pair, monotone_game

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def random_game(seed: int, n: int, strength: float, symmetric: bool) -> ParticipationGame:
    rng = np.random.default_rng(seed)
    R = rng.uniform(-0.3, 1.0, (n, n)) * strength
    if symmetric:
        R = 0.5 * (R + R.T)
    q = rng.uniform(0.1, 1.0, n)
    return ParticipationGame(rng.uniform(-0.5, 2.0, n), q, rng.uniform(0.0, 0.3, n), R)


def brute_force(game: ParticipationGame) -> list[np.ndarray]:
    """Every one of the 3^N status patterns solved and checked, no pruning."""
    n, (lo, hi) = game.n_players, game.bounds
    R = game.competition if game.competition is not None else np.zeros((n, n))
    M = R.copy()
    M[np.diag_indices(n)] = 2.0 * game.quadratic_cost
    found = []
    for pattern in itertools.product((0, 1, 2), repeat=n):
        status = np.array(pattern)
        s = np.where(status == 1, hi, lo).astype(float)
        free, bounded = np.flatnonzero(status == 2), np.flatnonzero(status != 2)
        if free.size:
            rhs = game.net_benefit[free] - R[np.ix_(free, bounded)] @ s[bounded]
            s[free] = np.linalg.solve(M[np.ix_(free, free)], rhs)
        if np.all(s >= lo - 1e-12) and np.all(s <= hi + 1e-12):
            s = np.clip(s, lo, hi)
            if nash_gap(game, s) <= 1e-10:
                found.append(s)
    return distinct_profiles(sorted(found, key=lambda s: nash_gap(game, s)))


def assert_same(found: np.ndarray, expected: list[np.ndarray], atol: float = 1e-8) -> None:
    assert len(found) == len(expected)
    for s in expected:
        assert np.abs(found - s).max(axis=1).min() <= atol


def test_the_duplicate_pair_has_exactly_its_three_equilibria() -> None:
    result = all_equilibria(duplicate_pair())
    assert result.count == 3 and result.complete
    np.testing.assert_allclose(result.equilibria, [[0.0, 1.0], [0.25, 0.25], [1.0, 0.0]],
                               atol=1e-12)
    assert result.classifications == ("stable", "unstable", "stable")


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5),
       strength=st.sampled_from([0.0, 0.5, 2.0, 4.0]), symmetric=st.booleans())
def test_agrees_with_brute_force_over_every_status_pattern(seed, n, strength, symmetric):
    game = random_game(seed, n, strength, symmetric)
    result = all_equilibria(game)
    assert result.complete
    assert_same(result.equilibria, brute_force(game))
    assert np.all(result.nash_gaps <= 1e-10)
    assert np.all([nash_gap(game, s) <= 1e-10 for s in result.equilibria])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8))
def test_diagonal_game_has_the_product_of_per_player_solutions(seed, n):
    rng = np.random.default_rng(seed)
    b, q, c = rng.uniform(-1, 3, n), rng.uniform(0.2, 2.0, n), rng.uniform(0, 0.5, n)
    result = all_equilibria(ParticipationGame(b, q, c, None))
    assert result.count == 1
    np.testing.assert_allclose(result.equilibria[0], np.clip((b - c) / (2 * q), 0, 1),
                               atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_identical_rivals_have_one_equilibrium_per_nonempty_coalition(n: int) -> None:
    """U_i = s_i - s_i^2/2 - 3 s_i sum_{j != i} s_j: the coalition S plays the symmetric
    interior 1 / (1 + 3 (|S| - 1)), everyone else 0 (their gradient 1 - 3|S| s < 0)."""
    game = ParticipationGame(np.ones(n), 0.5, 0.0, 3.0 * (np.ones((n, n)) - np.eye(n)))
    expected = []
    for k in range(1, n + 1):
        for coalition in itertools.combinations(range(n), k):
            s = np.zeros(n)
            s[list(coalition)] = 1.0 / (1.0 + 3.0 * (k - 1))
            expected.append(s)
    result = all_equilibria(game)
    assert_same(result.equilibria, expected, atol=1e-12)
    assert result.classifications.count("stable") == n  # the single-player coalitions


@pytest.mark.parametrize(("n", "r"), [(4, 0.3), (6, 0.1)])
def test_symmetric_cournot_has_its_closed_form_equilibrium_only(n: int, r: float) -> None:
    game = ParticipationGame(np.full(n, 1.0), 1.0, 0.1, r * (np.ones((n, n)) - np.eye(n)))
    result = all_equilibria(game)
    assert result.count == 1
    np.testing.assert_allclose(result.equilibria[0], 0.9 / (2.0 + r * (n - 1)), atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12))
def test_monotone_games_have_one_equilibrium_found_by_a_short_search(seed, n):
    game = monotone_game(seed, n)
    result = all_equilibria(game)
    assert result.count == 1 and result.leaves <= 3 ** 3


def test_dominated_players_are_fixed_at_lo_and_reported() -> None:
    game = ParticipationGame([1.0, 0.1, -0.2, 2.0], 1.0, 0.2, None)
    result = all_equilibria(game)
    np.testing.assert_array_equal(result.dominated, [1, 2])
    assert np.all(result.equilibria[:, [1, 2]] == 0.0)


def test_competition_forms_give_the_same_equilibria() -> None:
    rng = np.random.default_rng(5)
    factors = rng.standard_normal((6, 2))
    benefit = rng.uniform(0.5, 2.0, 6)
    dense = 0.8 * (factors @ factors.T)
    forms = [LowRank(factors, 0.8), dense, sp.csr_matrix(dense)]
    games = [ParticipationGame(benefit, 0.3, 0.0, form) for form in forms]
    results = [all_equilibria(g) for g in games]
    for other in results[1:]:
        np.testing.assert_allclose(other.equilibria, results[0].equilibria, atol=1e-10)


def test_refuses_large_games_in_one_line_and_other_games() -> None:
    game = monotone_game(0, 16)
    with pytest.raises(InvalidOptionError, match="max_players=15") as error:
        all_equilibria(game)
    assert "\n" not in str(error.value)
    assert all_equilibria(game, max_players=16).count == 1
    with pytest.raises(GameTypeError):
        all_equilibria(CallableGame(lambda s: -s * s, 2))


def test_a_node_budget_that_runs_out_says_the_search_is_incomplete() -> None:
    game = ParticipationGame(np.ones(5), 0.5, 0.0, 3.0 * (np.ones((5, 5)) - np.eye(5)))
    result = all_equilibria(game, max_nodes=5)
    assert not result.complete and result.count < 31


def test_result_is_plain() -> None:
    result = all_equilibria(duplicate_pair())
    assert isinstance(result, EquilibriumSet)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["count"] == 3 and len(payload["equilibria"]) == 3
