"""The gallery store: persistence, schema and garbage refusal, rename/delete as search sees them,
concurrency across sessions and processes, crash safety."""
from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from facerec_core.faces import UNKNOWN
from facerec_core.gallery import (SCHEMA_VERSION, GalleryError, GallerySource, GalleryStore, NewSample,
                                  PersonNotFoundError)
from tests.gallery.conftest import PROJECT_ROOT, names_at, rows, unit_vectors


def test_store_survives_a_restart_private_wal_and_versioned(tmp_path):
    path = tmp_path / "data" / "gallery.sqlite3"
    X = unit_vectors(4)
    with GalleryStore(path) as store:
        store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a.jpg"), NewSample(X[1], "facenet", 0.98, "b.jpg")],
                          notes="friend")
        store.add_samples("Bob", [NewSample(X[2], "facenet", 0.99, "c.jpg")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with GalleryStore(path) as store:  # "restart"
        assert [(p.name, p.samples, p.notes) for p in store.people()] == [("Ada", 2, "friend"), ("Bob", 1, "")]
        names = names_at(GallerySource(store, "facenet"), X[:3], 0.5)
        assert names == ["Ada", "Ada", "Bob"]
        assert store.check() == []


def test_newer_schema_or_garbage_file_is_refused(tmp_path):
    path = tmp_path / "g.sqlite3"
    GalleryStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(GalleryError, match="newer facerec"):
        GalleryStore(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GalleryError, match="not a usable gallery"):
        GalleryStore(junk)
    # recognition goes on without the gallery (logged once, retried later) instead of failing
    assert GallerySource(junk, "facenet").search(unit_vectors(1)) == []


def test_rename_delete_sample_and_person_show_up_in_search(store):
    X = unit_vectors(3, seed=1)
    source = GallerySource(store, "facenet")
    store.add_samples("Ada", [NewSample(X[0], "facenet", 0.99, "a"), NewSample(X[1], "facenet", 0.99, "b")])
    assert names_at(source, X, 0.9) == ["Ada", "Ada", UNKNOWN]
    store.rename_person("ada", "Ada Lovelace")
    assert names_at(source, X[:1], 0.9)[0] == "Ada Lovelace"
    with pytest.raises(GalleryError, match="reserved"):
        store.rename_person("Ada Lovelace", "Unknown")
    store.create_person("Bob")
    with pytest.raises(GalleryError, match="already enrolled"):
        store.rename_person("Bob", "ada lovelace")
    store.set_notes("Bob", "no samples yet")
    sample = store.samples("Ada Lovelace")[1]
    store.delete_sample(sample.id)
    assert names_at(source, X, 0.9) == ["Ada Lovelace", UNKNOWN, UNKNOWN]
    assert store.delete_person("Ada Lovelace") == 1
    assert source.search(X) == []  # Bob has no samples: the gallery is empty for search
    assert [(p.name, p.samples, p.notes) for p in store.people()] == [("Bob", 0, "no samples yet")]
    with pytest.raises(PersonNotFoundError, match="nobody enrolled"):
        store.delete_person("Ada Lovelace")


# ---------------------------------------------------------------------------------------------
# Concurrency and crash safety


def test_two_sessions_enroll_and_recognize_at_once(tmp_path):
    """Threads as browser sessions: two share one store (cache_resource), one has its own
    connection (another process); every enrollment is kept and seen by every gallery source."""
    path = tmp_path / "g.sqlite3"
    shared, separate = GalleryStore(path), GalleryStore(path)
    X = unit_vectors(3 * 15 * 2, seed=7)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def session(worker: int, store: GalleryStore, other: GalleryStore) -> None:
        try:
            source = GallerySource(other, "facenet")  # sees changes made elsewhere
            start.wait()
            for i in range(15):
                k = (worker * 15 + i) * 2
                name = f"w{worker}-{i}"
                store.add_samples(name, [NewSample(X[k], "facenet", 1.0), NewSample(X[k + 1], "facenet", 1.0)])
                assert names_at(source, X[k:k + 1], 0.9)[0] == name
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    def searcher() -> None:
        try:
            source = GallerySource(shared, "facenet")
            start.wait()
            for _ in range(200):
                source.search(X[:4])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(0, shared, separate)),
               threading.Thread(target=session, args=(1, shared, shared)),
               threading.Thread(target=session, args=(2, separate, shared)),
               threading.Thread(target=searcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(shared.people()) == 45 and all(p.samples == 2 for p in separate.people())
    assert names_at(GallerySource(path, "facenet"), X[::2], 0.9) == \
        [f"w{w}-{i}" for w in range(3) for i in range(15)]
    shared.close()
    separate.close()


WRITER = textwrap.dedent("""
    import io
    import sys
    import numpy as np
    from PIL import Image
    from facerec_core.gallery import GalleryStore, NewSample
    store = GalleryStore(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    buffer = io.BytesIO()  # a real thumbnail: the store decodes every one it is given
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    thumb = buffer.getvalue()
    i = 0
    while True:
        X = rng.normal(size=(25, 128)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        store.add_samples(f"p{sys.argv[2]}-{i}", [NewSample(x, "facenet", 0.99, f"s{j}", None, thumb)
                                                  for j, x in enumerate(X)])
        i += 1
        if i == 3:
            print("ready", flush=True)
""")


def test_killing_a_writer_mid_enrollment_leaves_the_store_consistent(tmp_path):
    path = tmp_path / "g.sqlite3"
    GalleryStore(path).close()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(round_)], stdout=subprocess.PIPE,
                                env=env, cwd=PROJECT_ROOT)
        try:
            assert proc.stdout.readline().strip() == b"ready"
            time.sleep(0.05 + 0.1 * round_)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        with GalleryStore(path) as store:
            assert store.check() == []
            assert rows(path, "PRAGMA integrity_check") == [("ok",)]
            people = store.people()
            assert len(people) >= 3 * (round_ + 1)
            assert all(p.samples == 25 for p in people), [p for p in people if p.samples != 25]
            assert rows(path, "SELECT COUNT(*) FROM samples WHERE person_id NOT IN (SELECT id FROM people)") == [(0,)]
            # and it still takes writes
            store.add_samples(f"after-{round_}", [NewSample(unit_vectors(1, seed=round_)[0], "facenet", 1.0)])
            store.delete_person(f"after-{round_}")
