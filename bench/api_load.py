"""HTTP API load benchmark: ``facerec serve`` under 1, 4 and 16 concurrent clients.

The real server runs as its own process (``python -m facerec_core serve``) on a temporary data
folder with no trained model; ``--people`` LFW people (3 photos each) are enrolled through
``POST /v1/people``, so the gallery's few-shot rule names them. Then ``--photos`` distinct LFW
photos (half of enrolled people, half of others), cycled, go to ``POST /v1/recognize`` (the
multipart field ``image``) from 1 client (``--single`` requests, for the HTTP overhead) and
from each of ``--levels`` concurrent clients (``--requests`` requests per level). Clients are
threads with their own keep-alive ``httpx.Client``; a 503 (workers busy, queue full) is a
deliberate refusal, counted apart (with the default queue of 8 and 16 clients some are
expected), and the client waits its Retry-After (at most ``--max-wait``) before its next
request. Any other non-200 answer, or a transport error, is an error.

Per level: requests sent, 200s, 503s, errors, wall time, 200s a second, p50 / p95 / p99 ms of
the 200s, and the server's RSS (VmRSS of its process) before and after the run. And
``Recognizer.recognize`` in this process on the same photos, just before and after the 1-client
run (the server idle): its p50 per photo, the HTTP overhead per request (1-client API p50 minus
it) and whether its answers agree with the API's.

    python bench/api_load.py                            # 200 single, 2000 per level at 4 and 16
    python bench/api_load.py --requests 300 --queue 32  # quicker; a deeper queue (FACEREC_API_QUEUE)
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facerec_core.settings import Settings  # noqa: E402

QUERIES_PER_PERSON = 10


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (or its peak, ``VmHWM``) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def choose_photos(lfw: Path, people: int, photos: int) -> tuple[dict[str, list[Path]], list[Path]]:
    """``{person: 3 enrollment photos}`` and the query photos: the enrolled people's next
    ``QUERIES_PER_PERSON`` photos and one photo each of other people, shuffled (fixed seed)."""
    names = sorted(d.name for d in lfw.iterdir() if d.is_dir())
    rich = [n for n in names if len(os.listdir(lfw / n)) >= 3 + QUERIES_PER_PERSON]
    enrolled = rich[::max(1, len(rich) // people)][:people]
    files = {n: sorted((lfw / n).glob("*.jpg")) for n in enrolled}
    queries = [p for n in enrolled for p in files[n][3:3 + QUERIES_PER_PERSON]][:photos // 2]
    others = [n for n in names if n not in files]
    step = max(1, len(others) // max(1, photos - len(queries)))
    queries += [lfw / n / f"{n}_0001.jpg" for n in others[::step]][:photos - len(queries)]
    random.Random(0).shuffle(queries)
    return {n: files[n][:3] for n in enrolled}, queries


def run_level(base: str, key: str, photos: list[tuple[str, bytes]], clients: int, total: int,
              answers: dict[int, tuple], max_wait: float) -> dict:
    """``total`` requests from ``clients`` threads; the statuses, latencies and disagreements."""
    import httpx

    lock = threading.Lock()
    sent = iter(range(total))
    results: list[tuple[object, float, int]] = []
    waits: list[float] = []
    disagree = [0]

    def client() -> None:
        with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": key}) as c:
            while True:
                with lock:
                    i = next(sent, None)
                if i is None:
                    return
                label, data = photos[i % len(photos)]
                tick = time.perf_counter()
                try:
                    r = c.post("/v1/recognize", files={"image": (label, data, "image/jpeg")})
                    status = r.status_code
                except httpx.HTTPError as exc:
                    r, status = None, type(exc).__name__
                ms = (time.perf_counter() - tick) * 1000
                got = tuple(f["identity"] for f in r.json()["faces"]) if status == 200 else None
                wait = float(r.headers.get("Retry-After", "1")) if status == 503 else 0.0
                with lock:
                    results.append((status, ms, i % len(photos)))
                    disagree[0] += got is not None and answers.setdefault(i % len(photos), got) != got
                    if status == 503:
                        waits.append(wait)
                time.sleep(min(max_wait, wait))

    tick = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    wall = time.perf_counter() - tick
    ok = [ms for s, ms, _ in results if s == 200]
    other = Counter(str(s) for s, _, _ in results if s not in (200, 503))
    busy = [ms for s, ms, _ in results if s == 503]
    return {"clients": clients, "sent": len(results), "ok": len(ok), "busy": len(busy), "other": other,
            "wall": wall, "rps": len(ok) / wall, "busy_p50": float(np.median(busy)) if busy else float("nan"),
            **{f"p{q}": float(np.percentile(ok, q)) if ok else float("nan") for q in (50, 95, 99)},
            "disagree": disagree[0], "retry_after": waits,
            "per_photo": {i: ms for s, ms, i in results if s == 200}}


def local_time(rec, photos: list[tuple[str, bytes]]) -> list[tuple[float, tuple]]:
    """``(ms, names)`` of ``Recognizer.recognize`` on each photo, in this process."""
    out = []
    for label, data in photos:
        tick = time.perf_counter()
        faces = rec.recognize(data, name=label)
        out.append(((time.perf_counter() - tick) * 1000, tuple(f.identity for f in faces)))
    return out


def start_server(tmp: Path, queue: int | None) -> tuple[subprocess.Popen, str]:
    """``facerec serve`` on a free loopback port, its artifacts folder empty; once /ready says 200."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FACEREC_ARTIFACTS_DIR": str(tmp / "artifacts"), "FACEREC_DATA_DIR": str(tmp / "data")}
    if queue is not None:
        env["FACEREC_API_QUEUE"] = str(queue)
    log = tmp / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "facerec_core", "serve", "--port", str(port),
                             "--data-dir", str(tmp / "data")], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(base + "/ready", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    sys.exit(f"the server did not become ready:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    parser.add_argument("--single", type=int, default=200, help="requests from 1 client (the HTTP overhead)")
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 16], help="concurrent clients")
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--photos", type=int, default=200, help="distinct query photos, cycled")
    parser.add_argument("--queue", type=int, help="FACEREC_API_QUEUE for the server (default: the settings')")
    parser.add_argument("--max-wait", type=float, default=10.0, help="longest Retry-After a client honours (s)")
    parser.add_argument("--lfw", type=Path, help="default: FACEREC_LFW_DIR or ../shared/data/lfw")
    args = parser.parse_args()
    import httpx

    from facerec_core.access.audit import AuditLog
    from facerec_core.access.principal import cli_principal
    from facerec_core.access.store import AccessStore
    from facerec_core.api.keys import ApiKeys
    from facerec_core.api.store import ApiStore

    settings = Settings.from_env()
    lfw = args.lfw or settings.lfw_dir or ROOT.parent / "shared" / "data" / "lfw"
    enroll, queries = choose_photos(Path(lfw), args.people, args.photos)
    photos = [(p.name, p.read_bytes()) for p in queries]
    queue = settings.api_queue if args.queue is None else args.queue
    print(f"# API load: {len(enroll)} people enrolled (3 photos each), {len(photos)} query photos "
          f"({sum(p.parent.name in enroll for p in queries)} of enrolled people); api_threads "
          f"{settings.api_threads}, api_queue {queue}; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    tmp, proc = Path(tempfile.mkdtemp(prefix="facerec-api-load-")), None
    try:
        own = settings.replace(data_dir=tmp / "data", artifacts_dir=tmp / "artifacts")
        (tmp / "artifacts").mkdir()
        with ApiStore.open(own) as store, AccessStore.open(own) as access:
            keys = ApiKeys(store, AuditLog(access))
            _, admin = keys.add(cli_principal(), "bench admin", "admin")
            _, operator = keys.add(cli_principal(), "bench load", "operator", rate_per_minute=100_000)
        tick = time.perf_counter()
        proc, base = start_server(tmp, args.queue)
        print(f"\nserver pid {proc.pid} ready in {time.perf_counter() - tick:.1f} s, RSS {rss_mb(proc.pid):.0f} MB")
        with httpx.Client(base_url=base, timeout=300, headers={"X-API-Key": admin}) as c:
            for name, files in enroll.items():
                r = c.post("/v1/people", data={"name": name.replace("_", " ")},
                           files=[("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in files])
                if r.status_code != 201:
                    print(f"- enrolling {name}: HTTP {r.status_code} {r.text[:200]}")
            print(f"enrolled: {c.get('/ready').json()['gallery_people']} people; RSS {rss_mb(proc.pid):.0f} MB")
        from facerec_core.recognizer import Recognizer

        rec = Recognizer.load(own, require_model=False)  # this process's own, on the same gallery
        local_time(rec, photos[:5])
        run_level(base, operator, photos, 1, 10, {}, 0)  # warm-up
        answers: dict[int, tuple] = {}
        rows, local = [], []
        for clients, total in [(1, args.single)] + [(n, args.requests) for n in args.levels]:
            if clients == 1:  # in process just before and after, while the server idles
                local.append(local_time(rec, photos))
            before = rss_mb(proc.pid)
            row = run_level(base, operator, photos, clients, total, answers, args.max_wait)
            row.update(before=before, after=rss_mb(proc.pid), load=os.getloadavg()[0])
            rows.append(row)
            print(f"- {clients} client(s): {row['ok']}/{row['sent']} answered in {row['wall']:.0f} s", flush=True)
            if clients == 1:
                local.append(local_time(rec, photos))
        peak = rss_mb(proc.pid, "VmHWM")
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        proc.wait(30)
        data_mb = sum(f.stat().st_size for f in (tmp / "data").rglob("*") if f.is_file()) / 1e6
        agree = sum(answers.get(i) == got for i, (_, got) in enumerate(local[-1]))
        named = sum(any(n not in (None, "unknown") for n in a) for a in answers.values())
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n## POST /v1/recognize (multipart; ms of the 200 answers; server RSS in MB)\n")
    print("| clients | sent | 200 | 503 | other errors | wall s | 200/s | p50 | p95 | p99 | 503 p50 "
          "| RSS before | RSS after | growth | load 1 min |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        other = ", ".join(f"{k}: {v}" for k, v in r["other"].items()) or "0"
        print(f"| {r['clients']} | {r['sent']} | {r['ok']} | {r['busy']} | {other} | {r['wall']:.1f} | "
              f"{r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['busy_p50']:.1f} | "
              f"{r['before']:.0f} | {r['after']:.0f} | {r['after'] - r['before']:+.0f} | {r['load']:.2f} |")
    single = rows[0]["p50"]
    in_ms = [ms for run in local for ms, _ in run]
    in_p50 = float(np.median(in_ms))
    paired = [ms - (local[0][i][0] + local[1][i][0]) / 2 for i, ms in rows[0]["per_photo"].items()]
    print(f"\n- server peak RSS (VmHWM) {peak:.0f} MB; data folder after the runs {data_mb:.1f} MB "
          f"(gallery, audit trail, sightings)")
    print(f"- answers differing from the first answer for the same photo: "
          f"{', '.join(str(r['disagree']) for r in rows)} (per level)")
    for r in rows:
        if r["retry_after"]:
            print(f"- {r['clients']} clients: Retry-After of the 503s, s: min {min(r['retry_after']):.0f}, "
                  f"median {np.median(r['retry_after']):.0f}, max {max(r['retry_after']):.0f} (honoured up to "
                  f"{args.max_wait:.0f} s)")
    print(f"- photos where the API named an enrolled person: {named} of {len(answers)}")
    print(f"\n## In process: Recognizer.recognize on the same {len(photos)} photos (bytes in), "
          "just before and after the 1-client run\n")
    print(f"- p50 {in_p50:.1f} ms (the two passes: {' and '.join(f'{np.median([m for m, _ in run]):.1f}' for run in local)}),"
          f" p95 {np.percentile(in_ms, 95):.1f} ms; answers agreeing with the API's: {agree} of {len(photos)}")
    print(f"- HTTP overhead per request (1-client API p50 {single:.1f} − in-process p50 {in_p50:.1f}): "
          f"{single - in_p50:.1f} ms; median of the per-photo differences {np.median(paired):.1f} ms "
          "(HTTP, multipart, key check, audit row, sighting record)")
    print(f"- load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
