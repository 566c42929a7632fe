"""Bulk embedding of image files with an on-disk cache, a progress bar and worker processes.

The cache is keyed by the backbone's :attr:`cache_key`, the detector settings and the SHA-1 of
each image's bytes, so renamed or moved files are still hits and edited files are misses.
An image in which no face is found is recorded as such (``detected=False``), never dropped.
The cache holds an embedding of every face it has seen (biometric data): its folder is 0700 and
its files 0600 (:mod:`facerec_core.secure_files`), and it is read with ``allow_pickle=False``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import multiprocessing as mp
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ImageError
from .faces import Face
from .secure_files import private_dir, private_writer, tighten
from .settings import Settings

log = logging.getLogger(__name__)

# Where LFW's aligned 250×250 photos put the labelled face (fractions of width and height);
# used only with ``assume_center_face`` when the detector finds nothing.
CENTER_BOX = (0.3, 0.25, 0.7, 0.75)

ProgressFn = Callable[[int, int], None]


@dataclasses.dataclass
class EmbeddingSet:
    """Embeddings of one face per image, aligned with ``paths``.

    ``status`` per image: ``"ok"`` (a detected face), ``"assumed"`` (no face detected; the
    central box was embedded), ``"no_face"`` (no face; the row is zeros) or ``"error"``
    (unreadable image; zeros).
    """

    paths: list[str]
    embeddings: np.ndarray
    status: np.ndarray
    n_faces: np.ndarray
    det_scores: np.ndarray
    boxes: np.ndarray
    backbone: str

    @property
    def usable(self) -> np.ndarray:
        """Rows that hold a real embedding."""
        return np.isin(self.status, ["ok", "assumed"])

    def counts(self) -> dict[str, int]:
        out = {s: int((self.status == s).sum()) for s in ("ok", "assumed", "no_face", "error")}
        out["several_faces"] = int((self.n_faces > 1).sum())
        out["total"] = len(self.paths)
        return out

    def subset(self, idx) -> "EmbeddingSet":
        idx = np.asarray(idx)
        return EmbeddingSet([self.paths[i] for i in (np.flatnonzero(idx) if idx.dtype == bool else idx)],
                            self.embeddings[idx], self.status[idx], self.n_faces[idx],
                            self.det_scores[idx], self.boxes[idx], self.backbone)


def file_digest(path: str | Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


class EmbeddingCache:
    """A dict of image digest → record, stored as one ``.npz`` per backbone and detector setting
    (plain arrays only: digests, embeddings, statuses, face counts, scores, boxes; no pickle)."""

    def __init__(self, cache_dir: Path, key: str) -> None:
        self.path = Path(cache_dir) / f"{key}.npz"
        self.records: dict[str, tuple] = {}
        if self.path.exists():
            tighten(self.path.parent, strict=False)  # a cache from before 0700/0600
            tighten(self.path, strict=False)
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    for row in zip(z["keys"], z["emb"], z["status"], z["n_faces"], z["score"], z["box"]):
                        self.records[str(row[0])] = tuple(row[1:])
            except Exception as exc:  # a damaged cache is rebuilt, not fatal
                log.warning("ignoring unreadable embedding cache %s: %s", self.path, exc)

    def get(self, digest: str):
        return self.records.get(digest)

    def put(self, digest: str, record: tuple) -> None:
        self.records[digest] = record

    def save(self) -> None:
        if not self.records:
            return
        private_dir(self.path.parent)
        keys = list(self.records)
        cols = list(zip(*(self.records[k] for k in keys)))
        with private_writer(self.path) as out:  # 0600, atomic: readers never see half a file
            np.savez(out, keys=np.array(keys, dtype=str), emb=np.stack(cols[0]).astype(np.float32),
                     status=np.array(cols[1], dtype=str), n_faces=np.array(cols[2], dtype=np.int32),
                     score=np.array(cols[3], dtype=np.float32), box=np.stack(cols[4]).astype(np.float32))


def _cache_key(backbone_key: str, settings: Settings, assume_center_face: bool) -> str:
    return (f"{backbone_key}__mtcnn-min{settings.min_face_size}-t{settings.detection_threshold:g}"
            f"{'-center' if assume_center_face else ''}")


# ---- worker side ------------------------------------------------------------------------------
_worker: dict = {}


def _init_worker(backbone_name: str, settings: Settings, threads: int, flip: bool | None, device: str) -> None:
    import torch

    from .backbones import load_backbone
    from .detect import FaceDetector
    from .runtime import keep_freed_memory

    torch.set_num_threads(threads)
    keep_freed_memory()
    _worker["detector"] = FaceDetector(settings.min_face_size, settings.detection_threshold, device=device)
    _worker["backbone"] = load_backbone(backbone_name, settings, device=device, flip=flip)
    _worker["max_pixels"] = settings.max_image_pixels


def _process_chunk(args: tuple[list[str], bool]) -> list[tuple]:
    paths, assume_center = args
    return embed_files(paths, _worker["detector"], _worker["backbone"], assume_center,
                       _worker["max_pixels"])


def embed_files(paths: Sequence[str], detector, backbone, assume_center_face: bool,
                max_pixels: int) -> list[tuple]:
    """Detect and embed the central face of each file: one record per path
    ``(embedding, status, n_faces, det_score, box)``."""
    from .detect import central_face
    from .images import load_image

    images: list[np.ndarray | None] = []
    for p in paths:
        try:
            images.append(load_image(p, max_pixels=max_pixels))
        except ImageError as exc:
            log.warning("an image cannot be read (%s); it is left out", type(exc).__name__)
            images.append(None)
    detected = iter(detector.detect_batch([im for im in images if im is not None]))
    items, meta = [], []
    for image in images:
        if image is None:
            meta.append(("error", 0, 0.0, None))
            continue
        faces = next(detected)
        face = central_face(faces, image.shape)
        if face is not None:
            meta.append(("ok", len(faces), face.det_score, face.box))
            items.append((image, [face]))
        elif assume_center_face:
            h, w = image.shape[:2]
            box = (CENTER_BOX[0] * w, CENTER_BOX[1] * h, CENTER_BOX[2] * w, CENTER_BOX[3] * h)
            meta.append(("assumed", 0, 0.0, box))
            items.append((image, [Face(box=box, det_score=0.0, detected=False)]))
        else:
            meta.append(("no_face", 0, 0.0, None))
    embedded = iter(backbone.embed_many(items)) if items else iter(())
    out = []
    for status, n, score, box in meta:
        if box is None:
            out.append((np.zeros(backbone.embedding_size, np.float32), status, n, score, np.zeros(4, np.float32)))
        else:
            out.append((next(embedded)[0], status, n, score, np.asarray(box, np.float32)))
    return out


# ---- caller side ------------------------------------------------------------------------------
def extract_embeddings(paths: Sequence[str | Path], settings: Settings, *, backbone_name: str | None = None,
                       assume_center_face: bool = True, flip: bool | None = None, progress: bool | ProgressFn = True,
                       chunk_size: int = 32, should_stop: Callable[[], bool] | None = None) -> EmbeddingSet:
    """Embeddings of the central face of every image in ``paths``, using and filling the cache.

    Args:
        paths: image files.
        settings: detector settings, cache folder, number of worker processes.
        backbone_name: defaults to ``settings.backbone``.
        assume_center_face: for aligned datasets (LFW): if no face is detected, embed the
            central box instead and mark the row ``"assumed"``.
        flip: mirror averaging in the backbone (default: the backbone's own).
        progress: ``True`` for a tqdm bar on stderr, or a callback ``fn(done, total)``.
        chunk_size: images per task sent to a worker.
        should_stop: polled between chunks; when it returns True, extraction stops, the cache
            keeps what was done, and :class:`InterruptedError` is raised.
    """
    name = backbone_name or settings.backbone
    paths = [str(p) for p in paths]
    backbone_key = _backbone_cache_key(name, flip, settings)
    cache = EmbeddingCache(settings.cache_dir, _cache_key(backbone_key, settings, assume_center_face))
    digests = [file_digest(p) for p in paths]
    missing = sorted({d: p for d, p in zip(digests, paths) if cache.get(d) is None}.items())
    log.info("%s: %d images, %d cached, %d to embed", name, len(paths), len(paths) - len(missing), len(missing))

    report = _progress_reporter(progress, len(missing), name)
    if missing:
        chunks = [[p for _, p in missing[i:i + chunk_size]] for i in range(0, len(missing), chunk_size)]
        chunk_digests = [[d for d, _ in missing[i:i + chunk_size]] for i in range(0, len(missing), chunk_size)]
        done = 0
        try:
            for digests_chunk, records in zip(chunk_digests, _run_chunks(chunks, name, settings, assume_center_face, flip)):
                for d, r in zip(digests_chunk, records):
                    cache.put(d, r)
                done += len(records)
                report(done)
                if should_stop is not None and should_stop():
                    raise InterruptedError(f"embedding stopped after {done} of {len(missing)} images")
                if done % 2048 < chunk_size:
                    cache.save()  # keep work done so far if the run is interrupted
        finally:
            cache.save()
            report(None)
    recs = [cache.get(d) for d in digests]
    return EmbeddingSet(
        paths=paths,
        embeddings=np.stack([r[0] for r in recs]).astype(np.float32) if recs else np.zeros((0, 0), np.float32),
        status=np.array([str(r[1]) for r in recs]),
        n_faces=np.array([int(r[2]) for r in recs], dtype=np.int32),
        det_scores=np.array([float(r[3]) for r in recs], dtype=np.float32),
        boxes=np.stack([r[4] for r in recs]).astype(np.float32) if recs else np.zeros((0, 4), np.float32),
        backbone=name,
    )


def _backbone_cache_key(name: str, flip: bool | None, settings: Settings) -> str:
    # The key must be known without loading the model (to find cache hits cheaply).
    from .backbones.specs import spec_for
    from .settings import resolve_precision

    device = _worker_device(settings)
    return spec_for(name).cache_key(flip=flip, precision=resolve_precision(settings.precision, device), device=device)


def _worker_device(settings: Settings) -> str:
    """Where bulk embedding runs: the settings' device (``auto``: a GPU when there is one)."""
    from .settings import resolve_device

    return resolve_device(settings.device)


def _run_chunks(chunks, name, settings, assume_center_face, flip):
    device = _worker_device(settings)
    workers = max(1, int(settings.workers))
    if workers == 1 or len(chunks) == 1 or device != "cpu":
        # one process: a GPU does the heavy work itself, and a second process would need its own copy
        import torch
        _init_worker(name, settings, torch.get_num_threads(), flip, device)
        for chunk in chunks:
            yield _process_chunk((chunk, assume_center_face))
        return
    # One torch thread per process: several OpenMP threads per process on shared cores spin against
    # each other and run many times slower.
    # spawn: forking a process that already runs torch's thread pools can deadlock.
    # ProcessPoolExecutor (not Pool): a worker that dies raises BrokenProcessPool instead of hanging.
    from concurrent.futures import ProcessPoolExecutor

    from .runtime import bulk_job

    with bulk_job(), ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                         initargs=(name, settings, 1, flip, device)) as pool:
        try:
            yield from pool.map(_process_chunk, [(c, assume_center_face) for c in chunks])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _progress_reporter(progress, total: int, label: str):
    if callable(progress):
        def report(done):
            if done is not None:
                progress(done, total)
        return report
    if progress and total:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=f"embedding ({label})", unit="img")
        state = {"done": 0}

        def report(done):
            if done is None:
                bar.close()
            else:
                bar.update(done - state["done"])
                state["done"] = done
        return report
    return lambda done: None
