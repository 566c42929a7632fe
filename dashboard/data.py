"""Data that more than one page reads, cached with ``st.cache_data``: the LFW folder's people
(Home, Dataset Explorer) and the trained model's report (Home, Model Metrics).

Cached functions take plain values (paths as strings) so their cache keys are cheap and exact;
anything that can change on disk (the artifacts) is keyed by a fingerprint as well.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from facerec_core.artifacts import MANIFEST, deployed_dir, load_artifacts, read_manifest
from facerec_core.errors import ArtifactError
from facerec_core.settings import Settings


# ---- LFW --------------------------------------------------------------------------------------
@st.cache_data(show_spinner="Scanning the LFW folder…", ttl=3600)
def lfw_people(lfw_dir: str) -> dict[str, list[str]]:
    """``name → image paths`` of an LFW-layout folder. Raises DatasetError (not cached)."""
    from facerec_core.lfw import scan_lfw

    return {name: [str(p) for p in paths] for name, paths in scan_lfw(lfw_dir).people.items()}


# ---- trained model ----------------------------------------------------------------------------
def artifacts_fingerprint(artifacts_dir: Path) -> str | None:
    """Changes whenever another model is deployed or its files are rewritten (the manifest is
    written last); ``None`` when there is none."""
    try:
        folder = deployed_dir(Path(artifacts_dir))
    except ArtifactError:
        return "damaged-pointer"  # the readers then raise the ArtifactError that says so
    try:
        stat = (folder / MANIFEST).stat()
    except OSError:
        return None
    return f"{folder.name}-{stat.st_mtime_ns}-{stat.st_size}"


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
