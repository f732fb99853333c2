"""Certificates of trained networks: is Algorithm 1's final state an equilibrium of its game?

Shah & Khan (2025) train with Algorithm 1 (Eq. 16-17) and call the final participation s an
equilibrium (Eq. 11) without checking it. For several game configurations trained on the same
MLP -- the demo's (``analysis.demo.DEMO_CONFIG``: loss-descent benefit, activation
competition), the four Table 1 configurations (``nets.PAPER_CONFIGS``, paper-literal benefit
Eq. 9, eta = 0) and the demo without competition (eta = 0) -- and several seeds, this study
asks of the FINAL s on the FINAL game (statistics averaged over the whole training set,
``EquilibriumPruning.final_game``):

(i)   is s a Nash equilibrium? relative Nash gap (Eq. 11, ``equilibria.nash_gap``) and the
      natural-map (KKT) residual; s counts as an equilibrium when the gap is <= 1e-6;
(ii)  is it stable? ``equilibria.analyze_stability`` at s and at the nearest equilibrium;
(iii) is the equilibrium unique? Rosen's monotonicity certificate, and equilibria found from
      several solver starts (zeros, ones, s, seeded random) counted as distinct when more
      than 1e-4 apart in max-norm;
(iv)  how far is the nearest equilibrium from s, how many players does each prune
      (s < epsilon), and how much do the two pruned sets agree (Jaccard)?

Every configuration is trained for the same number of epochs (default 200 on digits: 2,200
steps of Algorithm 1, about a quarter of the paper's 20 MNIST epochs) on the demo's MLP
64-128-64-10. It also solves the demo configuration's final game (seed 0) with every solver of
``equilibria.METHODS`` from s (``analysis.plots.solver_convergence``) and draws the spectra of
the Jacobian's free block at s and at the nearest equilibrium for every configuration, seed 0
(``analysis.plots.stability_spectra``).

Run (the full study, then a toy run that CI uses)::

    python -m papers.beyond.certificates --out results/beyond/certificates
    python -m papers.beyond.certificates --quick --out /tmp/certificates

Outputs in ``--out``: ``certificates.csv`` (one row per configuration x seed),
``certificates_solvers.csv``, ``certificates_solver_convergence.png``,
``certificates_stability_spectra.png`` and ``runs/`` with one ``.npz`` (final s and the final
game, dense) and one ``.json`` (its certificate) per configuration and seed. The study is
resumable: a finished configuration/seed is read back, not recomputed, when its stored
configuration matches. Everything is deterministic for a given seed; the solvers' wall-clock
budgets (``max_seconds``) are a safety net only, and the CSV counts the solves that hit it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.arguments import OneLineParser, comma_ints, out_dir, require_data
from analysis.tables import to_csv
from equilibria import (
    METHODS,
    EquilibriumResult,
    ParticipationGame,
    analyze_stability,
    kkt_residual,
    nash_gap,
    solve,
)
from equilibria import competition as comp
from equilibria.atomic import atomic_write, atomic_write_json
from nets.presets import DEMO_CONFIG, DEMO_WIDTHS

#: Relative Nash gap at or below which the final s counts as an equilibrium (question i).
EQUILIBRIUM_TOL = 1e-6
#: Tolerance (relative Nash gap) of every solve: an equilibrium "found" is certified to it.
SOLVE_TOL = 1e-10
#: Max-norm distance above which two certified equilibria count as distinct (question iii).
DISTINCT_TOL = 1e-4
#: Solvers tried from s for the nearest equilibrium, Newton first (question ii, iv).
NEAREST_METHODS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("newton", {}), ("best_response", {"scheme": "gauss_seidel"}),
    ("projected_gradient", {}), ("extragradient", {}))
#: Bumped when `certify` changes, so stored certificates are recomputed (not the training).
CERTIFICATE_VERSION = 3
QUICK_WIDTHS = (16, 8)
QUICK_LIMIT = 300
QUICK_EPOCHS = 3
#: Epochs of every configuration in the full study: 200 digits epochs are 2,200 steps of
#: Algorithm 1 (11 batches of 128), a quarter of the paper's 20 MNIST epochs (9,380 steps);
#: the configurations' own 60 (demo) or 20 (Table 1) epochs are 660 or 220 steps.
FULL_EPOCHS = 200


# ---------------------------------------------------------------------------- configurations
def study_configs(epochs: int | None = None) -> dict[str, Any]:
    """The game configurations of the study, keyed by a short name.

    Parameters
    ----------
    epochs : int, optional
        Training epochs for every configuration; None keeps each configuration's own (60 for
        the demo and its no-competition variant, the paper's 20 for Table 1).

    Returns
    -------
    dict of str -> nets.PruningConfig
        ``demo`` (DEMO_CONFIG), the four ``nets.PAPER_CONFIGS`` (Shah & Khan 2025, Table 1,
        paper-literal benefit Eq. 9, eta = 0) and ``no_competition`` (the demo with eta = 0).
    """
    from nets import PAPER_CONFIGS, PruningConfig

    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive integer or None; got {epochs!r}")
    demo = PruningConfig(**DEMO_CONFIG)
    configs = {"demo": demo,
               **{key: dataclasses.replace(c, payoff="paper") for key, c in PAPER_CONFIGS.items()},
               "no_competition": dataclasses.replace(demo, name="loss_descent, no competition",
                                                     eta=0.0, overlap=None)}
    if epochs is not None:
        configs = {k: dataclasses.replace(c, epochs=epochs) for k, c in configs.items()}
    return configs


# ---------------------------------------------------------------------------- certificates
def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index ``|A & B| / |A | B|`` of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum()) / union


def distinct_profiles(profiles: Sequence[np.ndarray],
                      tol: float = DISTINCT_TOL) -> list[np.ndarray]:
    """Greedy representatives of `profiles`: each one farther than `tol` (max-norm) from the
    representatives before it."""
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0; got {tol}")
    kept: list[np.ndarray] = []
    for profile in profiles:
        if all(float(np.abs(profile - other).max()) > tol for other in kept):
            kept.append(np.asarray(profile))
    return kept


@dataclass(frozen=True)
class Budget:
    """Work limits of every solve.

    Attributes
    ----------
    max_iter : int
        Iteration cap of the first-order solvers (deterministic).
    newton_max_iter : int
        Iteration cap of Newton, which either converges in a few steps or cycles.
    max_seconds : float
        Wall-clock safety net per solve (the result's message says when it was hit).
    random_starts : int
        Uniform random starts of the uniqueness search, besides zeros, ones and s.
    """

    max_iter: int = 20_000
    newton_max_iter: int = 200
    max_seconds: float = 60.0
    random_starts: int = 3

    def __post_init__(self) -> None:
        for name in ("max_iter", "newton_max_iter"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not (np.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a finite number > 0; got {self.max_seconds}")
        if not isinstance(self.random_starts, int) or self.random_starts < 0:
            raise ValueError(f"random_starts must be an integer >= 0; got {self.random_starts}")

    def iterations(self, method: str) -> int:
        """The iteration cap of `method` (Gauss-Seidel sweeps are capped at a quarter)."""
        if method == "newton":
            return self.newton_max_iter
        return max(1, self.max_iter // 4) if method == "best_response" else self.max_iter


def _solve(game: ParticipationGame, method: str, options: Mapping[str, Any], start: np.ndarray,
           budget: Budget) -> EquilibriumResult:
    return solve(game, method, s0=start, tol=SOLVE_TOL, max_iter=budget.iterations(method),
                 max_seconds=budget.max_seconds, **options)


def polish(game: ParticipationGame, result: EquilibriumResult,
           budget: Budget) -> EquilibriumResult:
    """Refine a certified equilibrium with Newton from its own profile.

    On an ill-conditioned game (``J + J^T`` nearly singular) a profile with relative Nash gap
    below `SOLVE_TOL` can still lie more than `DISTINCT_TOL` from the exact equilibrium, which
    would count one equilibrium twice. Newton from a nearby profile finds the active set and
    solves the linear first-order conditions (Eq. 13/18 set to zero on the free players)
    exactly; its profile replaces the original when it certifies a gap no larger. An
    unconverged `result` is returned unchanged.
    """
    if not result.converged:
        return result
    refined = solve(game, "newton", s0=result.profile, tol=1e-15,
                    max_iter=budget.newton_max_iter, max_seconds=budget.max_seconds)
    if refined.nash_gap > max(result.nash_gap, 1e-15):
        return result
    return dataclasses.replace(result, profile=refined.profile, nash_gap=refined.nash_gap,
                               message=f"{result.message}; polished by Newton "
                                       f"({refined.iterations} steps)")


Attempt = tuple[EquilibriumResult | None, tuple[EquilibriumResult, ...]]


def nearest_equilibrium(game: ParticipationGame, s: np.ndarray, budget: Budget) -> Attempt:
    """The closest (max-norm) certified equilibrium reached from s by `NEAREST_METHODS`.

    Newton (``solve(game, "newton", s0=s)``) first; Gauss-Seidel best response, projected
    gradient (the continuous limit of Algorithm 1's s-step, Eq. 17) and extragradient from the
    same start too, since Newton may cycle on a non-monotone game. Every certified result is
    `polish`-ed.

    Returns
    -------
    (EquilibriumResult or None, tuple of EquilibriumResult)
        The closest certified result (None if no solver certifies) and every solve tried.
    """
    tried = tuple(polish(game, _solve(game, m, o, s, budget), budget)
                  for m, o in NEAREST_METHODS)
    found = [r for r in tried if r.converged]
    if not found:
        return None, tried
    distances = [float(np.abs(r.profile - s).max()) for r in found]
    # Ties (the same equilibrium reached by several solvers) go to the earliest method.
    best = next(r for r, d in zip(found, distances, strict=True)
                if d <= min(distances) + DISTINCT_TOL)
    return best, tried


def first_equilibrium(game: ParticipationGame, start: np.ndarray, budget: Budget) -> Attempt:
    """The first certified equilibrium from `start` in the order of `NEAREST_METHODS`
    (None if none certifies), and every solve tried."""
    tried: list[EquilibriumResult] = []
    for method, options in NEAREST_METHODS:
        tried.append(polish(game, _solve(game, method, options, start, budget), budget))
        if tried[-1].converged:
            return tried[-1], tuple(tried)
    return None, tuple(tried)


def solver_starts(s: np.ndarray, n_random: int, rng: np.random.Generator,
                  bounds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Starting profiles for the uniqueness search: lo, hi, s and `n_random` uniform draws."""
    lo, hi = bounds
    starts = {"zeros": np.full(s.shape, lo), "ones": np.full(s.shape, hi), "s": s.copy()}
    for k in range(n_random):
        starts[f"random{k}"] = rng.uniform(lo, hi, s.shape)
    return starts


@dataclass(frozen=True)
class Certificate:
    """Answers (i)-(iv) for one final participation s on its final game.

    Scalars go to the CSV (`to_row`); `nearest_profile` and the spectra are kept for figures
    and checks. Distances are max-norm; "pruned" means s < epsilon.
    """

    n_players: int
    nash_gap: float
    kkt_residual: float
    is_equilibrium: bool
    stability_at_s: str
    max_real_eig_at_s: float
    free_at_s: int
    monotone: bool
    potential: bool
    starts: int
    starts_converged: int
    distinct_equilibria: int
    stable_equilibria: int
    newton_converged: bool
    newton_distance: float
    stability_at_newton: str
    nearest_method: str
    nearest_nash_gap: float
    nearest_distance: float
    nearest_mean_distance: float
    stability_at_nearest: str
    max_real_eig_at_nearest: float
    pruned_at_s: int
    pruned_at_nearest: int
    jaccard: float
    solves: int
    solves_out_of_time: int
    seconds: float
    nearest_profile: np.ndarray | None = dataclasses.field(default=None, repr=False)
    eigenvalues_at_s: np.ndarray | None = dataclasses.field(default=None, repr=False)
    eigenvalues_at_nearest: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_row(self) -> dict[str, Any]:
        """The scalar answers (one CSV row without the run's labels)."""
        skip = {"nearest_profile", "eigenvalues_at_s", "eigenvalues_at_nearest"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in skip}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists, eigenvalues as [real, imag] pairs)."""
        def pairs(values: np.ndarray | None) -> list[list[float]] | None:
            return None if values is None else [[float(z.real), float(z.imag)] for z in values]

        from equilibria.plain import to_plain

        return to_plain({**self.to_row(),
                         "nearest_profile": self.nearest_profile,
                         "eigenvalues_at_s": pairs(self.eigenvalues_at_s),
                         "eigenvalues_at_nearest": pairs(self.eigenvalues_at_nearest)})

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Certificate:
        """Inverse of `to_dict`."""
        def complex_array(values: Any) -> np.ndarray | None:
            return None if values is None else np.array([complex(re, im) for re, im in values],
                                                         dtype=complex)

        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in payload.items() if k in fields}
        data["nearest_profile"] = None if payload.get("nearest_profile") is None \
            else np.asarray(payload["nearest_profile"], dtype=float)
        data["eigenvalues_at_s"] = complex_array(payload.get("eigenvalues_at_s"))
        data["eigenvalues_at_nearest"] = complex_array(payload.get("eigenvalues_at_nearest"))
        return cls(**data)


def _max_real(values: np.ndarray) -> float:
    return float(values.real.max()) if values.size else float("nan")


def certify(game: ParticipationGame, s: Any, *, epsilon: float = 0.01, seed: int = 0,
            budget: Budget | None = None) -> Certificate:
    """Certify a participation profile s on `game`: equilibrium, stability, uniqueness.

    Parameters
    ----------
    game : ParticipationGame
        The final game (Shah & Khan 2025, Eq. 8-10 or another benefit reading).
    s : array_like of shape (N,)
        The final participation of Algorithm 1.
    epsilon : float, default 0.01
        Prune threshold (the paper's step 3): a player is pruned when its s < epsilon.
    seed : int, default 0
        Seeds the random solver starts.
    budget : Budget, optional
        Wall-clock safety net and the number of random starts.

    Returns
    -------
    Certificate
        (i) relative Nash gap (Eq. 11) and max-norm natural-map residual of s, and whether
        the gap is <= `EQUILIBRIUM_TOL`; (ii) ``analyze_stability`` at s and at the nearest
        equilibrium (the closest one any solver certified from s) and at Newton's
        (``solve(game, "newton", s0=s)``, which can land on an unstable one); (iii) Rosen's
        monotonicity certificate (J + J^T negative definite with J = -2 diag(q) - R, Eq.
        13/18), the number of distinct certified equilibria found from every start and how
        many of them are classified stable; (iv) the nearest equilibrium's distance, pruned
        counts and Jaccard.
        When no solver certifies an equilibrium from s, the nearest-equilibrium fields are NaN
        and ``nearest_method`` is ``"none"``.
    """
    if not isinstance(game, ParticipationGame):
        raise TypeError(f"game must be an equilibria.ParticipationGame; got "
                        f"{type(game).__name__}")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0; got {epsilon}")
    budget = budget or Budget()
    started = time.perf_counter()
    s = game.check(s)
    gap = float(nash_gap(game, s))
    at_s = analyze_stability(game, s)
    nearest, tried = nearest_equilibrium(game, s, budget)
    rng = np.random.default_rng(seed)
    starts = solver_starts(s, budget.random_starts, rng, game.bounds)
    attempts = [first_equilibrium(game, start, budget) for start in starts.values()]
    found = [result for result, _ in attempts]
    tried = tried + tuple(r for _, more in attempts for r in more)
    certified = [r.profile for r in found if r is not None]
    if nearest is not None:
        certified.append(nearest.profile)
    distinct = distinct_profiles(certified)
    newton = tried[0]  # solve(game, "newton", s0=s), polished
    newton_fields = dict(
        newton_converged=newton.converged,
        newton_distance=float(np.abs(newton.profile - s).max()) if newton.converged
        else float("nan"),
        stability_at_newton=analyze_stability(game, newton.profile).classification
        if newton.converged else "none")
    pruned_s = s < epsilon
    if nearest is None:
        nan = float("nan")
        near_fields = dict(nearest_method="none", nearest_nash_gap=nan, nearest_distance=nan,
                           nearest_mean_distance=nan, stability_at_nearest="none",
                           max_real_eig_at_nearest=nan, pruned_at_nearest=-1, jaccard=nan,
                           nearest_profile=None, eigenvalues_at_nearest=None)
    else:
        at_nearest = analyze_stability(game, nearest.profile)
        difference = np.abs(nearest.profile - s)
        pruned_nearest = nearest.profile < epsilon
        near_fields = dict(nearest_method=nearest.method, nearest_nash_gap=nearest.nash_gap,
                           nearest_distance=float(difference.max()),
                           nearest_mean_distance=float(difference.mean()),
                           stability_at_nearest=at_nearest.classification,
                           max_real_eig_at_nearest=_max_real(at_nearest.eigenvalues),
                           pruned_at_nearest=int(pruned_nearest.sum()),
                           jaccard=jaccard(pruned_s, pruned_nearest),
                           nearest_profile=nearest.profile,
                           eigenvalues_at_nearest=at_nearest.eigenvalues)
    return Certificate(
        n_players=game.n_players, nash_gap=gap,
        kkt_residual=kkt_residual(game, s, ord=np.inf),
        is_equilibrium=gap <= EQUILIBRIUM_TOL, stability_at_s=at_s.classification,
        max_real_eig_at_s=_max_real(at_s.eigenvalues), free_at_s=at_s.n_free,
        monotone=at_s.is_monotone, potential=at_s.is_potential, starts=len(starts),
        starts_converged=sum(r is not None for r in found),
        distinct_equilibria=len(distinct),
        stable_equilibria=sum(analyze_stability(game, p).classification == "stable"
                              for p in distinct),
        pruned_at_s=int(pruned_s.sum()), **newton_fields,
        solves=len(tried), solves_out_of_time=sum("max_seconds" in r.message for r in tried),
        seconds=time.perf_counter() - started, eigenvalues_at_s=at_s.eigenvalues,
        **near_fields)


# ---------------------------------------------------------------------------- storage
def write_json(payload: Any, path: Path) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    atomic_write_json(path, payload, indent=1)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write rows (same keys) as CSV atomically."""
    if not rows:
        raise ValueError("rows must not be empty")
    to_csv(rows, path, list(rows[0]), drop=())


def save_game(path: Path, game: ParticipationGame, s: np.ndarray, meta: Mapping[str, Any]) -> None:
    """Store the final game (dense competition) and the final s in one .npz, atomically."""
    n = game.n_players
    arrays = {"benefit": game.benefit, "quadratic_cost": game.quadratic_cost,
              "linear_cost": np.broadcast_to(game.linear_cost, (n,)).astype(float),
              "competition": comp.to_dense(game.competition, n),
              "bounds": np.asarray(game.bounds, dtype=float), "participation": s,
              "meta": np.asarray(json.dumps(dict(meta), sort_keys=True))}
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_game(path: Path) -> tuple[ParticipationGame, np.ndarray, dict[str, Any]]:
    """Inverse of `save_game`: (game, s, meta). A zero competition matrix becomes None."""
    with np.load(path, allow_pickle=False) as stored:
        competition = stored["competition"]
        game = ParticipationGame(stored["benefit"], stored["quadratic_cost"],
                                 stored["linear_cost"],
                                 competition if np.any(competition) else None,
                                 tuple(float(b) for b in stored["bounds"]))
        return game, stored["participation"].copy(), json.loads(str(stored["meta"]))


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class Setup:
    """What every run shares: the data and the network's hidden widths."""

    data: str
    root: str | None
    widths: tuple[int, ...]
    limit: int | None


def train_final_game(config: Any, bundle: Any, widths: Sequence[int]) -> tuple[
        ParticipationGame, np.ndarray, dict[str, Any]]:
    """Train an MLP with Algorithm 1 and build its final game over the whole training set.

    Returns the final game (``EquilibriumPruning.final_game`` with every training batch), the
    final participation s and a summary (test accuracy, seconds).
    """
    from nets import EquilibriumPruning, models

    in_features = int(np.prod(bundle.input_shape))
    model = models.mlp(in_features, tuple(widths), bundle.n_classes, seed=config.seed)
    trainer = EquilibriumPruning(config)
    started = time.perf_counter()
    result = trainer.fit(model, bundle, progress=True)
    seconds = time.perf_counter() - started
    train_loader, _ = bundle.loaders(256, seed=0)
    game = trainer.final_game(result.gated, train_loader, n_batches=len(train_loader))
    last = result.history[-1]
    return game, result.participation, {"test_accuracy": last.test_accuracy,
                                        "train_seconds": seconds,
                                        "sparsity": result.sparsity}


def run_one(key: str, config: Any, setup: Setup, bundle_loader: Any, out: Path,
            budget: Budget) -> dict[str, Any]:
    """Train (or reload), certify (or reload) one configuration/seed; returns its CSV row."""
    stem = out / "runs" / f"{key}_seed{config.seed}"
    identity = {"key": key, "config": config.to_dict(), "data": setup.data,
                "widths": list(setup.widths), "limit": setup.limit}
    record_path, game_path = stem.with_suffix(".json"), stem.with_suffix(".npz")
    certified_identity = {**identity, "certificate_version": CERTIFICATE_VERSION}
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("identity") == certified_identity:
            return record
    stored = load_game(game_path) if game_path.exists() else None
    if stored is None or stored[2].get("identity") != identity:
        game, s, summary = train_final_game(config, bundle_loader(), setup.widths)
        save_game(game_path, game, s, {"identity": identity, **summary})
    game, s, meta = load_game(game_path)
    certificate = certify(game, s, epsilon=config.epsilon, seed=config.seed, budget=budget)
    record = {"identity": certified_identity, "row": {
        "config": key, "name": config.name, "payoff": config.payoff, "beta": config.beta,
        "gamma": config.gamma, "eta": config.eta, "epochs": config.epochs, "seed": config.seed,
        "test_accuracy": meta["test_accuracy"], "train_seconds": meta["train_seconds"],
        **certificate.to_row()}, "certificate": certificate.to_dict()}
    write_json(record, record_path)
    return record


# ---------------------------------------------------------------------------- report
def solver_comparison(game: ParticipationGame, start: np.ndarray,
                      budget: Budget) -> dict[str, EquilibriumResult]:
    """Every solver of `equilibria.METHODS` from the same start (best response in both its
    Gauss-Seidel and Jacobi schemes), to the study's tolerance."""
    runs: dict[str, EquilibriumResult] = {}
    for method in METHODS:
        schemes = ({"scheme": "gauss_seidel"}, {"scheme": "jacobi"}) \
            if method == "best_response" else ({},)
        for options in schemes:
            result = _solve(game, method, options, start, budget)
            runs[result.method] = result
    return runs


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else f"{value:.3g}"
    return str(value)


TABLE_COLUMNS = (("config", "configuration"), ("seed", "seed"), ("test_accuracy", "acc."),
                 ("nash_gap", "rel. Nash gap at s"), ("kkt_residual", "KKT res. (max)"),
                 ("is_equilibrium", "eq. (gap <= 1e-6)"), ("stability_at_s", "stability at s"),
                 ("monotone", "unique (Rosen)"), ("distinct_equilibria", "distinct eq. found"),
                 ("stable_equilibria", "of them stable"),
                 ("newton_distance", "Newton from s: dist."),
                 ("stability_at_newton", "stability"),
                 ("nearest_method", "nearest eq. by"), ("nearest_distance", "dist. (max)"),
                 ("stability_at_nearest", "stability at eq."), ("pruned_at_s", "pruned by s"),
                 ("pruned_at_nearest", "pruned by eq."), ("jaccard", "Jaccard"))


def markdown_table(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[tuple[str, str]] = TABLE_COLUMNS) -> str:
    """A Markdown table of `rows` restricted to `columns` ((key, header) pairs)."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _figures(records: Mapping[tuple[str, int], Mapping[str, Any]], configs: Mapping[str, Any],
             seed: int, out: Path, budget: Budget) -> tuple[list[dict[str, Any]], list[Path]]:
    from analysis.plots import solver_convergence, stability_spectra

    spectra = {}
    for key, config in configs.items():
        record = records.get((key, seed))
        if record is None:
            continue
        certificate = Certificate.from_dict(record["certificate"])
        panel = {"at s": certificate.eigenvalues_at_s}
        if certificate.eigenvalues_at_nearest is not None:
            panel["at the nearest equilibrium"] = certificate.eigenvalues_at_nearest
        spectra[f"{key}: {config.name}"] = panel
    paths = [out / "certificates_stability_spectra.png",
             out / "certificates_solver_convergence.png"]
    stability_spectra(spectra, paths[0],
                      title=f"Spectra of J_FF on the final game (seed {seed})")
    key = "demo" if "demo" in configs else next(iter(configs))
    game, s, _ = load_game(out / "runs" / f"{key}_seed{seed}.npz")
    runs = solver_comparison(game, s, budget)
    solver_convergence(
        runs, paths[1], tol=SOLVE_TOL, xscale="log",
        title=f"Every solver from the final s: final game of {key!r} (seed {seed}, "
              f"{game.n_players} players)")
    solver_rows = [{"config": key, "seed": seed, "method": name, "converged": r.converged,
                    "iterations": r.iterations, "nash_gap": r.nash_gap, "seconds": r.seconds,
                    "distance_from_s": float(np.abs(r.profile - s).max()),
                    "pruned": int((r.profile < configs[key].epsilon).sum()),
                    "message": r.message} for name, r in runs.items()]
    write_csv(solver_rows, out / "certificates_solvers.csv")
    return solver_rows, paths


def _seeds(text: str) -> list[int]:
    seeds = list(comma_ints(text))
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds must list distinct integers; got {text!r}")
    return seeds


def main(argv: list[str] | None = None) -> int:
    """Run the study; print the Markdown table; return 0."""
    parser = OneLineParser(prog="pruning-game reproduce certificates",
                           description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits",
                        help="dataset for nets.data.load (default %(default)s)")
    parser.add_argument("--root", default=None, help="dataset folder (fashion-mnist, mnist)")
    parser.add_argument("--seeds", type=_seeds, default=None,
                        help="comma-separated seeds (default 0,1,2; 0 with --quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs of every configuration (default {FULL_EPOCHS}; "
                             f"{QUICK_EPOCHS} with --quick)")
    parser.add_argument("--out", type=out_dir, default="results/beyond/certificates",
                        help="output folder (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help=f"toy size: MLP widths {QUICK_WIDTHS}, {QUICK_LIMIT} examples, "
                             f"{QUICK_EPOCHS} epochs, one seed, short solver budgets")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default %(default)s)")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be a positive integer; got {args.epochs}")
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer; got {args.threads}")
    require_data(parser, args.data, args.root)
    import torch

    from nets import data

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else FULL_EPOCHS)
    setup = Setup(args.data, args.root, QUICK_WIDTHS if args.quick else tuple(DEMO_WIDTHS),
                  QUICK_LIMIT if args.quick else None)
    budget = Budget(max_iter=1000, newton_max_iter=50, max_seconds=5.0, random_starts=1) \
        if args.quick else Budget()
    bundle_cache: list[Any] = []

    def bundle() -> Any:
        if not bundle_cache:
            bundle_cache.append(data.load(setup.data, setup.root, limit=setup.limit))
        return bundle_cache[0]

    configs = study_configs(epochs)
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for key, base in configs.items():
        for seed in seeds:
            config = dataclasses.replace(base, seed=seed)
            record = run_one(key, config, setup, bundle, args.out, budget)
            records[(key, seed)] = record
            row = record["row"]
            print(f"[{time.perf_counter() - started:6.0f}s] {key} seed {seed}: gap "
                  f"{row['nash_gap']:.2e}, {row['stability_at_s']}, "
                  f"{row['distinct_equilibria']} distinct eq., nearest "
                  f"{_fmt(row['nearest_distance'])} away", file=sys.stderr, flush=True)
    rows = [records[(key, seed)]["row"] for key in configs for seed in seeds]
    write_csv(rows, args.out / "certificates.csv")
    solver_rows, figures = _figures(records, configs, seeds[0], args.out, budget)
    print(f"\n## Certificates of the final participation on the final game ({setup.data}, "
          f"MLP hidden widths {'-'.join(map(str, setup.widths))}; equilibrium when the "
          f"relative Nash gap <= {EQUILIBRIUM_TOL:g}; solves to {SOLVE_TOL:g})\n")
    print(markdown_table(rows))
    print(f"\n## Every solver from the final s ({solver_rows[0]['config']}, seed "
          f"{solver_rows[0]['seed']})\n")
    print(markdown_table(solver_rows, (("method", "solver"), ("converged", "certified"),
                                       ("iterations", "iterations"), ("nash_gap", "rel. gap"),
                                       ("seconds", "seconds"),
                                       ("distance_from_s", "dist. from s"),
                                       ("pruned", "pruned"))))
    print(f"\nCSV: {args.out / 'certificates.csv'}; figures: "
          f"{', '.join(str(p) for p in figures)}; wall time "
          f"{time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    from analysis.cli import run_guarded

    raise SystemExit(run_guarded("pruning-game reproduce certificates", main))
