"""One decision for every face: quality gates, then the open-set rule over all sources' candidates.

A face is named only when its **score** reaches the threshold, otherwise it is ``"unknown"``.
The score is the chosen person's similarity as its source reports it (the cosine to their nearest
stored sample, or a rule built on it: the trained model's :class:`~.sources.PersonRule`, the
gallery's few-shot rule), minus ``cohort_weight`` × the face's mean cosine to its runner-up people
(a stranger who resembles everybody is discounted); every source's candidates are put on that
one scale and the best named candidate wins. Faces too small or too unclear to identify are
answered ``"unknown"`` with a note instead of a guess.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from ..backbones.specs import BackboneSpec, FewShotRule
from ..errors import FacerecError
from ..faces import UNKNOWN, Face, Match, display_name
from .kernel import open_set_scores
from .sources import Candidate, IdentitySource, PersonRule

MIN_IDENTIFY_FACE_SIZE = 40.0
"""Faces whose shorter side is smaller (pixels) are not identified; enrollment refuses them too."""
MIN_IDENTIFY_DET_SCORE = 0.95
"""Faces the detector is less sure of are not identified; enrollment refuses them too."""

CALIBRATED = "calibrated (trained model, 1% FAR)"
FEW_SHOT = "the few-shot gallery rule's, chosen for 0.1% of strangers accepted on LFW (bench/fewshot.py)"

PLAIN_SCALE = ("the cosine similarity of the two faces' embeddings, from -1 to 1: 1 is the same picture, "
               "photos of different people mostly score below 0.3")


def _model_person(person: PersonRule) -> str:
    """A trained model's person similarity, for people."""
    if person.template_mix:
        text = (f"{1 - person.template_mix:.2f} × the cosine similarity (-1 to 1) to the best-matching person's "
                f"closest photo + {person.template_mix:.2f} × the cosine to their average face")
    else:
        text = "the cosine similarity (-1 to 1) between the face and the best-matching person's closest photo"
    if person.hub_weight:
        others = ("the cosine of their average face to the most similar other person's" if person.hub_size == 1 else
                  f"the mean cosine of their average face to the {person.hub_size} most similar other people's")
        text += f", minus {person.hub_weight:.2f} × {others} (a person who resembles others attracts strangers)"
    return text


def identify_scale(cohort_weight: float, few_shot: FewShotRule | None = None,
                   person: PersonRule | None = None) -> str:
    """What an identification score is, for people (the rule in use; ``person``: the trained
    model's person rule)."""
    if few_shot is not None:
        return ("the mean of two cosine similarities (-1 to 1), the face's to the person's closest photo and to "
                f"their average face, minus {few_shot.person_cohort_weight:.2f} × the person's average face's mean "
                f"similarity to the {few_shot.cohort_size} most similar of a crowd of strangers, minus "
                f"{few_shot.cohort_weight:.2f} × the face's own mean similarity to its {few_shot.cohort_size} most "
                "similar strangers (a face or a person who resembles everybody is discounted)")
    text = _model_person(person or PersonRule())
    if not cohort_weight:
        return text
    return (f"{text}, minus {cohort_weight:.2f} × the face's mean similarity to the 20 next most similar people (a "
            "face that resembles everybody is discounted)")


def normalised_scale(weight: float) -> str:
    """What a cohort-normalised verification score is, for people."""
    return (f"the cosine similarity of the two faces (-1 to 1) minus {weight:.2f} × their mean cosine to the 20 "
            "people the model knows who resemble them most; it discounts faces that look like everybody, so "
            "two different people often score below 0. Only its position against the threshold matters")


@dataclasses.dataclass(frozen=True)
class VerifyPreset:
    """A verification threshold chosen for a measured false-accept rate.

    Attributes:
        name: ``strict``, ``balanced``, ``lenient`` (or ``default`` where nothing was measured).
        threshold: the score a pair needs to be called the same person.
        far: the share of different-person pairs it accepted where it was measured (``None``:
            not measured).
        tar: the share of same-person pairs it accepted there.
        target_far: the false-accept rate it was chosen for (``None``: the equal-error point).
        measured_on: where ``far`` and ``tar`` come from, for people.
    """

    name: str
    threshold: float
    far: float | None = None
    tar: float | None = None
    target_far: float | None = None
    measured_on: str = ""

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], measured_on: str) -> "VerifyPreset":
        """From a :func:`~facerec_core.evaluate.verification_presets` entry; ``measured_on`` is
        completed with the numbers of pairs it counts."""
        if "impostor_pairs" in d:
            measured_on += (f", {int(d['impostor_pairs']):,} different-person and {int(d.get('genuine_pairs', 0)):,} "
                            "same-person pairs")
        return cls(name, float(d["threshold"]), d.get("far"), d.get("tar"), d.get("target_far"), measured_on)

    def describe(self) -> str:
        """``strict: threshold 0.612; accepted 0.10% of different-person pairs and 96.9% of
        same-person pairs (LFW View-2 ...)``."""
        if self.far is None:
            return f"{self.name}: threshold {self.threshold:.3f} (false-accept rate not measured)"
        tar = "" if self.tar is None else f" and {self.tar:.1%} of same-person pairs"
        return (f"{self.name}: threshold {self.threshold:.3f}; accepted {self.far:.2%} of different-person "
                f"pairs{tar} ({self.measured_on})")


def _presets(measured: Mapping[str, Any] | None, measured_on: str) -> tuple[VerifyPreset, ...]:
    return tuple(VerifyPreset.from_dict(name, d, measured_on) for name, d in (measured or {}).items())


def _report_presets(report: Mapping[str, Any] | None, normalised: bool) -> Mapping[str, Any] | None:
    verification = (report or {}).get("verification") or {}
    if normalised:
        verification = verification.get("cohort_normalised") or {}
    return verification.get("presets")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Every threshold and gate a decision uses, from one place.

    Attributes:
        identify: the open-set score a face needs to be named.
        cohort_weight: the share of the cohort mean subtracted from every candidate's cosine.
        verify: the 1:1 verification threshold.
        verify_cohort_weight: the cohort share subtracted in verification (0: plain cosine).
        min_face_size, min_det_score: the quality gates.
        small_face_margin: ``None``: faces smaller than ``min_face_size`` are not identified;
            a value: they are, against the threshold raised by this much (measured for the
            backbone's few-shot rule, see :class:`~facerec_core.backbones.specs.FewShotRule`).
        source: where ``identify`` came from, for people (calibrated, given, or a default).
        verify_presets: the verification thresholds for measured false-accept rates, strictest
            (the default, ``verify``) first.
        claim_presets: the same for "is this photo person P?" (best cosine to P's photos).
        verify_scale: what a verification score is, for people.
        identify_scale: what an identification score is, for people.
    """

    identify: float
    cohort_weight: float = 0.0
    verify: float = 0.5
    verify_cohort_weight: float = 0.0
    min_face_size: float = MIN_IDENTIFY_FACE_SIZE
    min_det_score: float = MIN_IDENTIFY_DET_SCORE
    small_face_margin: float | None = None
    source: str = "given"
    verify_presets: tuple[VerifyPreset, ...] = ()
    claim_presets: tuple[VerifyPreset, ...] = ()
    verify_scale: str = PLAIN_SCALE
    identify_scale: str = ""

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any] | None, spec: BackboneSpec, *, has_model: bool,
                      identify: float | None = None, report: Mapping[str, Any] | None = None,
                      few_shot: FewShotRule | None = None, **gates: float) -> "Thresholds":
        """The thresholds a trained model's manifest stores, or the backbone's documented defaults
        (:class:`~facerec_core.backbones.specs.BackboneSpec`) where it stores none. ``identify``
        overrides the open-set threshold; ``gates`` the quality gates. The verification cohort is
        only used with a model (its classes are the cohort). Without a model, ``few_shot`` (the
        rule the gallery searches with, when its background cohort is there) gives the open-set
        threshold and cohort weight.

        Verification presets: those the model's training measured on LFW View-2 (the manifest's
        ``verify_presets``, else its ``report``'s verification figures) for the score the model
        verifies with; without them, the backbone's, measured on View-2 with the plain cosine by
        ``bench/verify_presets.py``; where neither exists, one ``default`` preset, not measured."""
        stored = dict((manifest or {}).get("thresholds", {}))
        few_shot = None if has_model else few_shot  # a trained model brings its own calibration
        if few_shot is not None:
            stored = {"identify": few_shot.threshold, "cohort_weight": few_shot.cohort_weight}
        if identify is not None:
            value, source = float(identify), "given"
        elif "identify" in stored:
            value = float(stored["identify"])
            source = CALIBRATED if few_shot is None else FEW_SHOT
        else:
            value, source = spec.identify_threshold, f"default for {spec.name}"
        verify_weight = float(stored.get("verify_cohort_weight", 0.0)) if has_model else 0.0
        view2 = "LFW View-2"
        presets: tuple[VerifyPreset, ...] = ()
        if has_model:
            measured = stored.get("verify_presets") or _report_presets(report, normalised=bool(verify_weight))
            presets = _presets(measured, f"{view2}, measured when this model was trained")
        if verify_weight and not presets:
            # a model that normalises but measured no presets: its accuracy-optimal threshold
            presets = (VerifyPreset("default", float(stored["verify_normalised"]),
                                    measured_on="View-2 accuracy-optimal; false-accept rate not measured"),)
        if not presets:
            verify_weight = 0.0  # the spec's presets are for the plain cosine
            presets = _presets(spec.verify_presets, f"{view2}, {spec.presets_measured_on}")
        if not presets:
            presets = (VerifyPreset("default", float(stored.get("verify", spec.verify_threshold)),
                                    measured_on="false-accept rate not measured"),)
        claims = _presets(spec.claim_presets, spec.claims_measured_on) or tuple(
            dataclasses.replace(p, far=None, tar=None, measured_on="measured for pairs, not for claims")
            for p in _presets(spec.verify_presets, "") or presets)
        cohort_weight = float(stored.get("cohort_weight", 0.0))
        return cls(identify=value, cohort_weight=cohort_weight, verify=presets[0].threshold,
                   verify_cohort_weight=verify_weight, source=source, verify_presets=presets, claim_presets=claims,
                   verify_scale=normalised_scale(verify_weight) if verify_weight else PLAIN_SCALE,
                   identify_scale=identify_scale(cohort_weight, few_shot,
                                                 PersonRule.from_thresholds(stored) if has_model else None),
                   small_face_margin=None if few_shot is None else few_shot.small_face_margin,
                   **gates)

    def verify_preset(self, name: str | None = None, *, claim: bool = False) -> VerifyPreset:
        """The verification preset called ``name`` (default: the strictest), of the pair presets or,
        with ``claim``, of the claim presets; an unknown name raises :class:`FacerecError`."""
        presets = self.claim_presets if claim else self.verify_presets
        if name is None:
            return presets[0]
        for preset in presets:
            if preset.name == name:
                return preset
        raise FacerecError(f"unknown verification preset {name!r}; choose one of: "
                           f"{', '.join(p.name for p in presets)}")

    def quality_note(self, face: Face) -> str | None:
        """Why ``face`` cannot be identified, or ``None`` when it passes the gates."""
        if face.size < self.min_face_size and self.small_face_margin is None:
            return f"face too small to identify ({face.size:.0f} px)"
        if face.det_score < self.min_det_score:
            return f"face unclear (detection score {face.det_score:.2f})"
        return None

    def margin(self, face: Face) -> float:
        """How much more than the threshold ``face`` must score (small faces, when identified)."""
        small = self.small_face_margin is not None and face.size < self.min_face_size
        return float(self.small_face_margin) if small else 0.0


def _on_scale(candidates: Sequence[Candidate], cohort: float, weight: float) -> list[Match]:
    """Every source's matches on the decision scale (cosine − weight × cohort), one per name,
    best first; each source's chosen person is among them even when its top-k left it out (an
    SVM may choose someone who is not the nearest)."""
    best: dict[str, tuple[float, float]] = {}  # name: (similarity, plain cosine)
    for c in candidates:
        # a source's match may carry the plain cosine behind its similarity (the model's person
        # rule): that is what corrections compare with a rejected look-alike's cosine
        for name, sim, plain in [(m.name, m.score, m.cosine) for m in c.matches] + [(c.name, c.score, None)]:
            if name not in best or sim > best[name][0]:
                best[name] = (sim, sim if plain is None else plain)
    matches = [Match(name, float(open_set_scores(sim, cohort, weight)), float(cosine))
               for name, (sim, cosine) in best.items()]
    return sorted(matches, key=lambda m: -m.score)


def decide(faces: list[Face], sources: Sequence[IdentitySource], thresholds: Thresholds, *,
           threshold: float | None = None, top_k: int = 3) -> list[Face]:
    """Fill ``identity``, ``confidence``, ``matches``, ``threshold``, ``reason`` and ``note`` of
    embedded faces (in place).

    Faces that fail a quality gate are ``"unknown"`` with a note. The others are searched in
    every source; every candidate and every match is scored as ``cosine − cohort_weight ×
    cohort`` (the cohort of the first source that holds one, else 0): one scale for the
    confidence, the matches and the threshold. The best source choice reaching ``threshold``
    (default ``thresholds.identify``) names the face; failing that, the best-scoring match if it
    reaches it (the rule the threshold was calibrated with: the nearest person); otherwise the
    face is ``"unknown"`` with the best match's score. ``matches`` (top-k, best first) starts
    with the person named, so a face's name, confidence and first match always agree, and an
    unknown face has no match at or above the threshold. ``reason`` says which of these
    happened. A small face that ``thresholds`` identifies needs the threshold plus its margin
    (``face.threshold`` holds what it needed). With no source holding anyone, ``identity`` stays
    ``None`` (nobody can be named).
    """
    base = thresholds.identify if threshold is None else float(threshold)
    todo = []
    for face in faces:
        face.threshold = base + thresholds.margin(face)
        note = thresholds.quality_note(face)
        if note is not None:
            face.identity, face.note, face.reason = UNKNOWN, note, f"not identified: {note}"
        elif face.embedding is not None:
            todo.append(face)
    if not todo:
        return faces
    X = np.stack([f.embedding for f in todo])
    answers = [a for a in (source.search(X, top_k) for source in sources) if a]
    for i, face in enumerate(todo):
        thr = face.threshold
        candidates: list[Candidate] = [a[i] for a in answers]
        if not candidates:
            face.identity, face.confidence = None, None
            face.reason = "nobody to compare with (no trained model and no enrolled people)"
            continue
        cohort = next((c.cohort for c in candidates if c.cohort is not None), 0.0)
        scored = [(c, float(open_set_scores(c.score, cohort, thresholds.cohort_weight))) for c in candidates]
        matches = _on_scale(candidates, cohort, thresholds.cohort_weight)
        named = [cs for cs in scored if cs[1] >= thr]
        if named:
            best, score = max(named, key=lambda cs: cs[1])
            chosen = next(m for m in matches if m.name == best.name)
            face.identity, face.confidence = best.name, score
            face.reason = f"score {score:.3f} ≥ threshold {thr:.3f}"
            if matches[0] is not chosen:
                # the identifier's choice (nearest photo and the person's average face, or the
                # SVM) is not the top match: say so rather than contradict the list
                face.reason += (f" (chosen by the model; the top match, {display_name(matches[0].name)}, scores "
                                f"{matches[0].score:.3f})")
            matches = [chosen] + [m for m in matches if m is not chosen]
        elif matches[0].score >= thr:
            face.identity, face.confidence = matches[0].name, matches[0].score
            face.reason = (f"score {matches[0].score:.3f} ≥ threshold {thr:.3f} (best match; the model's "
                           f"choice {display_name(scored[0][0].name)} scored {scored[0][1]:.3f})")
        else:
            face.identity, face.confidence = UNKNOWN, matches[0].score
            face.reason = (f"closest to {display_name(matches[0].name)} ({matches[0].score:.3f}) but below "
                           f"threshold {thr:.3f}")
        face.matches = matches[:top_k]
        if thresholds.margin(face):
            face.reason += f" (a small face, {face.size:.0f} px: threshold raised by {thresholds.margin(face):.2f})"
    return faces
