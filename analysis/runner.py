"""One experiment, described by a hashable `RunConfig` and executed by `run`.

A `RunConfig` names everything a run depends on: the data (`nets.data.load`), the model
(`nets.models.mlp` or `nets.models.lenet5`), the method and its options, the target sparsity
and the training budget shared by every method (epochs, batch size, learning rate, optimizer,
seed, player level, pruning rounds). Its `RunConfig.key` is a stable content hash, so a result
store (`analysis.sweeps`) can tell which configurations are already done, across processes,
machines and Python versions.

Methods:

- ``"dense"``: plain training (`nets.plain.train_plain`), no pruning: the reference row.
- ``"equilibrium"``: Algorithm 1 of Shah & Khan (2025) through the registry's
  `nets.baselines.equilibrium.EquilibriumPruner` (``fit_and_prune``, the same code
  `nets.compare` runs), with the `nets.PruningConfig` fields given in ``pruning`` (defaults:
  ``PruningConfig()``'s, paper-literal, the one default of "equilibrium" everywhere);
  afterwards the players below epsilon are removed (the paper's step 3) or, with a target
  ``sparsity``, the players of lowest participation.
- any other name of `nets.baselines.REGISTRY`: ``get(method, **pruning).prune(...)`` with a
  `nets.baselines.Budget` built from the shared training fields.

Every run is measured by `nets.evaluate` on the test split, against the unpruned architecture
(the freshly initialized model) for the compression ratio and the theoretical speed-up; the
`RunResult` embeds that `nets.evaluate.Evaluation`.

This is the same harness as `nets.compare` (its module docstring says why there are two entry
points): every pruning method is built by the registry, ``nets.baselines.get``, and measured
by `nets.evaluate`. For "equilibrium" the run calls `EquilibriumPruner.fit_and_prune` with
the full `nets.PruningConfig` (`RunConfig.pruning_config`) rather than ``prune`` with a
`nets.baselines.Budget`, because a RunConfig may ask for training the Budget does not offer
(``optimizer="adamw"``, ``weight_decay``, ``momentum``); ``prune`` is ``fit_and_prune`` with
the Budget's training fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from nets import models
from nets.baselines import REGISTRY, Budget, get
from nets.baselines.base import PruneOutcome
from nets.data import DATASET_NAMES, load
from nets.device import check_device_name, resolve_device
from nets.evaluate import Evaluation, Measured, evaluate
from nets.gates import attach_gates
from nets.loop import TrainingConfig, training_fields
from nets.plain import train_plain
from nets.presets import DEMO_WIDTHS
from nets.structure import example_input
from nets.training import PruningConfig

__all__ = ["GAME_FIELDS", "METHODS_BUILTIN", "MODELS", "SHARED_FIELDS", "TRACED_MODELS",
           "RunConfig", "RunConfigError", "RunResult", "build_model", "run", "run_with_outcome"]

#: Models a `RunConfig` can name: the flat `nets.models.mlp` and `nets.models.lenet5` (widths in
#: ``hidden``), and the nested models of `nets.models` whose players are found by tracing
#: (`nets.structure.trace_players`; their own keyword arguments in ``model_options``).
MODELS = ("mlp", "lenet5", "resnet_cifar", "resnet18_like", "vit", "mlp_mixer")
#: The traced models of `MODELS`, by name: each takes ``in_channels``, ``num_classes``,
#: ``input_size`` and ``seed`` from the run, and the rest of its keywords from ``model_options``.
TRACED_MODELS = {"resnet_cifar": models.resnet_cifar, "resnet18_like": models.resnet18_like,
                 "vit": models.vit, "mlp_mixer": models.mlp_mixer}
#: Traced models whose only Linear layer is the output layer: ``level="neuron"`` finds no player.
_CONV_ONLY = ("resnet_cifar", "resnet18_like")
_FROM_RUN = ("in_channels", "num_classes", "input_size", "seed")
#: Methods handled by `run` itself; every other method is a `nets.baselines.REGISTRY` name.
METHODS_BUILTIN = ("dense", "equilibrium")
#: The `nets.loop.TrainingConfig` fields that are method options here, in ``pruning``: they
#: matter for ``method="dense"`` and ``"equilibrium"`` only (the optimizer's).
DENSE_FIELDS = ("weight_decay", "momentum")
#: `PruningConfig` fields that are `RunConfig` fields (one budget for every method), so they
#: may not appear in ``pruning``: the other `nets.loop.TrainingConfig` fields and ``level``.
SHARED_FIELDS = (*(name for name in training_fields() if name not in DENSE_FIELDS), "level")
#: The `PruningConfig` fields ``pruning`` may hold for ``method="equilibrium"``.
GAME_FIELDS = tuple(f.name for f in dataclasses.fields(PruningConfig)
                    if f.name not in SHARED_FIELDS)
GRANULARITIES = ("structured", "unstructured")
LEVELS = ("neuron", "filter", "all")
KEY_LENGTH = 16

_Scalar = (type(None), bool, int, float, str)


class RunConfigError(ValueError):
    """A `RunConfig` field (or its ``pruning`` options) is invalid; the message names it."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float | np.floating)) and \
        not isinstance(value, bool | np.bool_)


def _defaults_of(options: type) -> dict[str, Any]:
    """The defaults of a pruner's options dataclass (for dropping options equal to them)."""
    return {f.name: f.default for f in dataclasses.fields(options)}


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default


@dataclass(frozen=True)
class RunConfig:
    """Everything one run depends on; frozen, hashable, JSON round-trippable.

    Attributes
    ----------
    dataset : str
        A `nets.data.load` name: "digits" (bundled), "fashion-mnist", "mnist", "synthetic".
    data_root : str or None
        Directory of the IDX files (`nets.data.load`'s ``root``).
    data_limit : int or None
        Keep only the first ``data_limit`` train and test examples (quick runs).
    model : {"mlp", "lenet5", "resnet_cifar", "resnet18_like", "vit", "mlp_mixer"}
        `nets.models.mlp` (input flattened), `nets.models.lenet5`, or a nested model of
        `nets.models` (`TRACED_MODELS`; image data only), whose players are found by tracing
        (`nets.attach_gates` with an example input of the data).
    hidden : tuple of int or None
        Hidden widths of the MLP, or the fully connected widths of LeNet-5; None is the
        model's default ((128, 64) for the MLP as in `nets.compare`, (120, 84) for LeNet-5).
        Must be None for a traced model (its shape is in ``model_options``).
    model_options : tuple of (str, value) pairs
        Keyword arguments of a traced model's builder other than ``in_channels``,
        ``num_classes``, ``input_size`` and ``seed`` (which come from the data and ``seed``),
        given as a dict, e.g. ``{"depth": 20, "width": 16}`` for `nets.models.resnet_cifar`;
        stored as sorted pairs. Empty (the builder's defaults) for the flat models. Part of the
        key only when not empty, so keys written before the field existed stay valid.
    method : str
        "dense", "equilibrium", or a `nets.baselines.REGISTRY` name.
    pruning : tuple of (str, value) pairs
        Options of the method, given as a dict (or a `nets.PruningConfig` for equilibrium) and
        stored as sorted pairs so the config stays hashable. For "equilibrium": `PruningConfig`
        fields other than the shared training fields (`SHARED_FIELDS`), defaulting to
        `PruningConfig`'s (paper-literal); a `PruningConfig` given here contributes only those
        fields, since the training fields come from this config. For "dense": only
        ``weight_decay`` and ``momentum``. For a baseline: the fields of its options dataclass
        (``Pruner.Options``, e.g. ``{"scope": "layer"}``, or random's score ``seed``, which
        is the pruner's own and does not follow ``seed`` below). Entries equal to their
        default are dropped, so ``{"beta": 0.0}`` and ``{}`` are the same config with the
        same key.
    sparsity : float or None
        Target sparsity in [0, 1) (share of players removed for structured pruning, of weights
        for unstructured); None for emergent sparsity (equilibrium's s < epsilon rule, L0,
        slimming) and for "dense".
    granularity : {"structured", "unstructured"}
    schedule : str
        A schedule the method offers (`Pruner.schedules`); "one_shot" for dense and
        equilibrium.
    epochs, batch_size : int
        Training budget of every method, in epochs of ``batch_size`` batches.
    lr : float
        Weight learning rate.
    optimizer : {"adam", "sgd", "adamw"}
        Weight optimizer ("adamw" for dense and equilibrium only).
    level : {"neuron", "filter", "all"}
        Which units are players (`nets.attach_gates`).
    rounds : int
        Pruning rounds of the iterative and progressive schedules (`nets.baselines.Budget`).
    seed : int
        Seeds the initial model, the batch order and the method's randomness.
    device : {"cpu", "cuda", "mps", "auto"}
        Where the run trains and is measured (`nets.device`); ``"auto"`` is resolved on
        construction to the device this machine has. Part of the key only when it is not
        ``"cpu"`` (`to_dict` leaves the default out): a GPU run's numbers differ from a CPU
        run's in rounding (other kernels and summation orders), so it is another result, while
        every key written before the field existed stays valid.
    tag : str
        A free label (for repeats or grouping); part of the key.

    Raises
    ------
    RunConfigError
        On construction, for any invalid field; the message (one line) names the field.

    Examples
    --------
    >>> a = RunConfig(method="equilibrium", pruning={"beta": 0.05, "gamma": 0.05}, epochs=2)
    >>> a.key == RunConfig.from_dict(a.to_dict()).key
    True
    """

    dataset: str = "digits"
    data_root: str | None = None
    data_limit: int | None = None
    model: str = "mlp"
    hidden: tuple[int, ...] | None = None
    model_options: tuple[tuple[str, Any], ...] = ()
    method: str = "dense"
    pruning: tuple[tuple[str, Any], ...] = ()
    sparsity: float | None = None
    granularity: str = "structured"
    schedule: str = "one_shot"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    level: str = "neuron"
    rounds: int = 3
    seed: int = 0
    device: str = "cpu"
    tag: str = ""

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = self._set
        if self.dataset not in DATASET_NAMES:
            raise RunConfigError(f"dataset must be one of {DATASET_NAMES}; got {self.dataset!r}")
        if self.data_root is not None:
            if not isinstance(self.data_root, str | os.PathLike):
                raise RunConfigError(f"data_root must be a path string or None; got "
                                     f"{self.data_root!r}")
            set_("data_root", os.fspath(self.data_root))
        if self.data_limit is not None:
            if not _is_int(self.data_limit) or self.data_limit < 1:
                raise RunConfigError(f"data_limit must be a positive integer or None; got "
                                     f"{self.data_limit!r}")
            set_("data_limit", int(self.data_limit))
        if self.model not in MODELS:
            raise RunConfigError(f"model must be one of {MODELS}; got {self.model!r}")
        if self.model != "mlp" and self.dataset == "synthetic":
            raise RunConfigError(f"model={self.model!r} needs image data; dataset='synthetic' "
                                 "gives vectors: use model='mlp'")
        if self.hidden is not None:
            hidden = self.hidden
            if isinstance(hidden, str | bytes) or not isinstance(hidden, Iterable):
                raise RunConfigError(f"hidden must be a sequence of positive integers or None; got "
                                     f"{hidden!r}")
            hidden = tuple(hidden)
            if not hidden or not all(_is_int(w) and w >= 1 for w in hidden):
                raise RunConfigError(f"hidden must be a non-empty sequence of positive integers "
                                     f"(hidden widths) or None; got {self.hidden!r}")
            set_("hidden", tuple(int(w) for w in hidden))
        set_("model_options", self._normalized_model_options())
        for name in ("epochs", "batch_size", "rounds"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise RunConfigError(f"{name} must be a positive integer; got {value!r}")
            set_(name, int(value))
        if not _is_int(self.seed) or self.seed < 0:
            raise RunConfigError(f"seed must be a non-negative integer; got {self.seed!r}")
        set_("seed", int(self.seed))
        if not _is_number(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise RunConfigError(f"lr must be a finite number > 0; got {self.lr!r}")
        set_("lr", float(self.lr))
        if self.level not in LEVELS:
            raise RunConfigError(f"level must be one of {LEVELS}; got {self.level!r}")
        if self.model == "mlp" and self.level == "filter":
            raise RunConfigError("level='filter' finds no players in an MLP (it has no Conv2d "
                                 "layers); use level='neuron'")
        if self.model in _CONV_ONLY and self.level == "neuron":
            raise RunConfigError(f"level='neuron' finds no players in model={self.model!r} (its "
                                 "only Linear layer is the output layer); use level='filter' or "
                                 "'all'")
        try:
            device = check_device_name(self.device)
        except ValueError as error:
            raise RunConfigError(str(error)) from None
        set_("device", resolve_device("auto").type if device == "auto" else device)
        if not isinstance(self.tag, str):
            raise RunConfigError(f"tag must be a string; got {self.tag!r}")
        if self.granularity not in GRANULARITIES:
            raise RunConfigError(f"granularity must be one of {GRANULARITIES}; got "
                                 f"{self.granularity!r}")
        if self.method not in METHODS_BUILTIN and self.method not in REGISTRY:
            raise RunConfigError(f"method must be 'dense', 'equilibrium' or a registered baseline "
                                 f"{sorted(set(REGISTRY) - set(METHODS_BUILTIN))}; got "
                                 f"{self.method!r}")
        self._check_sparsity()
        self._check_method_options()
        set_("pruning", self._normalized_pruning())

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _normalized_model_options(self) -> tuple[tuple[str, Any], ...]:
        """Validate ``model_options`` (names against the builder's signature) as sorted pairs."""
        options = _pairs(self.model_options, "model_options", "keyword arguments of the model")
        if self.model not in TRACED_MODELS:
            if options:
                raise RunConfigError(f"model_options must be empty for model={self.model!r} "
                                     "(its widths are in hidden)")
            return ()
        if self.hidden is not None:
            raise RunConfigError(f"hidden must be None for model={self.model!r}; give its shape "
                                 f"in model_options (e.g. {{'width': 16}})")
        parameters = inspect.signature(TRACED_MODELS[self.model]).parameters
        allowed = sorted(name for name in parameters if name not in _FROM_RUN)
        for name in options:
            if name not in allowed:
                raise RunConfigError(f"model_options[{name!r}] is not an argument of "
                                     f"nets.models.{self.model}; allowed: {allowed}")
        return tuple(sorted(options.items()))

    def _check_sparsity(self) -> None:
        sparsity = self.sparsity
        if sparsity is not None:
            if not _is_number(sparsity) or not 0.0 <= sparsity < 1.0:
                raise RunConfigError(f"sparsity must be a number in [0, 1) or None; got "
                                 f"{sparsity!r}")
            self._set("sparsity", float(sparsity))
        if self.method == "dense" and sparsity is not None:
            raise RunConfigError("sparsity must be None for method='dense' (nothing is pruned)")
        if self.method not in METHODS_BUILTIN and sparsity is None \
                and not REGISTRY[self.method].emergent:
            raise RunConfigError(f"sparsity is required for method={self.method!r} (a number in "
                                 "[0, 1)); only emergent methods (equilibrium, l0, slimming) take "
                             "None")

    def _check_method_options(self) -> None:
        if self.method in METHODS_BUILTIN:
            if self.granularity != "structured":
                raise RunConfigError(f"granularity must be 'structured' for method="
                                     f"{self.method!r}; got {self.granularity!r}")
            if self.schedule != "one_shot":
                raise RunConfigError(f"schedule must be 'one_shot' for method={self.method!r}; got "
                                     f"{self.schedule!r}")
            allowed = ("adam", "adamw", "sgd")
        else:
            pruner = REGISTRY[self.method]
            if self.granularity not in pruner.granularities:
                raise RunConfigError(f"granularity must be one of {pruner.granularities} for "
                                     f"method={self.method!r}; got {self.granularity!r}")
            if self.schedule not in pruner.schedules:
                raise RunConfigError(f"schedule must be one of {pruner.schedules} for method="
                                     f"{self.method!r}; got {self.schedule!r}")
            allowed = ("adam", "sgd")
        if self.optimizer not in allowed:
            raise RunConfigError(f"optimizer must be one of {allowed} for method={self.method!r}; "
                                 f"got {self.optimizer!r}")

    def _normalized_pruning(self) -> tuple[tuple[str, Any], ...]:
        """Validate ``pruning`` and return it as sorted pairs without default-valued entries."""
        options = _pruning_dict(self.pruning)
        if self.method in METHODS_BUILTIN:
            defaults = PruningConfig().to_dict()
            allowed = GAME_FIELDS if self.method == "equilibrium" else DENSE_FIELDS
        else:
            defaults = _defaults_of(REGISTRY[self.method].Options)
            allowed = tuple(defaults)
        for name in options:
            if name in SHARED_FIELDS and self.method in METHODS_BUILTIN:
                raise RunConfigError(f"pruning[{name!r}] is a training field shared by every "
                                     f"method: set RunConfig.{name} instead")
            if name not in allowed:
                raise RunConfigError(f"pruning[{name!r}] is not an option of method="
                                     f"{self.method!r}; allowed: {sorted(allowed)}")
        kept = {}
        for name, value in options.items():
            default = defaults.get(name)
            if isinstance(default, float) and _is_int(value):
                value = float(value)  # beta=0 and beta=0.0 are the same config
            if not _same(value, default):
                kept[name] = value
        try:
            if self.method in METHODS_BUILTIN:
                PruningConfig(**kept)
            else:
                REGISTRY[self.method](**kept)
        except (TypeError, ValueError) as error:
            raise RunConfigError(f"pruning (options of method={self.method!r}) is invalid: "
                                 f"{error}") from error
        return tuple(sorted(kept.items()))

    # ------------------------------------------------------------------ identity
    @property
    def options(self) -> dict[str, Any]:
        """``pruning`` as a dict."""
        return dict(self.pruning)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (``hidden`` as a list, ``pruning`` as a
        sorted dict)."""
        from equilibria.plain import to_plain

        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record["hidden"] = None if self.hidden is None else list(self.hidden)
        record["pruning"] = dict(self.pruning)
        record["model_options"] = dict(self.model_options)
        if not self.model_options:  # the default stays out of the key (see ``model_options``)
            del record["model_options"]
        if self.device == "cpu":  # the default stays out of the key (see ``device``)
            del record["device"]
        return to_plain(record)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> RunConfig:
        """The config `to_dict` wrote (missing fields take their defaults).

        Raises
        ------
        RunConfigError
            For unknown fields or invalid values.
        TypeError
            For a record that is not a mapping.
        """
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping (RunConfig.to_dict()); got "
                            f"{type(record).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - names)
        if unknown:
            raise RunConfigError(f"unknown RunConfig fields {unknown}; known: {sorted(names)}")
        return cls(**dict(record))

    def canonical_json(self) -> str:
        """The JSON text the key hashes: sorted keys, no whitespace, ASCII only."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)

    @property
    def key(self) -> str:
        """Stable identity: the first 16 hex digits of the SHA-256 of `canonical_json`.

        Unlike ``hash()``, it is the same in every process, machine and Python run. Every
        field is part of it, ``tag`` included (``device`` only when it is not ``"cpu"``).
        """
        digest = hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()
        return digest[:KEY_LENGTH]

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with `changes` (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ method inputs
    @property
    def training(self) -> TrainingConfig:
        """The run's `nets.loop.TrainingConfig`: the shared fields from here, ``weight_decay``
        and ``momentum`` from ``pruning`` (dense and equilibrium; their defaults otherwise)."""
        options = self.options if self.method in METHODS_BUILTIN else {}
        return TrainingConfig(**{name: getattr(self, name) if name not in DENSE_FIELDS
                                 else options.get(name, getattr(TrainingConfig, name))
                                 for name in training_fields()})

    def _shared(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SHARED_FIELDS}

    def pruning_config(self) -> Any:
        """The `nets.PruningConfig` of a dense or equilibrium run (training fields from here)."""
        return PruningConfig(**self.options, **self._shared())

    def budget(self) -> Any:
        """The `nets.baselines.Budget` of a baseline run."""
        return Budget(**self._shared(), rounds=self.rounds)


def _pruning_dict(pruning: Any) -> dict[str, Any]:
    """``pruning`` given as None, a mapping, a PruningConfig or (key, value) pairs, as a dict."""
    if isinstance(pruning, PruningConfig):
        return {k: v for k, v in pruning.to_dict().items() if k not in SHARED_FIELDS}
    return _pairs(pruning, "pruning", "options")


def _pairs(value: Any, field_name: str, what: str) -> dict[str, Any]:
    """A field of JSON scalars by name, given as None, a mapping or (name, value) pairs."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        try:
            items = [tuple(item) for item in value]
        except TypeError as error:
            raise RunConfigError(f"{field_name} must be a dict of {what} (or (name, value) "
                                 f"pairs); got {value!r}") from error
        if not all(len(item) == 2 for item in items):
            raise RunConfigError(f"{field_name} must be a dict of {what} (or (name, value) "
                                 f"pairs); got {value!r}")
    options: dict[str, Any] = {}
    for name, item in items:
        if not isinstance(name, str):
            raise RunConfigError(f"{field_name} keys must be strings; got {name!r}")
        if name in options:
            raise RunConfigError(f"{field_name} names {name!r} twice")
        if isinstance(item, np.generic):
            item = item.item()
        if not isinstance(item, _Scalar):
            raise RunConfigError(f"{field_name}[{name!r}] must be a JSON scalar (None, bool, int, "
                                 f"float or str); got {item!r}")
        if isinstance(item, float) and not math.isfinite(item):
            raise RunConfigError(f"{field_name}[{name!r}] must be finite; got {item!r}")
        options[name] = item
    return options


# ---------------------------------------------------------------------------- results
#: Row columns of `RunResult.to_dict` taken from the embedded `Evaluation` (in the row's order).
EVALUATION_COLUMNS = ("accuracy", "loss", "params_nonzero", "macs_remaining",
                      "compression_ratio", "theoretical_speedup")


@dataclass(frozen=True)
class RunResult(Measured):
    """What `run` measured.

    Attributes
    ----------
    key : str
        ``config.key`` of the run.
    config : dict
        ``RunConfig.to_dict()``.
    evaluation : nets.evaluate.Evaluation
        `nets.evaluate` of the pruned (or dense) model on the test split, its ratios against
        the unpruned architecture. Its own ``params_total`` and ``macs_dense`` are the pruned
        model's (smaller after structured removal); the architecture's are the fields below.
    achieved_sparsity : float
        Share of players removed (structured) or of zero weights (unstructured); 0 for dense.
    params_total : int
        Parameters of the unpruned architecture.
    macs_dense : int
        MACs per example of the unpruned architecture (Linear and Conv2d).
    steps : int
        Optimizer steps spent on the weights.
    seconds : float
        Wall time of the whole run (data loading, training, pruning, evaluation).
    history : list of dict
        Per-epoch records: `nets.EpochRecord` for equilibrium, ``epoch``, ``train_loss`` and
        ``test_accuracy`` for dense; empty for baselines.
    participation : list of float or None
        Final participation of every player (equilibrium only).
    mean_participation, below_epsilon : float or None
        Mean final participation and share of players below epsilon (equilibrium only).
    kept_per_layer : list of int
        Units per player layer (`RunConfig.level`) of the pruned model.

    The evaluation's measurements read as attributes too (`nets.evaluate.Measured`):
    ``accuracy``, ``loss`` (test accuracy and mean cross entropy), ``params_nonzero``,
    ``macs_remaining`` (of the pruned model, nonzero weights only), ``compression_ratio`` and
    ``theoretical_speedup`` (``params_total / params_nonzero`` and ``macs_dense /
    macs_remaining``).
    """

    key: str
    config: dict[str, Any]
    evaluation: Evaluation
    achieved_sparsity: float
    params_total: int
    macs_dense: int
    steps: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    participation: list[float] | None = None
    mean_participation: float | None = None
    below_epsilon: float | None = None
    kept_per_layer: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (one line of ``results.jsonl``).

        The flat columns readers use, in the store's order (``key``, ``config``,
        ``accuracy``, ``loss``, ``achieved_sparsity``, ``params_total``, ``params_nonzero``,
        ``macs_dense``, ``macs_remaining``, ``compression_ratio``, ``theoretical_speedup``,
        ``steps``, ``seconds``, ``history``, ``participation``, ``mean_participation``,
        ``below_epsilon``, ``kept_per_layer``), then ``evaluation``, the whole
        `Evaluation.to_dict` (tables leave it out by default: `analysis.tables.DROPPED`).
        """
        from equilibria.plain import to_plain

        record = {"key": self.key, "config": self.config, "accuracy": self.accuracy,
                  "loss": self.loss, "achieved_sparsity": self.achieved_sparsity,
                  "params_total": self.params_total, "params_nonzero": self.params_nonzero,
                  "macs_dense": self.macs_dense, "macs_remaining": self.macs_remaining,
                  "compression_ratio": self.compression_ratio,
                  "theoretical_speedup": self.theoretical_speedup, "steps": self.steps,
                  "seconds": self.seconds, "history": self.history,
                  "participation": self.participation,
                  "mean_participation": self.mean_participation,
                  "below_epsilon": self.below_epsilon, "kept_per_layer": self.kept_per_layer,
                  "evaluation": self.evaluation.to_dict()}
        return to_plain(record)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> RunResult:
        """The result `to_dict` wrote (unknown keys are ignored, for forward compatibility).

        A row written before the evaluation was embedded (no ``evaluation`` key) gets one
        from its flat columns; what those rows do not hold (the pruned model's own
        ``params_total`` and ``macs_dense``, ``latency_ms``, ``n_examples``) is None.

        Raises
        ------
        TypeError
            For a record that is not a mapping or lacks a field.
        """
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a mapping (RunResult.to_dict()); got "
                            f"{type(record).__name__}")
        nested = record.get("evaluation")
        if isinstance(nested, Mapping):
            evaluation = Evaluation(**{f.name: nested.get(f.name)
                                       for f in dataclasses.fields(Evaluation)})
        else:
            missing = [name for name in EVALUATION_COLUMNS if name not in record]
            if missing:
                raise TypeError(f"RunResult.from_dict: the record lacks {missing}")
            evaluation = Evaluation(**{f.name: record.get(f.name) if f.name in
                                       EVALUATION_COLUMNS else None
                                       for f in dataclasses.fields(Evaluation)})
        names = {f.name for f in dataclasses.fields(cls)} - {"evaluation"}
        return cls(evaluation=evaluation, **{k: v for k, v in record.items() if k in names})


# ---------------------------------------------------------------------------- running
def build_model(config: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The initial model `config` names, seeded with ``config.seed``.

    A traced model gets ``in_channels`` and ``input_size`` from ``input_shape`` (C, H, H),
    ``num_classes`` from the data, and its other arguments from ``config.model_options``.

    Raises
    ------
    RunConfigError
        For LeNet-5 or a traced model on data that are not square images, or model options
        the builder rejects (its message).
    """
    if config.model == "mlp":
        hidden = config.hidden if config.hidden is not None else DEMO_WIDTHS
        return models.mlp(int(np.prod(input_shape)), hidden, n_classes, seed=config.seed)
    if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
        raise RunConfigError(f"model={config.model!r} needs square images (C, H, H); dataset="
                             f"{config.dataset!r} has input shape {input_shape}")
    if config.model in TRACED_MODELS:
        try:
            return TRACED_MODELS[config.model](
                in_channels=input_shape[0], num_classes=n_classes, input_size=input_shape[1],
                seed=config.seed, **dict(config.model_options))
        except (TypeError, ValueError) as error:
            raise RunConfigError(f"model_options of model={config.model!r} on dataset="
                                 f"{config.dataset!r}: {error}") from error
    hidden = config.hidden if config.hidden is not None else (120, 84)
    return models.lenet5(input_shape[0], n_classes, input_size=input_shape[1], hidden=hidden,
                         seed=config.seed)


def run(config: RunConfig) -> RunResult:
    """Train, prune and evaluate the run `config` describes.

    Parameters
    ----------
    config : RunConfig

    Returns
    -------
    RunResult
        The pruned model's test metrics, with parameters and MACs of the unpruned
        architecture for the ratios (Blalock et al. 2020's reporting advice).

    Notes
    -----
    The same config gives the same result (seeded model, batch order and method randomness)
    up to the nondeterminism of multi-threaded torch kernels. The caller chooses the thread
    count (`torch.set_num_threads`); `run` changes no global state except torch's
    denormal-flushing flag while training (`nets.training.flush_denormals`).
    """
    return run_with_outcome(config)[0]


def run_with_outcome(config: RunConfig) -> tuple[RunResult, PruneOutcome | None]:
    """`run`, and the registry baseline's `PruneOutcome` (its ``details``, such as
    ``equilibrium_solve``'s certificates, and its own ``seconds``), which `RunResult` does not
    keep; None for the built-in methods ``"dense"`` and ``"equilibrium"``."""
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig; got {type(config).__name__}")
    started = time.perf_counter()
    bundle = load(config.dataset, config.data_root, limit=config.data_limit)
    initial = build_model(config, bundle.input_shape, bundle.n_classes)
    extra: dict[str, Any] = {}
    outcome: PruneOutcome | None = None
    if config.method == "dense":
        final, achieved, steps, extra = _dense(config, initial, bundle)
    elif config.method == "equilibrium":
        final, achieved, steps, extra = _equilibrium(config, initial, bundle)
    else:
        outcome = _baseline(config, initial, bundle)
        final, achieved, steps = outcome.model, outcome.achieved_sparsity, outcome.steps
    test_loader = DataLoader(bundle.test, batch_size=512)
    measured = evaluate(final, test_loader, reference=initial, latency_repeats=0)
    inputs, labels = next(iter(DataLoader(bundle.test, batch_size=1)))
    architecture = evaluate(initial, [(inputs, labels)], latency_repeats=0)
    result = RunResult(
        key=config.key, config=config.to_dict(), evaluation=measured,
        achieved_sparsity=float(achieved), params_total=architecture.params_total,
        macs_dense=architecture.macs_dense, steps=int(steps),
        seconds=time.perf_counter() - started,
        kept_per_layer=_widths(final, config, example_input(bundle.test)), **extra)
    return result, outcome


def _steps(config: RunConfig, n_train: int) -> int:
    return config.epochs * math.ceil(n_train / config.batch_size)


def _dense(config: RunConfig, model: nn.Module, bundle: Any
           ) -> tuple[nn.Module, float, int, dict[str, Any]]:
    plain = train_plain(model, bundle, config.pruning_config())
    history = [{"epoch": epoch, "train_loss": loss, "test_accuracy": accuracy}
               for epoch, (loss, accuracy) in enumerate(
                   zip(plain.train_loss, plain.test_accuracy, strict=True), start=1)]
    return plain.model, 0.0, _steps(config, len(bundle.train)), {"history": history}


def _equilibrium(config: RunConfig, model: nn.Module, bundle: Any
                 ) -> tuple[nn.Module, float, int, dict[str, Any]]:
    """The registry's `EquilibriumPruner` (the one path of "equilibrium"), with the game of
    ``config.pruning`` and the training fields of `config`."""
    pruner = get("equilibrium", config=config.pruning_config())
    outcome = pruner.fit_and_prune(model, bundle, config.sparsity)
    details = outcome.details
    extra = {"history": details["history"], "participation": details["participation"],
             "mean_participation": details["mean_participation"],
             "below_epsilon": float(details["below_epsilon"])}
    return outcome.model, outcome.achieved_sparsity, outcome.steps, extra


def _baseline(config: RunConfig, model: nn.Module, bundle: Any) -> PruneOutcome:
    return get(config.method, **config.options).prune(
        model, bundle, config.sparsity, config.budget(), granularity=config.granularity,
        schedule=config.schedule)


def _widths(model: nn.Module, config: RunConfig, example: Any) -> list[int]:
    """Players per layer (per traced group for a traced model) of ``model``."""
    traced = example if config.model in TRACED_MODELS else None
    return [info.n_units for info in attach_gates(model, config.level,
                                                  example_inputs=traced).layers]
