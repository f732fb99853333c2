"""The paper's analytic claims, as properties of the game with frozen statistics.

Each test is cited by a row of papers/pruning_as_a_game/CLAIMS.md. Shah & Khan (2025) state
these informally (no theorem, no proof); here they are checked on random games (hypothesis,
explicit seeds, bounded example counts).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import LowRank, ParticipationGame, analyze_stability, nash_gap, solve

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


def _paper_game(seed: int, n: int, d: int, eta: float, gamma: float) -> ParticipationGame:
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n, d)) / np.sqrt(d)
    return ParticipationGame.from_paper(
        grad_inner=rng.normal(0.2, 0.5, n), sq_norms=(theta**2).sum(1), gram=LowRank(theta),
        beta=rng.uniform(0.5, 2.0), gamma=gamma, eta=eta)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), eta=st.floats(0.0, 2.0),
       gamma=st.floats(0.0, 0.5))
def test_eq15_pruning_condition_holds_at_every_equilibrium_found(seed, n, eta, gamma):
    """Eq. 15: s_i* = 0 exactly when alpha <grad L, theta_i> <= gamma + eta sum_j s_j <theta_i,
    theta_j> (the numerator of Eq. 14 is not positive), at any equilibrium, unique or not."""
    game = _paper_game(seed, n, 4, eta, gamma)
    start = np.random.default_rng(seed).uniform(0, 1, n)
    result = solve(game, "newton", s0=start, tol=1e-12)
    if not result.converged:  # a non-monotone game may defeat Newton; try Gauss-Seidel
        result = solve(game, "best_response", s0=start, tol=1e-12, max_iter=50_000)
    assert result.converged
    s = result.profile
    numerator = game.pseudo_gradient(s) + 2 * game.quadratic_cost * s  # Eq. 14's numerator
    clear = np.abs(numerator) > 1e-6  # players exactly on the boundary are ambiguous
    assert np.array_equal((s == 0.0)[clear], (numerator <= 0)[clear])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), d=st.integers(1, 6),
       share=st.floats(0.0, 0.99))
def test_small_competition_gives_a_contraction_and_a_unique_equilibrium(seed, n, d, share):
    """"Contraction when eta is not too large": below eta* = 2 beta min ||theta_i||^2 /
    ||Gram||_2 the game is monotone (unique equilibrium, Rosen 1965), the Jacobi best-response
    map contracts, and every start reaches the same stable equilibrium."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n, d)) / np.sqrt(d)
    sq_norms = (theta**2).sum(1)
    beta = 1.0
    gram_norm = np.linalg.norm(theta, 2) ** 2
    eta = share * 2 * beta * sq_norms.min() / gram_norm
    game = ParticipationGame.from_paper(rng.normal(0.2, 0.5, n), sq_norms, LowRank(theta),
                                        beta=beta, gamma=0.05, eta=eta)
    profiles = [solve(game, "best_response", scheme="jacobi", s0=s0, tol=1e-12,
                      max_iter=100_000).profile
                for s0 in (np.zeros(n), np.ones(n), rng.uniform(0, 1, n))]
    for profile in profiles:
        assert nash_gap(game, profile) <= 1e-10
    # A relative gap of 1e-10 bounds the distance between profiles only through the
    # monotonicity modulus, which is small for a player with a small ||theta_i||^2 (a flat
    # utility); Newton polishing (exact on the active set) still leaves ~1e-8 there.
    polished = [solve(game, "newton", s0=profile, tol=1e-14).profile for profile in profiles]
    for profile in polished:
        assert np.abs(profile - polished[0]).max() <= 1e-6
    report = analyze_stability(game, polished[0])
    assert report.unique and report.br_spectral_radius < 1
    assert report.classification in ("stable", "inconclusive")  # degenerate ties only


def test_large_competition_breaks_uniqueness():
    """Above that bound the claim fails: two identical units with strong competition have three
    equilibria, and the one reached depends on the start (the paper's "depends on
    initialization")."""
    theta = np.array([[1.0, 0.0], [1.0, 0.0]])
    game = ParticipationGame.from_paper([1.0, 1.0], (theta**2).sum(1), theta @ theta.T,
                                        beta=0.5, eta=3.0)
    found = {tuple(np.round(solve(game, "best_response", s0=np.array(s0), tol=1e-12).profile, 6))
             for s0 in ([1.0, 0.0], [0.0, 1.0], [0.25, 0.25])}
    assert found == {(1.0, 0.0), (0.0, 1.0), (0.25, 0.25)}
    assert not analyze_stability(game, np.array([0.25, 0.25])).unique


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 50), gamma=st.floats(0.01, 2.0),
       beta=st.floats(0.0, 2.0))
def test_norm_proportional_benefits_prune_by_magnitude(seed, n, gamma, beta):
    """The heuristic mapping "magnitude pruning ~ norm-proportional benefits": with b_i =
    ||theta_i|| and no competition, the pruned set is exactly the k smallest norms, k = its
    size, whatever beta and gamma."""
    rng = np.random.default_rng(seed)
    norms = rng.uniform(0.01, 2.0, n)
    game = ParticipationGame(norms, beta * norms**2, gamma)
    s = solve(game, "newton", tol=1e-12).profile
    pruned = s == 0.0
    k = int(pruned.sum())
    assert set(np.flatnonzero(pruned)) == set(np.argsort(norms, kind="stable")[:k])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 50), gamma=st.floats(0.0, 1.0))
def test_without_l2_an_equilibrium_is_all_or_nothing(seed, n, gamma):
    """Section 9.2 says "L1 alone rarely reaches zero; L2 is essential". In the game the
    opposite holds: with beta = 0 (no L2) and no competition the utility is linear in s_i, so
    every player with alpha <grad L, theta_i> < gamma sits exactly at 0 and the rest at 1."""
    rng = np.random.default_rng(seed)
    benefit = rng.normal(0.3, 0.5, n)
    game = ParticipationGame.from_paper(benefit, rng.uniform(0.1, 2.0, n), beta=0.0,
                                        gamma=gamma)
    s = solve(game, "best_response", tol=1e-12).profile
    assert np.all((s == 0.0) | (s == 1.0))
    assert np.array_equal(s == 0.0, benefit < gamma) or np.any(np.isclose(benefit, gamma))
