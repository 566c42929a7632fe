"""Verify: are the people in two photos the same person? Is this photo a person we know?"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import streamlit as st

from dashboard.auth import may
from dashboard.decisions import digest, record_once
from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.access import Action
from facerec_core.draw import annotate
from facerec_core.errors import FacerecError
from facerec_core.faces import display_name
from facerec_core.identity import VerifyPreset
from facerec_core.images import SUPPORTED_UPLOAD_TYPES, load_image
from facerec_core.recognizer import Recognizer, Verification

CUSTOM = "custom"
TWO_PHOTOS, PERSON = "Two photos", "A photo and a known person"


def _model_key(recognizer: Recognizer) -> str:
    """What a verification score depends on: detection and, when a model is trained, its cohort
    normalisation (a retrained model changes the score of the same two photos): its files; and,
    for a known person, the enrolled gallery (its change counter)."""
    det = recognizer.detector
    files = (recognizer.manifest or {}).get("files") or {}
    try:
        gallery = "none" if recognizer.gallery is None else recognizer.gallery.generation
    except Exception:  # unreadable: the Gallery page says why
        gallery = "unreadable"
    return (f"{recognizer.backbone.name}|{getattr(det, 'min_face_size', '')}|{getattr(det, 'threshold', '')}|"
            f"{sorted(files.items())}|{recognizer.thresholds.verify_cohort_weight}|{gallery}")


@st.cache_data(max_entries=32, show_spinner=False)
def _verify_cached(_recognizer: Recognizer, model_key: str, data_a: bytes, data_b: bytes) -> Verification:
    # model_key stands in for the unhashable recognizer in the cache key.
    return _recognizer.verify(data_a, data_b)


@st.cache_data(max_entries=32, show_spinner=False)
def _verify_person_cached(_recognizer: Recognizer, model_key: str, data: bytes, person: str) -> Verification:
    return _recognizer.verify_person(data, person)


@dataclasses.dataclass
class VerifyResult:
    verification: Verification | None = None
    image_a: np.ndarray | None = None
    image_b: np.ndarray | None = None
    error: str | None = None


def verify_photos(recognizer: Recognizer, data_a: bytes, data_b: bytes, *, preset: VerifyPreset | None = None,
                  threshold: float | None = None, name_a: str = "first photo",
                  name_b: str = "second photo") -> VerifyResult:
    """Same person or not at ``preset`` (or a ``threshold`` of the user's); a photo without a face
    or unreadable gives ``error``."""
    try:
        image_a = load_image(data_a, name=name_a)
        image_b = load_image(data_b, name=name_b)
        base = _verify_cached(recognizer, _model_key(recognizer), data_a, data_b)
    except FacerecError as exc:
        return VerifyResult(error=str(exc))
    # The score does not depend on the threshold: only the decision is re-made here.
    return VerifyResult(base.at(threshold, preset), image_a, image_b)


def verify_person(recognizer: Recognizer, data: bytes, person: str, *, preset: VerifyPreset | None = None,
                  threshold: float | None = None, name: str = "photo") -> VerifyResult:
    """Is the photo's largest face ``person`` (enrolled or known to the model)?"""
    try:
        image = load_image(data, name=name)
        base = _verify_person_cached(recognizer, _model_key(recognizer), data, person)
    except FacerecError as exc:
        return VerifyResult(error=str(exc))
    return VerifyResult(base.at(threshold, preset), image)


def preset_caption(preset: VerifyPreset) -> str:
    """``accepts 0.10% of different-person pairs, 97.3% of same-person ones``: what a preset means."""
    if preset.far is None:
        return "false-accept rate not measured"
    tar = "" if preset.tar is None else f", {preset.tar:.1%} of same-person ones"
    return f"accepts {preset.far:.2%} of different-person pairs{tar}"


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Verify",
    "Are the people in two photos the same person, or is a photo someone you know? The largest face of "
    "each photo is compared; the decision rule is chosen for how many impostors it may let through, as "
    "measured on LFW.", action=Action.VERIFY)
recognizer = page.recognizer
# A threshold of one's own is an administrator's choice; the measured presets are everyone's.
may_tune = may(page.principal, Action.CHANGE_THRESHOLDS)

people = recognizer.claimable_people
mode = st.radio("Compare", [TWO_PHOTOS, PERSON], horizontal=True, key="verify_mode",
                help="A known person is someone enrolled in the Gallery or a person the trained model knows.")
claim = mode == PERSON
presets = list(recognizer.thresholds.claim_presets if claim else recognizer.verify_presets)
by_name = {p.name: p for p in presets}
rules = [p.name for p in presets] + ([CUSTOM] if may_tune else [])
rule = st.radio(
    "Decision rule", rules, horizontal=True, key="verify_rule",
    captions=[preset_caption(p) for p in presets] + (["a threshold of your own"] if may_tune else []),
    help="Strict (the default) lets the fewest strangers through: use it when a wrong 'same person' costs "
         "more than a missed one. Each rate was measured on LFW: "
         + "; ".join(p.describe() for p in presets) + ".")
threshold = None
if rule not in rules:  # a rule this role may not use (a forged widget state): the default preset
    rule = presets[0].name
if rule == CUSTOM:
    default = float(round(presets[0].threshold, 3))
    threshold = st.slider("Threshold", min(-0.5, default), 1.0, default, 0.01, key="verify_threshold",
                          help=f"Scores at least this are called a match. Score: {recognizer.thresholds.verify_scale}.")

if claim:
    if not people:
        st.info("Nobody is known yet: enrol people in the Gallery, or train a model on the Home page.",
                icon=":material/person_off:")
        st.stop()
    person = st.selectbox("Known person", people, key="verify_person", format_func=display_name)
    upload = st.file_uploader("Photo", type=list(SUPPORTED_UPLOAD_TYPES), key="verify_photo")
    if upload is None:
        st.info("Upload a photo to check it against the person.", icon=":material/upload:")
        st.stop()
    with st.spinner("Comparing…"):
        result = verify_person(recognizer, upload.getvalue(), person, preset=by_name.get(rule),
                               threshold=threshold, name=upload.name)
    if result.error:
        st.error(f"This photo cannot be checked: {plain(result.error)}. It needs one clearly visible face "
                 f"({plain(upload.name)}).", icon=":material/error:")
        st.stop()
    v = result.verification
    st.image(annotate(result.image_a, [v.face_a]), width=min(420, result.image_a.shape[1]))
else:
    columns = st.columns(2)
    photos = []
    for column, label, key in ((columns[0], "First photo", "verify_a"), (columns[1], "Second photo", "verify_b")):
        photos.append(column.file_uploader(label, type=list(SUPPORTED_UPLOAD_TYPES), key=key))
    if not all(photos):
        st.info("Upload a photo on each side to compare them.", icon=":material/upload:")
        st.stop()
    with st.spinner("Comparing…"):
        result = verify_photos(recognizer, photos[0].getvalue(), photos[1].getvalue(), preset=by_name.get(rule),
                               threshold=threshold, name_a=photos[0].name, name_b=photos[1].name)
    if result.error:
        st.error(f"These photos cannot be compared: {plain(result.error)}. Each photo needs one clearly visible "
                 f"face (first: {plain(photos[0].name)}, second: {plain(photos[1].name)}).", icon=":material/error:")
        st.stop()
    v = result.verification
    for column, image, face in ((columns[0], result.image_a, v.face_a), (columns[1], result.image_b, v.face_b)):
        column.image(annotate(image, [face]), width=min(420, image.shape[1]))

# The decision goes into the audit trail (once per session) before it is shown.
sources = [upload.getvalue()] if claim else [photos[0].getvalue(), photos[1].getvalue()]
decision_key = digest("verify", *[hashlib.sha256(d).hexdigest() for d in sources], v.person, v.preset,
                      round(float(v.threshold), 4), _model_key(recognizer))
if not record_once(page.access, page.principal, decision_key, kind="verify", answer="same" if v.same else "different",
                   score=v.similarity, where="Verify page",
                   detail={"mode": "claim" if claim else "pair", "person": v.person, "preset": v.preset or CUSTOM,
                           "threshold": round(float(v.threshold), 4)}):
    st.stop()

metrics = st.columns(3)
metrics[0].metric("Score", f"{v.similarity:.3f}", help=f"The score is {v.scale}.")
metrics[1].metric("Threshold", f"{v.threshold:.3f}", help=v.rule)
metrics[2].metric("Decision", ("Same person" if not claim else display_name(v.person)) if v.same
                  else ("Different people" if not claim else f"Not {display_name(v.person)}"))
verdict = v.verdict[0].upper() + v.verdict[1:]
if v.same:
    st.success(plain(verdict), icon=":material/check_circle:")
else:
    st.warning(plain(verdict), icon=":material/cancel:")
st.caption(plain(f"Decision rule: {v.rule}."))
st.caption(plain(f"Score: {v.scale}." + (f" Compared with {v.compared_photos} stored photos of "
                                         f"{display_name(v.person)}; the claim rates were measured with 3."
                                         if claim else "")))
