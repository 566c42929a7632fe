"""Where models trained before the move to :mod:`facerec_core.identity` find their classes.

Kept for code that imports the identifiers from here. (Artifact formats 1 and 2 pickled the
identifier under this module path; format 3 stores arrays and JSON and refuses those pickles.)
"""
from .identity.identifiers import NearestNeighborIdentifier, SVMIdentifier

__all__ = ["NearestNeighborIdentifier", "SVMIdentifier"]
