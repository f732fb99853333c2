"""basins: every solver run ends at an enumerated equilibrium, and the shares add up."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import CallableGame, ParticipationGame
from equilibria.basins import Basins, basins
from equilibria.enumerate import all_equilibria
from equilibria.errors import InvalidOptionError
from tests.equilibria.games import duplicate_pair, monotone_game
from tests.equilibria.test_enumerate import random_game

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)


def test_duplicate_pair_starts_split_between_the_two_stable_equilibria() -> None:
    result = basins(duplicate_pair(), n_starts=40, rng=0)
    assert isinstance(result, Basins) and result.n_starts == 40
    assert result.enumerated.all() and result.equilibria.shape == (3, 2)
    assert result.counts.sum() + result.unconverged == 40
    assert result.shares.sum() + result.unconverged_share == pytest.approx(1.0)
    unstable = int(np.argmin(np.abs(result.equilibria - 0.25).max(axis=1)))
    assert result.counts[unstable] == 0  # (1/4, 1/4) repels best-response play
    assert result.counts.sum() == 40 and min(np.delete(result.counts, unstable)) > 0
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["n_starts"] == 40 and len(payload["labels"]) == 40


def test_a_start_at_an_equilibrium_ends_there() -> None:
    game = duplicate_pair()
    known = all_equilibria(game).equilibria
    result = basins(game, "newton", starts=known)
    np.testing.assert_array_equal(result.labels, [0, 1, 2])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 5),
       strength=st.sampled_from([0.5, 2.0, 4.0]), symmetric=st.booleans(),
       method=st.sampled_from(["best_response", "newton", "extragradient"]))
def test_every_converged_start_lands_on_an_enumerated_equilibrium(seed, n, strength,
                                                                  symmetric, method):
    game = random_game(seed, n, strength, symmetric)
    result = basins(game, method, n_starts=6, rng=seed, max_iter=3000)
    assert result.enumerated.all(), result.equilibria
    assert result.counts.sum() + result.unconverged == 6


def test_a_monotone_game_has_one_basin() -> None:
    result = basins(monotone_game(3, 6), "projected_gradient", n_starts=8, rng=1)
    assert result.equilibria.shape[0] == 1 and result.counts.tolist() == [8]


def test_a_callable_game_collects_the_equilibria_its_runs_find() -> None:
    def utility(s: np.ndarray) -> np.ndarray:
        return s / s.sum() - s

    game = CallableGame(utility, 2, bounds=(1e-3, 1.0),
                        gradient_fn=lambda s: (s.sum() - s) / s.sum() ** 2 - 1.0)
    result = basins(game, "extragradient", n_starts=3, rng=2, tol=1e-12)
    assert result.equilibria.shape[0] == 1 and not result.enumerated.any()
    assert result.counts.tolist() == [3]
    np.testing.assert_allclose(result.equilibria[0], 0.25, atol=1e-5)


def test_given_equilibria_are_used_instead_of_the_enumeration() -> None:
    game = duplicate_pair()
    result = basins(game, starts=[[0.9, 0.1], [0.1, 0.9]], equilibria=[[1.0, 0.0]])
    assert result.labels.tolist() == [0, 1] and result.enumerated.tolist() == [True, False]


@pytest.mark.parametrize("kwargs", [{}, {"starts": [[0.5, 0.5]], "n_starts": 3},
                                    {"starts": np.zeros((0, 2))}, {"n_starts": 0}])
def test_bad_starts_are_refused(kwargs) -> None:
    with pytest.raises(InvalidOptionError):
        basins(ParticipationGame([1.0, 1.0], 0.5), **kwargs)
