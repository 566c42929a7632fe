"""Gallery: enroll your own people from photos or webcam snapshots; they are recognized at once."""
from __future__ import annotations

import streamlit as st

from dashboard.gallery_support import get_gallery, render
from dashboard.resources import get_recognizer, get_settings

settings = get_settings()

st.title("Gallery")
st.caption("People enrolled here are named on the Recognize and Live Webcam pages from the moment they are "
           "added, next to the people the trained model knows. The gallery lives in "
           f"`{settings.data_dir}` and survives restarts.")

recognizer = get_recognizer(settings)
store = get_gallery(settings)
if recognizer is None or store is None:
    st.stop()

render(settings, recognizer, store)
