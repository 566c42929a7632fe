"""Gallery search latency as the gallery grows: 1k, 10k and 100k enrolled embeddings.

Synthetic data (random unit vectors, 5 samples per person) in a real SQLite gallery in a temporary
folder; each query is one :meth:`GallerySource.search` call as the Recognizer's decision makes it,
so it includes the change-counter check against the database. Also reports the one-off cost of
(re)loading the matrix after a change.

    python bench/gallery_search.py                    # 1k, 10k, 100k; 500 queries each
    python bench/gallery_search.py --sizes 1000 --queries 200 --batch 4 --json

Target: p99 <= 20 ms per single-face query at 100k on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.gallery import GallerySource, GalleryStore, NewSample  # noqa: E402

log = logging.getLogger("bench.gallery_search")


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fill(store: GalleryStore, n_samples: int, dim: int, per_person: int, rng: np.random.Generator,
         chunk: int = 10_000) -> float:
    """Enroll ``n_samples`` synthetic samples (bulk, a transaction per chunk); returns seconds."""
    t0 = time.perf_counter()
    person = 0
    for start in range(0, n_samples, chunk):
        X = unit_vectors(min(chunk, n_samples - start), dim, rng)
        entries = []
        for i in range(0, len(X), per_person):
            entries.append({"name": f"person {person:07d}",
                            "samples": [NewSample(x, "facenet", 1.0, "synthetic") for x in X[i:i + per_person]]})
            person += 1
        store.add_people(entries, duplicate_cosine=1.1)  # random vectors: skip the duplicate test
    return time.perf_counter() - t0


def bench_size(n_samples: int, *, dim: int, per_person: int, queries: int, batch: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = GalleryStore(Path(tmp) / "gallery.sqlite3")
        fill_s = fill(store, n_samples, dim, per_person, rng)
        source = GallerySource(store, "facenet")
        t0 = time.perf_counter()
        source.refresh()
        load_s = time.perf_counter() - t0
        probes = unit_vectors(queries * batch, dim, rng).reshape(queries, batch, dim)
        for q in probes[:10]:  # warm-up
            source.search(q)
        times, cpu = np.empty(queries), np.empty(queries)
        for i, q in enumerate(probes):
            t, c = time.perf_counter(), time.thread_time()
            result = source.search(q, top_k=3)
            times[i], cpu[i] = time.perf_counter() - t, time.thread_time() - c
        assert len(result) == batch
        store.close()
    ms, cpu_ms = times * 1000, cpu * 1000
    return {"samples": n_samples, "people": -(-n_samples // per_person), "batch": batch, "queries": queries,
            "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3), "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 3),
            "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 3), "reload_ms": round(load_s * 1000, 1), "fill_s": round(fill_s, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--batch", type=int, default=1, help="faces per query (probes identified together)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--per-person", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load_before = os.getloadavg()[0]
    results = [bench_size(n, dim=args.dim, per_person=args.per_person, queries=args.queries, batch=args.batch,
                          seed=args.seed) for n in args.sizes]
    load = {"cpus": os.cpu_count(), "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps({"machine": load, "results": results}, indent=1))
        return 0
    print(f"{'samples':>8} {'people':>7} {'batch':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'cpu p50':>8} {'cpu p99':>8} {'reload ms':>10} {'fill s':>7}")
    for r in results:
        print(f"{r['samples']:>8} {r['people']:>7} {r['batch']:>5} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
              f"{r['max_ms']:>8.3f} {r['cpu_p50_ms']:>8.3f} {r['cpu_p99_ms']:>8.3f} {r['reload_ms']:>10.1f} "
              f"{r['fill_s']:>7.1f}")
    print(f"wall times per query (search, including the change check); cpu = this thread's CPU time. "
          f"{load['cpus']} CPUs, load average {load['loadavg_before']} → {load['loadavg_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
