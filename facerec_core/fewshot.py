"""The few-shot gallery protocol on LFW: the setting a user lives in (a few photos per person,
strangers who were never enrolled), for the accuracy benchmark and the Model Metrics page.

Protocol (:func:`make_split`, seeded): LFW name variants are merged first (one person filed
under two names would otherwise be a "stranger" who is enrolled). People with at least 4 photos
are shuffled; half are enrolled, the other half are strangers together with the people who have
one photo. Each enrolled person's photos (at most ``max_photos``, in a seeded order) give the
first ``k`` to enrollment and the rest are probes. Strangers are split by person (another
seeded draw) into a *choosing* half, on which the threshold for a false-accept rate is chosen,
and a *reporting* half, on which the false-accept rate and the refusals are reported. People with
2 or 3 photos are neither enrolled nor strangers: they are the background (the cohort of the
gallery-only rule, and the people of the trained model), so nothing evaluated is in it.

Enrollment goes through the gallery's own path: :class:`~facerec_core.gallery.store.GalleryStore`
in a temporary SQLite file, samples refused as :func:`~facerec_core.gallery.enroll.check_photo`
refuses them (no face, face too small, detection score; counted), duplicates skipped by the
store; probes are searched by :class:`~facerec_core.gallery.search.GallerySource` and decided by
:func:`~facerec_core.identity.decide.decide`, so the figures are those of the code a user runs.
Embeddings come from the bulk cache (:mod:`facerec_core.embeddings`): one face per photo (the
central one), so the enrollment refusal "several faces" cannot be applied and is not counted.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .backbones.specs import FewShotRule
from .evaluate import threshold_at_far
from .faces import UNKNOWN, Face
from .gallery.background import background_people
from .gallery.enroll import EnrollmentPolicy
from .gallery.records import NewSample
from .gallery.search import GallerySource
from .gallery.store import GalleryStore
from .identity.decide import Thresholds, decide
from .identity.kernel import COHORT_SIZE
from .identity.sources import IdentitySource
from .lfw import LFWDataset, name_variants

log = logging.getLogger(__name__)

FARS = (0.01, 0.001)
KS = (1, 3, 5)
SIZE_BINS = (("<40", 0.0, 40.0), ("40-80", 40.0, 80.0), (">80", 80.0, float("inf")))
"""Face-size bins (the detected box's shorter side, pixels) for the size split."""

REFUSALS = ("below threshold", "face too small", "detection score", "no face")


@dataclasses.dataclass
class FewShotSplit:
    """One seeded split (see the module's docstring). Paths are strings; ``name_of`` gives each
    path's person (after merging name variants)."""

    seed: int
    enrolled: dict[str, list[str]]
    strangers_choose: list[str]
    strangers_report: list[str]
    background: list[str]
    name_of: dict[str, str]

    def enrollment(self, k: int) -> tuple[dict[str, list[str]], list[str]]:
        """The photos enrolled per person with ``k`` shots (people with more than ``k`` photos,
        so that each has a probe) and the probes (every other photo of them)."""
        people = {n: p[:k] for n, p in self.enrolled.items() if len(p) > k}
        probes = [q for n in people for q in self.enrolled[n][k:]]
        return people, probes

    def all_paths(self, ks: Sequence[int] = KS) -> list[str]:
        """Every photo the protocol embeds, each once."""
        paths = [p for ps in self.enrolled.values() for p in ps] + self.strangers_choose + self.strangers_report
        return list(dict.fromkeys(paths))


def make_split(dataset: LFWDataset, seed: int = 0, *, max_people: int | None = None, max_photos: int = 10,
               max_single: int | None = 1500) -> FewShotSplit:
    """The seeded few-shot split of ``dataset`` (see the module's docstring).

    ``max_people`` bounds the people with at least 4 photos (quick runs); ``max_photos`` the
    photos used per person (LFW's few people with hundreds of photos would otherwise be most of
    the probes); ``max_single`` the one-photo strangers (``None``: all)."""
    data = dataset.merge(name_variants(dataset.people))
    rng = np.random.default_rng(seed)
    people = {n: [str(p) for p in ps] for n, ps in data.people.items()}
    many = sorted(n for n, ps in people.items() if len(ps) >= 4)
    single = sorted(n for n, ps in people.items() if len(ps) == 1)
    background = background_people(people)
    rng.shuffle(many)
    if max_people is not None:
        many = many[:max_people]
    rng.shuffle(single)
    if max_single is not None:
        single = single[:max_single]
    half = (len(many) + 1) // 2
    enrolled_people, held_out = many[:half], many[half:]

    def photos(name: str) -> list[str]:
        ps = list(people[name])
        rng.shuffle(ps)
        return ps[:max_photos]

    enrolled = {n: photos(n) for n in sorted(enrolled_people)}
    strangers = sorted(held_out + single)
    rng.shuffle(strangers)
    choose, report = sorted(strangers[::2]), sorted(strangers[1::2])
    name_of = {p: n for n, ps in people.items() for p in ps}
    return FewShotSplit(seed, enrolled, [p for n in choose for p in photos(n)], [p for n in report for p in photos(n)],
                        [p for n in background for p in people[n]], name_of)


@dataclasses.dataclass
class Records:
    """One backbone's view of photos: per path, the embedding, whether a face was found, the
    detection score and the face's size (shorter side of the box, pixels)."""

    embedding: dict[str, np.ndarray]
    found: dict[str, bool]
    det_score: dict[str, float]
    size: dict[str, float]

    @classmethod
    def from_embedding_set(cls, es) -> "Records":
        """From an :class:`~facerec_core.embeddings.EmbeddingSet`: ``assumed`` rows (nothing
        detected; the central box was embedded) count as "no face"."""
        sizes = np.minimum(es.boxes[:, 2] - es.boxes[:, 0], es.boxes[:, 3] - es.boxes[:, 1])
        found = es.status == "ok"
        return cls({p: es.embeddings[i] for i, p in enumerate(es.paths)},
                   {p: bool(found[i]) for i, p in enumerate(es.paths)},
                   {p: float(es.det_scores[i]) for i, p in enumerate(es.paths)},
                   {p: float(sizes[i]) for i, p in enumerate(es.paths)})

    def face(self, path: str) -> Face | None:
        """The face of ``path`` as the recognizer would hand it to :func:`decide`, or ``None``."""
        if not self.found.get(path):
            return None
        s = self.size[path]
        return Face(box=(0.0, 0.0, s, s), det_score=self.det_score[path], embedding=self.embedding[path])


def enroll_records(store: GalleryStore, people: dict[str, list[str]], records: Records, backbone: str,
                   policy: EnrollmentPolicy | None = None) -> collections.Counter:
    """Store every person's photos in ``store`` as enrollment does (one transaction per person,
    gates of ``policy``, duplicates skipped by the store); returns the outcomes counted."""
    policy = policy or EnrollmentPolicy()
    counts: collections.Counter = collections.Counter()
    for name, paths in people.items():
        samples = []
        for p in paths:
            if not records.found.get(p):
                counts["refused: no face"] += 1
            elif records.size[p] < policy.min_face_size:
                counts["refused: face too small"] += 1
            elif records.det_score[p] < policy.min_det_score:
                counts["refused: detection score"] += 1
            else:
                samples.append(NewSample(np.asarray(records.embedding[p], np.float32), backbone,
                                         records.det_score[p], Path(p).name,
                                         content_hash=hashlib.sha256(p.encode()).hexdigest()))
        if samples:
            _, outcomes = store.add_samples(name, samples, duplicate_cosine=policy.duplicate_cosine)
            counts.update(o.status for o in outcomes)
    return counts


@dataclasses.dataclass
class Decisions:
    """What :func:`decide` answered for a list of photos with the threshold open: the name it
    would give (``None``: refused before scoring, ``why`` says which gate), and the score (less
    the margin a small face must clear, so that one threshold decides every face)."""

    names: list[str | None]
    scores: np.ndarray
    why: list[str]


def decide_all(paths: Sequence[str], records: Records, sources: Sequence[IdentitySource],
               thresholds: Thresholds) -> Decisions:
    """Run :func:`decide` on every photo with no threshold, so that one pass gives each face's
    candidate and score, and the threshold for each false-accept rate is applied afterwards."""
    faces = [records.face(p) for p in paths]
    present = [f for f in faces if f is not None]
    for start in range(0, len(present), 256):
        decide(present[start:start + 256], sources, thresholds, threshold=float("-inf"), top_k=1)
    names, scores, why = [], np.full(len(paths), -np.inf), []
    for i, f in enumerate(faces):
        if f is None:
            names.append(None), why.append("no face")
        elif f.note is not None:
            names.append(None), why.append("face too small" if "small" in f.note else "detection score")
        elif f.identity in (None, UNKNOWN):
            names.append(None), why.append("below threshold")
        else:
            names.append(f.identity), why.append("")
            scores[i] = f.confidence - thresholds.margin(f)  # a small face needs the margin more
    return Decisions(names, scores, why)


def summarise(truth: Sequence[str], probes: Decisions, strangers: Decisions, threshold: float) -> dict:
    """Correct names, wrong names and refusals by reason of the probes, and the strangers
    accepted, at ``threshold``."""
    accepted = probes.scores >= threshold
    correct = sum(bool(a) and n == t for a, n, t in zip(accepted, probes.names, truth))
    wrong = int(accepted.sum()) - correct
    refused = collections.Counter(w if w else "below threshold" for a, w in zip(accepted, probes.why) if not a)
    n = max(len(truth), 1)
    s_acc = strangers.scores >= threshold
    return {"threshold": float(threshold), "probes": len(truth), "correct": int(correct),
            "correct_rate": correct / n, "wrong": wrong, "refused": {r: int(refused.get(r, 0)) for r in REFUSALS},
            "strangers": len(strangers.names), "strangers_accepted": int(s_acc.sum()),
            "far": float(s_acc.mean()) if len(s_acc) else 0.0}


def thresholds_at(choose: Decisions, fars: Sequence[float] = FARS) -> dict[float, float]:
    """The threshold per false-accept rate, from the choosing strangers' scores (a stranger
    refused before scoring counts as a rejected impostor)."""
    return {far: threshold_at_far(choose.scores, far) for far in fars}


@dataclasses.dataclass
class Rule:
    """One decision rule to measure: how the gallery is searched and which cohort weight and
    face-size gate :func:`decide` applies."""

    name: str
    template: bool = False
    background: bool = False
    cohort_weight: float = 0.0
    min_face_size: float = 40.0
    model: bool = False
    fixed_threshold: float | None = None
    """Also report at this threshold (the one the code ships), not only at chosen FARs."""
    person_cohort_weight: float = 0.0
    cohort_size: int = COHORT_SIZE
    small_face_margin: float | None = None
    """With a value, probes smaller than ``min_face_size`` are decided against the threshold plus
    this instead of being refused (enrollment still refuses them)."""

    @classmethod
    def shipped(cls, name: str, rule: FewShotRule, **changes) -> "Rule":
        """A backbone's :class:`~facerec_core.backbones.specs.FewShotRule` as the recognizer
        applies it, reported at its own threshold too."""
        options = dict(template=True, background=True, cohort_weight=rule.cohort_weight,
                       person_cohort_weight=rule.person_cohort_weight, cohort_size=rule.cohort_size,
                       fixed_threshold=rule.threshold, small_face_margin=rule.small_face_margin)
        return cls(name, **{**options, **changes})


def evaluate_rule(split: FewShotSplit, records: Records, rule: Rule, backbone: str, *, ks: Sequence[int] = KS,
                  background: np.ndarray | None = None, model: IdentitySource | None = None,
                  extra: dict[str, Sequence[tuple[str, str]]] | None = None, fars: Sequence[float] = FARS) -> dict:
    """Measure ``rule`` for each ``k``: enroll in a temporary gallery, decide the probes and both
    stranger halves, choose thresholds on one half, report on the other. ``extra`` maps a label
    (a face-size bin) to more photos ``(photo, original)``, reported at the same thresholds: copies of probes are
    probes, copies of reporting strangers are strangers (see :func:`_extra_rows`)."""
    out: dict = {"rule": dataclasses.asdict(rule), "k": {}}
    for k in ks:
        people, probes = split.enrollment(k)
        with tempfile.TemporaryDirectory(prefix="facerec-fewshot-") as tmp:
            store = GalleryStore(Path(tmp) / "gallery.sqlite", key_file=None)
            try:
                enrolled = enroll_records(store, people, records, backbone,
                                          EnrollmentPolicy(min_face_size=rule.min_face_size))
                gallery = GallerySource(store, backbone, template=rule.template,
                                        background=background if rule.background else None,
                                        person_cohort_weight=rule.person_cohort_weight, cohort_size=rule.cohort_size)
                sources: list[IdentitySource] = ([model] if rule.model and model is not None else []) + [gallery]
                thr = Thresholds(identify=0.0, cohort_weight=rule.cohort_weight, min_face_size=rule.min_face_size,
                                 small_face_margin=rule.small_face_margin)
                run = lambda ps: decide_all(ps, records, sources, thr)  # noqa: E731
                d_probe, d_choose, d_report = run(probes), run(split.strangers_choose), run(split.strangers_report)
                thresholds = thresholds_at(d_choose, fars)
                truth = [split.name_of[p] for p in probes]
                row = {"people": len(people), "enrollment": dict(enrolled),
                       "at_far": {f"{far:g}": summarise(truth, d_probe, d_report, t) for far, t in thresholds.items()}}
                if rule.fixed_threshold is not None:
                    row["at_fixed"] = summarise(truth, d_probe, d_report, rule.fixed_threshold)
                row["sizes"] = _extra_rows(split, probes, extra, run, thresholds)
                out["k"][str(k)] = row
            finally:
                store.close()
        log.info("few-shot %s k=%d: %s", rule.name, k,
                 {f: round(v["correct_rate"], 4) for f, v in out["k"][str(k)]["at_far"].items()})
    return out


def _extra_rows(split: FewShotSplit, probes: Sequence[str], extra: dict[str, Sequence[tuple[str, str]]] | None,
                run: Callable[[Sequence[str]], Decisions], thresholds: dict[float, float]) -> dict:
    """Rows for more photos (``label`` → ``(photo, original photo)``, e.g. downscaled copies),
    at the thresholds already chosen: copies of probes are probes, copies of reporting
    strangers are strangers, any other copy is left out."""
    rows, probe_set, report_set = {}, set(probes), set(split.strangers_report)
    for label, pairs in (extra or {}).items():
        known = [(p, o) for p, o in pairs if o in probe_set]
        strangers = [p for p, o in pairs if o in report_set]
        dk, ds = run([p for p, _ in known]), run(strangers)
        rows[label] = {f"{far:g}": summarise([split.name_of[o] for _, o in known], dk, ds, t)
                       for far, t in thresholds.items()}
    return rows


def evaluate_distance_peer(split: FewShotSplit, emb: dict[str, np.ndarray], found: dict[str, bool], *,
                           ks: Sequence[int] = KS, tolerance: float | None = 0.6,
                           extra: dict[str, Sequence[tuple[str, str]]] | None = None, fars: Sequence[float] = FARS) -> dict:
    """The face_recognition library on the same split with its own rule: the nearest enrolled
    encoding by Euclidean distance (score = −distance), photos where it finds no face refused at
    enrollment and as probes, thresholds chosen on the same choosing strangers; also at the
    library's own default ``tolerance`` (distance 0.6, ``compare_faces``)."""
    out: dict = {"rule": "face_recognition: 1-NN Euclidean distance", "k": {}}
    for k in ks:
        people, probes = split.enrollment(k)
        G = [(n, p) for n, ps in people.items() for p in ps if found.get(p)]
        gx = np.stack([emb[p] for _, p in G]) if G else np.zeros((0, 128), np.float32)
        gn = [n for n, _ in G]

        def run(paths: Sequence[str]) -> Decisions:
            names, scores, why = [], np.full(len(paths), -np.inf), []
            for i, p in enumerate(paths):
                if not found.get(p) or not len(gx):
                    names.append(None), why.append("no face")
                    continue
                d = np.linalg.norm(gx - emb[p], axis=1)
                j = int(d.argmin())
                names.append(gn[j]), why.append("")
                scores[i] = -float(d[j])
            return Decisions(names, scores, why)

        d_probe, d_choose, d_report = run(probes), run(split.strangers_choose), run(split.strangers_report)
        thresholds = thresholds_at(d_choose, fars)
        truth = [split.name_of[p] for p in probes]
        row = {"people": len(people), "enrolled_samples": len(G),
               "at_far": {f"{far:g}": summarise(truth, d_probe, d_report, t) for far, t in thresholds.items()}}
        if tolerance is not None:
            row["at_fixed"] = summarise(truth, d_probe, d_report, -float(tolerance))
        row["sizes"] = _extra_rows(split, probes, extra, run, thresholds)
        out["k"][str(k)] = row
    return out


def downscale_plan(paths: Sequence[str], sizes: dict[str, float], target: float, *, max_images: int,
                   seed: int) -> list[tuple[str, float]]:
    """Up to ``max_images`` of ``paths`` (seeded) with the factor that brings their face to about
    ``target`` pixels (never upscaled)."""
    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(rng.permutation(len(paths))[:max_images])]
    return [(p, min(1.0, target / max(sizes.get(p, target), 1.0))) for p in chosen]


def write_downscaled(plan: Sequence[tuple[str, float]], folder: Path,
                     namer: Callable[[str, float], str]) -> dict[str, str]:
    """Write each photo of ``plan`` scaled by its factor (bilinear, PNG, lossless) into
    ``folder``; returns downscaled path → original path. Existing files are kept."""
    from PIL import Image

    from .secure_files import private_dir

    private_dir(folder)
    out = {}
    for path, factor in plan:
        dest = folder / namer(path, factor)
        if not dest.exists():
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.resize((max(1, round(im.width * factor)), max(1, round(im.height * factor))),
                          Image.BILINEAR).save(dest, format="PNG")
            dest.chmod(0o600)
        out[str(dest)] = path
    return out


# ---- published results ------------------------------------------------------------------------
PEER = "face_recognition (1-NN distance)"
BEFORE = "gallery only: nearest sample (without a background cohort)"
"""The rule a gallery without a background cohort decides with, as a results file names it."""
SHIPPED = "gallery only: few-shot rule (default)"
"""The rule a recognizer without a model decides with, as a results file names it."""


def published_path(backbone: str) -> Path:
    """Where ``bench/fewshot.py --publish`` keeps the reported run of ``backbone`` (aggregate
    figures only: no names, no embeddings; the README and Model Metrics show it)."""
    return Path(__file__).resolve().parent / "backbones" / f"fewshot_{backbone}.json"


def load_published(backbone: str) -> dict | None:
    """The published run of ``backbone``, or ``None`` when it has none (or it cannot be read)."""
    import json

    try:
        return json.loads(published_path(backbone).read_text())
    except (OSError, ValueError):
        return None


def _rules(results: dict) -> list[tuple[str, dict]]:
    """``(name, figures)`` of every rule of a results file: ours, then the peer when it ran."""
    return list(results["ours"].items()) + ([(PEER, results["peer"])] if results.get("peer") else [])


def result_rows(results: dict) -> list[dict]:
    """One row per rule (ours, then the peer) and ``k``: correct-name rates at FAR 1% and 0.1%,
    the false-accept rates measured on the reporting strangers, wrong names and refusals at 0.1%."""
    rows = []
    for name, r in _rules(results):
        for k, row in r["k"].items():
            a, b = row["at_far"]["0.01"], row["at_far"]["0.001"]
            rows.append({"rule": name, "k": int(k), "probes": a["probes"], "correct_far_1": a["correct_rate"],
                         "correct_far_01": b["correct_rate"], "far_1": a["far"], "far_01": b["far"],
                         "wrong_01": b["wrong"], **{f"refused_{r_}": b["refused"][r_] for r_ in REFUSALS},
                         **({"fixed": row["at_fixed"]} if "at_fixed" in row else {})})
    return rows


def size_rows(results: dict, k: str = "3") -> list[dict]:
    """One row per rule and face-size bin at ``k`` photos: probes, strangers, correct-name rates at
    the full-size thresholds and the strangers accepted."""
    rows = []
    for name, r in _rules(results):
        for label, row in r["k"][k].get("sizes", {}).items():
            a, b = row["0.01"], row["0.001"]
            rows.append({"rule": name, "size": f"{label} px", "probes": a["probes"], "strangers": a["strangers"],
                         "correct_far_1": a["correct_rate"], "correct_far_01": b["correct_rate"],
                         "far_1": a["far"], "far_01": b["far"], "refused_small": b["refused"]["face too small"],
                         "refused_no_face": b["refused"]["no face"]})
    return rows
