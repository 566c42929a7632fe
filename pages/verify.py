"""Verify: are the people in two photos the same person?"""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.draw import annotate
from facerec_core.errors import FacerecError
from facerec_core.images import SUPPORTED_UPLOAD_TYPES, load_image
from facerec_core.recognizer import Recognizer, Verification


def _model_key(recognizer: Recognizer) -> str:
    """What a verification score depends on: detection and, when a model is trained, its cohort
    normalisation (a retrained model changes the score of the same two photos): its files, and its
    verification threshold, which comes with the way it scores pairs."""
    det = recognizer.detector
    files = (recognizer.manifest or {}).get("files") or {}
    return (f"{recognizer.backbone.name}|{getattr(det, 'min_face_size', '')}|{getattr(det, 'threshold', '')}|"
            f"{sorted(files.items())}|{recognizer.verify_threshold}")


@st.cache_data(max_entries=32, show_spinner=False)
def _verify_cached(_recognizer: Recognizer, model_key: str, data_a: bytes, data_b: bytes) -> Verification:
    # model_key stands in for the unhashable recognizer in the cache key.
    return _recognizer.verify(data_a, data_b)


@dataclasses.dataclass
class VerifyResult:
    verification: Verification | None = None
    image_a: np.ndarray | None = None
    image_b: np.ndarray | None = None
    error: str | None = None


def verify_photos(recognizer: Recognizer, data_a: bytes, data_b: bytes, *, threshold: float,
                  name_a: str = "first photo", name_b: str = "second photo") -> VerifyResult:
    """Same person or not at ``threshold``; a photo without a face or unreadable gives ``error``."""
    try:
        image_a = load_image(data_a, name=name_a)
        image_b = load_image(data_b, name=name_b)
        base = _verify_cached(recognizer, _model_key(recognizer), data_a, data_b)
    except FacerecError as exc:
        return VerifyResult(error=str(exc))
    # The similarity does not depend on the threshold: only the decision is re-made here.
    verification = dataclasses.replace(base, threshold=float(threshold), same=base.similarity >= float(threshold))
    return VerifyResult(verification, image_a, image_b)


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Verify",
    "Compare the largest face in each of two photos: how close the two faces are (cosine similarity) "
    "decides whether they are the same person. No trained model is needed; with one, the score is "
    "cohort-normalised (less fooled by faces that look like everybody), as measured best on LFW.")
recognizer = page.recognizer

default_threshold = float(round(recognizer.verify_threshold, 3))
threshold = st.slider(
    "Threshold", min(0.0, default_threshold), 1.0, default_threshold, 0.01,
    key="verify_threshold",
    help=f"Pairs scoring at least this are called the same person. The default, {recognizer.verify_threshold:.3f}, "
         "is the most accurate threshold measured on LFW verification pairs.")

columns = st.columns(2)
photos = []
for column, label, key in ((columns[0], "First photo", "verify_a"), (columns[1], "Second photo", "verify_b")):
    upload = column.file_uploader(label, type=list(SUPPORTED_UPLOAD_TYPES), key=key)
    photos.append(upload)

if not all(photos):
    st.info("Upload a photo on each side to compare them.", icon=":material/upload:")
    st.stop()

with st.spinner("Comparing…"):
    result = verify_photos(recognizer, photos[0].getvalue(), photos[1].getvalue(), threshold=threshold,
                           name_a=photos[0].name, name_b=photos[1].name)
if result.error:
    st.error(f"These photos cannot be compared: {plain(result.error)}. Each photo needs one clearly visible face "
             f"(first: {plain(photos[0].name)}, second: {plain(photos[1].name)}).", icon=":material/error:")
    st.stop()

v = result.verification
for column, image, face in ((columns[0], result.image_a, v.face_a), (columns[1], result.image_b, v.face_b)):
    column.image(annotate(image, [face]), width=min(420, image.shape[1]))

metrics = st.columns(3)
metrics[0].metric("Similarity", f"{v.similarity:.3f}")
metrics[1].metric("Threshold", f"{v.threshold:.3f}")
metrics[2].metric("Decision", "Same person" if v.same else "Different people")
verdict = v.verdict[0].upper() + v.verdict[1:]
if v.same:
    st.success(verdict, icon=":material/check_circle:")
else:
    st.warning(verdict, icon=":material/cancel:")
