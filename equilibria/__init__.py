"""Games and equilibria of network pruning: numpy, scipy, networkx, nashpy; never torch.

The quadratic participation game of Shah & Khan (2025) and any smooth game users invent,
solved, certified by the Nash gap and classified by stability (DESIGN.md).
"""

from equilibria.callable_game import CallableGame, ContinuousGame
from equilibria.competition import LowRank
from equilibria.dominance import DominanceResult, dominated_players, iterated_dominance
from equilibria.errors import (
    DegenerateGameWarning,
    InvalidGameError,
    InvalidProfileError,
    NotPotentialGameError,
    UnknownMethodError,
)
from equilibria.game import ParticipationGame
from equilibria.gap import is_equilibrium, kkt_residual, nash_gap
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
    "CallableGame",
    "ContinuousGame",
    "DegenerateGameWarning",
    "DominanceResult",
    "EquilibriumResult",
    "InvalidGameError",
    "InvalidProfileError",
    "LowRank",
    "NetworkStatistics",
    "NotPotentialGameError",
    "ParticipationGame",
    "PerturbationReport",
    "StabilityReport",
    "UnknownMethodError",
    "analyze_stability",
    "build_game",
    "dominated_players",
    "is_equilibrium",
    "is_monotone",
    "iterated_dominance",
    "kkt_residual",
    "nash_gap",
    "perturbation_test",
    "solve",
]
