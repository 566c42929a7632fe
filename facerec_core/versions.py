"""Trained models kept as versions, one deployed at a time, with a way back.

Layout of the artifacts folder::

    artifacts/
      deployed.json             {"version": ID, "deployed": time, "previous": ID}: the one in use
      versions/<ID>/            manifest.json, identifier.npz, identifier.json [, svc.skops], report.json
                                (artifacts.write_files; format 3, no pickle: model_files)

A version is written in a staging folder inside ``versions/`` and renamed into place whole, so a
training run that is cancelled or killed leaves no half-written version; only :func:`use_version`
moves the pointer (an atomic replace), so nothing is deployed without being asked for. Folders and
files are owner-only (0700 / 0600): models hold embeddings. An artifacts folder from before versions
(the three files in the folder itself) still loads, and becomes the version ``legacy`` the first
time a version is saved or chosen.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .artifacts import (ALL_FILES, MANIFEST, POINTER, VERSIONS, deployed_dir, load_artifacts, read_manifest,
                        write_files)
from .errors import ArtifactError
from .secure_files import private_dir

log = logging.getLogger(__name__)

LEGACY = "legacy"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One saved model: its id, folder, manifest (``None`` when unreadable, with ``error``) and
    whether it is the deployed one."""

    version: str
    path: Path
    deployed: bool
    manifest: dict | None = None
    error: str | None = None

    @property
    def created(self) -> str:
        return str((self.manifest or {}).get("created", ""))


def versions_root(artifacts_dir: Path) -> Path:
    return Path(artifacts_dir) / VERSIONS


def check_version_id(version: str) -> str:
    """``version`` when it is a plain version name; raises ArtifactError otherwise."""
    if not isinstance(version, str) or not _ID.match(version):
        raise ArtifactError(f"{version!r} is not a version name (see `python -m facerec_core models list`)")
    return version


def new_version_id() -> str:
    """A sortable, unique name: UTC time and a random suffix, e.g. ``20261202-124501-3fa2``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def deployed_version(artifacts_dir: Path) -> str | None:
    """The id of the deployed version; ``legacy`` for a model saved before versions; ``None``
    when nothing is deployed. Raises ArtifactError when the pointer is damaged."""
    artifacts_dir = Path(artifacts_dir)
    if (artifacts_dir / POINTER).is_file():
        return deployed_dir(artifacts_dir).name
    return LEGACY if (artifacts_dir / MANIFEST).is_file() else None


def _write_pointer(artifacts_dir: Path, version: str, previous: str | None) -> None:
    private_dir(artifacts_dir)
    fd, tmp = tempfile.mkstemp(prefix=".deployed-", dir=artifacts_dir)  # 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"version": version, "previous": previous,
                       "deployed": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}, out)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, artifacts_dir / POINTER)  # atomic: readers see the old or the new pointer
    except BaseException:
        _unlink(Path(tmp))
        raise


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def migrate_legacy(artifacts_dir: Path) -> str | None:
    """Turn a model saved before versions (files in the artifacts folder itself) into the version
    ``legacy`` and point at it. Returns the deployed id afterwards (``None`` when nothing is)."""
    artifacts_dir = Path(artifacts_dir)
    if (artifacts_dir / POINTER).is_file() or not (artifacts_dir / MANIFEST).is_file():
        return deployed_version(artifacts_dir)
    root = private_dir(versions_root(artifacts_dir))
    target = root / LEGACY
    if target.exists():
        target = root / f"{LEGACY}-{secrets.token_hex(2)}"
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        for name in ALL_FILES:  # an old pickle moves too, and is refused there as here
            if (artifacts_dir / name).is_file():
                shutil.copy2(artifacts_dir / name, staging / name)
                os.chmod(staging / name, 0o600)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_pointer(artifacts_dir, target.name, None)
    for name in ALL_FILES:  # the pointer now vouches for the copy
        _unlink(artifacts_dir / name)
    log.info("the model in %s is now version %s", artifacts_dir, target.name)
    return target.name


def save_version(artifacts_dir: Path, identifier: Any, manifest: dict, report: dict, *,
                 deploy: bool = False) -> str:
    """Save a trained model as a new version (not deployed unless ``deploy``); returns its id.
    Raises ArtifactError, leaving the versions and the deployed model as they were."""
    artifacts_dir = Path(artifacts_dir)
    version = new_version_id()
    try:
        private_dir(artifacts_dir)
        migrate_legacy(artifacts_dir)
        root = private_dir(versions_root(artifacts_dir))
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    except OSError as exc:
        raise ArtifactError(f"cannot write the trained model in {artifacts_dir} ({exc}); "
                            "make the folder writable or set FACEREC_ARTIFACTS_DIR") from None
    try:
        write_files(staging, identifier, {**manifest, "version": version}, report)
        staging.rename(root / version)  # whole or not at all
    except (OSError, TypeError, ValueError) as exc:
        raise ArtifactError(f"could not write the trained model to {root / version} ({exc}); the deployed "
                            "model, if any, is unchanged") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model saved as version %s in %s", version, root)
    if deploy:
        use_version(artifacts_dir, version)
    return version


def use_version(artifacts_dir: Path, version: str) -> dict:
    """Deploy ``version`` (after checking every file against its manifest); returns its manifest.
    Raises ArtifactError (unknown version, damaged files) and leaves the pointer as it was."""
    artifacts_dir = Path(artifacts_dir)
    check_version_id(version)
    previous = migrate_legacy(artifacts_dir)
    folder = versions_root(artifacts_dir) / version
    if not folder.is_dir():
        known = ", ".join(v.version for v in list_versions(artifacts_dir)) or "none"
        raise ArtifactError(f"no version {version!r} in {versions_root(artifacts_dir)} (versions: {known})")
    _, manifest, _ = load_artifacts(folder)
    _write_pointer(artifacts_dir, version, previous)
    log.info("version %s deployed (was %s)", version, previous)
    return manifest


def list_versions(artifacts_dir: Path) -> list[VersionInfo]:
    """Every saved version, newest first (a pre-versions model as ``legacy``)."""
    artifacts_dir = Path(artifacts_dir)
    try:
        deployed = deployed_version(artifacts_dir)
    except ArtifactError:
        deployed = None
    out = []
    if not (artifacts_dir / POINTER).is_file() and (artifacts_dir / MANIFEST).is_file():
        out.append(_info(LEGACY, artifacts_dir, True))
    root = versions_root(artifacts_dir)
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and _ID.match(folder.name):
                out.append(_info(folder.name, folder, folder.name == deployed))
    return sorted(out, key=lambda v: (v.created, v.version), reverse=True)


def _info(version: str, folder: Path, deployed: bool) -> VersionInfo:
    try:
        return VersionInfo(version, folder, deployed, read_manifest(folder))
    except ArtifactError as exc:
        return VersionInfo(version, folder, deployed, None, str(exc))


def load_version(artifacts_dir: Path, version: str) -> tuple[dict, dict]:
    """``(manifest, report)`` of one version, checked against its manifest. Raises ArtifactError."""
    check_version_id(version)
    artifacts_dir = Path(artifacts_dir)
    folder = versions_root(artifacts_dir) / version
    if version == LEGACY and not folder.is_dir() and not (artifacts_dir / POINTER).is_file():
        folder = artifacts_dir  # a model saved before versions, not yet migrated
    _, manifest, report = load_artifacts(folder)
    return manifest, report


def discard_version(artifacts_dir: Path, version: str) -> None:
    """Delete a version that is not deployed. Raises ArtifactError for the deployed one."""
    check_version_id(version)
    if version == deployed_version(artifacts_dir):
        raise ArtifactError(f"version {version} is deployed: deploy another before deleting it")
    shutil.rmtree(versions_root(artifacts_dir) / version, ignore_errors=True)


def clean_staging(artifacts_dir: Path) -> None:
    """Remove staging folders left by a run that was killed while saving."""
    root = versions_root(artifacts_dir)
    if root.is_dir():
        for folder in root.glob(".staging-*"):
            shutil.rmtree(folder, ignore_errors=True)
