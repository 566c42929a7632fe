"""Live video recognition (facerec_core.video) on real frames: LFW photos of people the test
model knows, pasted on a 640×480 canvas and moving a little from frame to frame.

Photos are numbered past the 12 the test model was trained on, so they are held out.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from facerec_core.images import load_image
from facerec_core.video import (FRAME_SIZE, FrameProcessor, LiveProcessor, VideoConfig, background, box_iou,
                                compose_frame, detection_scale, known_names, match_boxes, moving_scene, read_y4m,
                                rgb_to_i420, write_y4m)

from tests.conftest import lfw_photo

# Held-out photos (index > 12) of the test model's people that it names correctly.
SCENE_PEOPLE = (("Colin_Powell", 20), ("Tony_Blair", 20))
STRANGER = ("Aaron_Eckhart", 1)
NO_REFRESH = dict(refresh_s=1e6)  # re-embedding by age would make call counts depend on the clock


class CountingRecognizer:
    """The real Recognizer, counting detector and backbone calls."""

    def __init__(self, recognizer) -> None:
        self.inner = recognizer
        self.detect_calls = 0
        self.embed_calls = 0
        self.faces_embedded = 0
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    def detect(self, image, **kwargs):
        with self._lock:
            self.detect_calls += 1
        return self.inner.detect(image, **kwargs)

    def embed(self, image, faces):
        with self._lock:
            self.embed_calls += 1
            self.faces_embedded += len(faces)
        return self.inner.embed(image, faces)

    def identify(self, faces, **kwargs):
        return self.inner.identify(faces, **kwargs)


@pytest.fixture(scope="module")
def photos(lfw_dir, known_people) -> dict[str, np.ndarray]:
    wanted = [p for p in SCENE_PEOPLE if p[0] in known_people]
    if len(wanted) < 2:
        pytest.skip(f"the test model does not know {[p[0] for p in SCENE_PEOPLE]}")
    out = {name: load_image(lfw_photo(lfw_dir, name, index)) for name, index in wanted}
    out[STRANGER[0]] = load_image(lfw_photo(lfw_dir, *STRANGER))
    return out


@pytest.fixture(scope="module")
def two_people(photos) -> list[np.ndarray]:
    """8 frames, both scene people side by side, drifting 1.5 px right and 0.5 px down a frame."""
    return moving_scene([photos[n] for n, _ in SCENE_PEOPLE], 8)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Recognise on one torch thread, as the live worker does: on a 2-core machine shared with
    other work, two spinning OpenMP threads make every call many times slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def names(result) -> list[str | None]:
    return sorted(f.identity for f in result.faces)


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


def test_y4m_round_trip(tmp_path, blank_image):
    frames = [np.ascontiguousarray(np.roll(blank_image, k * 10, axis=1)) for k in range(3)]
    path = write_y4m(tmp_path / "clip.y4m", frames, fps=12)
    data = path.read_bytes()
    assert data.startswith(b"YUV4MPEG2 W320 H240 F12:1 Ip A1:1 C420jpeg\n")
    assert data.count(b"FRAME\n") == 3
    assert len(rgb_to_i420(frames[0])) == 320 * 240 * 3 // 2
    back, fps = read_y4m(path)
    assert fps == 12 and len(back) == 3 and back[0].shape == (240, 320, 3)
    # 4:2:0 loses colour detail only: the mean error stays small
    assert np.abs(back[1].astype(int) - frames[1].astype(int)).mean() < 6


def test_torch_thread_limit_stays_on_the_worker_thread():
    import torch

    from facerec_core.runtime import bulk_job, pin_threads, use_interactive_threads

    torch.set_num_threads(2)
    seen = []

    def worker():
        pin_threads(1)
        use_interactive_threads(0)  # a pinned thread keeps its pin
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [1] and torch.get_num_threads() == 2
    with bulk_job():  # cores busy with worker processes: interactive requests take one thread
        use_interactive_threads(0)
        assert torch.get_num_threads() == 1
    use_interactive_threads(3)
    assert torch.get_num_threads() == 3
    torch.set_num_threads(1)


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


# --- LiveProcessor: the worker thread behind the WebRTC callback ---------------------------------

def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _live_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_live_processor_never_blocks_and_drops_stale_frames(recognizer, two_people):
    live = LiveProcessor(recognizer, VideoConfig(), name="test-live-fast")
    expected = sorted(n for n, _ in SCENE_PEOPLE)
    try:
        shown = []
        for k in range(60):  # 2 s of a 30 fps camera
            out, faces = live.handle_with_faces(two_people[k % len(two_people)])
            shown.append(sorted(f.identity for f in faces))
            assert out.shape == two_people[0].shape and out.dtype == np.uint8
            time.sleep(1 / 30)
        assert _wait_for(lambda: sorted(p.name for p in live.snapshot().in_view) == expected)
        status = live.snapshot()
        assert status.state == "running" and status.frames == 60
        assert status.analysed + status.dropped <= 60 and status.analysed >= 3
        assert status.display_fps > 10 and status.process_ms_p50 is not None
        assert all(p.known and p.confidence is not None for p in status.in_view)
        assert set(status.recently_seen) == set(expected)
        assert expected in shown  # the names reached the displayed frames
    finally:
        assert live.stop()
    assert not _live_threads("test-live-fast")
    assert live.snapshot().state == "stopped" and live.snapshot().in_view == []


def test_live_processor_does_not_wait_for_slow_recognition(recognizer, two_people):
    class Slow(CountingRecognizer):
        def detect(self, image, **kwargs):
            time.sleep(0.4)
            return super().detect(image, **kwargs)

    slow = Slow(recognizer)
    live = LiveProcessor(slow, name="test-live-slow")
    try:
        handle_ms = []
        for k in range(30):  # 1 s of a 30 fps camera, while each detection takes > 0.4 s
            t = time.perf_counter()
            live.handle(two_people[k % len(two_people)])
            handle_ms.append((time.perf_counter() - t) * 1000)
            time.sleep(1 / 30)
        status = live.snapshot()
        # only the newest frame is analysed: the rest are dropped, not queued behind the detector
        assert slow.detect_calls <= 5 and status.dropped >= 30 - 2 * 5
        assert float(np.median(handle_ms)) < 200, handle_ms  # drawing only, never a detection
    finally:
        assert live.stop()
    assert not _live_threads("test-live-slow")


def test_live_processor_stops_while_frames_keep_coming(recognizer, two_people):
    class Guarded(CountingRecognizer):
        active = 0
        overlapped = False

        def detect(self, image, **kwargs):
            with self._lock:
                Guarded.active += 1
                Guarded.overlapped |= Guarded.active > 1
            try:
                time.sleep(0.2)
                return super().detect(image, **kwargs)
            finally:
                with self._lock:
                    Guarded.active -= 1

    live = LiveProcessor(Guarded(recognizer), idle_timeout_s=0.5, name="test-live-race")
    feeding = threading.Event()
    feeding.set()

    def camera() -> None:
        k = 0
        while feeding.is_set():
            live.handle(two_people[k % len(two_people)])
            k += 1
            time.sleep(1 / 30)

    feeder = threading.Thread(target=camera)
    feeder.start()
    try:
        assert _wait_for(lambda: live.latest() is not None)
        for _ in range(3):  # Stop pressed while the browser still sends a few frames
            started = time.monotonic()
            assert live.stop(timeout=10)
            assert time.monotonic() - started < 5
            time.sleep(0.3)
    finally:
        feeding.clear()
        feeder.join()
    assert not Guarded.overlapped  # one stream's frames are never analysed by two workers at once
    assert _wait_for(lambda: not live.running, timeout=10)  # late frames' worker idles out
    assert not _live_threads("test-live-race")


def test_live_processor_mirror_idle_exit_and_restart(recognizer, two_people):
    live = LiveProcessor(recognizer, VideoConfig(mirror=True), idle_timeout_s=0.5, name="test-live-idle")
    frame = two_people[0]
    live.handle(frame)
    assert _wait_for(lambda: live.latest() is not None)
    # boxes are found on the mirrored frame: the left face of the original is now on the right
    plain = FrameProcessor(recognizer).process(frame)
    mirrored = live.latest()
    by_name = {f.identity: f for f in plain.faces}
    for face in mirrored.faces:
        x1, _, x2, _ = by_name[face.identity].box
        assert face.box[0] == pytest.approx(frame.shape[1] - x2, abs=6)
    # no frames for a while: the worker exits by itself, and comes back with the next frame
    assert _wait_for(lambda: not live.running, timeout=10)
    assert not _live_threads("test-live-idle")
    live.handle(frame)
    assert live.running
    assert live.stop()
    assert not _live_threads("test-live-idle")


def test_live_processor_stream_end_and_errors(recognizer, two_people):
    class Broken(CountingRecognizer):
        def detect(self, image, **kwargs):
            raise RuntimeError("camera frame could not be read")

    live = LiveProcessor(Broken(recognizer), name="test-live-broken")
    out = live.handle(two_people[0])  # never raises into the video thread
    assert out.shape == two_people[0].shape
    assert _wait_for(lambda: live.snapshot().state == "error")
    assert "camera frame could not be read" in live.snapshot().message
    live.mark_ended("The video stream ended.")
    status = live.snapshot()
    assert status.state == "ended" and status.message == "The video stream ended." and status.in_view == []
    assert _wait_for(lambda: not live.running, timeout=10)
    assert not _live_threads("test-live-broken")


# --- the Streamlit-side glue: ICE servers and the WebRTC callback -------------------------------

def test_ice_servers_default_to_none_and_come_from_a_setting():
    from dashboard.webcam_support import IceConfigError, parse_ice_servers, rtc_configuration

    assert rtc_configuration({}, secret=[]) == ({"iceServers": []}, None)
    turn = '[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]'
    config, problem = rtc_configuration({"FACEREC_ICE_SERVERS": turn})
    assert problem is None
    assert config == {"iceServers": [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]}
    assert rtc_configuration({}, secret=[{"urls": "stun:stun.example.org:3478"}])[0] == {
        "iceServers": [{"urls": "stun:stun.example.org:3478"}]}
    assert parse_ice_servers("stun:stun.example.org:3478") == [{"urls": "stun:stun.example.org:3478"}]
    assert parse_ice_servers('{"iceServers": [{"urls": "stun:a:1"}]}') == [{"urls": "stun:a:1"}]
    for bad in ("[{", '[{"username": "u"}]', '[{"urls": "http://a"}]', "42"):
        with pytest.raises(IceConfigError):
            parse_ice_servers(bad)
    # a broken setting never breaks the page: no servers, and a message saying why
    config, problem = rtc_configuration({"FACEREC_ICE_SERVERS": "[{"})
    assert config == {"iceServers": []} and "not valid JSON" in problem


def test_video_callback_round_trip(recognizer, two_people):
    import av

    from dashboard.webcam_support import make_ended_callback, make_video_callback

    live = LiveProcessor(recognizer, name="test-live-callback")
    callback = make_video_callback(live)
    frame = av.VideoFrame.from_ndarray(two_people[0], format="rgb24")
    out = callback(frame)
    assert isinstance(out, av.VideoFrame) and (out.width, out.height) == FRAME_SIZE
    assert _wait_for(lambda: live.latest() is not None)
    make_ended_callback(live)()
    assert live.snapshot().state == "ended" and "ended" in live.snapshot().message
    assert _wait_for(lambda: not live.running, timeout=10)
