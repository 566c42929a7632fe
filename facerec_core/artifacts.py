"""Trained artifacts on disk: the identifier, its labels and thresholds, a report, and a manifest
with the SHA-256 of every file. Loading checks the manifest and refuses any mismatch."""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import joblib

from .errors import ArtifactError, NoTrainedModelError
from .hashing import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_FILE = "identifier.joblib"
REPORT_FILE = "report.json"
# Versions (facerec_core.versions): artifacts_dir/versions/<id>/ and a pointer to the deployed one.
VERSIONS = "versions"
POINTER = "deployed.json"
# 2: FaceNet's crop margin scales with the face; a classifier fitted to version-1 embeddings
# (a fixed 32-pixel margin) would be fed slightly different vectors, so it is refused.
FORMAT_VERSION = 2
RETRAIN = "retrain to rebuild it (`python -m facerec_core train` or the Home page)"


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torch

    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "torch": torch.__version__}


def deployed_dir(directory: Path) -> Path:
    """The folder holding the deployed model of artifacts folder ``directory``: the version that
    ``directory/deployed.json`` points to (see :mod:`facerec_core.versions`), or ``directory`` itself
    for a folder from before versions (a single model saved in place)."""
    directory = Path(directory)
    pointer = directory / POINTER
    if not pointer.is_file():
        return directory
    try:
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{pointer} cannot be read ({exc}); choose a version with "
                            "`python -m facerec_core models use VERSION` or retrain") from None
    if not isinstance(version, str) or not version or "/" in version or version.startswith("."):
        raise ArtifactError(f"{pointer} names no valid version; choose one with "
                            "`python -m facerec_core models use VERSION`")
    return directory / VERSIONS / version


def write_files(folder: Path, identifier: Any, manifest: dict, report: dict) -> dict:
    """Write the identifier, report and manifest (with the files' SHA-256) into ``folder``, each
    owner-only (0600: the model holds embeddings, biometric data). Returns the manifest written.
    Raises OSError, TypeError or ValueError."""
    joblib.dump(identifier, folder / MODEL_FILE)
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    manifest = {**manifest, "format_version": FORMAT_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "versions": library_versions(),
                "files": {name: sha256_file(folder / name) for name in (MODEL_FILE, REPORT_FILE)}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default) + "\n")
    for name in (MODEL_FILE, REPORT_FILE, MANIFEST):
        os.chmod(folder / name, 0o600)
    return manifest


def save_artifacts(directory: Path, identifier: Any, manifest: dict, report: dict) -> Path:
    """Write the identifier, report and manifest into ``directory``.

    Everything is written and hashed in a staging folder beside ``directory`` first, so a failure
    there (a value that is not JSON, a full disk) leaves the deployed set as it was; the three
    files then replace the old ones, the manifest last because it vouches for the others, and
    should a replacement fail the old files are put back. Raises :class:`ArtifactError`.
    (Training saves versions instead: :func:`facerec_core.versions.save_version`.)
    """
    directory = Path(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    except OSError as exc:
        raise ArtifactError(f"cannot write the trained model beside {directory} ({exc}); "
                            "make the folder writable or set FACEREC_ARTIFACTS_DIR") from None
    try:
        try:
            write_files(staging, identifier, manifest, report)
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except (OSError, TypeError, ValueError) as exc:
            raise ArtifactError(f"could not write the trained model to {directory} ({exc}); the previous "
                                "model, if any, is unchanged") from None
        _swap_in(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("artifacts written to %s", directory)
    return directory


def _swap_in(staging: Path, directory: Path) -> None:
    """Move the staged files into ``directory``, the manifest last; on failure, restore the old."""
    names = (MODEL_FILE, REPORT_FILE, MANIFEST)
    old, done = staging / "previous", []
    try:
        old.mkdir()
        for name in names:
            if (directory / name).is_file():
                shutil.copy2(directory / name, old / name)
        for name in names:
            (staging / name).replace(directory / name)
            done.append(name)
    except OSError as exc:
        for name in done:
            with contextlib.suppress(OSError):
                if (old / name).is_file():
                    (old / name).replace(directory / name)
                else:
                    (directory / name).unlink()
        raise ArtifactError(f"could not write the trained model to {directory} ({exc}); the previous "
                            "model, if any, is unchanged") from None


def read_manifest(directory: Path) -> dict:
    """The manifest of ``directory`` as a dict, checked to hold what loading and the pages need.
    Raises :class:`ArtifactError` naming the problem and the fix."""
    path = deployed_dir(directory) / MANIFEST
    if not path.is_file():
        raise NoTrainedModelError(
            f"no trained model in {directory} (missing {MANIFEST}). Train one: "
            "`python -m facerec_core train --lfw-dir PATH` or the Home page's Train button.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} cannot be read ({exc}); {RETRAIN}") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise ArtifactError(f"{path} is not a facerec manifest: {problem}; {RETRAIN}")
    return manifest


def _manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a parsed manifest, or ``None``."""
    if not isinstance(manifest, dict):
        return f"it holds {type(manifest).__name__}, not an object"
    missing = [key for key in ("format_version", "backbone", "files", "thresholds") if key not in manifest]
    if missing:
        return "it lacks " + ", ".join(repr(k) for k in missing)
    files = manifest["files"]
    if not isinstance(files, dict) or not all(isinstance(files.get(n), str) for n in (MODEL_FILE, REPORT_FILE)):
        return f"'files' must give the SHA-256 of {MODEL_FILE} and {REPORT_FILE}"
    if set(files) - {MODEL_FILE, REPORT_FILE}:
        return f"'files' names files other than {MODEL_FILE} and {REPORT_FILE}"
    if not isinstance(manifest["backbone"], str):
        return "'backbone' must be a name"
    thresholds = manifest["thresholds"]
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in thresholds.values()):
        return "'thresholds' must map names to numbers"
    return None


def load_artifacts(directory: Path, backbone: str | None = None) -> tuple[Any, dict, dict]:
    """Load ``(identifier, manifest, report)`` after checking every file's SHA-256 and, if given,
    that the model was trained with ``backbone``. Anything missing, edited, truncated or not what
    training writes raises :class:`ArtifactError` saying so and how to fix it."""
    directory = deployed_dir(directory)
    manifest = read_manifest(directory)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory}: artifact format {manifest.get('format_version')} is not "
                            f"{FORMAT_VERSION}; retrain")
    if backbone is not None and manifest.get("backbone") != backbone:
        raise ArtifactError(f"{directory}: the model was trained with backbone "
                            f"{manifest.get('backbone')!r}, not {backbone!r}; retrain or choose that backbone")
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing; retrain")
        try:
            matches = sha256_file(path) == digest
        except OSError as exc:
            raise ArtifactError(f"{path} cannot be read ({exc}); retrain") from None
        if not matches:
            raise ArtifactError(f"{path} does not match the SHA-256 in {MANIFEST} (edited or damaged); retrain")
    identifier = _load_identifier(directory / MODEL_FILE, manifest)
    try:
        report = json.loads((directory / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{directory / REPORT_FILE} cannot be read ({exc}); retrain") from None
    if not isinstance(report, dict):
        raise ArtifactError(f"{directory / REPORT_FILE} holds {type(report).__name__}, not a training report; retrain")
    return identifier, manifest, report


# What the recognizer uses of a fitted identifier (identity.ModelSource).
IDENTIFIER_ATTRIBUTES = ("classes_", "encoder_", "predict", "class_similarities")


def _load_identifier(path: Path, manifest: dict) -> Any:
    try:
        identifier = joblib.load(path)
    except Exception as exc:  # unpickling fails in many ways (EOFError, UnpicklingError, KeyError...)
        raise ArtifactError(f"{path} is not a readable model ({type(exc).__name__}: {exc}); retrain") from None
    lacking = [a for a in IDENTIFIER_ATTRIBUTES if not hasattr(identifier, a)]
    if lacking:
        raise ArtifactError(f"{path} holds a {type(identifier).__name__}, not a trained identifier "
                            f"(no {', '.join(lacking)}); retrain")
    classes = manifest.get("classes")
    if isinstance(classes, int) and classes != len(identifier.classes_):
        raise ArtifactError(f"{path} knows {len(identifier.classes_)} people but {MANIFEST} says {classes}; retrain")
    return identifier


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
