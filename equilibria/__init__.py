"""Games and equilibria of network pruning: numpy, scipy, networkx, nashpy; never torch.

The quadratic participation game of Shah & Khan (2025) and any smooth game users invent,
solved, certified by the Nash gap and classified by stability (docs/design.md). Certificates of a
profile live in `equilibria.certify`, game files in `equilibria.io`; hypothesis strategies and
assertions for property tests of equilibrium claims in `equilibria.testing`.
"""

from equilibria.basins import Basins, basins
from equilibria.bounds import DistanceBound, distance_bound
from equilibria.callable_game import CallableGame, ContinuousGame
from equilibria.competition import LowRank
from equilibria.dominance import DominanceResult, dominated_players, iterated_dominance
from equilibria.enumerate import EquilibriumSet, all_equilibria
from equilibria.errors import (
    DegenerateGameWarning,
    EigenvalueSearchError,
    GameFileError,
    GameFileNotFoundError,
    GameTypeError,
    IncompleteSearchWarning,
    InvalidGameError,
    InvalidOptionError,
    InvalidProfileError,
    NotPlainError,
    NotPotentialGameError,
    SingularSystemWarning,
    SolverStoppedWarning,
    UnknownMethodError,
    UnknownOptionError,
)
from equilibria.game import ParticipationGame
from equilibria.gap import is_equilibrium, kkt_residual, nash_gap
from equilibria.plain import to_plain
from equilibria.solvers import METHODS, EquilibriumResult, solve
from equilibria.spec import NetworkStatistics, build_game
from equilibria.stability import (
    PerturbationReport,
    StabilityReport,
    analyze_stability,
    is_monotone,
    perturbation_test,
)

__all__ = [
    "METHODS",
    "Basins",
    "CallableGame",
    "ContinuousGame",
    "DegenerateGameWarning",
    "DistanceBound",
    "DominanceResult",
    "EigenvalueSearchError",
    "EquilibriumResult",
    "EquilibriumSet",
    "GameFileError",
    "GameFileNotFoundError",
    "GameTypeError",
    "IncompleteSearchWarning",
    "InvalidGameError",
    "InvalidOptionError",
    "InvalidProfileError",
    "LowRank",
    "NetworkStatistics",
    "NotPlainError",
    "NotPotentialGameError",
    "ParticipationGame",
    "PerturbationReport",
    "SingularSystemWarning",
    "SolverStoppedWarning",
    "StabilityReport",
    "UnknownMethodError",
    "UnknownOptionError",
    "all_equilibria",
    "analyze_stability",
    "basins",
    "build_game",
    "distance_bound",
    "dominated_players",
    "is_equilibrium",
    "is_monotone",
    "iterated_dominance",
    "kkt_residual",
    "nash_gap",
    "perturbation_test",
    "solve",
    "testing",
    "to_plain",
]


def __getattr__(name: str):  # `testing` imports hypothesis, which solving a game never needs
    if name == "testing":
        import importlib

        return importlib.import_module("equilibria.testing")
    raise AttributeError(f"module 'equilibria' has no attribute {name!r}")
