"""The peer: the face_recognition library (dlib HOG detector + dlib ResNet), run on LFW.

Install it for the benchmark only: ``pip install --no-deps face_recognition==1.3.0``.
Its model package imports ``pkg_resources``, which recent setuptools no longer ships; we give it
a minimal stand-in that resolves the same files with importlib.
"""
from __future__ import annotations

import importlib.util
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from facerec_core.embeddings import CENTER_BOX, file_digest


def _install_pkg_resources_shim() -> None:
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return

    def resource_filename(package: str, resource: str) -> str:
        spec = importlib.util.find_spec(package)
        return str(Path(list(spec.submodule_search_locations)[0]) / resource)

    sys.modules["pkg_resources"] = types.SimpleNamespace(resource_filename=resource_filename)


def load_face_recognition():
    _install_pkg_resources_shim()
    try:
        import face_recognition
    except ImportError as exc:
        raise SystemExit(f"the peer needs `pip install --no-deps face_recognition==1.3.0` ({exc})")
    return face_recognition


def encode_file(path: str) -> tuple[np.ndarray, str]:
    """The peer's own pipeline: HOG detection (1 upsample), the face nearest the centre, a
    128-d encoding. No face: the central box of the aligned LFW photo, marked ``assumed``."""
    fr = load_face_recognition()
    image = fr.load_image_file(path)
    h, w = image.shape[:2]
    boxes = fr.face_locations(image)
    status = "ok"
    if boxes:
        box = min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2 + ((b[0] + b[2]) / 2 - h / 2) ** 2)
    else:
        status = "assumed"
        box = (int(CENTER_BOX[1] * h), int(CENTER_BOX[2] * w), int(CENTER_BOX[3] * h), int(CENTER_BOX[0] * w))
    return np.asarray(fr.face_encodings(image, [box])[0], np.float32), status


def _encode_chunk(paths: list[str]) -> list[tuple[np.ndarray, str]]:
    return [encode_file(p) for p in paths]


def peer_encodings(paths: list[str], cache_file: Path, workers: int = 2) -> tuple[np.ndarray, np.ndarray, dict]:
    """Encodings for ``paths`` (cached by image content in ``cache_file``) and the timing of the
    run that computed them."""
    cache: dict[str, tuple[np.ndarray, str]] = {}
    timing = {}
    if cache_file.exists():
        z = np.load(cache_file, allow_pickle=False)
        cache = {str(k): (e, str(s)) for k, e, s in zip(z["keys"], z["emb"], z["status"])}
        timing = {"images": int(z["timing"][0]), "seconds": float(z["timing"][1])} if "timing" in z else {}
    digests = [file_digest(p) for p in paths]
    todo = sorted({d: p for d, p in zip(digests, paths) if d not in cache}.items())
    if todo:
        chunks = [[p for _, p in todo[i:i + 64]] for i in range(0, len(todo), 64)]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            results = [r for chunk in pool.map(_encode_chunk, chunks) for r in chunk]
        seconds = time.perf_counter() - t0
        for (d, _), r in zip(todo, results):
            cache[d] = r
        timing = {"images": len(todo), "seconds": seconds}
        keys = list(cache)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, keys=np.array(keys), emb=np.stack([cache[k][0] for k in keys]),
                 status=np.array([cache[k][1] for k in keys]), timing=np.array([timing["images"], seconds]))
    emb = np.stack([cache[d][0] for d in digests])
    status = np.array([cache[d][1] for d in digests])
    return emb, status, timing
