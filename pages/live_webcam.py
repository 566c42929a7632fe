"""Live Webcam: the camera's video comes back with every face boxed and named, in real time.

The recognition is :class:`facerec_core.video.LiveProcessor`, one per browser session; the
WebRTC callbacks that feed it and the ICE configuration are in :mod:`dashboard.webcam_support`.
"""
from __future__ import annotations

import streamlit as st

from dashboard.auth import TOKEN_KEY, may, principal_now
from dashboard.page import PageContext, page_preamble
from dashboard.plain import plain
from dashboard.resources import get_landmarks, get_settings
from dashboard.webcam_support import (StreamSession, TrackDecisions, camera_streamer, in_view_line,
                                      make_ended_callback, make_video_callback, recently_seen_lines)
from facerec_core.access import REQUIRED_ROLE, Action
from facerec_core.history.recording import TrackSightings
from facerec_core.liveness.watch import LivenessWatch
from facerec_core.recognizer import Recognizer
from facerec_core.video import LiveProcessor, LiveStatus, VideoConfig

SESSION_KEY = "live_webcam_processor"
DECISIONS_KEY = "live_webcam_decisions"
WHERE = "Live Webcam page"

# Shown by the streamlit-webrtc component itself (the browser side), in place of its defaults.
TRANSLATIONS = {
    "start": "Start",
    "stop": "Stop",
    "select_device": "Select camera",
    "media_api_not_available": ("The browser does not offer camera access on this page. Open the dashboard "
                                "on http://localhost or over HTTPS (see the README)."),
    "device_ask_permission": "Please allow this page to use your camera.",
    "device_not_available": "No camera was found. Plug one in (or free it from another app) and press Start again.",
    "device_access_denied": ("Camera access was refused. Allow the camera for this site in the browser's "
                             "address bar, then press Start again."),
}


# The component reports camera failures with the browser's error names: say what each means.
CAMERA_HELP = """**Camera trouble?** The message above the video says what the browser reported:
- **NotAllowedError**: camera access was refused. Allow the camera for this site (the camera icon in the \
address bar), then press Start again.
- **NotFoundError**: no camera was found. Plug one in, then press Start again.
- **NotReadableError**: the camera is in use by another application. Close it, then press Start again.
- **Media API not available**: the browser offers the camera only on `localhost` or over HTTPS.
- **Connection takes too long**: across networks, the video needs a TURN server (FACEREC_ICE_SERVERS).

The README explains HTTPS and TURN."""


def get_live_processor(recognizer: Recognizer) -> LiveProcessor:
    """This browser session's LiveProcessor (a new one when the shared recognizer changed)."""
    live = st.session_state.get(SESSION_KEY)
    if live is None or live.processor.recognizer is not recognizer:
        if live is not None:
            live.stop(timeout=2.0)
        sightings = TrackSightings(get_settings(), backbone=recognizer.backbone.name)
        live = LiveProcessor(recognizer, name=f"facerec-live-{id(recognizer) % 10000}",
                             liveness=LivenessWatch(get_landmarks()), on_result=sightings.observe)
        st.session_state[SESSION_KEY] = live
    return live


def get_track_decisions(page: PageContext) -> TrackDecisions:
    """This session's audit of the stream's decisions, bound to whoever is signed in on this run."""
    decisions = st.session_state.get(DECISIONS_KEY)
    if decisions is None:
        decisions = st.session_state[DECISIONS_KEY] = TrackDecisions()
    audit, principal = page.access.audit, page.principal

    def record(answer: str, score: float | None, detail: dict) -> None:
        audit.record_decision(principal, "identify", answer=answer, score=score, where=WHERE, detail=detail)

    decisions.record = record
    return decisions


def get_stream_session(page: PageContext) -> StreamSession:
    """The stream's own check that this session is still signed in (the stream never reruns the page)."""
    token = st.session_state.get(TOKEN_KEY, "")
    accounts = page.access.accounts
    return StreamSession(lambda: accounts.resume(token))


def _threshold_changed(page: PageContext, calibrated: float) -> None:
    """An administrator's threshold for this stream goes into the audit trail (as on Recognize)."""
    principal, access = principal_now(page.settings)
    if principal is not None and may(principal, Action.CHANGE_THRESHOLDS):
        access.audit.record(principal, Action.CHANGE_THRESHOLDS.value, target="live", where=WHERE,
                            detail={"threshold": st.session_state.get("live_threshold"),
                                    "calibrated": round(calibrated, 4), "scope": "this session"})


def show_status(status: LiveStatus, playing: bool) -> None:
    """The "in view" panel: who is on camera now, who was recently, rates, problems."""
    st.subheader("In view")
    if status.state == "error" and status.message:
        st.error(plain(status.message))
    if not playing:
        st.caption("Camera off. Press **Start** under the video to begin.")
        return
    if status.state == "ended" and status.message:
        st.warning(plain(status.message))
        return
    if status.frames == 0:
        st.caption("Waiting for the first video frame…")
        return
    if status.last_frame_age is not None and status.last_frame_age > 3:
        st.warning(f"No video frames for {status.last_frame_age:.0f} s: the camera or the connection "
                   "may have stopped.")
    if status.stale and status.state == "running":
        st.warning(f"Recognition is {status.result_age:.0f} s behind the video (the machine is busy): boxes and "
                   "names are hidden until it catches up.", icon=":material/hourglass_top:")
    with st.container(key="in_view_now"):
        if status.in_view:
            for person in status.in_view:
                st.markdown(in_view_line(person))
        else:
            st.caption("Nobody in view.")
    c1, c2 = st.columns(2)
    c1.metric("Video", f"{status.display_fps:.1f} fps")
    # The same two rates, computed the same way, as the line drawn on the video.
    c2.metric("Recognition", f"{status.analysis_fps:.1f} fps",
              help="Frames analysed per second: boxes and names move at this rate; the other frames reuse the "
                   "latest ones (for at most 3 s).")
    if status.process_ms_p50 is not None:
        st.caption(f"Detection and naming take {status.process_ms_p50:.0f} ms a frame (median); "
                   f"{status.dropped} of {status.frames} frames were skipped rather than queued.")
    if status.recently_seen:
        st.markdown("**Recently seen**")
        st.markdown("\n".join(recently_seen_lines(status.recently_seen)))


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Live Webcam",
    "Your camera's video, sent back with every face boxed and named (or called *unknown*), with its "
    "confidence and the frame rate. Video stays between your browser and this server.",
    action=Action.LIVE_WEBCAM,
    no_model_notice="No trained model yet: faces are found and boxed but not named. Train one on the Home page.")
recognizer = page.recognizer
may_tune = may(page.principal, Action.CHANGE_THRESHOLDS)

with st.sidebar:
    st.markdown("**Live Webcam settings**")
    threshold = st.slider(
        "Decision threshold (cosine)", 0.0, 1.0, float(round(recognizer.threshold, 3)), 0.01,
        disabled=not recognizer.has_model or not may_tune, key="live_threshold",
        on_change=_threshold_changed, args=(page, recognizer.threshold),
        help=f"The model's calibrated value is {recognizer.threshold:.3f}. Higher: fewer wrong names, more 'unknown'."
             + ("" if may_tune else f" Changing it needs the {REQUIRED_ROLE[Action.CHANGE_THRESHOLDS].value} role."))
    if not may_tune:  # the calibrated value decides, whatever the widget's state says
        threshold = float(round(recognizer.threshold, 3))
    min_face_size = st.slider("Minimum face size (pixels)", 20, 200, 60, 5, key="live_min_face",
                              help="Smaller faces are not looked for. Larger values are faster.")
    detect_every = st.slider("Detect every N frames", 1, 10, 1, 1, key="live_detect_every",
                             help="Run the face detector on every N-th frame only; in between, faces keep their "
                                  "last boxes. Raise it to save CPU.")
    mirror = st.toggle("Mirror view", value=True, key="live_mirror", help="Show the video like a mirror.")
    liveness = st.toggle("Liveness badges", value=False, key="live_liveness",
                         help="Mark each face **live** once it has blinked and turned its head with depth, "
                              "unasked; until then **not verified**. A photo never shows both. This only "
                              "watches: to let someone in, use the Authenticate page.")

live = get_live_processor(recognizer)
live.update_config(VideoConfig(threshold=float(threshold), min_face_size=int(min_face_size),
                               detect_every=int(detect_every), mirror=bool(mirror), liveness=bool(liveness)))
video_col, panel_col = st.columns([3, 2], gap="large")
with video_col:
    ctx = camera_streamer("live-webcam", make_video_callback(live, get_track_decisions(page), get_stream_session(page)),
                          translations=TRANSLATIONS, on_video_ended=make_ended_callback(live))
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
