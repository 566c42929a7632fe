"""Measure the Verify presets (strict / balanced / lenient) on LFW View-2 for the no-model case.

    python bench/verify_presets.py [--lfw-dir PATH] [--backbone facenet] [--out presets.json]

Embeds the images of pairs.txt (cached), scores every pair by the plain cosine (what ``verify``
uses without a trained model) and prints, for each preset of
:data:`facerec_core.evaluate.VERIFY_PRESETS`, the threshold chosen on all 6,000 pairs, its false-
and true-accept rates there, and the 10-fold cross-validated rates (threshold chosen on 9 folds,
measured on the tenth). These thresholds are what ``BackboneSpec.verify_presets`` holds
(facerec_core/backbones/specs.py). With a trained model the same figures are measured at
training time on the cohort-normalised score and stored in the model's report.

It also measures a claim against an enrolled person ("is this X?"): every person of those images
with at least 4 photos is enrolled from 3 of them; each of their other photos is a genuine claim,
and one photo of every other person an impostor claim against them; the claim's score is the
best cosine to the 3 enrolled photos.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.embeddings import extract_embeddings  # noqa: E402
from facerec_core.evaluate import VERIFY_PRESETS, equal_error_threshold, verification_presets  # noqa: E402
from facerec_core.lfw import image_path, read_pairs  # noqa: E402
from facerec_core.settings import Settings, resolve_device, resolve_precision  # noqa: E402

ENROLLED_PHOTOS = 3


def claims(X: np.ndarray, names: list[str], presets: dict) -> dict:
    """"Is this photo person P?": the claim presets (thresholds for each target false-accept rate,
    chosen on the claim scores) and, for comparison, the rates of the pair presets' thresholds."""
    by_person = collections.defaultdict(list)
    for i, n in enumerate(names):
        by_person[n].append(i)
    enrolled = {n: idx[:ENROLLED_PHOTOS] for n, idx in by_person.items() if len(idx) > ENROLLED_PHOTOS}
    one_each = {n: idx[0] for n, idx in by_person.items()}
    genuine, impostor = [], []
    for n, idx in enrolled.items():
        G = X[idx]
        genuine.extend((X[by_person[n][ENROLLED_PHOTOS:]] @ G.T).max(axis=1).tolist())
        probes = [i for m, i in one_each.items() if m != n]
        impostor.extend((X[probes] @ G.T).max(axis=1).tolist())
    genuine, impostor = np.asarray(genuine), np.asarray(impostor)
    out = {"people_enrolled": len(enrolled), "genuine_claims": int(len(genuine)), "impostor_claims": int(len(impostor)),
           "presets": verification_presets(np.r_[genuine, impostor], np.r_[np.ones(len(genuine), bool),
                                                                          np.zeros(len(impostor), bool)])}
    for name, p in presets.items():
        out[name] = {"pair_threshold": p["threshold"], "far": float((impostor >= p["threshold"]).mean()),
                     "tar": float((genuine >= p["threshold"]).mean())}
    return out


def _cached(images: list[tuple[str, int]], settings: Settings) -> list[tuple[str, int]]:
    """The images already in the embedding cache."""
    from facerec_core.embeddings import EmbeddingCache, _backbone_cache_key, _cache_key, file_digest

    cache = EmbeddingCache(settings.cache_dir, _cache_key(_backbone_cache_key(settings.backbone, None, settings),
                                                          settings, True))

    return [(n, i) for n, i in images if cache.get(file_digest(image_path(settings.lfw_dir, n, i))) is not None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-dir", type=Path)
    ap.add_argument("--backbone", default=None)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--cached-only", action="store_true",
                    help="only the pairs whose two images are already in the embedding cache (a partial run)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if args.lfw_dir:
        settings = settings.replace(lfw_dir=args.lfw_dir)
    if args.backbone:
        settings = settings.replace(backbone=args.backbone)
    pairs = read_pairs(settings.lfw_protocol_dir_resolved / "pairs.txt")
    unique = sorted({(p.name1, p.index1) for p in pairs} | {(p.name2, p.index2) for p in pairs})
    if args.cached_only:
        unique = _cached(unique, settings)
        kept = set(unique)
        n = len(pairs)
        pairs = [p for p in pairs if (p.name1, p.index1) in kept and (p.name2, p.index2) in kept]
        logging.getLogger("bench").warning("--cached-only: %d of %d pairs, %d images", len(pairs), n, len(unique))
    paths = [image_path(settings.lfw_dir, n, i) for n, i in unique]
    emb = extract_embeddings(paths, settings)
    where = {key: k for k, key in enumerate(unique)}
    ia = np.array([where[(p.name1, p.index1)] for p in pairs])
    ib = np.array([where[(p.name2, p.index2)] for p in pairs])
    X = emb.embeddings
    scores = np.einsum("ij,ij->i", X[ia], X[ib])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    # pairs.txt alone: 3,000 different-person pairs, so 0.1% is the 4th-highest of them: noisy
    view2 = verification_presets(scores, same, folds)
    usable = emb.usable
    # every pair of these images (tens of millions of different-person pairs, every same-person
    # pair): the presets' thresholds are chosen here, where 0.1% is thousands of pairs
    Xu, names_u = X[usable], np.array([n for (n, _), ok in zip(unique, usable) if ok])
    iu = np.triu_indices(len(Xu), 1)
    all_scores = (Xu @ Xu.T)[iu]
    all_same = names_u[iu[0]] == names_u[iu[1]]
    del iu
    presets = verification_presets(all_scores, all_same)
    at = {name: {"far": float((scores[~same] >= p["threshold"]).mean()),
                 "tar": float((scores[same] >= p["threshold"]).mean())} for name, p in presets.items()}
    claim = claims(Xu, list(names_u), presets)
    precision = resolve_precision(settings.precision, resolve_device(settings.device))
    result = {"backbone": settings.backbone, "precision": precision, "images": emb.counts(),
              "presets": presets, "view2_pairs": {"pairs": int(len(pairs)), "at_presets": at,
                                                  "presets_chosen_on_pairs": view2}, "claims": claim}
    print(f"\n== Verify presets, plain cosine ({settings.backbone}, {precision}): every pair of the "
          f"{len(Xu):,} View-2 images ({int((~all_same).sum()):,} different-person, {int(all_same.sum()):,} "
          f"same-person), and LFW View-2's pairs.txt ({len(pairs):,} pairs) at the same thresholds ==")
    print(f"{'preset':10}{'target FAR':>12}{'threshold':>11}{'FAR':>9}{'TAR':>9}{'View-2 FAR':>12}{'View-2 TAR':>12}")
    for name, target in VERIFY_PRESETS:
        p = presets[name]
        print(f"{name:10}{target:>12.1%}{p['threshold']:>11.4f}{p['far']:>9.4%}{p['tar']:>9.4f}"
              f"{at[name]['far']:>12.4%}{at[name]['tar']:>12.4f}")
    print("\nchosen on pairs.txt alone (10-fold cross-validated FAR / TAR):")
    for name, target in VERIFY_PRESETS:
        p = view2[name]
        print(f"{name:10}{target:>12.1%}{p['threshold']:>11.4f}{p['far']:>9.4%}{p['tar']:>9.4f}"
              f"{p['cv_far']:>12.4%}{p['cv_tar']:>12.4f}")
    eer = equal_error_threshold(all_scores, all_same)
    result["equal_error"] = {"threshold": eer, "far": float((all_scores[~all_same] >= eer).mean()),
                             "frr": float((all_scores[all_same] < eer).mean())}
    print(f"equal-error point: threshold {eer:.4f}, FAR {result['equal_error']['far']:.4%}, "
          f"FRR {result['equal_error']['frr']:.4%}")
    print(f"\n== Claim presets (is this photo P?; best cosine to {ENROLLED_PHOTOS} photos of P): "
          f"{claim['people_enrolled']} people, {claim['genuine_claims']} genuine and "
          f"{claim['impostor_claims']} impostor claims; FAR of the pair thresholds as claims ==")
    for name, target in VERIFY_PRESETS:
        p = claim["presets"][name]
        print(f"{name:10}{target:>12.1%}{p['threshold']:>11.4f}{p['far']:>9.4%}{p['tar']:>9.4f}"
              f"{claim[name]['far']:>12.4%}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
