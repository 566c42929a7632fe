"""Trained artifacts on disk: the identifier, its labels and thresholds, a report, and a manifest
with the SHA-256 of every file. Loading checks the manifest and refuses any mismatch.

Format 3 stores the identifier as arrays and JSON (and the SVM's ``SVC`` with skops), never as a
pickle: see :mod:`facerec_core.model_files`. A folder holding a pickle (``identifier.joblib`` of
formats 1 and 2) is refused without reading it, saying to retrain. The manifest must list exactly
the files of its identifier's kind, and every threshold must lie where its score can lie.
Folders are 0700 and files 0600 (:mod:`facerec_core.secure_files`): the model holds embeddings."""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ArtifactError, NoTrainedModelError
from .hashing import sha256_file
from .model_files import (ARRAYS_FILE, KINDS, ModelFileError, dump_identifier, load_identifier, model_files,
                          pickles_in)
from .secure_files import private_dir, tighten, write_private

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_FILE = ARRAYS_FILE  # the identifier's arrays; its other files: model_files(kind)
LEGACY_MODEL_FILE = "identifier.joblib"  # formats 1 and 2: a pickle, never loaded
REPORT_FILE = "report.json"
# Versions (facerec_core.versions): artifacts_dir/versions/<id>/ and a pointer to the deployed one.
VERSIONS = "versions"
POINTER = "deployed.json"
# 2: FaceNet's crop margin scales with the face; a classifier fitted to version-1 embeddings
# (a fixed 32-pixel margin) would be fed slightly different vectors, so it is refused.
# 3: no pickle: the identifier as arrays + JSON (+ skops for the SVM), see model_files.
FORMAT_VERSION = 3
RETRAIN = "retrain to rebuild it (`python -m facerec_core train` or the Home page)"
ALL_FILES = (*model_files("svm"), REPORT_FILE, MANIFEST, LEGACY_MODEL_FILE)
"""Every file a model folder of any format may hold (what a save replaces or removes)."""


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
    """Write the identifier (:func:`~facerec_core.model_files.dump_identifier`), report and
    manifest (with the files' SHA-256) into ``folder``, each owner-only (0600: the model holds
    embeddings, biometric data). Returns the manifest written. Raises OSError, TypeError or
    ValueError."""
    kind, names = dump_identifier(identifier, folder)
    write_private(folder / REPORT_FILE, json.dumps(report, indent=1, default=_json_default) + "\n")
    manifest = {**manifest, "identifier": kind, "format_version": FORMAT_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "versions": library_versions(),
                "files": {name: sha256_file(folder / name) for name in (*names, REPORT_FILE)}}
    write_private(folder / MANIFEST, json.dumps(manifest, indent=1, default=_json_default) + "\n")
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
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))  # 0700
    except OSError as exc:
        raise ArtifactError(f"cannot write the trained model beside {directory} ({exc}); "
                            "make the folder writable or set FACEREC_ARTIFACTS_DIR") from None
    try:
        try:
            write_files(staging, identifier, manifest, report)
            private_dir(directory)
        except (OSError, TypeError, ValueError) as exc:
            raise ArtifactError(f"could not write the trained model to {directory} ({exc}); the previous "
                                "model, if any, is unchanged") from None
        _swap_in(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("artifacts written to %s", directory)
    return directory


def _swap_in(staging: Path, directory: Path) -> None:
    """Move the staged files into ``directory``, the manifest last, then remove files of another
    format or kind left there (an old pickle, the SVM's file after an nn model); on failure,
    restore the old files."""
    names = [p.name for p in sorted(staging.iterdir()) if p.name != MANIFEST] + [MANIFEST]
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
    for name in set(ALL_FILES) - set(names):  # the new manifest no longer vouches for them
        with contextlib.suppress(OSError):
            (directory / name).unlink()


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
    if manifest["format_version"] != FORMAT_VERSION:
        return None  # load_artifacts refuses it with what to do; listing shows it
    kind = manifest.get("identifier")
    if kind not in KINDS:
        return f"'identifier' must be one of {', '.join(KINDS)}, not {kind!r}"
    files, expected = manifest["files"], {*model_files(kind), REPORT_FILE}
    if not isinstance(files, dict) or not all(isinstance(files.get(n), str) for n in expected):
        return f"'files' must give the SHA-256 of {', '.join(sorted(expected))}"
    if set(files) != expected:
        return (f"'files' names files other than {', '.join(sorted(expected))} "
                f"({', '.join(repr(n) for n in sorted(set(files) - expected))})")
    if not isinstance(manifest["backbone"], str):
        return "'backbone' must be a name"
    return thresholds_problem(manifest["thresholds"])


THRESHOLD_KEYS = ("identify", "cohort_weight", "target_far", "verify", "verify_normalised", "verify_cohort_weight",
                  "template_mix", "hub_weight", "hub_size")
"""What training stores in a manifest's ``thresholds`` (:func:`facerec_core.training`)."""


def thresholds_problem(thresholds: Any) -> str | None:
    """What is wrong with a manifest's thresholds, or ``None``.

    Each must be a number where its score can lie, so that an edited manifest cannot turn the
    open-set rule off (a threshold of -5 names every stranger): cosines (``verify``) lie in
    [-1, 1]; a score of cosine minus *w* × the cohort mean (``identify`` with *w* =
    ``cohort_weight``, ``verify_normalised`` with ``verify_cohort_weight``) in [-(1 + w), 1 + w];
    the cohort weights in [0, 1] (the range calibration searches); ``target_far`` is a rate. The
    person rule (:class:`~facerec_core.identity.sources.PersonRule`): ``template_mix`` and
    ``hub_weight`` in [0, 1], ``hub_size`` in [1, 100]; ``identify``'s range widens by the hub
    weight too."""
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in thresholds.values()):
        return "'thresholds' must map names to numbers"
    unknown = sorted(set(thresholds) - set(THRESHOLD_KEYS))
    if unknown:
        return f"'thresholds' holds {', '.join(repr(k) for k in unknown)}, which training never writes"
    if "identify" not in thresholds:
        return "'thresholds' lacks 'identify'"
    bounds = {"cohort_weight": (0.0, 1.0), "verify_cohort_weight": (0.0, 1.0), "target_far": (0.0, 1.0),
              "verify": (-1.0, 1.0), "template_mix": (0.0, 1.0), "hub_weight": (0.0, 1.0),
              "hub_size": (1, 100)}
    for key, weights in (("identify", ("cohort_weight", "hub_weight")), ("verify_normalised", ("verify_cohort_weight",))):
        # an out-of-range weight is reported by its own bound
        w = sum(v if 0.0 <= v <= 1.0 else 1.0 for v in (thresholds.get(name, 0.0) for name in weights))
        bounds[key] = (-(1.0 + w), 1.0 + w)
    for key, (low, high) in bounds.items():
        if key in thresholds and not low <= thresholds[key] <= high:
            return f"threshold {key!r} is {thresholds[key]:g}, outside its valid range [{low:g}, {high:g}]"
    return None


def load_artifacts(directory: Path, backbone: str | None = None) -> tuple[Any, dict, dict]:
    """Load ``(identifier, manifest, report)`` after checking every file's SHA-256 and, if given,
    that the model was trained with ``backbone``. Anything missing, edited, truncated or not what
    training writes raises :class:`ArtifactError` saying so and how to fix it. A pickle in the
    folder (a model of format 1 or 2) is refused without being read."""
    root, directory = Path(directory), deployed_dir(directory)
    pickles = pickles_in(directory)
    if pickles:
        raise ArtifactError(f"{directory} holds {', '.join(pickles)}, a model saved in the old pickle-based format, "
                            "which can run code when it is loaded, so it is not loaded; " + RETRAIN)
    manifest = read_manifest(directory)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{directory}: artifact format {manifest.get('format_version')} is not "
                            f"{FORMAT_VERSION} (this facerec stores models without pickles); {RETRAIN}")
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
    identifier = _load_identifier(directory, manifest)
    try:
        report = json.loads((directory / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{directory / REPORT_FILE} cannot be read ({exc}); retrain") from None
    if not isinstance(report, dict):
        raise ArtifactError(f"{directory / REPORT_FILE} holds {type(report).__name__}, not a training report; retrain")
    for path in (root, root / VERSIONS, root / POINTER, directory,
                 *(directory / name for name in (*manifest["files"], MANIFEST))):
        tighten(path, strict=False)  # folders and files copied in with 0755/0644 are made owner-only
    return identifier, manifest, report


# What the recognizer uses of a fitted identifier (identity.ModelSource).
IDENTIFIER_ATTRIBUTES = ("classes_", "encoder_", "predict", "class_similarities")


def _load_identifier(directory: Path, manifest: dict) -> Any:
    try:
        identifier = load_identifier(directory, manifest["identifier"])
    except ModelFileError as exc:
        raise ArtifactError(f"{exc}; retrain") from None
    classes = manifest.get("classes")
    if isinstance(classes, int) and classes != len(identifier.classes_):
        raise ArtifactError(f"{directory / MODEL_FILE} knows {len(identifier.classes_)} people but {MANIFEST} "
                            f"says {classes}; retrain")
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
