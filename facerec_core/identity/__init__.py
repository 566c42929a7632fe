"""Identification, pure numpy and scikit-learn: sources of known people answer candidates, and
one :func:`decide` applies the quality gates and the open-set rule to them.

- :mod:`.kernel`: the search kernel (cosines, per-person maximum, top-k, cohort means).
- :mod:`.sources`: :class:`Candidate`, the :class:`IdentitySource` protocol, the trained model as
  a source (:class:`ModelSource`).
- :mod:`.identifiers`: the trained identifiers (nearest neighbour, RBF SVM).
- :mod:`.calibration`: the open-set threshold and cohort weight, chosen on training data.
- :mod:`.decide`: :class:`Thresholds` and :func:`decide`.

This package knows neither SQLite nor the Recognizer; the gallery is a source defined in
:mod:`facerec_core.gallery.search`.
"""
from .decide import MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE, Thresholds, VerifyPreset, decide
from .kernel import COHORT_SIZE, cohort_means, open_set_scores
from .sources import Candidate, IdentitySource, ModelSource, PersonRule

# scikit-learn takes ~0.8 s to import: the trained identifiers and their calibration come on first use
_LAZY = {"calibrate_open_set": "calibration", "calibrate_threshold": "calibration",
         "leave_one_out_scores": "calibration", "NearestNeighborIdentifier": "identifiers",
         "SVMIdentifier": "identifiers"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COHORT_SIZE", "Candidate", "IdentitySource", "MIN_IDENTIFY_DET_SCORE", "MIN_IDENTIFY_FACE_SIZE",
           "ModelSource", "NearestNeighborIdentifier",
           "PersonRule", "SVMIdentifier", "Thresholds", "VerifyPreset", "calibrate_open_set",
           "calibrate_threshold", "cohort_means", "decide", "leave_one_out_scores", "open_set_scores"]
