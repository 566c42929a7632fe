"""Hand-made embeddings for tests that need no photos or weights."""
from __future__ import annotations

import numpy as np


def clusters(n_people: int = 5, per_person: int = 6, dim: int = 16, spread: float = 0.15,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in tight clusters, one per person: ``(X, names)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    X = np.repeat(centres, per_person, axis=0) + spread * rng.normal(size=(n_people * per_person, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.repeat([f"person_{i}" for i in range(n_people)], per_person)
    return X.astype(np.float32), y
