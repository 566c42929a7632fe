"""Issue #16: biometric data at rest is owner-only: folders 0700, files 0600, whatever the umask,
also when a folder or file already existed with wider modes. Checked after enroll, export (library
and CLI), a real training run, a cache write, and on the gallery's -wal/-shm after a write."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from facerec_core.embeddings import EmbeddingCache
from facerec_core.gallery import GalleryStore, enroll, export_file
from facerec_core.gallery.records import NewSample
from facerec_core.secure_files import sqlite_companions as companions
from facerec_core.secure_files import private_dir, write_private
from tests.conftest import lfw_photo
from tests.gallery.conftest import unit_vectors


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(root: Path) -> None:
    """``root`` and everything below it: folders 0700, files 0600."""
    wide = [f"{p} {mode(p):o}" for p in [root, *root.rglob("*")]
            if mode(p) != (0o700 if p.is_dir() else 0o600)]
    assert not wide, wide


@pytest.fixture(params=[0o022, 0o000], ids=["umask 022", "umask 000"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _wide(folder: Path) -> Path:
    """An existing folder as an older version (or `mkdir` with umask 022) left it: 0755."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    return folder


def test_secure_files_tighten_what_exists_and_ignore_the_umask(tmp_path, umask):
    folder = private_dir(_wide(tmp_path / "data"))
    assert mode(folder) == 0o700
    existing = folder / "f"
    existing.write_bytes(b"old")
    os.chmod(existing, 0o666)
    write_private(existing, b"new")
    assert mode(existing) == 0o600 and existing.read_bytes() == b"new"
    assert [p.name for p in folder.iterdir()] == ["f"]  # no temporary file left


def test_gallery_file_and_wal_shm_are_private_after_a_write(tmp_path, umask):
    data = _wide(tmp_path / "data")
    path = data / "gallery.sqlite3"
    with GalleryStore(path) as store:
        store.add_samples("Ada Lovelace", [NewSample(unit_vectors(1)[0], "facenet", 0.99, "a.jpg")])
        wal, shm = companions(path)
        assert wal.is_file() and shm.is_file()
        assert_private_tree(data)
    # a gallery left 0644 in a 0755 folder (with a stale 0644 -wal) is tightened when opened
    os.chmod(path, 0o644)
    os.chmod(data, 0o755)
    wal.touch()
    os.chmod(wal, 0o644)
    with GalleryStore(path) as store:
        store.add_samples("Ada Lovelace", [NewSample(unit_vectors(2, seed=5)[1], "facenet", 0.99, "b.jpg")])
        assert_private_tree(data)
        assert store.people()[0].samples == 2


def test_enroll_leaves_the_gallery_private(recognizer, lfw_dir, tmp_path, umask):
    data = _wide(tmp_path / "data")
    with GalleryStore(data / "gallery.sqlite3") as store:
        report = enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", 1)])
        assert report.added == 1
        assert_private_tree(data)


def test_exports_are_private_from_the_library_and_the_cli(tmp_path, umask):
    from facerec_core.cli import main

    data = tmp_path / "data"
    with GalleryStore(data / "gallery.sqlite3") as store:
        store.add_samples("Ada Lovelace", [NewSample(unit_vectors(1)[0], "facenet", 0.99, "a.jpg")])
        out = _wide(tmp_path / "out")
        old = out / "g.json"
        old.write_text("{}")
        os.chmod(old, 0o644)
        export_file(store, old, "facenet")  # replaces a wider file
        assert mode(old) == 0o600
    assert main(["export", str(out / "cli.json"), "--data-dir", str(data), "--backbone", "facenet"]) == 0
    assert mode(out / "cli.json") == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["cli.json", "g.json"]  # no temporary files


def test_a_cache_write_is_private(tmp_path, umask):
    cache_dir = _wide(tmp_path / "cache")
    cache = EmbeddingCache(cache_dir, "key")
    cache.put("d" * 40, (unit_vectors(1)[0], "ok", 1, 0.99, np.zeros(4, np.float32)))
    cache.save()
    assert_private_tree(cache_dir)
    os.chmod(cache.path, 0o644)
    os.chmod(cache_dir, 0o755)
    again = EmbeddingCache(cache_dir, "key")  # reading an old wide cache tightens it
    assert again.get("d" * 40)[1] == "ok"
    assert_private_tree(cache_dir)


def test_training_leaves_artifacts_and_cache_private(trained, tmp_path, umask):
    """A small real training run into folders that existed 0755 with a 0644 cache."""
    from facerec_core.training import TrainConfig, train_lfw
    from facerec_core.versions import deployed_version

    settings, _ = trained
    cache = tmp_path / "cache"
    # the int8 model cache is not training's: a wide one is rebuilt when read (tests/backbones/test_int8_cache.py)
    shutil.copytree(settings.cache_dir, cache, ignore=shutil.ignore_patterns("int8"))
    for p in [cache, *cache.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    settings = settings.replace(artifacts_dir=_wide(tmp_path / "artifacts"), cache_dir=cache)
    report = train_lfw(settings, TrainConfig(max_people=3, max_images=8, verification=False, max_unknowns=5,
                                             svm_grid={"C": [1.0], "gamma": [1.0]}), deploy=True)
    assert deployed_version(settings.artifacts_dir) == report["version"]
    assert_private_tree(settings.artifacts_dir)
    assert_private_tree(cache)


def test_a_training_process_keeps_its_files_private(trained, tmp_path, umask):
    from facerec_core.training import TrainConfig
    from facerec_core.training_process import TrainingProcess

    settings, _ = trained
    job = TrainingProcess(settings.replace(artifacts_dir=tmp_path / "artifacts"),
                          TrainConfig(max_people=3, max_images=8, verification=False, open_set=False))
    try:
        job.start()
        job.cancel()
        assert job.wait(timeout=300) is not None
        assert job.progress_file.is_file() and job.stop_file.is_file()
        assert_private_tree(job.workdir)
    finally:
        job.kill()
        job.cleanup()


def test_deploying_and_loading_tighten_an_artifacts_folder_left_wide(trained, tmp_path):
    """An artifacts folder copied in (or written by an older version) with 0755/0644."""
    from facerec_core.artifacts import load_artifacts
    from facerec_core.versions import deployed_version, use_version

    settings, _ = trained
    artifacts = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, artifacts)
    for p in [artifacts, *artifacts.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    load_artifacts(artifacts)
    assert_private_tree(artifacts)
    for p in [artifacts, *artifacts.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    use_version(artifacts, deployed_version(artifacts))
    assert mode(artifacts) == 0o700 and mode(artifacts / "deployed.json") == 0o600
