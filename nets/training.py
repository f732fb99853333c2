"""Equilibrium-driven pruning: Algorithm 1 of Shah & Khan (2025) with every open choice explicit.

Every hidden unit is a player with participation s_i in [0, 1], starting at 1. Each training
iteration takes

1. one optimizer step on the weights theta for the task loss L(theta, s)      (paper Eq. 16),
2. one projected gradient-ascent step on every participation,
   ``s_i <- clip(s_i + lr_s * dU_i/ds_i, 0, 1)``                               (Eq. 17-18),

where ``dU_i/ds_i = b_i - 2 q_i s_i - c_i - (R s)_i`` is the pseudo-gradient of the batch's
participation game (`equilibria.spec.build_game`): the s-step is exactly one
`equilibria.solve(..., "projected_gradient")` step with step ``lr_s`` on that game, which a test
checks. After training, units with s_i < epsilon = 0.01 are pruned (step 3).

The choices the paper leaves open are options of `PruningConfig`: the benefit reading
(``payoff``), the weight optimizer and its learning rate, competition (``eta``) and its overlap
source, whether the s-step uses the gradients of the same forward/backward pass as the theta
step (``s_update="simultaneous"``, one pass per batch) or recomputes them after the theta step
(``"sequential"``), and how accuracy is measured (``eval_mode``: soft gates, hard mask or
physical removal). The s-step is fused into the theta step's pass (`_StepHooks`: the benefit from
the same backward pass, for payoff "paper" the weights' gradients (Eq. 9 literally) and for
"loss_descent" dL/ds; the pseudo-gradient in closed form and the projected step one compiled
loop per layer, `nets._fused`);
``participation_every = K`` takes it only every K steps, with step K lr_s (an approximation
for speed; 1, the default, is the paper's every batch).

Two options go beyond the paper (issue 11), both off by default so that Algorithm 1 stays
paper-literal and its numbers unchanged:

- **game in the loop** (``equilibrium_every = K > 0``): two-timescale best-response dynamics.
  theta trains on the fast timescale (every step, with the s-step above); every K steps s
  jumps to a certified equilibrium of the current game, built from `nets.stats.collect` on the
  first ``equilibrium_sample`` training examples and solved by `equilibria.solve` (Newton,
  then the fallbacks of `equilibria.certify.first_equilibrium`). The last action of `fit` is
  a solve on the *final game* (the statistics of the whole training set in batches of
  `FINAL_GAME_BATCH` shuffled by seed 0, as ``pruning-game train`` and the certificates study
  build it), so the final s is a certified equilibrium of the game it was solved on
  (``PruningResult.final_game``, ``final_certificate``). The statistics depend on s, so the
  solve is repeated on the game measured again at the new s, at most `FINAL_ROUNDS` times,
  until s is also an equilibrium of the game of its own statistics
  (``remeasured_certificate``); that fixed point is not always reached.
- **the scale symmetry** (``scale``): the loss sees only s_i theta_i, so theta_i can grow while
  s_i shrinks and "s_i < epsilon" stops meaning "contributes nothing"
  (docs/explanation/digits-dynamics.md). ``"effective"`` puts the game's L2 cost on the
  effective parameters, ``beta ||s_i theta_i||^2`` (= q_i s_i^2), into the theta step too;
  ``"normalized"`` rescales every unit's incoming weights and bias to unit norm after each
  step and folds the norm into the next layer's weights, which keeps the function (ReLU-type
  MLPs only, see `normalize_units`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from equilibria import ParticipationGame, build_game, nash_gap, solve
from equilibria.atomic import atomic_write
from equilibria.certify import (
    SOLVE_TOL,
    ProfileCertificate,
    SolveBudget,
    certify_profile,
    first_equilibrium,
)
from equilibria.spec import OVERLAPS, PAYOFFS
from nets.apply import apply_participation
from nets.checks import PruningError, check_choice, check_int, check_number
from nets.data import DataBundle
from nets.device import resolve_device
from nets.divergence import DivergenceMonitor, TrainingDivergedError
from nets.evaluate import accuracy_and_loss
from nets.gates import GatedNetwork, TracedGatedNetwork, attach_gates
from nets.loop import (
    OPTIMIZERS,
    Hooks,
    Step,
    TrainingConfig,
    datasets,
    flush_denormals,
    make_optimizer,
    train,
    train_step,
)
from nets.stats import batch_game_statistics, collect, group_by_unit
from nets.structure import example_input

__all__ = ["FINAL_GAME_BATCH", "FINAL_ROUNDS", "HOMOGENEOUS", "PAPER_CONFIGS", "SCALES",
           "EpochRecord", "EquilibriumPruning", "PruningConfig", "PruningResult",
           "TrainingConfig", "TrainingDivergedError", "check_normalizable", "effective_cost",
           "flush_denormals", "normalize_units", "upgrade_epoch_record"]

S_UPDATES = ("simultaneous", "sequential")
#: How the scale symmetry s_i theta_i is handled (`PruningConfig.scale`).
SCALES = ("none", "effective", "normalized")
#: Batch size of the final game's statistics (``pruning-game train``'s certificate loader).
FINAL_GAME_BATCH = 512
#: Most solve-and-remeasure rounds of the final solve (game in the loop).
FINAL_ROUNDS = 10
#: Activations after which a unit's output is positively homogeneous, act(c z) = c act(z)
#: for c > 0, so `normalize_units` may move a unit's scale to its outgoing weights.
HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.Identity, nn.Dropout)
EVAL_MODES = ("soft", "mask", "remove")
LEVELS = ("neuron", "filter", "all")
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class PruningConfig(TrainingConfig):
    """Every choice of equilibrium-driven pruning (Algorithm 1), paper-literal by default.

    The training fields (epochs, batch_size, optimizer, lr, weight_decay, momentum, seed) are
    those of `nets.loop.TrainingConfig`, which this class extends; the others are the game's.

    Attributes
    ----------
    epochs, batch_size, optimizer, lr, weight_decay, momentum, seed
        As in `nets.loop.TrainingConfig` (the paper's 20 epochs of batch 128; Adam, which the
        paper does not name). The loss depends on s_i theta_i only, so without weight decay
        the weights can grow to undo a shrinking participation.
    name : str
        A label for reports.
    alpha, beta, gamma, eta : float
        Benefit weight, L2 cost, L1 cost and competition weight (Eq. 8-10); beta, gamma and
        eta >= 0.
    payoff : {"paper", "loss_descent", "taylor"}
        Benefit reading (`equilibria.spec`); "paper" is Eq. 9 literally.
    overlap : {"parameters", "activations", None}
        Competition source when eta > 0.
    participation_lr : float
        lr_s of Eq. 17 (the paper's 0.001), >= 0.
    epsilon : float
        Prune threshold in (0, 1) (the paper's 0.01).
    level : {"neuron", "filter", "all"}
        Which units are players (`nets.attach_gates`).
    include_outgoing : bool
        Whether theta_i also holds the unit's outgoing weights.
    s_update : {"simultaneous", "sequential"}
        Whether the s-step reuses the theta-step's gradients or recomputes them afterwards.
    participation_every : int
        Take the s-step every this many training steps (>= 1): on the k-th, 2k-th, ... step
        of the run, from that batch's pseudo-gradient, with step ``k * participation_lr`` so
        that s moves on the same time scale; the other steps are plain theta steps (the gates
        need no gradient there). 1 (the default) is Algorithm 1 exactly; k > 1 is a
        documented approximation (one batch's gradient stands for k), cheaper per step.
    eval_mode : {"soft", "mask", "remove"}
        How test accuracy is measured each epoch.
    equilibrium_every : int
        Game in the loop: every this many steps s is set to a certified equilibrium of the
        current game, and `fit` ends with a solve on the final game (see the module
        docstring); 0 (the default) is Algorithm 1 unchanged.
    equilibrium_sample : int
        Training examples (the first ones) whose statistics build the in-loop game (>= 1).
    scale : {"none", "effective", "normalized"}
        The scale symmetry: "none" (the paper), "effective" (the L2 cost
        ``beta ||s_i theta_i||^2`` in the theta step too) or "normalized" (unit-norm incoming
        weights, norm folded into the next layer: `normalize_units`).

    Raises
    ------
    nets.baselines.PruningError
        On construction, for any invalid field (one line naming it): an unknown choice, a
        number that is NaN, infinite, out of its range or a bool, a non-integer count.
    """

    name: str = "custom"
    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0
    eta: float = 0.0
    payoff: str = "paper"
    overlap: str | None = None
    participation_lr: float = 0.001
    epsilon: float = 0.01
    level: str = "neuron"
    include_outgoing: bool = False
    s_update: str = "simultaneous"
    participation_every: int = 1
    eval_mode: str = "mask"
    equilibrium_every: int = 0
    equilibrium_sample: int = 512
    scale: str = "none"

    #: The allowed values of the fields that take one of a few (checked on construction;
    #: ``pruning-game train`` offers them as the flags' choices).
    choices: ClassVar[Mapping[str, tuple[Any, ...]]] = MappingProxyType({
        "optimizer": OPTIMIZERS, "payoff": PAYOFFS, "overlap": OVERLAPS, "s_update": S_UPDATES,
        "eval_mode": EVAL_MODES, "level": LEVELS, "scale": SCALES})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise PruningError(f"name must be a string; got {self.name!r}")
        for name, allowed in self.choices.items():

            check_choice(getattr(self, name), name, allowed)
        super().__post_init__()
        bounds: dict[str, dict[str, Any]] = {
            "alpha": {}, "beta": {"low": 0.0}, "gamma": {"low": 0.0}, "eta": {"low": 0.0},
            "participation_lr": {"low": 0.0},
            "epsilon": {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True}}
        for name, limits in bounds.items():
            object.__setattr__(self, name, check_number(getattr(self, name), name, **limits))
        if not isinstance(self.include_outgoing, bool | np.bool_):
            raise PruningError(f"include_outgoing must be True or False; got "
                               f"{self.include_outgoing!r}")
        object.__setattr__(self, "include_outgoing", bool(self.include_outgoing))
        object.__setattr__(self, "equilibrium_every",
                           check_int(self.equilibrium_every, "equilibrium_every", minimum=0))
        object.__setattr__(self, "participation_every",
                           check_int(self.participation_every, "participation_every", minimum=1))
        object.__setattr__(self, "equilibrium_sample",
                           check_int(self.equilibrium_sample, "equilibrium_sample", minimum=1))
        if self.eta != 0 and self.overlap is None:
            raise PruningError("eta != 0 needs an overlap source: overlap='parameters' or "
                               "'activations'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types; ``device`` only when it is not
        ``"cpu"`` (a GPU run's numbers differ in rounding, and dicts written before the field
        existed stay equal to today's)."""
        from equilibria.plain import to_plain

        record = dataclasses.asdict(self)
        if record["device"] == "cpu":
            del record["device"]
        return to_plain(record)


def _paper(name: str, beta: float, gamma: float) -> PruningConfig:
    return PruningConfig(name=name, alpha=1.0, beta=beta, gamma=gamma, eta=0.0,
                         participation_lr=0.001, epochs=20, batch_size=128)


#: Table 1 of Shah & Khan (2025): alpha = 1, lr_s = 0.001, 20 epochs, batch 128, eta = 0.
PAPER_CONFIGS: dict[str, PruningConfig] = {
    "very_high_beta": _paper("Very High Beta", 0.1, 0.0),
    "extreme_beta": _paper("Extreme Beta", 0.5, 0.0),
    "l1_sparsity_strong": _paper("L1 Sparsity Strong", 0.001, 0.1),
    "l1_l2_combined": _paper("L1+L2 Combined", 0.05, 0.05),
}


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of Algorithm 1 ended with."""

    epoch: int
    train_loss: float
    test_accuracy: float
    test_loss: float
    below_epsilon: float
    mean_participation: float
    active_per_layer: tuple[int, ...]
    nash_gap: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (``active_per_layer`` as a list)."""
        from equilibria.plain import to_plain

        return to_plain(dataclasses.asdict(self))


def upgrade_epoch_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """An `EpochRecord.to_dict` row with the name of today: rows written before the rename
    call the share of players below epsilon ``sparsity``; it becomes ``below_epsilon`` (so
    checkpoints and result stores of older versions still load)."""
    if "sparsity" not in record or "below_epsilon" in record:
        return dict(record)
    return {("below_epsilon" if k == "sparsity" else k): v for k, v in record.items()}


@dataclass(frozen=True, eq=False)
class PruningResult:
    """Outcome of `EquilibriumPruning.fit`.

    Attributes
    ----------
    config : PruningConfig
    gated : GatedNetwork
        The trained network with its final participation in the gates.
    participation : ndarray
        The final s.
    history : tuple of EpochRecord
    resumed_from_epoch : int
        Epochs that were loaded from a checkpoint rather than trained in this call.
    final_game : ParticipationGame or None
        With the game in the loop (``config.equilibrium_every > 0``): the game the last solve
        of `EquilibriumPruning.final_solve` solved (`EquilibriumPruning.final_game` over
        `EquilibriumPruning.final_game_loader`, measured on the final weights at the
        participation before that solve); None otherwise.
    final_certificate : equilibria.certify.ProfileCertificate or None
        The certificate of the final s on `final_game` (relative gap <= 1e-6 whenever a
        solver certified, i.e. by construction); None without the game in the loop.
    remeasured_certificate : equilibria.certify.ProfileCertificate or None
        The certificate of the final s on the final game measured again at s itself (what
        ``pruning-game train`` and the certificates study build); an equilibrium only when the
        final rounds reached a fixed point. The history's last record precedes the final solve.
    remeasured_game : ParticipationGame or None
        That game (the final game at the final weights and s, on
        `EquilibriumPruning.final_game_loader`): ``pruning-game train`` certifies on it
        instead of measuring it again; None without the game in the loop.
    """

    config: PruningConfig
    gated: GatedNetwork
    participation: np.ndarray
    history: tuple[EpochRecord, ...]
    resumed_from_epoch: int = 0
    final_game: ParticipationGame | None = None
    final_certificate: ProfileCertificate | None = None
    remeasured_certificate: ProfileCertificate | None = None
    remeasured_game: ParticipationGame | None = None

    @property
    def below_epsilon(self) -> float:
        """Share of players with s < epsilon."""
        return float(np.mean(self.participation < self.config.epsilon))

    def pruned(self, mode: str = "remove", on_empty: str = "keep_strongest") -> nn.Module:
        """The network with units below epsilon pruned (`nets.apply_participation`)."""
        return apply_participation(self.gated, mode=mode, threshold=self.config.epsilon,
                                   on_empty=on_empty)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (without the network and the game)."""
        from equilibria.plain import to_plain

        return to_plain({"config": self.config.to_dict(), "participation": self.participation,
                         "history": [r.to_dict() for r in self.history],
                         "below_epsilon": self.below_epsilon,
                         "resumed_from_epoch": self.resumed_from_epoch,
                         "final_certificate": None if self.final_certificate is None
                         else self.final_certificate.to_dict(),
                         "remeasured_certificate": None if self.remeasured_certificate is None
                         else self.remeasured_certificate.to_dict()})


@dataclass
class _State:
    """Mutable training state (what a checkpoint holds)."""

    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)


class EquilibriumPruning:
    """Algorithm 1 of Shah & Khan (2025) on a real network.

    Parameters
    ----------
    config : PruningConfig
        Use ``PAPER_CONFIGS[name]`` for Table 1.

    Examples
    --------
    >>> from nets import data, models
    >>> bundle = data.load("digits")
    >>> config = PruningConfig(beta=0.05, gamma=0.05, epochs=2)
    >>> result = EquilibriumPruning(config).fit(models.mlp(64, (32,), 10, seed=0), bundle,
    ...                                          progress=False)
    >>> len(result.history)
    2
    """

    def __init__(self, config: PruningConfig) -> None:
        if not isinstance(config, PruningConfig):
            raise TypeError("config must be a PruningConfig (or PAPER_CONFIGS[name])")
        self.config = config
        self._hooks: _StepHooks | None = None  # `step`'s, kept while it trains one network
        self._constants: tuple[PruningConfig, dict[torch.dtype, tuple[Any, ...]]] | None = None

    # ------------------------------------------------------------------ the game's s-step
    def participation_gradient(self, gated: GatedNetwork, inputs: torch.Tensor | None = None,
                               labels: torch.Tensor | None = None) -> torch.Tensor:
        """``dU_i/ds_i = b_i - 2 q_i s_i - c_i - (R s)_i`` of the batch's participation game.

        Equals ``self.batch_game(gated, inputs, labels).pseudo_gradient(s)`` for every payoff
        and overlap (tests/nets/test_participation_gradient.py). For ``payoff`` "paper" or
        "loss_descent" without activation overlap it is computed from the gradients just
        computed, so that the s-step costs no second pass: ``loss.backward()`` must have
        filled, on that batch, the weights' ``.grad`` (payoff "paper": the benefit is
        ``alpha <dL/dtheta_i, theta_i>``, Eq. 9 literally) or the gates'
        ``participation.grad`` (payoff "loss_descent", ``-alpha dL/ds_i``; and "paper" on a
        layer without BatchNorm whose weights do not require gradients, read as
        ``alpha s_i dL/ds_i``, equal by the chain rule).
        ``payoff="taylor"`` and ``overlap="activations"`` (with eta != 0) need the batch's
        activations, which the gradients do not hold: they are computed from `batch_game` on
        ``(inputs, labels)``, which are then required.

        Parameters
        ----------
        gated : GatedNetwork
        inputs, labels : torch.Tensor, optional
            The batch; required when the config needs activations (see above).

        Raises
        ------
        nets.baselines.PruningError
            When the config needs activations and `inputs` or `labels` is missing.
        """
        if self._needs_second_pass():
            if inputs is None or labels is None:
                c = self.config
                reason = "payoff='taylor'" if c.payoff == "taylor" else \
                    "overlap='activations'"
                raise PruningError(f"participation_gradient with {reason} needs the batch: pass "
                                   "inputs and labels (its benefit or overlap is measured on "
                                   "activations)")
            return self._second_pass_gradient(gated, inputs, labels)
        return self._gradient_from_grads(gated)

    def _gradient_from_grads(self, gated: GatedNetwork) -> torch.Tensor:
        """The pseudo-gradient from ``.grad`` alone (payoff "paper"/"loss_descent", overlap
        "parameters" or none): see `participation_gradient`."""
        return torch.cat(self._layer_gradients(gated, _units(gated)))

    def _layer_gradients(self, gated: GatedNetwork,
                         units: tuple[_Unit, ...]) -> list[torch.Tensor]:
        """`_gradient_from_grads` layer by layer (no concatenation: the fused s-step of
        `_StepHooks` applies each layer's part to its gate in place)."""
        c = self.config
        if self._closed_form(units):
            return self._closed_form_gradients(units)
        parts = []
        traced = isinstance(gated, TracedGatedNetwork)
        for unit in units:  # (traced groups, outgoing weights or competition: theta_i built)
            layer, s = unit.layer, unit.gate.participation.detach()
            theta = gated.unit_parameters(unit.index, c.include_outgoing).detach()
            sq_norms = (theta * theta).sum(dim=1)
            if c.payoff == "paper":
                if traced:  # <dL/dtheta_i, theta_i> over the traced group's rows
                    grads = gated.unit_gradients(unit.index, c.include_outgoing)
                else:
                    grads = group_by_unit(gated, unit.index, _grad(layer.weight),
                                          _grad_or_none(layer.bias),
                                          _grad(unit.following.weight) if c.include_outgoing
                                          else None)
                benefit = c.alpha * (grads * theta).sum(dim=1)
            elif c.payoff == "loss_descent":
                benefit = -c.alpha * _grad(unit.gate.participation)
            else:  # pragma: no cover - taylor is routed to the game in participation_gradient
                raise NotImplementedError(f"payoff {c.payoff!r} needs activations")
            gradient = benefit - 2.0 * c.beta * sq_norms * s - c.gamma
            if c.eta != 0.0 and c.overlap == "parameters":  # R s = eta (Theta Theta^T - diag) s
                gradient = gradient - c.eta * (theta @ (theta.T @ s) - sq_norms * s)
            parts.append(gradient)
        return parts

    def _closed_form(self, units: tuple[_Unit, ...]) -> bool:
        """Whether the pseudo-gradient is ``benefit - 2 beta ||theta_i||^2 s_i - gamma`` with
        theta_i a layer's incoming row and bias (no traced groups, no outgoing weights, no
        competition) and a payoff read from the gradients: "paper" or "loss_descent"."""
        c = self.config
        if any(unit.layer is None for unit in units):  # traced groups: the general formula
            return False
        return not c.include_outgoing and c.eta == 0.0 and c.payoff in ("paper",
                                                                         "loss_descent")

    def _closed_form_gradients(self, units: tuple[_Unit, ...]) -> list[torch.Tensor]:
        """The `_closed_form` pseudo-gradient of every layer: one compiled loop per layer
        (`_FusedStep`, `nets._fused`) when every tensor is a CPU float32/float64 one, else
        the torch operations of the same formula (`_reads_weights` says where the benefit
        is read from; the two differ by rounding only, as the sums run in other orders)."""
        compiled = self._compiled_gradients(units)
        if compiled is not None:
            return compiled
        c = self.config
        parts = []
        with torch.no_grad():  # (no graph is recorded: no .detach() needed)
            for unit in units:
                s, weight, bias = unit.gate.participation, unit.layer.weight, unit.layer.bias
                if _reads_weights(unit, c.payoff):  # alpha <dL/dtheta_i, theta_i> (Eq. 9)
                    benefit = _per_unit_sum(_grad(weight) * weight, _grad_or_none(bias), bias)
                    benefit = benefit if c.alpha == 1.0 else c.alpha * benefit
                elif c.payoff == "paper":  # = alpha s_i dL/ds_i (the chain rule)
                    benefit = (s if c.alpha == 1.0 else c.alpha * s) * _grad(s)
                else:
                    benefit = -c.alpha * _grad(s)
                parts.append(benefit - 2.0 * c.beta * _squared_row_norms(weight, bias) * s
                             - c.gamma)
        return parts

    def _compiled_gradients(self, units: tuple[_Unit, ...],
                            lr: float | None = None) -> list[torch.Tensor] | None:
        """`_closed_form_gradients` by `nets._fused.pseudo_gradient`, one compiled loop per
        layer (`_FusedStep`); None when a participation, its gradient or a layer's weights are
        not CPU tensors of one dtype, float32 or float64 (the torch operations then run). With
        `lr` the same loop also takes the projected step of `_s_step_layers` (in place, bit
        for bit the same: `nets._fused.pseudo_gradient_and_step`)."""
        fused = _FusedStep.build(self._fused_constants, units, self.config.payoff)
        if fused is None:
            return None
        fused.take_norms()
        return fused.run(lr)

    @property
    def _fused_constants(self) -> dict[torch.dtype, tuple[Any, ...]]:
        """The scalar arguments of `nets._fused.pseudo_gradient` after its arrays, per dtype
        (the config's numbers rounded to the dtype, as torch rounds a Python scalar), and last
        that rounding itself (for the step's lr); computed once per config."""
        c = self.config
        cached = self._constants
        if cached is None or cached[0] is not c:
            alpha = c.alpha if c.payoff == "paper" else -c.alpha
            cached = (c, {dtype: (c.payoff == "paper", c.alpha == 1.0, scalar(alpha),
                                  scalar(2.0 * c.beta), scalar(c.gamma), scalar)
                          for dtype, scalar in ((torch.float32, np.float32),
                                                (torch.float64, np.float64))})
            self._constants = cached
        return cached[1]

    def batch_game(self, gated: GatedNetwork, inputs: torch.Tensor,
                   labels: torch.Tensor) -> ParticipationGame:
        """The participation game of one batch at the current weights and participation."""
        c = self.config
        stats = batch_game_statistics(
            gated, inputs, labels, include_outgoing=c.include_outgoing,
            parameter_gram=c.eta != 0 and c.overlap == "parameters",
            activation_overlap=c.eta != 0 and c.overlap == "activations")
        return build_game(stats, c.payoff, c.overlap, c.alpha, c.beta, c.gamma, c.eta)

    def final_game(self, gated: GatedNetwork, loader: Any,
                   n_batches: int = 10) -> ParticipationGame:
        """The game at the end of training, from statistics averaged over `n_batches`."""
        c = self.config
        stats = collect(gated, loader, n_batches=n_batches, include_outgoing=c.include_outgoing,
                        parameter_gram=c.eta != 0 and c.overlap == "parameters",
                        activation_overlap=c.eta != 0 and c.overlap == "activations")
        return build_game(stats, c.payoff, c.overlap, c.alpha, c.beta, c.gamma, c.eta)

    @staticmethod
    def final_game_loader(train_set: Dataset) -> DataLoader:
        """The batches the final game is measured on: the whole training set in batches of
        `FINAL_GAME_BATCH`, shuffled by seed 0 (``DataBundle.loaders(512, seed=0)[0]``, the
        loader of ``pruning-game train``'s certificate)."""
        return DataLoader(train_set, batch_size=FINAL_GAME_BATCH, shuffle=True,
                          generator=torch.Generator().manual_seed(0))

    def sample_loader(self, train_set: Dataset) -> DataLoader:
        """The first ``config.equilibrium_sample`` training examples, in batches of
        `FINAL_GAME_BATCH` (the in-loop game's statistics; no random numbers drawn)."""
        n = min(self.config.equilibrium_sample, len(train_set))
        return DataLoader(torch.utils.data.Subset(train_set, range(n)),
                          batch_size=FINAL_GAME_BATCH)

    def jump_to_equilibrium(self, gated: GatedNetwork, loader: Any,
                            game: ParticipationGame | None = None) -> ParticipationGame:
        """Set s to a certified equilibrium of the game measured on `loader` at the current
        weights and s (the slow timescale of the game in the loop); returns that game.

        Newton (semismooth, active set) from the current s first; when it does not certify,
        `equilibria.certify.first_equilibrium` (Newton, Gauss-Seidel best response, projected
        gradient, extragradient, each polished). When none certifies (relative Nash gap above
        `equilibria.certify.SOLVE_TOL`), s becomes the attempt of smallest gap.

        Parameters
        ----------
        gated : GatedNetwork
        loader : iterable of (inputs, labels)
            Every batch is used (`final_game` with ``n_batches=len(loader)``).
        game : ParticipationGame, optional
            The game already measured on `loader` at the current s (not measured again).
        """
        if game is None:
            game = self.final_game(gated, loader, n_batches=len(loader))
        s = gated.get_participation().double().numpy()
        found = solve(game, "newton", s0=s, tol=SOLVE_TOL, max_iter=200)
        if not found.converged:
            best, tried = first_equilibrium(game, s, SolveBudget())
            found = best if best is not None else min(tried, key=lambda r: r.nash_gap)
        gated.set_participation(np.clip(found.profile, 0.0, 1.0))
        return game

    def final_solve(self, gated: GatedNetwork, train_set: Dataset) -> tuple[
            ParticipationGame, ProfileCertificate, ProfileCertificate]:
        """The last action of `fit` with the game in the loop.

        Measure the final game (`final_game` over `final_game_loader`, the statistics
        ``pruning-game train``'s certificate uses), solve it and set s to its certified
        equilibrium; then measure the game again at that s and repeat while s does not
        certify on the game of its own statistics (at most `FINAL_ROUNDS` solves). The
        statistics depend on s (dL/ds, the activations), so the rounds are a fixed-point
        iteration s <- EQ(G(stats(s))), which may cycle (docs/explanation/digits-dynamics.md,
        section 4): the last solve is always certified on the game it solved, the game
        measured at the final s only when the rounds reached a fixed point.

        Returns
        -------
        (ParticipationGame, ProfileCertificate, ProfileCertificate)
            The game of the last solve, the certificate of the final s on it
            (`equilibria.certify.certify_profile`), and its certificate on the game measured
            again at the final s (``is_equilibrium`` says whether the rounds reached a fixed
            point).
        """
        return self._final_solve(gated, train_set)[:3]

    def _final_solve(self, gated: GatedNetwork, train_set: Dataset) -> tuple[
            ParticipationGame, ProfileCertificate, ProfileCertificate, ParticipationGame]:
        """`final_solve` and the game measured again at the final s (the last measurement)."""
        loader = self.final_game_loader(train_set)
        game = self.final_game(gated, loader, n_batches=len(loader))
        for _ in range(FINAL_ROUNDS):
            solved = self.jump_to_equilibrium(gated, loader, game)
            s = gated.get_participation().double().numpy()
            game = self.final_game(gated, loader, n_batches=len(loader))
            remeasured = certify_profile(game, s)
            if remeasured.is_equilibrium:
                break
        return solved, certify_profile(solved, s), remeasured, game

    def _needs_second_pass(self) -> bool:
        c = self.config
        return c.payoff == "taylor" or (c.eta != 0 and c.overlap == "activations")

    # ------------------------------------------------------------------ training
    def fit(self, model: nn.Module | GatedNetwork, data: DataBundle | tuple[Dataset, Dataset],
            *, checkpoint_dir: str | os.PathLike | None = None, progress: bool = True,
            callback: Callable[[EpochRecord], None] | None = None,
            on_step: Callable[[Step], None] | None = None) -> PruningResult:
        """Train `model` with Algorithm 1 and return the final participation and history.

        Parameters
        ----------
        model : nn.Module or GatedNetwork
            A plain model gets gates at ``config.level`` (`nets.attach_gates`; a model other
            than a flat Sequential is traced on the first training input); it is not modified.
        data : DataBundle or (train_dataset, test_dataset)
        checkpoint_dir : path, optional
            A checkpoint is written there atomically after every epoch; when one exists, fit
            resumes from it (same config required) and the history continues unchanged.
        progress : bool, default True
            Report each epoch (`nets.progress.progress_bar`: a tqdm bar on a terminal, one
            line per epoch and a heartbeat every 30 s on a non-terminal stderr).
        callback : callable, optional
            Called with each EpochRecord (may raise to stop training).
        on_step : callable, optional
            Called with a `nets.loop.Step` after every step (the theta step and the s-step of
            one batch); ``step.model`` is the `GatedNetwork`, so
            ``step.model.get_participation()`` is s after that step.

        Raises
        ------
        TrainingDivergedError
            When training diverges (`nets.divergence.DivergenceMonitor`: a non-finite loss, a
            loss over 1000x its start, or training accuracy back at chance after clearly above
            it with a confidently wrong loss; a collapse that prunes every unit is not one), or
            the participation stops being finite. The message names ``lr`` and
            ``participation_lr``; the history so far is attached.

        Notes
        -----
        Runs on `nets.loop.train` (denormal floats flushed to zero while training:
        participations near zero otherwise slow CPU training by 10x or more).
        """
        c = self.config
        train_set, test_set = datasets(data)
        gated = model if isinstance(model, GatedNetwork) else attach_gates(
            model, c.level, include_outgoing=c.include_outgoing,
            example_inputs=example_input(train_set))
        gated = _copy_network(gated) if gated is model else gated
        gated.to(resolve_device(c.device))  # before the optimizer and a resumed state
        if c.scale == "normalized":
            check_normalizable(gated)
        optimizer = make_optimizer(c, gated.parameters())
        state = _State()
        checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        if checkpoint is not None and checkpoint.exists():
            state = _load_checkpoint(checkpoint, c, gated, optimizer)  # onto c.device
        resumed = state.epoch
        hooks = _AlgorithmHooks(self, gated, optimizer, DataLoader(test_set, batch_size=512),
                                state, checkpoint, callback)
        hooks.steps = state.epoch * -(-len(train_set) // c.batch_size)  # (on resume)
        if c.equilibrium_every:
            hooks.sample = self.sample_loader(train_set)
        monitor = DivergenceMonitor(c.lr, may_collapse=True, first_epoch=state.epoch,
                                    hint=f"or participation_lr (now {c.participation_lr:g})")
        try:
            train(gated, train_set, c, optimizer, range(state.epoch, c.epochs),
                  monitor=monitor, hooks=hooks, seed_each_epoch=True, on_step=on_step,
                  progress=c.name if progress else None, total_epochs=c.epochs)
        except TrainingDivergedError as error:
            raise TrainingDivergedError(str(error), tuple(state.history), lr=error.lr,
                                        epoch=error.epoch, step=error.step) from None
        final: tuple[Any, ...] = (None, None, None, None)
        if c.equilibrium_every:
            final = self._final_solve(gated, train_set)
        return PruningResult(c, gated, gated.get_participation().double().numpy(),
                             tuple(state.history), resumed, *final)

    def step(self, gated: GatedNetwork, optimizer: torch.optim.Optimizer,
             inputs: torch.Tensor, labels: torch.Tensor) -> float:
        """One theta step (Eq. 16) and one projected s step (Eq. 17) on a batch, outside `fit`
        (`nets.loop.train_step` with this method's hooks); returns the batch's loss.

        Successive calls on the same network are counted, so ``participation_every = k``
        takes the s-step on every k-th call (the count restarts for another network)."""
        if self._hooks is None or self._hooks.gated is not gated:
            self._hooks = _StepHooks(self, gated)
        loss = train_step(gated, optimizer, inputs, labels, self._hooks)
        return float(loss.detach())

    def s_step(self, gated: GatedNetwork, gradient: torch.Tensor) -> None:
        """The projected participation step ``s <- clip(s + lr_s * gradient, 0, 1)`` (Eq. 17),
        gate by gate; the gates stop requiring gradients."""
        units = _units(gated)
        self._s_step_layers(units, torch.split(gradient, [u.info.n_units for u in units]),
                            self.config.participation_lr)

    @staticmethod
    def _s_step_layers(units: tuple[_Unit, ...], gradients: Any, lr: float) -> None:
        """`s_step` with the gradient given layer by layer and step `lr`, in place on every
        gate: one compiled loop per layer (`nets._fused.projected_step`) for CPU float32 or
        float64 participations and gradients of their dtype, else each operation once over
        all layers (``torch._foreach_*``); both are the element-wise operations of one step on
        the concatenated vector, so give its bits."""
        participations = [unit.gate.participation for unit in units]
        gradients = list(gradients)
        if not EquilibriumPruning._compiled_step(participations, gradients, lr):
            with torch.no_grad():
                steps = torch._foreach_mul(gradients, lr)
                steps = [step.to(s.dtype) for step, s in zip(steps, participations, strict=True)]
                torch._foreach_add_(participations, steps)
                torch._foreach_clamp_min_(participations, 0.0)
                torch._foreach_clamp_max_(participations, 1.0)
        for participation in participations:
            participation.requires_grad_(False)
            participation.grad = None

    @staticmethod
    def _compiled_step(participations: list[torch.Tensor], gradients: list[torch.Tensor],
                       lr: float) -> bool:
        """`_s_step_layers`' step by `nets._fused.projected_step`, one compiled loop per
        layer, when every participation and gradient is a CPU tensor of one dtype, float32 or
        float64; returns whether it ran (else nothing is changed)."""
        dtype = participations[0].dtype
        if dtype not in (torch.float32, torch.float64) or not all(
                s.dtype == g.dtype == dtype and s.is_cpu and g.is_cpu
                for s, g in zip(participations, gradients, strict=True)):
            return False
        kernels = _kernels()
        step = (np.float32 if dtype == torch.float32 else np.float64)(lr)
        for s, g in zip(participations, gradients, strict=True):
            kernels.projected_step(s.detach().numpy(), g.detach().numpy(), step)
            torch.autograd.graph.increment_version(s)  # written in place, as add_ would be
        return True

    def epoch_record(self, gated: GatedNetwork, epoch: int, train_loss: float,
                     last_batch: tuple[torch.Tensor, torch.Tensor], test_loader: DataLoader,
                     started: float, history: tuple[EpochRecord, ...] = ()) -> EpochRecord:
        """What epoch `epoch` (0-based) ended with: test accuracy (``config.eval_mode``),
        the share of players below epsilon, the Nash gap of s on the last batch's game, the
        seconds since `started` (a ``time.perf_counter()`` reading).

        Raises
        ------
        TrainingDivergedError
            When the participation is not finite (`history`: the epochs before).
        """
        c = self.config
        s = gated.get_participation()
        if not torch.all(torch.isfinite(s)):
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}: the participation became "
                f"non-finite; lower participation_lr (now {c.participation_lr:g}) or the "
                f"learning rate (lr={c.lr:g})", history, lr=c.lr, epoch=epoch)
        gap = float(nash_gap(self.batch_game(gated, *last_batch), s.double().numpy()))
        evaluated = gated if c.eval_mode == "soft" else apply_participation(
            gated, mode=c.eval_mode, threshold=c.epsilon, on_empty="keep_strongest")
        accuracy, test_loss = accuracy_and_loss(evaluated, test_loader)
        active = tuple(int((s[info.players] >= c.epsilon).sum()) for info in gated.layers)
        return EpochRecord(epoch=epoch + 1, train_loss=train_loss,
                           test_accuracy=accuracy, test_loss=test_loss,
                           below_epsilon=float((s < c.epsilon).double().mean()),
                           mean_participation=float(s.double().mean()),
                           active_per_layer=active, nash_gap=gap,
                           seconds=time.perf_counter() - started)

    def _second_pass_gradient(self, gated: GatedNetwork, inputs: torch.Tensor,
                              labels: torch.Tensor) -> torch.Tensor:
        """The pseudo-gradient of `batch_game` (Taylor benefits and activation overlap need
        activations, which the training pass does not keep)."""
        game = self.batch_game(gated, inputs, labels)
        s = gated.get_participation().detach().double().numpy()
        return torch.as_tensor(game.pseudo_gradient(s), dtype=torch.float32)

    def _recomputed_gradient(self, gated: GatedNetwork, gates: list, inputs: torch.Tensor,
                             labels: torch.Tensor) -> torch.Tensor:
        """The pseudo-gradient after the theta step (``s_update="sequential"``)."""
        if self._needs_second_pass():
            return self._second_pass_gradient(gated, inputs, labels)
        for gate in gates:
            gate.participation.grad = None
        for parameter in gated.parameters():
            parameter.grad = None
        F.cross_entropy(gated(inputs), labels).backward()
        return self.participation_gradient(gated)


_KERNELS: Any = None


def _kernels() -> Any:
    """The module `nets._fused`, imported on the first compiled s-step (numba's import takes
    about 0.4 s, which ``import nets`` does not pay)."""
    global _KERNELS
    if _KERNELS is None:
        from nets import _fused

        _KERNELS = _fused
    return _KERNELS


@dataclass(frozen=True, eq=False)
class _Unit:
    """One player layer as the s-step reads it: its index in ``gated.layers``, its
    `PlayerLayer`, its gate, the layer and the next layer (looked up once per network, since
    ``nn.Sequential`` indexing walks the modules; the tensors are read from the modules at
    every step, so a converted network, e.g. ``.double()``, is still seen)."""

    index: int
    info: Any
    gate: Any
    layer: nn.Module | None
    following: nn.Module | None


def _units(gated: GatedNetwork) -> tuple[_Unit, ...]:
    """The `_Unit` s of `gated`; for a traced network (`TracedGatedNetwork`) without layer
    modules (a player group spans several), read through its ``unit_parameters``."""
    if isinstance(gated, TracedGatedNetwork):
        return tuple(_Unit(k, info, gate, None, None) for k, (info, gate)
                     in enumerate(zip(gated.layers, gated.gates(), strict=True)))
    modules = list(gated.model)
    return tuple(_Unit(k, info, gate, modules[info.layer_index],
                       None if info.next_index is None else modules[info.next_index])
                 for k, (info, gate) in enumerate(zip(gated.layers, gated.gates(), strict=True)))


def _reads_weights(unit: _Unit, payoff: str) -> bool:
    """Whether the benefit of `unit` is read from its weights' gradients: payoff "paper",
    ``alpha <dL/dtheta_i, theta_i>`` (Eq. 9 literally), except on a layer without BatchNorm
    whose weight or bias does not require gradients (the backward pass computes none), where
    it is read as ``alpha s_i dL/ds_i``, equal by the chain rule (the gate scales the layer's
    output; checked against autograd on the weights in tests/nets/test_stats.py)."""
    if payoff != "paper":
        return False
    return unit.info.batchnorm_index is not None or _trains(unit.layer.weight, unit.layer.bias)


def _trains(weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """Whether the backward pass computes the gradients of `weight` and `bias`."""
    return weight.requires_grad and (bias is None or bias.requires_grad)


def _grad(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)


def _grad_or_none(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else _grad(tensor)


def _squared_row_norms(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``||theta_i||^2`` of incoming row + bias, without building theta."""
    rows = torch.linalg.vector_norm(weight.detach().reshape(weight.shape[0], -1), dim=1)
    squared = rows * rows
    return squared if bias is None else squared + bias.detach() * bias.detach()


def _per_unit_sum(weight_part: torch.Tensor, bias_part: torch.Tensor | None,
                  bias: torch.Tensor | None) -> torch.Tensor:
    """``sum_j weight_part[i, j] + bias_part[i] * bias[i]`` per output unit i (``bias_part``
    is the bias itself for squared norms, its gradient for inner products)."""
    total = weight_part.reshape(weight_part.shape[0], -1).sum(dim=1)
    if bias is not None and bias_part is not None:
        total = total + bias_part.detach() * bias.detach()
    return total


def effective_cost(gated: GatedNetwork, include_outgoing: bool) -> torch.Tensor:
    """``sum_i ||s_i theta_i||^2`` with s held fixed: the game's L2 cost q_i s_i^2 =
    beta ||theta_i||^2 s_i^2 (Shah & Khan 2025, Eq. 10) read on the effective parameters, as a
    cost of the theta step (``scale="effective"``; times beta there).

    s is detached, so the term moves theta only: the s-step keeps its own q_i (unchanged b, q),
    and the theta step feels the cost the game charges, a weight decay of strength
    ``2 beta s_i^2`` on unit i. Its gradient is added to the weights' ``.grad`` after the
    s-step's gradient has been read from them (so a benefit read from ``.grad``, payoff
    "paper", is the task loss's) and it is not part of the reported training loss. The term
    is invariant under s_i -> s_i / c, theta_i -> c theta_i, so it stops the weights from
    growing for free against the L2 cost, not the L1 price's pull on s alone.
    """
    total = torch.zeros((), device=next(gated.parameters()).device)
    for k, gate in enumerate(gated.gates()):
        theta = gated.unit_parameters(k, include_outgoing)
        s = gate.participation.detach()
        total = total + ((s * s) * (theta * theta).sum(dim=1)).sum()
    return total


def check_normalizable(gated: GatedNetwork) -> None:
    """Refuse a network `normalize_units` does not support (``scale="normalized"``).

    Supported: every player layer a Linear (level "neuron"), no BatchNorm after it, the
    modules between its gate and the next Linear positively homogeneous (`HOMOGENEOUS`: ReLU,
    LeakyReLU, Identity, Dropout), and the next layer a Linear (an MLP).

    Raises
    ------
    NotImplementedError
        Naming the first layer that breaks one of these (convolutions, BatchNorm, a
        non-homogeneous activation such as tanh).
    """
    model = gated.model
    if isinstance(gated, TracedGatedNetwork):
        raise NotImplementedError("scale='normalized' supports flat MLPs only; this network "
                                  "was traced (use scale='none' or 'effective')")
    for info in gated.layers:
        if info.kind != "linear" or not isinstance(model[info.next_index], nn.Linear):
            raise NotImplementedError(f"scale='normalized' supports MLPs only (Linear player "
                                      f"layers feeding a Linear); layer {info.name} is "
                                      f"{info.kind}")
        if info.batchnorm_index is not None:
            raise NotImplementedError(f"scale='normalized' does not support BatchNorm (layer "
                                      f"{info.name}): the norm of the incoming weights does "
                                      "not reach its output")
        for j in range(info.gate_index + 1, info.next_index):
            if not isinstance(model[j], HOMOGENEOUS):
                raise NotImplementedError(
                    f"scale='normalized' needs a positively homogeneous activation after layer "
                    f"{info.name} (ReLU, LeakyReLU); model[{j}] is {type(model[j]).__name__}")


def normalize_units(gated: GatedNetwork) -> None:
    """Rescale every unit's incoming weights and bias to unit norm, folding the norm into the
    next layer's weights that read the unit; the network's function is unchanged.

    For a unit with incoming (w_i, b_i), participation s_i and outgoing column v_i, a positively
    homogeneous activation gives ``v_i act(s_i (w_i x + b_i)) = (c v_i) act(s_i (w_i x + b_i) /
    c)`` for c = ||(w_i, b_i)|| > 0, so after the rescaling ||theta_i|| = 1 and s_i alone
    carries the scale of the unit's input; the scale of its output moves to v_i (the symmetry
    is moved to the outgoing weights, not removed: docs/explanation/digits-dynamics.md). Units
    with zero incoming weights are left alone.

    Raises
    ------
    NotImplementedError
        For a network `check_normalizable` refuses (anything but a ReLU-type MLP).
    """
    check_normalizable(gated)
    with torch.no_grad():
        for info in gated.layers:
            layer, following = gated.model[info.layer_index], gated.model[info.next_index]
            rows = layer.weight * layer.weight
            squared = rows.sum(dim=1) if layer.bias is None else \
                rows.sum(dim=1) + layer.bias * layer.bias
            norm = torch.sqrt(squared)
            scale = torch.where(norm > 0, norm, torch.ones_like(norm))
            layer.weight.div_(scale.unsqueeze(1))
            if layer.bias is not None:
                layer.bias.div_(scale)
            following.weight.mul_(scale.unsqueeze(0))


def _copy_network(gated: GatedNetwork) -> GatedNetwork:
    return apply_participation(gated, mode="soft")


@dataclass(frozen=True, slots=True, eq=False)
class _FusedLayer:
    """One layer of `_FusedStep`: its tensors and the numpy arrays that view them, with the
    data pointers of the weight and bias they were made at (to tell when ``.data`` was
    replaced).

    ``weights`` says where the benefit is read from (`_reads_weights`): the weights'
    gradients, with ``weight_array`` the weights as a (units, fan-in) matrix and the norms
    summed in the same pass; or dL/ds, with ``matrix`` the weights' rows for
    ``torch.linalg.vector_norm`` into ``rows``. ``trains`` is whether the weight and bias
    required gradients when it was made (`_reads_weights` depends on it); ``conv`` whether
    the weights' gradient must be seen as a matrix too."""

    gate: Any
    s: torch.Tensor
    s_array: np.ndarray
    layer: nn.Module
    weight: torch.Tensor
    weight_pointer: int
    weights: bool
    trains: bool
    conv: bool
    weight_array: np.ndarray | None
    matrix: torch.Tensor | None
    bias: torch.Tensor | None
    bias_pointer: int
    bias_array: np.ndarray
    rows: torch.Tensor | None
    rows_array: np.ndarray | None
    out: torch.Tensor
    out_array: np.ndarray


class _FusedStep:
    """The compiled s-step (`nets._fused`) on one network's layers, on arrays made once.

    Each layer's participation s, weights, bias and output buffer are viewed as numpy arrays
    when it is built, and reused on every step while `ready` finds them still viewing the
    network's tensors. `_StepHooks` keeps one per network because every line of Python costs
    microseconds right after the backward pass, where the s-step runs (the interpreter's own
    memory has left the cache by then); per step it calls `ready`, `start` and `run`,
    nothing else.

    Payoff "paper" reads its benefit ``alpha <dL/dtheta_i, theta_i>`` from the weights'
    gradients (`nets._fused.weights_pseudo_gradient`: one pass over the weights gives the
    benefit and the cost's ``||theta_i||^2``), so the gates need no gradient and the
    backward pass no product for dL/ds. Payoff "loss_descent" (and "paper" on a layer whose
    weights are frozen) reads dL/ds (`nets._fused.pseudo_gradient`); its norms are taken by
    `start`, before the forward pass rather than after the backward pass: the weights do not
    change in between, and the forward pass then finds them in the cache the norms read
    them into, while after the backward pass they have left it. Nothing is kept from one
    step to the next but the views: a change of the weights through ``.data`` moves no
    version counter, so nothing cheap could tell that kept norms went stale.

    Parameters
    ----------
    layers : list of _FusedLayer
    constants : tuple
        The scalars of `nets._fused.pseudo_gradient` after its arrays, then the rounding
        of a Python scalar to the dtype (`EquilibriumPruning._fused_constants`).
    """

    def __init__(self, layers: list[_FusedLayer], constants: tuple[Any, ...]) -> None:
        self.layers = layers
        self.gate_layers = [layer for layer in layers if not layer.weights]  # read dL/ds
        self.constants = constants[:-1]
        self.weights_constants = constants[1:-1]  # (no payoff flag: "paper")
        self.rounding = constants[-1]
        self.lr: tuple[float, Any] = (float("nan"), None)  # the last lr, and it rounded

    @classmethod
    def build(cls, constants: Mapping[torch.dtype, tuple[Any, ...]], units: tuple[_Unit, ...],
              payoff: str) -> _FusedStep | None:
        """The fused step of `units` under `payoff`, or None when a participation or a
        layer's weights are not CPU tensors of one dtype that `constants` holds (float32,
        float64), or a layer's weight or bias is not its module's parameter (e.g. computed at
        each forward, by a parametrization or torch.nn.utils.prune: the torch operations,
        which read it after the pass, then run)."""
        dtype = units[0].gate.participation.dtype
        if dtype not in constants:
            return None
        kernels = _kernels()
        layers = []
        for unit in units:
            s, layer = unit.gate.participation, unit.layer
            weight, bias = layer.weight, layer.bias
            parameters = layer._parameters
            if not (s.dtype == weight.dtype == dtype and s.is_cpu and weight.is_cpu and (
                    bias is None or (bias.dtype == dtype and bias.is_cpu))) or \
                    parameters.get("weight") is not weight or parameters.get("bias") is not bias:
                return None
            weights = _reads_weights(unit, payoff)
            if weights and not weight.is_contiguous():
                return None
            matrix = weight.detach()  # (no graph)
            matrix = matrix if matrix.dim() == 2 else matrix.reshape(matrix.shape[0], -1)
            rows = None if weights else torch.empty(weight.shape[0], dtype=dtype)
            out = torch.empty_like(s, requires_grad=False)
            layers.append(_FusedLayer(
                unit.gate, s, s.detach().numpy(), layer, weight, weight.data_ptr(), weights,
                _trains(weight, bias), weight.dim() != 2, matrix.numpy() if weights else None,
                None if weights or matrix.data_ptr() != weight.data_ptr() else matrix, bias,
                0 if bias is None else bias.data_ptr(),
                kernels.NO_BIAS[dtype == torch.float64] if bias is None
                else bias.detach().numpy(), rows, None if rows is None else rows.numpy(),
                out, out.numpy()))
        return cls(layers, constants[dtype])

    def ready(self) -> bool:
        """Whether the arrays still view the network's participations, weights and biases
        (not after a conversion such as ``.double()``, which replaces them or their data),
        and the weights still require gradients as they did (which decides the route).

        Reads the modules' ``_buffers`` and ``_parameters``, the dicts that
        ``nn.Module.__getattr__`` looks in, without its Python-level search."""
        for layer in self.layers:
            parameters = layer.layer._parameters
            weight, bias = parameters.get("weight"), parameters.get("bias")
            if layer.gate._buffers["participation"] is not layer.s or \
                    weight is not layer.weight or weight.data_ptr() != layer.weight_pointer \
                    or bias is not layer.bias or \
                    (bias is not None and bias.data_ptr() != layer.bias_pointer) or \
                    _trains(weight, bias) != layer.trains:
                return False
        return True

    def start(self) -> None:
        """Before the forward pass, on the layers that read dL/ds: their participations
        require gradients (none yet), and `take_norms`."""
        for layer in self.gate_layers:  # (requires_grad_ on a leaf is a flag flip)
            layer.s.requires_grad_(True)
            layer.s.grad = None
        self.take_norms()

    def take_norms(self) -> None:
        """``||w_i||`` of the layers that read dL/ds (``torch.linalg.vector_norm`` of the
        incoming rows, as `_squared_row_norms` takes them), into their rows arrays."""
        for layer in self.gate_layers:
            matrix = layer.matrix
            if matrix is None:  # (a weight that is not contiguous: its rows read afresh)
                matrix = layer.weight.detach().reshape(layer.weight.shape[0], -1)
            torch.linalg.vector_norm(matrix, dim=1, out=layer.rows)

    def run(self, lr: float | None = None) -> list[torch.Tensor] | None:
        """The pseudo-gradient of every layer (in the output buffers, overwritten by the
        next call) from the gradients of the backward pass just run (the weights', or dL/ds
        in the participations' ``.grad`` after `start`); with `lr` also the projected step
        of s by it, in place, after which the participations stop requiring gradients and
        their ``.grad`` is cleared. None, with nothing changed, when a gradient is missing."""
        try:  # (autograd gives a leaf's gradient its dtype; numpy() refuses the rest)
            grads = [_fused_gradients(layer) for layer in self.layers]
        except (AttributeError, RuntimeError, TypeError):  # None, requires grad, not CPU
            return None
        kernels = _kernels()
        if lr is None:
            weights_kernel, gates_kernel, step = (kernels.weights_pseudo_gradient,
                                                  kernels.pseudo_gradient, ())
        else:
            if self.lr[0] != lr:
                self.lr = (lr, self.rounding(lr))
            weights_kernel, gates_kernel, step = (kernels.weights_pseudo_gradient_and_step,
                                                  kernels.pseudo_gradient_and_step,
                                                  (self.lr[1],))
        for layer, (grad, bias_grad) in zip(self.layers, grads, strict=True):
            if layer.weights:
                weights_kernel(layer.s_array, layer.weight_array, grad, layer.bias_array,
                               bias_grad, layer.out_array, *self.weights_constants, *step)
            else:
                gates_kernel(layer.s_array, grad, layer.rows_array, layer.bias_array,
                             layer.out_array, *self.constants, *step)
            if step:
                s = layer.s
                torch.autograd.graph.increment_version(s)  # written in place, as add_ would be
                s.requires_grad_(False)
                s.grad = None
        return [layer.out for layer in self.layers]


def _fused_gradients(layer: _FusedLayer) -> tuple[np.ndarray, np.ndarray | None]:
    """What `_FusedStep.run` reads of `layer`'s backward pass, as arrays: the weights'
    gradient (as a matrix) and the bias's, or dL/ds (and None). Raises AttributeError when a
    gradient is missing."""
    if not layer.weights:
        return layer.s.grad.numpy(), None
    grad = layer.weight.grad.numpy()
    if layer.conv:
        grad = grad.reshape(grad.shape[0], -1)
    bias = layer.bias
    return grad, layer.bias_array if bias is None else bias.grad.numpy()


class _StepHooks(Hooks):
    """Algorithm 1's actions inside one step of `nets.loop.train_step`.

    The s-step is fused into the theta step's pass: the backward pass of the task loss fills
    the weights' gradients (and, where the benefit reads dL/ds, the gates'
    ``participation.grad``), `after_backward` turns them into the pseudo-gradient layer by
    layer (the game's b - 2 q s - c - R s in closed form: no game object, no second
    forward/backward, no host synchronization) and takes the projected step on each gate in
    place. On the CPU both are one compiled loop per layer (`_FusedStep`, `nets._fused`),
    before the optimizer step, which does not read s (so the order changes nothing); else
    the torch operations run and the step waits for `after_step`, as it does with
    ``scale="effective"``, whose cost is read at the s before the step. With
    ``participation_every = k > 1`` only the k-th, 2k-th, ... steps of the run take an
    s-step (where dL/ds is read, the gates require gradients on those only), and that
    step is k lr_s.
    """

    def __init__(self, trainer: EquilibriumPruning, gated: GatedNetwork) -> None:
        self.trainer = trainer
        self.gated = gated
        self.units = _units(gated)
        self.gates = [unit.gate for unit in self.units]
        self.gradients: list[torch.Tensor] | None = None
        self.last_batch: Any = None
        self.steps = 0  # training steps taken through these hooks (`fit` sets it on resume)
        self.s_now = True  # whether the current step takes an s-step
        c = trainer.config
        #: Whether the pseudo-gradient is the closed form from dL/ds (decided once, so that
        #: every step goes straight to `EquilibriumPruning._closed_form_gradients`).
        self.closed_form = (c.s_update == "simultaneous" and not trainer._needs_second_pass()
                            and trainer._closed_form(self.units))
        #: The s-step's step: lr_s, or k lr_s on every k-th step.
        self.every = c.participation_every
        self.lr = c.participation_lr if self.every == 1 else self.every * c.participation_lr
        self.stepped = False  # whether `after_backward` already took this step's s-step
        #: Whether `after_backward` takes the s-step itself by `_FusedStep` (the closed form,
        #: except with scale "effective", whose cost is read at s before the s-step).
        self.fused = self.closed_form and c.scale != "effective"
        self.fused_step: _FusedStep | None = None  # made on the first step, kept while ready

    @property
    def gradient(self) -> torch.Tensor | None:
        """The s-step's pseudo-gradient of the current step, players concatenated (None
        before `after_backward`, or on a step without an s-step)."""
        return None if self.gradients is None else torch.cat(self.gradients)

    def before_batch(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        every = self.every
        self.s_now = every == 1 or (self.steps + 1) % every == 0
        if not self.s_now:
            return
        if self.fused:
            fused = self.fused_step
            if fused is None or not fused.ready():
                fused = self.fused_step = _FusedStep.build(
                    self.trainer._fused_constants, self.units, self.trainer.config.payoff)
            if fused is not None:
                fused.start()
                return
        for gate in self.gates:  # (requires_grad_ on a leaf is a flag flip)
            gate.participation.requires_grad_(True)
            gate.participation.grad = None

    def after_backward(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        fused = self.fused_step
        if self.s_now and fused is not None:
            # The s-step itself, in the same compiled loop: the theta step does not read s,
            # so taking it before the optimizer step gives the same bits.
            self.gradients = fused.run(self.lr)
            if self.gradients is not None:
                self.stepped = True
                return  # (`fused` excludes scale "effective": no cost term below)
        trainer = self.trainer
        c = trainer.config
        self.gradients = None
        if self.s_now and self.closed_form:  # the s-step sees the weights before the step
            self.gradients = trainer._closed_form_gradients(self.units)
        elif self.s_now and c.s_update == "simultaneous":
            if trainer._needs_second_pass():
                self.gradients = list(self._split(
                    trainer._second_pass_gradient(self.gated, inputs, labels)))
            else:
                self.gradients = trainer._layer_gradients(self.gated, self.units)
        if c.scale == "effective" and c.beta != 0.0:  # after the s-gradient read the .grad
            (c.beta * effective_cost(self.gated, c.include_outgoing)).backward()

    def after_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        c = self.trainer.config
        self.steps += 1
        if self.s_now and not self.stepped:
            gradients = self.gradients
            if gradients is None:
                gradients = self._split(self.trainer._recomputed_gradient(
                    self.gated, self.gates, inputs, labels))
            self.trainer._s_step_layers(self.units, gradients, self.lr)
        self.gradients = None
        self.stepped = False
        if c.scale == "normalized":
            normalize_units(self.gated)
        self.last_batch = (inputs, labels)

    def _split(self, gradient: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(gradient, [unit.info.n_units for unit in self.units])


class _AlgorithmHooks(_StepHooks):
    """`_StepHooks` plus what `fit` does every epoch: the record, the checkpoint, the
    progress values and the caller's callback."""

    def __init__(self, trainer: EquilibriumPruning, gated: GatedNetwork,
                 optimizer: torch.optim.Optimizer, test_loader: DataLoader, state: _State,
                 checkpoint: Path | None,
                 callback: Callable[[EpochRecord], None] | None) -> None:
        super().__init__(trainer, gated)
        self.optimizer = optimizer
        self.test_loader = test_loader
        self.state = state
        self.checkpoint = checkpoint
        self.callback = callback
        self.started = 0.0
        self.sample: DataLoader | None = None  # the in-loop game's examples (game in the loop)

    def after_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        super().after_step(inputs, labels)  # counts the step
        every = self.trainer.config.equilibrium_every
        if every and self.steps % every == 0:
            self.trainer.jump_to_equilibrium(self.gated, self.sample)

    def start_epoch(self, epoch: int) -> None:
        self.started = time.perf_counter()

    def end_epoch(self, epoch: int, train_loss: float) -> dict[str, str]:
        state = self.state
        record = self.trainer.epoch_record(self.gated, epoch, train_loss, self.last_batch,
                                           self.test_loader, self.started, tuple(state.history))
        state.history.append(record)
        state.epoch += 1
        if self.checkpoint is not None:
            _save_checkpoint(self.checkpoint, self.trainer.config, self.gated, self.optimizer,
                             state)
        return {"acc": f"{record.test_accuracy:.3f}",
                "below_epsilon": f"{record.below_epsilon:.3f}"}

    def after_epoch(self, epoch: int) -> None:
        if self.callback is not None:
            self.callback(self.state.history[-1])



def _save_checkpoint(path: Path, config: PruningConfig, gated: GatedNetwork,
                     optimizer: torch.optim.Optimizer, state: _State) -> None:
    """Write the checkpoint to a temporary file, then rename it over the old one."""
    payload = {"config": config.to_dict(), "epoch": state.epoch,
               "history": [r.to_dict() for r in state.history],
               "model": gated.state_dict(), "optimizer": optimizer.state_dict()}
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)


#: PruningConfig fields added after checkpoints were first written (issues 11 and 13).
_ADDED_FIELDS = ("equilibrium_every", "equilibrium_sample", "scale", "participation_every")


def _load_checkpoint(path: Path, config: PruningConfig, gated: GatedNetwork,
                     optimizer: torch.optim.Optimizer) -> _State:
    device = next(gated.parameters()).device  # a checkpoint loads on any device
    payload = torch.load(path, map_location=device, weights_only=True)
    defaults = PruningConfig().to_dict()  # fields added since the checkpoint took defaults
    recorded = {**{k: defaults[k] for k in _ADDED_FIELDS}, **payload["config"]}
    recorded.pop("device", None)  # the same run, resumed on another device
    if recorded != {k: v for k, v in config.to_dict().items() if k != "device"}:
        raise ValueError(f"the checkpoint at {path} was written with a different config; "
                         "use another checkpoint_dir or the same PruningConfig")
    gated.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    history = [EpochRecord(**{**upgrade_epoch_record(r),
                              "active_per_layer": tuple(r["active_per_layer"])})
               for r in payload["history"]]
    return _State(epoch=int(payload["epoch"]), history=history)
