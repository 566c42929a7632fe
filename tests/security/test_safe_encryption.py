"""Issue #16: the gallery's embeddings and thumbnails encrypted at rest (AES-GCM) with a key file
outside the database; each blob bound to its row; wrong or missing keys refused naming the fix;
an existing plaintext gallery encrypted when a key is set. Real SQLite files throughout."""
from __future__ import annotations

import os
import sqlite3
import stat

import numpy as np
import pytest

from facerec_core.errors import GalleryError
from facerec_core.gallery import GallerySource, GalleryStore, NewSample, export_data, import_data
from facerec_core.secure_files import sqlite_companions
from tests.gallery.conftest import jpeg_bytes, unit_vectors

THUMB = jpeg_bytes(np.random.default_rng(1).integers(0, 255, (96, 96, 3), dtype=np.uint8))


def _fill(store: GalleryStore, people: int = 3, per: int = 2, seed: int = 0) -> np.ndarray:
    X = unit_vectors(people * per, seed=seed)
    for i in range(people):
        store.add_samples(f"Person {i}", [NewSample(X[i * per + j], "facenet", 0.99, f"p{i}_{j}.jpg",
                                                    thumbnail=THUMB) for j in range(per)])
    return X


def _raw(path, sql, args=()):
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _on_disk(path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, *sqlite_companions(path)) if p.exists())


@pytest.fixture()
def paths(tmp_path):
    (tmp_path / "keys").mkdir()
    return tmp_path / "data" / "gallery.sqlite3", tmp_path / "keys" / "gallery.key"


def test_embeddings_and_thumbnails_are_encrypted_and_read_back(paths):
    path, key = paths
    with GalleryStore(path, key_file=key) as store:
        assert store.encrypted
        X = _fill(store)
        m = store.matrix("facenet")
        assert np.array_equal(m.X, X) and m.names == ["Person 0", "Person 1", "Person 2"]
        assert all(s.thumbnail == THUMB for s in store.samples("Person 1"))
        assert store.check() == [] and store.check(quick=True) == []
        export = export_data(store, "facenet")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes().strip()) == 44  # base64 of 32 bytes
    rows = _raw(path, "SELECT embedding, embedding_seal, thumbnail, thumbnail_seal FROM samples")
    assert all(len(e) == 512 and len(es) == 28 and len(t) == len(THUMB) and len(ts) == 28 for e, es, t, ts in rows)
    disk = _on_disk(path)
    assert not any(row.tobytes() in disk for row in X.astype("<f4")) and THUMB[:64] not in disk
    # the export is in clear (it is the way out of encryption): it imports into a plain gallery
    with GalleryStore(path.parent / "plain.sqlite3", key_file=None) as plain:
        assert import_data(plain, export, "facenet").samples_added == 6
        assert np.array_equal(plain.matrix("facenet").X, X)


def test_the_encrypted_gallery_refuses_a_missing_or_wrong_key(paths, tmp_path):
    path, key = paths
    with GalleryStore(path, key_file=key) as store:
        _fill(store)
    with pytest.raises(GalleryError, match="is encrypted .6 encrypted samples. but no key is set: set "
                                           "FACEREC_GALLERY_KEY_FILE"):
        GalleryStore(path, key_file=None)
    with pytest.raises(GalleryError, match="does not exist.*restore the key file from your backup"):
        GalleryStore(path, key_file=tmp_path / "keys" / "elsewhere.key")
    other = tmp_path / "keys" / "other.key"
    GalleryStore(tmp_path / "other.sqlite3", key_file=other).close()  # makes another key
    with pytest.raises(GalleryError, match="is not the key the gallery .* was encrypted with: set "
                                           "FACEREC_GALLERY_KEY_FILE to the original key file"):
        GalleryStore(path, key_file=other)
    os.chmod(key, 0o644)
    with pytest.raises(GalleryError, match=r"can be read by other users: make it owner-only \(chmod 600"):
        GalleryStore(path, key_file=key)
    os.chmod(key, 0o600)
    key.write_text("not a key\n")
    os.chmod(key, 0o600)
    with pytest.raises(GalleryError, match="is not a gallery key"):
        GalleryStore(path, key_file=key)


def test_a_blob_moved_to_another_row_does_not_decrypt(paths):
    path, key = paths
    with GalleryStore(path, key_file=key) as store:
        _fill(store)
    (a, ea, sa), (b, eb, sb) = _raw(path, "SELECT id, embedding, embedding_seal FROM samples "
                                          "WHERE person_id IN (1, 2) AND id IN (1, 3) ORDER BY id")
    # Person 0's first sample's sealed embedding copied over Person 1's first sample
    _raw(path, "UPDATE samples SET embedding = ?, embedding_seal = ? WHERE id = ?", (ea, sa, b))
    (thumb, seal), = _raw(path, "SELECT thumbnail, thumbnail_seal FROM samples WHERE id = 2")
    _raw(path, "UPDATE samples SET embedding = ?, embedding_seal = ? WHERE id = 4", (thumb[:512], seal))
    with GalleryStore(path, key_file=key) as store:
        m = store.matrix("facenet")
        assert sorted(m.sample_ids.tolist()) == [1, 2, 5, 6]  # 3 and 4 skipped, never read as Person 0
        problems = store.check()
        assert any("2 encrypted samples do not decrypt" in p and "sample ids 3, 4" in p for p in problems)


def test_turning_encryption_on_encrypts_an_existing_gallery(paths):
    path, key = paths
    with GalleryStore(path, key_file=None) as store:
        X = _fill(store)
        before = [c.name for c in GallerySource(store, "facenet").search(X)]
    assert X[0].astype("<f4").tobytes() in _on_disk(path)
    with GalleryStore(path, key_file=key) as store:
        assert _raw(path, "SELECT COUNT(*) FROM samples WHERE embedding_seal IS NULL") == [(0,)]
        assert [c.name for c in GallerySource(store, "facenet").search(X)] == before
        assert all(s.thumbnail == THUMB for s in store.samples("Person 2"))
    disk = _on_disk(path)
    assert not any(row.tobytes() in disk for row in X.astype("<f4")), "plaintext left in the file after VACUUM"


def test_a_plaintext_row_in_an_encrypted_gallery_is_read_then_encrypted(paths):
    path, key = paths
    with GalleryStore(path, key_file=key) as store:
        _fill(store, people=1, per=1)
        extra = unit_vectors(1, seed=7)[0].astype("<f4")
        _raw(path, "INSERT INTO samples(person_id, backbone, dim, embedding, det_score, created) "
                   "VALUES (1, 'facenet', 128, ?, 0.9, '2026-01-01T00:00:00+00:00')", (extra.tobytes(),))
        assert len(store.matrix("facenet").X) == 2  # mixed: the plaintext row is searched too
    with GalleryStore(path, key_file=key):
        assert _raw(path, "SELECT COUNT(*) FROM samples WHERE embedding_seal IS NULL") == [(0,)]


def test_the_key_setting_reaches_every_opener(paths, monkeypatch):
    from facerec_core.settings import Settings

    path, key = paths
    monkeypatch.setenv("FACEREC_GALLERY_KEY_FILE", str(key))
    monkeypatch.setenv("FACEREC_DATA_DIR", str(path.parent))
    monkeypatch.setenv("FACEREC_BACKBONE", "facenet")  # the backbone _fill's samples are of
    settings = Settings.from_env()
    assert settings.gallery_key_file == key
    with GalleryStore.open(settings) as store:
        X = _fill(store)
        assert store.encrypted
    with GalleryStore(path) as store:  # the default: the key of Settings.from_env()
        assert store.encrypted
    source = GallerySource.for_settings(settings)
    assert [c.name for c in source.search(X[:1])] == ["Person 0"]
