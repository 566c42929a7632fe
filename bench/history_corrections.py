"""Corrections that stick, on LFW (facerec_core.identity.corrections): strangers the default threshold
names are fed back as "not this person"; does that keep other strangers from being named, and what
does it cost the known people?

    python bench/history_corrections.py [--seed 0] [--people 50] [--images 12] [--strangers 0]
                                        [--pool singles|untrained] [--probes-per-person 20]

Protocol (deterministic for a seed):

1. Known people and the model: the product's own training (``facerec_core.training.train_lfw``,
   auto identifier, SVM grid C in {1, 10}, gamma 1; View-2 and the training's open-set report off),
   on the ``--people`` LFW people with most photos (name variants merged, as training does), the
   first ``--images`` photos of each, into a temporary artifacts folder. The decisions are those of
   ``Recognizer.load`` on that folder (temporary data folder: no gallery) through
   ``Recognizer.identify``: ``decide`` at the calibrated threshold, then ``apply_corrections`` with
   the correction set under test (passed as the Recognizer's ``corrections``).
2. Probes, from the cached embeddings (faces given a 112 px box and detection score 0.99 so that the
   quality gates pass; the photos whose face was not detected are kept, as training keeps them):
   known probes are the photos of the known people that training did not use (past the first
   ``--images``), at most ``--probes-per-person`` of each (seeded choice; 0: all), after 2 more per
   person are set aside for the confirmation variant. Strangers (``--pool singles``, the default)
   are the open-set protocol's: the people with a single LFW photo; ``--pool untrained`` adds every
   photo of the people with more photos that training did not use. ``--strangers N`` keeps N of
   them (seeded; 0: all). Strangers are split by person into halves A and B (seeded).
3. "Before": every face decided with no corrections. The false accepts of A (strangers given a name)
   become the corrections: each an impostor sample of the name it was given, with its score
   (``LabelledSamples``). "After": B's strangers and the known probes decided again with them.
   Variant "+ confirmed": also, for each person with a rejection, the 2 set-aside photos are
   confirmed as that person (genuine samples; their score kept only where the decision named that
   person, as ``CorrectionBook.confirm`` does, else NaN).
4. Global threshold at equal FAR: the lowest global threshold at which B's false accepts (no
   corrections) are no more than after corrections; known probes decided at it.

Figures: false-accept rate on B (strangers given any name), known probes' correct-name rate (named
as themselves / all known probes), named wrongly, left unknown; faces whose name the corrections
took back, by rule (closer to a rejected look-alike; below the person's own threshold).
"""
from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.embeddings import extract_embeddings  # noqa: E402
from facerec_core.faces import UNKNOWN, Face  # noqa: E402
from facerec_core.identity.corrections import CorrectionSet, LabelledSamples  # noqa: E402
from facerec_core.lfw import LFWDataset, name_variants, scan_lfw  # noqa: E402
from facerec_core.recognizer import Recognizer  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402
from facerec_core.training import TrainConfig, train_lfw  # noqa: E402

BOX = (0.0, 0.0, 112.0, 112.0)
DET_SCORE = 0.99
CONFIRMED_PER_PERSON = 2
LOOK_ALIKE, OWN_THRESHOLD = "closer to a face rejected", "(set by corrections)"


def known_dataset(settings: Settings, people: int, images: int) -> tuple[LFWDataset, LFWDataset]:
    """(the merged LFW dataset, the people training keeps with all their photos): train_lfw's choice."""
    dataset = scan_lfw(settings.lfw_dir)
    dataset = dataset.merge(name_variants(dataset.people))
    kept = dataset.filter_min_images(2)
    top = sorted(kept.people, key=lambda n: (-len(kept.people[n]), n))[:people]
    return dataset, kept.only(top)


def faces_of(X: np.ndarray) -> list[Face]:
    return [Face(box=BOX, det_score=DET_SCORE, embedding=x) for x in X]


class Decider:
    """Decides rows of embeddings through the Recognizer with a chosen correction set."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.corrections = CorrectionSet()
        self.recognizer = recognizer
        recognizer.corrections = lambda: self.corrections

    def __call__(self, X: np.ndarray, corrections: CorrectionSet | None = None,
                 threshold: float | None = None) -> list[Face]:
        self.corrections = corrections or CorrectionSet()
        faces = faces_of(X)
        for start in range(0, len(faces), 1024):
            self.recognizer.identify(faces[start:start + 1024], threshold=threshold)
        return faces


def named(faces) -> np.ndarray:
    return np.array([f.is_known for f in faces])


def by_rule(before, after) -> dict[str, np.ndarray]:
    lost = named(before) & ~named(after)
    reasons = [f.reason or "" for f in after]
    return {"look-alike": lost & np.array([LOOK_ALIKE in r for r in reasons]),
            "own threshold": lost & np.array([OWN_THRESHOLD in r for r in reasons])}


def rate(k: int, n: int) -> str:
    return f"{k / n:.2%} ({k}/{n})" if n else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="probe choice and the A/B split of strangers")
    ap.add_argument("--people", type=int, default=50, help="known people (those with most LFW photos)")
    ap.add_argument("--images", type=int, default=12, help="training photos per known person (the first N)")
    ap.add_argument("--strangers", type=int, default=0, help="stranger faces used (0: the whole pool)")
    ap.add_argument("--pool", choices=("singles", "untrained"), default="singles",
                    help="singles: one-photo people (the open-set protocol's strangers); untrained: also every "
                         "photo of the people with more photos that training did not use")
    ap.add_argument("--probes-per-person", type=int, default=20, help="held-out known probes per person (0: all)")
    ap.add_argument("--lfw-dir", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="facerec-corrections-") as tmp:
        settings = Settings.from_env().replace(lfw_dir=args.lfw_dir, artifacts_dir=Path(tmp) / "artifacts",
                                               data_dir=Path(tmp) / "data", device="cpu")
        if settings.lfw_dir is None:
            ap.error("set FACEREC_LFW_DIR or pass --lfw-dir")
        config = TrainConfig(max_people=args.people, max_images=args.images, verification=False, open_set=False,
                             svm_grid={"C": [1.0, 10.0], "gamma": [1.0]}, seed=42)
        report = train_lfw(settings, config)
        t_train = time.perf_counter() - t0
        recognizer = Recognizer.load(settings)
        decide = Decider(recognizer)

        dataset, known = known_dataset(settings, args.people, args.images)
        trained = sorted(r["person"] for r in report["per_person"])
        if sorted(known.people) != trained:
            raise SystemExit("the known people differ from the ones training used: the selection drifted")
        if sorted(recognizer.known_people) != trained:
            raise SystemExit("the loaded model's people differ from the trained ones")

        # known probes: held-out photos, 2 per person set aside for confirmations
        probe_paths, probe_names, confirm_paths, confirm_names = [], [], [], []
        for name in sorted(known.people):
            held = list(known.people[name][args.images:])
            order = rng.permutation(len(held))
            held = [held[i] for i in order]
            confirm_paths += held[:CONFIRMED_PER_PERSON]
            confirm_names += [name] * len(held[:CONFIRMED_PER_PERSON])
            rest = held[CONFIRMED_PER_PERSON:]
            rest = rest[:args.probes_per_person] if args.probes_per_person else rest
            probe_paths += rest
            probe_names += [name] * len(rest)

        # strangers: never trained on
        pool = {n: p for n, p in dataset.people.items()
                if n not in known.people and (len(p) == 1 or args.pool == "untrained")}
        pool_people = sorted(pool)
        order = rng.permutation(len(pool_people))
        s_names, s_paths = [], []
        for i in order:
            if args.strangers and len(s_paths) >= args.strangers:
                break
            s_names += [pool_people[i]] * len(pool[pool_people[i]])
            s_paths += pool[pool_people[i]]
        if args.strangers:
            s_names, s_paths = s_names[:args.strangers], s_paths[:args.strangers]
        people = sorted(set(s_names))
        half_a = set(np.array(people)[rng.permutation(len(people))[:len(people) // 2]].tolist())

        emb = extract_embeddings(probe_paths + confirm_paths + s_paths, settings, progress=False)
        usable = emb.usable
        n_p, n_c = len(probe_paths), len(confirm_paths)
        X = emb.embeddings
        P, yP = X[:n_p][usable[:n_p]], np.array(probe_names)[usable[:n_p]]
        C, yC = X[n_p:n_p + n_c][usable[n_p:n_p + n_c]], np.array(confirm_names)[usable[n_p:n_p + n_c]]
        S_ok = usable[n_p + n_c:]
        S, yS = X[n_p + n_c:][S_ok], np.array(s_names)[S_ok]
        in_a = np.array([n in half_a for n in yS])
        SA, SB = S[in_a], S[~in_a]
        base = recognizer.threshold

        # before
        t1 = time.perf_counter()
        a_before, b_before, p_before, c_before = decide(SA), decide(SB), decide(P), decide(C)
        t_decide = time.perf_counter() - t1
        fa = [f for f in a_before if f.is_known]
        groups: dict[str, tuple[list, list]] = {}
        for f in fa:
            vecs, scores = groups.setdefault(f.identity, ([], []))
            vecs.append(np.asarray(f.embedding, np.float64))
            scores.append(float(f.confidence))
        impostors = {p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in groups.items()}
        corrections = CorrectionSet(impostors=impostors, version=(len(fa),))
        gen: dict[str, tuple[list, list]] = {}
        unscored = 0
        for f, name in zip(c_before, yC):
            if name not in impostors:
                continue
            vecs, scores = gen.setdefault(name, ([], []))
            vecs.append(np.asarray(f.embedding, np.float64))
            score = float(f.confidence) if f.identity == name else np.nan
            unscored += int(np.isnan(score))
            scores.append(score)
        genuine = {p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in gen.items()}
        confirmed = CorrectionSet(impostors=impostors, genuine=genuine, version=(len(fa), len(gen)))

        # after
        a_after = decide(SA, corrections)
        b_after, p_after = decide(SB, corrections), decide(P, corrections)
        b_conf, p_conf = decide(SB, confirmed), decide(P, confirmed)

        # global threshold at equal FAR on B (no corrections): accepted at t iff the best match scores >= t
        target = int(named(b_after).sum())
        top = np.sort([max(m.score for m in f.matches) if f.matches else -np.inf for f in b_before])[::-1]
        equal_t = base if target >= len(top) else max(base, float(np.nextafter(top[target], np.inf)))
        b_equal, p_equal = decide(SB, threshold=equal_t), decide(P, threshold=equal_t)
        if named(b_equal).sum() > target:
            raise SystemExit("the equal-FAR threshold search went wrong")

    # ---- report ----------------------------------------------------------------------------------
    own = {p: corrections.person_threshold(p, base) for p in impostors}
    own_set = {p: t for p, t in own.items() if t is not None}
    own_conf = {p: confirmed.person_threshold(p, base) for p in impostors}
    print(f"## Corrections on LFW (seed {args.seed})\n")
    print("| setting | value |\n|---|---|")
    print(f"| known people | {len(trained)} (most LFW photos; first {args.images} photos each trained, "
          f"{report['data']['images']} images) |")
    print(f"| model | {report['chosen_identifier']} ({report['identifiers'][report['chosen_identifier']].get('params')}), "
          f"calibrated threshold {base:.4f} (cohort weight {recognizer.thresholds.cohort_weight:g}), "
          f"target FAR {config.target_far:.0%} |")
    print(f"| known probes | {len(P)} held-out photos of {len(set(yP))} people (≤ {args.probes_per_person or 'all'} "
          f"each); {len(C)} more set aside for confirmations |")
    print(f"| strangers ({args.pool}) | {len(S)} faces of {len(set(yS))} people: A {len(SA)} faces "
          f"({len(set(yS[in_a]))} people), B {len(SB)} faces ({len(set(yS[~in_a]))} people) |")
    print(f"| not detected (centre box embedded) | known probes {int((emb.status[:n_p] == 'assumed').sum())}, "
          f"strangers {int((emb.status[n_p + n_c:] == 'assumed').sum())}; unusable left out: "
          f"{int((~usable).sum())} |")
    print(f"| corrections fed back | {len(fa)} rejections (A's false accepts) of {len(impostors)} people; "
          f"{len(own_set)} of them get an own threshold (≥ 2 rejections) |")
    if own_set:
        vals = np.array(list(own_set.values()))
        print(f"| own thresholds | min {vals.min():.3f}, median {np.median(vals):.3f}, max {vals.max():.3f} "
              f"(global {base:.3f}) |")
    print(f"| confirmations (variant) | {sum(len(g.scores) for g in genuine.values())} photos of {len(genuine)} "
          f"people with rejections; {unscored} without a score (the decision did not name that person); own "
          f"thresholds then: {sum(t is not None for t in own_conf.values())} |")
    print(f"| seconds | training {t_train:.0f}, deciding all faces once {t_decide:.1f}, "
          f"total {time.perf_counter() - t0:.0f} |")

    def known_cells(faces) -> str:
        ids = np.array([f.identity for f in faces])
        right = int((ids == yP).sum())
        unknown = int((ids == UNKNOWN).sum())
        return f"{rate(right, len(yP))} | {rate(len(yP) - right - unknown, len(yP))} | {rate(unknown, len(yP))}"

    print("\n### False accepts on B and known people's names\n")
    print("| decision | threshold | FAR on B (strangers named) | known: correct name | known: wrong name "
          "| known: unknown |\n|---|---|---|---|---|---|")
    print(f"| before: global threshold, no corrections | {base:.4f} | {rate(int(named(b_before).sum()), len(SB))} "
          f"| {known_cells(p_before)} |")
    print(f"| after: A's false accepts rejected | {base:.4f} + own | {rate(int(named(b_after).sum()), len(SB))} "
          f"| {known_cells(p_after)} |")
    print(f"| after: + {CONFIRMED_PER_PERSON} confirmed photos per corrected person | {base:.4f} + own "
          f"| {rate(int(named(b_conf).sum()), len(SB))} | {known_cells(p_conf)} |")
    print(f"| global threshold at equal FAR on B, no corrections | {equal_t:.4f} "
          f"| {rate(int(named(b_equal).sum()), len(SB))} | {known_cells(p_equal)} |")
    print(f"\nSanity: A's own false accepts after their corrections: {rate(int(named(a_after).sum()), len(SA))} "
          f"(before: {rate(len(fa), len(SA))}).")

    print("\n### Names taken back by the corrections, by rule\n")
    print("| faces | decision | look-alike rule | own threshold rule | of which had the right name "
          "|\n|---|---|---|---|---|")
    for label, variant, before, after, truth in (
            ("B strangers", "rejections", b_before, b_after, None), ("known probes", "rejections", p_before, p_after, yP),
            ("B strangers", "+ confirmed", b_before, b_conf, None),
            ("known probes", "+ confirmed", p_before, p_conf, yP)):
        rules = by_rule(before, after)
        lost = rules["look-alike"] | rules["own threshold"]
        right = "-" if truth is None else str(int((lost & (np.array([f.identity for f in before]) == truth)).sum()))
        print(f"| {label} ({len(before)}) | {variant} | {int(rules['look-alike'].sum())} "
              f"| {int(rules['own threshold'].sum())} | {right} |")

    print("\n### People with rejections: known probes named correctly before → after (rejections)\n")
    print("| person | rejections | own threshold | B false accepts before → after | known probes correct "
          "before → after |\n|---|---|---|---|---|")
    b_ids_before = collections.Counter(f.identity for f in b_before if f.is_known)
    b_ids_after = collections.Counter(f.identity for f in b_after if f.is_known)
    for p in sorted(impostors, key=lambda p: (-len(impostors[p].scores), p)):
        rows = yP == p
        pb = sum(f.identity == p for f, r in zip(p_before, rows) if r)
        pa = sum(f.identity == p for f, r in zip(p_after, rows) if r)
        t = own[p]
        print(f"| {p} | {len(impostors[p].scores)} | {'-' if t is None else f'{t:.3f}'} "
              f"| {b_ids_before[p]} → {b_ids_after[p]} | {pb} → {pa} of {int(rows.sum())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
