"""LiveProcessor (facerec_core.video.live): the worker thread behind the WebRTC callback, its
torch thread pin, the fake camera's YUV4MPEG2 files and the Streamlit-side glue, on real frames
(LFW photos of people the test model knows on a 640×480 canvas).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from facerec_core.video import FrameProcessor, LiveProcessor, VideoConfig

from tests.support.scenes import FRAME_SIZE, read_y4m, rgb_to_i420, write_y4m
from tests.video.conftest import SCENE_PEOPLE, CountingRecognizer


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


def test_a_stream_stops_naming_people_once_its_session_ends(recognizer, two_people):
    """The stream never reruns the page: it asks the core itself whether its session still stands."""
    import av

    from dashboard.webcam_support import SESSION_ENDED, StreamSession, make_video_callback
    from facerec_core.errors import SessionExpiredError

    now, calls = [0.0], []

    def resume():
        calls.append(now[0])
        if now[0] >= 10:
            raise SessionExpiredError("your session expired")

    session = StreamSession(resume, every=5.0, clock=lambda: now[0])
    live = LiveProcessor(recognizer, name="test-live-session")
    callback = make_video_callback(live, session=session)
    frame = av.VideoFrame.from_ndarray(two_people[0], format="rgb24")
    callback(frame)
    assert _wait_for(lambda: live.latest() is not None)
    now[0] = 3.0
    callback(frame)
    assert calls == [0.0]  # asked at most every 5 s
    now[0] = 11.0
    out = callback(frame)
    assert out is frame  # passed through unanalysed
    assert session.ended and calls == [0.0, 11.0]
    assert live.snapshot().state == "ended" and live.snapshot().message == SESSION_ENDED
    assert _wait_for(lambda: not live.running, timeout=10)
    now[0] = 30.0
    assert callback(frame) is frame and calls == [0.0, 11.0]  # ended for good
