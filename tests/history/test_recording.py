"""Sightings recorded where decisions are made, on real LFW photos: the CLI's ``predict`` (one per
face, or none when that source is off) and the Live Webcam (once per track, never per frame)."""
from __future__ import annotations

import json
import time

import pytest

from facerec_core.cli import main
from facerec_core.history import SightingQuery, SightingStore
from facerec_core.history.recording import TrackSightings
from facerec_core.images import load_image
from facerec_core.video import LiveProcessor, VideoConfig
from tests.conftest import lfw_photo
from tests.support.scenes import moving_scene


@pytest.fixture()
def cli_env(trained, monkeypatch, tmp_path):
    settings, _ = trained
    settings = settings.replace(data_dir=tmp_path / "data")
    for key, value in (("FACEREC_ARTIFACTS_DIR", settings.artifacts_dir), ("FACEREC_CACHE_DIR", settings.cache_dir),
                       ("FACEREC_DATA_DIR", settings.data_dir), ("FACEREC_DEVICE", "cpu"),
                       ("FACEREC_BACKBONE", settings.backbone)):
        monkeypatch.setenv(key, str(value))
    return settings


def test_predict_records_one_sighting_per_face(cli_env, capsys, held_out_photo):
    name, path = held_out_photo
    assert main(["predict", str(path)]) == 0
    answer = json.loads(capsys.readouterr().out)[0]["faces"]
    store = SightingStore.open(cli_env)
    seen = store.sightings(thumbnails=True, embeddings=True)
    assert [s.answer for s in seen] == [f["identity"] for f in answer] and seen[0].answer == name
    assert seen[0].source == "cli" and seen[0].place == path.name and seen[0].backbone == "facenet"
    assert seen[0].thumbnail and seen[0].embedding.shape == (128,)


def test_predict_records_nothing_when_the_cli_source_is_off(cli_env, capsys, held_out_photo, monkeypatch):
    monkeypatch.setenv("FACEREC_SIGHTINGS", "recognize,live")
    assert main(["predict", str(held_out_photo[1])]) == 0
    assert SightingStore.open(cli_env).count() == 0


def test_the_live_webcam_records_each_track_once(trained, recognizer, lfw_dir, tmp_path):
    settings = trained[0].replace(data_dir=tmp_path / "data")
    sightings = TrackSightings(settings, backbone="facenet")
    live = LiveProcessor(recognizer, VideoConfig(), on_result=sightings.observe)
    frames = moving_scene([load_image(lfw_photo(lfw_dir, "Colin_Powell", 20))], 40)
    try:
        for frame in frames:
            live.handle(frame)
            time.sleep(0.03)
        deadline = time.monotonic() + 10
        while live.snapshot().analysed < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.snapshot().analysed >= 10
    finally:
        live.stop()
    store = SightingStore.open(settings)
    seen = store.sightings(SightingQuery(sources=("live",)), thumbnails=True)
    assert [s.answer for s in seen] == ["Colin_Powell"], seen  # many frames analysed, one sighting
    assert seen[0].track is not None and seen[0].thumbnail


def test_a_track_hidden_for_a_frame_is_not_a_new_sighting(tmp_path):
    import numpy as np

    from facerec_core.faces import Face
    from facerec_core.settings import Settings
    from facerec_core.video.tracking import FrameResult

    settings = Settings().replace(data_dir=tmp_path / "data")
    recorder = TrackSightings(settings, backbone="facenet")
    image = np.zeros((200, 200, 3), np.uint8)
    vector = np.ones(128, np.float32) / np.sqrt(128)

    def result(index, tracks):
        faces = [Face(box=(10, 10, 90, 90), det_score=0.99, embedding=vector, identity=name, confidence=0.2)
                 for name in tracks.values()]
        return FrameResult(index, faces, list(tracks), True, len(faces), {}, float(index))

    for index, tracks in enumerate([{1: "unknown"}, {}, {1: "unknown", 2: "unknown"}, {1: "Tony_Blair"}]):
        recorder.observe(image, result(index, tracks))
    store = SightingStore.open(settings)
    assert sorted((s.track, s.answer) for s in store.sightings()) == [(1, "Tony_Blair"), (1, "unknown"), (2, "unknown")]
