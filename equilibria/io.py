"""Game files: a `ParticipationGame` saved as JSON or NPZ and read back, bit for bit.

One layout serves both formats (the ``solve`` command reads it, the certificates study writes
it). The keys are the game's fields (docs/design.md, "The game"):

``benefit``, ``quadratic_cost``, ``linear_cost``
    arrays of shape (N,) (the costs may be scalars; ``quadratic_cost`` and ``linear_cost``
    default to 0);
``bounds``
    ``[lo, hi]`` (default ``[0, 1]``);
competition, one of
    - dense: ``competition``, an N x N array;
    - `LowRank`: ``factors`` (N x d) and ``scale`` (JSON may also nest them:
      ``"competition": {"factors": ..., "scale": ...}``);
    - sparse (CSR): ``competition_data``, ``competition_indices``, ``competition_indptr`` and
      ``competition_shape`` (JSON may nest them: ``"competition": {"format": "csr", "data":
      ..., "indices": ..., "indptr": ..., "shape": ...}``);
    - none: no competition key.

Besides the game a file may hold named ``arrays`` (NPZ: further members; JSON: an
``"arrays"`` object) and ``meta``, a JSON object (NPZ: a 0-d string member ``meta``).

NPZ files are plain ``numpy.savez`` archives read with ``allow_pickle=False``; floats go to
JSON through ``repr`` (`json` writes the shortest string that reads back to the same double),
so both formats round-trip exactly. Writes are atomic (`equilibria.atomic.atomic_write`). A
missing, truncated or corrupt file, or one whose contents are no valid game, raises a
`GameFileError` whose one-line message names the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from equilibria.atomic import atomic_write, atomic_write_json
from equilibria.competition import LowRank
from equilibria.competition import to_dense as _to_dense
from equilibria.errors import (
    GameFileError,
    GameFileNotFoundError,
    GameTypeError,
    InvalidOptionError,
)
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain

__all__ = ["FORMATS", "GameFile", "game_from_dict", "game_to_dict", "load_game",
           "read_game_file", "save_game"]

#: File suffixes a game file may have.
FORMATS: tuple[str, ...] = (".json", ".npz")

_SPARSE_KEYS = ("data", "indices", "indptr", "shape")
_GAME_KEYS = frozenset({"benefit", "quadratic_cost", "linear_cost", "bounds", "competition",
                        "factors", "scale", "meta", "arrays",
                        *(f"competition_{k}" for k in _SPARSE_KEYS)})


@dataclass(frozen=True, eq=False)
class GameFile:
    """What a game file holds: the game, further named arrays and the ``meta`` object."""

    game: ParticipationGame
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- to and from dicts
def game_to_dict(game: ParticipationGame, *, dense: bool = False) -> dict[str, Any]:
    """The file layout of `game` (module docstring) as a dict of numpy arrays and floats.

    Parameters
    ----------
    game : ParticipationGame
    dense : bool, default False
        Store any competition (sparse, LowRank, or none: zeros) as a dense N x N matrix.
    """
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be an equilibria.ParticipationGame; got "
                            f"{type(game).__name__}")
    n = game.n_players
    spec: dict[str, Any] = {"benefit": game.benefit, "quadratic_cost": game.quadratic_cost,
                            "linear_cost": np.broadcast_to(game.linear_cost, (n,)).astype(float),
                            "bounds": np.asarray(game.bounds, dtype=float)}
    R = game.competition
    if dense:
        spec["competition"] = _to_dense(R, n)
    elif isinstance(R, LowRank):
        spec["factors"], spec["scale"] = R.factors, float(R.scale)
    elif sp.issparse(R):
        csr = sp.csr_matrix(R)
        spec.update(competition_data=csr.data, competition_indices=csr.indices,
                    competition_indptr=csr.indptr, competition_shape=np.asarray(csr.shape))
    elif R is not None:
        spec["competition"] = np.asarray(R)
    return spec


def game_from_dict(spec: Mapping[str, Any], source: str = "the game") -> ParticipationGame:
    """The `ParticipationGame` a file layout describes (JSON lists or NPZ arrays).

    Raises
    ------
    GameFileError
        Naming `source`, when `spec` is not a mapping with a ``benefit``, a nested low-rank
        competition lacks ``factors``, or the values are no valid game (NaN, shapes, costs).
    """
    if not isinstance(spec, Mapping) or "benefit" not in spec:
        raise GameFileError(f"{source} must hold at least a 'benefit' array")
    try:
        competition = _competition(spec, source)
        bounds = tuple(np.asarray(spec.get("bounds", (0.0, 1.0)), dtype=float).tolist())
        return ParticipationGame(spec["benefit"], spec.get("quadratic_cost", 0.0),
                                 spec.get("linear_cost", 0.0), competition, bounds)
    except GameFileError:
        raise
    except (TypeError, ValueError) as error:
        raise GameFileError(f"game file {source}: {_one_line(str(error))}") from error


def _competition(spec: Mapping[str, Any], source: str) -> Any:
    competition = spec.get("competition")
    if isinstance(competition, Mapping):
        if competition.get("format") == "csr":
            return _csr({k: competition.get(k) for k in _SPARSE_KEYS}, source)
        if "factors" not in competition:
            raise GameFileError(f"{source}: a low-rank 'competition' needs 'factors' (an N x k "
                                "array) and optionally 'scale'")
        return LowRank(np.asarray(competition["factors"], dtype=float),
                       float(competition.get("scale", 1.0)))
    if "factors" in spec:
        return LowRank(np.asarray(spec["factors"], dtype=float),
                       float(np.asarray(spec.get("scale", 1.0))))
    if "competition_data" in spec:
        return _csr({k: spec.get(f"competition_{k}") for k in _SPARSE_KEYS}, source)
    return competition


def _csr(parts: Mapping[str, Any], source: str) -> sp.csr_matrix:
    missing = [k for k, v in parts.items() if v is None]
    if missing:
        raise GameFileError(f"{source}: a sparse competition needs data, indices, indptr and "
                            f"shape (CSR); missing {missing}")
    shape = tuple(int(d) for d in np.asarray(parts["shape"]).ravel())
    return sp.csr_matrix((np.asarray(parts["data"], dtype=float),
                          np.asarray(parts["indices"], dtype=np.int64),
                          np.asarray(parts["indptr"], dtype=np.int64)), shape=shape)


# ---------------------------------------------------------------------------- files
def save_game(path: str | os.PathLike[str], game: ParticipationGame, *,
              arrays: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
              dense: bool = False) -> Path:
    """Write `game` (and named `arrays`, a JSON `meta` object) to a .json or .npz file.

    Parameters
    ----------
    path : path-like
        Ends in ``.json`` or ``.npz``; parent folders are created; written atomically.
    game : ParticipationGame
    arrays : mapping of str to array_like, optional
        Further arrays to keep with the game (e.g. the profile it was solved at); their
        names must differ from the game's keys (module docstring).
    meta : mapping, optional
        Anything `json.dumps` takes after `equilibria.to_plain`.
    dense : bool, default False
        Store the competition as a dense N x N matrix whatever its kind.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    target = Path(path)
    suffix = _suffix(target)
    arrays = dict(arrays or {})
    clash = sorted(set(arrays) & _GAME_KEYS)
    if clash:
        raise InvalidOptionError(f"arrays must not reuse the game file's keys; rename {clash}")
    spec = game_to_dict(game, dense=dense)
    if suffix == ".json":
        atomic_write_json(target, {**spec, "arrays": arrays, "meta": dict(meta or {})},
                          indent=1)
        return target
    members = {**spec, **{k: np.asarray(v) for k, v in arrays.items()},
               "meta": np.asarray(json.dumps(to_plain(dict(meta or {})), sort_keys=True))}
    with atomic_write(target, "wb") as handle:
        np.savez(handle, **members)
    return target


def read_game_file(path: str | os.PathLike[str]) -> GameFile:
    """Read a game file written by `save_game` (or by hand in the same layout).

    Raises
    ------
    GameFileNotFoundError
        When nothing is at `path` (a FileNotFoundError too).
    GameFileError
        For a folder, another suffix, a truncated or corrupt file, or contents that are no
        valid game; the message is one line naming the file.
    """
    source = Path(path)
    if not source.exists():
        raise GameFileNotFoundError(f"no game file at {source}")
    suffix = _suffix(source)
    if not source.is_file():
        raise GameFileError(f"game file {source} is a folder; give a {suffix} file")
    spec = _read_json(source) if suffix == ".json" else _read_npz(source)
    game = game_from_dict(spec, str(source))
    if suffix == ".json":
        arrays = spec.get("arrays") or {}
        meta = spec.get("meta") or {}
        if not isinstance(arrays, Mapping) or not isinstance(meta, Mapping):
            raise GameFileError(f"game file {source}: 'arrays' and 'meta' must be JSON objects")
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
    else:
        arrays = {k: v for k, v in spec.items() if k not in _GAME_KEYS}
        try:
            meta = json.loads(str(spec["meta"])) if "meta" in spec else {}
        except json.JSONDecodeError as error:
            raise GameFileError(f"game file {source}: its 'meta' member is not valid JSON: "
                                f"{error}") from error
    return GameFile(game=game, arrays=dict(arrays), meta=dict(meta))


def load_game(path: str | os.PathLike[str]) -> ParticipationGame:
    """The game in a game file (`read_game_file` without the arrays and meta)."""
    return read_game_file(path).game


def _suffix(path: Path) -> str:
    if path.suffix not in FORMATS:
        raise GameFileError(f"{path} must end in .json or .npz")
    return path.suffix


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GameFileError(f"game file {path} is not valid JSON: {error}") from error


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as error:
        raise GameFileError(f"game file {path} is not a readable NPZ archive "
                            f"({type(error).__name__}: {_one_line(str(error))}); write it "
                            "with numpy.savez or equilibria.io.save_game") from error


def _one_line(message: str) -> str:
    # analysis.arguments.one_line is the CLI's; equilibria cannot import it (layers).
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())
