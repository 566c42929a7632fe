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
    """Crop ``box`` grown so that, once resized to ``size``×``size``, ``margin`` of the ``size``
    pixels (half on each side) lie around the box; clipped to the image.

    This is the crop of facenet-pytorch's MTCNN (``image_size=160, margin=32``): the margin scales
    with the face. A margin of 32 pixels of the *original* image instead gives FaceNet 20170512
    too little context on large faces and too much on small ones (LFW View-2 99.22% against
    99.37% with this crop, both measured with the same boxes).
    """
    h, w = image.shape[:2]
    grow_x = margin * (box[2] - box[0]) / (size - margin) / 2
    grow_y = margin * (box[3] - box[1]) / (size - margin) / 2
    x1, y1 = int(max(box[0] - grow_x, 0)), int(max(box[1] - grow_y, 0))
    x2, y2 = int(min(box[2] + grow_x, w)), int(min(box[3] + grow_y, h))
    if x2 <= x1 or y2 <= y1:
        x1, y1, x2, y2 = 0, 0, w, h
    crop = Image.fromarray(image[y1:y2, x1:x2])
    return np.asarray(crop.resize((size, size), Image.BILINEAR))
