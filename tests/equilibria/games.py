"""Random games for the property tests (numpy generators seeded by hypothesis integers)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from equilibria import LowRank, ParticipationGame


def monotone_game(seed: int, n: int, *, symmetric: bool = True, margin: float = 0.7,
                  linear_cost: bool = True) -> ParticipationGame:
    """A strictly diagonally dominant game: monotone (unique equilibrium) and Jacobi-contractive.

    Every row and column of |R| sums to at most ``margin * 2 min(q)``.
    """
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.5, 2.0, n)
    R = rng.uniform(-1.0, 1.0, (n, n))
    if symmetric:
        R = 0.5 * (R + R.T)
    np.fill_diagonal(R, 0.0)
    largest = max(np.abs(R).sum(axis=1).max(), np.abs(R).sum(axis=0).max(), 1e-12)
    R *= margin * 2.0 * q.min() / largest
    b = rng.uniform(-1.0, 3.0, n)
    c = rng.uniform(0.0, 0.5, n) if linear_cost else 0.0
    return ParticipationGame(b, q, c, R)


def low_rank_game(seed: int, n: int, d: int, scale: float) -> tuple[ParticipationGame, ...]:
    """The same game with LowRank, dense and sparse competition."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, d))
    q = rng.uniform(0.5, 1.5, n) + 0.5 * scale * np.einsum("ij,ij->i", factors, factors)
    b = rng.uniform(-1.0, 3.0, n)
    c = rng.uniform(0.0, 0.3, n)
    operator = LowRank(factors, scale)
    dense = scale * (factors @ factors.T)
    return (ParticipationGame(b, q, c, operator), ParticipationGame(b, q, c, dense),
            ParticipationGame(b, q, c, sp.csr_matrix(dense)))


def duplicate_pair() -> ParticipationGame:
    """Two identical players with strong competition: equilibria (1, 0), (0, 1), (1/4, 1/4)."""
    return ParticipationGame([1.0, 1.0], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])
