"""Reference networks for pruning experiments.

`mlp`, `lenet5` and `teacher_student` are flat :class:`torch.nn.Sequential` chains of ``Linear``,
``Conv2d``, activation, ``BatchNorm2d``, ``MaxPool2d`` and ``Flatten`` modules, which
`nets.attach_gates` handles on its flat fast path. `resnet_cifar`, `resnet18_like`, `vit` and
`mlp_mixer` are nested ``nn.Module`` s (residual adds, LayerNorm, attention, token mixing) whose
players `nets.structure.trace_players` finds by tracing with Torch-Pruning.

Constructors take ``seed``. With ``seed=None`` the modules use PyTorch's default initialization
from the global random number generator, like any ``torch.nn`` layer. With an integer ``seed``
the weights are drawn from a local :class:`torch.Generator` with the same distributions as
PyTorch's defaults (Kaiming-uniform weights with ``a=sqrt(5)``, uniform biases in
``+-1/sqrt(fan_in)``), and the global generator state is left exactly as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "MixerBlock",
    "ResNet",
    "SelfAttention",
    "TeacherStudent",
    "TransformerBlock",
    "lenet5",
    "mlp",
    "mlp_mixer",
    "resnet18_like",
    "resnet_cifar",
    "teacher_student",
    "vit",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
"""Activation names accepted by the constructors, mapped to module factories."""


def _make_activation(activation: str) -> nn.Module:
    """Return a fresh activation module for ``activation`` or raise a ValueError naming it."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not supported; use one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[activation]()


def _check_positive_int(value: int, argument: str) -> None:
    """Raise a ValueError naming ``argument`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")


def _check_positive_ints(values: Sequence[int], argument: str) -> tuple[int, ...]:
    """Return ``values`` as a tuple after checking every entry is a positive integer."""
    values = tuple(values)
    for index, value in enumerate(values):
        _check_positive_int(value, f"{argument}[{index}]")
    return values


def _reset_parameters(layer: nn.Linear | nn.Conv2d, generator: torch.Generator) -> None:
    """Re-draw a layer's parameters with PyTorch's default scheme from ``generator``.

    Weights are Kaiming-uniform with ``a=sqrt(5)`` and biases uniform in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, as in ``nn.Linear.reset_parameters`` and
    ``nn.Conv2d.reset_parameters`` (He et al. 2015, "Delving Deep into Rectifiers").
    """
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
        if layer.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _build(layers: Callable[[], list[nn.Module]], seed: int | None) -> nn.Sequential:
    """Build ``nn.Sequential(*layers())``, seeded locally when ``seed`` is an integer.

    With a seed, construction runs inside :func:`torch.random.fork_rng` so the default
    initialization does not advance the global generator, and every ``Linear``/``Conv2d`` is
    then re-initialized, in order, from ``torch.Generator().manual_seed(seed)``.
    """
    if seed is None:
        return nn.Sequential(*layers())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        model = nn.Sequential(*layers())
    generator = torch.Generator().manual_seed(seed)
    for module in model:
        if isinstance(module, nn.Linear | nn.Conv2d):
            _reset_parameters(module, generator)
    return model


def mlp(
    in_features: int = 784,
    hidden: Sequence[int] = (512, 256),
    out_features: int = 10,
    *,
    activation: str = "relu",
    seed: int | None = None,
    flatten: bool = True,
) -> nn.Sequential:
    """Fully connected classifier: ``[Flatten] (Linear, activation)* Linear``.

    The default is the 784-512-256-10 ReLU network of the paper's MNIST/Fashion-MNIST
    experiments (Shah & Khan 2025, Sec. 5), with 535,818 parameters.

    Parameters
    ----------
    in_features : int
        Input dimension after flattening (784 for 28x28 images, 64 for 8x8 digits).
    hidden : sequence of int
        Widths of the hidden layers, in order; empty gives a linear classifier.
    out_features : int
        Number of outputs (classes).
    activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"}
        Nonlinearity after every hidden ``Linear``.
    seed : int or None
        Seed for a local generator; ``None`` uses the global generator (see module docstring).
    flatten : bool
        Prepend ``nn.Flatten()`` so image batches of shape (B, C, H, W) are accepted.

    Returns
    -------
    torch.nn.Sequential
        A flat chain of modules.

    Raises
    ------
    ValueError
        If a width is not a positive integer or ``activation`` is unknown.
    """
    _check_positive_int(in_features, "in_features")
    _check_positive_int(out_features, "out_features")
    widths = _check_positive_ints(hidden, "hidden")
    _make_activation(activation)

    def layers() -> list[nn.Module]:
        modules: list[nn.Module] = [nn.Flatten()] if flatten else []
        previous = in_features
        for width in widths:
            modules += [nn.Linear(previous, width), _make_activation(activation)]
            previous = width
        modules.append(nn.Linear(previous, out_features))
        return modules

    return _build(layers, seed)


def _pooled_size(size: int, padding: int, kernel_size: int = 5) -> int:
    """Spatial size after a stride-1 convolution with ``padding`` and a 2x2 max-pool."""
    return (size + 2 * padding - kernel_size + 1) // 2


def lenet5(
    in_channels: int = 1,
    n_classes: int = 10,
    *,
    input_size: int = 28,
    channels: Sequence[int] = (6, 16),
    hidden: Sequence[int] = (120, 84),
    batch_norm: bool = False,
    activation: str = "relu",
    seed: int | None = None,
) -> nn.Sequential:
    """LeNet-5-style convolutional classifier (LeCun et al. 1998).

    Layout, with ``act`` the chosen activation and ``[BN]`` present when ``batch_norm``::

        Conv2d(in, c1, 5, padding=2) [BN] act MaxPool2d(2)
        Conv2d(c1, c2, 5, padding=p)  [BN] act MaxPool2d(2)
        Flatten  (Linear act)* for each width in hidden  Linear(.., n_classes)

    ``p = 0`` as in the original network when ``input_size >= 16``; for smaller inputs (such as
    the 8x8 ``digits``) ``p = 2`` so the feature map never shrinks below one pixel: 28x28 gives
    a 16x5x5 map, 8x8 gives 16x2x2. Modern substitutions with respect to LeCun et al. (1998):
    ReLU instead of scaled tanh, max-pooling instead of trainable subsampling, a full C3 table.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for grayscale).
    n_classes : int
        Number of outputs.
    input_size : int
        Height (= width) of the square input images; at least 4.
    channels : pair of int
        Output channels of the two convolutions.
    hidden : sequence of int
        Widths of the fully connected hidden layers.
    batch_norm : bool
        Insert ``BatchNorm2d`` after each convolution (Conv, BN, act, pool).
    activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"}
        Nonlinearity after each convolution and hidden ``Linear``.
    seed : int or None
        Seed for a local generator; ``None`` uses the global generator.

    Returns
    -------
    torch.nn.Sequential
        A flat chain of modules (61,706 parameters for the defaults).

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``channels`` is not a pair, ``input_size`` is too
        small, or ``activation`` is unknown.
    """
    _check_positive_int(in_channels, "in_channels")
    _check_positive_int(n_classes, "n_classes")
    _check_positive_int(input_size, "input_size")
    conv_channels = _check_positive_ints(channels, "channels")
    if len(conv_channels) != 2:
        raise ValueError(f"channels must be a pair (c1, c2), got {tuple(channels)!r}")
    widths = _check_positive_ints(hidden, "hidden")
    _make_activation(activation)
    second_padding = 2 if input_size < 16 else 0
    final_size = _pooled_size(_pooled_size(input_size, 2), second_padding)
    if final_size < 1:
        raise ValueError(f"input_size={input_size} is too small for LeNet-5; use at least 4")

    def layers() -> list[nn.Module]:
        modules: list[nn.Module] = []
        previous = in_channels
        for out_channels, padding in zip(conv_channels, (2, second_padding), strict=True):
            modules.append(nn.Conv2d(previous, out_channels, kernel_size=5, padding=padding))
            if batch_norm:
                modules.append(nn.BatchNorm2d(out_channels))
            modules += [_make_activation(activation), nn.MaxPool2d(2)]
            previous = out_channels
        modules.append(nn.Flatten())
        previous = conv_channels[1] * final_size * final_size
        for width in widths:
            modules += [nn.Linear(previous, width), _make_activation(activation)]
            previous = width
        modules.append(nn.Linear(previous, n_classes))
        return modules

    return _build(layers, seed)


@dataclass(frozen=True, eq=False)
class TeacherStudent:
    """A teacher MLP and a wider student computing the same function.

    Attributes
    ----------
    teacher : torch.nn.Sequential
        ``Linear(n_features, h) ReLU Linear(h, n_classes)``.
    student : torch.nn.Sequential
        ``Linear(n_features, h + d) ReLU Linear(h + d, n_classes)``: hidden units ``0..h-1`` are
        the teacher's, units ``h..h+d-1`` are exact copies of teacher units ``0..d-1``.
    duplicate_pairs : tuple of (int, int)
        ``(original, copy)`` indices into the student's hidden layer.
    """

    teacher: nn.Sequential
    student: nn.Sequential
    duplicate_pairs: tuple[tuple[int, int], ...]


def _center_logits(hidden_layer: nn.Linear, output_layer: nn.Linear) -> None:
    """Shift ``output_layer.bias`` so ``Linear-ReLU-Linear`` has zero mean logits on N(0, I).

    A hidden pre-activation ``z = w.x + b`` with ``x ~ N(0, I)`` is ``N(b, |w|^2)``, and
    ``E[relu(z)] = b Phi(b/sigma) + sigma phi(b/sigma)`` (the mean of a rectified Gaussian), so
    the mean logits are ``W2 E[relu(z)] + b2`` exactly; they are subtracted from ``b2``.
    """
    with torch.no_grad():
        sigma = hidden_layer.weight.norm(dim=1)
        bias = hidden_layer.bias
        safe_sigma = sigma.clamp_min(torch.finfo(sigma.dtype).tiny)
        ratio = bias / safe_sigma
        standard_normal = torch.distributions.Normal(0.0, 1.0)
        rectified_mean = bias * standard_normal.cdf(ratio) + safe_sigma * torch.exp(
            standard_normal.log_prob(ratio)
        )
        rectified_mean = torch.where(sigma > 0, rectified_mean, bias.clamp_min(0.0))
        output_layer.bias.copy_(-(output_layer.weight @ rectified_mean))


def teacher_student(
    n_features: int = 20,
    teacher_hidden: int = 8,
    n_classes: int = 4,
    *,
    duplicates: int = 4,
    center_logits: bool = False,
    seed: int | None = None,
) -> TeacherStudent:
    """Teacher MLP and a student with planted duplicate hidden units.

    The student has ``teacher_hidden + duplicates`` ReLU units: the teacher's units followed by
    copies (same incoming weights and bias) of teacher units ``0..duplicates-1``. The outgoing
    weights of each original/copy pair are the teacher's halved, so the student computes the
    teacher's function exactly (halving is exact in floating point). Such redundant units are
    the textbook case pruning should remove: either member of a pair can be dropped, after
    doubling the other's outgoing weights, without changing the function (the redundancy that
    the competition term of Shah & Khan 2025, Eq. 10, is meant to detect).

    Parameters
    ----------
    n_features : int
        Input dimension.
    teacher_hidden : int
        Hidden width of the teacher.
    n_classes : int
        Number of outputs.
    duplicates : int
        Number of teacher units planted twice in the student; ``0 <= duplicates <=
        teacher_hidden``.
    center_logits : bool
        Set the teacher's output bias so every logit has mean zero for standard Gaussian inputs
        (closed form, see :func:`_center_logits`). Without it a random ReLU teacher's argmax
        labels are very unbalanced, often with empty classes; with it they are roughly balanced.
        The student gets the same output bias, so the two still agree exactly.
    seed : int or None
        Seed for the teacher's weights; the student adds no randomness.

    Returns
    -------
    TeacherStudent
        The two networks and the ``(original, copy)`` index pairs.

    Raises
    ------
    ValueError
        If a size is not a positive integer or ``duplicates`` is out of range.
    """
    _check_positive_int(teacher_hidden, "teacher_hidden")
    if isinstance(duplicates, bool) or not isinstance(duplicates, int):
        raise ValueError(f"duplicates must be an integer, got {duplicates!r}")
    if not 0 <= duplicates <= teacher_hidden:
        raise ValueError(
            f"duplicates={duplicates} must be between 0 and teacher_hidden={teacher_hidden}"
        )
    teacher = mlp(n_features, (teacher_hidden,), n_classes, seed=seed, flatten=False)
    if center_logits:
        _center_logits(teacher[0], teacher[2])
    student_hidden = teacher_hidden + duplicates
    student = _build(
        lambda: [
            nn.Linear(n_features, student_hidden),
            nn.ReLU(),
            nn.Linear(student_hidden, n_classes),
        ],
        seed=0,  # overwritten below; a seed keeps the global generator untouched
    )
    teacher_in, teacher_out = teacher[0], teacher[2]
    student_in, student_out = student[0], student[2]
    originals = torch.arange(duplicates)
    copies = torch.arange(teacher_hidden, student_hidden)
    with torch.no_grad():
        student_in.weight.copy_(torch.cat([teacher_in.weight, teacher_in.weight[originals]]))
        student_in.bias.copy_(torch.cat([teacher_in.bias, teacher_in.bias[originals]]))
        outgoing = torch.cat([teacher_out.weight, teacher_out.weight[:, originals]], dim=1)
        outgoing[:, originals] /= 2
        outgoing[:, copies] /= 2
        student_out.weight.copy_(outgoing)
        student_out.bias.copy_(teacher_out.bias)
    pairs = tuple((int(i), int(j)) for i, j in zip(originals, copies, strict=True))
    return TeacherStudent(teacher=teacher, student=student, duplicate_pairs=pairs)


# --------------------------------------------------------------------------- nested models


def _seeded(build: Callable[[], nn.Module], seed: int | None) -> nn.Module:
    """``build()``, drawn from ``torch.manual_seed(seed)`` inside a forked generator state.

    With ``seed=None`` the global generator is used (like any ``torch.nn`` layer); with an int
    the global generator state is left exactly as it was. Unlike `_build` the layers keep
    PyTorch's own initializers (in construction order), which is what a nested model's
    ``__init__`` draws.
    """
    if seed is None:
        return build()
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class BasicBlock(nn.Module):
    """The two-convolution residual block of He et al. (2016), "Deep residual learning for
    image recognition", CVPR: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    The shortcut is the identity when the shape is kept, else option B of the paper (a 1x1
    convolution with stride and a BatchNorm).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A stem convolution, stages of `BasicBlock` s, global average pooling and a Linear head."""

    def __init__(self, in_channels: int, widths: Sequence[int], blocks: Sequence[int],
                 num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers: list[nn.Module] = []
        previous = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(previous, width, stride))
                previous = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.pool(self.layers(out))
        return self.fc(torch.flatten(out, 1))


def _check_image(in_channels: int, num_classes: int, input_size: int) -> None:
    _check_positive_int(in_channels, "in_channels")
    _check_positive_int(num_classes, "num_classes")
    _check_positive_int(input_size, "input_size")


def resnet_cifar(depth: int = 20, width: int = 16, in_channels: int = 1, num_classes: int = 10,
                 *, input_size: int = 28, seed: int | None = None) -> ResNet:
    """The CIFAR ResNet family of He et al. (2016, Sec. 4.2): ResNet-20/32/44/56/110.

    ``depth = 6n + 2``: a 3x3 stem convolution, three stages of n `BasicBlock` s with
    ``width, 2 width, 4 width`` channels (stride 2 at the start of stages 2 and 3, option-B
    shortcuts), global average pooling and a Linear head. ResNet-20 with width 16 has 0.27 M
    parameters; ``depth=8, width=4`` is a toy for tests.

    Parameters
    ----------
    depth : int, default 20
        ``6n + 2`` with n >= 1.
    width : int, default 16
        Channels of the first stage.
    in_channels, num_classes : int
    input_size : int, default 28
        Height (= width) of square inputs (28 for MNIST-like data, 32 for CIFAR, 8 for digits);
        the global pooling makes any size >= 4 work.
    seed : int or None
        Seed of `_seeded`.
    """
    _check_positive_int(depth, "depth")
    if (depth - 2) % 6 != 0 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110); got "
                         f"{depth}")
    _check_positive_int(width, "width")
    _check_image(in_channels, num_classes, input_size)
    if input_size < 4:
        raise ValueError(f"input_size must be >= 4 (two stride-2 stages); got {input_size}")
    n = (depth - 2) // 6
    return _seeded(lambda: ResNet(in_channels, (width, 2 * width, 4 * width), (n, n, n),
                                  num_classes), seed)


def resnet18_like(width: int = 64, in_channels: int = 1, num_classes: int = 10, *,
                  input_size: int = 28, seed: int | None = None) -> ResNet:
    """A ResNet-18-shaped network (He et al. 2016, Table 1): four stages of two `BasicBlock` s
    with ``width, 2 width, 4 width, 8 width`` channels, with a CIFAR-style 3x3 stem (no max
    pool) for small inputs. ``width=64`` gives 11.2 M parameters; small widths give toys.

    Parameters
    ----------
    width : int, default 64
    in_channels, num_classes, input_size, seed
        As in `resnet_cifar` (input_size >= 8: three stride-2 stages).
    """
    _check_positive_int(width, "width")
    _check_image(in_channels, num_classes, input_size)
    if input_size < 8:
        raise ValueError(f"input_size must be >= 8 (three stride-2 stages); got {input_size}")
    return _seeded(lambda: ResNet(in_channels, tuple(width * f for f in (1, 2, 4, 8)),
                                  (2, 2, 2, 2), num_classes), seed)


class SelfAttention(nn.Module):
    """Multi-head self-attention with explicit ``q_proj``, ``k_proj``, ``v_proj`` and
    ``out_proj`` Linear layers (Vaswani et al. 2017, "Attention is all you need", Eq. 1 and the
    multi-head form), so each head is a prunable player: head h owns rows
    ``h d .. (h+1) d - 1`` of the three projections and the same columns of ``out_proj``.

    ``nets.structure.trace_players`` treats any module with an int ``num_heads``, an int
    ``head_dim`` and these four Linear children the same way.
    """

    def __init__(self, dim: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner = num_heads * head_dim
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, tokens, -1, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(batch, tokens, -1)
        return self.out_proj(out)


class _FeedForward(nn.Module):
    """``fc2(gelu(fc1(x)))``: the hidden units of ``fc1`` are players."""

    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim if out is None else out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerBlock(nn.Module):
    """A pre-norm Transformer encoder block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, mlp_hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads, head_dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = _FeedForward(dim, mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class _PatchEmbed(nn.Module):
    """Non-overlapping patches, linearly embedded: (B, C, H, W) -> (B, tokens, dim)."""

    def __init__(self, in_channels: int, dim: int, patch: int, input_size: int) -> None:
        super().__init__()
        if input_size % patch != 0:
            raise ValueError(f"input_size={input_size} must be a multiple of patch={patch}")
        self.proj = nn.Conv2d(in_channels, dim, patch, patch)
        self.tokens = (input_size // patch) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _ViT(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, input_size: int, patch: int,
                 dim: int, depth: int, num_heads: int, head_dim: int, mlp_hidden: int) -> None:
        super().__init__()
        self.embed = _PatchEmbed(in_channels, dim, patch, input_size)
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.embed.tokens, dim))
        self.blocks = nn.Sequential(*[TransformerBlock(dim, num_heads, head_dim, mlp_hidden)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.embed(x) + self.pos)
        return self.head(self.norm(x).mean(dim=1))


def vit(in_channels: int = 1, num_classes: int = 10, *, input_size: int = 28, patch: int = 7,
        dim: int = 32, depth: int = 2, num_heads: int = 4, head_dim: int = 8,
        mlp_hidden: int = 64, seed: int | None = None) -> nn.Module:
    """A small Vision Transformer classifier (Dosovitskiy et al. 2021, "An image is worth 16x16
    words", ICLR), mean-pooled instead of a class token.

    Patch embedding (a ``patch x patch`` stride-``patch`` convolution), a learned position
    embedding, ``depth`` pre-norm `TransformerBlock` s (`SelfAttention` heads and GELU MLPs),
    a final LayerNorm, mean over tokens and a Linear head. Players (`nets.structure`): the
    attention heads and the MLP hidden units; the embedding width is not a player (every
    LayerNorm mixes it).

    Parameters
    ----------
    in_channels, num_classes : int
    input_size : int, default 28
        A multiple of ``patch`` (8 with ``patch=2`` or 4 for digits).
    patch, dim, depth, num_heads, head_dim, mlp_hidden : int
    seed : int or None
        Seed of `_seeded`.
    """
    _check_image(in_channels, num_classes, input_size)
    for value, name in ((patch, "patch"), (dim, "dim"), (depth, "depth"),
                        (num_heads, "num_heads"), (head_dim, "head_dim"),
                        (mlp_hidden, "mlp_hidden")):
        _check_positive_int(value, name)
    return _seeded(lambda: _ViT(in_channels, num_classes, input_size, patch, dim, depth,
                                num_heads, head_dim, mlp_hidden), seed)


class MixerBlock(nn.Module):
    """An MLP-Mixer block (Tolstikhin et al. 2021, "MLP-Mixer", NeurIPS): a token-mixing MLP
    across patches and a channel-mixing MLP across features, each pre-norm with a residual."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.token_mlp = _FeedForward(tokens, token_hidden)
        self.ln2 = nn.LayerNorm(dim)
        self.channel_mlp = _FeedForward(dim, channel_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.ln1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.ln2(x))


class _Mixer(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, input_size: int, patch: int,
                 dim: int, depth: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.embed = _PatchEmbed(in_channels, dim, patch, input_size)
        self.blocks = nn.Sequential(*[
            MixerBlock(self.embed.tokens, dim, token_hidden, channel_hidden)
            for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.embed(x))).mean(dim=1))


def mlp_mixer(in_channels: int = 1, num_classes: int = 10, *, input_size: int = 28,
              patch: int = 7, dim: int = 32, depth: int = 2, token_hidden: int = 16,
              channel_hidden: int = 64, seed: int | None = None) -> nn.Module:
    """A small MLP-Mixer classifier (Tolstikhin et al. 2021).

    Patch embedding, ``depth`` `MixerBlock` s, a final LayerNorm, mean over tokens and a Linear
    head. Players (`nets.structure`): the hidden units of the token-mixing and channel-mixing
    MLPs; the embedding width is not a player (every LayerNorm mixes it).

    Parameters
    ----------
    in_channels, num_classes, input_size, patch, dim, depth : int
        As in `vit`.
    token_hidden, channel_hidden : int
        Hidden widths of the token-mixing and channel-mixing MLPs.
    seed : int or None
    """
    _check_image(in_channels, num_classes, input_size)
    for value, name in ((patch, "patch"), (dim, "dim"), (depth, "depth"),
                        (token_hidden, "token_hidden"), (channel_hidden, "channel_hidden")):
        _check_positive_int(value, name)
    return _seeded(lambda: _Mixer(in_channels, num_classes, input_size, patch, dim, depth,
                                  token_hidden, channel_hidden), seed)
