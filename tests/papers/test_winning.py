"""`papers.beyond.winning`: the sweep it builds (equal budgets, both scopes, every arm), the
runner that keeps certificates (the same measurement as `analysis.runner.run`), and
``main --quick`` end to end (every output, certified gaps, resuming without training)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analysis import RunConfig
from analysis.runner import run
from analysis.sweeps import RESULTS_NAME
from nets.baselines import REGISTRY
from papers.beyond import winning


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_main_sweep_shares_one_budget_and_runs_every_baseline_at_both_scopes() -> None:
    runs = winning.main_configs()
    assert {(c.epochs, c.lr, c.batch_size, c.optimizer, c.rounds) for c in runs} == \
        {(winning.DIGITS_EPOCHS, 1e-3, 128, "adam", winning.ROUNDS)}
    assert len({c.key for c in runs}) == len(runs)
    assert sum(c.method == "dense" for c in runs) == 3
    targets = {(s, t) for s in (0, 1, 2) for t in winning.DEFAULT_SPARSITIES}
    assert "magnitude" not in winning.STRUCTURED_BASELINES
    for method in winning.STRUCTURED_BASELINES:
        for scope in winning.SCOPES:
            mine = {(c.seed, c.sparsity) for c in runs if c.method == method
                    and c.schedule == "one_shot" and winning.scope_of(c.to_dict()) == scope}
            assert mine == targets, (method, scope)
    solve = [c for c in runs if c.method == "equilibrium_solve"]
    arms = {(c.options.get("payoff", "taylor"), winning.scope_of(c.to_dict()), c.schedule)
            for c in solve}
    assert arms == {(p, s, k) for p in ("taylor", "second_order") for s in winning.SCOPES
                    for k in ("one_shot", "iterative")}
    per_block = len(winning.STRUCTURED_BASELINES) * 2 + 2 + 8 + 2
    assert len(runs) == 3 + 15 * per_block


def test_fashion_sizes_are_the_papers_mlp_on_the_documented_subset() -> None:
    args = winning.parser().parse_args([])
    assert winning._sizes("fashion-mnist", args) == dict(
        limit=winning.FASHION_LIMIT, hidden=(512, 256), epochs=winning.FASHION_EPOCHS)
    assert winning._sizes("digits", args) == dict(limit=None, hidden=(128, 64),
                                                  epochs=winning.DIGITS_EPOCHS)


def test_ablation_arms_are_concrete_configs_and_found_again_in_the_table() -> None:
    runs = winning.ablation_configs(seeds=(0,), sparsities=(0.5,))
    assert len(runs) == len(winning.ABLATION)
    assert {c.method for c in runs} == {"equilibrium", "equilibrium_solve"}
    emergent = [c for c in runs if c.sparsity is None]
    assert len(emergent) == 1 and emergent[0].options["eta"] == 0.1
    flat = [{"dataset": "digits", "point": winning.point(c.to_dict()), "accuracy": 0.5,
             "sparsity": 0.5, **{f"config.{k}": v for k, v in c.to_dict().items()
                                 if k != "pruning"},
             **{f"config.pruning.{k}": v for k, v in (c.to_dict()["pruning"] or {}).items()}}
            for c in runs]
    table = winning.ablation(flat)
    assert [r["arm"] for r in table] == [arm.name for arm in winning.ABLATION]
    assert all(r["n"] == 1 for r in table)


def test_configs_reject_unknown_methods_and_empty_lists() -> None:
    with pytest.raises(ValueError, match="methods: unknown"):
        winning.main_configs(methods=["magnitude"])
    with pytest.raises(ValueError, match="seeds must not be empty"):
        winning.main_configs(seeds=())


def test_front_marks_the_better_scope_and_the_one_std_criterion() -> None:
    def row(method: str, scope: str, accuracy: float, seed: int) -> dict:
        return {"dataset": "d", "method": method, "scope": scope, "point": "0.5",
                "seed": seed, "sparsity": 0.5, "accuracy": accuracy, "params_kept": 0.5,
                "prune_seconds": 1.0}
    flat = [row("obd", "global", 0.90 + 0.02 * s, s) for s in range(3)] + \
        [row("obd", "layer", 0.80, s) for s in range(3)] + \
        [row("equilibrium_solve (taylor, one_shot)", "global", 0.91, s) for s in range(3)]
    summary = winning.summarize(flat)
    better = {(r["method"], r["scope"]): r["better_scope"] for r in summary}
    assert better[("obd", "global")] is True and better[("obd", "layer")] is False
    (decision,) = winning.front(summary)
    assert decision["best_method"] == "obd" and decision["best_scope"] == "global"
    assert decision["within_one_std"] is True  # 0.91 >= 0.92 - 0.02
    flat[-3:] = [row("equilibrium_solve (taylor, one_shot)", "global", 0.85, s)
                 for s in range(3)]
    assert winning.front(winning.summarize(flat))[0]["within_one_std"] is False


def test_run_with_details_measures_as_the_runner_and_keeps_certificates() -> None:
    common = dict(data_limit=200, hidden=(8, 8), epochs=2, sparsity=0.5, seed=0)
    config = RunConfig(method="equilibrium_solve", **common)
    row = winning.run_with_details(config)
    assert row["accuracy"] == pytest.approx(run(config).accuracy)
    (round_,) = row["details"]["certificates"]
    assert round_["nash_gap"] <= 1e-6
    assert 0.0 < row["prune_seconds"] <= row["seconds"]
    assert row["achieved_sparsity"] >= 0.5


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        winning.main(["--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out


COLUMNS = {
    "runs.csv": {"dataset", "method", "scope", "point", "seed", "sparsity", "accuracy",
                 "params_kept", "prune_seconds"},
    "pareto.csv": {"dataset", "method", "scope", "point", "accuracy_mean", "accuracy_std",
                   "sparsity_mean", "n", "better_scope"},
    "front.csv": {"dataset", "sparsity", "best_method", "best_accuracy_mean",
                  "solve_method", "solve_accuracy_mean", "within_one_std"},
    "certificates.csv": {"dataset", "method", "scope", "point", "seed", "nash_gap",
                         "uniqueness", "distinct_equilibria", "rounds"},
    "wall_time.csv": {"dataset", "method", "scope", "rounds", "point", "prune_seconds_mean",
                      "n"},
}


def test_quick_run_writes_every_output_certifies_and_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "winning"
    assert winning.main(["--quick", "--out", str(out)]) == 0
    assert "| data | sparsity |" in capsys.readouterr().out
    for name, columns in COLUMNS.items():
        rows = read_csv(out / name)
        assert rows, name
        assert columns <= set(rows[0]), name
    assert (out / "ablation.csv").exists()  # empty with --quick (no ablation arms)
    certificates = read_csv(out / "certificates.csv")
    assert len(certificates) == 2 * 2 * 2 * 2  # payoffs x scopes x schedules x targets
    assert all(float(r["nash_gap"]) <= 1e-6 for r in certificates)
    assert {r["rounds"] for r in certificates} == {"1", str(winning.ROUNDS)}
    lottery = {r["rounds"] for r in read_csv(out / "wall_time.csv")
               if r["method"].startswith("lottery")}
    assert lottery == {"1", str(winning.ROUNDS)}
    assert {r["sparsity"] for r in read_csv(out / "front.csv")} == {"0.5", "0.8"}
    assert (out / "pareto_digits.png").stat().st_size > 1000
    store = out / "digits" / RESULTS_NAME
    lines = store.read_text().count("\n")
    n_methods = sum(len(winning._arms(m)) for m in winning.QUICK["methods"])
    assert lines == 1 + 2 * n_methods
    assert set(REGISTRY) >= set(winning.QUICK["methods"])

    assert winning.main(["--quick", "--out", str(out)]) == 0  # resumes: nothing to run
    assert store.read_text().count("\n") == lines
