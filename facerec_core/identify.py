"""Where models trained before the move to :mod:`facerec_core.identity` find their classes.

Artifacts store the identifier with joblib, which records each class's module: models saved
with this path must keep loading (artifact format 2 is unchanged).
"""
from .identity.identifiers import NearestNeighborIdentifier, SVMIdentifier

__all__ = ["NearestNeighborIdentifier", "SVMIdentifier"]
