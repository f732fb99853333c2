"""Experiments on top of `nets` and `equilibria`: run configurations, sweeps (local processes or
a Dask cluster), tables, figures, the demo and the `pruning-game` command."""

from analysis.runner import RunConfig, RunConfigError, RunResult, run
from analysis.sweeps import load_results, sweep

__all__ = ["RunConfig", "RunConfigError", "RunResult", "load_results", "run", "sweep"]
