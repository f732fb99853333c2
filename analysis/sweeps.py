"""Run many `RunConfig` s on any executor, resumably, into one JSONL result store.

``sweep(configs, out_dir)`` runs every configuration not yet in ``out_dir/results.jsonl`` and
appends one JSON line per finished run. The runs execute on any
``concurrent.futures.Executor``: local processes by default, threads, or a Dask cluster through
``distributed.Client(...).get_executor()`` (optional extra ``pruning-game[dask]``) for users
who outgrow one machine. Only the parent process writes the store.

How the store stays correct (the invariant: a sweep killed at any moment loses no finished row
and duplicates none):

- **Append, one write per row.** A finished row is one line, appended with ``os.write`` on a
  file opened with ``O_APPEND`` and then ``os.fsync`` ed, before the next row is handled. A row
  counts as finished once its line, newline included, is in the file; a run killed before that
  is simply run again on resume.
- **A torn last line is dropped.** A kill in the middle of a write can leave a last line
  without its newline. Readers (`load_results`) ignore it; `sweep` cuts it off (``os.truncate``
  to the end of the last complete line, a single system call) before appending, so it never
  merges with the next row, and the run is repeated.
- **Each key once.** Rows carry ``RunConfig.key``; on resume the keys already in the file are
  skipped, duplicate configs in the input run once, and an exclusive lock on
  ``out_dir/.sweep.lock`` (``fcntl.flock``, released by the OS when the process dies) stops
  two sweeps from writing the same store at once (POSIX only; elsewhere there is no lock).

Appending is O(1) per row, unlike rewriting the file through a temporary file and
``os.replace`` (O(rows) per row), and the only partial state it can leave, the torn last line,
is recognisable. Non-finite floats in a row (an infinite compression ratio, a NaN loss) are
written as ``null`` so the file is strict JSON that pandas (``pandas.read_json(path,
lines=True)``) and other languages read.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from pathlib import Path
from typing import Any

from analysis.runner import RunConfig, RunResult, run
from nets.progress import progress_bar

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ERRORS_NAME", "LOCK_NAME", "RESULTS_NAME", "SweepError", "SweepLockedError",
           "load_results", "local_executor", "sweep"]

RESULTS_NAME = "results.jsonl"
ERRORS_NAME = "errors.jsonl"
LOCK_NAME = ".sweep.lock"
ON_ERROR = ("raise", "skip")


class SweepError(RuntimeError):
    """A run of the sweep failed; every finished row is saved and a new sweep resumes.

    Attributes
    ----------
    failures : list of dict
        ``{"key", "config", "error", "traceback"}`` per failed run (also in ``errors.jsonl``).
    """

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures


class SweepLockedError(RuntimeError):
    """Another sweep holds the lock of the output directory."""


# ---------------------------------------------------------------------------- the store
def _json_safe(value: Any) -> Any:
    """`value` with non-finite floats replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _encode(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(_json_safe(row), separators=(",", ":"), allow_nan=False) + "\n"
            ).encode("utf-8")


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or rename durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _append_line(path: Path, row: Mapping[str, Any]) -> None:
    """Append `row` as one JSON line: O_APPEND write(s) of the whole line, then fsync."""
    data = _encode(row)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """Complete rows of a JSONL store, the byte length of its complete part, whether a torn
    last line follows it.

    Raises
    ------
    ValueError
        When a complete line is not a JSON object with a ``key`` (the file was edited or is
        not a result store); the message gives the line number.
    """
    if not path.exists():
        return [], 0, False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    rows = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}, is not valid JSON ({error}); a sweep "
                             "only ever leaves an incomplete *last* line, so the file was "
                             "edited: fix or delete that line") from error
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise ValueError(f"{path}, line {number}, is not a result row (a JSON object with "
                             "a 'key'); fix or delete that line")
        rows.append(row)
    return rows, end, end < len(data)


def _unique(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows by key, the first of each key kept, in file order."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key.setdefault(row["key"], row)
    return by_key


def load_results(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The finished rows of a sweep's ``results.jsonl``, in the order they finished.

    Read-only: a torn last line (a sweep killed mid-write) is ignored, and a key that occurs
    twice (files concatenated by hand) is reported once, its first row.

    Parameters
    ----------
    out_dir : path
        The sweep's output directory (or the ``results.jsonl`` file itself).

    Returns
    -------
    list of dict
        `RunResult.to_dict` rows (non-finite floats are None); empty when there is no store.
    """
    path = Path(out_dir)
    if path.is_dir() or not path.suffix:
        path = path / RESULTS_NAME
    rows, _, _ = _read_rows(path)
    return list(_unique(rows).values())


def _repair(path: Path) -> dict[str, dict[str, Any]]:
    """Cut a torn last line off the store; return its rows by key."""
    rows, end, torn = _read_rows(path)
    if torn:
        warnings.warn(f"{path} ended with an incomplete line (a sweep was killed while "
                      "writing it); it is dropped and its run repeated", RuntimeWarning,
                      stacklevel=3)
        os.truncate(path, end)
    return _unique(rows)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``directory/.sweep.lock``."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise SweepLockedError(f"another sweep is writing to {directory} (it holds "
                                   f"{directory / LOCK_NAME}); wait for it or use another "
                                   "out_dir") from error
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- execution
def _execute(run_fn: Callable[[RunConfig], Any], config: RunConfig) -> dict[str, Any]:
    """Run one config in a worker and return its row (a plain dict, cheap to ship back)."""
    result = run_fn(config)
    if isinstance(result, RunResult):
        return result.to_dict()
    if isinstance(result, Mapping):
        return dict(result)
    raise TypeError(f"run_fn must return a RunResult or a dict; got {type(result).__name__}")


def _init_worker(threads: int) -> None:
    """Initializer of the default process pool: torch threads per worker."""
    import torch

    torch.set_num_threads(threads)


def _default_executor(n_pending: int, max_workers: int | None) -> Executor:
    """Local processes started with "spawn" (forking a process that has run torch can
    deadlock), each with ``cpu_count // workers`` torch threads."""
    cpus = os.cpu_count() or 1
    workers = max_workers or max(1, min(n_pending, cpus))
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(max(1, cpus // workers),))


def _set_threads(threads: int) -> None:
    """Initializer of `local_executor` workers: torch threads per worker."""
    import torch

    torch.set_num_threads(threads)


@contextlib.contextmanager
def local_executor(workers: int, threads: int = 1) -> Iterator[Executor]:
    """An executor on this machine with a fixed torch thread count, shut down on exit.

    `sweep`'s default pool gives each worker ``cpu_count // workers`` threads; on a shared
    machine one thread per worker is the polite choice, and at toy size the start-up of a
    worker process (importing torch) costs more than the runs.

    Parameters
    ----------
    workers : int
        ``>= 1``: that many spawned processes with `threads` torch threads each. ``0``: one
        thread of this process, with `threads` torch threads while the block runs (the
        previous count is restored on exit).
    threads : int
        Torch threads per worker, ``>= 1``.

    Raises
    ------
    ValueError
        When `workers` < 0 or `threads` < 1 (or either is not an integer).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0; got {workers!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1; got {threads!r}")
    if workers:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_set_threads, initargs=(threads,)) as pool:
            yield pool
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            yield pool
    finally:
        torch.set_num_threads(before)


def _as_config(config: Any) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return RunConfig.from_dict(config)
    raise TypeError(f"configs must hold RunConfig objects (or their to_dict() dicts); got "
                    f"{type(config).__name__}")


def _row(config: RunConfig, result: Mapping[str, Any]) -> dict[str, Any]:
    """The stored row: the run's fields with the config's key and dict (authoritative)."""
    if result.get("key", config.key) != config.key:
        raise ValueError(f"run_fn returned a row with key {result['key']!r} for config "
                         f"{config.key!r}")
    return {"key": config.key, "config": config.to_dict(),
            **{k: v for k, v in result.items() if k not in ("key", "config")}}


def _failure(config: RunConfig, error: BaseException) -> dict[str, Any]:
    return {"key": config.key, "config": config.to_dict(), "error": repr(error),
            "traceback": "".join(traceback.format_exception(error)),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def sweep(configs: Iterable[RunConfig | Mapping[str, Any]], out_dir: str | os.PathLike,
          executor: Executor | None = None, resume: bool = True, progress: bool = True, *,
          run_fn: Callable[[RunConfig], Any] = run, max_workers: int | None = None,
          on_error: str = "raise") -> list[dict[str, Any]]:
    """Run every config not yet finished in ``out_dir/results.jsonl`` and store each result.

    Parameters
    ----------
    configs : iterable of RunConfig (or RunConfig.to_dict() dicts)
        Configurations with the same key (equal configs) run once.
    out_dir : path
        Directory of the store (created if missing): ``results.jsonl`` (one `RunResult` row
        per line), ``errors.jsonl`` (failed runs) and ``.sweep.lock``.
    executor : concurrent.futures.Executor, optional
        Where runs execute, e.g. a ``ThreadPoolExecutor``, or a Dask cluster through
        ``distributed.Client(...).get_executor()``. It is used, not shut down. Default: a
        ``ProcessPoolExecutor`` with the "spawn" start method, ``max_workers`` processes and
        ``cpu_count // max_workers`` torch threads each, shut down at the end. Spawned
        workers re-import the calling script, so a script that calls `sweep` with the default
        executor must do so under ``if __name__ == "__main__":``.
    resume : bool, default True
        Skip configs whose key is already in the store. With False the store must be empty
        or absent (a `FileExistsError` otherwise): a sweep never deletes finished rows.
    progress : bool, default True
        Report each finished run, finished ones counted from the start
        (`nets.progress.progress_bar`: a tqdm bar on a terminal, one line per run and a
        heartbeat every 30 s on a non-terminal stderr).
    run_fn : callable, default `analysis.runner.run`
        ``run_fn(config) -> RunResult | dict``; with process or cluster executors it must be
        importable (a module-level function) and is called in the worker.
    max_workers : int, optional
        Processes of the default executor (default: the CPU count, at most one per run).
    on_error : {"raise", "skip"}, default "raise"
        A failed run is always recorded in ``errors.jsonl`` and never in ``results.jsonl`` (so
        resuming repeats it). "raise": no further runs start; the runs already started are
        awaited and stored, then `SweepError` is raised. "skip": the sweep goes on and warns
        at the end.

    Returns
    -------
    list of dict
        The rows of the finished configs (stored before or in this call), in the order of
        `configs`.

    Raises
    ------
    SweepError
        When a run failed and ``on_error="raise"``.
    SweepLockedError
        When another sweep is writing to `out_dir`.

    Notes
    -----
    See the module docstring for why a sweep killed at any moment loses no finished row and
    duplicates none. Rows are appended in the parent process as each run completes, in
    completion order.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor (with submit); got "
                        f"{type(executor).__name__}")
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"max_workers must be a positive integer or None; got {max_workers!r}")
    unique: dict[str, RunConfig] = {}
    for config in configs:
        config = _as_config(config)
        unique.setdefault(config.key, config)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS_NAME
    with _locked(directory):
        done = _repair(path)
        if not resume and done:
            raise FileExistsError(f"{path} already holds {len(done)} finished rows and "
                                  "resume=False; pass resume=True to skip them or choose an "
                                  "empty out_dir")
        pending = [c for key, c in unique.items() if key not in done]
        bar = progress_bar(len(unique), "sweep", unit="run",
                           initial=len(unique) - len(pending), enabled=progress)
        try:
            failures = _run_pending(pending, path, directory / ERRORS_NAME, executor, run_fn,
                                    max_workers, on_error, done, bar)
        finally:
            bar.close()
    if failures:
        warnings.warn(f"{len(failures)} of {len(unique)} runs failed (see "
                      f"{directory / ERRORS_NAME}); a new sweep repeats them", RuntimeWarning,
                      stacklevel=2)
    return [done[key] for key in unique if key in done]


def _run_pending(pending: list[RunConfig], path: Path, errors_path: Path,
                 executor: Executor | None, run_fn: Callable[[RunConfig], Any],
                 max_workers: int | None, on_error: str, done: dict[str, dict[str, Any]],
                 bar: Any) -> list[dict[str, Any]]:
    """Submit `pending`, store each row as it completes; return the failures."""
    if not pending:
        return []
    own = executor is None
    pool = _default_executor(len(pending), max_workers) if own else executor
    futures: dict[Future, RunConfig] = {}
    failures: list[dict[str, Any]] = []
    clean = False
    try:
        for config in pending:
            futures[pool.submit(_execute, run_fn, config)] = config
        stopping = False
        for future in as_completed(futures):
            config = futures[future]
            try:
                result = future.result()
            except CancelledError:
                continue
            except Exception as error:
                failures.append(_failure(config, error))
                _append_line(errors_path, failures[-1])
                if on_error == "raise" and not stopping:
                    stopping = True  # start nothing new; store what is already running
                    for other in futures:
                        other.cancel()
                continue
            row = _json_safe(_row(config, result))  # exactly what a reader gets back
            _append_line(path, row)
            done[config.key] = row
            accuracy = row.get("accuracy")
            bar.set_postfix_str(f"{config.method} acc={accuracy:.3f}"
                                if isinstance(accuracy, float) else config.method)
            bar.update(1)
        clean = True
    finally:
        if not clean:  # interrupted (KeyboardInterrupt, a crash in the parent): stop fast
            for future in futures:
                future.cancel()
        if own:
            pool.shutdown(wait=clean, cancel_futures=True)
    if failures and on_error == "raise":
        first = failures[0]
        raise SweepError(f"{len(failures)} run(s) failed, the first {first['key']} "
                         f"({first['config']['method']}): {first['error']}; the finished rows "
                         f"are in {path} and a new sweep resumes (failures: {errors_path})",
                         failures)
    return failures
