"""Live webcam benchmark: is the displayed video smooth, and how soon is a new face named?

A 640×480 video is built from LFW photos of people the model knows, pasted on a plain backdrop
and swaying a little from frame to frame: an empty room, then one person steps in, then a
second one joins. (Or pass ``--video file.y4m``, e.g. recorded with
``ffmpeg -f v4l2 -i /dev/video0 -s 640x480 -pix_fmt yuv420p out.y4m``.)

The frames are played at the camera's rate into :class:`facerec_core.video.LiveProcessor`
exactly as the Live Webcam page's WebRTC callback does (``av.VideoFrame`` → RGB → annotated →
``av.VideoFrame``), and the script prints:

- displayed fps and p50/p95 time per displayed frame (the callback: what delays the video);
- analysed fps and p50/p95 time per analysed frame (detection + tracking + embedding);
- time to first name: from the first frame showing a person to the first displayed frame
  with their name on it;
- for comparison, the time per frame of full recognition (detect + embed every face) on
  every frame, without tracking.

Targets: ≥ 15 displayed fps, a new face named within 300 ms. ``--check`` exits 1 if missed.

    python bench/webcam.py                  # the model in FACEREC_ARTIFACTS_DIR
    python bench/webcam.py --train-small    # no model yet: train the test-sized one first
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facerec_core.images import load_image  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402
from facerec_core.video import LiveProcessor, VideoConfig  # noqa: E402
from tests.support.scenes import FRAME_SIZE, background, moving_scene, read_y4m, write_y4m  # noqa: E402

log = logging.getLogger("bench.webcam")

TARGET_FPS = 15.0
TARGET_NAME_MS = 300.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load_recognizer(settings: Settings, train_small: bool):
    """The trained Recognizer from ``settings``, or a small one trained now (8 people × 12)."""
    from facerec_core.errors import ArtifactError
    from facerec_core.recognizer import Recognizer

    try:
        return Recognizer.load(settings)
    except ArtifactError as exc:
        if not train_small:
            raise SystemExit(f"no trained model in {settings.artifacts_dir} ({exc}); "
                             "train one (python -m facerec_core train) or pass --train-small") from None
    from facerec_core.training import TrainConfig, train_lfw

    if settings.lfw_dir is None:
        raise SystemExit("--train-small needs FACEREC_LFW_DIR")
    small = settings.replace(artifacts_dir=Path(tempfile.mkdtemp(prefix="facerec-bench-")))
    log.info("training a small model (8 people × 12 photos) in %s", small.artifacts_dir)
    train_lfw(small, TrainConfig(max_people=8, max_images=12, verification=False,
                                 svm_grid={"C": [1.0, 10.0], "gamma": [1.0]}))
    return Recognizer.load(small)


def pick_photos(lfw_dir: Path, people: list[str], index: int) -> list[tuple[str, np.ndarray]]:
    """One LFW photo per person: ``index`` if it exists, else that person's last photo."""
    out = []
    for name in people:
        folder = lfw_dir / name
        photo = folder / f"{name}_{index:04d}.jpg"
        if not photo.is_file():
            photo = sorted(folder.glob("*.jpg"))[-1]
        out.append((name, load_image(photo)))
    return out


def build_scene(photos: list[tuple[str, np.ndarray]], fps: float, seconds: float):
    """Frames and, per frame, who is in it: empty room, person 1 steps in (left), then
    person 2 joins (right) while person 1 stays where they were."""
    per_stage = int(round(fps * seconds))
    width, height = FRAME_SIZE
    spots = [(int(width * 0.08 + i * width * 0.45), (height - p.shape[0]) // 2) for i, (_, p) in enumerate(photos)]
    frames = [background(FRAME_SIZE)] * per_stage
    present: list[set[str]] = [set()] * per_stage
    for k in range(1, len(photos) + 1):
        shown = photos[:k]
        frames += moving_scene([p for _, p in shown], per_stage, starts=spots[:k])
        present += [{n for n, _ in shown}] * per_stage
    return frames, present


def run_live(recognizer, frames: list[np.ndarray], present: list[set[str]] | None, fps: float,
             config: VideoConfig, torch_threads: int | None) -> dict:
    """Play ``frames`` at ``fps`` through a LiveProcessor like the WebRTC callback does."""
    import av

    live = LiveProcessor(recognizer, config, name="bench-live", torch_threads=torch_threads)
    period = 1.0 / fps
    callback_ms, shown_names, shown_at = [], [], []
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        due = start + i * period
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t = time.perf_counter()
        image = av.VideoFrame.from_ndarray(frame, format="rgb24").to_ndarray(format="rgb24")
        annotated, faces = live.handle_with_faces(image)
        av.VideoFrame.from_ndarray(annotated, format="rgb24")
        done = time.perf_counter()
        callback_ms.append((done - t) * 1000)
        shown_names.append({f.identity for f in faces if f.identity})
        shown_at.append(done)
    wall = time.perf_counter() - start
    status = live.snapshot()
    live.stop()
    out = {"frames": len(frames), "wall_s": wall, "display_fps": len(frames) / wall,
           "callback_p50_ms": percentile(callback_ms, 50), "callback_p95_ms": percentile(callback_ms, 95),
           "callback_max_ms": max(callback_ms), "analysed": status.analysed, "dropped": status.dropped,
           "analysis_fps": status.analysed / wall, "first_name_ms": {}, "names_seen": set().union(*shown_names)}
    if present is not None:
        for name in sorted(set().union(*present)):
            enter = next(i for i, p in enumerate(present) if name in p)
            enter_t = start + enter * period
            named = next((i for i in range(enter, len(frames)) if name in shown_names[i]), None)
            out["first_name_ms"][name] = None if named is None else (shown_at[named] - enter_t) * 1000
    return out


def run_sync(recognizer, frames: list[np.ndarray], config: VideoConfig, limit: int) -> dict:
    """Per-frame cost with tracking (FrameProcessor) and without (full recognition every frame)."""
    from facerec_core.video import FrameProcessor

    processor = FrameProcessor(recognizer, config)
    tracked, detect_ms, embedded = [], [], 0
    for frame in frames[:limit]:
        result = processor.process(frame)
        tracked.append(result.timings["total"])
        detect_ms.append(result.timings["detect"])
        embedded += result.embedded
    full = []
    for frame in frames[:limit:3]:
        t = time.perf_counter()
        recognizer.recognize(frame, min_face_size=config.min_face_size)
        full.append((time.perf_counter() - t) * 1000)
    return {"frames": min(limit, len(frames)), "tracked_p50_ms": percentile(tracked, 50),
            "tracked_p95_ms": percentile(tracked, 95), "detect_p50_ms": percentile(detect_ms, 50),
            "embedded_faces": embedded, "full_p50_ms": percentile(full, 50), "full_p95_ms": percentile(full, 95)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, help="a .y4m file to play instead of the LFW scene")
    parser.add_argument("--save-video", type=Path, help="write the generated scene as .y4m")
    parser.add_argument("--people", nargs="*", help="LFW names to show (default: two the model knows)")
    parser.add_argument("--photo-index", type=int, default=20, help="LFW photo number to use (held out: > 12)")
    parser.add_argument("--fps", type=float, help="camera frame rate to play at (default 30, or the video's)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each stage of the scene")
    parser.add_argument("--min-face-size", type=int, default=60)
    parser.add_argument("--detect-every", type=int, default=1)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for recognition (default 1, as the page uses; 0: torch's choice)")
    parser.add_argument("--train-small", action="store_true", help="train a small model if none is found")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("facerec_core").setLevel(logging.WARNING)

    import torch
    threads = args.torch_threads or None
    if threads:
        torch.set_num_threads(threads)  # for the synchronous measurements on this thread
    settings = Settings.from_env().replace(device="cpu")
    recognizer = load_recognizer(settings, args.train_small)
    config = VideoConfig(min_face_size=args.min_face_size, detect_every=args.detect_every)

    if args.video:
        frames, fps = read_y4m(args.video)
        fps = args.fps or fps
        present, what = None, f"{args.video} ({len(frames)} frames at {fps:g} fps)"
    else:
        if settings.lfw_dir is None:
            raise SystemExit("set FACEREC_LFW_DIR (or pass --video)")
        people = args.people or [p for p in recognizer.known_people if (settings.lfw_dir / p).is_dir()][:2]
        photos = pick_photos(settings.lfw_dir, people, args.photo_index)
        fps = args.fps or 30.0
        frames, present = build_scene(photos, fps, args.seconds)
        what = f"LFW scene: empty, then {' + '.join(people)} ({len(frames)} frames, {FRAME_SIZE[0]}x{FRAME_SIZE[1]})"
        if args.save_video:
            write_y4m(args.save_video, frames, fps=int(fps))
    log.info("video: %s; torch threads: %d; min face %d px, detect every %d frame(s); "
             "load average before: %.1f on %d cores", what, torch.get_num_threads(), config.min_face_size,
             config.detect_every, os.getloadavg()[0], os.cpu_count() or 0)

    run_live(recognizer, frames[: int(fps)], None, fps, config, threads)  # warm-up (first calls are slower)
    live = run_live(recognizer, frames, present, fps, config, threads)
    # the frames with faces (a video of unknown content: its middle part)
    with_faces = [f for f, p in zip(frames, present) if p] if present else frames[len(frames) // 3:]
    sync = run_sync(recognizer, with_faces, config, limit=90)

    log.info("displayed: %.1f fps over %.1f s (camera %.0f fps); "
             "per displayed frame p50 %.1f ms, p95 %.1f ms, max %.1f ms", live["display_fps"], live["wall_s"], fps, live["callback_p50_ms"], live["callback_p95_ms"],
             live["callback_max_ms"])
    log.info("analysed: %.1f fps (%d frames, %d stale frames dropped, never queued)",
             live["analysis_fps"], live["analysed"], live["dropped"])
    log.info("per analysed frame (tracking): p50 %.1f ms, p95 %.1f ms (detection p50 %.1f ms); "
             "%d face embeddings over %d frames",
             sync["tracked_p50_ms"], sync["tracked_p95_ms"], sync["detect_p50_ms"], sync["embedded_faces"],
             sync["frames"])
    log.info("without tracking (full recognition each frame): p50 %.1f ms, p95 %.1f ms",
             sync["full_p50_ms"], sync["full_p95_ms"])
    # a camera slower than the target cannot be shown faster than it delivers frames
    target_fps = min(TARGET_FPS, 0.95 * fps)
    ok = live["display_fps"] >= target_fps
    for name, ms in live["first_name_ms"].items():
        log.info("time to first name, %s: %s", name, "never named" if ms is None else f"{ms:.0f} ms")
        ok = ok and ms is not None and ms <= TARGET_NAME_MS
    if present is None:
        log.info("names shown: %s", ", ".join(sorted(live["names_seen"])) or "none")
    log.info("targets (>= %.1f fps, named within %.0f ms): %s", target_fps, TARGET_NAME_MS, "met" if ok else "MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
