"""The a-posteriori distance bound holds, and is tight, on games with closed-form equilibria.

Tightness: the bound at t = 1/L is at most ``(1 + tL)^2 / (t mu) = 4 L / mu`` times the true
distance (the natural map is (1 + tL)-Lipschitz and vanishes at s*), so on games with
``L / mu <= 2.5`` "within 10x" is a theorem, and the tests check it on such games.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import equilibria.bounds as bounds_module
from equilibria import CallableGame, LowRank, ParticipationGame, solve
from equilibria.bounds import (
    DistanceBound,
    distance_bound,
    lipschitz_bound,
    monotonicity_modulus,
)
from equilibria.certify import Certificate, SolveBudget, certify
from equilibria.errors import InvalidOptionError
from tests.equilibria.games import duplicate_pair

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


def cournot(n: int, a: float, q: float, r: float, c: float) -> tuple[ParticipationGame,
                                                                     np.ndarray]:
    """Symmetric Cournot participation game: ``s* = clip((a - c) / (2q + r (N - 1)))``."""
    R = r * (np.ones((n, n)) - np.eye(n))
    star = np.clip((a - c) / (2.0 * q + r * (n - 1)), 0.0, 1.0)
    return ParticipationGame(np.full(n, a), q, c, R), np.full(n, star)


def diagonal(seed: int, n: int) -> tuple[ParticipationGame, np.ndarray]:
    """No competition: ``s*_i = clip((b_i - c_i) / (2 q_i))``, some at 0, some at 1."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.8, 2.0, n)
    b, c = rng.uniform(-1.0, 4.0, n), rng.uniform(0.0, 0.3, n)
    return ParticipationGame(b, q, c, None), np.clip((b - c) / (2.0 * q), 0.0, 1.0)


def by_hand() -> tuple[ParticipationGame, np.ndarray]:
    """U_1 = s1 - s1^2/2 - s1 s2/2, U_2 = 0.8 s2 - s2^2/2 + s1 s2/5: FOCs 1 - s1 - s2/2 = 0
    and 0.8 - s2 + s1/5 = 0, so s* = (6/11, 10/11) (not a potential game)."""
    game = ParticipationGame([1.0, 0.8], 0.5, 0.0, [[0.0, 0.5], [-0.2, 0.0]])
    return game, np.array([6.0 / 11.0, 10.0 / 11.0])


def closed_form_games() -> list[tuple[str, ParticipationGame, np.ndarray]]:
    games = [("cournot interior", *cournot(5, 1.0, 1.0, 0.3, 0.0)),
             ("cournot at hi", *cournot(4, 3.0, 0.5, 0.1, 0.0)),
             ("cournot with price", *cournot(6, 1.0, 1.0, 0.1, 0.2)),
             ("by hand", *by_hand())]
    games += [(f"diagonal {seed}", *diagonal(seed, 6)) for seed in range(3)]
    return games


def _check(game: ParticipationGame, star: np.ndarray, x: np.ndarray) -> float:
    """Assert the bound holds and is within 10x; return the ratio (nan at distance 0)."""
    result = distance_bound(game, x)
    assert result.available and result.reason == ""
    true = float(np.linalg.norm(x - star))
    assert result.bound >= true * (1.0 - 1e-9) - 1e-14
    if true > 1e-12:
        assert result.bound <= 10.0 * true
        return result.bound / true
    assert result.bound <= 1e-10
    return float("nan")


def test_closed_form_games_are_well_conditioned_and_their_equilibria_are_exact() -> None:
    for name, game, star in closed_form_games():
        assert lipschitz_bound(game) / monotonicity_modulus(game) <= 2.5, name
        assert distance_bound(game, star).bound <= 1e-12, name


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), exponent=st.floats(-7.0, 0.0))
def test_bound_holds_within_10x_at_perturbed_profiles(seed: int, exponent: float) -> None:
    rng = np.random.default_rng(seed)
    for _, game, star in closed_form_games():
        x = np.clip(star + rng.uniform(-1.0, 1.0, star.shape) * 10.0 ** exponent, 0.0, 1.0)
        _check(game, star, x)


@SETTINGS
@given(n=st.integers(2, 6), a=st.floats(0.2, 3.0), q=st.floats(0.3, 2.0),
       share=st.floats(0.0, 0.4), c=st.floats(0.0, 0.5), seed=st.integers(0, 2**16))
def test_bound_holds_within_10x_on_random_cournot_games(n, a, q, share, c, seed) -> None:
    game, star = cournot(n, a, q, share * q, c)
    assert lipschitz_bound(game) / monotonicity_modulus(game) <= 2.5
    x = np.random.default_rng(seed).uniform(0.0, 1.0, n)
    _check(game, star, x)


@pytest.mark.parametrize("method", ["projected_gradient", "extragradient", "best_response",
                                    "newton"])
def test_bound_holds_within_10x_at_solver_profiles(method: str) -> None:
    for name, game, star in closed_form_games():
        for seed in range(3):
            result = solve(game, method, s0="random", rng=seed, tol=1e-8)
            assert result.converged, (name, method)
            _check(game, star, result.profile)


def test_the_bound_is_facchinei_and_pangs_at_t_1_or_better() -> None:
    game, star = cournot(5, 1.0, 1.0, 0.3, 0.0)
    x = np.clip(star + 0.05, 0.0, 1.0)
    result = distance_bound(game, x)
    mu, lipschitz = monotonicity_modulus(game), lipschitz_bound(game)
    assert mu == pytest.approx(1.7) and lipschitz == pytest.approx(3.2)  # 2q -/+ r spectra
    assert result.natural_residual == pytest.approx(
        np.linalg.norm(x - np.clip(x + game.pseudo_gradient(x), 0.0, 1.0)))
    assert result.bound <= (1.0 + lipschitz) / mu * result.natural_residual


def test_no_bound_for_the_duplicate_pair_says_it_is_not_strongly_monotone() -> None:
    game = duplicate_pair()  # three equilibria: no residual can bound the distance to "the" one
    result = distance_bound(game, [0.3, 0.2])
    assert result.bound is None and not result.available
    assert "not strongly monotone" in result.reason and result.modulus < 0
    assert json.loads(json.dumps(result.to_dict()))["bound"] is None


def _callable_diagonal() -> tuple[CallableGame, np.ndarray, float, float]:
    b, q = np.array([1.0, 0.5, 3.0]), np.array([1.0, 0.8, 1.2])
    game = CallableGame(lambda s: b * s - q * s * s, 3, gradient_fn=lambda s: b - 2 * q * s)
    return game, np.clip(b / (2 * q), 0.0, 1.0), float(2 * q.min()), float(2 * q.max())


def test_callable_game_gets_no_bound_unless_the_modulus_is_given() -> None:
    game, star, mu, lipschitz = _callable_diagonal()
    x = np.clip(star + 0.01, 0.0, 1.0)
    result = distance_bound(game, x)
    assert result.bound is None and "modulus" in result.reason
    true = float(np.linalg.norm(x - star))
    for given_l in (None, lipschitz):
        bounded = distance_bound(game, x, modulus=mu, lipschitz=given_l)
        assert true * (1 - 1e-9) <= bounded.bound <= 10.0 * true
    assert distance_bound(game, x, modulus=0.0).bound is None


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_constants_are_refused(bad: float) -> None:
    game, star = cournot(3, 1.0, 1.0, 0.3, 0.0)
    with pytest.raises(InvalidOptionError, match="modulus"):
        distance_bound(game, star, modulus=bad)
    with pytest.raises(InvalidOptionError, match="lipschitz"):
        distance_bound(game, star, lipschitz=bad)


@pytest.mark.parametrize("form", ["low_rank", "sparse"])
def test_large_game_constants_match_the_dense_ones(monkeypatch, form: str) -> None:
    """The operator paths (above FULL_SPECTRUM_LIMIT) agree with the dense spectra: mu equal,
    L an upper bound."""
    rng = np.random.default_rng(4)
    n = 40
    factors = rng.standard_normal((n, 3))
    q = 0.5 + 0.3 * np.einsum("ij,ij->i", factors, factors)
    competition = LowRank(factors, 0.4)
    if form == "sparse":
        competition = sp.csr_matrix(0.4 * (factors @ factors.T) * (rng.uniform(size=(n, n)) < 0.3))
    game = ParticipationGame(rng.uniform(0, 2, n), q, 0.1, competition)
    dense_mu, dense_l = monotonicity_modulus(game), lipschitz_bound(game)
    monkeypatch.setattr(bounds_module, "FULL_SPECTRUM_LIMIT", 10)
    assert monotonicity_modulus(game) == pytest.approx(dense_mu, rel=1e-6, abs=1e-9)
    assert dense_l <= lipschitz_bound(game) * (1 + 1e-12)


def test_certificate_carries_the_bound_and_it_covers_the_nearest_distance() -> None:
    budget = SolveBudget(max_iter=2000, newton_max_iter=50, random_starts=1)
    game, star = cournot(5, 1.0, 1.0, 0.3, 0.0)
    x = np.clip(star + np.linspace(-0.1, 0.1, 5), 0.0, 1.0)
    certificate = certify(game, x, budget=budget)
    assert certificate.distance_bound >= certificate.nearest_distance
    assert certificate.distance_bound >= np.linalg.norm(x - star)
    assert certificate.distance_bound_reason == ""
    back = Certificate.from_dict(json.loads(json.dumps(certificate.to_dict())))
    assert back.distance_bound == certificate.distance_bound
    assert "distance_bound" in certificate.to_row()
    none = certify(duplicate_pair(), [0.3, 0.2], budget=budget)
    assert none.distance_bound is None and "not strongly monotone" in none.distance_bound_reason


def test_distance_bound_is_a_frozen_result() -> None:
    result = distance_bound(*cournot(2, 1.0, 1.0, 0.3, 0.0))
    assert isinstance(result, DistanceBound)
    with pytest.raises(AttributeError):
        result.bound = 0.0  # type: ignore[misc]
