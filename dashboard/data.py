"""Tables and figures' data for the pages, cached with ``st.cache_data``.

Cached functions take plain values (paths as strings, arrays) so their cache keys are cheap and
exact; anything that can change on disk (the artifacts) is keyed by a fingerprint as well.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from facerec_core.artifacts import MANIFEST, load_artifacts, read_manifest
from facerec_core.settings import Settings

log = logging.getLogger(__name__)


# ---- LFW --------------------------------------------------------------------------------------
@st.cache_data(show_spinner="Scanning the LFW folder…", ttl=3600)
def lfw_people(lfw_dir: str) -> dict[str, list[str]]:
    """``name → image paths`` of an LFW-layout folder. Raises DatasetError (not cached)."""
    from facerec_core.lfw import scan_lfw

    return {name: [str(p) for p in paths] for name, paths in scan_lfw(lfw_dir).people.items()}


def image_counts(people: dict[str, list[str]]) -> pd.Series:
    """Images per person, most first (ties by name)."""
    counts = pd.Series({name: len(paths) for name, paths in people.items()}, name="images", dtype="int64")
    counts.index.name = "person"
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def filter_summary(counts: pd.Series, min_images: int) -> dict[str, float]:
    """What "people with at least ``min_images`` images" keeps."""
    kept = counts[counts >= min_images]
    return {"people": int(len(kept)), "images": int(kept.sum()),
            "people_share": float(len(kept) / max(1, len(counts))),
            "images_share": float(kept.sum() / max(1, counts.sum()))}


def search_people(names, query: str, limit: int = 50) -> list[str]:
    """Names containing every word of ``query`` (case-insensitive; spaces match underscores)."""
    words = [w for w in query.lower().replace("_", " ").split() if w]
    if not words:
        return []
    hits = [n for n in names if all(w in n.lower().replace("_", " ") for w in words)]
    return sorted(hits)[:limit]


def top_people_samples(people: dict[str, list[str]], k: int, per_person: int) -> tuple[list[str], list[str]]:
    """Paths and labels of the first ``per_person`` images of the ``k`` people with most images."""
    top = image_counts(people).index[:k]
    paths, labels = [], []
    for name in top:
        chosen = people[name][:per_person]
        paths.extend(chosen)
        labels.extend([name] * len(chosen))
    return paths, labels


# ---- embedding space --------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner="Projecting the embeddings…")
def project_embeddings(embeddings: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """``(n, 2)`` coordinates of unit embeddings by PCA or t-SNE (cached)."""
    from facerec_core.evaluate import project_2d

    return project_2d(embeddings, method, seed)


FACE_STATUS = {"ok": "detected", "assumed": "assumed (centre box)"}


def embedding_frame(coords: np.ndarray, paths: list[str], labels: list[str], status: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "person": [n.replace("_", " ") for n in labels],
                         "thumbnail": paths, "face": [FACE_STATUS.get(s, s) for s in status]})


# ---- trained model ----------------------------------------------------------------------------
def artifacts_fingerprint(artifacts_dir: Path) -> str | None:
    """Changes whenever training rewrites the artifacts (the manifest is written last)."""
    path = Path(artifacts_dir) / MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return None
    return f"{stat.st_mtime_ns}-{stat.st_size}"


@st.cache_data(max_entries=4, show_spinner="Reading the trained model's report…")
def _model_report(artifacts_dir: str, fingerprint: str | None) -> tuple[dict, dict]:
    # load_artifacts checks every file against the manifest, so an edited report is refused.
    _, manifest, report = load_artifacts(Path(artifacts_dir))
    return manifest, report


def model_report(settings: Settings) -> tuple[dict, dict]:
    """``(manifest, report)`` of the trained model. Raises ArtifactError (missing or edited)."""
    fingerprint = artifacts_fingerprint(settings.artifacts_dir)
    if fingerprint is None:
        read_manifest(settings.artifacts_dir)  # raises the ArtifactError that says how to train
    return _model_report(str(settings.artifacts_dir), fingerprint)


@st.cache_data(max_entries=4, show_spinner=False)
def _manifest(artifacts_dir: str, fingerprint: str | None) -> dict:
    return read_manifest(Path(artifacts_dir))


def model_manifest(settings: Settings) -> dict | None:
    """The manifest of the trained model, or ``None`` when there is none (or it is unreadable)."""
    from facerec_core.errors import ArtifactError

    fingerprint = artifacts_fingerprint(settings.artifacts_dir)
    if fingerprint is None:
        return None
    try:
        return _manifest(str(settings.artifacts_dir), fingerprint)
    except ArtifactError as exc:
        log.warning("%s", exc)
        return None


# ---- metrics tables ---------------------------------------------------------------------------
METRIC_LABELS = {"accuracy": "Accuracy", "macro_precision": "Macro precision", "macro_recall": "Macro recall",
                 "macro_f1": "Macro F1", "weighted_f1": "Weighted F1"}


def comparison_table(report: dict, original: dict) -> pd.DataFrame:
    """The original design's figures beside each of our identifiers (rows: metrics, values as
    percentages; "–" where a figure was not reported)."""
    columns = {"Original design": original}
    chosen = report.get("chosen_identifier")
    for kind, metrics in (report.get("identifiers") or {}).items():
        label = f"Ours: {kind.upper()}" + (" (deployed)" if kind == chosen else "")
        columns[label] = metrics or {}
    rows = []
    for key, label in METRIC_LABELS.items():
        row = {"metric": label}
        for col, metrics in columns.items():
            value = metrics.get(key)
            row[col] = "–" if value is None else f"{float(value):.1%}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def per_person_frame(report: dict) -> pd.DataFrame:
    rows = report.get("per_person") or []
    frame = pd.DataFrame(rows, columns=["person", "precision", "recall", "f1", "support", "train_images"])
    return frame.sort_values(["f1", "person"], ascending=[True, True], kind="stable").reset_index(drop=True)


def accuracy_by_train_images(per_person: pd.DataFrame) -> pd.DataFrame:
    """Per group of people with the same number of training images: their test accuracy (correct
    test images / test images, i.e. support-weighted recall) and how many people."""
    if per_person.empty:
        return pd.DataFrame(columns=["train_images", "accuracy", "people", "test_images"])
    frame = per_person.assign(correct=per_person["recall"] * per_person["support"])
    grouped = frame.groupby("train_images").agg(correct=("correct", "sum"), test_images=("support", "sum"),
                                                people=("person", "count")).reset_index()
    grouped["accuracy"] = grouped["correct"] / grouped["test_images"].clip(lower=1)
    return grouped[["train_images", "accuracy", "people", "test_images"]]


def rates_at_threshold(roc: dict, threshold: float) -> tuple[float, float] | None:
    """``(false-accept rate, false-reject rate)`` at the ROC point nearest ``threshold``."""
    thresholds = np.asarray(roc.get("threshold") or [], dtype=float)
    if thresholds.size == 0:
        return None
    i = int(np.argmin(np.abs(thresholds - threshold)))
    far = float(roc["far"][i])
    tar = float(roc["tar"][i])
    return far, 1.0 - tar


# ---- verification and open set ----------------------------------------------------------------
def verification_rules(verification: dict) -> dict[str, dict]:
    """The scoring rules View-2 measured, by name: plain cosine, and cohort-normalised when present."""
    rules = {}
    normalised = verification.get("cohort_normalised")
    if isinstance(normalised, dict) and normalised:
        rules["cohort-normalised"] = normalised
    rules["plain cosine"] = verification
    return rules


def verification_table(rules: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, rule in rules.items():
        def pct(key: str) -> str:
            value = rule.get(key)
            return "–" if value is None else f"{float(value):.2%}"

        std = rule.get("accuracy_std")
        rows.append({"score": name,
                     "accuracy": pct("accuracy_mean") + ("" if std is None else f" ± {float(std):.2%}"),
                     "threshold": "–" if rule.get("threshold") is None else f"{float(rule['threshold']):.3f}",
                     "TAR at FAR 0.1%": pct("tar_at_far_0.1%"), "TAR at FAR 1%": pct("tar_at_far_1%"),
                     "pairs": f"{int(rule['n_pairs']):,}" if rule.get("n_pairs") is not None else "–"})
    return pd.DataFrame(rows).set_index("score")


@dataclasses.dataclass
class OpenSetView:
    """An open-set report split into what the page draws; keys it does not know go to ``other``."""

    headline: dict[str, str]
    at_threshold: dict[str, str]
    curve: dict | None
    curve_point: tuple[float, float] | None
    tables: dict[str, list[dict]]
    notes: list[str]
    other: dict


# Shown in this order; any other number in the report follows, labelled from its key.
_HEADLINE = {"threshold": ("Calibrated threshold", "score"), "target_far": ("Target FAR", "rate"),
             "rank1": ("Rank-1 (known people)", "rate"), "dir_at_far_0.01": ("DIR at FAR 1%", "rate"),
             "dir_at_far_0.001": ("DIR at FAR 0.1%", "rate"),
             "threshold_at_far_0.01": ("Threshold for FAR 1%", "score"),
             "threshold_at_far_0.001": ("Threshold for FAR 0.1%", "score"),
             "cohort_weight": ("Cohort weight", "score"),
             "n_known": ("Known probes", "count"), "n_unknown": ("Stranger probes", "count")}
_AT_THRESHOLD = {"far": "Strangers accepted at the threshold", "dir": "Known people named correctly",
                 "known_rejected": "Known people called unknown"}
_TABLES = {"closest_unknowns": "Strangers who came closest to a name",
           "hubs": "Training photos that attract strangers"}


def _format(value, kind: str) -> str:
    if kind == "count" or isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else str(value)
    if kind == "rate":
        return f"{float(value):.2%}"
    return f"{float(value):.3f}"


def _guess_kind(key: str, value) -> str:
    if isinstance(value, int):
        return "count"
    if any(w in key for w in ("far", "dir", "rate", "rank", "accuracy")) and "threshold" not in key \
            and 0.0 <= float(value) <= 1.0:
        return "rate"
    return "score"


def split_open_set(open_set: dict) -> OpenSetView:
    """Known keys become headline figures, the curve, tables and notes; any other number is shown
    as a figure too, and anything else is kept for a raw view (newer reports may add keys)."""
    headline, at_threshold, tables, notes, other = {}, {}, {}, [], {}
    curve, point = None, None
    for key, (label, kind) in _HEADLINE.items():
        if isinstance(open_set.get(key), (int, float)):
            headline[label] = _format(open_set[key], kind)
    for key, value in open_set.items():
        if key in _HEADLINE and isinstance(value, (int, float)):
            continue
        elif key == "at_calibrated_threshold" and isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (int, float)):
                    label = _AT_THRESHOLD.get(k, k.replace("_", " "))
                    at_threshold[label] = _format(v, "rate" if k in _AT_THRESHOLD else _guess_kind(k, v))
            if isinstance(value.get("far"), (int, float)) and isinstance(value.get("dir"), (int, float)):
                point = (float(value["far"]), float(value["dir"]))
        elif key == "curve" and isinstance(value, dict) and value.get("far") and value.get("dir"):
            curve = value
        elif key in _TABLES and isinstance(value, list):
            if value:
                tables[_TABLES[key]] = value
        elif key == "calibration" and isinstance(value, str):
            notes.append(f"Threshold calibration: {value}.")
        elif key == "merged_names" and isinstance(value, list):
            if value:
                merged = "; ".join(" = ".join(str(n) for n in group) for group in value if isinstance(group, list))
                notes.append(f"LFW files some people under two names; these were treated as one person: {merged}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            headline[key.replace("_", " ")] = _format(value, _guess_kind(key, value))
        else:
            other[key] = value
    return OpenSetView(headline, at_threshold, curve, point, tables, notes, other)
