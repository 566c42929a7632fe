"""Embedding backbones behind one interface, built by name.

>>> backbone = load_backbone("facenet", settings)      # doctest: +SKIP
>>> backbone.embed(image, faces).shape                  # doctest: +SKIP
(1, 128)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import FacerecError
from ..faces import Face
from ..settings import Settings, resolve_device, resolve_precision
from .base import Backbone, l2_normalize
from .specs import SPECS, BackboneSpec, spec_for, weights_key

BACKBONES: dict[str, str] = {name: spec.description for name, spec in SPECS.items()}
"""Backbone names with a one-line description (from :data:`~.specs.SPECS`)."""


def available_backbones() -> dict[str, str]:
    """Backbone names with a one-line description."""
    return dict(BACKBONES)


class ConcatBackbone(Backbone):
    """Concatenation of several backbones' unit embeddings, each scaled by the square root of its
    weight, so that the cosine of two concatenations is the weighted mean of the parts' cosines."""

    def __init__(self, parts: list[Backbone], name: str, weights: Sequence[float] = ()) -> None:
        self.parts = parts
        self.name = name
        self.embedding_size = sum(p.embedding_size for p in parts)
        self.weights = list(weights) or [1.0 / len(parts)] * len(parts)
        if len(self.weights) != len(parts) or min(self.weights) <= 0 or abs(sum(self.weights) - 1) > 1e-6:
            raise FacerecError(f"{name}: part weights {self.weights} must be positive, one per part, and sum to 1")
        self._scales = [float(np.sqrt(w)) for w in self.weights]
        self._key_suffix = weights_key(weights)

    @property
    def cache_key(self) -> str:
        return "+".join(p.cache_key for p in self.parts) + self._key_suffix

    def _join(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        return l2_normalize(np.concatenate([c * s for c, s in zip(columns, self._scales)], axis=1))

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self._join([p.embed(image, faces) for p in self.parts])

    def embed_many(self, items):
        per_part = [p.embed_many(items) for p in self.parts]
        return [self._join(cols) for cols in zip(*per_part)]

    def describe(self) -> dict:
        return {**super().describe(), "parts": [p.describe() for p in self.parts], "part_weights": self.weights}


def load_backbone(name: str, settings: Settings | None = None, *, device: str | None = None,
                  flip: bool | None = None, precision: str | None = None) -> Backbone:
    """Build the backbone called ``name`` (see :data:`BACKBONES`); loads weights now.

    ``device`` and ``precision`` default to the settings' (``auto`` is resolved here);
    ``flip`` turns mirror averaging on or off (default: the backbone's own, see its spec).
    """
    spec = spec_for(name)
    settings = settings or Settings.from_env()
    dev = resolve_device(device or settings.device)
    prec = resolve_precision(precision or settings.precision, dev)
    backbone = _build(spec, settings, dev, prec, flip)
    if backbone.embedding_size != spec.dimension:  # the spec is what caches and galleries trust
        raise FacerecError(f"{name}: the model gives {backbone.embedding_size}-d embeddings, "
                           f"its spec says {spec.dimension}")
    return backbone


def _build(spec: BackboneSpec, settings: Settings, dev: str, prec: str, flip: bool | None) -> Backbone:
    name = spec.name
    if spec.parts:
        return ConcatBackbone([load_backbone(p, settings, device=dev, flip=f, precision=prec)
                               for p, f in zip(spec.parts, spec.part_flip_options(flip))], name, spec.part_weights)
    if name == "facenet":
        from .facenet import load_facenet
        return load_facenet(settings.models_dir, device=dev, flip=spec.resolve_flip(flip), precision=prec,
                            cache_dir=settings.cache_dir)
    if name == "dlib-resnet":
        from .dlib_resnet import DlibResnetBackbone
        return DlibResnetBackbone(flip=spec.resolve_flip(flip), device=dev)
    from .facenet import load_facenet_pytorch_release  # facenet-vggface2, facenet-casia
    release = "vggface2" if name == "facenet-vggface2" else "casia-webface"
    weights = settings.facenet_vggface2_weights if release == "vggface2" else settings.facenet_casia_weights
    return load_facenet_pytorch_release(release, weights, device=dev, flip=spec.resolve_flip(flip),
                                        precision=spec.precision(prec, dev))

__all__ = ["Backbone", "BACKBONES", "BackboneSpec", "SPECS", "available_backbones", "load_backbone", "l2_normalize",
           "spec_for"]
