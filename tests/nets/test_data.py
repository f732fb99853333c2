"""Tests for nets.data: the IDX reader, file lookup, and each dataset of ``load``."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from nets.data import (
    DATASET_NAMES,
    FASHION_MNIST_DEFAULT_ROOT,
    IDX_FILES,
    DatasetFormatError,
    DatasetNotFoundError,
    check,
    idx_spellings,
    load,
    read_idx,
    synthetic_teacher_student,
)

IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file: magic, big-endian uint32 dims, big-endian data."""
    dtype = array.dtype
    header = bytes([0, 0, IDX_TYPE_CODES[dtype], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` to ``path`` as IDX, gzip-compressed if ``compress``."""
    content = idx_bytes(array)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def tiny_split(rng: np.random.Generator, n: int, size: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images (n, size, size) and labels 0..9 covering every class when n >= 10."""
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def write_mnist_like(directory: Path, *, compress: bool, seed: int = 0, dotted: bool = False
                     ) -> dict[str, np.ndarray]:
    """Write the four IDX files of a tiny MNIST-like dataset; return the arrays written.

    ``dotted`` spells the names as widely shared copies do: ``train-images.idx3-ubyte``.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = tiny_split(rng, 12)
    test_images, test_labels = tiny_split(rng, 7)
    arrays = {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }
    suffix = ".gz" if compress else ""
    for key, array in arrays.items():
        stem = IDX_FILES[key].replace("-idx", ".idx") if dotted else IDX_FILES[key]
        write_idx(directory / f"{stem}{suffix}", array, compress=compress)
    return arrays


# --- read_idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", list(IDX_TYPE_CODES), ids=lambda dtype: dtype.name)
def test_read_idx_round_trips_every_type(tmp_path: Path, dtype: np.dtype, compress: bool) -> None:
    rng = np.random.default_rng(1)
    if dtype.kind == "f":
        array = rng.normal(size=(3, 4, 5)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True, dtype=dtype)
    result = read_idx(write_idx(tmp_path / "array.idx", array, compress=compress))
    assert result.dtype == dtype and result.dtype.isnative
    assert result.shape == (3, 4, 5)
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable


def test_read_idx_detects_gzip_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gzipped_without_suffix = write_idx(tmp_path / "looks-raw", array, compress=True)
    raw_with_gz_suffix = write_idx(tmp_path / "looks-gzipped.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(gzipped_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), array)


def test_read_idx_one_dimensional_labels(tmp_path: Path) -> None:
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "labels", labels)), labels)


def _valid_content() -> bytes:
    return idx_bytes(np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4))


CORRUPTIONS = {
    "bad magic first byte": lambda content: b"\x01" + content[1:],
    "bad magic second byte": lambda content: content[:1] + b"\x08" + content[2:],
    "unknown dtype code": lambda content: content[:2] + b"\x07" + content[3:],
    "uint8 code for float32 data": lambda content: content[:2] + b"\x08" + content[3:],
    "zero dimensions": lambda content: content[:3] + b"\x00" + content[4:],
    "more dimensions than stored": lambda content: content[:3] + b"\x04" + content[4:],
    "truncated data": lambda content: content[:-1],
    "extra bytes": lambda content: content + b"\x00",
    "truncated header": lambda content: content[:10],
    "shorter than magic": lambda content: content[:3],
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_read_idx_rejects_corrupt_files(tmp_path: Path, corruption: str, compress: bool) -> None:
    content = CORRUPTIONS[corruption](_valid_content())
    path = tmp_path / "corrupt-idx"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DatasetFormatError, match="corrupt-idx"):
        read_idx(path)


def test_read_idx_rejects_broken_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(_valid_content())[:-8])
    with pytest.raises(DatasetFormatError, match="gzip"):
        read_idx(path)


def test_read_idx_size_error_states_expected_and_actual_bytes(tmp_path: Path) -> None:
    content = _valid_content()
    path = tmp_path / "short"
    path.write_bytes(content[:-4])
    with pytest.raises(DatasetFormatError, match=rf"truncated.*{len(content)} bytes") as error:
        read_idx(path)
    assert str(len(content) - 4) in str(error.value)


def test_dataset_errors_subclass_standard_errors() -> None:
    assert issubclass(DatasetFormatError, ValueError)
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


# --- MNIST and Fashion-MNIST from IDX files ---------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_load_idx_dataset_from_root(tmp_path: Path, name: str, compress: bool) -> None:
    arrays = write_mnist_like(tmp_path, compress=compress)
    bundle = load(name, root=tmp_path)
    assert bundle.name == name
    assert bundle.n_classes == 10
    assert bundle.input_shape == (1, 6, 6)
    assert bundle.source == str(tmp_path)
    for split, dataset in (("train", bundle.train), ("test", bundle.test)):
        images, labels = dataset.tensors
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        expected_images = arrays[f"{split}_images"][:, None].astype(np.float32) / 255.0
        np.testing.assert_allclose(images.numpy(), expected_images, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(labels.numpy(), arrays[f"{split}_labels"])


@pytest.mark.parametrize(
    ("name", "layout"),
    [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"), ("mnist", "raw")],
)
def test_load_finds_torchvision_layouts(tmp_path: Path, name: str, layout: str) -> None:
    arrays = write_mnist_like(tmp_path / layout, compress=False)
    bundle = load(name, root=tmp_path)
    assert bundle.source == str(tmp_path / layout)
    np.testing.assert_array_equal(bundle.test.tensors[1].numpy(), arrays["test_labels"])


@pytest.mark.parametrize("layout", ["", "MNIST/raw", "FashionMNIST/raw", "raw"],
                         ids=["root", "MNIST-raw", "FashionMNIST-raw", "raw"])
@pytest.mark.parametrize("dotted", [False, True], ids=["dash-idx", "dot-idx"])
@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_every_spelling_and_layout_loads(tmp_path: Path, layout: str, dotted: bool,
                                         compress: bool) -> None:
    name = "fashion-mnist" if layout.startswith("Fashion") else "mnist"
    directory = tmp_path / layout
    arrays = write_mnist_like(directory, compress=compress, dotted=dotted)
    assert check(name, tmp_path) == str(directory)
    bundle = load(name, root=tmp_path)
    assert bundle.source == str(directory)
    for split, dataset in (("train", bundle.train), ("test", bundle.test)):
        np.testing.assert_array_equal(dataset.tensors[1].numpy(), arrays[f"{split}_labels"])
        expected = arrays[f"{split}_images"][:, None].astype(np.float32) / 255.0
        np.testing.assert_allclose(dataset.tensors[0].numpy(), expected, rtol=0, atol=1e-7)


def test_torchvision_folder_of_the_other_dataset_is_not_used(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "MNIST" / "raw", compress=False)
    with pytest.raises(DatasetNotFoundError, match="FashionMNIST"):
        check("fashion-mnist", tmp_path)


def test_idx_spellings() -> None:
    assert idx_spellings("t10k-labels-idx1-ubyte") == (
        "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz",
        "t10k-labels.idx1-ubyte", "t10k-labels.idx1-ubyte.gz")


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("damage", ["truncated", "extra-bytes", "bad-magic", "counts"])
def test_check_finds_damaged_files_without_loading(tmp_path: Path, compress: bool,
                                                   damage: str) -> None:
    arrays = write_mnist_like(tmp_path, compress=False)
    path = tmp_path / IDX_FILES["test_images"]
    content = path.read_bytes()
    if damage == "truncated":
        content = content[:-5]
    elif damage == "extra-bytes":
        content = content + b"\0"
    elif damage == "bad-magic":
        content = b"\x01" + content[1:]
    else:
        path = tmp_path / IDX_FILES["test_labels"]
        content = idx_bytes(arrays["test_labels"][:-1])
    path.write_bytes(content)
    if compress:
        gzipped = path.with_name(path.name + ".gz")
        gzipped.write_bytes(gzip.compress(content))
        path.unlink()
    with pytest.raises(DatasetFormatError) as error:
        check("mnist", tmp_path)
    assert len(str(error.value).splitlines()) == 1
    with pytest.raises(DatasetFormatError):
        load("mnist", root=tmp_path)


def test_check_of_bundled_data_needs_no_files() -> None:
    assert check("digits") == "sklearn.datasets.load_digits"
    assert check("synthetic", "/nonexistent") == "nets.data.synthetic_teacher_student"
    with pytest.raises(ValueError, match="valid names"):
        check("imagenet")


def test_load_idx_ignores_test_fraction_and_applies_limit(tmp_path: Path) -> None:
    arrays = write_mnist_like(tmp_path, compress=True)
    bundle = load("mnist", root=tmp_path, test_fraction=0.9, limit=5)
    assert len(bundle.train) == 5 and len(bundle.test) == 5
    np.testing.assert_array_equal(bundle.train.tensors[1].numpy(), arrays["train_labels"][:5])
    full = load("mnist", root=tmp_path, test_fraction=0.9)
    assert (len(full.train), len(full.test)) == (12, 7)


def test_missing_idx_files_list_every_place_looked(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, compress=False)
    (tmp_path / IDX_FILES["test_labels"]).unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        load("mnist", root=tmp_path)
    message = str(error.value)
    assert len(message.splitlines()) == 1  # shown whole by the command line
    places = message.split("looked in: ")[1].split("; ")
    for place in (tmp_path, tmp_path / "MNIST" / "raw", tmp_path / "raw"):
        assert any(p.startswith(str(place) + " (") for p in places)
    assert IDX_FILES["test_labels"] in message
    assert "root=" in message and "--root" in message and "never downloads" in message


def test_missing_fashion_mnist_says_how_to_install(tmp_path: Path) -> None:
    how_to = "apt-get install dataset-fashion-mnist"
    with pytest.raises(DatasetNotFoundError, match=how_to) as error:
        load("fashion-mnist", root=tmp_path / "absent")
    assert str(tmp_path / "absent" / "FashionMNIST" / "raw") in str(error.value)


def test_mnist_without_root_asks_for_root() -> None:
    with pytest.raises(DatasetNotFoundError, match="root="):
        load("mnist")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    arrays = write_mnist_like(tmp_path, compress=False)
    write_idx(tmp_path / IDX_FILES["train_labels"], arrays["train_labels"][:-1])
    with pytest.raises(DatasetFormatError, match="12 images.*11 labels"):
        load("mnist", root=tmp_path)


def test_labels_must_be_in_range(tmp_path: Path) -> None:
    arrays = write_mnist_like(tmp_path, compress=False)
    bad_labels = arrays["test_labels"].copy()
    bad_labels[0] = 10
    write_idx(tmp_path / IDX_FILES["test_labels"], bad_labels)
    with pytest.raises(DatasetFormatError, match="labels in"):
        load("mnist", root=tmp_path)


def test_images_must_be_uint8(tmp_path: Path) -> None:
    arrays = write_mnist_like(tmp_path, compress=False)
    write_idx(tmp_path / IDX_FILES["train_images"], arrays["train_images"].astype(np.float32))
    with pytest.raises(DatasetFormatError, match="uint8"):
        load("mnist", root=tmp_path)


@pytest.mark.skipif(
    not FASHION_MNIST_DEFAULT_ROOT.is_dir(),
    reason=f"{FASHION_MNIST_DEFAULT_ROOT} missing (apt-get install dataset-fashion-mnist)",
)
def test_installed_fashion_mnist() -> None:
    bundle = load("fashion-mnist", limit=100)
    images, labels = bundle.train.tensors
    assert images.shape == (100, 1, 28, 28) and bundle.test.tensors[0].shape == (100, 1, 28, 28)
    assert bundle.input_shape == (1, 28, 28) and bundle.n_classes == 10
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.5
    assert set(labels.tolist()) <= set(range(10)) and len(set(labels.tolist())) == 10


# --- argument checking ----------------------------------------------------------------------


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="cifar") as error:
        load("cifar")
    assert all(name in str(error.value) for name in DATASET_NAMES)


@pytest.mark.parametrize("test_fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction(test_fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load("digits", test_fraction=test_fraction)


@pytest.mark.parametrize("limit", [0, -3, 2.5])
def test_bad_limit(limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        load("digits", limit=limit)  # type: ignore[arg-type]


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        load("synthetic", n_samples=40).loaders(batch_size=0)


# --- digits ---------------------------------------------------------------------------------


def test_digits_shapes_types_and_range() -> None:
    bundle = load("digits")
    train_images, train_labels = bundle.train.tensors
    test_images, test_labels = bundle.test.tensors
    assert bundle.input_shape == (1, 8, 8) and bundle.n_classes == 10
    assert bundle.source == "sklearn.datasets.load_digits"
    assert len(bundle.train) + len(bundle.test) == 1797
    assert len(bundle.test) == 450  # ceil(0.25 * 1797), sklearn's rounding
    assert train_images.shape[1:] == test_images.shape[1:] == (1, 8, 8)
    assert train_images.dtype == torch.float32 and train_labels.dtype == torch.int64
    assert train_images.min() == 0.0 and train_images.max() == 1.0
    assert test_images.min() >= 0.0 and test_images.max() <= 1.0
    assert set(test_labels.tolist()) == set(range(10))


def test_digits_split_is_stratified() -> None:
    bundle = load("digits", test_fraction=0.3)
    train_counts = torch.bincount(bundle.train.tensors[1], minlength=10).double()
    test_counts = torch.bincount(bundle.test.tensors[1], minlength=10).double()
    expected_test = 0.3 * (train_counts + test_counts)
    assert torch.all((test_counts - expected_test).abs() <= 1.0)


def test_digits_split_depends_only_on_seed() -> None:
    first, again, other = load("digits", seed=3), load("digits", seed=3), load("digits", seed=4)
    for left, right in zip(first.train.tensors, again.train.tensors, strict=True):
        assert torch.equal(left, right)
    assert not torch.equal(first.train.tensors[0], other.train.tensors[0])


def test_digits_limit() -> None:
    bundle = load("digits", limit=30)
    assert len(bundle.train) == 30 and len(bundle.test) == 30


def _first_epoch_labels(loader: torch.utils.data.DataLoader) -> list[int]:
    return [label for _, labels in loader for label in labels.tolist()]


def test_loaders_are_deterministic_under_seed() -> None:
    bundle = load("digits", limit=200)
    train_a, test_a = bundle.loaders(batch_size=32, seed=7)
    train_b, _ = bundle.loaders(batch_size=32, seed=7)
    train_c, _ = bundle.loaders(batch_size=32, seed=8)
    order_a = _first_epoch_labels(train_a)
    assert order_a == _first_epoch_labels(train_b)
    assert order_a != _first_epoch_labels(train_c)
    assert sorted(order_a) == sorted(bundle.train.tensors[1].tolist())
    assert order_a != bundle.train.tensors[1].tolist()  # shuffled
    assert _first_epoch_labels(test_a) == bundle.test.tensors[1].tolist()  # never shuffled
    images, _ = next(iter(train_a))
    assert images.shape == (32, 1, 8, 8)


def test_loaders_without_shuffle_keep_order() -> None:
    bundle = load("digits", limit=100)
    train_loader, _ = bundle.loaders(batch_size=16, shuffle_train=False)
    assert _first_epoch_labels(train_loader) == bundle.train.tensors[1].tolist()


# --- synthetic ------------------------------------------------------------------------------


def test_synthetic_labels_are_teacher_argmax() -> None:
    bundle = load("synthetic", n_samples=600, n_features=7, n_classes=3, seed=5)
    assert bundle.input_shape == (7,) and bundle.n_classes == 3
    assert (len(bundle.train), len(bundle.test)) == (450, 150)
    pair = synthetic_teacher_student(n_features=7, n_classes=3, seed=5)
    for dataset in (bundle.train, bundle.test):
        inputs, labels = dataset.tensors
        assert inputs.dtype == torch.float32 and labels.dtype == torch.int64
        with torch.no_grad():
            assert torch.equal(pair.teacher(inputs).argmax(dim=1), labels)
            assert torch.equal(pair.student(inputs).argmax(dim=1), labels)


def test_synthetic_is_deterministic_under_seed() -> None:
    first = load("synthetic", n_samples=200, seed=11)
    again = load("synthetic", n_samples=200, seed=11)
    other = load("synthetic", n_samples=200, seed=12)
    for left, right in zip(first.test.tensors, again.test.tensors, strict=True):
        assert torch.equal(left, right)
    assert not torch.equal(first.train.tensors[0], other.train.tensors[0])


def test_synthetic_default_uses_every_class_and_standard_inputs() -> None:
    bundle = load("synthetic")
    inputs, labels = bundle.train.tensors
    assert inputs.shape == (3000, 20)
    assert abs(inputs.mean().item()) < 0.05 and abs(inputs.std().item() - 1.0) < 0.05
    class_counts = torch.bincount(torch.cat([labels, bundle.test.tensors[1]]), minlength=4)
    assert class_counts.min() > 0.05 * 4000


def test_synthetic_rejects_empty_split() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load("synthetic", n_samples=3, test_fraction=0.1)
