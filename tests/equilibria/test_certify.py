"""Tests of equilibria.certify: certificates of a profile as properties (moved with the code
from tests/papers/test_certificates.py), and the cheap certificate at s alone."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from equilibria import (
    ParticipationGame,
    analyze_stability,
    kkt_residual,
    nash_gap,
    solve,
    stability,
)
from equilibria.bounds import distance_bound
from equilibria.certify import (
    EQUILIBRIUM_TOL,
    Certificate,
    SolveBudget,
    certify,
    certify_profile,
    distinct_profiles,
    jaccard,
)
from equilibria.errors import GameTypeError, InvalidOptionError, InvalidProfileError

CLASSES = {"stable", "unstable", "inconclusive"}


def _random_game(seed: int, n: int, symmetric: bool, strength: float) -> ParticipationGame:
    rng = np.random.default_rng(seed)
    R = rng.uniform(-1.0, 1.0, (n, n)) * strength
    if symmetric:
        R = 0.5 * (R + R.T)
    return ParticipationGame(rng.uniform(-1.0, 2.0, n), rng.uniform(0.2, 1.0, n),
                             rng.uniform(0.0, 0.3, n), R)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 8), symmetric=st.booleans(),
       strength=st.sampled_from([0.0, 0.2, 1.0, 3.0]))
def test_certify_properties(seed: int, n: int, symmetric: bool, strength: float) -> None:
    game = _random_game(seed, n, symmetric, strength)
    s = np.random.default_rng(seed + 1).uniform(0.0, 1.0, n)
    certificate = certify(game, s, seed=seed,
                                budget=SolveBudget(max_iter=1000, newton_max_iter=50,
                                                    random_starts=1))
    assert certificate.nash_gap >= 0 and certificate.kkt_residual >= 0
    assert certificate.is_equilibrium == (certificate.nash_gap <= EQUILIBRIUM_TOL)
    assert certificate.stability_at_s in CLASSES
    if certificate.nearest_profile is not None:
        assert nash_gap(game, certificate.nearest_profile) <= 1e-8
        assert 0.0 <= certificate.jaccard <= 1.0
        assert certificate.stability_at_nearest in CLASSES
        assert certificate.distinct_equilibria >= 1
    if certificate.monotone:  # Rosen: a unique equilibrium, so every start finds the same one
        assert certificate.distinct_equilibria <= 1
    back = Certificate.from_dict(json.loads(json.dumps(certificate.to_dict())))
    assert back.to_row().keys() == certificate.to_row().keys()
    assert back.nash_gap == certificate.nash_gap
    np.testing.assert_allclose(back.eigenvalues_at_s, certificate.eigenvalues_at_s)


def test_jaccard_and_distinct_profiles() -> None:
    assert jaccard(np.array([True, False]), np.array([False, False])) == 0.0
    assert jaccard(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert jaccard(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="same shape"):
        jaccard(np.zeros(2, bool), np.zeros(3, bool))
    profiles = [np.zeros(3), np.full(3, 5e-5), np.ones(3)]
    assert len(distinct_profiles(profiles)) == 2
    with pytest.raises(ValueError, match="tol"):
        distinct_profiles(profiles, tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        SolveBudget(max_iter=0)
    with pytest.raises(TypeError, match="game"):
        certify(object(), np.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="random_starts"):
        SolveBudget(random_starts=-1)
    with pytest.raises(GameTypeError):
        certify_profile(object(), np.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(InvalidProfileError):
        jaccard(np.zeros(2, bool), np.zeros(3, bool))


@seed(10)
@settings(max_examples=15, deadline=None)
@given(draw=st.integers(0, 2**31 - 1), n=st.integers(2, 8))
def test_certify_profile_is_gap_residual_and_stability_at_s(draw: int, n: int) -> None:
    game = _random_game(draw, n, symmetric=True, strength=0.2)
    s = np.random.default_rng(draw + 1).uniform(0.0, 1.0, n)
    check = certify_profile(game, s, ord=np.inf)
    assert check.nash_gap == nash_gap(game, s)
    assert check.kkt_residual == kkt_residual(game, s, ord=np.inf)
    assert check.stability.to_dict() == analyze_stability(game, s).to_dict()
    assert check.is_equilibrium == (check.nash_gap <= EQUILIBRIUM_TOL)
    assert json.loads(json.dumps(check.to_dict()))["nash_gap"] == check.nash_gap
    at_equilibrium = certify_profile(game, solve(game, "newton", tol=1e-12).profile)
    assert at_equilibrium.is_equilibrium



@pytest.mark.parametrize("strength", [0.2, 3.0])  # monotone (a distance bound) and not
def test_certify_solves_for_the_monotonicity_eigenvalue_once(strength: float) -> None:
    game = _random_game(4, 12, True, strength)
    s = np.random.default_rng(5).uniform(0.0, 1.0, 12)
    H = stability.symmetric_part(game)
    calls = []
    original = np.linalg.eigvalsh

    def spy(matrix, *args, **kwargs):
        if np.shape(matrix) == H.shape and np.array_equal(matrix, H):
            calls.append(1)
        return original(matrix, *args, **kwargs)

    with mock.patch.object(stability.np.linalg, "eigvalsh", spy):
        certificate = certify(game, s, budget=SolveBudget(random_starts=1))
    assert len(calls) == 1
    assert certificate.monotone == stability.is_monotone(game)
    expected = distance_bound(game, s)
    assert certificate.distance_bound == expected.bound
    assert certificate.distance_bound_reason == expected.reason
