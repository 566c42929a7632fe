"""Few-shot gallery protocol on LFW (facerec_core.fewshot): k = 1, 3, 5 enrolled photos per person,
strangers never enrolled, our decision rules beside the face_recognition library, by face size.

    python bench/fewshot.py [--seed 3] [--max-people N] [--no-peer] [--out PATH] [--publish]

Thresholds are chosen per false-accept rate on one seeded half of the strangers and reported on
the other. The decision rules were compared on seeds 1, 2 and 4; the default seed 3 reports them.
Face sizes: k = 3 probes and reporting strangers downscaled so that the face is about 30 and 60 px
(bilinear), measured by the detector's box, reported at the full-size thresholds. Embeddings are
cached (ours: the bulk cache; the peer's: cache/peer-face_recognition.npz, owner-only).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core import fewshot as fs  # noqa: E402
from facerec_core.backbones.specs import spec_for  # noqa: E402
from facerec_core.embeddings import extract_embeddings  # noqa: E402
from facerec_core.identity.identifiers import NearestNeighborIdentifier  # noqa: E402
from facerec_core.identity.sources import ModelSource  # noqa: E402
from facerec_core.lfw import scan_lfw  # noqa: E402
from facerec_core.secure_files import private_dir  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402



def rules_for(backbone: str) -> list[fs.Rule]:
    """The decision rules compared for ``backbone``: before, the steps of the few-shot rule, the
    backbone's own few-shot rule (with and without identifying small faces), a trained model."""
    spec = spec_for(backbone)
    rules = [
        fs.Rule(fs.BEFORE, fixed_threshold=spec.identify_threshold),
        fs.Rule("gallery only: + template", template=True),
        fs.Rule("gallery only: template + probe's background cohort (w 0.5, 20)", template=True, background=True,
                cohort_weight=0.5),
    ]
    if spec.few_shot is not None:
        rules.append(fs.Rule.shipped(fs.SHIPPED, spec.few_shot))
        if spec.few_shot.small_face_margin is not None:
            rules.append(fs.Rule.shipped("gallery only: few-shot rule, faces under 40 px refused", spec.few_shot,
                                         small_face_margin=None))
    return rules + [
        fs.Rule("trained model + gallery: nearest sample (before)", cohort_weight=0.5, model=True),
        fs.Rule("trained model + gallery: template", template=True, cohort_weight=0.5, model=True),
    ]


SIZE_TARGETS = (30.0, 60.0)


def size_bin(size: float) -> str:
    return next(label for label, lo, hi in fs.SIZE_BINS if lo <= size < hi)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-dir", type=Path)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--max-people", type=int, help="people with >= 4 photos used (quick runs)")
    ap.add_argument("--max-single", type=int, default=1500, help="one-photo strangers used")
    ap.add_argument("--size-images", type=int, default=400, help="photos downscaled per size and kind")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--publish", action="store_true",
                    help="also write the figures where the README and the Model Metrics page read them "
                         "(a full default run only)")
    ap.add_argument("--markdown", type=Path, help="only print the tables of this JSON (a former run) as Markdown")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    settings = Settings.from_env().replace(lfw_dir=args.lfw_dir)
    split = fs.make_split(scan_lfw(settings.lfw_dir), args.seed, max_people=args.max_people,
                          max_single=args.max_single)
    paths = split.all_paths() + split.background
    t0 = time.time()
    es = extract_embeddings(paths, settings, progress=True)
    records = fs.Records.from_embedding_set(es)
    bg = np.stack([records.embedding[p] for p in split.background if records.found[p]])
    model = ModelSource(NearestNeighborIdentifier().fit(
        bg, [split.name_of[p] for p in split.background if records.found[p]]))

    # face sizes: downscaled copies of k = 3 probes and of reporting strangers
    _, probes3 = split.enrollment(3)
    folder = settings.cache_dir / "fewshot-downscaled"
    private_dir(folder)
    copies: dict[str, str] = {}
    for i, target in enumerate(SIZE_TARGETS):
        for kind, pool in (("probe", probes3), ("stranger", split.strangers_report)):
            plan = fs.downscale_plan(pool, records.size, target, max_images=args.size_images, seed=args.seed + i)
            copies.update(fs.write_downscaled(plan, folder, lambda p, f: hashlib.sha1(
                f"{p}|{f:.4f}".encode()).hexdigest()[:20] + ".png"))
    small = extract_embeddings(list(copies), settings, assume_center_face=False, progress=True)
    small_records = fs.Records.from_embedding_set(small)
    for attr in ("embedding", "found", "det_score", "size"):
        getattr(records, attr).update(getattr(small_records, attr))
    for copy, original in copies.items():
        split.name_of[copy] = split.name_of[original]
    originals = sorted(set(copies.values()))
    extra: dict[str, list[tuple[str, str]]] = {label: [] for label, _, _ in fs.SIZE_BINS}
    for copy, original in copies.items():
        size = records.size[copy] if records.found[copy] else 0.0  # no face found: counted in the smallest bin
        extra[size_bin(size)].append((copy, original))
    for o in originals:
        extra[size_bin(records.size[o])].append((o, o))
    log_seconds = round(time.time() - t0)

    results: dict = {"protocol": {
        "seed": args.seed, "rules_chosen_on_seeds": [1, 2, 4], "people_enrolled": len(split.enrolled),
        "strangers_choose": len(split.strangers_choose), "strangers_report": len(split.strangers_report),
        "background_people": len(set(split.name_of[p] for p in split.background)), "max_photos": 10,
        "max_single": args.max_single, "max_people": args.max_people, "backbone": settings.backbone,
        "size_targets_px": list(SIZE_TARGETS), "size_copies": len(copies), "embedding_seconds": log_seconds,
        "description": fs.__doc__}, "ours": {}, "peer": None}
    for rule in rules_for(settings.backbone):
        results["ours"][rule.name] = fs.evaluate_rule(split, records, rule, settings.backbone, background=bg,
                                                      model=model, extra=extra)
    if not args.no_peer:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from peer_face_recognition import peer_encodings

        peer_paths = split.all_paths() + list(copies)
        emb, status, timing = peer_encodings(peer_paths, settings.cache_dir / "peer-face_recognition.npz",
                                             workers=max(1, int(settings.workers)))
        (settings.cache_dir / "peer-face_recognition.npz").chmod(0o600)
        results["peer"] = fs.evaluate_distance_peer(split, dict(zip(peer_paths, emb)),
                                                    {p: s == "ok" for p, s in zip(peer_paths, status)}, extra=extra)
        results["peer"]["bulk_timing"] = timing

    print_tables(results)
    out = args.out or settings.cache_dir / "bench-fewshot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    out.chmod(0o600)
    print(f"\nall figures: {out}")
    if args.publish:
        if args.max_people or args.no_peer or args.max_single != 1500:
            print("not published: --publish needs a full default run (all people, 1,500 one-photo strangers, "
                  "the peer)", file=sys.stderr)
            return 2
        fs.published_path(settings.backbone).write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"published: {fs.published_path(settings.backbone)}")
    return 0


def print_tables(results: dict) -> None:
    p = results["protocol"]
    print(f"\n== Few-shot gallery protocol on LFW (seed {p['seed']}; {p['people_enrolled']} people enrolled, "
          f"{p['strangers_choose']} + {p['strangers_report']} stranger photos to choose / report thresholds) ==")
    print(f"{'':62}{'k':>3}{'probes':>8}{'@FAR1%':>9}{'FAR':>8}{'@FAR0.1%':>10}{'FAR':>8}{'wrong':>7}  refused at 0.1%")
    rows = fs.result_rows(results)
    for r in rows:
        refused = {x: r[f"refused_{x}"] for x in fs.REFUSALS}
        print(f"{r['rule'][:62]:62}{r['k']:>3}{r['probes']:>8}{r['correct_far_1']:>9.4f}{r['far_1']:>8.4f}"
              f"{r['correct_far_01']:>10.4f}{r['far_01']:>8.4f}{r['wrong_01']:>7}  {refused}")
    print("\nat the shipped thresholds (correct rate, wrong, FAR on the reporting strangers):")
    for r in rows:
        if "fixed" in r:
            f = r["fixed"]
            print(f"  {r['rule']} k={r['k']} (threshold {f['threshold']:.2f}): {f['correct_rate']:.4f}, "
                  f"{f['wrong']} wrong, FAR {f['far']:.4f}")
    print("\n== By face size (k = 3; downscaled copies; full-size thresholds) ==")
    print(f"{'':62}{'size':>9}{'probes':>8}{'@FAR1%':>9}{'FAR':>8}{'@FAR0.1%':>10}{'FAR':>8}  refused small / no face")
    for r in fs.size_rows(results):
        print(f"{r['rule'][:62]:62}{r['size']:>9}{r['probes']:>8}{r['correct_far_1']:>9.4f}{r['far_1']:>8.4f}"
              f"{r['correct_far_01']:>10.4f}{r['far_01']:>8.4f}  {r['refused_small']} / {r['refused_no_face']}")
    shown = [next(iter(results["ours"].items()))] + ([(fs.PEER, results["peer"])] if results["peer"] else [])
    print("\nenrollment outcomes (k = 3): " + "; ".join(
        f"{n}: {r['k']['3'].get('enrollment', r['k']['3'].get('enrolled_samples'))}" for n, r in shown))


def markdown(results: dict) -> str:
    """The tables as Markdown (for the README; the Model Metrics page draws the same rows)."""
    out = ["| rule | k | probes | correct @FAR 1% | correct @FAR 0.1% | FAR (report half) 1% / 0.1% | wrong @0.1% "
           "| refused @0.1%: below thr / too small / det score / no face |", "|---|---|---|---|---|---|---|---|"]
    for r in fs.result_rows(results):
        ref = " / ".join(str(r[f"refused_{x}"]) for x in fs.REFUSALS)
        out.append(f"| {r['rule']} | {r['k']} | {r['probes']} | {r['correct_far_1']:.3f} | {r['correct_far_01']:.3f} | "
                   f"{r['far_1']:.2%} / {r['far_01']:.2%} | {r['wrong_01']} | {ref} |")
    out += ["", "| rule (k = 3) | face size | probes | strangers | correct @FAR 1% | correct @FAR 0.1% "
            "| FAR 1% / 0.1% | refused @0.1%: too small / no face |", "|---|---|---|---|---|---|---|---|"]
    for r in fs.size_rows(results):
        out.append(f"| {r['rule']} | {r['size']} | {r['probes']} | {r['strangers']} | {r['correct_far_1']:.3f} | "
                   f"{r['correct_far_01']:.3f} | {r['far_1']:.2%} / {r['far_01']:.2%} | {r['refused_small']} / "
                   f"{r['refused_no_face']} |")
    fixed = [r for r in fs.result_rows(results) if "fixed" in r]
    if fixed:
        out += ["", "| at the shipped threshold | k | threshold | correct | wrong | FAR |", "|---|---|---|---|---|---|"]
        for r in fixed:
            f = r["fixed"]
            out.append(f"| {r['rule']} | {r['k']} | {f['threshold']:.2f} | {f['correct_rate']:.3f} | {f['wrong']} | "
                       f"{f['far']:.2%} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
