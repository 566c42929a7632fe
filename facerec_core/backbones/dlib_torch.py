"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

The weights are read straight from dlib's own serialization of the network, so dlib is not
needed to load or run the model. The network is ``anet_type`` of dlib's
``examples/dnn_face_recognition_ex.cpp``::

    input_rgb_image_sized<150> -> con 7x7/2 (32) -> affine -> relu -> max_pool 3x3/2
    -> 3 x res(32) -> res_down(64), 3 x res(64) -> res_down(128), 2 x res(128)
    -> res_down(256), 2 x res(256) -> res_down(256) -> avg_pool_everything -> fc_no_bias(128)

A residual unit is ``relu(x + affine(con3x3(relu(affine(con3x3/s(x))))))``; a down unit uses
stride 2 and adds ``avg_pool 2x2/2 (x)`` instead of ``x``. Stride-2 layers have no padding,
so the two branches of a down unit may differ in size: dlib's ``add_prev`` then adds them
top-left aligned into a tensor of the larger size (the missing values count as zero); the
extra channels of the wider branch are handled the same way. :class:`DlibFaceResNet` does the same.

The descriptor is computed on a 150x150 RGB chip aligned as ``dlib.get_face_chip(image, shape,
size=150, padding=0.25)`` does; the output is dlib's raw (not normalized) 128-d vector.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelNotFoundError
from .dlib_models import DESCRIPTOR_FILE, dlib_model_dir

log = logging.getLogger(__name__)

CHIP_SIZE = 150
EMBEDDING_SIZE = 128

# (filters, downsample) of each residual unit, from the input up.
UNITS: tuple[tuple[int, bool], ...] = (
    (32, False), (32, False), (32, False),
    (64, True), (64, False), (64, False), (64, False),
    (128, True), (128, False), (128, False),
    (256, True), (256, False), (256, False),
    (256, True),
)


# ---------------------------------------------------------------------------------------------
# dlib serialization (dlib/serialize.h, dlib/dnn/core.h, layers.h, tensor.h)
#
# The file is ``serialize(net)`` of the loss layer. Every wrapper (add_layer, tag, skip) writes
# its version and then its subnetwork *before* its own layer, so the file holds all wrapper
# versions top-down, then the input layer, then each layer's details bottom-up. A layer's details
# are its name-and-version string and its fields; add_layer follows them with three bools
# (ASCII '0'/'1') and three tensors (gradients and cached outputs, empty here). In this file the
# batch-norm layers were already converted to ``affine_`` (gamma, beta) before saving.


class DlibFormatError(ValueError):
    """The bytes are not the dlib serialization we expect."""


class _Reader:
    """Reads dlib's ``serialize()`` primitives from a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        """An integer: a control byte (bit 7 = negative, low 4 bits = byte count), then LE bytes."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        """A float/double, stored as ``float_details``: int64 mantissa, int16 exponent."""
        mantissa, exponent = self.integer(), self.integer()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def flag(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def string(self) -> str:
        return self._take(self.integer()).decode("latin-1")

    def expect_int(self, value: int, what: str) -> None:
        got = self.integer()
        if got != value:
            raise DlibFormatError(f"{what}: expected version {value}, found {got} at byte {self.pos}")

    def expect_str(self, value: str) -> None:
        start = self.pos
        got = self.string()
        if got != value:
            raise DlibFormatError(f"expected layer {value!r}, found {got[:40]!r} at byte {start}")

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: version 2, (n, k, nr, nc), then little-endian float32 data."""
        self.expect_int(2, "tensor")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An ``alias_tensor``: version 1, then its (n, k, nr, nc) shape."""
        self.expect_int(1, "alias_tensor")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _layer_sequence() -> list[str]:
    """The wrappers of ``anet_type`` from the input up: a layer name, 'tag' or 'skip'."""
    seq = ["con", "affine", "relu", "max_pool"]
    for _, down in UNITS:
        seq += ["tag", "con", "affine", "relu", "con", "affine"]
        seq += ["tag", "skip", "avg_pool", "add_prev", "relu"] if down else ["add_prev", "relu"]
    return seq + ["avg_pool", "fc"]


def _read_layer(r: _Reader, kind: str) -> dict:
    """The ``details`` of one layer; returns its weights (if any)."""
    if kind == "con":
        r.expect_str("con_4")
        params = r.tensor().ravel()
        num_filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride, _ = r.integer(), r.integer()
        padding, _ = r.integer(), r.integer()
        shape = r.alias_tensor()
        r.alias_tensor()  # biases
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        size = int(np.prod(shape))
        if shape[0] != num_filters or shape[2:] != (nr, nc) or params.size != size + num_filters:
            raise DlibFormatError(f"con_ shapes do not agree: {shape}, {params.size} params")
        return {"weight": params[:size].reshape(shape), "bias": params[size:],
                "stride": stride, "padding": padding}
    if kind == "affine":
        r.expect_str("affine_")
        params = r.tensor().ravel()
        gamma, beta = r.alias_tensor(), r.alias_tensor()
        r.integer()  # mode (conv)
        n = int(np.prod(gamma))
        if params.size != n + int(np.prod(beta)):
            raise DlibFormatError("affine_ shapes do not agree")
        return {"weight": params[:n], "bias": params[n:]}
    if kind == "fc":
        r.expect_str("fc_2")
        num_outputs, num_inputs = r.integer(), r.integer()
        params = r.tensor().ravel()
        r.alias_tensor()  # weights
        r.alias_tensor()  # biases
        if r.integer() != 1 or params.size != num_inputs * num_outputs:  # FC_NO_BIAS
            raise DlibFormatError("expected fc_no_bias")
        for _ in range(4):
            r.real()
        # dlib computes x @ W with W stored (num_inputs, num_outputs)
        return {"weight": params.reshape(num_inputs, num_outputs).T.copy()}
    if kind in ("max_pool", "avg_pool"):
        r.expect_str(kind + "_2")
        size, stride, padding = [(r.integer(), r.integer()) for _ in range(3)]
        return {"size": size, "stride": stride, "padding": padding}
    r.expect_str(kind + "_")  # relu_, add_prev_
    return {}


def read_dlib_resnet(path: str | Path) -> dict[str, torch.Tensor]:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` into a :class:`DlibFaceResNet` state dict.

    Raises :class:`DlibFormatError` when the file is not that network in dlib's format.
    """
    r = _Reader(Path(path).read_bytes())
    # loss_metric: version, details, then the network from the top down: each wrapper writes
    # its version before its subnetwork, and its details after.
    r.expect_int(1, "add_loss_layer")
    r.expect_str("loss_metric_2")
    r.real()  # margin
    r.real()  # distance threshold
    seq = _layer_sequence()
    for i, kind in enumerate(reversed(seq)):
        r.expect_int(1 if kind in ("tag", "skip") else 3 if i == len(seq) - 1 else 2, f"{kind} wrapper")
    r.expect_str("input_rgb_image_sized")
    mean = [r.real() for _ in range(3)]
    if (r.integer(), r.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError("input is not 150x150")

    layers: list[tuple[str, dict]] = []
    for i, kind in enumerate(seq):
        if kind in ("tag", "skip"):
            continue
        layers.append((kind, _read_layer(r, kind)))
        for _ in range(3):  # setup called, gradient stale, output disabled
            r.flag()
        for _ in range(3):  # x_grad, cached_output, params_grad / grad_final
            r.tensor()
        if i == 0:
            r.integer()  # sample expansion factor of the input wrapper
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} bytes left after the network")

    convs = [d for k, d in layers if k == "con"]
    affines = [d for k, d in layers if k == "affine"]
    pools = [d for k, d in layers if k in ("max_pool", "avg_pool")]
    # max_pool 3x3/2, four avg_pool 2x2/2, avg_pool_everything (size 0 = the whole map)
    expected_pools = [((3, 3), (2, 2))] + [((2, 2), (2, 2))] * 4 + [((0, 0), (1, 1))]
    found_pools = [(p["size"], p["stride"]) for p in pools]
    if found_pools != expected_pools or any(p["padding"] != (0, 0) for p in pools):
        raise DlibFormatError(f"unexpected pooling layers {pools}")
    state: dict[str, torch.Tensor] = {"mean": torch.tensor(mean, dtype=torch.float32)}
    names = ["stem"] + [f"units.{u}.conv{j}" for u in range(len(UNITS)) for j in (1, 2)]
    strides = [2] + [s for _, down in UNITS for s in (2 if down else 1, 1)]
    for name, stride, con, aff in zip(names, strides, convs, affines, strict=True):
        expected = (stride, 0 if stride == 2 else con["weight"].shape[-1] // 2)
        if (con["stride"], con["padding"]) != expected:
            raise DlibFormatError(f"{name}: stride, padding {con['stride']}, {con['padding']}; "
                                  f"expected {expected}")
        # fold the conv bias into the affine layer: g * (conv(x) + b) + beta
        g = aff["weight"]
        state[f"{name}.weight"] = torch.from_numpy(con["weight"] * g[:, None, None, None])
        state[f"{name}.bias"] = torch.from_numpy(g * con["bias"] + aff["bias"])
    state["fc.weight"] = torch.from_numpy(layers[-1][1]["weight"])
    return state


# ---------------------------------------------------------------------------------------------
# the network


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: ``a + b`` in the larger shape, top-left aligned, zero elsewhere."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:]))

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, [0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]])

    return grow(a) + grow(b)


class _Unit(nn.Module):
    """One residual unit; the convolutions carry dlib's affine (frozen batch-norm) folded in."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(_add_padded(y, F.avg_pool2d(x, 2) if self.down else x))


class DlibFaceResNet(nn.Module):
    """dlib's 29-conv face ResNet: ``(N, 150, 150, 3)`` uint8 RGB chips -> ``(N, 128)`` float32.

    Build it with :func:`load_dlib_resnet`; the output is dlib's raw descriptor (not normalized).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(3))
        self.stem = nn.Conv2d(3, 32, 7, stride=2)
        units, cin = [], 32
        for cout, down in UNITS:
            units.append(_Unit(cin, cout, down))
            cin = cout
        self.units = nn.Sequential(*units)
        self.fc = nn.Linear(cin, EMBEDDING_SIZE, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """``chips``: ``(N, 150, 150, 3)`` RGB, uint8 or float in 0..255."""
        if chips.ndim != 4 or tuple(chips.shape[1:]) != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) chips, got {tuple(chips.shape)}")
        x = (chips.to(self.mean.dtype) - self.mean) / 256.0
        x = x.permute(0, 3, 1, 2)  # NCHW shape over NHWC (channels_last) memory
        if not self.stem.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous()
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.units(x)
        return self.fc(x.mean(dim=(2, 3)))

    @torch.inference_mode()
    def compute(self, chips: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Descriptors of ``(N, 150, 150, 3)`` uint8 chips (or one ``(150, 150, 3)`` chip) as a
        ``(N, 128)`` float32 array, run in batches of ``batch_size``."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        device = self.mean.device
        out = [self(torch.from_numpy(np.ascontiguousarray(chips[i:i + batch_size])).to(device)).cpu()
               for i in range(0, len(chips), batch_size)]
        if not out:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return torch.cat(out).numpy().astype(np.float32, copy=False)


def default_model_path() -> Path:
    """Where ``face_recognition_models`` keeps the descriptor file (found without importing it)."""
    return dlib_model_dir() / DESCRIPTOR_FILE


def load_dlib_resnet(path: str | Path | None = None, device: str | torch.device | None = None,
                     channels_last: bool = False) -> DlibFaceResNet:
    """Build :class:`DlibFaceResNet` in eval mode from dlib's ``.dat`` file.

    ``path`` defaults to :func:`default_model_path`; ``device`` is e.g. ``"cpu"`` or ``"cuda"``
    (default cpu). Raises :class:`ModelNotFoundError` when the file is missing or does not parse.
    """
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelNotFoundError(f"dlib-torch: {path} is missing")
    try:
        state = read_dlib_resnet(path)
        model = DlibFaceResNet()
        model.load_state_dict(state)
    except (ValueError, RuntimeError, OSError) as exc:  # DlibFormatError is a ValueError
        raise ModelNotFoundError(f"dlib-torch: {path} is not dlib's face ResNet: {exc}") from exc
    model.eval().requires_grad_(False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.to(torch.device(device) if device is not None else "cpu")
    log.info("dlib-torch: loaded %s (%d parameters) on %s", path.name,
             sum(p.numel() for p in model.parameters()), model.mean.device)
    return model
