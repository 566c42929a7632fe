"""Live Webcam: the camera's video comes back with every face boxed and named, in real time."""
from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard.resources import get_recognizer, get_settings
from dashboard.webcam_support import (CAMERA_HELP, TRANSLATIONS, config_from_controls, get_live_processor,
                                      make_ended_callback, make_video_callback, rtc_configuration, show_status)

settings = get_settings()

st.title("Live Webcam")
st.caption("Your camera's video, sent back with every face boxed and named (or called *unknown*), with its "
           "confidence and the frame rate. Video stays between your browser and this server.")

recognizer = get_recognizer(settings)
if recognizer is None:
    st.stop()
if not recognizer.has_model:
    st.info("No trained model yet: faces are found and boxed but not named. Train one on the Home page.",
            icon=":material/info:")

with st.sidebar:
    st.markdown("**Live Webcam settings**")
    threshold = st.slider(
        "Decision threshold (cosine)", 0.0, 1.0, float(round(recognizer.threshold, 3)), 0.01,
        disabled=not recognizer.has_model, key="live_threshold",
        help=f"The model's calibrated value is {recognizer.threshold:.3f}. Higher: fewer wrong names, more 'unknown'.")
    min_face_size = st.slider("Minimum face size (pixels)", 20, 200, 60, 5, key="live_min_face",
                              help="Smaller faces are not looked for. Larger values are faster.")
    detect_every = st.slider("Detect every N frames", 1, 10, 1, 1, key="live_detect_every",
                             help="Run the face detector on every N-th frame only; in between, faces keep their "
                                  "last boxes. Raise it to save CPU.")
    mirror = st.toggle("Mirror view", value=True, key="live_mirror", help="Show the video like a mirror.")

live = get_live_processor(recognizer)
live.update_config(config_from_controls(threshold, min_face_size, detect_every, mirror))
rtc, ice_problem = rtc_configuration()
if ice_problem:
    st.warning(ice_problem, icon=":material/warning:")

video_col, panel_col = st.columns([3, 2], gap="large")
with video_col:
    ctx = webrtc_streamer(
        key="live-webcam",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc,
        media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
        video_frame_callback=make_video_callback(live),
        on_video_ended=make_ended_callback(live),
        async_processing=True,
        translations=TRANSLATIONS,
    )
    st.caption(CAMERA_HELP)

playing = bool(ctx.state.playing)
if not playing and not ctx.state.signalling and (live.running or live.snapshot().state not in ("idle", "stopped")):
    live.stop()  # the user pressed Stop or the connection closed: end the worker thread now


@st.fragment(run_every=1.0 if playing else None)
def in_view_panel() -> None:
    """Who is in view, refreshed every second from the video thread's hand-off."""
    show_status(live.snapshot(), playing)


with panel_col:
    in_view_panel()
