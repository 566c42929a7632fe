"""Group unknown face sightings into clusters of the same (unnamed) person.

The input is one face embedding per row (FaceNet: unit-length, so cosine similarity is the dot
product). :func:`cluster_faces` returns one integer label per row: ``0 .. k-1`` for the clusters,
numbered by decreasing size, and ``-1`` for faces left on their own. Leaving a face unclustered is
the safe answer: a cluster that mixes two people is the error this module tries hardest to avoid.

Pure numpy / scikit-learn; nothing is stored or printed. The clustering is deterministic.
Memory and time grow with the square of the number of rows (all pairwise distances are used):
with the default rule, about 0.8 GB at peak and 3 to 6 seconds (one core) for 9,000 faces.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

METHODS = ("agglomerative", "dbscan", "hdbscan")
LINKAGES = ("average", "complete", "single")
METRICS = ("cosine", "euclidean")
MIN_ROWS = 2  # a single face is never clustered


@dataclass(frozen=True)
class ClusterRule:
    """A clustering method and its parameters.

    Attributes:
        method: ``"agglomerative"`` (scikit-learn ``AgglomerativeClustering`` cut at
            ``threshold``), ``"dbscan"`` (``DBSCAN`` with ``eps=threshold``) or ``"hdbscan"``
            (``HDBSCAN``; ``threshold`` is not used).
        threshold: the distance (cosine distance = 1 - cosine similarity, or Euclidean distance
            between unit vectors for HDBSCAN with ``metric="euclidean"``) below which faces join.
        min_size: for agglomerative, the smallest cluster kept (smaller ones become ``-1``);
            for DBSCAN, ``min_samples``; for HDBSCAN, ``min_cluster_size``.
        linkage: agglomerative only: ``"average"``, ``"complete"`` or ``"single"``.
        metric: ``"cosine"``, or ``"euclidean"`` (rows are then scaled to unit length first).
    """

    method: str = "agglomerative"
    threshold: float = 0.3
    min_size: int = 2
    linkage: str = "average"
    metric: str = "cosine"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown clustering method {self.method!r}; expected one of {METHODS}")
        if self.linkage not in LINKAGES:
            raise ValueError(f"unknown linkage {self.linkage!r}; expected one of {LINKAGES}")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {METRICS}")
        if self.method != "hdbscan" and not (np.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be a positive distance, got {self.threshold!r}")
        if int(self.min_size) != self.min_size or self.min_size < 2:
            raise ValueError(f"min_size must be an integer of at least 2, got {self.min_size!r}")

    def describe(self) -> str:
        """Short text naming the method and the parameters that it uses."""
        if self.method == "agglomerative":
            return (f"agglomerative {self.linkage}, {self.metric} distance <= {self.threshold:g}, "
                    f"clusters of >= {self.min_size}")
        if self.method == "dbscan":
            return f"DBSCAN {self.metric}, eps {self.threshold:g}, min_samples {self.min_size}"
        return f"HDBSCAN {self.metric}, min_cluster_size {self.min_size}"


# Chosen by bench/history_clusters.py on LFW (FaceNet int8 embeddings). Stream: every photo of a
# seeded half of the people with >= 2 photos plus the 4,069 one-photo people; unclustered faces
# count as clusters of one. Rule: best completeness with homogeneity >= 0.98, both as counted so
# and among the clustered faces only, on development seed 1 (8,523 faces): homogeneity 0.9930,
# completeness 0.9890, ARI 0.9456, 46.3 % unclustered. Held-out seed 2 (9,235 faces; George W
# Bush's 530 photos among them): homogeneity 0.9932, completeness 0.9893, ARI 0.9819, 42.5 %
# unclustered, 80.4 % of the people with >= 2 photos whole in one cluster. Caveat: 366 of the 4,069
# one-photo people still joined someone's cluster, and 182 of 979 clusters hold more than one
# person (1.4 stray faces each on seed 1); threshold 0.3 halves that (165 / 84 of 871 on seed 1) at
# completeness 0.979. Threshold 0.4 passes the homogeneity alone (0.983) but mixes 956.
DEFAULT_RULE = ClusterRule(method="agglomerative", threshold=0.35, min_size=2, linkage="average",
                           metric="cosine")


def _check_embeddings(embeddings: np.ndarray) -> np.ndarray:
    if not isinstance(embeddings, np.ndarray):
        raise ValueError(f"embeddings must be a numpy array, got {type(embeddings).__name__}")
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (one row per face), got shape {embeddings.shape}")
    if not np.issubdtype(embeddings.dtype, np.floating):
        raise ValueError(f"embeddings must be a float array, got dtype {embeddings.dtype}")
    if len(embeddings) and embeddings.shape[1] == 0:
        raise ValueError("embeddings have no columns")
    if not np.isfinite(embeddings).all():
        raise ValueError("embeddings hold NaN or infinite values")
    x = embeddings.astype(np.float64)
    zero = ~(np.linalg.norm(x, axis=1) > 0)
    if zero.any():
        bad = np.flatnonzero(zero)
        raise ValueError(f"embeddings hold all-zero rows (no face), e.g. row {int(bad[0])}; drop them first")
    return x


def _renumber(raw: np.ndarray, min_size: int) -> np.ndarray:
    """Labels 0..k-1 by decreasing cluster size (ties: the cluster seen first comes first);
    noise (negative labels) and clusters smaller than ``min_size`` become -1."""
    out = np.full(len(raw), -1, dtype=np.int64)
    keep = raw >= 0
    if not keep.any():
        return out
    ids, first, counts = np.unique(raw[keep], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))  # decreasing size, then first appearance
    new = np.full(len(ids), -1, dtype=np.int64)
    big = order[counts[order] >= min_size]
    new[big] = np.arange(len(big))
    out[keep] = new[np.searchsorted(ids, raw[keep])]
    return out


def cluster_faces(embeddings: np.ndarray, rule: ClusterRule = DEFAULT_RULE) -> np.ndarray:
    """Cluster face embeddings into people.

    Args:
        embeddings: shape ``(n, d)``, float, finite, no all-zero rows; one face per row.
        rule: the method and parameters (default: :data:`DEFAULT_RULE`).

    Returns:
        ``int64`` labels of shape ``(n,)``: ``-1`` for a face left unclustered, otherwise
        ``0 .. k-1`` with cluster 0 the largest. A single face is never clustered (-1).

    Raises:
        ValueError: if ``embeddings`` is not a 2-D finite float array or holds an all-zero row.
    """
    x = _check_embeddings(embeddings)
    n = len(x)
    if n < MIN_ROWS:
        return np.full(n, -1, dtype=np.int64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # unit rows: cosine and Euclidean agree in order

    if rule.method == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        raw = AgglomerativeClustering(n_clusters=None, metric=rule.metric, linkage=rule.linkage,
                                      distance_threshold=rule.threshold).fit_predict(x)
    elif rule.method == "dbscan":
        from sklearn.cluster import DBSCAN

        raw = DBSCAN(eps=rule.threshold, min_samples=rule.min_size, metric=rule.metric).fit_predict(x)
    else:
        from sklearn.cluster import HDBSCAN

        if n <= rule.min_size:
            return np.full(n, -1, dtype=np.int64)
        raw = HDBSCAN(min_cluster_size=rule.min_size, metric=rule.metric, copy=True).fit_predict(x)
    labels = _renumber(np.asarray(raw), rule.min_size if rule.method == "agglomerative" else 1)
    log.debug("%s: %d faces, %d clusters, %d unclustered", rule.describe(), n,
              int(labels.max(initial=-1)) + 1, int((labels < 0).sum()))
    return labels
