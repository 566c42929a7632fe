"""The trained identifier on disk in a form that cannot run code when it is read (format 3).

A pickle (joblib, which artifact formats 1 and 2 used) runs whatever a swapped file tells it to
the moment it is loaded, before any check of what it holds. So the identifier is stored as data:

- ``identifier.npz``: its arrays (class names, the training embeddings grouped by person, their
  labels and order, the nearest-neighbour centroids), read with ``np.load(allow_pickle=False)``,
  which refuses object arrays (the one place a pickle can hide in an ``.npz``);
- ``identifier.json``: its kind and parameters;
- ``svc.skops`` (the SVM only): scikit-learn's fitted ``SVC`` in skops' format, a zip of JSON and
  arrays, loaded only when :func:`skops.io.get_untrusted_types` finds no type beyond skops' own
  trusted scikit-learn and numpy types (:data:`TRUSTED_SVC_TYPES` adds none), and only if it is
  an ``SVC``.

Every array and parameter is checked (types, shapes, ranges, consistency) before the identifier
is rebuilt; the rebuilt one answers exactly as the one that was saved (tested).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .secure_files import write_private

ARRAYS_FILE = "identifier.npz"
PARAMS_FILE = "identifier.json"
SVC_FILE = "svc.skops"
KINDS = ("nn", "svm")
"""The identifier kinds that can be saved (their classes need scikit-learn: imported when used)."""
TRUSTED_SVC_TYPES: list[str] = []
"""Types a ``svc.skops`` may name beyond skops' defaults (scikit-learn estimators, numpy): none."""
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
"""Files of these kinds in a model folder are refused unread (formats 1 and 2 used joblib)."""

_ARRAYS = {"nn": ("classes", "gallery", "gallery_labels", "gallery_position", "centroids"),
           "svm": ("classes", "gallery", "gallery_labels", "gallery_position")}


class ModelFileError(ValueError):
    """A model file that is not what training writes; the message names the problem."""


def model_files(kind: str) -> tuple[str, ...]:
    """The files an identifier of ``kind`` (``nn`` or ``svm``) is saved in."""
    return (ARRAYS_FILE, PARAMS_FILE, SVC_FILE) if kind == "svm" else (ARRAYS_FILE, PARAMS_FILE)


def identifier_class(kind: str) -> type:
    """The class of an identifier ``kind``; scikit-learn is imported only here, so that code
    which never touches a trained model (``predict --no-model``) starts without it."""
    from .identity.identifiers import NearestNeighborIdentifier, SVMIdentifier

    return {"nn": NearestNeighborIdentifier, "svm": SVMIdentifier}[kind]


def kind_of(identifier: Any) -> str:
    """``nn`` or ``svm``; raises TypeError for anything else (nothing else can be saved)."""
    for kind in KINDS:
        if type(identifier) is identifier_class(kind):
            return kind
    raise TypeError(f"cannot save a {type(identifier).__name__}: only fitted NearestNeighborIdentifier "
                    "and SVMIdentifier models can be saved")


def dump_identifier(identifier: Any, folder: Path) -> tuple[str, list[str]]:
    """Write a fitted identifier into ``folder`` (owner-only files); returns ``(kind, names)``."""
    kind = kind_of(identifier)
    classes = np.asarray(identifier.classes_)
    arrays = {"classes": classes.astype(str), "gallery": np.asarray(identifier.gallery_, np.float32),
              "gallery_labels": np.asarray(identifier.gallery_labels_, np.int64),
              "gallery_position": np.asarray(identifier.gallery_position_, np.int64)}
    params: dict[str, Any] = {"kind": kind, "params": identifier.get_params()}
    if kind == "nn":
        arrays["centroids"] = np.asarray(identifier.centroids_, np.float32)
    else:
        import skops.io

        params["best_params"] = identifier.best_params_
        for extra in ("search_samples_", "cv_results_"):
            if hasattr(identifier, extra):
                params[extra.rstrip("_")] = getattr(identifier, extra)
        write_private(folder / SVC_FILE, skops.io.dumps(identifier.svc_))
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_private(folder / ARRAYS_FILE, buffer.getvalue())
    write_private(folder / PARAMS_FILE, json.dumps(params, indent=1, default=_plain) + "\n")
    return kind, list(model_files(kind))


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_identifier(folder: Path, kind: str) -> Any:
    """Rebuild the identifier saved in ``folder`` by :func:`dump_identifier`.

    Raises :class:`ModelFileError` naming the file and what is wrong with it; no file is ever
    unpickled."""
    if kind not in KINDS:
        raise ModelFileError(f"unknown identifier kind {kind!r} (expected nn or svm)")
    params = _read_params(folder / PARAMS_FILE, kind)
    arrays = _read_arrays(folder / ARRAYS_FILE, kind)
    classes, gallery = arrays["classes"], arrays["gallery"]
    try:
        identifier = identifier_class(kind)(**params["params"])
    except TypeError as exc:
        raise ModelFileError(f"{folder / PARAMS_FILE}: parameters not accepted ({exc})") from None
    from sklearn.preprocessing import LabelEncoder

    identifier.encoder_ = LabelEncoder()
    identifier.encoder_.classes_ = classes
    identifier.classes_ = classes
    identifier._restore_gallery(gallery, arrays["gallery_labels"], arrays["gallery_position"])
    if kind == "nn":
        _check_number(params["params"], "centroid_weight", folder / PARAMS_FILE, 0.0, 10.0)
        _check_number(params["params"], "temperature", folder / PARAMS_FILE, 1e-6, 100.0)
        identifier.centroids_ = arrays["centroids"]
    else:
        _check_number(params["params"], "temperature", folder / PARAMS_FILE, 0.0, 100.0)
        identifier.best_params_ = params.get("best_params")
        for extra in ("search_samples", "cv_results"):
            if extra in params:
                setattr(identifier, extra + "_", params[extra])
        identifier.svc_ = _read_svc(folder / SVC_FILE, len(classes), gallery.shape[1])
    return identifier


def _check_number(params: dict, key: str, path: Path, low: float, high: float) -> None:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ModelFileError(f"{path}: {key!r} must be a number from {low:g} to {high:g}, not {value!r}")


def _read_params(path: Path, kind: str) -> dict:
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} cannot be read ({exc})") from None
    if not isinstance(params, dict) or not isinstance(params.get("params"), dict):
        raise ModelFileError(f"{path} holds no identifier parameters")
    if params.get("kind") != kind:
        raise ModelFileError(f"{path} is a {params.get('kind')!r} identifier, but the manifest says {kind!r}")
    return params


def _read_arrays(path: Path, kind: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            if names != set(_ARRAYS[kind]):
                raise ModelFileError(f"{path} holds the arrays {sorted(names)}, not {list(_ARRAYS[kind])}")
            arrays = {name: z[name] for name in _ARRAYS[kind]}
    except ModelFileError:
        raise
    except Exception as exc:  # not a zip, an object array (pickled), a damaged member...
        raise ModelFileError(f"{path} is not a readable model ({type(exc).__name__}: {exc})") from None
    not_arrays = [name for name, value in arrays.items() if not isinstance(value, np.ndarray)]
    if not_arrays:  # np.load returns a member that is not in .npy format as its raw bytes
        raise ModelFileError(f"{path} is not a readable model ({', '.join(not_arrays)}: not a .npy array)")
    problem = _arrays_problem(arrays, kind)
    if problem:
        raise ModelFileError(f"{path} is not a readable model ({problem})")
    return arrays


def _arrays_problem(a: dict[str, np.ndarray], kind: str) -> str | None:
    classes, gallery, labels, position = a["classes"], a["gallery"], a["gallery_labels"], a["gallery_position"]
    if classes.ndim != 1 or classes.dtype.kind != "U" or len(classes) < 1:
        return "'classes' must be a list of names"
    if len(classes) > 1 and not bool(np.all(classes[1:] > classes[:-1])):
        return "'classes' must be sorted and unique"
    if gallery.ndim != 2 or gallery.dtype != np.float32 or gallery.shape[0] < 1 or gallery.shape[1] < 1:
        return "'gallery' must be a float32 matrix"
    if not np.isfinite(gallery).all():
        return "'gallery' holds values that are not finite"
    n = gallery.shape[0]
    for name, arr in (("gallery_labels", labels), ("gallery_position", position)):
        if arr.ndim != 1 or arr.dtype.kind not in "iu" or len(arr) != n:
            return f"{name!r} must hold one integer per embedding"
    if labels.min() < 0 or labels.max() >= len(classes) or np.any(np.diff(labels) < 0):
        return "'gallery_labels' must be sorted class numbers"
    if len(np.unique(labels)) != len(classes):
        return "every class must have at least one embedding"
    if not np.array_equal(np.sort(position), np.arange(n)):
        return "'gallery_position' must be a permutation"
    if kind == "nn":
        c = a["centroids"]
        if c.dtype != np.float32 or c.shape != (len(classes), gallery.shape[1]) or not np.isfinite(c).all():
            return "'centroids' must be one finite float32 row per class"
    return None


def _read_svc(path: Path, n_classes: int, dim: int) -> Any:
    import skops.io
    from sklearn.svm import SVC

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable model ({type(exc).__name__}: {exc})") from None
    unexpected = [t for t in untrusted if t not in TRUSTED_SVC_TYPES]
    if unexpected:
        raise ModelFileError(f"{path} names types that are not trusted ({', '.join(unexpected[:5])}); not loaded")
    try:
        svc = skops.io.load(path, trusted=TRUSTED_SVC_TYPES)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable model ({type(exc).__name__}: {exc})") from None
    if type(svc) is not SVC:
        raise ModelFileError(f"{path} holds a {type(svc).__name__}, not an SVC")
    classes = getattr(svc, "classes_", None)
    if classes is None or not np.array_equal(np.asarray(classes), np.arange(n_classes)) \
            or getattr(svc, "n_features_in_", None) != dim:
        raise ModelFileError(f"{path}: the SVC does not fit the identifier's {n_classes} classes of {dim} values")
    return svc


def pickles_in(folder: Path) -> list[str]:
    """Names of pickle files (``*.joblib``, ``*.pkl``, ``*.pickle``) in ``folder``."""
    try:
        return sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    except OSError:
        return []
