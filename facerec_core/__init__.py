"""facerec_core: detect → align → embed → identify, offline.

Nothing heavy happens on import: models load when a :class:`Recognizer` is built.
"""
from .errors import ArtifactError, DatasetError, FacerecError, ImageError, ModelNotFoundError
from .faces import UNKNOWN, Face, Match
from .images import load_image
from .settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy: importing the package must not import torch.
    if name in ("Recognizer", "Verification"):
        from . import recognizer
        return getattr(recognizer, name)
    raise AttributeError(name)


__all__ = ["ArtifactError", "DatasetError", "Face", "FacerecError", "ImageError", "Match",
           "ModelNotFoundError", "Recognizer", "Settings", "UNKNOWN", "Verification", "load_image"]
