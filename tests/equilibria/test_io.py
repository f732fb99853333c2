"""Tests of equilibria.io: game files round-trip exactly; broken files are refused in one line."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from equilibria import LowRank, ParticipationGame
from equilibria.errors import GameFileError, GameFileNotFoundError, InvalidOptionError
from equilibria.io import game_from_dict, game_to_dict, load_game, read_game_file, save_game

KINDS = ("none", "dense", "sparse", "lowrank")


def _game(kind: str, n: int, rng: np.random.Generator,
          bounds: tuple[float, float] = (0.0, 1.0)) -> ParticipationGame:
    competition: object = None
    if kind == "dense":
        competition = rng.uniform(0.0, 0.5, (n, n))
    elif kind == "sparse":
        competition = sp.random(n, n, density=0.3, random_state=rng, format="csr")
    elif kind == "lowrank":
        competition = LowRank(rng.normal(size=(n, 2)), float(rng.uniform(0.01, 1.0)))
    return ParticipationGame(rng.normal(size=n), rng.uniform(0.1, 2.0, n),
                             rng.uniform(0.0, 0.2, n), competition, bounds)


def _assert_same(a: ParticipationGame, b: ParticipationGame) -> None:
    for name in ("benefit", "quadratic_cost", "linear_cost"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.bounds == b.bounds
    assert type(a.competition) is type(b.competition)
    if isinstance(a.competition, LowRank):
        np.testing.assert_array_equal(a.competition.factors, b.competition.factors)
        assert a.competition.scale == b.competition.scale
    elif a.competition is not None:
        np.testing.assert_array_equal(sp.csr_matrix(a.competition).toarray(),
                                      sp.csr_matrix(b.competition).toarray())
    s = np.linspace(*a.bounds, a.n_players)
    np.testing.assert_array_equal(a.utilities(s), b.utilities(s))


@seed(20_251_201)
@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(KINDS), suffix=st.sampled_from((".json", ".npz")),
       n=st.integers(1, 12), draw=st.integers(0, 2**32 - 1),
       bounds=st.sampled_from(((0.0, 1.0), (0.0, 2.5), (0.1, 0.9))))
def test_every_competition_kind_round_trips_exactly(tmp_path_factory, kind, suffix, n, draw,
                                                    bounds):
    game = _game(kind, n, np.random.default_rng(draw), bounds)
    path = tmp_path_factory.mktemp("io") / f"game{suffix}"
    profile = np.random.default_rng(draw + 1).uniform(*bounds, n)
    save_game(path, game, arrays={"participation": profile}, meta={"seed": draw, "kind": kind})
    stored = read_game_file(path)
    _assert_same(game, stored.game)
    np.testing.assert_array_equal(stored.arrays["participation"], profile)
    assert stored.meta == {"seed": draw, "kind": kind}
    _assert_same(game, load_game(path))


@pytest.mark.parametrize("kind", KINDS)
def test_dense_storage_keeps_the_game(tmp_path, kind):
    game = _game(kind, 6, np.random.default_rng(3))
    save_game(tmp_path / "g.npz", game, dense=True)
    stored = load_game(tmp_path / "g.npz")
    assert isinstance(stored.competition, np.ndarray)
    s = np.full(6, 0.5)
    np.testing.assert_allclose(stored.utilities(s), game.utilities(s), rtol=1e-12, atol=1e-14)


def test_the_nested_json_forms_of_the_solve_command_are_read(tmp_path):
    theta = np.random.default_rng(0).normal(size=(4, 2))
    spec = {"benefit": [1.0, 0.5, 0.2, 0.1], "quadratic_cost": 1.0,
            "competition": {"factors": theta.tolist(), "scale": 0.1}}
    (tmp_path / "g.json").write_text(json.dumps(spec))
    game = load_game(tmp_path / "g.json")
    assert isinstance(game.competition, LowRank) and game.competition.scale == 0.1
    csr = sp.csr_matrix(np.array([[0, 1.0, 0, 0], [1.0, 0, 0, 0], [0] * 4, [0] * 4]))
    spec["competition"] = {"format": "csr", "data": csr.data.tolist(),
                           "indices": csr.indices.tolist(), "indptr": csr.indptr.tolist(),
                           "shape": [4, 4]}
    assert sp.issparse(game_from_dict(spec).competition)


def test_game_to_dict_of_a_game_without_competition_has_no_competition_key():
    game = _game("none", 3, np.random.default_rng(0))
    assert not {"competition", "factors", "competition_data"} & set(game_to_dict(game))


def test_arrays_may_not_reuse_the_game_keys(tmp_path):
    with pytest.raises(InvalidOptionError, match="benefit"):
        save_game(tmp_path / "g.npz", _game("none", 2, np.random.default_rng(0)),
                  arrays={"benefit": np.zeros(2)})


def _broken_files(tmp_path):
    game = _game("dense", 5, np.random.default_rng(1))
    good = save_game(tmp_path / "good.npz", game)
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"not a zip archive at all")
    with zipfile.ZipFile(tmp_path / "corrupt-member.npz", "w") as archive:
        archive.writestr("benefit.npy", b"\x93NUMPY garbage")
    good_json = save_game(tmp_path / "good.json", game).read_text()
    (tmp_path / "truncated.json").write_text(good_json[: len(good_json) // 2])
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00\x81")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    (tmp_path / "no-factors.json").write_text(json.dumps(
        {"benefit": [1.0], "competition": {"scale": 1.0}}))
    (tmp_path / "nan.json").write_text('{"benefit": [1.0, NaN], "quadratic_cost": 1.0}')
    (tmp_path / "game.txt").write_text("{}")
    np.savez(tmp_path / "bad-meta.npz", benefit=np.ones(2), meta=np.asarray("{not json"))


@pytest.mark.parametrize(("name", "fragment"), [
    ("truncated.npz", "not a readable NPZ archive"),
    ("garbage.npz", "not a readable NPZ archive"),
    ("corrupt-member.npz", "not a readable NPZ archive"),
    ("truncated.json", "not valid JSON"),
    ("binary.json", "not valid JSON"),
    ("folder.json", "is a folder"),
    ("list.json", "'benefit'"),
    ("no-factors.json", "factors"),
    ("nan.json", "NaN"),
    ("game.txt", ".json or .npz"),
    ("bad-meta.npz", "'meta'"),
])
def test_broken_game_files_are_refused_in_one_line(tmp_path, name, fragment):
    _broken_files(tmp_path)
    with pytest.raises(GameFileError) as caught:
        read_game_file(tmp_path / name)
    message = str(caught.value)
    assert fragment in message and str(tmp_path / name) in message
    assert len(message.splitlines()) == 1


def test_a_missing_game_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(GameFileNotFoundError, match="no game file at"):
        load_game(tmp_path / "missing.npz")
    assert issubclass(GameFileNotFoundError, FileNotFoundError)
