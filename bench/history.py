"""History benchmark: what recording sightings costs, on real video and at scale.

1. The real street clip (``../shared/data/video``, 105 frames at 1080p) through the live
   pipeline (:class:`facerec_core.video.tracking.FrameProcessor`, as the Live Webcam's worker runs
   it) with a gallery of a few LFW people, so that the passers-by are decided *unknown*: sightings
   recorded per track, the frequent-visitor clusters they make, and the time per frame with
   recording on and off (alternating runs; target: under 5 % slower).
2. The write cost of one sighting (a face with its thumbnail and embedding): ms p50 / p99, without
   and with the gallery key (AES-GCM).
3. History queries at 1,000,000 sightings (synthetic rows: names drawn from 500 people and
   unknown, times over 30 days, a 512-byte embedding each, no thumbnail): count by person, the
   per-person summary, a person's newest 1,000, a day's range.

    python bench/history.py
    python bench/history.py --rows 200000 --skip video
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facerec_core.faces import Face, Match  # noqa: E402
from facerec_core.history import SightingQuery, SightingStore  # noqa: E402
from facerec_core.history.recording import TrackSightings  # noqa: E402
from facerec_core.history.visitors import Visitors  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402

CLIP = "crowd_royal_opera_house.mp4"


def pct(values, qs=(50, 99)) -> str:
    return " / ".join(f"{np.percentile(values, q):.2f}" for q in qs)


def video(settings: Settings, lfw: Path, clip: Path, repeats: int) -> None:
    import av

    from facerec_core.gallery import GalleryStore
    from facerec_core.gallery.enroll import enroll
    from facerec_core.recognizer import Recognizer
    from facerec_core.video.tracking import FrameProcessor, VideoConfig

    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        own = settings.replace(data_dir=Path(tmp) / "data", artifacts_dir=Path(tmp) / "none")
        pipeline = Recognizer.load(own, require_model=False)
        with GalleryStore.open(own) as gallery:
            for name in ("Colin_Powell", "Tony_Blair", "Serena_Williams"):
                enroll(gallery, pipeline, name, sorted((lfw / name).glob("*.jpg"))[:3])
        rec = Recognizer.load(own, require_model=False)
        config = VideoConfig(min_face_size=40, detect_width=960)
        times = {"off": [], "on": []}
        spent: list[float] = []  # time in the recorder itself, per frame
        sightings = None
        for run in range(2 * repeats):
            mode = "on" if run % 2 else "off"
            processor = FrameProcessor(rec, config)
            recorder = TrackSightings(own, backbone=rec.backbone.name, place="street clip") if mode == "on" else None
            tick = time.perf_counter()
            tracks = set()
            for index, frame in enumerate(frames):
                result = processor.process(frame, index=index)
                tracks |= set(result.track_ids)
                if recorder is not None:
                    start = time.perf_counter()
                    recorder.observe(frame, result)
                    spent.append((time.perf_counter() - start) * 1000)
            times[mode].append((time.perf_counter() - tick) / len(frames) * 1000)
            if recorder is not None and sightings is None:
                sightings = (recorder.recorded, len(tracks))
        store = SightingStore.open(own)
        visitors = Visitors(store, rec.backbone.name)
        visitors.refresh()
        clusters = visitors.clusters()
        unknown = store.count(SightingQuery(person="unknown"))
    off, on = float(np.median(times["off"])), float(np.median(times["on"]))
    print(f"\n## The street clip through the live pipeline ({len(frames)} frames, 1920×1080, {repeats} runs each)\n")
    print(f"- first recording run: {sightings[0]} sightings for {sightings[1]} tracks (one per track and answer)")
    print(f"- after {repeats} recording run(s): {unknown} unknown sightings, {len(clusters)} frequent-visitor "
          f"clusters (sizes {[len(c) for c in clusters]}; each run records the same passers-by again)")
    print(f"- ms per frame, median of runs: recording off {off:.1f}, on {on:.1f} ({(on / off - 1) * 100:+.1f} %); "
          f"the recorder's own time: {np.mean(spent):.2f} ms a frame on average ({np.mean(spent) / off * 100:.2f} %), "
          f"p99 {np.percentile(spent, 99):.1f} ms (a frame that records)")


def write_cost(n: int) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    print(f"\n## Writing one sighting (a face, its 64 px thumbnail and embedding), {n} writes, ms p50 / p99\n")
    for keyed in (False, True):
        with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
            key = Path(tmp) / "key" / "gallery.key" if keyed else None
            store = SightingStore(Path(tmp) / "g.sqlite3", key_file=key)
            times = []
            for i in range(n):
                vector = rng.normal(size=128).astype(np.float32)
                face = Face(box=(200, 120, 320, 270), det_score=0.99, embedding=vector / np.linalg.norm(vector),
                            identity="unknown", confidence=0.3, matches=[Match("X", 0.3)])
                tick = time.perf_counter()
                store.record("live", [face], image=image, backbone="facenet", tracks=[i])
                times.append((time.perf_counter() - tick) * 1000)
            store.close()
        print(f"- {'with the gallery key (sealed)' if keyed else 'no key'}: {pct(times)}")


def at_scale(rows: int) -> None:
    rng = np.random.default_rng(1)
    names = np.array(["unknown"] + [f"Person_{i:03d}" for i in range(500)])
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        store = SightingStore(Path(tmp) / "g.sqlite3", retention_days=0)
        tick = time.perf_counter()
        blob = np.zeros(128, np.float32).tobytes()
        with store.write() as conn:
            for chunk in range(0, rows, 50000):
                size = min(50000, rows - chunk)
                seconds = np.sort(rng.uniform(0, 30 * 86400, size)) + chunk
                who = names[np.where(rng.random(size) < 0.3, 0, rng.integers(1, len(names), size))]
                conn.executemany(
                    "INSERT INTO sightings(time, source, place, answer, score, track, backbone, embedding) "
                    "VALUES (?, 'live', 'camera 1', ?, ?, ?, 'facenet', ?)",
                    [((start + dt.timedelta(seconds=float(s))).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), str(w),
                      float(rng.random()), int(i), blob) for i, (s, w) in enumerate(zip(seconds, who))])
        filled = time.perf_counter() - tick
        size_mb = os.path.getsize(Path(tmp) / "g.sqlite3") / 1e6
        queries = {
            "count one person's sightings": lambda: store.count(SightingQuery(person="Person_123")),
            "per-person summary (first / last seen, how often), all": lambda: store.people_summary(),
            "a person's newest 1,000": lambda: store.sightings(SightingQuery(person="Person_123", limit=1000)),
            "one day, newest 1,000": lambda: store.sightings(SightingQuery(
                since=start + dt.timedelta(days=10), until=start + dt.timedelta(days=11), limit=1000)),
            "unknown faces, newest 5,000 (what clustering reads)": lambda: store.sightings(
                SightingQuery(person="unknown", limit=5000)),
        }
        print(f"\n## History queries at {rows:,} sightings ({size_mb:.0f} MB, filled in {filled:.0f} s), ms "
              "median of 5\n")
        for label, query in queries.items():
            times = []
            for _ in range(5):
                tick = time.perf_counter()
                query()
                times.append((time.perf_counter() - tick) * 1000)
            print(f"- {label}: {np.median(times):.0f}")
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=(), choices=("video", "writes", "scale"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    if "video" not in args.skip:
        if settings.lfw_dir is None:
            sys.exit("set FACEREC_LFW_DIR (make bench does)")
        lfw = Path(settings.lfw_dir)
        clip = Path(os.environ.get("FACEREC_VIDEO_DIR") or lfw.parent / "video") / CLIP
        video(settings, lfw, clip, args.repeats)
    if "writes" not in args.skip:
        write_cost(args.writes)
    if "scale" not in args.skip:
        at_scale(args.rows)


if __name__ == "__main__":
    main()
