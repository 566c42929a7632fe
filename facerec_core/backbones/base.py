"""The small interface every embedding model implements, and shared face cropping."""
from __future__ import annotations

import abc

import numpy as np
from PIL import Image

from ..faces import Face


class Backbone(abc.ABC):
    """Turns faces in an image into unit-length embeddings.

    Subclasses set :attr:`name` and :attr:`embedding_size` and implement :meth:`embed`.
    """

    name: str = ""
    embedding_size: int = 0

    @abc.abstractmethod
    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Embeddings of ``faces`` found in ``image``: a ``(len(faces), embedding_size)`` float32
        array whose rows have unit L2 norm."""

    def embed_many(self, items: list[tuple[np.ndarray, list[Face]]]) -> list[np.ndarray]:
        """Embed faces from several images; backbones that batch override this."""
        return [self.embed(image, faces) for image, faces in items]

    @property
    def cache_key(self) -> str:
        """Identifies this backbone and every option that changes its output (for caches)."""
        return self.name

    def describe(self) -> dict:
        """What a model card or a manifest says about this backbone."""
        return {"name": self.name, "embedding_size": self.embedding_size}


class CroppingBackbone(Backbone):
    """A backbone that cuts each face into a fixed-size crop, then embeds crops in batches.

    Subclasses implement :meth:`crops` and :meth:`embed_crops`; embedding faces from one or
    many images is built on those two (the speed benchmark times them as align and embed).
    """

    @abc.abstractmethod
    def crops(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """``(len(faces), H, W, 3)`` uint8 crops, aligned as the model expects."""

    @abc.abstractmethod
    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Unit embeddings of crops made by :meth:`crops`."""

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.embed_crops(self.crops(image, faces))

    def embed_many(self, items: list[tuple[np.ndarray, list[Face]]]) -> list[np.ndarray]:
        crops = [self.crops(image, faces) for image, faces in items]
        counts = [len(c) for c in crops]
        if not sum(counts):
            return [np.zeros((0, self.embedding_size), np.float32) for _ in items]
        flat = self.embed_crops(np.concatenate(crops))  # one batch across images
        return np.split(flat, np.cumsum(counts)[:-1])


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def crop_face(image: np.ndarray, box: tuple[float, float, float, float], size: int,
              margin: float) -> np.ndarray:
    """Crop ``box`` grown by ``margin`` pixels in total (half on each side, in the original image's
    pixels, as FaceNet was trained), clipped to the image, resized to ``size``×``size``."""
    h, w = image.shape[:2]
    x1 = int(max(np.floor(box[0] - margin / 2), 0))
    y1 = int(max(np.floor(box[1] - margin / 2), 0))
    x2 = int(min(np.ceil(box[2] + margin / 2), w))
    y2 = int(min(np.ceil(box[3] + margin / 2), h))
    if x2 <= x1 or y2 <= y1:
        x1, y1, x2, y2 = 0, 0, w, h
    crop = Image.fromarray(image[y1:y2, x1:x2])
    return np.asarray(crop.resize((size, size), Image.BILINEAR))
