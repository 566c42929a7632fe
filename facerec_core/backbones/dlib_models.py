"""Where dlib's model files live: the ``face_recognition_models`` package.

Its files are located with ``importlib.util.find_spec`` instead of importing it: its ``__init__``
needs ``pkg_resources``, which recent setuptools no longer ships.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelNotFoundError

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"


def dlib_model_dir() -> Path:
    """The folder holding dlib's shape predictor and ResNet descriptor; raises
    :class:`ModelNotFoundError` saying what to install when either is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "dlib-resnet: the face_recognition_models package is not installed "
            "(pip install face_recognition_models)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for fname in (SHAPE_PREDICTOR, DESCRIPTOR_FILE):
        if not (folder / fname).is_file():
            raise ModelNotFoundError(f"dlib-resnet: {folder / fname} is missing")
    return folder
