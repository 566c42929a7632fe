"""dlib's ResNet face descriptor (128-d) aligned by dlib's 5-point shape predictor on the MTCNN box.

Weights come from the ``face_recognition_models`` package. We locate its files with
``importlib.util.find_spec`` instead of importing it: its ``__init__`` needs ``pkg_resources``,
which recent setuptools no longer ships.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError
from ..faces import Face
from .base import Backbone, l2_normalize

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "dlib-resnet: the face_recognition_models package is not installed "
            "(pip install face_recognition_models)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for fname in (SHAPE_PREDICTOR, DESCRIPTOR):
        if not (folder / fname).is_file():
            raise ModelNotFoundError(f"dlib-resnet: {folder / fname} is missing")
    return folder


class DlibResnetBackbone(Backbone):
    """dlib's ``face_recognition_model_v1``; single-threaded, no batching."""

    name = "dlib-resnet"
    embedding_size = 128

    def __init__(self, flip: bool = False) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelNotFoundError(f"dlib-resnet: dlib is not installed (pip install dlib-bin): {exc}") from None
        folder = dlib_model_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR))
        self._encoder = dlib.face_recognition_model_v1(str(folder / DESCRIPTOR))
        self.flip = flip
        self._lock = threading.Lock()

    @property
    def cache_key(self) -> str:
        return self.name + ("-flip" if self.flip else "")

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.embedding_size), np.float32)
        out = self._descriptors(image, [f.box for f in faces])
        if self.flip:
            w = image.shape[1]
            mirrored = [(w - b[2], b[1], w - b[0], b[3]) for b in (f.box for f in faces)]
            out = l2_normalize(out) + l2_normalize(self._descriptors(np.ascontiguousarray(image[:, ::-1]), mirrored))
        return l2_normalize(out)

    def _descriptors(self, image: np.ndarray, boxes) -> np.ndarray:
        dlib = self._dlib
        rects = [dlib.rectangle(int(round(b[0])), int(round(b[1])), int(round(b[2])), int(round(b[3])))
                 for b in boxes]
        with self._lock:
            shapes = [self._shape(image, r) for r in rects]
            desc = self._encoder.compute_face_descriptor(image, dlib.full_object_detections(shapes))
        return np.asarray([np.asarray(d) for d in desc], dtype=np.float32)
