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
from .calibration import calibrate_open_set, calibrate_threshold, leave_one_out_scores
from .decide import MIN_IDENTIFY_DET_SCORE, MIN_IDENTIFY_FACE_SIZE, Thresholds, VerifyPreset, decide
from .identifiers import NearestNeighborIdentifier, SVMIdentifier
from .kernel import COHORT_SIZE, cohort_means, open_set_scores
from .sources import Candidate, IdentitySource, ModelSource

__all__ = ["COHORT_SIZE", "Candidate", "IdentitySource", "MIN_IDENTIFY_DET_SCORE", "MIN_IDENTIFY_FACE_SIZE",
           "ModelSource", "NearestNeighborIdentifier", "SVMIdentifier", "Thresholds", "VerifyPreset", "calibrate_open_set",
           "calibrate_threshold", "cohort_means", "decide", "leave_one_out_scores", "open_set_scores"]
