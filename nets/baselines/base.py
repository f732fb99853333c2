"""The contract and the shared harness of the baseline pruners (the literature on one harness).

Every method gets the same model, data, training budget (counted in optimizer steps) and
metrics as equilibrium pruning (Blalock et al. 2020, "What is the state of neural network
pruning?"). A method either scores units or weights (`ScorePruner`: one-shot, progressive or
iterative schedules, shared here) or trains with its own regularizer (L0, slimming).

Sparsity means, for ``granularity="structured"``, the share of players (hidden neurons or conv
filters, never the output layer, as in `nets.attach_gates`) that are physically removed; for
``"unstructured"`` the share of zero weights among all Linear and Conv2d weights (biases are
not pruned). Structured results are smaller standard ``nn.Sequential`` models
(`nets.apply_participation(..., mode="remove")`); unstructured ones carry their masks through
``torch.nn.utils.prune`` while training and are made permanent (zeros) at the end.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, Dataset

from nets import loop
from nets.apply import apply_participation
from nets.checks import PruningError, check_choice, check_int, check_number
from nets.device import resolve_device
from nets.divergence import DivergenceMonitor
from nets.gates import GatedNetwork, attach_gates
from nets.loop import TrainingConfig

GRANULARITIES = ("structured", "unstructured")
SCHEDULES = ("one_shot", "progressive", "iterative", "at_init")
SCOPES = ("global", "layer")
LEVELS = ("neuron", "filter", "all")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class Budget(TrainingConfig):
    """The training every method may spend, in epochs of ``batch_size`` batches.

    The training fields are `nets.loop.TrainingConfig`'s (here with 10 epochs by default,
    Adam or SGD, and a learning rate > 0); ``weight_decay`` (default 0) and ``momentum``
    (default 0.9, SGD only) reach the optimizer as in `nets.PruningConfig`.

    Attributes
    ----------
    epochs : int
        Total epochs for the method (pre-training, pruning rounds and fine-tuning together).
    batch_size, optimizer, lr, weight_decay, momentum, seed
        As in `nets.loop.TrainingConfig`.
    level : {"neuron", "filter", "all"}
        Which units are players for structured pruning.
    rounds : int
        Pruning rounds of the iterative and progressive schedules.
    """

    epochs: int = 10
    level: str = "neuron"
    rounds: int = 3

    optimizers: ClassVar[tuple[str, ...]] = OPTIMIZERS
    lr_positive: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "rounds", check_int(self.rounds, "rounds", minimum=1))
        check_choice(self.level, "level", LEVELS)


@dataclass(frozen=True, eq=False)
class PruneOutcome:
    """What a pruner returns.

    Attributes
    ----------
    method, granularity, schedule : str
    target_sparsity : float or None
        None for methods whose sparsity is emergent (set by a regularization strength).
    achieved_sparsity : float
    model : nn.Sequential
        The pruned model (structured: units removed; unstructured: zeros in the weights).
    steps : int
        Optimizer steps spent, all phases together.
    seconds : float
        Wall time to the pruned model.
    details : dict
        Method-specific facts (kept units per layer, rounds, regularization strength, ...).
    """

    method: str
    granularity: str
    schedule: str
    target_sparsity: float | None
    achieved_sparsity: float
    model: nn.Sequential
    steps: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """A pruner's options: one frozen dataclass per method (its ``Options``), whose fields
    are the method's constructor keywords with their defaults, checked on construction
    (`PruningError` naming the field). This one has none."""


def check_scope(scope: Any) -> str:
    """`scope` if it is one of `SCOPES`, else a `PruningError` naming it."""
    if scope not in SCOPES:
        raise PruningError(f"scope must be one of {SCOPES}; got {scope!r}")
    return scope


@dataclass(frozen=True)
class ScoreOptions(Options):
    """Options of a `ScorePruner`.

    Attributes
    ----------
    scope : {"global", "layer"}, default "global"
        Rank all units (or weights) together or per layer.
    """

    scope: str = "global"

    def __post_init__(self) -> None:
        check_scope(self.scope)


class Pruner(ABC):
    """A pruning method on the shared harness; subclasses register in `nets.baselines`.

    ``Pruner(**options)`` builds the method's `Options` dataclass (``cls.Options``) from the
    keywords (positional arguments in the fields' order work too) and exposes every option as
    an attribute (``pruner.scope``); ``pruner.options`` is the dataclass.
    """

    name: ClassVar[str]
    citation: ClassVar[str]
    granularities: ClassVar[tuple[str, ...]] = GRANULARITIES
    schedules: ClassVar[tuple[str, ...]] = ("one_shot",)
    emergent: ClassVar[bool] = False
    Options: ClassVar[type[Options]] = Options

    def __init__(self, *args: Any, **options: Any) -> None:
        self.options = self.Options(*args, **options)
        for option in dataclasses.fields(self.options):
            setattr(self, option.name, getattr(self.options, option.name))

    def check(self, sparsity: float | None, granularity: str, schedule: str,
              model: nn.Module | None = None) -> None:
        """Raise `PruningError` for an option this method does not offer, or (given the
        `model`, for ``granularity="unstructured"``) a model with weights it cannot prune."""
        if granularity not in self.granularities:
            raise PruningError(f"{self.name} supports granularity {self.granularities}; got "
                               f"granularity={granularity!r}")
        if schedule not in self.schedules:
            raise PruningError(f"{self.name} supports schedule {self.schedules}; got "
                               f"schedule={schedule!r}")
        if self.emergent:
            check_optional_sparsity(sparsity)
        else:
            check_number(sparsity, "sparsity", low=0.0, high=1.0, high_open=True)
        if model is not None and granularity == "unstructured":
            check_unstructured_model(model)

    def check_request(self, model: nn.Module, data: Any, sparsity: float | None,
                      budget: Budget, granularity: str = "structured",
                      schedule: str = "one_shot") -> None:
        """Raise `PruningError` now for a `prune` call that would fail, before any training
        (`nets.compare` checks every run this way first). `check` plus what a method needs
        of the budget and data."""
        self.check(sparsity, granularity, schedule, model)

    @abstractmethod
    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        """Train and prune a copy of `model` within `budget` (never modifies `model`)."""

    @staticmethod
    @contextlib.contextmanager
    def run(data: Any, budget: Budget) -> Iterator[PruneRun]:
        """The opening every ``prune`` shares: start the clock, read the training set, count
        steps, and seed torch with ``budget.seed`` inside a forked generator state (so a run
        leaves the caller's random state alone)."""
        run = PruneRun(data, budget)
        with torch.random.fork_rng():
            torch.manual_seed(budget.seed)
            yield run


# ---------------------------------------------------------------------------- training
class StepCounter:
    """Counts optimizer steps across phases so budgets are reported honestly."""

    def __init__(self) -> None:
        self.steps = 0


def make_optimizer(parameters: Any, budget: Budget) -> torch.optim.Optimizer:
    """The budget's optimizer over `parameters` (`nets.loop.make_optimizer`)."""
    return loop.make_optimizer(budget, parameters)


def epoch_loader(train_set: Dataset, budget: Budget, epoch: int) -> DataLoader:
    """The training batches of one epoch, in a seeded order shared by every method
    (`nets.loop.epoch_batches`)."""
    return loop.epoch_batches(train_set, budget.batch_size, budget.seed, epoch)


class _BaselineHooks(loop.Hooks):
    """A regularizer on the loss, a callback after every step, and the step count."""

    def __init__(self, model: nn.Module, counter: StepCounter,
                 regularizer: Callable[[nn.Module], torch.Tensor] | None,
                 after_step: Callable[[nn.Module], None] | None) -> None:
        self.model = model
        self.counter = counter
        self.regularizer = regularizer
        self.callback = after_step

    def loss(self, model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
        return loss if self.regularizer is None else loss + self.regularizer(model)

    def after_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        if self.callback is not None:
            self.callback(self.model)
        self.counter.steps += 1


def train(model: nn.Module, train_set: Dataset, budget: Budget, epochs: int,
          counter: StepCounter, *, first_epoch: int = 0,
          regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
          after_step: Callable[[nn.Module], None] | None = None,
          optimizer: torch.optim.Optimizer | None = None) -> torch.optim.Optimizer:
    """Train `model` for `epochs` epochs with cross-entropy (+ `regularizer(model)`), on
    `nets.loop.train`; `after_step(model)` runs after every optimizer step.

    Returns the optimizer (so a caller can keep its state across phases).

    Raises
    ------
    TrainingDivergedError
        When training diverges (`nets.divergence.DivergenceMonitor`: a non-finite loss, a
        loss over 1000x its start in this call, or accuracy back at chance after clearly above
        it; with a `regularizer`, which may prune every unit on purpose, the accuracy fall
        counts only with a confidently wrong loss); the message names ``lr``.
    """
    optimizer = optimizer or make_optimizer(model.parameters(), budget)
    monitor = DivergenceMonitor(budget.lr, may_collapse=regularizer is not None,
                                first_epoch=first_epoch)
    loop.train(model, train_set, budget, optimizer, range(first_epoch, first_epoch + epochs),
               monitor=monitor, hooks=_BaselineHooks(model, counter, regularizer, after_step))
    return optimizer


class PruneRun:
    """What every ``prune`` opens with: the training set, a step counter, the clock, and the
    phases' epochs counted on (see `Pruner.run`).

    Attributes
    ----------
    train_set : Dataset
    budget : Budget
    counter : StepCounter
    epoch : int
        Epochs trained so far (the next phase's batch order starts there).
    """

    def __init__(self, data: Any, budget: Budget) -> None:
        self.started = time.perf_counter()
        self.train_set, _ = loop.datasets(data)
        self.budget = budget
        self.counter = StepCounter()
        self.epoch = 0

    @property
    def steps(self) -> int:
        """Optimizer steps so far."""
        return self.counter.steps

    @property
    def seconds(self) -> float:
        """Wall time since the run opened."""
        return time.perf_counter() - self.started

    def train(self, model: nn.Module, epochs: int, **options: Any) -> torch.optim.Optimizer:
        """`train` `model` for the next `epochs` epochs of the budget (options as there)."""
        optimizer = train(model, self.train_set, self.budget, epochs, self.counter,
                          first_epoch=self.epoch, **options)
        self.epoch += epochs
        return optimizer


def scoring_batches(train_set: Dataset, budget: Budget, n_batches: int = 4
                    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed list of training batches for data-dependent scores, on ``budget.device``."""
    loader = epoch_loader(train_set, budget, epoch=10_000)
    device = resolve_device(budget.device)
    return [(inputs.to(device), labels.to(device))
            for _, (inputs, labels) in zip(range(n_batches), loader, strict=False)]


def example_of(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """One input of the first batch: what `nets.attach_gates` traces a model other than a
    flat Sequential on (unused on the flat path)."""
    if not batches:
        raise PruningError("scoring needs at least one batch")
    return batches[0][0][:1]


# ---------------------------------------------------------------------------- structured
def select_units(gated: GatedNetwork, scores: torch.Tensor, sparsity: float,
                 scope: str = "global") -> torch.Tensor:
    """Keep-mask over players: remove the lowest-scoring ``round(sparsity * N)`` players.

    ``scope="global"`` ranks all players together; ``"layer"`` removes
    ``round(sparsity * n_l)`` from every layer. No layer is ever emptied: each keeps at least
    its best unit, so the achieved sparsity may fall short of the target by at most one unit per
    layer.
    """
    if scope not in SCOPES:
        raise PruningError(f"scope must be one of {SCOPES}; got {scope!r}")
    scores = torch.as_tensor(scores, dtype=torch.float64).flatten().cpu()  # beside keep
    if scores.shape[0] != gated.n_players or not torch.all(torch.isfinite(scores)):
        raise PruningError(f"scores must be {gated.n_players} finite numbers, one per player")
    keep = torch.ones(gated.n_players, dtype=torch.bool)
    if scope == "layer":
        for info in gated.layers:
            block = scores[info.players]
            remove = min(round(sparsity * info.n_units), info.n_units - 1)
            order = torch.argsort(block, stable=True)[:remove]
            keep[info.offset + order] = False
            for _, owners in getattr(info, "partial_members", tuple)():
                players = torch.tensor([info.offset + i for i in owners])
                if not bool(keep[players].any()):
                    keep[players[int(torch.argmax(scores[players]))]] = True
        return keep
    protected = torch.zeros(gated.n_players, dtype=torch.bool)
    for info in gated.layers:
        protected[info.offset + int(torch.argmax(scores[info.players]))] = True
        for _, owners in getattr(info, "partial_members", tuple)():
            # a traced group's branch (a conv concatenated into it) keeps its best channel
            players = torch.tensor([info.offset + i for i in owners])
            protected[players[int(torch.argmax(scores[players]))]] = True
    remove = round(sparsity * gated.n_players)
    candidates = torch.argsort(torch.where(protected, torch.inf, scores), stable=True)
    keep[candidates[:min(remove, int((~protected).sum()))]] = False
    return keep


def remove_units(gated: GatedNetwork, keep: torch.Tensor) -> nn.Sequential:
    """The plain model with the dropped players physically removed (outputs of kept units
    unchanged: `nets.apply_participation` with s = keep)."""
    s = gated.get_participation().double() * keep.double().cpu()
    return apply_participation(gated, s.clamp(0.0, 1.0), mode="remove", threshold=0.5,
                               on_empty="keep_strongest")


# ---------------------------------------------------------------------------- unstructured
def prunable_layers(model: nn.Module) -> list[nn.Module]:
    """Every Linear and Conv2d (their weights are the unstructured prunable parameters)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def check_unstructured_model(model: nn.Module) -> None:
    """Raise `PruningError` if `model` holds weight matrices outside Linear and Conv2d layers.

    Unstructured pruning masks the weights of `prunable_layers` only, and reports the share of
    zeros among them; weights of other layers (Conv1d, Conv3d, Embedding, ...) would stay
    dense while the reported sparsity claims the target, so such a model is refused. (The
    1-D scales of normalization layers and biases are never pruned, as everywhere here.)
    """
    prunable = {id(p) for layer in prunable_layers(model) for p in layer.parameters()}
    other = [(name, p) for name, p in model.named_parameters()
             if p.dim() >= 2 and id(p) not in prunable]
    if other:
        untouched = sum(p.numel() for _, p in other)
        total = untouched + sum(layer.weight.numel() for layer in prunable_layers(model))
        names = ", ".join(name for name, _ in other)
        raise PruningError(f"granularity='unstructured' prunes the weights of Linear and Conv2d "
                           f"layers only; this model's {names} ({untouched} of its {total} "
                           "weights) would stay dense: use granularity='structured' or "
                           "Linear/Conv2d layers")


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight a masked layer really uses now, ``weight_orig * weight_mask``.

    ``torch.nn.utils.prune`` recomputes ``layer.weight`` only in a forward pass, so right after
    an optimizer step it is one step stale.
    """
    if hasattr(layer, "weight_orig") and hasattr(layer, "weight_mask"):
        return (layer.weight_orig * layer.weight_mask).detach()
    return layer.weight.detach()


def select_weights(scores: list[torch.Tensor], sparsity: float, scope: str = "global"
                   ) -> list[torch.Tensor]:
    """Keep-masks (float 0/1) removing the lowest-scoring weights, globally or per layer.

    Ties are broken by position (stable sort), so masks are deterministic. Every layer keeps
    at least one weight.
    """
    if scope not in SCOPES:
        raise PruningError(f"scope must be one of {SCOPES}; got {scope!r}")
    if scope == "layer":
        return [_keep_lowest_removed(s, round(sparsity * s.numel())) for s in scores]
    flat = torch.cat([s.detach().flatten().double().cpu() for s in scores])  # host masks
    remove = round(sparsity * flat.numel())
    order = torch.argsort(flat, stable=True)
    keep = torch.ones_like(flat)
    keep[order[:remove]] = 0.0
    masks, start = [], 0
    for s in scores:
        mask = keep[start:start + s.numel()].reshape(s.shape).to(torch.float32)
        if mask.sum() == 0:
            mask.view(-1)[int(torch.argmax(s.detach().flatten().cpu()))] = 1.0
        masks.append(mask)
        start += s.numel()
    return masks


def _keep_lowest_removed(score: torch.Tensor, remove: int) -> torch.Tensor:
    remove = min(remove, score.numel() - 1)
    order = torch.argsort(score.detach().flatten().double().cpu(), stable=True)
    keep = torch.ones(score.numel())
    keep[order[:remove]] = 0.0
    return keep.reshape(score.shape)


def apply_weight_masks(model: nn.Module, masks: list[torch.Tensor]) -> None:
    """Attach `masks` to the prunable weights through ``torch.nn.utils.prune``.

    A layer already masked gets the product of its old and new masks (masks only shrink).
    """
    for layer, mask in zip(prunable_layers(model), masks, strict=True):
        mask = mask.to(layer.weight.device)
        if prune.is_pruned(layer) and hasattr(layer, "weight_mask"):
            mask = mask * layer.weight_mask
            prune.remove(layer, "weight")
        prune.custom_from_mask(layer, "weight", mask)


def current_weight_masks(model: nn.Module) -> list[torch.Tensor]:
    """The masks now on the prunable weights (all ones where there is none)."""
    return [layer.weight_mask.detach().clone() if hasattr(layer, "weight_mask")
            else torch.ones_like(layer.weight) for layer in prunable_layers(model)]


def finalize_weights(model: nn.Module) -> nn.Sequential:
    """Make the masks permanent (zeros in plain weights) and drop torch's prune hooks."""
    for layer in prunable_layers(model):
        if prune.is_pruned(layer):
            prune.remove(layer, "weight")
    return model


def unstructured_sparsity(model: nn.Module) -> float:
    """Share of zero weights among all prunable weights."""
    weights = [layer.weight.detach() for layer in prunable_layers(model)]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / total


# ---------------------------------------------------------------------------- schedules
def schedule_targets(target: float, rounds: int, kind: str) -> list[float]:
    """Sparsity after each pruning round.

    ``iterative``: the same fraction of the remaining units/weights each round,
    ``1 - (1 - target)^(r / rounds)`` (Han et al. 2015; Frankle & Carbin 2019);
    ``progressive``: Zhu & Gupta's (2017) cubic ramp ``target (1 - (1 - r / rounds)^3)``;
    ``one_shot`` / ``at_init``: ``[target]``.
    """
    if kind in ("one_shot", "at_init"):
        return [target]
    if kind == "iterative":
        return [1.0 - (1.0 - target) ** (r / rounds) for r in range(1, rounds + 1)]
    if kind == "progressive":
        return [target * (1.0 - (1.0 - r / rounds) ** 3) for r in range(1, rounds + 1)]
    raise PruningError(f"schedule must be one of {SCHEDULES}; got {kind!r}")


def split_epochs(total: int, rounds: int) -> tuple[int, list[int]]:
    """Pre-training epochs and the fine-tuning epochs after each round (sum = total).

    Half the budget trains the dense model (at least one epoch); the rest is shared between
    the rounds, earlier rounds first.
    """
    pre = max(1, total // 2)
    rest = total - pre
    per = [rest // rounds + (1 if r < rest % rounds else 0) for r in range(rounds)]
    return pre, per


class ScorePruner(Pruner):
    """A method defined by a score: the lowest-scoring units or weights are removed.

    Subclasses implement `unit_scores` (structured) and/or `weight_scores` (unstructured).
    Schedules: ``one_shot`` (train half the budget, prune, fine-tune), ``iterative`` and
    ``progressive`` (`schedule_targets` over ``budget.rounds`` rounds, fine-tuning between),
    ``at_init`` (score the untrained model, prune, train the whole budget: SNIP, GraSP,
    SynFlow). The scope (global or per layer) is the constructor's ``scope``.
    """

    schedules = ("one_shot", "iterative", "progressive")
    Options = ScoreOptions
    scope: str

    def unit_scores(self, gated: GatedNetwork, batches: list[tuple[torch.Tensor, torch.Tensor]]
                    ) -> torch.Tensor:
        """One score per player (higher = more important)."""
        raise NotImplementedError(f"{self.name} defines no structured score")

    def weight_scores(self, model: nn.Sequential,
                      batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
        """One score per weight of every prunable layer (higher = more important)."""
        raise NotImplementedError(f"{self.name} defines no unstructured score")

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check(sparsity, granularity, schedule, model)
        with self.run(data, budget) as run:
            work = copy.deepcopy(model)
            targets = schedule_targets(float(sparsity), budget.rounds, schedule)
            if schedule == "at_init":
                pre, per = 0, [budget.epochs]
            else:
                pre, per = split_epochs(budget.epochs, len(targets))
            run.train(work, pre)
            batches = scoring_batches(run.train_set, budget)
            details: dict[str, Any] = {"rounds": len(targets), "targets": targets,
                                       "scope": self.scope}
            example = example_of(batches)
            players = attach_gates(model, budget.level, example_inputs=example).n_players \
                if granularity == "structured" else None
            for target, epochs in zip(targets, per, strict=True):
                work = self.prune_round(work, target, players, batches, granularity, budget)
                run.train(work, epochs)
        return self.outcome(work, granularity, schedule, float(sparsity), players, budget,
                            run.steps, run.seconds, details, example_inputs=example)

    def prune_round(self, work: nn.Sequential, target: float, players: int | None,
                    batches: list[tuple[torch.Tensor, torch.Tensor]], granularity: str,
                    budget: Budget) -> nn.Sequential:
        """Prune `work` to `target` sparsity (relative to the original `players` for
        structured pruning; masks only shrink for unstructured); returns the pruned model."""
        if granularity == "structured":
            gated = attach_gates(work, budget.level, example_inputs=example_of(batches))
            fraction = 1.0 - (1.0 - target) * players / gated.n_players
            keep = select_units(gated, self.unit_scores(gated, batches), max(fraction, 0.0),
                                self.scope)
            return work if bool(keep.all()) else remove_units(gated, keep)
        masks = select_weights(self.weight_scores(work, batches), target, self.scope)
        apply_weight_masks(work, [torch.minimum(m.to(c), c) for m, c in
                                  zip(masks, current_weight_masks(work), strict=True)])
        return work

    def outcome(self, work: nn.Sequential, granularity: str, schedule: str, target: float,
                players: int | None, budget: Budget, steps: int, seconds: float,
                details: dict[str, Any], *, example_inputs: torch.Tensor | None = None
                ) -> PruneOutcome:
        """The `PruneOutcome` of a finished run (masks made permanent for unstructured);
        `example_inputs` traces a model other than a flat Sequential (`nets.attach_gates`)."""
        if granularity == "structured":
            gated = attach_gates(work, budget.level, example_inputs=example_inputs)
            achieved = 1.0 - gated.n_players / players
            details["kept_per_layer"] = [info.n_units for info in gated.layers]
        else:
            work = finalize_weights(work)
            achieved = unstructured_sparsity(work)
        return PruneOutcome(self.name, granularity, schedule, target, achieved, work, steps,
                            seconds, details)


# ---------------------------------------------------------------------------- options
def check_optional_sparsity(sparsity: Any) -> None:
    """An emergent method's sparsity: None or a number in [0, 1)."""
    if sparsity is None:
        return
    try:
        check_number(sparsity, "sparsity", low=0.0, high=1.0, high_open=True)
    except PruningError:
        raise PruningError(f"sparsity must be a number in [0, 1) or None; got {sparsity!r}"
                           ) from None


def gate_optimizer(model: nn.Module, gate_type: type[nn.Module], budget: Budget,
                   gate_lr: float | None) -> torch.optim.Optimizer:
    """The budget's optimizer, with learning rate `gate_lr` (if given) for the parameters of
    the `gate_type` modules."""
    gate_ids = {id(p) for m in model.modules() if isinstance(m, gate_type)
                for p in m.parameters()}
    gates = [p for p in model.parameters() if id(p) in gate_ids]
    others = [p for p in model.parameters() if id(p) not in gate_ids]
    groups = [{"params": others}, {"params": gates}]
    if gate_lr is not None:
        groups[1]["lr"] = gate_lr
    return make_optimizer(groups, budget)


def non_negative(value: Any, name: str) -> float:
    """`value` as a float, or a `PruningError` naming `name` unless finite and >= 0."""
    return check_number(value, name, low=0.0)
