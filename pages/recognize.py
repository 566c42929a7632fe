"""Recognize: upload photos (or take a snapshot) and see every face boxed and named."""
from __future__ import annotations

import streamlit as st

from dashboard.recognition import ImageResult, enrolled_people, recognize_image
from dashboard.resources import get_recognizer, get_settings
from facerec_core.images import SUPPORTED_UPLOAD_TYPES

settings = get_settings()

st.title("Recognize")
st.caption("Every face in each photo is found, boxed and named, or called *unknown* when it is not close "
           "enough to anyone the model knows.")

recognizer = get_recognizer(settings)
if recognizer is None:
    st.stop()
if not recognizer.has_model:
    enrolled = enrolled_people(recognizer)
    if enrolled:
        st.info(f"No trained model yet: only the {enrolled} people enrolled in the Gallery can be named.",
                icon=":material/info:")
    else:
        st.info("No trained model yet: faces are found and boxed but nobody can be named. Train a model on the "
                "Home page, or enrol people in the Gallery.", icon=":material/info:")
    st.page_link("pages/home.py", label="Go to Home to train a model", icon=":material/home:")

controls = st.columns(2)
threshold = controls[0].slider(
    "Decision threshold", min(0.0, round(recognizer.threshold, 3)), 1.0, float(round(recognizer.threshold, 3)), 0.01,
    key="recognize_threshold",
    help="A face is named only when its score for the best-matching person (cosine to that person's closest "
         f"photo) reaches this value; the default, {recognizer.threshold:.3f}, is the model's calibrated one. "
         "Higher: fewer wrong names, more 'unknown'.")
min_face_size = controls[1].slider(
    "Minimum face size (pixels)", 10, 200, int(settings.min_face_size), 5, key="recognize_min_face",
    help="Smaller faces are not looked for. Lower it for group photos, raise it to skip background faces.")

uploads = st.file_uploader("Photos (JPEG, PNG, WebP, BMP)", type=list(SUPPORTED_UPLOAD_TYPES),
                           accept_multiple_files=True, key="recognize_uploads")
photos = [(f.name, f.getvalue()) for f in uploads or []]
if st.toggle("Take a snapshot with the camera", key="recognize_camera"):
    snapshot = st.camera_input("Snapshot", key="recognize_snapshot")
    if snapshot is not None:
        photos.append(("snapshot.jpg", snapshot.getvalue()))

if not photos:
    st.info("Upload one or more photos to start.", icon=":material/upload:")
    st.stop()


def show_result(index: int, result: ImageResult) -> None:
    with st.container(border=True):
        st.markdown(f"#### {result.name}")
        if not result.ok:
            st.error(f"**{result.name}** could not be read: {result.error}", icon=":material/broken_image:")
            return
        if not result.faces:
            st.warning(f"No face found in **{result.name}**. Try a lower minimum face size, or a sharper photo "
                       "in which faces are larger and face the camera.", icon=":material/face_retouching_off:")
            st.image(result.image, width=min(480, result.image.shape[1]))
            return
        left, right = st.columns([2, 3])
        width = result.image.shape[1]
        # Small photos (LFW is 250 px) are shown larger so the labels stay readable.
        left.image(result.annotated, width=min(640, max(320, width)))
        with right:
            st.markdown(result.summary())
            stem = result.name.rsplit(".", 1)[0]
            st.download_button("Annotated image (PNG)", result.annotated_png(), f"{stem}_faces.png", "image/png",
                               key=f"png_{index}", icon=":material/download:", on_click="ignore")
            st.download_button("Results (JSON)", result.to_json(), f"{stem}_faces.json", "application/json",
                               key=f"json_{index}", icon=":material/download:", on_click="ignore")
        st.dataframe(result.table(), hide_index=True, column_config={
            "confidence": st.column_config.NumberColumn("confidence", format="%.3f",
                                                        help="Cosine to the named person's closest training photo"),
            "detection score": st.column_config.NumberColumn("detection score", format="%.3f"),
        })

for i, (name, data) in enumerate(photos):
    with st.spinner(f"Finding faces in {name}…"):
        result = recognize_image(recognizer, name, data, threshold=threshold, min_face_size=min_face_size,
                                 max_pixels=settings.max_image_pixels)
    show_result(i, result)
