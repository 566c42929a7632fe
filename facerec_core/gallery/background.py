"""The background cohort: faces of people who are never enrolled, for the gallery-only decision.

A gallery of a few photos per person cannot tell a stranger who resembles everybody from the
person he resembles most by a cosine alone. The few-shot rule (:class:`~facerec_core.backbones.specs.FewShotRule`, measured by
``bench/fewshot.py``) discounts both sides by how close they come to a crowd of strangers: the
probe's mean cosine to its nearest background faces, and each enrolled person's (their mean
template's). That crowd is this file: every photo of the LFW people with 2 or 3 photos (the
few-shot protocol's background, so nothing the protocol evaluates is in it), embedded with the
backbone and precision in use.

``facerec setup`` builds it once (from ``FACEREC_LFW_DIR``) into the cache folder; recognition
only reads it. It is biometric data: written owner-only and atomically, read as plain arrays
(``allow_pickle=False``), and checked before use (its backbone key, shape, finite unit rows). A
missing, foreign or damaged file is not used: the gallery then decides with the nearest-sample
rule and its own threshold, and the log says how to build the file.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import FacerecError
from ..secure_files import private_dir, private_writer, tighten
from ..settings import Settings

log = logging.getLogger(__name__)

MIN_ROWS = 100
"""A background smaller than this is refused: its top-k means would be noise."""


def background_path(settings: Settings, backbone: str) -> Path:
    """Where the background cohort of ``backbone`` lives (the cache folder)."""
    return Path(settings.cache_dir) / f"background-{backbone}.npz"


def background_key(settings: Settings, backbone: str) -> str:
    """What the background's embeddings must have been made with: the embedding cache's key of
    ``backbone`` (backbone, crop, mirror averaging, precision)."""
    from ..embeddings import _backbone_cache_key

    return _backbone_cache_key(backbone, None, settings)


def background_people(people: dict[str, list]) -> list[str]:
    """The names (sorted) of the people with 2 or 3 photos: the background, here and in the
    few-shot protocol (:func:`facerec_core.fewshot.make_split`)."""
    return sorted(n for n, photos in people.items() if 2 <= len(photos) <= 3)


def background_photos(lfw_dir: Path | str) -> list[Path]:
    """Every photo of the background people of the LFW-layout folder ``lfw_dir`` (name variants
    merged, as in the protocol)."""
    from ..lfw import name_variants, scan_lfw

    data = scan_lfw(lfw_dir)
    data = data.merge(name_variants(data.people))
    return [p for n in background_people(data.people) for p in data.people[n]]


def build_background(settings: Settings, backbone: str | None = None, *, max_photos: int | None = None,
                     progress: bool = True) -> Path:
    """Embed the background photos (see the module's docstring) from ``settings.lfw_dir`` and
    write the cohort file; returns its path. ``max_photos`` keeps the first that many (tests).
    Raises :class:`FacerecError` without an LFW folder or with too few faces."""
    from ..embeddings import extract_embeddings

    backbone = backbone or settings.backbone
    if settings.lfw_dir is None or not Path(settings.lfw_dir).is_dir():
        raise FacerecError("the background cohort is built from LFW: set FACEREC_LFW_DIR to the LFW folder "
                           "(people/<Name>_NNNN.jpg) and run `facerec setup` again")
    photos = background_photos(settings.lfw_dir)[:max_photos]
    es = extract_embeddings(photos, settings, backbone_name=backbone, progress=progress)
    rows = es.embeddings[es.status == "ok"]
    if len(rows) < MIN_ROWS:
        raise FacerecError(f"only {len(rows)} faces found for the background cohort (at least {MIN_ROWS} are "
                           "needed); check FACEREC_LFW_DIR")
    path = background_path(settings, backbone)
    private_dir(path.parent)
    with private_writer(path) as out:
        np.savez(out, embeddings=rows.astype(np.float32), key=np.array(background_key(settings, backbone)))
    log.info("background cohort: %d faces written", len(rows))
    return path


def load_background(settings: Settings, backbone: str) -> np.ndarray | None:
    """The checked background cohort of ``backbone``, or ``None`` (missing, made with another
    backbone or precision, or damaged; logged with what to do)."""
    path = background_path(settings, backbone)
    if not path.is_file():
        log.info("no background cohort for %s (run `facerec setup` with FACEREC_LFW_DIR set): the gallery "
                 "decides by the nearest sample", backbone)
        return None
    try:
        tighten(path, strict=False)
        with np.load(path, allow_pickle=False) as z:
            rows, key = np.asarray(z["embeddings"]), str(z["key"])
        expected = background_key(settings, backbone)
        if key != expected:
            raise ValueError(f"made for {key}, not {expected}")
        if rows.dtype != np.float32 or rows.ndim != 2 or len(rows) < MIN_ROWS:
            raise ValueError(f"expected at least {MIN_ROWS} float32 rows, found {rows.dtype} {rows.shape}")
        if not np.isfinite(rows).all() or np.abs(np.linalg.norm(rows, axis=1) - 1).max() > 1e-3:
            raise ValueError("rows are not finite unit embeddings")
    except Exception as exc:  # any damage: not used, never fatal
        log.warning("background cohort %s not used (%s); rebuild it with `facerec setup`", path, exc)
        return None
    return rows


def prepare_background(settings: Settings, *, force: bool = False, progress: bool = True) -> str:
    """What ``facerec setup`` does for the background: keep a good file, else build one when an LFW
    folder is set; returns what happened, for people (recognition works without it, so a
    failure is said, not raised)."""
    path = background_path(settings, settings.backbone)
    if not force and load_background(settings, settings.backbone) is not None:
        return f"background cohort ready: {path}"
    if settings.lfw_dir is None:
        return ("background cohort not built (FACEREC_LFW_DIR is not set): without a trained model the gallery "
                "decides by the nearest sample")
    try:
        return f"background cohort built: {build_background(settings, progress=progress)}"
    except FacerecError as exc:
        return f"background cohort not built: {exc}"
