"""Accuracy benchmark on the full LFW: our pipeline per backbone beside the face_recognition library.

    python bench/accuracy.py [--lfw-dir PATH] [--backbones facenet,dlib-resnet] [--no-peer] [--fewshot]

Prints, from one run: the original protocol (people with >= 2 images, stratified 80/20 split,
seed 42) for the original design, each backbone's RBF SVM and nearest-neighbour identifiers and
the peer's 1-NN; LFW View-2 (10 folds, mean ± std, TAR at FAR 0.1%); open-set identification
(DIR at FAR 1% / 0.1%) with and without the LFW name-variant merge; with ``--fewshot``, the few-shot
gallery protocol too (bench/fewshot.py: k = 1, 3, 5 enrolled photos, strangers, face sizes). Embeddings are cached
(first run: several minutes). Speed has its own benchmark: bench/speed.py.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.evaluate import ORIGINAL_DESIGN, closed_set_metrics, open_set_metrics, verification_10fold  # noqa: E402
from facerec_core.lfw import image_path, read_pairs, scan_lfw  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402
from facerec_core.training import TrainConfig, train_lfw  # noqa: E402

COLS = ["accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"]


def evaluate_peer(settings: Settings, seed: int = 42) -> dict:
    """The face_recognition library on the same protocols, with its own rule (Euclidean distance)."""
    from sklearn.model_selection import train_test_split

    from peer_face_recognition import peer_encodings

    dataset = scan_lfw(settings.lfw_dir)
    paths, labels = dataset.samples()
    emb, status, timing = peer_encodings([str(p) for p in paths], settings.cache_dir / "peer-face_recognition.npz",
                                         workers=settings.workers)
    y = np.asarray(labels)
    counts = collections.Counter(labels)
    multi = np.array([counts[n] >= 2 for n in labels])
    Xm, ym = emb[multi], y[multi]
    tr, te = train_test_split(np.arange(len(ym)), test_size=0.2, stratify=ym, random_state=seed)

    def nearest(Q, G):
        d2 = (Q ** 2).sum(1)[:, None] - 2 * Q @ G.T + (G ** 2).sum(1)[None, :]
        idx = d2.argmin(1)
        return idx, np.sqrt(np.maximum(d2[np.arange(len(Q)), idx], 0))

    idx, dist = nearest(Xm[te], Xm[tr])
    pred = ym[tr][idx]
    out = {"closed_set": closed_set_metrics(ym[te], pred)}
    _, dist_u = nearest(emb[~multi], Xm[tr])
    out["open_set"] = open_set_metrics(-dist, pred == ym[te], -dist_u)
    pairs = read_pairs(settings.lfw_protocol_dir_resolved / "pairs.txt")
    where = {str(p): i for i, p in enumerate(paths)}
    a = emb[[where[str(image_path(settings.lfw_dir, p.name1, p.index1))] for p in pairs]]
    b = emb[[where[str(image_path(settings.lfw_dir, p.name2, p.index2))] for p in pairs]]
    out["verification"] = verification_10fold(-np.linalg.norm(a - b, axis=1), np.array([p.same for p in pairs]),
                                              np.array([p.fold for p in pairs]))
    out["detection"] = {"ok": int((status == "ok").sum()), "assumed": int((status == "assumed").sum())}
    out["bulk_timing"] = timing
    return out


def fmt_row(name: str, m: dict) -> str:
    return f"{name:36}" + "".join(f"{m[c]:>16.4f}" if c in m else f"{'-':>16}" for c in COLS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-dir", type=Path)
    ap.add_argument("--backbones", default="facenet", help="comma-separated backbone names")
    ap.add_argument("--no-peer", action="store_true", help="skip the face_recognition library")
    ap.add_argument("--no-svm", action="store_true", help="skip the RBF SVM (minutes on 1,680 people)")
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    ap.add_argument("--fewshot", action="store_true", help="also run the few-shot gallery protocol (bench/fewshot.py)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env().replace(lfw_dir=args.lfw_dir)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    results: dict = {"ours": {}, "peer": None}
    for name in args.backbones.split(","):
        s = settings.replace(backbone=name)
        t0 = time.time()
        full = train_lfw(s, TrainConfig(identifier="nn" if args.no_svm else "auto"), save=False)
        unmerged = train_lfw(s, TrainConfig(identifier="nn", merge_name_variants=False, verification=False), save=False)
        results["ours"][name] = {"identifiers": full["identifiers"], "verification": full["verification"],
                                 "open_set": full["open_set"], "open_set_without_merge": unmerged["open_set"],
                                 "closed_set_without_merge": unmerged["identifiers"]["nn"],
                                 "detection": full["data"]["detection"], "seconds": round(time.time() - t0)}
    if not args.no_peer:
        results["peer"] = evaluate_peer(settings)

    print("\n== Original protocol: LFW people with >= 2 images, stratified 80/20 split, seed 42 ==")
    print(f"{'':36}" + "".join(f"{c:>16}" for c in COLS))
    print(fmt_row("original design", ORIGINAL_DESIGN))
    if results["peer"]:
        print(fmt_row("face_recognition (1-NN)", results["peer"]["closed_set"]))
    for name, r in results["ours"].items():
        for kind, m in r["identifiers"].items():
            print(fmt_row(f"{name}: {'RBF SVM' if kind == 'svm' else 'nearest neighbour'}", m))
        print(fmt_row(f"{name}: nearest neighbour, names unmerged", r["closed_set_without_merge"]))

    print("\n== LFW View-2 verification (pairs.txt, 10 folds) ==")
    rows = [("face_recognition", results["peer"]["verification"])] if results["peer"] else []
    for n, r in results["ours"].items():
        rows.append((n, r["verification"]))
        if "cohort_normalised" in r["verification"]:
            rows.append((f"{n}, cohort-normalised", r["verification"]["cohort_normalised"]))
    for name, v in rows:
        print(f"{name:36}{v['accuracy_mean']:.2%} ± {v['accuracy_std']:.2%}   TAR@FAR=0.1%: {v['tar_at_far_0.1%']:.4f}")

    print("\n== Open-set identification (unknown probes: the people with exactly one image) ==")
    rows = [("face_recognition (1-NN distance)", results["peer"]["open_set"])] if results["peer"] else []
    for n, r in results["ours"].items():
        rows += [(f"{n} (names merged)", r["open_set"]), (f"{n} (names unmerged)", r["open_set_without_merge"])]
    print(f"{'':36}{'rank-1':>10}{'DIR@FAR1%':>12}{'DIR@FAR0.1%':>13}{'unknowns':>10}")
    for name, o in rows:
        print(f"{name:36}{o['rank1']:>10.4f}{o['dir_at_far_0.01']:>12.4f}{o['dir_at_far_0.001']:>13.4f}{o['n_unknown']:>10}")
    for n, r in results["ours"].items():
        o = r["open_set"]
        if "at_calibrated_threshold" in o:
            c = o["at_calibrated_threshold"]
            print(f"{n}: calibrated threshold {o['threshold']:.4f} (cohort weight {o['cohort_weight']}, target FAR "
                  f"{o['target_far']:.0%}) gives FAR {c['far']:.2%} and DIR {c['dir']:.4f} on the test probes")
            print(f"{n}: closest strangers: " + "; ".join(
                f"{u['unknown']}~{u['matched']} {u['score']:.3f}" for u in o["closest_unknowns"][:6]))
            print(f"{n}: merged names: {o['merged_names']}; hubs: {o['hubs'][:5]}")

    for n, r in results["ours"].items():
        print(f"{n}: detection on LFW: {r['detection']}")

    out = args.out or settings.cache_dir / "bench-accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    print(f"\nall figures: {out}")
    if args.fewshot:
        import fewshot

        fewshot.main((["--lfw-dir", str(args.lfw_dir)] if args.lfw_dir else [])
                     + (["--no-peer"] if args.no_peer else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
