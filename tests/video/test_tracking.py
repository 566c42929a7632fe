"""FrameProcessor (facerec_core.video.tracking) on real frames: LFW photos of people the test
model knows, pasted on a 640×480 canvas and moving a little from frame to frame.

Photos are numbered past the 12 the test model was trained on, so they are held out.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from facerec_core.video import FrameProcessor, VideoConfig, box_iou, detection_scale, match_boxes

from tests.support.scenes import FRAME_SIZE, background, compose_frame, known_names, moving_scene
from tests.video.conftest import NO_REFRESH, SCENE_PEOPLE, STRANGER, CountingRecognizer, names


# --- pure functions --------------------------------------------------------------------------

def test_box_iou_and_matching():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    old = [(0, 0, 10, 10), (100, 100, 150, 150)]
    new = [(102, 101, 152, 151), (1, 0, 11, 10), (300, 300, 310, 310)]
    assert sorted(match_boxes(old, new, 0.3)) == [(0, 1), (1, 0)]
    assert match_boxes(old, [], 0.3) == [] and match_boxes([], new, 0.3) == []


def test_detection_scale_keeps_min_face_detectable():
    assert detection_scale(640, VideoConfig(min_face_size=60, detect_width=320)) == 0.5
    assert detection_scale(320, VideoConfig(detect_width=320)) == 1.0
    # 20 px faces in a 640-wide frame cannot be shrunk at all
    assert detection_scale(640, VideoConfig(min_face_size=20, detect_width=320)) == 1.0
    assert detection_scale(1280, VideoConfig(min_face_size=40, detect_width=320)) == 0.5


@pytest.mark.parametrize("bad", [dict(min_face_size=5), dict(detect_every=0), dict(match_iou=0.0),
                                 dict(reembed_iou=1.5), dict(refresh_s=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        VideoConfig(**bad)


# --- FrameProcessor on real frames ---------------------------------------------------------------

def test_names_on_real_frames(recognizer, two_people):
    counting = CountingRecognizer(recognizer)
    processor = FrameProcessor(counting, VideoConfig(**NO_REFRESH))
    expected = sorted(n for n, _ in SCENE_PEOPLE)
    for frame in two_people:
        result = processor.process(frame)
        assert names(result) == expected
        for face in result.faces:
            assert face.confidence is not None and face.confidence >= recognizer.threshold
            x1, y1, x2, y2 = face.box
            assert 0 <= x1 < x2 <= FRAME_SIZE[0] and 0 <= y1 < y2 <= FRAME_SIZE[1]
        assert set(result.timings) == {"detect", "embed", "identify", "total"}
        assert result.timings["detect"] > 0 and result.timings["total"] >= result.timings["detect"]
    # Tracking: two faces embedded on the first frame, then reused while they barely move.
    assert counting.detect_calls == len(two_people)
    assert counting.embed_calls == 1 and counting.faces_embedded == 2
    assert result.track_ids == sorted(result.track_ids) or len(set(result.track_ids)) == 2


def test_moved_face_is_embedded_again(recognizer, photos):
    name = SCENE_PEOPLE[0][0]
    counting = CountingRecognizer(recognizer)
    processor = FrameProcessor(counting, VideoConfig(**NO_REFRESH))
    first = processor.process(compose_frame([photos[name]], [(100, 100)]))
    small_step = processor.process(compose_frame([photos[name]], [(104, 102)]))
    assert counting.faces_embedded == 1 and small_step.embedded == 0
    assert small_step.track_ids == first.track_ids and names(small_step) == [name]
    # moved a lot but still overlapping: the same track, embedded again
    moved = processor.process(compose_frame([photos[name]], [(135, 110)]))
    assert moved.track_ids == first.track_ids and moved.embedded == 1 and names(moved) == [name]
    # somewhere else entirely: a new track
    jumped = processor.process(compose_frame([photos[name]], [(380, 200)]))
    assert jumped.track_ids != first.track_ids and jumped.embedded == 1 and names(jumped) == [name]
    assert counting.faces_embedded == 3


def test_refresh_re_embeds_after_a_while(recognizer, two_people):
    clock = [0.0]
    counting = CountingRecognizer(recognizer)
    processor = FrameProcessor(counting, VideoConfig(refresh_s=2.0), clock=lambda: clock[0])
    processor.process(two_people[0])
    clock[0] = 1.0
    assert processor.process(two_people[1]).embedded == 0
    clock[0] = 2.5
    assert processor.process(two_people[2]).embedded == 2


def test_someone_else_in_the_same_place_is_renamed_on_refresh(recognizer, photos):
    (first, _), (second, _) = SCENE_PEOPLE
    clock = [0.0]
    processor = FrameProcessor(recognizer, VideoConfig(refresh_s=1.0), clock=lambda: clock[0])
    assert names(processor.process(compose_frame([photos[first]], [(200, 100)]))) == [first]
    clock[0] = 0.5  # a swap the tracker cannot see: same box, identity reused until the refresh
    assert names(processor.process(compose_frame([photos[second]], [(200, 100)]))) == [first]
    clock[0] = 1.2
    assert names(processor.process(compose_frame([photos[second]], [(201, 100)]))) == [second]


def test_stranger_is_unknown_and_leaving_faces_disappear(recognizer, photos):
    processor = FrameProcessor(recognizer, VideoConfig(**NO_REFRESH, max_missed=1))
    known = SCENE_PEOPLE[0][0]
    both = compose_frame([photos[known], photos[STRANGER[0]]], [(40, 100), (360, 120)])
    result = processor.process(both)
    assert sorted(f.identity for f in result.faces) == sorted([known, "unknown"])
    assert known_names(result.faces) == {known}
    alone = compose_frame([photos[known]], [(42, 101)])
    assert names(processor.process(alone)) == [known]
    assert len(processor.tracks) == 2  # the stranger is remembered for max_missed detections…
    processor.process(alone)
    assert len(processor.tracks) == 1  # …then forgotten
    assert processor.process(background()).faces == []


def test_detect_every_n_frames(recognizer, two_people):
    counting = CountingRecognizer(recognizer)
    processor = FrameProcessor(counting, VideoConfig(detect_every=3, **NO_REFRESH))
    results = [processor.process(frame) for frame in two_people[:7]]
    assert [r.detected for r in results] == [True, False, False, True, False, False, True]
    assert counting.detect_calls == 3
    assert all(names(r) == sorted(n for n, _ in SCENE_PEOPLE) for r in results)
    assert results[1].timings["detect"] == 0


def test_threshold_change_renames_without_embedding(recognizer, two_people):
    counting = CountingRecognizer(recognizer)
    processor = FrameProcessor(counting, VideoConfig(**NO_REFRESH))
    processor.process(two_people[0])
    processor.update_config(processor.config.replace(threshold=0.999))
    assert names(processor.process(two_people[1])) == ["unknown", "unknown"]
    processor.update_config(processor.config.replace(threshold=None))
    assert names(processor.process(two_people[2])) == sorted(n for n, _ in SCENE_PEOPLE)
    assert counting.faces_embedded == 2


# --- concurrency: one shared Recognizer, many streams --------------------------------------------

def _run_stream(recognizer, frames) -> list[list[tuple]]:
    processor = FrameProcessor(recognizer, VideoConfig(**NO_REFRESH, reembed_iou=0.95))
    out = []
    for frame in frames:
        result = processor.process(frame)
        out.append([(f.identity, np.round(f.box, 1), f.confidence) for f in result.faces])
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert [x[0] for x in fa] == [x[0] for x in fb]
        for (_, box_a, conf_a), (_, box_b, conf_b) in zip(fa, fb):
            np.testing.assert_allclose(box_a, box_b, atol=0.2)
            assert conf_a == pytest.approx(conf_b, abs=1e-4)


def test_concurrent_streams_match_single_threaded(recognizer, photos, two_people):
    streams = [two_people[:4], moving_scene([photos[STRANGER[0]], photos[SCENE_PEOPLE[1][0]]], 4),
               moving_scene([photos[SCENE_PEOPLE[0][0]]], 4, step=(-1.0, 1.0))]
    expected = [_run_stream(recognizer, frames) for frames in streams]
    got: list = [None] * (len(streams) + 1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(got))

    def work(slot: int) -> None:
        try:
            barrier.wait()
            got[slot] = _run_stream(recognizer, streams[slot % len(streams)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(got))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for slot, result in enumerate(got):
        _assert_same(result, expected[slot % len(streams)])


def test_concurrent_recognizer_calls_match(recognizer, two_people, photos):
    images = [two_people[0], compose_frame([photos[STRANGER[0]]], [(200, 100)]), two_people[5]]
    expected = [recognizer.recognize(img) for img in images]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        results[i] = recognizer.recognize(images[i % len(images)])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 4
    for i, faces in results.items():
        ref = expected[i % len(images)]
        assert [f.identity for f in faces] == [f.identity for f in ref]
        for f, r in zip(faces, ref):
            np.testing.assert_allclose(f.embedding, r.embedding, atol=1e-4)
