"""Cold start: the first answer of ``facerec predict`` on one photo, beside the face_recognition CLI.

Each run is a fresh process, as a user's shell command is: ours is
``python -m facerec_core predict --no-model PHOTO`` (detect, embed, answer "unknown": no model,
empty gallery), the peer's ``face_recognition KNOWN_DIR PHOTO`` (HOG detection, dlib ResNet
encoding, compared with one known photo of another person). Runs alternate, ours then the
peer's, so that a change in the machine's load hits both alike. Printed for each: median and
minimum wall time, median CPU time (user + system of the child) and peak resident memory,
plus the load average before and after.

The first run of ours builds the int8 model cache if it is missing (``FACEREC_CACHE_DIR``);
that build is timed and shown on its own, the paired runs all find the cache warm.

    FACEREC_LFW_DIR=../shared/data/lfw python bench/cold_start.py            # 5 pairs
    python bench/cold_start.py --runs 9 --photo some.jpg
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facerec_core.settings import Settings  # noqa: E402

TARGET_S = 3.0  # issue #15: first answer on one photo, idle machine
# The face_recognition CLI's own entry point. Its model package imports pkg_resources, which
# recent setuptools lacks: the same one-function stand-in as bench/peer_face_recognition.py,
# inline so that the peer's process imports nothing of ours (no torch).
PEER_CLI = """
import importlib.util, sys, types
from pathlib import Path
if importlib.util.find_spec("pkg_resources") is None:
    def resource_filename(package, resource):
        spec = importlib.util.find_spec(package)
        return str(Path(list(spec.submodule_search_locations)[0]) / resource)
    sys.modules["pkg_resources"] = types.SimpleNamespace(resource_filename=resource_filename)
from face_recognition.face_recognition_cli import main
main()
"""


def have_peer() -> bool:
    import importlib.util

    return importlib.util.find_spec("face_recognition") is not None


def timed(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall, CPU seconds and peak RSS (MiB) of one child process, from its own rusage (wait4);
    raises if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{command[0]} failed ({child.returncode}): {err.read()[-800:].decode(errors='replace')}")
        out.seek(0)
        answer = out.read().decode(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024, "answer": answer}


def main() -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--photo", type=Path, default=None,
                        help="the photo (default: Colin_Powell_0001 in FACEREC_LFW_DIR)")
    args = parser.parse_args()
    lfw = Path(settings.lfw_dir)
    photo = args.photo or lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"
    known_photo = lfw / "Tony_Blair" / "Tony_Blair_0001.jpg"
    if not photo.is_file() or not known_photo.is_file():
        raise SystemExit(f"no LFW photos under {lfw}: set FACEREC_LFW_DIR")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ours_cmd = [sys.executable, "-m", "facerec_core", "predict", "--no-model", str(photo)]

    with tempfile.TemporaryDirectory() as tmp:
        known = Path(tmp) / "known"
        known.mkdir()
        shutil.copy(known_photo, known / "Tony_Blair.jpg")
        peer_cmd = [sys.executable, "-c", PEER_CLI, str(known), str(photo)] if have_peer() else None
        env["FACEREC_DATA_DIR"] = str(Path(tmp) / "data")  # an empty gallery: the answer is "unknown"

        load_before = os.getloadavg()
        first = timed(ours_cmd, env)  # builds the int8 cache if it is missing; warms the page cache
        if peer_cmd:
            timed(peer_cmd, env)
        ours, peer = [], []
        for _ in range(args.runs):
            ours.append(timed(ours_cmd, env))
            if peer_cmd:
                peer.append(timed(peer_cmd, env))
        load_after = os.getloadavg()
    # both must have answered about the face, not failed quietly
    if '"faces"' not in ours[-1]["answer"] or (peer and "unknown_person" not in peer[-1]["answer"]):
        raise SystemExit(f"unexpected answers: ours {ours[-1]['answer'][:200]!r}, "
                         f"peer {peer[-1]['answer'][:200] if peer else None!r}")

    print(f"cold start, one photo ({photo.name}), {args.runs} paired fresh processes; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {os.cpu_count()} cores")
    print(f"untimed warm-up run of ours (builds the int8 cache when missing): {first['wall']:.2f} s wall")
    print(f"{'':32} {'wall p50':>9} {'wall min':>9} {'CPU p50':>8} {'peak RSS':>9}")
    rows = [("facerec predict --no-model", ours)] + ([("face_recognition CLI (peer)", peer)] if peer else [])
    for name, runs in rows:
        wall = [r["wall"] for r in runs]
        print(f"{name:32} {statistics.median(wall):8.2f}s {min(wall):8.2f}s "
              f"{statistics.median(r['cpu'] for r in runs):7.2f}s {max(r['rss'] for r in runs):7.0f}MB")
    if not peer:
        print("the face_recognition CLI is not installed: no peer row")
    p50 = statistics.median(r["wall"] for r in ours)
    print(f"target: first answer <= {TARGET_S:.0f} s wall on an idle machine: "
          f"{'met' if p50 <= TARGET_S else 'missed'} ({p50:.2f} s)")


if __name__ == "__main__":
    main()
