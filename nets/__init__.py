"""PyTorch bridge: players on real networks, statistics, equilibrium-driven training,
applying participation, evaluation, datasets and models (docs/design.md); named configurations
in `presets` (``nets.preset("demo")``)."""

from nets import data, models, presets, stats, structure
from nets.apply import apply_participation, load_model, save_model, to_torch_prune
from nets.device import DEVICES, resolve_device
from nets.evaluate import Evaluation, EvaluationError, accuracy_and_loss, evaluate
from nets.gates import (
    GatedNetwork,
    ParticipationGate,
    PlayerLayer,
    TracedGatedNetwork,
    attach_gates,
)
from nets.presets import PRESETS, preset
from nets.training import (
    PAPER_CONFIGS,
    EpochRecord,
    EquilibriumPruning,
    PruningConfig,
    PruningResult,
    TrainingDivergedError,
)

__all__ = [
    "DEVICES",
    "PAPER_CONFIGS",
    "PRESETS",
    "EpochRecord",
    "EquilibriumPruning",
    "Evaluation",
    "EvaluationError",
    "GatedNetwork",
    "ParticipationGate",
    "PlayerLayer",
    "PruningConfig",
    "PruningResult",
    "TracedGatedNetwork",
    "TrainingDivergedError",
    "accuracy_and_loss",
    "apply_participation",
    "attach_gates",
    "data",
    "evaluate",
    "load_model",
    "models",
    "preset",
    "presets",
    "resolve_device",
    "save_model",
    "stats",
    "structure",
    "to_torch_prune",
]

# Last: the comparison harness imports the rest. ``nets.compare`` is the function; the module
# stays importable as ``nets.compare`` for ``from nets.compare import to_csv``.
from nets import baselines  # noqa: E402
from nets.compare import compare  # noqa: E402

__all__ += ["baselines", "compare"]
