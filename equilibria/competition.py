"""The competition term R of the participation game in three representations.

The game's utility (docs/design.md; Shah & Khan 2025, Eq. 10) charges player i
``s_i * sum_{j != i} R_ij s_j``. R may be

- a dense ``numpy.ndarray`` of shape (N, N),
- a ``scipy.sparse`` matrix (any format; stored as CSR), or
- a `LowRank` operator ``R = scale * (F F^T - diag(F F^T))`` for factors F of shape (N, d),
  never materialized, so that N = 10^6 players fit in memory and one product costs O(N d).

The diagonal of R never enters the game (a player does not compete with itself): dense and
sparse inputs have their diagonal removed when the game is built, and `LowRank` excludes it by
construction. Every function here works on the off-diagonal part only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from equilibria.errors import InvalidGameError

#: Rows processed at a time when a LowRank operator must be expanded entrywise.
_CHUNK_ROWS = 2048


@dataclass(frozen=True, eq=False)
class LowRank:
    """Competition ``R = scale * (F F^T - diag(F F^T))`` from factors F of shape (N, d).

    The paper's competition R_ij = eta <theta_i, theta_j> (Shah & Khan 2025, Eq. 10) is of this
    form with F the stacked parameter groups theta_i and scale = eta. Products with R cost
    O(N d) time and memory; R itself (N^2 entries) is never formed.

    Parameters
    ----------
    factors : array_like of shape (N, d)
        Row i is the feature vector of player i.
    scale : float, default 1.0
        Multiplies the Gram matrix (eta in the paper).
    """

    factors: np.ndarray
    scale: float = 1.0

    def __post_init__(self) -> None:
        try:
            factors = np.asarray(self.factors, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise InvalidGameError("LowRank factors must be a numeric (N, d) array") from error
        if factors.ndim != 2:
            raise InvalidGameError("LowRank factors must have shape (N, d), one row per player; "
                                   f"got shape {factors.shape}")
        if not np.all(np.isfinite(factors)):
            raise InvalidGameError("LowRank factors hold NaN or inf; every entry must be finite")
        if not np.isfinite(self.scale):
            raise InvalidGameError(f"LowRank scale must be finite; got {self.scale}")
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "_row_sq", np.einsum("ij,ij->i", factors, factors))

    @property
    def shape(self) -> tuple[int, int]:
        n = self.factors.shape[0]
        return (n, n)

    @property
    def rank(self) -> int:
        """Number of factor columns d."""
        return self.factors.shape[1]

    def matvec(self, s: np.ndarray) -> np.ndarray:
        """Return ``R s`` in O(N d)."""
        return self.scale * (self.factors @ (self.factors.T @ s) - self._row_sq * s)  # type: ignore[attr-defined]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Dense rows ``R[start:stop]`` with the diagonal set to zero."""
        block = self.scale * (self.factors[start:stop] @ self.factors.T)
        idx = np.arange(start, stop)
        block[idx - start, idx] = 0.0
        return block

    def subset(self, index: np.ndarray) -> LowRank:
        """The operator restricted to the players in `index`."""
        return LowRank(self.factors[index], self.scale)


Competition = np.ndarray | sp.csr_matrix | LowRank | None


def normalize(competition: object, n: int) -> Competition:
    """Validate `competition` and return it without its diagonal.

    Dense arrays are copied with a zero diagonal, sparse matrices become CSR with the
    diagonal eliminated, LowRank operators pass through. ``None`` or an all-zero matrix mean
    no competition.

    Raises
    ------
    InvalidGameError
        On a wrong shape or non-finite entries.
    """
    if competition is None:
        return None
    if isinstance(competition, LowRank):
        if competition.shape != (n, n):
            raise InvalidGameError(f"competition (LowRank) has {competition.shape[0]} players "
                                   f"but the game has {n}; factors must have N = {n} rows")
        return competition
    if sp.issparse(competition):
        matrix = sp.csr_matrix(competition, dtype=np.float64)
        if matrix.shape != (n, n):
            raise InvalidGameError(f"competition must have shape ({n}, {n}); got {matrix.shape}")
        if not np.all(np.isfinite(matrix.data)):
            raise InvalidGameError("competition holds NaN or inf; every entry must be finite")
        matrix = matrix - sp.diags(matrix.diagonal())
        matrix = sp.csr_matrix(matrix)
        matrix.eliminate_zeros()
        return matrix
    try:
        dense = np.array(competition, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidGameError("competition must be None, a numeric (N, N) array, a "
                               "scipy.sparse matrix or an equilibria.LowRank operator; got "
                               f"{type(competition).__name__}") from error
    if dense.ndim == 0:
        raise InvalidGameError("competition must be an (N, N) matrix, not a scalar; for "
                               "uniform competition eta pass eta * (ones((N, N)) - eye(N))")
    if dense.shape != (n, n):
        raise InvalidGameError(f"competition must have shape ({n}, {n}); got {dense.shape}")
    if not np.all(np.isfinite(dense)):
        raise InvalidGameError("competition holds NaN or inf; every entry must be finite")
    np.fill_diagonal(dense, 0.0)
    return dense


def matvec(competition: Competition, s: np.ndarray) -> np.ndarray:
    """Return ``(R s)_i = sum_{j != i} R_ij s_j`` for every player."""
    if competition is None:
        return np.zeros_like(s)
    if isinstance(competition, LowRank):
        return competition.matvec(s)
    return np.asarray(competition @ s, dtype=np.float64).ravel()


def rmatvec(competition: Competition, s: np.ndarray) -> np.ndarray:
    """Return ``R^T s`` (off-diagonal part)."""
    if competition is None:
        return np.zeros_like(s)
    if isinstance(competition, LowRank):
        return competition.matvec(s)  # symmetric by construction
    return np.asarray(competition.T @ s, dtype=np.float64).ravel()


def to_dense(competition: Competition, n: int) -> np.ndarray:
    """Materialize R as a dense (N, N) array with a zero diagonal (for small N only)."""
    if competition is None:
        return np.zeros((n, n))
    if isinstance(competition, LowRank):
        return competition.rows(0, n)
    if sp.issparse(competition):
        return competition.toarray()
    return np.array(competition)


def is_symmetric(competition: Competition, rtol: float = 1e-10) -> bool:
    """Whether R = R^T up to `rtol` of its largest entry (exact potential game test)."""
    if competition is None or isinstance(competition, LowRank):
        return True
    if sp.issparse(competition):
        diff = competition - competition.T
        largest = np.abs(competition.data).max() if competition.nnz else 0.0
        return bool(diff.nnz == 0
                    or float(np.abs(diff.data).max()) <= rtol * max(float(largest), 1e-300))
    largest = float(np.abs(competition).max()) if competition.size else 0.0
    return bool(np.abs(competition - competition.T).max(initial=0.0)
                <= rtol * max(largest, 1e-300))


def row_norms(competition: Competition, n: int) -> np.ndarray:
    """Euclidean norms of the rows of R (off-diagonal), in O(nnz) or O(N d^2) for LowRank.

    For LowRank, ``||R_i||^2 = scale^2 (F_i^T (F^T F) F_i - ||F_i||^4)``.
    """
    if competition is None:
        return np.zeros(n)
    if isinstance(competition, LowRank):
        factors = competition.factors
        gram = factors.T @ factors
        quad = np.empty(n)
        for start in range(0, n, _CHUNK_ROWS * 16):  # no (N, d) temporary for large N
            block = factors[start:start + _CHUNK_ROWS * 16]
            quad[start:start + block.shape[0]] = np.einsum("ij,ij->i", block @ gram, block)
        sq = competition._row_sq  # type: ignore[attr-defined]
        return np.abs(competition.scale) * np.sqrt(np.maximum(quad - sq**2, 0.0))
    if sp.issparse(competition):
        return np.sqrt(np.asarray(competition.multiply(competition).sum(axis=1)).ravel())
    return np.linalg.norm(competition, axis=1)


def interval_products(competition: Competition, lower: np.ndarray,
                      upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest ``(R s)_i`` over the box ``lower <= s <= upper``.

    Each coordinate is separable: the minimum takes s_j = lower_j where R_ij > 0 and
    s_j = upper_j where R_ij < 0, the maximum the opposite. LowRank operators are expanded
    row block by row block (O(N^2 d) time, O(N) memory per row).
    """
    n = lower.shape[0]
    if competition is None:
        return np.zeros(n), np.zeros(n)
    if isinstance(competition, LowRank):
        low, high = np.empty(n), np.empty(n)
        for start in range(0, n, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, n)
            block = competition.rows(start, stop)
            pos, neg = np.maximum(block, 0.0), np.minimum(block, 0.0)
            low[start:stop] = pos @ lower + neg @ upper
            high[start:stop] = pos @ upper + neg @ lower
        return low, high
    if sp.issparse(competition):
        pos = competition.maximum(0.0)
        neg = competition.minimum(0.0)
    else:
        pos, neg = np.maximum(competition, 0.0), np.minimum(competition, 0.0)
    low = np.asarray(pos @ lower + neg @ upper).ravel()
    high = np.asarray(pos @ upper + neg @ lower).ravel()
    return low, high


def subset(competition: Competition, index: np.ndarray) -> Competition:
    """R restricted to the players in `index` (rows and columns)."""
    if competition is None:
        return None
    if isinstance(competition, LowRank):
        return competition.subset(index)
    if sp.issparse(competition):
        return sp.csr_matrix(competition[index][:, index])
    return competition[np.ix_(index, index)]


def principal_dense(competition: Competition, index: np.ndarray) -> np.ndarray:
    """Dense sub-block R[index, index] (for linear solves on an active set)."""
    block = subset(competition, index)
    return to_dense(block, len(index))
