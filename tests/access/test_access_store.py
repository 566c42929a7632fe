"""The access tables in the gallery's file: modes, their own migration chain, an older gallery
file migrated with its own tables untouched, a newer access schema refused, threads."""
from __future__ import annotations

import os
import sqlite3
import stat
import threading

import pytest

from facerec_core.access import AccessStore, Accounts, AuditLog, Role, access_path, cli_principal
from facerec_core.access.store import SCHEMA_VERSION
from facerec_core.errors import AccessError
from facerec_core.gallery import SCHEMA_VERSION as GALLERY_SCHEMA, GalleryStore, NewSample, gallery_path
from facerec_core.gallery.schema import MIGRATIONS as GALLERY_MIGRATIONS
from facerec_core.settings import Settings
from tests.access.conftest import PASSWORD, rows, unit_vectors


def test_private_file_in_a_private_folder_wal(tmp_path):
    settings = Settings().replace(data_dir=tmp_path / "fresh" / "data")
    assert access_path(settings) == gallery_path(settings)
    with AccessStore.open(settings) as store:
        AuditLog(store).record(cli_principal(), "export")
        path = store.path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            assert companion.exists() and stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert rows(path, "SELECT value FROM access_meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    assert rows(path, "PRAGMA user_version") == [(0,)]  # the gallery's counter is not ours
    with GalleryStore(path) as gallery:  # the gallery then migrates beside us
        assert gallery.check() == []
    assert rows(path, "PRAGMA user_version") == [(GALLERY_SCHEMA,)]


def test_an_older_gallery_file_gains_the_access_tables_and_keeps_its_own(tmp_path):
    path = tmp_path / "gallery.sqlite3"
    # a version-1 gallery, as the first GalleryStore wrote it
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in GALLERY_MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with GalleryStore(path) as gallery:  # the gallery's own migration to today's schema
        gallery.add_samples("Grace Hopper", [NewSample(unit_vectors(1)[0], "facenet", 0.99, "g.jpg")])
    before = {t: rows(path, f"SELECT * FROM {t}") for t in ("people", "samples", "meta")}
    schema_before = rows(path, "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    with AccessStore(path) as store:
        accounts = Accounts(store, AuditLog(store), Settings())
        accounts.create_first_admin("Ada", PASSWORD, client_is_loopback=True)
        assert store.schema_version() == SCHEMA_VERSION
    assert {t: rows(path, f"SELECT * FROM {t}") for t in ("people", "samples", "meta")} == before
    assert rows(path, "PRAGMA user_version") == [(GALLERY_SCHEMA,)]
    schema_after = rows(path, "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    assert set(schema_before) <= set(schema_after)
    assert {n for n, _ in schema_after} - {n for n, _ in schema_before} >= \
           {"users", "sessions", "sign_in_attempts", "audit", "audit_head", "access_meta"}
    with GalleryStore(path) as gallery:
        assert [p.name for p in gallery.people()] == ["Grace Hopper"] and gallery.check() == []
    with AccessStore(path) as store:  # opening again migrates nothing and keeps the accounts
        assert [a.name for a in Accounts(store, AuditLog(store), Settings()).list(cli_principal())] == ["Ada"]


def test_an_access_schema_from_a_newer_facerec_is_refused(tmp_path):
    path = tmp_path / "g.sqlite3"
    AccessStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE access_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(AccessError, match="newer facerec"):
        AccessStore(path)


def test_a_folder_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "g.sqlite3").mkdir()
    with pytest.raises(AccessError, match="not a file"):
        AccessStore(tmp_path / "g.sqlite3")


def test_many_sessions_on_threads_sign_in_and_resume(access):
    access.accounts.create_first_admin("Ada", PASSWORD, client_is_loopback=True)
    for i in range(3):
        access.accounts.add(cli_principal(), f"user{i}", f"password number {i}", Role.OPERATOR)
    errors, seen = [], []

    def session(i: int) -> None:
        try:
            signed = access.accounts.sign_in(f"user{i}", f"password number {i}")
            for _ in range(20):
                seen.append(access.accounts.resume(signed.token).name)
            access.accounts.sign_out(signed.token)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(set(seen)) == ["user0", "user1", "user2"] and len(seen) == 60
    assert access.audit.verify().ok
    assert os.path.exists(access.path)
