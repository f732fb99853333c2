"""Winning study (issue 11, item 6): the certified-equilibrium pruner against every structured
baseline, on digits and Fashion-MNIST, with an ablation of items 1-5.

    python -m papers.beyond.winning                         # both datasets, 3 seeds (~60 min)
    python -m papers.beyond.winning --quick --out /tmp/w    # toy size (CI, ~30-60 s)
    pruning-game reproduce winning                          # the same as the first line

Rerunning the same command resumes an interrupted sweep (one `analysis.sweep` store per
dataset, ``<out>/<dataset>/results.jsonl``).

Data and networks.

- ``digits``: the full bundled set (1,347 train / 450 test images), the MLP 64-128-64-10
  (`nets.presets.DEMO_WIDTHS`, 192 players): the network of study (a), so its numbers compare
  with (a)'s and with the demo, and the one the game settings of `DEMO_GAME` were chosen on;
  `DIGITS_EPOCHS` = 40 epochs, as in (a).
- ``fashion-mnist``: the paper's MLP 784-512-256-10 (`nets.presets.PAPER_WIDTHS`, 768
  players) on the first `FASHION_LIMIT` training and test examples (``--limit``; `nets.data.
  load`'s ``limit`` keeps the first N of each split), `FASHION_EPOCHS` epochs.

Shared budget: for every method the same epochs, batch 128, Adam at lr 1e-3, the same seeds
(0, 1, 2) and the same train / fine-tune split: the baselines' ``one_shot`` schedule (train
half, prune, fine-tune half, `nets.baselines.base.split_epochs`); the iterative variants
(``equilibrium_solve`` iterative, ``lottery`` iterative) prune in the same `ROUNDS` = 3 rounds
of `schedule_targets(..., "iterative")` with the epochs `split_epochs(epochs, 3)` gives.
Algorithm 1 (``equilibrium``) trains its whole budget and removes at the end, as in (a).

Methods (`main_configs`), at each of the 5 target sparsities 0.5, 0.7, 0.8, 0.9, 0.95:

- every structured baseline of `nets.baselines.REGISTRY` (`STRUCTURED_BASELINES`: all but
  ``magnitude``, which has no structured variant, and the two equilibrium methods) at both
  scopes, ``pruning={"scope": "global"}`` and ``{"scope": "layer"}`` (every one of them has a
  ``scope`` option), one-shot; ``lottery`` also iterative in `ROUNDS` rounds (the reference
  of the wall-time table);
- ``equilibrium_solve`` with ``payoff="taylor"`` and ``payoff="second_order"``, each at both
  scopes (one L1 price, or one per layer), one-shot and iterative (8 arms);
- Algorithm 1 ranked: ``equilibrium`` with the demo's game (`DEMO_GAME`), and the same with
  the game in the loop (``equilibrium_every`` = `EVERY` steps);
- ``dense``, once per seed.

That is 34 pruned runs per seed and sparsity: 510 + 3 dense runs per dataset.

Ablation (digits only, `ablation_configs`; every arm at the 5 sparsities and 3 seeds except
the emergent arm). Items 1-3 are the solve-and-apply pipeline, items 4-5 options of Algorithm 1,
so "together" is two pipelines, not one; the arms:

- ``0 none``: ``equilibrium`` ranked with `DEMO_GAME` (the pipeline before issue 11);
- ``1 solve (emergent)``: ``equilibrium_solve`` on the demo's first-order game
  (`DEMO_SOLVE_GAME`: loss-descent benefit, beta 0.01, activation competition eta 0.1, price
  gamma 0.01), ``sparsity=None``: the certified equilibrium at the demo's own price, the paper's
  s < epsilon rule; without item 2 there is no target, so one point per seed at the sparsity
  the game reaches;
- ``1+2 solve, price``: the same game, each target reached by the price bisection;
- ``1+2 solve, rank``: ``equilibrium_solve`` with ``payoff="taylor"``, beta = eta = 0: its
  equilibrium at any price zeroes exactly the units of lowest benefit, so the price bisection
  reduces to ranking by the first-order benefit (the ranking the price replaces);
- ``1+2+3 second order``: ``equilibrium_solve`` with ``payoff="second_order"`` (Gauss-Newton,
  default damping), one-shot global;
- ``4 game in the loop``: ``equilibrium`` ranked with `DEMO_GAME` and ``equilibrium_every`` =
  `EVERY`;
- ``5 scale``: ``equilibrium`` ranked with `DEMO_GAME` and ``scale="normalized"``;
- ``4+5``: both options of Algorithm 1.

Arms that equal a main-sweep config (``0 none``, ``4 game in the loop``, ``1+2+3``) are the same
runs (the sweep keys them by content).

Outputs in ``--out``:

- ``<dataset>/results.jsonl``: the sweep's store; every row also holds ``details`` (the
  pruner's `PruneOutcome.details`, with each round's certificate for ``equilibrium_solve``)
  and ``prune_seconds`` (`PruneOutcome.seconds`: wall time from the start of training to the
  pruned, fine-tuned model);
- ``runs.csv``: every run, flat (`flat_rows`);
- ``pareto.csv``: mean / std / n over seeds per dataset x method x scope x point, with
  ``better_scope`` marking the better scope (higher mean accuracy) of each two-scope method
  at each point (`summarize`);
- ``front.csv``: per dataset and target sparsity, the best method and the best
  ``equilibrium_solve`` arm and whether the latter is within one std (the best method's
  sample std) of the best mean accuracy: the criterion of issue 11's "Done when" (`front`);
- ``certificates.csv``: every ``equilibrium_solve`` run's max relative Nash gap over its
  rounds, the max gap of the applied participation, the uniqueness verdict (the worst over
  rounds), the distinct equilibria found and the stability classes (`certificate_rows`);
- ``wall_time.csv``: mean / std of ``prune_seconds`` for ``equilibrium_solve`` against
  ``lottery`` with 1 and `ROUNDS` rounds (`wall_time`);
- ``ablation.csv``: accuracy and achieved sparsity per ablation arm and point (`ablation`);
- ``pareto_<dataset>.png``: accuracy against achieved sparsity, one figure per dataset.

Time (measured, both datasets run; papers/beyond/README.md (f) has the results): digits, 561
runs in 3.9 min on an idle 2-core machine; Fashion-MNIST, 513 runs, of which the last 398 took
2,406 s with the 2 workers on a machine shared with six other jobs (the first 115 ran before
`analysis.sweeps` limited the workers' BLAS threads, and took 44 min). A baseline run takes
6-13 s, ``equilibrium_solve`` 7-45 s (second-order per layer the slowest: one price bisection
per layer), Algorithm 1 42-53 s.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis import RunConfig, sweep
from analysis.arguments import (
    OneLineParser,
    add_device_argument,
    add_pool_arguments,
    comma_floats,
    comma_names,
    comma_seeds,
    out_dir,
    positive_int,
    quick_defaults,
    require_data,
)
from analysis.plots import pareto_front
from analysis.runner import METHODS_BUILTIN, run_with_outcome
from analysis.sweeps import load_results, local_executor
from analysis.tables import aggregate, flatten, format_mean_std, to_csv, to_markdown
from nets.baselines import REGISTRY
from nets.presets import COMPARE_SPARSITIES, DEMO, DEMO_WIDTHS, PAPER_WIDTHS, game_fields
from nets.training import PruningConfig

__all__ = ["ABLATION", "DATASETS", "DEMO_GAME", "DEMO_SOLVE_GAME", "DIGITS_EPOCHS", "EVERY",
           "FASHION_EPOCHS", "FASHION_LIMIT", "QUICK", "ROUNDS", "STRUCTURED_BASELINES",
           "AblationArm", "ablation", "ablation_configs", "certificate_rows", "flat_rows",
           "front", "label", "main", "main_configs", "parser", "run_with_details", "summarize",
           "wall_time"]

DATASETS: tuple[str, ...] = ("digits", "fashion-mnist")
DEFAULT_SPARSITIES: tuple[float, ...] = COMPARE_SPARSITIES
#: Pruning rounds of every iterative variant.
ROUNDS = 3
#: Game in the loop: steps between two equilibrium solves of Algorithm 1 (about 4.5 epochs of
#: digits' 11 steps per epoch; 10 solves over digits' 440 steps).
EVERY = 50
DIGITS_EPOCHS = 40
#: Fashion-MNIST's training subset (the first 10,000 of 60,000 training images; the test
#: split has 10,000, so it is whole) and epochs: 79 batches of 128 per epoch, 1,264 steps per
#: run. How it was sized: module docstring, "Time".
FASHION_LIMIT = 10000
FASHION_EPOCHS = 16
#: The demo's game (`nets.presets.DEMO`) as ``equilibrium`` options (study (a)'s `DEMO_GAME`).
DEMO_GAME: dict[str, Any] = {name: value for name, value in game_fields(DEMO).items()
                             if value != getattr(PruningConfig, name)}
#: The demo's first-order game as ``equilibrium_solve`` options (ablation arms 1 and 1+2).
DEMO_SOLVE_GAME: dict[str, Any] = {"payoff": DEMO.payoff, "beta": DEMO.beta, "gamma": DEMO.gamma,
                                   "eta": DEMO.eta, "overlap": DEMO.overlap}
#: Every structured baseline: the registry without magnitude (unstructured only) and the two
#: equilibrium methods (their own arms).
STRUCTURED_BASELINES: tuple[str, ...] = tuple(
    name for name in REGISTRY if name not in ("equilibrium", "equilibrium_solve")
    and "structured" in REGISTRY[name].granularities)
SCOPES = ("global", "layer")
SOLVE_PAYOFFS = ("taylor", "second_order")
#: Toy size of ``--quick``: digits only, 300 examples, MLP 16-8, 2 epochs, 1 seed, 2 targets,
#: three methods (one baseline at both scopes, the solver one-shot and iterative, lottery).
QUICK: dict[str, Any] = dict(data=("digits",), limit=300, hidden=(16, 8), epochs=2,
                             sparsities=(0.5, 0.8), seeds=(0,),
                             methods=("random", "lottery", "equilibrium_solve"),
                             options={"lottery": {"rewind_steps": 1}})


@dataclass(frozen=True)
class AblationArm:
    """One arm of the ablation table: its name, the items of issue 11 it uses, its method,
    options and schedule, and whether it has target sparsities (False: emergent)."""

    name: str
    items: str
    method: str
    pruning: tuple[tuple[str, Any], ...]
    schedule: str = "one_shot"
    targeted: bool = True


def _arm(name: str, items: str, method: str, pruning: Mapping[str, Any],
         targeted: bool = True) -> AblationArm:
    return AblationArm(name, items, method, tuple(sorted(pruning.items())), targeted=targeted)


ABLATION: tuple[AblationArm, ...] = (
    _arm("0 none", "", "equilibrium", DEMO_GAME),
    _arm("1 solve (emergent)", "1", "equilibrium_solve", DEMO_SOLVE_GAME, targeted=False),
    _arm("1+2 solve, price", "1+2", "equilibrium_solve", DEMO_SOLVE_GAME),
    _arm("1+2 solve, rank", "1+2", "equilibrium_solve", {"payoff": "taylor"}),
    _arm("1+2+3 second order", "1+2+3", "equilibrium_solve", {"payoff": "second_order"}),
    _arm("4 game in the loop", "4", "equilibrium", {**DEMO_GAME, "equilibrium_every": EVERY}),
    _arm("5 scale", "5", "equilibrium", {**DEMO_GAME, "scale": "normalized"}),
    _arm("4+5", "4+5", "equilibrium", {**DEMO_GAME, "equilibrium_every": EVERY,
                                       "scale": "normalized"}),
)


def _common(data: str, root: str | None, limit: int | None, hidden: tuple[int, ...] | None,
            epochs: int) -> dict[str, Any]:
    return dict(dataset=data, data_root=root, data_limit=limit, model="mlp", hidden=hidden,
                epochs=epochs, batch_size=128, lr=1e-3, optimizer="adam", rounds=ROUNDS)


def _check(methods: Sequence[str], seeds: Sequence[int], sparsities: Sequence[float]) -> None:
    allowed = (*STRUCTURED_BASELINES, "equilibrium", "equilibrium_solve")
    unknown = sorted(set(methods) - set(allowed))
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; allowed: {list(allowed)}")
    for name, value in (("seeds", seeds), ("sparsities", sparsities), ("methods", methods)):
        if len(value) == 0:
            raise ValueError(f"{name} must not be empty")


def main_configs(data: str = "digits", root: str | None = None, *,
                 seeds: Sequence[int] = (0, 1, 2),
                 sparsities: Sequence[float] = DEFAULT_SPARSITIES, epochs: int = DIGITS_EPOCHS,
                 limit: int | None = None, hidden: tuple[int, ...] | None = DEMO_WIDTHS,
                 methods: Sequence[str] | None = None,
                 options: Mapping[str, Mapping[str, Any]] | None = None) -> list[RunConfig]:
    """The main sweep of one dataset: dense per seed, every method arm at every target.

    Parameters
    ----------
    data, root : str
        `nets.data.load` name and folder.
    seeds, sparsities : sequence
        One run of everything per seed and target sparsity in [0, 1).
    epochs : int
        The budget shared by every method (batch 128, Adam at lr 1e-3, `ROUNDS` rounds).
    limit : int, optional
        Keep the first examples of each split (`RunConfig.data_limit`).
    hidden : tuple of int
        MLP hidden widths.
    methods : sequence of str, optional
        Default: `STRUCTURED_BASELINES`, ``"equilibrium_solve"`` and ``"equilibrium"``.
    options : mapping of str to dict, optional
        Further options of a method's every arm (``--quick`` lowers lottery's
        ``rewind_steps``, which must fit in its first training run).

    Returns
    -------
    list of RunConfig

    Raises
    ------
    ValueError
        For an unknown method or an empty list (the message names it).
    """
    methods = [*STRUCTURED_BASELINES, "equilibrium_solve", "equilibrium"] \
        if methods is None else list(methods)
    _check(methods, seeds, sparsities)
    common = _common(data, root, limit, hidden, epochs)
    runs: list[RunConfig] = []
    for seed in seeds:
        runs.append(RunConfig(method="dense", seed=seed, **common))
        for sparsity in sparsities:
            for method in methods:
                extra = dict((options or {}).get(method, {}))
                runs.extend(RunConfig(method=method, sparsity=sparsity,
                                      pruning={**pruning, **extra}, schedule=schedule,
                                      seed=seed, **common)
                            for pruning, schedule in _arms(method))
    return runs


def _arms(method: str) -> list[tuple[dict[str, Any], str]]:
    """The (options, schedule) arms of one method in the main sweep."""
    if method == "equilibrium":
        return [(DEMO_GAME, "one_shot"), ({**DEMO_GAME, "equilibrium_every": EVERY}, "one_shot")]
    if method == "equilibrium_solve":
        return [({"payoff": payoff, "scope": scope}, schedule) for payoff in SOLVE_PAYOFFS
                for scope in SCOPES for schedule in ("one_shot", "iterative")]
    arms = [({"scope": scope}, "one_shot") for scope in SCOPES]
    if method == "lottery":
        arms += [({"scope": scope}, "iterative") for scope in SCOPES]
    return arms


def ablation_configs(root: str | None = None, *, seeds: Sequence[int] = (0, 1, 2),
                     sparsities: Sequence[float] = DEFAULT_SPARSITIES,
                     epochs: int = DIGITS_EPOCHS, limit: int | None = None,
                     hidden: tuple[int, ...] | None = DEMO_WIDTHS,
                     arms: Sequence[AblationArm] = ABLATION) -> list[RunConfig]:
    """The ablation's runs on digits: every arm of `arms` at every target (an emergent arm
    once per seed), on the main sweep's budget (`main_configs`' parameters)."""
    _check(["equilibrium"], seeds, sparsities)
    common = _common("digits", root, limit, hidden, epochs)
    runs = []
    for seed in seeds:
        for arm in arms:
            targets: Iterable[float | None] = sparsities if arm.targeted else (None,)
            runs.extend(RunConfig(method=arm.method, sparsity=target, pruning=dict(arm.pruning),
                                  schedule=arm.schedule, seed=seed, **common)
                        for target in targets)
    return runs


def _options(config: Mapping[str, Any]) -> dict[str, Any]:
    return dict(config.get("pruning") or {})


def label(config: Mapping[str, Any]) -> str:
    """The method label of a run (its ``RunConfig.to_dict()``), scope left out (`scope_of`)."""
    method, options = config["method"], _options(config)
    schedule = config.get("schedule", "one_shot")
    if method == "equilibrium":
        parts = ["ranked" if config["sparsity"] is not None else "emergent"]
        if options.get("equilibrium_every"):
            parts.append(f"game every {options['equilibrium_every']}")
        if options.get("scale", "none") != "none":
            parts.append(f"scale={options['scale']}")
        return f"equilibrium ({', '.join(parts)})"
    if method == "equilibrium_solve":
        parts = [str(options.get("payoff", "taylor"))]
        if float(options.get("eta", 0.0)) != 0.0:
            parts.append(f"eta={options['eta']:g}")
        parts.append(schedule)
        if config["sparsity"] is None:
            parts.append("emergent")
        return f"equilibrium_solve ({', '.join(parts)})"
    if schedule != "one_shot":
        return f"{method} ({schedule})"
    return method


def scope_of(config: Mapping[str, Any]) -> str:
    """The run's scope: ``pruning["scope"]`` (default "global") for methods with one, else
    ``""`` (dense, Algorithm 1)."""
    if config["method"] in METHODS_BUILTIN:
        return ""
    return str(_options(config).get("scope", "global"))


def point(config: Mapping[str, Any]) -> str:
    """The operating point: the target sparsity, ``"emergent"`` or ``"dense"``."""
    if config["method"] == "dense":
        return "dense"
    return "emergent" if config["sparsity"] is None else f"{config['sparsity']:g}"


def run_with_details(config: RunConfig) -> dict[str, Any]:
    """`analysis.runner.run` that also keeps the pruner's ``details`` and ``prune_seconds``.

    Dense and Algorithm 1 runs keep ``details`` None and ``prune_seconds`` their whole run's
    ``seconds``. A registry baseline keeps, from `analysis.runner.run_with_outcome`,
    `PruneOutcome.details` (``equilibrium_solve``'s certificates; entries that are not plain
    data, such as tensors, are dropped) and `PruneOutcome.seconds`.

    Returns
    -------
    dict
        A `RunResult.to_dict` row with the keys ``details`` and ``prune_seconds`` added.
    """
    result, outcome = run_with_outcome(config)
    if outcome is None:  # dense and Algorithm 1
        return {**result.to_dict(), "details": None, "prune_seconds": result.seconds}
    return {**result.to_dict(), "details": _plain_details(outcome.details),
            "prune_seconds": float(outcome.seconds)}


def _plain_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `details` that `equilibria.to_plain` converts (all of
    ``equilibrium_solve``'s; a baseline's tensors, e.g. lottery's masks, are left out)."""
    from equilibria import to_plain
    from equilibria.errors import NotPlainError

    plain = {}
    for name, value in details.items():
        try:
            plain[name] = to_plain(value)
        except NotPlainError:
            continue
    return plain


def flat_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Store rows as flat dicts led by ``dataset``, ``method``, ``scope``, ``point``,
    ``seed``, ``sparsity`` (achieved), ``accuracy``, ``params_kept`` and ``prune_seconds``
    (the ``details`` are left out: `certificate_rows` reads them)."""
    flat = []
    for row in rows:
        config = row["config"]
        rest = {k: v for k, v in row.items() if k != "details"}
        flat.append({"dataset": config["dataset"], "method": label(config),
                     "scope": scope_of(config), "point": point(config), "seed": config["seed"],
                     "sparsity": row["achieved_sparsity"], "accuracy": row["accuracy"],
                     "params_kept": row["params_nonzero"] / row["params_total"],
                     "prune_seconds": row.get("prune_seconds"), **flatten(rest)})
    return flat


def summarize(flat: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per dataset, method, scope and point, with ``better_scope``:
    True for the scope of higher mean accuracy of a method run at both scopes at that point
    (ties: global), False for the other, None for a method with one scope."""
    summary = aggregate(flat, ["dataset", "method", "scope", "point"],
                        ["sparsity", "accuracy", "params_kept", "prune_seconds"])
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in summary:
        groups.setdefault((row["dataset"], row["method"], row["point"]), []).append(row)
    for rows in groups.values():
        scoped = [r for r in rows if r["scope"] in SCOPES]
        best = max(scoped, key=lambda r: (_number(r["accuracy_mean"]), r["scope"] == "global"),
                   default=None)
        for row in rows:
            row["better_scope"] = None if len(scoped) < 2 or row not in scoped else row is best
    return summary


def _number(value: Any) -> float:
    return -math.inf if value is None or math.isnan(float(value)) else float(value)


def _counts(row: Mapping[str, Any]) -> bool:
    """Whether a summary row competes on the front: a pruned point of a method at its better
    scope (or its only one)."""
    return row["point"] not in ("dense", "emergent") and row.get("better_scope") is not False


def front(summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset and target sparsity: the best method (highest mean accuracy, each method at
    its better scope), the best ``equilibrium_solve`` arm, and ``within_one_std``: whether that
    arm's mean is at most the best method's sample std (0 when undefined) below the best mean.
    """
    rows = []
    keys = dict.fromkeys((r["dataset"], r["point"]) for r in summary if _counts(r))
    for dataset, target in keys:
        here = [r for r in summary if r["dataset"] == dataset and r["point"] == target
                and _counts(r)]
        best = max(here, key=lambda r: _number(r["accuracy_mean"]))
        solve = [r for r in here if r["method"].startswith("equilibrium_solve")]
        arm = max(solve, key=lambda r: _number(r["accuracy_mean"]), default=None)
        std = best["accuracy_std"] if best["accuracy_std"] is not None else 0.0
        within = None if arm is None else \
            _number(arm["accuracy_mean"]) >= _number(best["accuracy_mean"]) - std
        rows.append({"dataset": dataset, "sparsity": target, "best_method": best["method"],
                     "best_scope": best["scope"], "best_accuracy_mean": best["accuracy_mean"],
                     "best_accuracy_std": best["accuracy_std"],
                     "solve_method": None if arm is None else arm["method"],
                     "solve_scope": None if arm is None else arm["scope"],
                     "solve_accuracy_mean": None if arm is None else arm["accuracy_mean"],
                     "solve_accuracy_std": None if arm is None else arm["accuracy_std"],
                     "solve_sparsity_mean": None if arm is None else arm["sparsity_mean"],
                     "within_one_std": within, "n": best["n"]})
    return rows


_UNIQUENESS_ORDER = ("unique", "one_found", "several")


def certificate_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per ``equilibrium_solve`` run: the worst of its rounds' certificates.

    ``nash_gap`` is the max over rounds of the relative Nash gap of the equilibrium on the game
    it was pruned by (`equilibria.certify.certify`), ``applied_nash_gap`` the same for the
    participation applied; ``uniqueness`` the worst verdict ("unique" < "one_found" <
    "several"); ``distinct_equilibria`` the max; ``stability`` and ``monotone`` per round.
    """
    out = []
    for row in rows:
        config = row["config"]
        if config["method"] != "equilibrium_solve":
            continue
        rounds = (row.get("details") or {}).get("certificates") or []
        verdicts = [r["uniqueness"] for r in rounds]
        out.append({"dataset": config["dataset"], "method": label(config),
                    "scope": scope_of(config), "point": point(config), "seed": config["seed"],
                    "key": row["key"], "rounds": len(rounds),
                    "nash_gap": max((float(r["nash_gap"]) for r in rounds), default=None),
                    "applied_nash_gap": max((float(r["applied_nash_gap"]) for r in rounds),
                                            default=None),
                    "uniqueness": max(verdicts, key=_UNIQUENESS_ORDER.index, default=None),
                    "distinct_equilibria": max((int(r["distinct_equilibria"]) for r in rounds),
                                               default=None),
                    "monotone": ",".join(str(bool(r["monotone"])) for r in rounds),
                    "stability": ",".join(str(r["stability"]) for r in rounds),
                    "reached": all(bool(r["reached"]) for r in rounds),
                    "fold_error": max((float(r["fold_error"]) for r in rounds), default=None)})
    return out


def wall_time(flat: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Seconds to the pruned model (mean / std over seeds of ``prune_seconds``) of every
    ``equilibrium_solve`` arm and of ``lottery`` one-shot and with `ROUNDS` rounds, per dataset,
    scope and point; ``rounds`` is the arm's pruning rounds."""
    chosen = [{**r, "rounds": ROUNDS if r["config.schedule"] == "iterative" else 1}
              for r in flat if r["config.method"] in ("equilibrium_solve", "lottery")
              and r["point"] != "emergent"]
    return aggregate(chosen, ["dataset", "method", "scope", "rounds", "point"],
                     ["prune_seconds", "accuracy"])


def ablation(flat: Sequence[Mapping[str, Any]], arms: Sequence[AblationArm] = ABLATION
             ) -> list[dict[str, Any]]:
    """The ablation table: per arm and point, the items it uses, mean / std / n over seeds of
    accuracy and achieved sparsity, from the digits runs whose config is the arm's."""
    rows = []
    for arm in arms:
        mine = [{**r, "arm": arm.name, "items": arm.items} for r in flat
                if r["dataset"] == "digits" and r["config.method"] == arm.method
                and r["config.schedule"] == arm.schedule
                and tuple(sorted(_pruning_of(r).items())) == _normal(arm)
                and (r["point"] == "emergent") != arm.targeted]
        rows.extend(aggregate(mine, ["arm", "items", "point"], ["accuracy", "sparsity"])
                    if mine else [])
    return rows


def _pruning_of(flat_row: Mapping[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("config.pruning."): v for k, v in flat_row.items()
            if k.startswith("config.pruning.")}


def _normal(arm: AblationArm) -> tuple[tuple[str, Any], ...]:
    """The arm's options as a stored config holds them (defaults dropped by `RunConfig`)."""
    config = RunConfig(method=arm.method, pruning=dict(arm.pruning), sparsity=0.5)
    return tuple(sorted(dict(config.to_dict()["pruning"] or {}).items()))


def markdown(front_rows: Sequence[Mapping[str, Any]]) -> str:
    """`front` as a Markdown table of means ± std."""
    return to_markdown([{
        "data": r["dataset"], "sparsity": r["sparsity"],
        "best": f"{r['best_method']} {r['best_scope']}".strip(),
        "best acc": format_mean_std(r["best_accuracy_mean"], r["best_accuracy_std"]),
        "solve": f"{r['solve_method']} {r['solve_scope']}" if r["solve_method"] else "-",
        "solve acc": format_mean_std(r["solve_accuracy_mean"], r["solve_accuracy_std"])
        if r["solve_method"] else "-",
        "within 1 std": r["within_one_std"]} for r in front_rows])


def parser() -> argparse.ArgumentParser:
    """The command line of `main`."""
    cli = OneLineParser(prog="pruning-game reproduce winning",
                        description=__doc__.splitlines()[0])
    cli.add_argument("--data", type=comma_names, default=DATASETS,
                     help="comma-separated datasets (default digits,fashion-mnist)")
    cli.add_argument("--root", default=None, help="folder of the IDX files (MNIST-like data)")
    cli.add_argument("--seeds", type=comma_seeds, default=(0, 1, 2),
                     help="comma-separated seeds (default 0,1,2)")
    cli.add_argument("--sparsities", type=comma_floats, default=DEFAULT_SPARSITIES,
                     help="comma-separated target sparsities (default 0.5,0.7,0.8,0.9,0.95)")
    cli.add_argument("--limit", type=positive_int, default=None,
                     help=f"Fashion-MNIST: keep the first N train and test examples (default "
                          f"{FASHION_LIMIT}); digits always uses the full set")
    cli.add_argument("--epochs", type=positive_int, default=None,
                     help=f"shared epochs (default {DIGITS_EPOCHS} on digits, {FASHION_EPOCHS} "
                          f"on Fashion-MNIST; {QUICK['epochs']} with --quick)")
    cli.add_argument("--methods", type=comma_names, default=None,
                     help="comma-separated methods of the main sweep (default: every "
                          "structured baseline, equilibrium_solve, equilibrium)")
    cli.add_argument("--no-ablation", action="store_true", help="skip the ablation arms")
    cli.add_argument("--out", type=out_dir, default="results/beyond/winning",
                     help="output folder: one sweep store per dataset, CSVs, figures "
                          "(default %(default)s)")
    add_pool_arguments(cli, shown="2")
    cli.add_argument("--quick", action="store_true",
                     help="toy size: 300 digits, MLP 16-8, 2 epochs, 2 targets, 1 seed, "
                          "random, lottery and equilibrium_solve, no ablation")
    add_device_argument(cli)
    return cli


def _sizes(data: str, args: argparse.Namespace) -> dict[str, Any]:
    """Limit, widths and epochs of one dataset's runs."""
    if args.quick:
        return dict(limit=args.limit or QUICK["limit"], hidden=QUICK["hidden"],
                    epochs=args.epochs or QUICK["epochs"])
    if data == "digits":
        return dict(limit=None, hidden=DEMO_WIDTHS, epochs=args.epochs or DIGITS_EPOCHS)
    return dict(limit=args.limit or FASHION_LIMIT, hidden=PAPER_WIDTHS,
                epochs=args.epochs or FASHION_EPOCHS)


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the sweeps; write the CSVs and figures (module docstring); print the
    front table."""
    cli = parser()
    args = cli.parse_args(argv)
    if args.quick:
        quick_defaults(cli, args, QUICK, ("data", "sparsities", "seeds", "methods"))
        args.no_ablation = True
    unknown = sorted(set(args.data) - set(DATASETS))
    if unknown:
        cli.error(f"argument --data: unknown {unknown}; choose from {list(DATASETS)}")
    workers = args.workers if args.workers is not None else (0 if args.quick else 2)
    plans: dict[str, list[RunConfig]] = {}
    try:
        for data in args.data:
            sizes = _sizes(data, args)
            plans[data] = main_configs(data, args.root, seeds=args.seeds,
                                       sparsities=args.sparsities, methods=args.methods,
                                       options=QUICK["options"] if args.quick else None,
                                       **sizes)
            if data == "digits" and not args.no_ablation:
                plans[data] += ablation_configs(args.root, seeds=args.seeds,
                                                sparsities=args.sparsities, **sizes)
    except ValueError as error:
        cli.error(str(error))
    for data in args.data:
        require_data(cli, data, args.root)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with local_executor(workers, args.threads) as pool:
        for data, planned in plans.items():
            runs = [run.replace(device=args.device) for run in planned]
            store = args.out / data
            sweep(runs, store, executor=pool, progress=True, run_fn=run_with_details)
            wanted = {c.key for c in runs}
            rows += [r for r in load_results(store) if r["key"] in wanted]
    flat = flat_rows(rows)
    summary = summarize(flat)
    front_rows = front(summary)
    to_csv(flat, args.out / "runs.csv")
    to_csv(summary, args.out / "pareto.csv")
    to_csv(front_rows, args.out / "front.csv")
    to_csv(certificate_rows(rows), args.out / "certificates.csv")
    to_csv(wall_time(flat), args.out / "wall_time.csv")
    to_csv(ablation(flat), args.out / "ablation.csv")
    for data in args.data:
        mine = [r for r in summary if r["dataset"] == data]
        dense = [r["accuracy_mean"] for r in mine if r["method"] == "dense"]
        plotted = [{**r, "method": f"{r['method']} {r['scope']}".strip()} for r in mine
                   if _counts(r)]
        pareto_front(plotted, args.out / f"pareto_{data}.png",
                     dense_accuracy=dense[0] if dense else None,
                     title=f"{data}: accuracy against achieved sparsity "
                           f"({len(args.seeds)} seeds, better scope of each method)")
    print(markdown(front_rows))
    print(f"\n{len(rows)} runs in {args.out} (this call: {time.perf_counter() - started:.0f} "
          f"s); wrote runs.csv, pareto.csv, front.csv, certificates.csv, wall_time.csv, "
          f"ablation.csv, " + ", ".join(f"pareto_{d}.png" for d in args.data))
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce winning", main))
