"""Every named configuration, width and sparsity list the tools use, in one place.

Pruning configurations (`PRESETS`, the names ``pruning-game train --config`` accepts):

- ``"demo"`` (`DEMO`): the setting `make demo` trains with, chosen on the 8x8 digits
  (docs/explanation/digits-dynamics.md): the loss-descent benefit b_i = -dL/ds_i with
  competition from the correlation of the units' activations (eta = 0.1), lr_s = 0.02 and 60
  epochs. It prunes: on digits with the MLP 64-128-64-10 about half the hidden units end below
  epsilon at an accuracy near the dense one. `DEMO_CONFIG` is the same as a dict (what
  ``analysis.demo``, ``analysis.train`` and the studies read), and `EQUILIBRIUM`, the
  configuration of the ``"equilibrium"`` baseline (``nets.baselines.equilibrium``), plays the
  same game under the name "equilibrium".
- ``"very_high_beta"``, ``"extreme_beta"``, ``"l1_sparsity_strong"``, ``"l1_l2_combined"``:
  `PAPER_CONFIGS`, Table 1 of Shah & Khan (2025) read literally (alpha = 1, lr_s = 0.001, 20
  epochs, batch 128, no competition). Read literally they shrink every participation together
  or collapse the network (papers/pruning_as_a_game/REPORT.md); they are here to reproduce the
  paper, not as a starting point.

Every preset is a frozen `PruningConfig`; change a field with ``dataclasses.replace(preset(
"demo"), epochs=10)``.

Widths and sparsities: `DEMO_WIDTHS` (the demo's MLP, also the default MLP of
``analysis.runner`` and `nets.compare`), `PAPER_WIDTHS` (the paper's MLP 784-512-256-10) and
`COMPARE_SPARSITIES` (the targets `nets.compare` and the Pareto study sweep).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from equilibria.errors import UnknownMethodError
from nets.loop import training_fields
from nets.training import PAPER_CONFIGS, PruningConfig

__all__ = ["COMPARE_SPARSITIES", "DEMO", "DEMO_CONFIG", "DEMO_WIDTHS", "EQUILIBRIUM",
           "PAPER_CONFIGS", "PAPER_WIDTHS", "PRESETS", "game_fields", "preset"]

#: The demo's configuration (`make demo`, ``pruning-game train --config demo``).
DEMO = PruningConfig(name="loss_descent + activation competition", payoff="loss_descent",
                     beta=0.01, gamma=0.01, eta=0.1, overlap="activations",
                     participation_lr=0.02, epochs=60, batch_size=128, lr=1e-3, seed=0)
#: `DEMO` as keyword arguments of `PruningConfig` (the fields it sets).
DEMO_CONFIG: dict[str, Any] = dict(name=DEMO.name, payoff=DEMO.payoff, beta=DEMO.beta,
                                   gamma=DEMO.gamma, eta=DEMO.eta, overlap=DEMO.overlap,
                                   participation_lr=DEMO.participation_lr, epochs=DEMO.epochs,
                                   batch_size=DEMO.batch_size, lr=DEMO.lr, seed=DEMO.seed)
#: Hidden widths of the demo's MLP 64-128-64-10 (the default MLP of the runner and compare).
DEMO_WIDTHS = (128, 64)
#: Hidden widths of the paper's MLP 784-512-256-10 (Shah & Khan 2025).
PAPER_WIDTHS = (512, 256)
#: Target sparsities `nets.compare` and the Pareto study sweep by default.
COMPARE_SPARSITIES: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95)


def game_fields(config: PruningConfig) -> dict[str, Any]:
    """The fields of `config` that describe the game (not its name, training or level)."""
    skip = {*training_fields(), "name", "level"}
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}


#: The ``"equilibrium"`` baseline's configuration: the demo's game, the default training
#: (which `nets.baselines.Budget` replaces).
EQUILIBRIUM = PruningConfig(name="equilibrium", **{
    k: v for k, v in game_fields(DEMO).items() if v != getattr(PruningConfig, k)})

#: Every preset by name: ``"demo"`` first, then the paper's Table 1 (read-only).
PRESETS: Mapping[str, PruningConfig] = MappingProxyType({"demo": DEMO, **PAPER_CONFIGS})


def preset(name: str) -> PruningConfig:
    """The named pruning configuration.

    Parameters
    ----------
    name : str
        One of `PRESETS`: ``"demo"``, ``"very_high_beta"``, ``"extreme_beta"``,
        ``"l1_sparsity_strong"``, ``"l1_l2_combined"``.

    Returns
    -------
    PruningConfig
        Frozen; use ``dataclasses.replace`` to change a field.

    Raises
    ------
    UnknownMethodError
        For any other name; the one-line message lists the known ones.

    Examples
    --------
    >>> preset("demo").payoff, preset("extreme_beta").beta
    ('loss_descent', 0.5)
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise UnknownMethodError(f"preset name must be one of {', '.join(PRESETS)}; got "
                                 f"{name!r}")
    return PRESETS[name]
