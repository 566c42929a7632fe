"""Trained artifacts on disk: the identifier, its labels and thresholds, a report, and a manifest
with the SHA-256 of every file. Loading checks the manifest and refuses any mismatch."""
from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import joblib

from .errors import ArtifactError
from .hashing import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_FILE = "identifier.joblib"
REPORT_FILE = "report.json"
# 2: FaceNet's crop margin scales with the face; a classifier fitted to version-1 embeddings
# (a fixed 32-pixel margin) would be fed slightly different vectors, so it is refused.
FORMAT_VERSION = 2


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "torch": torch.__version__}


def save_artifacts(directory: Path, identifier: Any, manifest: dict, report: dict) -> Path:
    """Write the identifier, report and manifest into ``directory`` atomically (a half-written
    set never replaces a good one)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    try:
        joblib.dump(identifier, staging / MODEL_FILE)
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
        manifest = {**manifest, "format_version": FORMAT_VERSION,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "versions": library_versions(),
                    "files": {name: sha256_file(staging / name) for name in (MODEL_FILE, REPORT_FILE)}}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
        directory.mkdir(parents=True, exist_ok=True)
        for name in (MODEL_FILE, REPORT_FILE, MANIFEST):  # manifest last: it vouches for the others
            (staging / name).replace(directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("artifacts written to %s", directory)
    return directory


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"no trained model in {directory} (missing {MANIFEST}). Train one: "
            "`python -m facerec_core train --lfw-dir PATH` or the Home page's Train button.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); retrain to rebuild it") from None


def load_artifacts(directory: Path, backbone: str | None = None) -> tuple[Any, dict, dict]:
    """Load ``(identifier, manifest, report)`` after checking every file's SHA-256 and, if given,
    that the model was trained with ``backbone``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory}: artifact format {manifest.get('format_version')} is not "
                            f"{FORMAT_VERSION}; retrain")
    if backbone is not None and manifest.get("backbone") != backbone:
        raise ArtifactError(f"{directory}: the model was trained with backbone "
                            f"{manifest.get('backbone')!r}, not {backbone!r}; retrain or choose that backbone")
    for name, digest in manifest.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing; retrain")
        if sha256_file(path) != digest:
            raise ArtifactError(f"{path} does not match the SHA-256 in {MANIFEST} (edited or damaged); retrain")
    identifier = joblib.load(directory / MODEL_FILE)
    report = json.loads((directory / REPORT_FILE).read_text())
    return identifier, manifest, report


def _json_default(obj):
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
