"""Corrections that stick, on LFW (facerec_core.identity.corrections): strangers the default threshold
names are fed back as "not this person"; does that keep other strangers from being named, and what
does it cost the known people?

    python bench/history_corrections.py [--seed 0] [--people 50] [--images 12] [--strangers 0]
                                        [--pool singles|untrained] [--probes-per-person 20] [--repeats 10]

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
   corrections) are no more than after corrections; known probes decided at it. That threshold is
   chosen on B itself (an oracle: it favours the global rule), so also the lowest global threshold
   that names A's strangers at no more than that rate (chosen without B), decided on B and the
   known probes. ``--split photo`` splits strangers by photo instead of by person (with
   ``--pool untrained``, a stranger rejected in A may come back in B: a returning visitor).

Steps 2-4 are repeated for seeds ``--seed`` .. ``--seed + --repeats - 1`` (same model): the detailed
tables are the first seed's, a last table gives every seed and the pooled counts (the counts of one
seed are small).

Figures: false-accept rate on B (strangers given any name), known probes' correct-name rate (named
as themselves / all known probes), named wrongly, left unknown; faces whose name the corrections
took back, by rule (closer to a rejected look-alike; below the person's own threshold).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
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


@dataclasses.dataclass
class SeedRun:
    """One seed's faces and decisions."""

    seed: int
    yP: np.ndarray
    yS: np.ndarray
    in_a: np.ndarray
    n_confirm: int
    base: float
    fa: list
    impostors: dict
    genuine: dict
    unscored: int
    corrections: CorrectionSet
    confirmed: CorrectionSet
    equal_t: float
    a_t: float
    d: dict  # decision name -> list[Face]


def run_seed(seed: int, args, decide: Decider, known: LFWDataset, pool: dict, index: dict, X: np.ndarray,
             usable: np.ndarray) -> SeedRun:
    rng = np.random.default_rng(seed)
    # known probes: held-out photos, CONFIRMED_PER_PERSON per person set aside for confirmations
    probes, confirms = [], []
    for name in sorted(known.people):
        held = list(known.people[name][args.images:])
        held = [held[i] for i in rng.permutation(len(held))]
        confirms += [(p, name) for p in held[:CONFIRMED_PER_PERSON]]
        rest = held[CONFIRMED_PER_PERSON:]
        probes += [(p, name) for p in (rest[:args.probes_per_person] if args.probes_per_person else rest)]
    # strangers: people never trained on, split by person
    people = sorted(pool)
    strangers = []
    for i in rng.permutation(len(people)):
        if args.strangers and len(strangers) >= args.strangers:
            break
        strangers += [(p, people[i]) for p in pool[people[i]]]
    if args.strangers:
        strangers = strangers[:args.strangers]
    if args.split == "photo":  # a stranger's photos may fall in both halves: a returning visitor
        keys = sorted(str(p) for p, _ in strangers)
        half_a = set(np.array(keys)[rng.permutation(len(keys))[:len(keys) // 2]].tolist())
    else:
        chosen = sorted({n for _, n in strangers})
        half_a = set(np.array(chosen)[rng.permutation(len(chosen))[:len(chosen) // 2]].tolist())

    def rows(items):
        items = [(p, n) for p, n in items if usable[index[str(p)]]]
        return X[[index[str(p)] for p, _ in items]], np.array([n for _, n in items])

    P, yP = rows(probes)
    C, yC = rows(confirms)
    S, yS = rows(strangers)
    in_a = np.array([(str(p) if args.split == "photo" else n) in half_a
                     for p, n in strangers if usable[index[str(p)]]], dtype=bool)
    SA, SB = S[in_a], S[~in_a]
    base = decide.recognizer.threshold

    d = {"A before": decide(SA), "B before": decide(SB), "P before": decide(P), "C before": decide(C)}
    fa = [f for f in d["A before"] if f.is_known]
    groups: dict[str, tuple[list, list]] = {}
    for f in fa:  # "not this person": the face becomes an impostor sample of the name it was given
        vecs, scores = groups.setdefault(f.identity, ([], []))
        vecs.append(np.asarray(f.embedding, np.float64))
        scores.append(float(f.confidence))
    impostors = {p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in groups.items()}
    corrections = CorrectionSet(impostors=impostors, version=(len(fa),))
    gen: dict[str, tuple[list, list]] = {}
    unscored = 0
    for f, name in zip(d["C before"], yC):  # "this is NAME" on the set-aside photos of corrected people
        if name not in impostors:
            continue
        vecs, scores = gen.setdefault(name, ([], []))
        vecs.append(np.asarray(f.embedding, np.float64))
        score = float(f.confidence) if f.identity == name else np.nan  # as CorrectionBook.confirm keeps it
        unscored += int(np.isnan(score))
        scores.append(score)
    genuine = {p: LabelledSamples(np.stack(v), np.array(s)) for p, (v, s) in gen.items()}
    confirmed = CorrectionSet(impostors=impostors, genuine=genuine, version=(len(fa), len(gen)))

    d["A after"] = decide(SA, corrections)
    d["B after"], d["P after"] = decide(SB, corrections), decide(P, corrections)
    d["B confirmed"], d["P confirmed"] = decide(SB, confirmed), decide(P, confirmed)

    # the global threshold at equal FAR on B (no corrections)
    target = int(named(d["B after"]).sum())
    equal_t = lowest_threshold(d["B before"], target, base)
    d["B equal"], d["P equal"] = decide(SB, threshold=equal_t), decide(P, threshold=equal_t)
    if named(d["B equal"]).sum() > target:
        raise SystemExit("the equal-FAR threshold search went wrong")
    # the same, without looking at B: the threshold at which A's strangers are named at that rate
    a_t = lowest_threshold(d["A before"], int(np.floor(target / max(1, len(SB)) * len(SA) + 1e-9)), base)
    d["B on A"], d["P on A"] = decide(SB, threshold=a_t), decide(P, threshold=a_t)
    return SeedRun(seed, yP, yS, in_a, len(yC), base, fa, impostors, genuine, unscored, corrections, confirmed,
                   equal_t, a_t, d)


def lowest_threshold(faces, allowed: int, base: float) -> float:
    """The lowest threshold (not below ``base``) at which at most ``allowed`` of ``faces`` are named.
    With one source, decide names a face at ``t`` iff its best match scores >= ``t``: the answer is
    just above the (allowed+1)-th best score."""
    top = np.sort([max(m.score for m in f.matches) if f.matches else -np.inf for f in faces])[::-1]
    return base if allowed >= len(top) else max(base, float(np.nextafter(top[allowed], np.inf)))


def correct(faces, truth) -> int:
    return int((np.array([f.identity for f in faces]) == truth).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="probe choice and the A/B split of strangers")
    ap.add_argument("--repeats", type=int, default=10,
                    help="also summarise seeds seed .. seed+repeats-1 (same model; the counts are small)")
    ap.add_argument("--people", type=int, default=50, help="known people (those with most LFW photos)")
    ap.add_argument("--images", type=int, default=12, help="training photos per known person (the first N)")
    ap.add_argument("--strangers", type=int, default=0, help="stranger faces used (0: the whole pool)")
    ap.add_argument("--pool", choices=("singles", "untrained"), default="singles",
                    help="singles: one-photo people (the open-set protocol's strangers); untrained: also every "
                         "photo of the people with more photos that training did not use")
    ap.add_argument("--split", choices=("person", "photo"), default="person",
                    help="split strangers into A and B by person (default) or by photo (with --pool untrained, "
                         "a stranger rejected in A may come back in B)")
    ap.add_argument("--probes-per-person", type=int, default=20, help="held-out known probes per person (0: all)")
    ap.add_argument("--lfw-dir", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="facerec-corrections-") as tmp:
        settings = Settings.from_env().replace(lfw_dir=args.lfw_dir, artifacts_dir=Path(tmp) / "artifacts",
                                               data_dir=Path(tmp) / "data", device="cpu")
        if settings.lfw_dir is None:
            ap.error("set FACEREC_LFW_DIR or pass --lfw-dir")
        config = TrainConfig(max_people=args.people, max_images=args.images, verification=False, open_set=False,
                             svm_grid={"C": [1.0, 10.0], "gamma": [1.0]})
        report = train_lfw(settings, config)
        t_train = time.perf_counter() - t0
        recognizer = Recognizer.load(settings)
        decide = Decider(recognizer)

        dataset, known = known_dataset(settings, args.people, args.images)
        trained = sorted(r["person"] for r in report["per_person"])
        if sorted(known.people) != trained or sorted(recognizer.known_people) != trained:
            raise SystemExit("the known people differ from the ones training used: the selection drifted")
        pool = {n: p for n, p in dataset.people.items()
                if n not in known.people and (len(p) == 1 or args.pool == "untrained")}
        paths = [p for n in sorted(known.people) for p in known.people[n][args.images:]]
        paths += [p for n in sorted(pool) for p in pool[n]]
        emb = extract_embeddings(paths, settings, progress=False)
        index = {p: i for i, p in enumerate(emb.paths)}
        t1 = time.perf_counter()
        runs = [run_seed(s, args, decide, known, pool, index, emb.embeddings, emb.usable)
                for s in range(args.seed, args.seed + max(1, args.repeats))]
        t_runs = time.perf_counter() - t1
    print_report(args, config, report, recognizer, runs, emb, t_train, t_runs, time.perf_counter() - t0)
    return 0


def print_report(args, config, report, recognizer, runs, emb, t_train, t_runs, t_total) -> None:
    r = runs[0]
    d, yP, base = r.d, r.yP, r.base
    nA, nB = int(r.in_a.sum()), int((~r.in_a).sum())
    own = {p: r.corrections.person_threshold(p, base) for p in r.impostors}
    own_set = {p: t for p, t in own.items() if t is not None}
    own_conf = {p: r.confirmed.person_threshold(p, base) for p in r.impostors}
    chosen = report["chosen_identifier"]
    print(f"## Corrections on LFW (seed {r.seed}; summary over {len(runs)} seeds below)\n")
    print("| setting | value |\n|---|---|")
    print(f"| known people | {args.people} with most LFW photos; the first {args.images} of each trained "
          f"({report['data']['images']} images) |")
    print(f"| model | {chosen} {report['identifiers'][chosen].get('params') or ''} (auto: svm vs nn), calibrated "
          f"threshold {base:.4f}, cohort weight {recognizer.thresholds.cohort_weight:g}, target FAR "
          f"{config.target_far:.0%} |")
    print(f"| known probes | {len(yP)} held-out photos of {len(set(yP))} people (≤ {args.probes_per_person or 'all'} "
          f"each); {r.n_confirm} more set aside for confirmations |")
    print(f"| strangers ({args.pool}) | {len(r.yS)} faces of {len(set(r.yS))} people: A {nA} faces "
          f"({len(set(r.yS[r.in_a]))} people), B {nB} faces ({len(set(r.yS[~r.in_a]))} people) |")
    print(f"| embeddings (all held-out + pool photos) | {emb.counts()} |")
    print(f"| corrections fed back | {len(r.fa)} rejections (A's false accepts) of {len(r.impostors)} people; "
          f"{len(own_set)} of them get an own threshold (≥ 2 rejections) |")
    if own_set:
        vals = np.array(list(own_set.values()))
        print(f"| own thresholds | min {vals.min():.3f}, median {np.median(vals):.3f}, max {vals.max():.3f} "
              f"(global {base:.3f}) |")
    print(f"| confirmations (variant) | {sum(len(g.scores) for g in r.genuine.values())} photos of {len(r.genuine)} "
          f"people with rejections; {r.unscored} without a score (the decision did not name that person); own "
          f"thresholds then: {sum(t is not None for t in own_conf.values())} |")
    print(f"| seconds | training {t_train:.0f}, {len(runs)} seeds decided {t_runs:.0f}, total {t_total:.0f} |")

    def known_cells(faces) -> str:
        ids = np.array([f.identity for f in faces])
        right, unknown = int((ids == yP).sum()), int((ids == UNKNOWN).sum())
        return f"{rate(right, len(yP))} | {rate(len(yP) - right - unknown, len(yP))} | {rate(unknown, len(yP))}"

    print("\n### False accepts on B and known people's names\n")
    print("| decision | threshold | FAR on B (strangers named) | known: correct name | known: wrong name "
          "| known: unknown |\n|---|---|---|---|---|---|")
    for label, key, thr in (("before: global threshold, no corrections", "before", f"{base:.4f}"),
                            ("after: A's false accepts rejected", "after", f"{base:.4f} + own"),
                            (f"after: + {CONFIRMED_PER_PERSON} confirmed photos per corrected person", "confirmed",
                             f"{base:.4f} + own"),
                            ("global threshold at equal FAR on B, no corrections (chosen on B)", "equal",
                             f"{r.equal_t:.4f}"),
                            ("global threshold for that FAR chosen on A, no corrections", "on A", f"{r.a_t:.4f}")):
        print(f"| {label} | {thr} | {rate(int(named(d['B ' + key]).sum()), nB)} | {known_cells(d['P ' + key])} |")
    print(f"\nSanity: A's own false accepts after their corrections: {rate(int(named(d['A after']).sum()), nA)} "
          f"(before: {rate(len(r.fa), nA)}).")

    print("\n### Names taken back by the corrections, by rule\n")
    print("| faces | corrections | look-alike rule | own threshold rule | of which had the right name "
          "|\n|---|---|---|---|---|")
    for who, key, truth in (("B strangers", "B", None), ("known probes", "P", yP)):
        for variant, after in (("rejections", "after"), ("+ confirmed", "confirmed")):
            before = d[f"{key} before"]
            rules = by_rule(before, d[f"{key} {after}"])
            lost = rules["look-alike"] | rules["own threshold"]
            right = "-" if truth is None else str(int((lost & (np.array([f.identity for f in before]) == truth)).sum()))
            print(f"| {who} ({len(before)}) | {variant} | {int(rules['look-alike'].sum())} "
                  f"| {int(rules['own threshold'].sum())} | {right} |")

    print("\n### People with rejections (seed {}): B false accepts and known probes named correctly, before → after"
          "\n".format(r.seed))
    print("| person | rejections (scores) | own threshold | B false accepts | known probes correct "
          "|\n|---|---|---|---|---|")
    b_before = collections.Counter(f.identity for f in d["B before"] if f.is_known)
    b_after = collections.Counter(f.identity for f in d["B after"] if f.is_known)
    for p in sorted(r.impostors, key=lambda p: (-len(r.impostors[p].scores), p)):
        rows = yP == p
        pb = sum(f.identity == p for f, k in zip(d["P before"], rows) if k)
        pa = sum(f.identity == p for f, k in zip(d["P after"], rows) if k)
        scores = ", ".join(f"{s:.3f}" for s in sorted(r.impostors[p].scores))
        print(f"| {p} | {len(r.impostors[p].scores)} ({scores}) | {'-' if own[p] is None else f'{own[p]:.3f}'} "
              f"| {b_before[p]} → {b_after[p]} | {pb} → {pa} of {int(rows.sum())} |")

    print(f"\n### Every seed (same model; seeds set the probes, the strangers' A/B split)\n")
    print("| seed | rejections (people, own thr.) | B FA before | B FA after | B FA + confirmed | known correct before "
          "| after | + confirmed | global thr. at equal FAR on B | known correct there | global thr. chosen on A "
          "| B FA there | known correct there | known names lost: look-alike / own thr. "
          "|\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    tot = collections.Counter()
    for s in runs:
        nb, npr = int((~s.in_a).sum()), len(s.yP)
        keys = ("before", "after", "confirmed", "equal", "on A")
        fa = {k: int(named(s.d[f"B {k}"]).sum()) for k in keys}
        ok = {k: correct(s.d[f"P {k}"], s.yP) for k in keys}
        rules = by_rule(s.d["P before"], s.d["P after"])
        n_own = sum(s.corrections.person_threshold(p, s.base) is not None for p in s.impostors)
        print(f"| {s.seed} | {len(s.fa)} ({len(s.impostors)}, {n_own}) | {fa['before']} | {fa['after']} "
              f"| {fa['confirmed']} | {ok['before']} | {ok['after']} | {ok['confirmed']} | {s.equal_t:.4f} "
              f"| {ok['equal']} | {s.a_t:.4f} | {fa['on A']} | {ok['on A']} "
              f"| {int(rules['look-alike'].sum())} / {int(rules['own threshold'].sum())} |")
        tot.update({f"fa_{k}": v for k, v in fa.items()})
        tot.update({f"ok_{k}": v for k, v in ok.items()})
        tot.update(nb=nb, np=npr, rej=len(s.fa), look=int(rules["look-alike"].sum()),
                   own=int(rules["own threshold"].sum()))
    print(f"| **all** | {tot['rej']} | {rate(tot['fa_before'], tot['nb'])} | {rate(tot['fa_after'], tot['nb'])} "
          f"| {rate(tot['fa_confirmed'], tot['nb'])} | {rate(tot['ok_before'], tot['np'])} "
          f"| {rate(tot['ok_after'], tot['np'])} | {rate(tot['ok_confirmed'], tot['np'])} | - "
          f"| {rate(tot['ok_equal'], tot['np'])} | - | {rate(tot['fa_on A'], tot['nb'])} "
          f"| {rate(tot['ok_on A'], tot['np'])} | {tot['look']} / {tot['own']} |")


if __name__ == "__main__":
    sys.exit(main())
