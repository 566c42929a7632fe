"""The gallery's records: what the store holds and what its operations report."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Person:
    """An enrolled person; ``samples`` counts their stored face samples."""

    id: int
    name: str
    notes: str
    created: str
    updated: str
    samples: int = 0


@dataclasses.dataclass(frozen=True)
class Sample:
    """One stored face sample (the embedding itself is only loaded for search and export)."""

    id: int
    person_id: int
    backbone: str
    det_score: float
    source: str
    content_hash: str | None
    thumbnail: bytes | None
    created: str


@dataclasses.dataclass
class NewSample:
    """A face sample ready to store: a unit-length embedding and where it came from."""

    embedding: np.ndarray
    backbone: str
    det_score: float
    source: str = ""
    content_hash: str | None = None
    thumbnail: bytes | None = None
    created: str | None = None


@dataclasses.dataclass
class SampleOutcome:
    """What happened to one photo: ``added``, ``duplicate`` (skipped) or ``refused``."""

    source: str
    status: str
    reason: str = ""
    sample_id: int | None = None


@dataclasses.dataclass
class ImportReport:
    """What :meth:`GalleryStore.import_file` did."""

    people_added: int = 0
    people_merged: int = 0
    samples_added: int = 0
    samples_skipped: int = 0


@dataclasses.dataclass(frozen=True)
class GalleryMatrix:
    """Every sample of one backbone, grouped by person: ``X`` is ``(n_samples, dim)`` float32 and
    person ``i`` (``names[i]``) owns rows ``starts[i]:starts[i + 1]``."""

    generation: int
    X: np.ndarray
    names: list[str]
    starts: np.ndarray
    person_ids: np.ndarray
    sample_ids: np.ndarray

    @property
    def labels(self) -> list[str]:
        """One name per row of ``X`` (for training)."""
        counts = np.diff(np.append(self.starts, len(self.X)))
        return [n for n, c in zip(self.names, counts) for _ in range(int(c))]
