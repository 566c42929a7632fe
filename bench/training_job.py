"""Training while the dashboard is used (issue #13, 1 and 2): prints

1. the time from Cancel to the training process having stopped, in each stage of a run, and
   whether anything of the cancelled run was left behind (nothing may be);
2. Home's and Recognize's time to first render in Chromium, idle and while a training process
   runs (the dashboard's TrainingProcess: nice +10, one thread), median of ``--repeats`` visits,
   each a fresh browser session that signs in first (the time includes the sign-in).

    python bench/training_job.py --lfw-dir ../shared/data/lfw [--people 20 --images 20]

Embeddings are cached in ``--cache-dir`` (a fresh folder unless given), so the first run's
"embedding faces" stage really embeds. The View-2 stages need all of LFW embedded: with
``--view2`` the run goes on into "embedding LFW for View-2" and is cancelled there.
Nothing here is a test: it prints figures.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facerec_core.settings import Settings  # noqa: E402
from facerec_core.training import TrainConfig, train_lfw  # noqa: E402
from facerec_core.training_process import TrainingProcess  # noqa: E402
from facerec_core.versions import list_versions  # noqa: E402

STAGES = ["embedding faces", "fitting svm", "fitting nn", "calibrating", "embedding unknown people",
          "embedding LFW for View-2", "refitting", "saving artifacts"]


def cancel_in(settings: Settings, config: TrainConfig, stage: str, into: float) -> dict:
    """Run until ``stage`` has run ``into`` seconds (or ended), press Cancel, time the stop."""
    before = {v.version for v in list_versions(settings.artifacts_dir)}
    proc = TrainingProcess(settings, config)
    proc.start()
    seen_at, current, ended = None, None, False
    deadline = time.time() + 1800
    while time.time() < deadline and proc.poll() is None:
        for event in proc.events():
            if event.event == "stage":
                name = event.data["stage"]
                if seen_at is not None and not name.startswith(stage):
                    ended = True
                current = name
                if seen_at is None and name.startswith(stage):
                    seen_at = time.time()
        if seen_at is not None and (ended or time.time() - seen_at >= into):
            break
        time.sleep(0.02)
    if seen_at is None:
        proc.kill()
        return {"stage": stage, "reached": False, "log": proc.log_tail(400)}
    t0 = time.time()
    proc.cancel()
    proc.wait()
    latency = time.time() - t0
    outcome = [e.event for e in proc.events() if e.event in ("cancelled", "done", "failed")]
    removed = proc.discard_new_versions()
    after = {v.version for v in list_versions(settings.artifacts_dir)}
    proc.cleanup()
    return {"stage": stage, "reached": True, "cancelled_in": current, "latency": latency,
            "how": "killed after the grace period" if proc.killed else f"stopped itself ({', '.join(outcome)})",
            "left_behind": sorted(after - before), "removed": removed}


def render_times(url: str, repeats: int, settings: Settings) -> dict[str, float]:
    """Median seconds from opening each page in a fresh browser session, through the sign-in
    form (an administrator of ``settings``' gallery), to the page's own content on screen."""
    from playwright.sync_api import sync_playwright

    from tests.app.conftest import goto_signed_in

    marks = {"Home": ("", "People known"), "Recognize": ("/recognize", "Upload one or more photos to start.")}
    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            for name, (path, marker) in marks.items():
                times = []
                for _ in range(repeats):
                    page = browser.new_page(viewport={"width": 1400, "height": 1600})
                    page.set_default_timeout(600_000)
                    t0 = time.time()
                    goto_signed_in(page, url + path, settings=settings)
                    page.get_by_text(marker, exact=False).first.wait_for(state="visible")
                    times.append(time.time() - t0)
                    page.close()
                out[name] = statistics.median(times)
        finally:
            browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw-dir", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--people", type=int, default=20, help="people with most images")
    ap.add_argument("--images", type=int, default=20, help="images per person")
    ap.add_argument("--strangers", type=int, default=100)
    ap.add_argument("--into", type=float, default=1.0, help="seconds into a stage before Cancel")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--view2", action="store_true", help="also cancel in View-2's embedding")
    ap.add_argument("--stages", nargs="*", help="only these stages (names as printed)")
    ap.add_argument("--skip-cancel", action="store_true")
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--identifier", choices=["auto", "svm", "nn"], default="auto",
                    help="nn skips the SVM search (stages after it are reached sooner)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="facerec-bench-training-"))
    settings = Settings.from_env().replace(lfw_dir=args.lfw_dir, artifacts_dir=root / "artifacts",
                                           cache_dir=args.cache_dir or root / "cache", data_dir=root / "data")
    if settings.lfw_dir is None:
        print("set FACEREC_LFW_DIR or --lfw-dir", file=sys.stderr)
        return 2
    config = TrainConfig(max_people=args.people, max_images=args.images, max_unknowns=args.strangers,
                         verification=args.view2, identifier=args.identifier)
    print(f"{args.people} people x {args.images} images, {args.strangers} strangers; "
          f"artifacts {settings.artifacts_dir}, cache {settings.cache_dir}")

    if not args.skip_cancel:
        print("\nCancel -> training process stopped")
        print(f"{'stage':28} {'cancelled in':38} {'seconds':>8}  how; left behind")
        stages = args.stages or (STAGES if args.view2 else [s for s in STAGES if "View-2" not in s])
        for stage in stages:
            r = cancel_in(settings, config, stage, args.into)
            if not r["reached"]:
                print(f"{stage:28} not reached: {' '.join(r['log'].split())[-200:]}")
                continue
            print(f"{stage:28} {r['cancelled_in'][:38]:38} {r['latency']:8.2f}  {r['how']}; "
                  f"{'nothing' if not r['left_behind'] else r['left_behind']}"
                  + (f" (a version finished just before the cancel was removed: {r['removed']})" if r["removed"] else ""))

    if not args.skip_render:
        from tests.app.conftest import settings_env, streamlit_server
        import os

        small = TrainConfig(max_people=3, max_images=8, max_unknowns=20, verification=False)
        train_lfw(settings, small)  # a deployed model for Recognize to load
        env = {**os.environ, **settings_env(settings)}
        with streamlit_server(env, root / "streamlit.log") as url:
            render_times(url, 1, settings)  # warm: the models load once per server
            idle = render_times(url, args.repeats, settings)
            busy_config = TrainConfig(max_people=args.people, max_images=args.images, identifier="svm",
                                      verification=False, open_set=False,
                                      svm_grid={"C": [float(c) for c in range(1, 201)], "gamma": [0.1 * g for g in range(1, 11)]})
            proc = TrainingProcess(settings, busy_config)
            proc.start()
            time.sleep(5)
            busy = render_times(url, args.repeats, settings)
            stages = [e.data.get("stage") for e in proc.events() if e.event == "stage"]
            running = proc.poll() is None
            proc.cancel()
            proc.wait()
            proc.discard_new_versions()
            proc.cleanup()
        print(f"\nTime to first render (median of {args.repeats}, s); training "
              f"{'still running' if running else 'HAD ENDED'} at the end, last stage: {stages[-1] if stages else '-'}")
        print(f"{'page':12} {'idle':>8} {'training':>9} {'ratio':>6}")
        for page in idle:
            print(f"{page:12} {idle[page]:8.2f} {busy[page]:9.2f} {busy[page] / idle[page]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
