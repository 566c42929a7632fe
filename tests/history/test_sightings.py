"""Sightings: recorded, read back, sealed with the gallery's key, filtered, summarised and purged
after the retention period."""
from __future__ import annotations

import datetime as dt
import io
import sqlite3

import numpy as np
import pytest
from PIL import Image

from facerec_core.errors import HistoryError
from facerec_core.faces import Face, Match
from facerec_core.history import SightingQuery, SightingStore, search_by_face, sightings_csv
from facerec_core.settings import Settings, parse_sources

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now


def face(name, score=0.8, runner="Tony_Blair", seed=0):
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=128).astype(np.float32)
    return Face(box=(40, 40, 140, 160), det_score=0.99, embedding=vector / np.linalg.norm(vector), identity=name,
                confidence=score, matches=[Match(name, score), Match(runner, score - 0.2)])


@pytest.fixture()
def image():
    y, x = np.mgrid[0:200, 0:200]
    return np.stack([x % 256, y % 256, (x * y) % 256], axis=-1).astype(np.uint8)


def test_a_sighting_is_read_back_with_its_thumbnail_and_embedding(tmp_path, image):
    store = SightingStore(tmp_path / "g.sqlite3", clock=Clock())
    seen = face("Colin_Powell")
    [sid] = store.record("recognize", [seen, Face(box=(0, 0, 5, 5), det_score=0.5)], image=image, place="a.jpg",
                         backbone="facenet")
    [got] = store.sightings(thumbnails=True, embeddings=True)
    assert (got.id, got.source, got.place, got.answer, got.runner_up) == (sid, "recognize", "a.jpg", "Colin_Powell",
                                                                          "Tony_Blair")
    assert got.score == pytest.approx(0.8) and got.runner_up_score == pytest.approx(0.6)
    assert np.allclose(got.embedding, seen.embedding)
    assert Image.open(io.BytesIO(got.thumbnail)).size == (64, 64)
    assert got.time == "2026-12-01T09:00:00.000000Z"
    assert (tmp_path / "g.sqlite3").stat().st_mode & 0o777 == 0o600


def test_with_the_gallery_key_thumbnails_and_embeddings_are_sealed(tmp_path, image):
    key = tmp_path / "keys" / "gallery.key"
    store = SightingStore(tmp_path / "g.sqlite3", key_file=key)
    seen = face("Colin_Powell")
    store.record("cli", [seen], image=image, backbone="facenet")
    raw = sqlite3.connect(tmp_path / "g.sqlite3").execute("SELECT embedding, embedding_seal FROM sightings").fetchone()
    assert raw[0] != np.asarray(seen.embedding, "<f4").tobytes() and raw[1] is not None
    [got] = store.sightings(thumbnails=True, embeddings=True)
    assert np.allclose(got.embedding, seen.embedding) and got.thumbnail.startswith(b"\xff\xd8")
    other = SightingStore(tmp_path / "g.sqlite3", key_file=tmp_path / "other.key")  # another key: nothing readable
    [blind] = other.sightings(thumbnails=True, embeddings=True)
    assert blind.embedding is None and blind.thumbnail is None and blind.answer == "Colin_Powell"
    plain = SightingStore(tmp_path / "g.sqlite3")  # no key at all: the same
    assert plain.sightings(embeddings=True)[0].embedding is None


def test_queries_filter_by_person_unknown_source_and_time(tmp_path):
    clock = Clock()
    store = SightingStore(tmp_path / "g.sqlite3", clock=clock)
    for hours, (source, name) in enumerate([("recognize", "Colin_Powell"), ("live", "unknown"),
                                            ("cli", "Colin_Powell"), ("live", "Tony_Blair")]):
        clock.now = START + dt.timedelta(hours=hours)
        store.record(source, [face(name)])
    assert [s.answer for s in store.sightings()] == ["Tony_Blair", "Colin_Powell", "unknown", "Colin_Powell"]
    assert store.count(SightingQuery(person="Colin_Powell")) == 2
    assert [s.answer for s in store.sightings(SightingQuery(person="unknown"))] == ["unknown"]
    assert {s.source for s in store.sightings(SightingQuery(sources=("live",)))} == {"live"}
    window = SightingQuery(since=START + dt.timedelta(minutes=30), until=START + dt.timedelta(hours=2))
    assert [s.answer for s in store.sightings(window)] == ["Colin_Powell", "unknown"]
    summary = store.people_summary()
    assert summary[0] == {"answer": "Colin_Powell", "first_seen": "2026-12-01T09:00:00.000000Z",
                          "last_seen": "2026-12-01T11:00:00.000000Z", "sightings": 2}


def test_sightings_older_than_the_retention_are_purged_by_recording(tmp_path):
    clock = Clock()
    store = SightingStore(tmp_path / "g.sqlite3", retention_days=30, clock=clock)
    store.record("live", [face("Colin_Powell")])
    clock.now = START + dt.timedelta(days=29)
    assert store.purge() == 0 and store.count() == 1
    clock.now = START + dt.timedelta(days=31)
    reopened = SightingStore(tmp_path / "g.sqlite3", retention_days=30, clock=clock)
    reopened.record("live", [face("Tony_Blair")])  # the first record of a process purges
    assert [s.answer for s in reopened.sightings()] == ["Tony_Blair"]
    keep = SightingStore(tmp_path / "g.sqlite3", retention_days=0, clock=Clock(START + dt.timedelta(days=900)))
    assert keep.purge() == 0 and keep.count() == 1


def test_an_unknown_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown sighting source"):
        SightingStore(tmp_path / "g.sqlite3").record("camera 3", [face("x")])


def test_the_sources_setting(monkeypatch):
    assert parse_sources("recognize, live") == ("recognize", "live")
    assert parse_sources("none") == () == parse_sources("")
    with pytest.raises(ValueError, match="unknown source door"):
        parse_sources("door")
    monkeypatch.setenv("FACEREC_SIGHTINGS", "cli")
    monkeypatch.setenv("FACEREC_SIGHTINGS_DAYS", "7")
    settings = Settings.from_env()
    assert settings.sightings == ("cli",) and settings.sightings_days == 7
    monkeypatch.delenv("FACEREC_SIGHTINGS")
    assert Settings.from_env().sightings == ("recognize", "live", "cli", "api")


def test_a_database_from_a_newer_facerec_is_refused(tmp_path):
    SightingStore(tmp_path / "g.sqlite3").close()
    conn = sqlite3.connect(tmp_path / "g.sqlite3")
    conn.execute("UPDATE history_meta SET value = '9' WHERE key = 'schema_version'")
    conn.commit()
    with pytest.raises(HistoryError, match="newer facerec"):
        SightingStore(tmp_path / "g.sqlite3")


def test_search_by_face_finds_the_same_person_known_or_not(tmp_path):
    store = SightingStore(tmp_path / "g.sqlite3", clock=Clock())
    a, b = face("unknown", seed=1), face("Tony_Blair", seed=2)
    store.record("live", [a, b], backbone="facenet")
    store.record("cli", [face("unknown", seed=1)], backbone="dlib-resnet")  # another backbone: not compared
    found = search_by_face(store, a.embedding, min_cosine=0.5, backbone="facenet")
    assert [(s.answer, round(c, 4)) for s, c in found] == [("unknown", 1.0)]


def test_the_csv_defuses_formulas_typed_as_names(tmp_path):
    store = SightingStore(tmp_path / "g.sqlite3", clock=Clock())
    store.record("recognize", [face("=HYPERLINK(1)")], place="@evil.jpg")
    text = sightings_csv(store.sightings()).decode()
    assert text.splitlines()[0] == "id,time,source,place,answer,score,runner_up,runner_up_score,track"
    assert "'@evil.jpg,'=HYPERLINK(1)" in text


def test_only_large_clear_faces_can_be_enrolled_from_a_sighting(tmp_path, image):
    from facerec_core.errors import HistoryError
    from facerec_core.history.visitors import sighting_sample

    store = SightingStore(tmp_path / "g.sqlite3", clock=Clock())
    big = face("unknown")  # 100 × 120 px, detector 0.99
    small = Face(box=(0, 0, 30, 30), det_score=0.99, embedding=big.embedding, identity="unknown", confidence=0.1)
    big_id, small_id = store.record("live", [big, small], image=image, backbone="facenet")
    sample = sighting_sample(store.get(big_id))
    assert sample.source == f"sighting {big_id}" and sample.thumbnail and sample.det_score == pytest.approx(0.99)
    with pytest.raises(HistoryError, match="too small or unclear to enroll \\(30 px"):
        sighting_sample(store.get(small_id))
