"""What keeping biometric data safe at rest costs (issue #16).

1. Gallery search with encryption at rest off and on (AES-256-GCM, ``FACEREC_GALLERY_KEY_FILE``):
   a real SQLite gallery of hand-made unit embeddings (default 1,000 people × 3 samples) in a
   temporary folder. "First search" is the first ``GallerySource.search`` after a change, which
   reloads (and, encrypted, decrypts) the whole matrix; "warm search" is one probe against the
   loaded matrix, as every later frame or photo.
2. Loading the trained model: format 3 (arrays + JSON, the SVM's SVC in skops) against the
   joblib pickle of formats 1-2, for a nearest-neighbour model of LFW's full size (9,169
   embeddings of 1,681 people, synthesised) and a smaller SVM (fitting one over 1,681 people
   takes minutes). The pickle is this script's own, loaded only to time it.

    python bench/at_rest.py                      # defaults above
    python bench/at_rest.py --people 1000 --per-person 3 --repeats 20 --json
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.artifacts import load_artifacts, save_artifacts  # noqa: E402
from facerec_core.hashing import sha256_file  # noqa: E402
from facerec_core.gallery import GallerySource, GalleryStore, NewSample  # noqa: E402
from facerec_core.identity.identifiers import NearestNeighborIdentifier, SVMIdentifier  # noqa: E402

log = logging.getLogger("bench.at_rest")
THRESHOLDS = {"identify": 0.4, "cohort_weight": 0.5, "target_far": 0.01}


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _ms(samples: list[float]) -> dict:
    return {"p50_ms": round(1000 * statistics.median(samples), 3),
            "p95_ms": round(1000 * float(np.percentile(samples, 95)), 3), "n": len(samples)}


def bench_gallery(people: int, per_person: int, dim: int, repeats: int, queries: int, seed: int) -> list[dict]:
    """The same gallery plain and encrypted, measured in alternation (a busy shared machine then
    slows both alike)."""
    rng = np.random.default_rng(seed)
    X = unit_vectors(people * per_person, dim, rng)
    probes = unit_vectors(queries, dim, rng)
    entries = [{"name": f"person {i:05d}",
                "samples": [NewSample(x, "facenet", 1.0, "synthetic") for x in X[i * per_person:(i + 1) * per_person]]}
               for i in range(people)]
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for encrypted in (False, True):
            key = Path(tmp) / "keys" / "gallery.key" if encrypted else None
            store = GalleryStore(Path(tmp) / f"data{int(encrypted)}" / "gallery.sqlite3", key_file=key)
            t0 = time.perf_counter()
            store.add_people(entries, duplicate_cosine=1.1)
            runs.append({"encrypted": encrypted, "store": store, "fill_s": time.perf_counter() - t0,
                         "load": [], "first": [], "warm": []})
        for r in range(repeats):
            for run in runs:
                store = run["store"]
                store.set_notes(f"person {r % people:05d}", f"change {r}")  # a change: the matrix is stale
                t0 = time.perf_counter()
                store.matrix("facenet")
                run["load"].append(time.perf_counter() - t0)
                run["source"] = GallerySource(store, "facenet")
                t0 = time.perf_counter()
                run["source"].search(probes[:1])
                run["first"].append(time.perf_counter() - t0)
        for p in probes:
            for run in runs:
                t0 = time.perf_counter()
                run["source"].search(p[None, :])
                run["warm"].append(time.perf_counter() - t0)
        for run in runs:
            run["store"].close()
    return [{"encrypted": run["encrypted"], "samples": len(X), "fill_s": round(run["fill_s"], 2),
             "matrix_load": _ms(run["load"]), "first_search": _ms(run["first"]), "warm_search": _ms(run["warm"])}
            for run in runs]


def lfw_like_labels(n_images: int, n_people: int, rng: np.random.Generator) -> np.ndarray:
    """``n_images`` names over ``n_people``, at least 2 each, the rest skewed as in LFW."""
    counts = np.full(n_people, 2)
    extra = rng.zipf(1.6, size=n_images * 4)
    extra = extra[extra < 400][: n_images - counts.sum()]
    np.add.at(counts, rng.integers(0, n_people, len(extra)), extra)
    while counts.sum() > n_images:
        counts[np.argmax(counts)] -= 1
    counts[: n_images - counts.sum()] += 1
    return np.repeat([f"Person_{i:04d}" for i in range(n_people)], counts)


def bench_model(identifier, repeats: int, folder: Path) -> dict:
    import joblib

    save_artifacts(folder / "v3", identifier, {"backbone": "facenet", "thresholds": dict(THRESHOLDS)}, {})
    joblib.dump(identifier, folder / "identifier.joblib")
    new, old = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_artifacts(folder / "v3")  # hashes, checks and rebuilds (report and manifest included)
        new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sha256_file(folder / "identifier.joblib")  # the old loader hashed its files too
        joblib.load(folder / "identifier.joblib")  # our own file, only to time the old format
        old.append(time.perf_counter() - t0)
    size = sum(p.stat().st_size for p in (folder / "v3").iterdir())
    return {"format3": _ms(new), "joblib": _ms(old), "format3_bytes": size,
            "joblib_bytes": (folder / "identifier.joblib").stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--per-person", type=int, default=3)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--model-images", type=int, default=9169)
    ap.add_argument("--model-people", type=int, default=1681)
    ap.add_argument("--svm-people", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = {"gallery": bench_gallery(args.people, args.per_person, args.dim, args.repeats, args.queries, 0)}
    rng = np.random.default_rng(1)
    y = lfw_like_labels(args.model_images, args.model_people, rng)
    X = unit_vectors(len(y), args.dim, rng)
    with tempfile.TemporaryDirectory() as tmp:
        nn = NearestNeighborIdentifier().fit(X, y)
        out["nn"] = {"images": len(y), "people": len(set(y)), **bench_model(nn, args.repeats, Path(tmp) / "nn")}
        keep = np.isin(y, np.unique(y)[: args.svm_people])
        svm = SVMIdentifier(C=10.0, gamma=1.0).fit(X[keep], y[keep])
        out["svm"] = {"images": int(keep.sum()), "people": args.svm_people,
                      **bench_model(svm, args.repeats, Path(tmp) / "svm")}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"gallery search, {args.people} people x {args.per_person} samples ({args.dim}-d), ms:")
    print(f"{'':12} {'matrix load p50':>16} {'first search p50':>17} {'warm search p50':>16} {'warm p95':>9}")
    for g in out["gallery"]:
        print(f"{'encrypted' if g['encrypted'] else 'plain':12} {g['matrix_load']['p50_ms']:16.2f} "
              f"{g['first_search']['p50_ms']:17.2f} {g['warm_search']['p50_ms']:16.3f} "
              f"{g['warm_search']['p95_ms']:9.3f}")
    for kind in ("nn", "svm"):
        m = out[kind]
        print(f"model load, {kind} ({m['images']} embeddings, {m['people']} people): format 3 "
              f"{m['format3']['p50_ms']:.1f} ms ({m['format3_bytes']:,} bytes) "
              f"vs joblib {m['joblib']['p50_ms']:.1f} ms "
              f"({m['joblib_bytes']:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
