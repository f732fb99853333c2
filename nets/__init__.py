"""PyTorch bridge: players on real networks, statistics, equilibrium-driven training,
applying participation, evaluation, datasets and models (DESIGN.md)."""

from nets import data, models
from nets.apply import apply_participation, load_model, save_model, to_torch_prune
from nets.evaluate import Evaluation, evaluate
from nets.gates import GatedNetwork, ParticipationGate, PlayerLayer, attach_gates

__all__ = [
    "Evaluation",
    "GatedNetwork",
    "ParticipationGate",
    "PlayerLayer",
    "apply_participation",
    "attach_gates",
    "data",
    "evaluate",
    "load_model",
    "models",
    "save_model",
    "to_torch_prune",
]
