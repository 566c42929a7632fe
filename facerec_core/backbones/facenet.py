"""FaceNet backbones on facenet-pytorch's ``InceptionResnetV1``.

- ``facenet``: David Sandberg's 20170512-110547 release (128-d, MS-Celeb-1M), converted
  offline from its Keras file (see :mod:`.keras_facenet`). The default.
- ``facenet-vggface2`` / ``facenet-casia``: facenet-pytorch's 512-d releases, downloaded by
  facenet-pytorch when online or read from a local state dict named by a setting.
"""
from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError
from ..faces import Face
from ..runtime import torch_threads
from .base import CroppingBackbone, crop_face, l2_normalize
from .specs import spec_for

log = logging.getLogger(__name__)


def prewhiten(batch: np.ndarray) -> np.ndarray:
    """Per-image standardisation, as the 20170512 model was trained."""
    x = batch.astype(np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    std_adj = np.maximum(std, 1.0 / np.sqrt(x[0].size))
    return ((x - mean) / std_adj).astype(np.float32)


def fixed_standardize(batch: np.ndarray) -> np.ndarray:
    """facenet-pytorch's standardisation for its VGGFace2 / CASIA releases."""
    return (batch.astype(np.float32) - 127.5) / 128.0


class InceptionResnetBackbone(CroppingBackbone):
    """Crop → standardise → InceptionResnetV1 → (optionally mirror-average) → unit vector.

    Args:
        model: an ``InceptionResnetV1`` in eval mode, weights loaded.
        name: registry name.
        embedding_size: output size of the model.
        margin: pixels of the 160×160 crop that lie around the detector box (see :func:`crop_face`).
        standardize: ``prewhiten`` or ``fixed_standardize``.
        flip: average the embedding of each face with that of its mirror image.
        device: torch device.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``int8``: the arithmetic of the network (weights
            are cast once; casting them on every call, as autocast does, cost 11% of a one-face
            request). ``int8`` needs ``int8_qparams`` (see :func:`quantize_int8`).
        int8_qparams: activation ranges measured by :func:`calibrate_int8`.
        int8_model: an int8 model already converted (read from the cache by :func:`load_facenet`):
            used as it is, and ``model`` may then be ``None``.
        batch_size: faces per forward pass (with ``flip``, their mirror images ride in the same pass).
    """

    image_size = 160

    def __init__(self, model, *, name: str, embedding_size: int, margin: float, standardize,
                 flip: bool = True, device: str = "cpu", precision: str = "fp32", batch_size: int = 16,
                 int8_qparams: dict | None = None, int8_model=None) -> None:
        import torch

        if precision not in ("fp32", "bf16", "fp16", "int8"):
            raise ValueError(f"{name}: precision must be fp32, bf16, fp16 or int8, not {precision!r}")
        if precision == "int8" and ((int8_qparams is None and int8_model is None) or device != "cpu"):
            raise ValueError(f"{name}: int8 runs on the CPU only, with a calibration (int8_qparams)")
        self.name = name
        self.embedding_size = embedding_size
        self.margin = margin
        self.standardize = standardize
        self.flip = flip
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self._torch = torch
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        if int8_model is not None:
            if precision != "int8":
                raise ValueError(f"{name}: an int8 model was given for precision {precision}")
            self.model = int8_model
        elif precision == "int8":
            with torch_threads(1):  # FX and weight packing gain nothing from more (and lose a lot on a busy CPU)
                self.model = quantize_int8(fold_batch_norms(model.eval()), int8_qparams)
        else:
            model = fold_batch_norms(model.eval())
            self.model = model.to(device=device, dtype=self._dtype, memory_format=torch.channels_last)
        self._lock = threading.Lock()

    @property
    def cache_key(self) -> str:
        return spec_for(self.name).cache_key(flip=self.flip, precision=self.precision, device=self.device)

    def describe(self) -> dict:
        return {**super().describe(), "margin": self.margin, "flip_average": self.flip,
                "input_size": self.image_size, "standardization": self.standardize.__name__,
                "precision": self.precision, "device": self.device}

    def crops(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.image_size, self.image_size, 3), np.uint8)
        return np.stack([crop_face(image, f.box, self.image_size, self.margin) for f in faces])

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embed ``(N, 160, 160, 3)`` uint8 face crops."""
        if len(crops) == 0:
            return np.zeros((0, self.embedding_size), np.float32)
        out = []
        for start in range(0, len(crops), self.batch_size):
            x = self.standardize(crops[start:start + self.batch_size])
            out.append(self._forward(x))
        return l2_normalize(np.concatenate(out))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        t = t.to(self.device)
        n = len(t)
        if self.flip:  # face and mirror image in one pass: one call's overhead, a fuller batch
            t = torch.cat([t, torch.flip(t, dims=[3])])
        t = t.to(self._dtype).contiguous(memory_format=torch.channels_last)
        with self._lock, torch.inference_mode():
            emb = self.model(t).float()
        if self.flip:
            emb = torch.nn.functional.normalize(emb[:n], dim=1) + torch.nn.functional.normalize(emb[n:], dim=1)
        return emb.cpu().numpy()


def fold_batch_norms(model):
    """Fold each ``BasicConv2d``'s frozen batch norm into its convolution (in place): the same
    function with one kernel less per layer (embedding 12% faster on a CPU)."""
    import torch
    from torch import nn

    for module in model.modules():
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                              bias=True).eval().requires_grad_(False)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                base = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                fused.bias.copy_((base - bn.running_mean) * scale + bn.bias)
            module.conv, module.bn = fused, nn.Identity()
    return model


# Quantised operators of one engine throughout: oneDNN's int8 kernels use VNNI and, unlike
# FBGEMM's, take activations over the full 0..255 range (FBGEMM's 7-bit activations left
# FaceNet's LFW embeddings at a mean cosine of 0.9970 to fp32's, against 0.9988; one pass, no
# mirror image).
INT8_ENGINE = "onednn"


def use_int8_engine() -> None:
    """Select the int8 engine (weights are packed for it, so before any is built or read)."""
    import torch

    # The inception branches joined by each cat keep their own ranges, so the quantised cat
    # requantises them, and torch warns at every first call; the embeddings' agreement with
    # fp32 is measured instead (tests and the README).
    warnings.filterwarnings("ignore", message="All inputs of this cat operator", category=UserWarning)
    torch.backends.quantized.engine = INT8_ENGINE


def _prepare_int8(model, activation_observer):
    import torch
    from torch.ao.quantization import QConfig, QConfigMapping, quantize_fx
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    torch.backends.quantized.engine = INT8_ENGINE
    qconfig = QConfig(activation=activation_observer.with_args(dtype=torch.quint8, reduce_range=False),
                      weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    example = torch.zeros(2, 3, 160, 160)
    return quantize_fx.prepare_fx(model, QConfigMapping().set_global(qconfig), (example,))


def _activation_observers(prepared) -> dict:
    from torch.ao.quantization.observer import ObserverBase

    return {n: m for n, m in prepared.named_modules() if isinstance(m, ObserverBase)}


def calibrate_int8(model, batches) -> dict[str, list[float]]:
    """Activation ranges of ``model`` (fp32, batch norms folded) over ``batches`` of standardised
    NCHW float32 faces: ``{observer: [scale, zero_point]}``, chosen per activation by
    histogram (minimal quantisation error) rather than min/max."""
    import copy

    import torch
    from torch.ao.quantization.observer import HistogramObserver

    prepared = _prepare_int8(copy.deepcopy(model), HistogramObserver)
    with torch.inference_mode():
        for batch in batches:
            prepared(batch)
    out = {}
    for name, obs in _activation_observers(prepared).items():
        scale, zero_point = obs.calculate_qparams()
        out[name] = [float(scale), int(zero_point)]
    return out


def quantize_int8(model, qparams: dict[str, list[float]]):
    """``model`` (fp32, batch norms folded) with int8 weights (per channel) and int8 activations
    at the ranges ``qparams`` from :func:`calibrate_int8`: a module that takes and returns float32."""
    import torch
    from torch.ao.quantization import quantize_fx
    from torch.ao.quantization.observer import MinMaxObserver

    use_int8_engine()
    with warnings.catch_warnings():
        # torch.ao's eager int8 is deprecated in favour of torchao, but works in the pinned
        # torch (2.14.1) and is the one that needs no compiler at run time
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        prepared = _prepare_int8(model, MinMaxObserver)
        observers = _activation_observers(prepared)
        if set(observers) != set(qparams):
            raise ModelNotFoundError("the int8 calibration does not match this model's quantisation points "
                                     f"({len(qparams)} recorded, {len(observers)} here); use precision bf16 or fp32")
        for name, obs in observers.items():
            scale, zero_point = qparams[name]
            # min/max that give back exactly this scale and zero point
            obs.min_val = torch.tensor(-zero_point * scale)
            obs.max_val = torch.tensor((255 - zero_point) * scale)
        return quantize_fx.convert_fx(prepared)


def load_facenet(models_dir: Path, *, device: str = "cpu", flip: bool = True,
                 precision: str = "fp32", cache_dir: Path | None = None) -> InceptionResnetBackbone:
    """The default offline backbone: FaceNet 20170512-110547 (128-d).

    In int8 with a ``cache_dir``, the converted model is read from the cache when a trustworthy
    one was built for these weights, this calibration and this torch (see :mod:`.int8_cache`),
    else built and cached: building it is most of a cold start."""
    import torch

    from .keras_facenet import EMBEDDING_SIZE, build_model, verify_weights

    path = verify_weights(models_dir)
    options = dict(name="facenet", embedding_size=EMBEDDING_SIZE, margin=spec_for("facenet").margin,
                   standardize=prewhiten, flip=flip, device=device, precision=precision)
    qparams = read_int8_calibration() if precision == "int8" else None
    cached_at, key = None, None
    if precision == "int8" and cache_dir is not None and device == "cpu":
        from .int8_cache import cache_file, load as load_cached

        key = int8_cache_key(models_dir)
        cached_at = cache_file(cache_dir, key)
        use_int8_engine()
        with torch_threads(1):
            int8_model = load_cached(cached_at, key)
        if int8_model is not None:
            log.info("int8 FaceNet read from %s", cached_at)
            return InceptionResnetBackbone(None, **options, int8_model=int8_model)
    model = build_model(EMBEDDING_SIZE)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    backbone = InceptionResnetBackbone(model, **options, int8_qparams=qparams)
    if cached_at is not None:
        from .int8_cache import save as save_cached

        with torch_threads(1):
            save_cached(cached_at, key, backbone.model)
    return backbone


def int8_cache_key(models_dir: Path, calibration: Path | None = None):
    """What the cached int8 FaceNet depends on: the converted weights' SHA-256 (as recorded at
    conversion, which :func:`~.keras_facenet.verify_weights` has just checked against the file),
    the calibration file's SHA-256, torch's version, the engine and the cache's format."""
    import torch

    from ..hashing import sha256_file
    from .int8_cache import CacheKey
    from .keras_facenet import RECORD_FILENAME

    record = json.loads((Path(models_dir) / RECORD_FILENAME).read_text())
    return CacheKey(weights_sha256=str(record.get("sha256")),
                    calibration_sha256=sha256_file(calibration or INT8_CALIBRATION),
                    torch_version=torch.__version__, engine=INT8_ENGINE)


# Made by scripts/calibrate_facenet_int8.py (LFW View-1 training people; see the README).
INT8_CALIBRATION = Path(__file__).with_name("facenet_int8_calibration.json")


def read_int8_calibration(path: Path = INT8_CALIBRATION) -> dict[str, list[float]]:
    """The activation ranges for ``facenet`` in int8, checked to belong to its weights."""
    from .keras_facenet import H5_SHA256

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"int8 calibration {path} cannot be read ({exc}); "
                                 "use precision bf16 or fp32, or run scripts/calibrate_facenet_int8.py") from None
    if record.get("weights_h5_sha256") != H5_SHA256:
        raise ModelNotFoundError(f"int8 calibration {path} was made for other FaceNet weights; "
                                 "run scripts/calibrate_facenet_int8.py")
    return record["activations"]


def load_facenet_pytorch_release(release: str, weights: Path | None, *, device: str = "cpu",
                                 flip: bool = True, precision: str = "fp32") -> InceptionResnetBackbone:
    """facenet-pytorch's 512-d ``vggface2`` or ``casia-webface`` model.

    With ``weights`` set, reads that local state dict (keys of facenet-pytorch's release; the
    classifier ``logits.*`` is ignored). Otherwise asks facenet-pytorch, which uses its cached
    download or fetches it; offline without a cached copy, raises :class:`ModelNotFoundError`.
    """
    import torch
    from facenet_pytorch import InceptionResnetV1

    name = {"vggface2": "facenet-vggface2", "casia-webface": "facenet-casia"}[release]
    env = {"vggface2": "FACEREC_FACENET_VGGFACE2_WEIGHTS", "casia-webface": "FACEREC_FACENET_CASIA_WEIGHTS"}[release]
    if weights is not None:
        if not Path(weights).is_file():
            raise ModelNotFoundError(f"{name}: weights file {weights} does not exist (set by {env})")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
        model = InceptionResnetV1(pretrained=None, classify=False)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelNotFoundError(f"{name}: {weights} is not an InceptionResnetV1 state dict: {exc}") from None
    else:
        try:
            model = InceptionResnetV1(pretrained=release, classify=False)
        except Exception as exc:  # network errors come in many types
            raise ModelNotFoundError(
                f"{name}: could not load facenet-pytorch's '{release}' weights ({type(exc).__name__}: {exc}). "
                f"Offline, download the state dict elsewhere and point {env} at the file.") from None
    return InceptionResnetBackbone(model.eval(), name=name, embedding_size=512, margin=spec_for(name).margin,
                                   standardize=fixed_standardize, flip=flip, device=device, precision=precision)
