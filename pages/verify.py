"""Verify: are the people in two photos the same person?"""
from __future__ import annotations

import streamlit as st

from dashboard.recognition import verify_photos
from dashboard.resources import get_recognizer, get_settings
from facerec_core.draw import annotate
from facerec_core.images import SUPPORTED_UPLOAD_TYPES

settings = get_settings()

st.title("Verify")
st.caption("Compare the largest face in each of two photos: how close the two faces are (cosine similarity) "
           "decides whether they are the same person. No trained model is needed; with one, the score is "
           "cohort-normalised (less fooled by faces that look like everybody), as measured best on LFW.")

recognizer = get_recognizer(settings)
if recognizer is None:
    st.stop()

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
    st.error(f"These photos cannot be compared: {result.error}. Each photo needs one clearly visible face "
             f"(first: {photos[0].name}, second: {photos[1].name}).", icon=":material/error:")
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
