"""Named pruning configurations: the demo's setting and the paper's four of Table 1.

- ``"demo"`` (`DEMO`): the setting `make demo` trains with, chosen on the 8x8 digits
  (docs/explanation/digits-dynamics.md): the loss-descent benefit b_i = -dL/ds_i with
  competition from the correlation of the units' activations (eta = 0.1), lr_s = 0.02 and 60
  epochs. It prunes: on digits with the MLP 64-128-64-10 about half the hidden units end below
  epsilon at an accuracy near the dense one. It equals ``analysis.demo.DEMO_CONFIG`` (nets does
  not import analysis, so a test keeps the two equal), and its game fields are those of
  ``nets.baselines.equilibrium.DEFAULT_CONFIG``.
- ``"very_high_beta"``, ``"extreme_beta"``, ``"l1_sparsity_strong"``, ``"l1_l2_combined"``:
  `PAPER_CONFIGS`, Table 1 of Shah & Khan (2025) read literally (alpha = 1, lr_s = 0.001, 20
  epochs, batch 128, no competition). Read literally they shrink every participation together
  or collapse the network (papers/pruning_as_a_game/REPORT.md); they are here to reproduce the
  paper, not as a starting point.

Every preset is a frozen `PruningConfig`; change a field with ``dataclasses.replace(preset(
"demo"), epochs=10)``. The names are those ``pruning-game train --config`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from equilibria.errors import UnknownMethodError
from nets.training import PAPER_CONFIGS, PruningConfig

__all__ = ["DEMO", "PAPER_CONFIGS", "PRESETS", "preset"]

#: The demo's configuration (`make demo`, ``pruning-game train --config demo``).
DEMO = PruningConfig(name="loss_descent + activation competition", payoff="loss_descent",
                     beta=0.01, gamma=0.01, eta=0.1, overlap="activations",
                     participation_lr=0.02, epochs=60, batch_size=128, lr=1e-3, seed=0)

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
