"""Datasets for pruning experiments, loaded from local files only.

``load(name)`` returns a :class:`DataBundle` of train and test ``TensorDataset``s:

- ``"digits"``: scikit-learn's bundled 8x8 handwritten digits (the embedded default; needs
  nothing else), with a stratified seeded train/test split.
- ``"fashion-mnist"``: Fashion-MNIST (Xiao et al. 2017) from IDX files, by default from
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``).
- ``"mnist"``: MNIST (LeCun et al. 1998) from IDX files in a directory the user gives.

The IDX files are found under their official names, with a dot before ``idx`` as in widely
shared copies, raw or gzipped, and in torchvision's ``MNIST/raw`` / ``FashionMNIST/raw``
folders; `check` verifies they are there and well formed without reading the data.
- ``"synthetic"``: Gaussian inputs labelled by a random teacher network.

Nothing is ever downloaded. Images are float32 tensors of shape (n, C, H, W) in [0, 1] and labels
are int64.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from nets.models import TeacherStudent, teacher_student

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST_DEFAULT_ROOT",
    "IDX_FILES",
    "DataBundle",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "check",
    "idx_spellings",
    "load",
    "read_idx",
    "synthetic_teacher_student",
]

DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "synthetic")
"""Names accepted by :func:`load`."""

FASHION_MNIST_DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the gzipped IDX files."""

IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four IDX file names shared by MNIST and Fashion-MNIST, as the official site spells them.

Each is also accepted with a dot before ``idx`` (``train-images.idx3-ubyte``, as in widely shared
copies) and with or without ``.gz``: see `idx_spellings`."""

_TORCHVISION_FOLDERS: dict[str, str] = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where :func:`load` looked; the message says where to."""


class DatasetFormatError(ValueError):
    """A dataset file exists but its contents are not what the format requires."""


@dataclass(frozen=True, eq=False)
class DataBundle:
    """Train and test splits of one dataset with the metadata models need.

    Attributes
    ----------
    name : str
        The name given to :func:`load`.
    train, test : torch.utils.data.TensorDataset
        ``(inputs, labels)`` pairs: float32 inputs, int64 labels in ``[0, n_classes)``.
    input_shape : tuple of int
        Shape of one input: ``(C, H, W)`` for images, ``(D,)`` for vectors.
    n_classes : int
        Number of classes.
    source : str
        Where the data came from: a directory, or the function that produced it.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    input_shape: tuple[int, ...]
    n_classes: int
    source: str

    def loaders(
        self, batch_size: int = 128, *, seed: int = 0, shuffle_train: bool = True
    ) -> tuple[DataLoader, DataLoader]:
        """Return ``(train_loader, test_loader)``.

        Parameters
        ----------
        batch_size : int
            Examples per batch for both loaders.
        seed : int
            Seed of the ``torch.Generator`` that shuffles the training set: each call with the
            same seed yields the same sequence of epochs.
        shuffle_train : bool
            Shuffle the training set each epoch; the test set is never shuffled.

        Returns
        -------
        tuple of torch.utils.data.DataLoader
            The training and test loaders.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        generator = torch.Generator().manual_seed(seed)
        train_loader = DataLoader(
            self.train, batch_size=batch_size, shuffle=shuffle_train, generator=generator
        )
        test_loader = DataLoader(self.test, batch_size=batch_size, shuffle=False)
        return train_loader, test_loader


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a native-endian numpy array.

    The IDX format (LeCun, Cortes & Burges, "The MNIST database of handwritten digits",
    http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number -- two zero bytes, a type code
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number of
    dimensions -- then one big-endian uint32 per dimension, then the data in row-major order,
    big-endian. Compression is detected from the gzip magic bytes ``1f 8b``, not the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    numpy.ndarray
        A writable array with the header's shape and dtype, in native byte order.

    Raises
    ------
    DatasetNotFoundError
        If ``path`` does not exist.
    DatasetFormatError
        If the gzip stream is corrupt, the magic number or type code is invalid, or the file
        size does not match the dimensions in its header exactly.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"IDX file {path} does not exist or is not a file")
    content = _read_maybe_gzipped(path)
    return _parse_idx(content, path)


def _read_maybe_gzipped(path: Path) -> bytes:
    """Return the bytes of ``path``, decompressed if they start with the gzip magic."""
    content = path.read_bytes()
    if not content.startswith(_GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(
            f"{path} starts with the gzip magic bytes but is not a valid gzip file ({error}); "
            "re-download or re-extract it"
        ) from error


def _parse_header(content: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Decode the IDX header at the start of ``content``: ``(dtype, shape, header size)``.

    ``content`` may be the whole file or only its first bytes; ``path`` is used in messages.
    """
    if len(content) < 4:
        raise DatasetFormatError(f"{path} is {len(content)} bytes, too short for an IDX header")
    if content[0] != 0 or content[1] != 0:
        raise DatasetFormatError(
            f"{path} is not an IDX file: magic number starts with bytes "
            f"{content[0]:#04x} {content[1]:#04x}, expected 0x00 0x00"
        )
    type_code, n_dims = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"{code:#04x}" for code in _IDX_DTYPES)
        raise DatasetFormatError(
            f"{path} has unknown IDX data type code {type_code:#04x}; valid codes are {known}"
        )
    if n_dims == 0:
        raise DatasetFormatError(f"{path} declares 0 dimensions; an IDX array needs at least 1")
    header_size = 4 + 4 * n_dims
    if len(content) < header_size:
        raise DatasetFormatError(
            f"{path} is truncated: {len(content)} bytes cannot hold the header of "
            f"{n_dims} dimensions ({header_size} bytes)"
        )
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=n_dims, offset=4))
    return _IDX_DTYPES[type_code], shape, header_size


def _check_size(path: Path, dtype: np.dtype, shape: tuple[int, ...], header_size: int,
                actual: int) -> None:
    """Raise `DatasetFormatError` unless ``actual`` bytes is what the header declares."""
    expected_size = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if actual != expected_size:
        problem = "truncated" if actual < expected_size else "has extra bytes"
        raise DatasetFormatError(
            f"{path} {problem}: header declares shape {shape} of {dtype.name}, which needs "
            f"{expected_size} bytes, but the (decompressed) file has {actual} bytes"
        )


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    """Decode IDX ``content`` (already decompressed); ``path`` is only used in messages."""
    dtype, shape, header_size = _parse_header(content, path)
    _check_size(path, dtype, shape, header_size, len(content))
    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _idx_shape(path: Path) -> tuple[int, ...]:
    """The shape an IDX file declares, after checking its header and size without reading it.

    The size of a raw file is its length on disk; that of a gzip file is the ISIZE field of its
    trailer (RFC 1952, the uncompressed length modulo 2**32). When ISIZE disagrees (as it may
    for files over 4 GiB or of several gzip members) the whole file is read to decide.
    """
    with path.open("rb") as handle:
        compressed = handle.read(2) == _GZIP_MAGIC
    try:
        if compressed:
            with gzip.open(path, "rb") as stream:
                start = stream.read(4)
                start += stream.read(4 * start[3]) if len(start) == 4 else b""
        else:
            with path.open("rb") as handle:
                start = handle.read(4)
                start += handle.read(4 * start[3]) if len(start) == 4 else b""
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(
            f"{path} starts with the gzip magic bytes but is not a valid gzip file ({error}); "
            "re-download or re-extract it"
        ) from error
    dtype, shape, header_size = _parse_header(start, path)
    if compressed:
        with path.open("rb") as handle:
            handle.seek(-4, os.SEEK_END)
            isize = int.from_bytes(handle.read(4), "little")
        expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if isize != expected % 2**32:
            read_idx(path)  # raises DatasetFormatError with the exact sizes if it is wrong
    else:
        _check_size(path, dtype, shape, header_size, path.stat().st_size)
    return shape


def idx_spellings(stem: str) -> tuple[str, ...]:
    """The file names accepted for the IDX file ``stem`` (a value of `IDX_FILES`), in order.

    ``"train-images-idx3-ubyte"`` gives ``train-images-idx3-ubyte``, ``...-ubyte.gz``,
    ``train-images.idx3-ubyte`` and ``train-images.idx3-ubyte.gz``.

    Parameters
    ----------
    stem : str
        The official name, with a dash before ``idx``.

    Returns
    -------
    tuple of str
        The official name and its dotted variant, each raw and gzipped.
    """
    dotted = re.sub(r"-(idx\d-ubyte)$", r".\1", stem)
    names = (stem,) if dotted == stem else (stem, dotted)
    return tuple(f"{name}{suffix}" for name in names for suffix in ("", ".gz"))


def _candidate_directories(name: str, root: Path | None) -> list[Path]:
    """Directories searched for the IDX files of ``name``, in order."""
    if root is None:
        return [FASHION_MNIST_DEFAULT_ROOT] if name == "fashion-mnist" else []
    return [root, root / _TORCHVISION_FOLDERS[name] / "raw", root / "raw"]


def _find_file(directory: Path, stem: str) -> Path | None:
    """The first existing ``directory / name`` over `idx_spellings` (stem), else None."""
    for name in idx_spellings(stem):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _how_to_get(name: str) -> str:
    """One sentence on how to obtain the files of ``name``."""
    if name == "fashion-mnist":
        return (
            "install them with `apt-get install dataset-fashion-mnist` (puts them in "
            f"{FASHION_MNIST_DEFAULT_ROOT}) or pass root= (--root on the command line) a "
            "directory holding the four IDX files; this tool never downloads anything"
        )
    return (
        "MNIST is not bundled: download the four IDX files yourself (for example from "
        "http://yann.lecun.com/exdb/mnist/ or a mirror) and pass root= (--root on the command "
        "line) their directory; this tool never downloads anything"
    )


def _locate_idx_files(name: str, root: Path | None) -> tuple[Path, dict[str, Path]]:
    """Return the first candidate directory holding all four IDX files, and their paths.

    The `DatasetNotFoundError` is one line: what was wanted, every directory looked in with
    what was missing there (``; ``-separated), and how to obtain the files.
    """
    directories = _candidate_directories(name, root)
    wanted = ", ".join(IDX_FILES.values())
    reports: list[str] = []
    for directory in directories:
        found = {key: _find_file(directory, stem) for key, stem in IDX_FILES.items()}
        missing = [IDX_FILES[key] for key, path in found.items() if path is None]
        if not missing:
            return directory, {key: path for key, path in found.items() if path is not None}
        if directory.is_dir():
            reports.append(f"{directory} (missing {', '.join(missing)})")
        else:
            reports.append(f"{directory} (no such directory)")
    if not reports:
        reports.append(f"nowhere ({name} has no default location, so root= is required)")
    raise DatasetNotFoundError(
        f"could not find the {name} IDX files {wanted} (each also accepted with '.idx' for "
        f"'-idx' and with or without .gz); looked in: {'; '.join(reports)}; "
        f"fix: {_how_to_get(name)}"
    )


def _images_to_tensor(images: np.ndarray, path: Path) -> torch.Tensor:
    """Convert uint8 images (n, H, W) to float32 (n, 1, H, W) in [0, 1]."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetFormatError(
            f"{path} should hold uint8 images of shape (n, height, width), "
            f"got {images.dtype} of shape {images.shape}"
        )
    return torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)


def _labels_to_tensor(labels: np.ndarray, path: Path, n_classes: int) -> torch.Tensor:
    """Convert integer labels (n,) to int64 after checking they lie in ``[0, n_classes)``."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{path} should hold integer labels of shape (n,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetFormatError(
            f"{path} has labels in [{labels.min()}, {labels.max()}], expected 0..{n_classes - 1}"
        )
    return torch.from_numpy(labels.astype(np.int64))


def _load_idx_split(
    images_path: Path, labels_path: Path, n_classes: int, limit: int | None
) -> TensorDataset:
    """Read one split's image and label files, check they agree, keep the first ``limit``."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; the files belong to different datasets or are damaged"
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return TensorDataset(
        _images_to_tensor(images, images_path), _labels_to_tensor(labels, labels_path, n_classes)
    )


def _load_idx_dataset(name: str, root: Path | None, limit: int | None) -> DataBundle:
    """Load MNIST or Fashion-MNIST with the official 60,000/10,000 train/test split."""
    directory, paths = _locate_idx_files(name, root)
    n_classes = 10
    train = _load_idx_split(paths["train_images"], paths["train_labels"], n_classes, limit)
    test = _load_idx_split(paths["test_images"], paths["test_labels"], n_classes, limit)
    train_shape = tuple(train.tensors[0].shape[1:])
    test_shape = tuple(test.tensors[0].shape[1:])
    if train_shape != test_shape:
        raise DatasetFormatError(
            f"train images in {paths['train_images']} have shape {train_shape} but test images "
            f"in {paths['test_images']} have shape {test_shape}"
        )
    return DataBundle(
        name=name,
        train=train,
        test=test,
        input_shape=train_shape,
        n_classes=n_classes,
        source=str(directory),
    )


def _load_digits(test_fraction: float, seed: int, limit: int | None) -> DataBundle:
    """scikit-learn's 8x8 digits with a stratified split (Alpaydin & Kaynak 1998, UCI)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.data.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    try:
        train_x, test_x, train_y, test_y = train_test_split(
            images, labels, test_size=test_fraction, random_state=seed, stratify=labels
        )
    except ValueError as error:
        raise ValueError(
            f"test_fraction={test_fraction} cannot split the 1797 digits stratified over "
            f"10 classes ({error}); use a value between about 0.01 and 0.99"
        ) from error
    if limit is not None:
        train_x, train_y = train_x[:limit], train_y[:limit]
        test_x, test_y = test_x[:limit], test_y[:limit]
    return DataBundle(
        name="digits",
        train=TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y)),
        test=TensorDataset(torch.from_numpy(test_x), torch.from_numpy(test_y)),
        input_shape=(1, 8, 8),
        n_classes=10,
        source="sklearn.datasets.load_digits",
    )


def _synthetic_seeds(seed: int) -> tuple[int, int]:
    """Derive independent (teacher seed, input seed) from ``seed`` with a torch.Generator."""
    generator = torch.Generator().manual_seed(seed)
    teacher_seed, input_seed = torch.randint(0, 2**62, (2,), generator=generator).tolist()
    return int(teacher_seed), int(input_seed)


def synthetic_teacher_student(
    n_features: int = 20,
    n_classes: int = 4,
    *,
    teacher_hidden: int = 8,
    duplicates: int = 4,
    seed: int = 0,
) -> TeacherStudent:
    """The teacher that labels ``load("synthetic", ...)`` and its student with duplicate units.

    With the same ``n_features``, ``n_classes``, ``teacher_hidden`` and ``seed`` as the
    :func:`load` call, ``teacher(inputs).argmax(1)`` reproduces the labels exactly; the teacher
    does not depend on ``duplicates``. See :func:`nets.models.teacher_student` (called with
    ``center_logits=True`` so the classes are roughly balanced).

    Parameters
    ----------
    n_features, n_classes, teacher_hidden : int
        Sizes of the teacher network ``n_features -> teacher_hidden -> n_classes``.
    duplicates : int
        Teacher hidden units planted twice in the student.
    seed : int
        The ``seed`` given to :func:`load`.

    Returns
    -------
    nets.models.TeacherStudent
        Teacher, student and the student's duplicate unit pairs.
    """
    teacher_seed, _ = _synthetic_seeds(seed)
    return teacher_student(
        n_features,
        teacher_hidden,
        n_classes,
        duplicates=duplicates,
        center_logits=True,
        seed=teacher_seed,
    )


def _load_synthetic(
    n_samples: int,
    n_features: int,
    n_classes: int,
    teacher_hidden: int,
    test_fraction: float,
    seed: int,
    limit: int | None,
) -> DataBundle:
    """Teacher-student data: x ~ N(0, I), y = argmax teacher(x); the last part is the test set."""
    for argument, value in (
        ("n_samples", n_samples),
        ("n_features", n_features),
        ("n_classes", n_classes),
        ("teacher_hidden", teacher_hidden),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    n_test = round(n_samples * test_fraction)
    if not 1 <= n_test <= n_samples - 1:
        raise ValueError(
            f"test_fraction={test_fraction} of n_samples={n_samples} leaves an empty train or "
            "test set; increase n_samples or move test_fraction towards 0.5"
        )
    teacher = synthetic_teacher_student(
        n_features, n_classes, teacher_hidden=teacher_hidden, duplicates=0, seed=seed
    ).teacher
    _, input_seed = _synthetic_seeds(seed)
    inputs = torch.randn(n_samples, n_features, generator=torch.Generator().manual_seed(input_seed))
    with torch.no_grad():
        labels = teacher(inputs).argmax(dim=1)
    n_train = n_samples - n_test
    train_x, train_y = inputs[:n_train], labels[:n_train]
    test_x, test_y = inputs[n_train:], labels[n_train:]
    if limit is not None:
        train_x, train_y = train_x[:limit], train_y[:limit]
        test_x, test_y = test_x[:limit], test_y[:limit]
    return DataBundle(
        name="synthetic",
        train=TensorDataset(train_x.clone(), train_y.clone()),
        test=TensorDataset(test_x.clone(), test_y.clone()),
        input_shape=(n_features,),
        n_classes=n_classes,
        source=(
            "nets.data.synthetic_teacher_student("
            f"n_features={n_features}, n_classes={n_classes}, teacher_hidden={teacher_hidden}, "
            f"seed={seed})"
        ),
    )


def _check_load_arguments(name: str, test_fraction: float, limit: int | None) -> None:
    """Validate the arguments shared by every dataset, naming the bad one."""
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset name={name!r}; valid names are {list(DATASET_NAMES)}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float):
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}; "
            "0.25 keeps a quarter of the examples for testing"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")


def check(name: str, root: str | os.PathLike | None = None) -> str:
    """Check that ``load(name, root)`` will find valid files, without reading the data.

    For ``"mnist"`` and ``"fashion-mnist"`` the four IDX files are located as `load` does and
    each header is checked (magic number, type code, dimensions), with the file's size against
    the header (for ``.gz`` files the uncompressed size from the gzip trailer), and that each
    split has as many labels as images. Commands call it before they start any run so that a
    missing or damaged file fails at once, not after hours. ``"digits"`` and ``"synthetic"``
    need no files.

    Parameters
    ----------
    name : {"digits", "fashion-mnist", "mnist", "synthetic"}
        As for `load`.
    root : str, os.PathLike or None
        As for `load`.

    Returns
    -------
    str
        Where `load` will read the data from (`DataBundle.source` for the IDX datasets: the
        directory holding the files).

    Raises
    ------
    ValueError
        For an unknown ``name``.
    DatasetNotFoundError
        If the IDX files are missing; the one-line message lists every directory searched and
        how to obtain the data.
    DatasetFormatError
        If a header is invalid, a file's size does not match its header, or the image and label
        counts of a split disagree.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset name={name!r}; valid names are {list(DATASET_NAMES)}")
    if name == "digits":
        return "sklearn.datasets.load_digits"
    if name == "synthetic":
        return "nets.data.synthetic_teacher_student"
    directory, paths = _locate_idx_files(name, None if root is None else Path(root))
    shapes = {key: _idx_shape(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = shapes[f"{split}_images"], shapes[f"{split}_labels"]
        if images[0] != labels[0]:
            raise DatasetFormatError(
                f"{paths[f'{split}_images']} holds {images[0]} images but "
                f"{paths[f'{split}_labels']} holds {labels[0]} labels; the files belong to "
                "different datasets or are damaged"
            )
    return str(directory)


def load(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    limit: int | None = None,
    n_samples: int = 4000,
    n_features: int = 20,
    n_classes: int = 4,
    teacher_hidden: int = 8,
) -> DataBundle:
    """Load a dataset from local files (never downloads).

    Parameters
    ----------
    name : {"digits", "fashion-mnist", "mnist", "synthetic"}
        ``"digits"``: scikit-learn's bundled 1797 8x8 digits, values 0..16 scaled to [0, 1],
        input shape (1, 8, 8), 10 classes, stratified split by ``test_fraction`` and ``seed``
        (``sklearn.model_selection.train_test_split``).
        ``"fashion-mnist"``: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv 1708.07747),
        28x28 grayscale, 10 classes, official 60,000/10,000 split.
        ``"mnist"``: MNIST (LeCun et al. 1998), same format; needs ``root``.
        ``"synthetic"``: ``n_samples`` inputs ``x ~ N(0, I_{n_features})`` labelled by the
        argmax of a random ReLU teacher ``n_features -> teacher_hidden -> n_classes``
        (:func:`synthetic_teacher_student` returns it); the last ``round(n_samples *
        test_fraction)`` examples form the test set.
    root : str, os.PathLike or None
        For the IDX datasets, a directory searched for ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
        (each also spelled with a dot, ``train-images.idx3-ubyte``, and each raw or ``.gz``:
        `idx_spellings`) in ``root``, then torchvision's layouts ``root/FashionMNIST/raw`` or
        ``root/MNIST/raw``, then ``root/raw``. With ``root=None``,
        Fashion-MNIST is read from ``/usr/share/datasets/fashion-mnist``. Ignored otherwise.
    test_fraction : float
        Fraction of examples in the test set, in (0, 1). Ignored by ``"fashion-mnist"`` and
        ``"mnist"``, which always use their official train/test split.
    seed : int
        Seed of the split (digits) or of the teacher and inputs (synthetic).
    limit : int or None
        Keep only the first ``limit`` train and the first ``limit`` test examples (quick runs).
    n_samples, n_features, n_classes, teacher_hidden : int
        Size of the ``"synthetic"`` dataset and its teacher; ignored by the other datasets.

    Returns
    -------
    DataBundle
        Train and test ``TensorDataset``s with float32 inputs and int64 labels.

    Raises
    ------
    ValueError
        For an unknown ``name`` or an invalid ``test_fraction``, ``limit`` or size.
    DatasetNotFoundError
        If the IDX files are missing; the one-line message lists every directory searched
        and how to obtain the data. `check` finds this out without reading the data.
    DatasetFormatError
        If an IDX file is corrupt or the image and label files disagree.
    """
    _check_load_arguments(name, test_fraction, limit)
    if name == "digits":
        return _load_digits(test_fraction, seed, limit)
    if name == "synthetic":
        return _load_synthetic(
            n_samples, n_features, n_classes, teacher_hidden, test_fraction, seed, limit
        )
    return _load_idx_dataset(name, None if root is None else Path(root), limit)
