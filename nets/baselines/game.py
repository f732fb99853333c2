"""The certified equilibrium as the pruning decision (issue 11, items 1-2), behind the baseline
contract: train, measure, build the game, solve and certify it, apply its equilibrium, fine-tune.

How it differs from ``"equilibrium"`` (`nets.baselines.equilibrium`, Shah & Khan 2025,
Algorithm 1): Algorithm 1 trains the participation s jointly with the weights and prunes by
the final s, which is not an equilibrium of its own final game (docs/explanation/game.md;
``papers/beyond`` (c)). Here s is never trained. The network is trained as by every one-shot
baseline (the same `split_epochs` share of the budget), then, per pruning round:

1. the statistics of the network at full participation are measured on fixed training
   batches (`nets.stats.collect`, `scoring_batches`);
2. the game is built from them (`equilibria.spec.build_game` with this pruner's ``payoff``,
   ``overlap``, ``alpha``, ``beta``, ``gamma``, ``eta`` and any further ``game_options``);
3. its equilibrium is solved to a certificate (relative Nash gap <= 1e-6: Newton, then the
   first-order solvers, `equilibria.price.certified_equilibrium`), at the smallest L1 price
   that reaches the round's target sparsity (`equilibria.price.price_for_sparsity`; the
   ``gamma`` option is the lowest price tried), or, with ``sparsity=None``, at the price
   ``gamma`` with the paper's rule (remove s < ``epsilon``, `equilibria.price.
   emergent_equilibrium`); every layer keeps at least ``min_keep`` units;
4. the removed players are deleted and the others' equilibrium participation is folded into
   the weights (`nets.apply_participation(mode="remove")`); the pruned network's outputs are
   checked against the gated network running on that participation (``fold_error``);
5. the network is fine-tuned with the round's share of the rest of the budget.

A price is never negative, so when the game at the lowest price (``gamma``) already puts more
than the target at zero (a benefit that is negative for some units, or competition strong
enough to zero them), the pruner removes what the equilibrium says and the achieved sparsity
exceeds the target; each round's record says so (``target``, ``achieved``). Under competition
with a small quadratic cost the support can also jump by several units at one price, so the
smallest reaching price may overshoot by more than one unit.

``schedule="iterative"`` runs ``budget.rounds`` rounds with the targets of
``schedule_targets(sparsity, rounds, "iterative")`` (the same fraction of the remaining units
each round, as the iterative baselines), the game rebuilt on the pruned network each time.

Every round's certificate is in ``PruneOutcome.details["certificates"]``: the relative Nash
gap of the equilibrium on the game it was pruned by (`equilibria.certify.certify`), its
stability class, Rosen's monotonicity (uniqueness) and the number of distinct equilibria found
from ``starts`` solver starts (zeros, ones, the equilibrium and seeded random profiles).

The default game prices the first-order Taylor importance (``payoff="taylor"``) with the L1
price only (``beta = eta = 0``): player i is at zero exactly when the price reaches its
benefit, so the equilibrium removes the units of lowest Taylor importance, in the per-example
form ``sum_b |a_i dL/da_i|`` of Molchanov et al. 2017 (`nets.stats.collect`; the ``"taylor"``
baseline ranks by the squared batch form of Molchanov et al. 2019), with a certificate.
Competition (``eta > 0`` with ``overlap="activations"`` or ``"parameters"``) and the quadratic
cost (``beta > 0``) are options; the payoff is any of `equilibria.spec.PAYOFFS` or of the
second-order readings `equilibria.spec.SECOND_ORDER_PAYOFFS` (docs/explanation/second-order.md):
``payoff="second_order"`` measures the gates' curvature (``curvature``, Gauss-Newton by
default, damped by ``damping``) and prices redundancy by its off-diagonal, as Optimal Brain
Surgeon does (Hassibi & Stork 1993); ``payoff="reconstruction"`` prices the next layer's
output error. Those readings carry their own competition, so ``eta`` must stay 0 with them.
On a network with BatchNorm the second-order statistics are collected in eval mode (every
statistic of that game, at the running statistics of the norms): per-example curvature needs
examples that do not interact, which training-mode BatchNorm breaks, and the eval-mode network
is the one that is deployed.
Anything else a payoff needs measured goes in ``stats_options``, passed to
`nets.stats.collect` as keywords.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from equilibria.certify import EQUILIBRIUM_TOL, SolveBudget, certify
from equilibria.gap import nash_gap
from equilibria.plain import to_plain
from equilibria.price import (
    PRICE_SCOPES,
    ZERO_TOL,
    PricedEquilibrium,
    emergent_equilibrium,
    price_for_sparsity,
)
from equilibria.spec import OVERLAPS, build_game
from nets.apply import apply_participation
from nets.baselines.base import (
    Budget,
    Options,
    PruneOutcome,
    Pruner,
    PruningError,
    example_of,
    schedule_targets,
    scoring_batches,
    split_epochs,
)
from nets.checks import check_choice, check_int, check_number
from nets.gates import GatedNetwork, attach_gates
from nets.stats import DEFAULT_DAMPING, collect
from nets.structure import eval_mode

#: Largest difference allowed between the pruned network's outputs and the gated network's on
#: the applied participation, relative to the outputs' scale (float32 rounding is ~1e-6).
FOLD_RTOL = 1e-4


def _pairs(value: Any, name: str) -> tuple[tuple[str, Any], ...]:
    """A mapping, (name, value) pairs (as JSON gives them back) or a JSON object string (what
    an `analysis.RunConfig`, whose options are JSON scalars, can hold) as sorted pairs."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise PruningError(f"{name} must be a dict of keyword options or a JSON object; "
                               f"got {value!r}") from None
        if not isinstance(value, Mapping):
            raise PruningError(f"{name} must be a dict of keyword options or a JSON object; "
                               f"got {value!r}")
    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        try:
            items = [tuple(item) for item in value]
        except TypeError:
            raise PruningError(f"{name} must be a dict of keyword options; got {value!r}"
                               ) from None
    if not all(len(item) == 2 and isinstance(item[0], str) for item in items):
        raise PruningError(f"{name} must be a dict of keyword options; got {value!r}")
    return tuple(sorted((str(k), v) for k, v in items))


@dataclass(frozen=True)
class SolveApplyOptions(Options):
    """`SolveApplyPruner`'s options.

    Attributes
    ----------
    payoff : str, default "taylor"
        One of `equilibria.spec.PAYOFFS` or `equilibria.spec.SECOND_ORDER_PAYOFFS` (as they are
        when the options are built).
    curvature : {"gauss_newton", "fisher"}, default "gauss_newton"
        The curvature estimate of ``payoff="second_order"`` (`nets.stats.collect`); ignored
        by the other payoffs.
    damping : float, default `nets.stats.DEFAULT_DAMPING`
        The lambda >= 0 the second-order readings add to their curvature's diagonal.
    overlap : {"parameters", "activations", None}, default "activations"
        The competition's overlap (used when ``eta != 0``).
    alpha, beta, eta : float, default 1, 0, 0
        The benefit's weight, the quadratic cost ``beta ||theta_i||^2`` and the competition
        weight (Shah & Khan 2025, Eq. 8-10).
    gamma : float, default 0
        The L1 price: with a target sparsity the lowest price the bisection tries, with
        ``sparsity=None`` the price of the game.
    epsilon : float, default 0.01
        The paper's prune threshold in emergent mode (s < epsilon is removed).
    scope : {"global", "layer"}, default "global"
        One price for all players, or one per layer (`equilibria.price.price_for_sparsity`).
    min_keep : int, default 1
        Units every layer keeps (>= 1).
    n_batches : int, default 4
        Training batches the statistics are measured on.
    starts : int, default 4
        Solver starts of the uniqueness search (zeros, ones, the equilibrium and
        ``starts - 3`` seeded random profiles; at least 3).
    game_options, stats_options : dict, default {}
        Further keywords of `equilibria.spec.build_game` and `nets.stats.collect`: a dict,
        (name, value) pairs or a JSON object string (for an `analysis.RunConfig`, e.g.
        ``pruning={"stats_options": '{"taylor_mode": "batch"}'}``); stored as sorted pairs.
    """

    payoff: str = "taylor"
    curvature: str = "gauss_newton"
    damping: float = DEFAULT_DAMPING
    overlap: str | None = "activations"
    alpha: float = 1.0
    beta: float = 0.0
    eta: float = 0.0
    gamma: float = 0.0
    epsilon: float = 0.01
    scope: str = "global"
    min_keep: int = 1
    n_batches: int = 4
    starts: int = 4
    game_options: tuple[tuple[str, Any], ...] = ()
    stats_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        from equilibria import spec  # PAYOFFS as it is now, so a new payoff works unchanged

        check_choice(self.payoff, "payoff", spec.PAYOFFS + spec.SECOND_ORDER_PAYOFFS)
        check_choice(self.curvature, "curvature", spec.CURVATURES)
        object.__setattr__(self, "damping", check_number(self.damping, "damping", low=0.0))
        if self.payoff in spec.SECOND_ORDER_PAYOFFS and self.eta != 0.0:
            raise PruningError(f"eta must be 0 with payoff={self.payoff!r}: its curvature is "
                               f"its competition; got eta={self.eta}")
        check_choice(self.overlap, "overlap", OVERLAPS)
        check_choice(self.scope, "scope", PRICE_SCOPES)
        for name in ("alpha", "eta"):
            object.__setattr__(self, name, check_number(getattr(self, name), name))
        for name in ("beta", "gamma"):
            object.__setattr__(self, name, check_number(getattr(self, name), name, low=0.0))
        object.__setattr__(self, "epsilon", check_number(self.epsilon, "epsilon", low=0.0,
                                                         low_open=True))
        object.__setattr__(self, "min_keep", check_int(self.min_keep, "min_keep", minimum=1))
        object.__setattr__(self, "n_batches", check_int(self.n_batches, "n_batches", minimum=1))
        object.__setattr__(self, "starts", check_int(self.starts, "starts", minimum=3))
        for name in ("game_options", "stats_options"):
            object.__setattr__(self, name, _pairs(getattr(self, name), name))
        reserved = {"payoff", "overlap", "alpha", "beta", "gamma", "eta"} & \
            {k for k, _ in self.game_options}
        if reserved:
            raise PruningError(f"game_options {sorted(reserved)} are options of the pruner "
                               "itself; pass them directly")


class SolveApplyPruner(Pruner):
    """Train, then prune by the certified equilibrium of the network's game (module docstring).

    Parameters
    ----------
    payoff, overlap, alpha, beta, eta, gamma, epsilon, scope, min_keep, n_batches, starts,
    game_options, stats_options
        See `SolveApplyOptions`.
    """

    name = "equilibrium_solve"
    citation = ("Shah & Khan 2025 (arXiv 2512.22106), Eq. 8-11, the equilibrium solved and "
                "certified instead of trained (issue 11)")
    granularities = ("structured",)
    schedules = ("one_shot", "iterative")
    emergent = True
    Options = SolveApplyOptions

    payoff: str
    overlap: str | None
    alpha: float
    beta: float
    eta: float
    gamma: float
    epsilon: float
    scope: str
    min_keep: int
    n_batches: int
    starts: int
    game_options: tuple[tuple[str, Any], ...]
    stats_options: tuple[tuple[str, Any], ...]

    def prune(self, model: nn.Sequential, data: Any, sparsity: float | None, budget: Budget,
              *, granularity: str = "structured", schedule: str = "one_shot"
              ) -> PruneOutcome:
        self.check(sparsity, granularity, schedule, model)
        rounds = budget.rounds if schedule == "iterative" else 1
        targets: list[float | None] = [None] * rounds if sparsity is None else \
            list(schedule_targets(float(sparsity), rounds, "iterative" if rounds > 1
                                  else "one_shot"))
        with self.run(data, budget) as run:
            work = copy.deepcopy(model)
            pre, per = split_epochs(budget.epochs, rounds)
            run.train(work, pre)
            batches = scoring_batches(run.train_set, budget, self.n_batches)
            example = example_of(batches)
            players = attach_gates(model, budget.level, example_inputs=example).n_players
            certificates = []
            for index, (target, epochs) in enumerate(zip(targets, per, strict=True)):
                work, record = self.prune_round(work, target, players, batches, budget)
                certificates.append({"round": index + 1, **record})
                run.train(work, epochs)
        gated = attach_gates(work, budget.level, example_inputs=example)
        details = {"rounds": rounds, "targets": targets, "scope": self.scope,
                   "certificates": certificates,
                   "kept_per_layer": [info.n_units for info in gated.layers]}
        return PruneOutcome(self.name, "structured", schedule,
                            None if sparsity is None else float(sparsity),
                            1.0 - gated.n_players / players, work, run.steps, run.seconds,
                            details)

    def game_of(self, gated: GatedNetwork, batches: list[tuple[torch.Tensor, torch.Tensor]]
                ) -> tuple[Any, np.ndarray]:
        """The game of `gated` at its current participation, and each player's layer."""
        competing = self.eta != 0.0  # the overlap blocks are measured only when used
        stats_options = {"parameter_gram": competing and self.overlap == "parameters",
                         "activation_overlap": competing and self.overlap == "activations",
                         **_second_order_statistics(self.payoff, self.curvature, self.damping),
                         **dict(self.stats_options)}
        deployed = eval_mode(gated) if "curvature" in stats_options and _has_norms(gated) \
            else contextlib.nullcontext()
        with deployed:
            stats = collect(gated, batches, n_batches=len(batches), **stats_options)
        game = build_game(stats, payoff=self.payoff,
                          overlap=self.overlap if self.eta != 0.0 else None, alpha=self.alpha,
                          beta=self.beta, gamma=self.gamma, eta=self.eta,
                          **dict(self.game_options))
        return game, stats.layer

    def decide(self, game: Any, layer: np.ndarray, fraction: float | None) -> PricedEquilibrium:
        """The certified equilibrium and the removal it decides: at the smallest price reaching
        `fraction` of the players, or (None) at the game's own price with the epsilon rule."""
        if fraction is None:
            return emergent_equilibrium(game, layer, epsilon=self.epsilon,
                                        min_keep=self.min_keep)
        return price_for_sparsity(game, fraction, layer, scope=self.scope,
                                  min_keep=self.min_keep, gamma_min=self.gamma)

    def prune_round(self, work: nn.Sequential, target: float | None, players: int,
                    batches: list[tuple[torch.Tensor, torch.Tensor]], budget: Budget
                    ) -> tuple[nn.Sequential, dict[str, Any]]:
        """One round: game, certified equilibrium, removal and fold; returns the pruned model
        and the round's certificate record."""
        gated = attach_gates(work, budget.level, example_inputs=example_of(batches))
        game, layer = self.game_of(gated, batches)
        fraction = None if target is None else \
            max(1.0 - (1.0 - target) * players / gated.n_players, 0.0)
        decision = self.decide(game, layer, fraction)
        priced = game.with_costs(linear_cost=decision.gamma)
        certificate = certify(priced, decision.equilibrium.profile,
                              epsilon=ZERO_TOL if target is not None else self.epsilon,
                              seed=budget.seed,
                              budget=SolveBudget(random_starts=self.starts - 3))
        if certificate.nash_gap > EQUILIBRIUM_TOL:  # certified_equilibrium guarantees it
            raise PruningError(f"the equilibrium's relative Nash gap {certificate.nash_gap:.3g} "
                               f"exceeds {EQUILIBRIUM_TOL:g}")
        s = torch.as_tensor(decision.participation, dtype=torch.float64)
        pruned = apply_participation(gated, s, mode="remove", threshold=0.5 * ZERO_TOL)
        error = fold_error(gated, s, pruned, batches[0][0])
        if not error <= FOLD_RTOL:
            raise PruningError(f"the pruned network's outputs differ from the gated network's "
                               f"at the equilibrium by {error:.3g} (relative), more than "
                               f"{FOLD_RTOL:g}")
        record = {
            "target": fraction, "players": gated.n_players,
            "removed": int(decision.removed.sum()), "floored": int(decision.floored.sum()),
            "achieved": decision.achieved, "reached": decision.reached,
            "gamma": list(decision.layer_gamma), "price_scope": decision.scope,
            "solves": decision.evaluations, "method": decision.equilibrium.method,
            "nash_gap": certificate.nash_gap,
            "applied_nash_gap": float(nash_gap(priced, decision.participation)),
            "stability": certificate.stability_at_s, "monotone": certificate.monotone,
            "uniqueness": uniqueness(certificate.monotone, certificate.distinct_equilibria),
            "distinct_equilibria": certificate.distinct_equilibria,
            "starts": certificate.starts, "starts_converged": certificate.starts_converged,
            "fold_error": error, "certificate": certificate.to_row()}
        return pruned, to_plain(record)


def uniqueness(monotone: bool, distinct: int) -> str:
    """The uniqueness verdict: ``"unique"`` when Rosen's (1965) monotonicity certificate
    holds, else ``"one_found"`` or ``"several"`` by the distinct equilibria from the starts."""
    if monotone:
        return "unique"
    return "one_found" if distinct <= 1 else "several"


def fold_error(gated: GatedNetwork, s: torch.Tensor, pruned: nn.Module,
               inputs: torch.Tensor) -> float:
    """Max |pruned(x) - gated_s(x)| over `inputs`, relative to ``max(1, max |gated_s(x)|)``,
    both in eval mode (the folded, smaller network against the soft-gated one at s)."""
    soft = apply_participation(gated, s, mode="soft")
    pruned = copy.deepcopy(pruned)
    soft.eval()
    pruned.eval()
    dtype = next(soft.parameters()).dtype
    with torch.no_grad():
        x = inputs.to(dtype)
        reference = soft(x)
        difference = (pruned(x) - reference).abs().max().item()
        scale = max(1.0, reference.abs().max().item())
    return float(difference / scale)


def _has_norms(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _second_order_statistics(payoff: str, curvature: str, damping: float) -> dict[str, Any]:
    """What `nets.stats.collect` must measure for `payoff` beyond the first-order statistics."""
    if payoff == "second_order":
        return {"curvature": curvature, "damping": damping}
    if payoff == "reconstruction":
        return {"reconstruction": True, "damping": damping}
    return {}
