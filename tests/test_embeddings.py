"""Bulk embedding: cache reuse, faces not found, unreadable files."""
import shutil

import numpy as np
import pytest

import facerec_core.embeddings as embeddings
from facerec_core.embeddings import extract_embeddings
from tests.conftest import lfw_photo


@pytest.fixture()
def small_set(tmp_path, lfw_dir, blank_image):
    """Three real photos, a face-free picture and a corrupt file."""
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = []
    for name, idx in [("Colin_Powell", 1), ("Colin_Powell", 2), ("Tony_Blair", 1)]:
        dst = folder / f"{name}_{idx:04d}.jpg"
        shutil.copy(lfw_photo(lfw_dir, name, idx), dst)
        paths.append(dst)
    Image.fromarray(blank_image).save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(lfw_photo(lfw_dir, "Tony_Blair", 2).read_bytes()[:500])
    return paths + [folder / "blank.png", folder / "broken.jpg"]


def test_records_every_image_and_reuses_the_cache(base_settings, tmp_path, small_set, monkeypatch):
    settings = base_settings.replace(cache_dir=tmp_path / "cache", workers=1)
    calls = []
    result = extract_embeddings(small_set, settings, assume_center_face=False, progress=lambda d, t: calls.append((d, t)))
    assert list(result.status) == ["ok", "ok", "ok", "no_face", "error"]
    assert result.embeddings.shape == (5, 128)
    np.testing.assert_allclose(np.linalg.norm(result.embeddings[:3], axis=1), 1.0, atol=1e-5)
    assert not result.embeddings[3:].any()
    assert result.usable.tolist() == [True, True, True, False, False]
    assert calls[-1] == (5, 5)
    counts = result.counts()
    assert counts["ok"] == 3 and counts["no_face"] == 1 and counts["error"] == 1 and counts["total"] == 5

    # second run: everything comes from the cache, even under other file names
    monkeypatch.setattr(embeddings, "_run_chunks", lambda *a, **k: pytest.fail("cache miss"))
    renamed = tmp_path / "renamed.jpg"
    shutil.copy(small_set[0], renamed)
    again = extract_embeddings([renamed] + small_set[1:], settings, assume_center_face=False, progress=False)
    np.testing.assert_array_equal(again.embeddings, result.embeddings)


def test_assumed_central_face_is_marked(base_settings, tmp_path, small_set):
    settings = base_settings.replace(cache_dir=tmp_path / "cache2", workers=1)
    result = extract_embeddings(small_set[3:4], settings, assume_center_face=True, progress=False)
    assert list(result.status) == ["assumed"]
    assert np.linalg.norm(result.embeddings[0]) == pytest.approx(1.0, abs=1e-5)


ISOLATED = "FACEREC_TEST_ISOLATED"


def test_worker_processes_match_in_process():
    """Run in a fresh interpreter. Deep in the full suite (a process holding every model earlier
    tests loaded) a spawned worker of this test was killed (BrokenProcessPool) in two runs out of
    two, while the test passed alone every time: that says nothing about the workers. Open
    question, see the issue notes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             f"{Path(__file__).name}::test_worker_processes_match_in_process_isolated"],
                            cwd=Path(__file__).parent, env={**os.environ, ISOLATED: "1", "PYTHONPATH": str(root)},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.skipif(not __import__("os").environ.get(ISOLATED),
                    reason="run in its own interpreter by test_worker_processes_match_in_process")
def test_worker_processes_match_in_process_isolated(base_settings, tmp_path, small_set):
    one = extract_embeddings(small_set[:3], base_settings.replace(cache_dir=tmp_path / "a", workers=1),
                             progress=False, chunk_size=2)
    two = extract_embeddings(small_set[:3], base_settings.replace(cache_dir=tmp_path / "b", workers=2),
                             progress=False, chunk_size=2)
    np.testing.assert_allclose(one.embeddings, two.embeddings, atol=1e-4)


def test_cancel_keeps_finished_work(base_settings, tmp_path, small_set):
    settings = base_settings.replace(cache_dir=tmp_path / "c", workers=1)
    with pytest.raises(InterruptedError):
        extract_embeddings(small_set[:3], settings, progress=False, chunk_size=1, should_stop=lambda: True)
    cache = embeddings.EmbeddingCache(settings.cache_dir, next(settings.cache_dir.glob("*.npz")).stem)
    assert len(cache.records) == 1
