"""Throughput on an idle and on a busy CPU: ``facerec predict`` over N photos beside the
face_recognition CLI over the same photos.

Each condition runs both tools as fresh processes, one after the other:

- **idle**: nothing else running (the load average is printed: other users of a shared machine
  show up there);
- **busy**: next to a bounded CPU-bound background load, ``--busy`` processes (default 2, one
  per core of a 2-core machine) spinning in pure Python at normal priority, started before and
  always stopped after the condition.

Ours runs with the automatic thread count (a request uses the cores others leave free, see
:mod:`facerec_core.runtime`) and, for comparison, with ``FACEREC_THREADS`` forced to every core,
which is what the automatic rule avoids. Printed: wall time, photos per second, and the CPU time
of the measured process.

    FACEREC_LFW_DIR=../shared/data/lfw python bench/loaded_cpu.py            # 200 photos
    python bench/loaded_cpu.py --photos 60 --busy 2
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cold_start import PEER_CLI, have_peer  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402


def pick_photos(lfw: Path, n: int) -> list[Path]:
    """The first photo of each of the first ``n`` people, alphabetically (deterministic)."""
    photos = []
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        first = sorted(person.glob("*.jpg"))[:1]
        photos += first
        if len(photos) == n:
            break
    return photos


@contextlib.contextmanager
def background_load(processes: int) -> Iterator[None]:
    """``processes`` CPU-bound Python loops for the block; always stopped."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(2.0)  # let the run queue and the load average see them
        yield
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the child's own) and stdout of one process; raises if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{command[:4]} failed: {err.read()[-800:].decode(errors='replace')}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read().decode(errors="replace")


def main() -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--busy", type=int, default=2, help="background CPU-bound processes (default 2)")
    args = parser.parse_args()
    photos = pick_photos(Path(settings.lfw_dir), args.photos)
    if len(photos) < args.photos:
        raise SystemExit(f"only {len(photos)} LFW photos under {settings.lfw_dir}: set FACEREC_LFW_DIR")
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe_dir, known = tmp / "probes", tmp / "known"
        probe_dir.mkdir()
        known.mkdir()
        for i, photo in enumerate(photos):
            (probe_dir / f"{i:04d}_{photo.name}").symlink_to(photo)
        (known / "Tony_Blair.jpg").symlink_to(Path(settings.lfw_dir) / "Tony_Blair" / "Tony_Blair_0001.jpg")
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "FACEREC_DATA_DIR": str(tmp / "data")}
        env.pop("FACEREC_THREADS", None)
        ours = [sys.executable, "-m", "facerec_core", "predict", "--no-model", *map(str, sorted(probe_dir.iterdir()))]
        runs = [("facerec predict (automatic threads)", ours, env),
                (f"facerec predict (FACEREC_THREADS={cores})", ours, {**env, "FACEREC_THREADS": str(cores)})]
        if have_peer():
            # the peer's CLI: one process, every photo of the folder (its default: one core)
            runs.append(("face_recognition CLI (peer)", [sys.executable, "-c", PEER_CLI, str(known), str(probe_dir)], env))
        timed(ours[:5] + ours[5:6], env)  # warm the int8 model cache and the page cache
        results: dict[tuple[str, str], tuple[float, float]] = {}
        loads = {}
        for condition in ("idle", "busy"):
            with background_load(args.busy if condition == "busy" else 0):
                loads[condition] = os.getloadavg()[0]
                for name, command, run_env in runs:
                    wall, cpu, out = timed(command, run_env)
                    if "peer" not in name and out.count('"image"') != len(photos):
                        raise SystemExit(f"{name}: answered {out.count(chr(34) + 'image' + chr(34))} of {len(photos)} photos")
                    results[(condition, name)] = (wall, cpu)

    print(f"{len(photos)} LFW photos, one process each run, {cores} cores; busy = {args.busy} CPU-bound "
          f"background processes; load average at start: idle {loads['idle']:.2f}, busy {loads['busy']:.2f}")
    print(f"{'':42} {'idle wall':>10} {'photos/s':>9} {'busy wall':>10} {'photos/s':>9} {'slowdown':>9}")
    for name, _, _ in runs:
        idle, busy = results[("idle", name)][0], results[("busy", name)][0]
        print(f"{name:42} {idle:9.1f}s {len(photos) / idle:9.1f} {busy:9.1f}s {len(photos) / busy:9.1f} "
              f"{busy / idle:8.2f}x")


if __name__ == "__main__":
    main()
