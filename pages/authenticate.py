"""Authenticate: a person at the camera is named, then proves to be a live, 3-D head by doing 2-3
actions asked for in a random order. The flow is :class:`facerec_core.liveness.Authenticator`;
the WebRTC callback is :mod:`dashboard.authenticate_stream`.
"""
from __future__ import annotations

import streamlit as st

from dashboard.authenticate_stream import AuthenticateStream, make_video_callback
from dashboard.page import PageContext, enrolled_people, page_preamble
from dashboard.plain import plain
from dashboard.resources import get_landmarks
from dashboard.webcam_support import camera_streamer
from facerec_core.access import Action
from facerec_core.api.webhooks import emit_for
from facerec_core.faces import display_name
from facerec_core.liveness import AttemptResult, Authenticator, ChallengeState, Refusal
from facerec_core.recognizer import Recognizer

SESSION_KEY = "authenticate_stream"
ATTEMPTS_KEY = "authenticate_attempts"
WHERE = "Authenticate page"

TRANSLATIONS = {"start": "Start camera", "stop": "Stop camera", "select_device": "Select camera",
                "device_ask_permission": "Please allow this page to use your camera."}


def get_stream(recognizer: Recognizer) -> AuthenticateStream:
    """This browser session's stream (a new one when the shared recognizer changed)."""
    stream = st.session_state.get(SESSION_KEY)
    if stream is None or stream.authenticator.recognizer is not recognizer:
        stream = AuthenticateStream(Authenticator(recognizer, get_landmarks()))
        st.session_state[SESSION_KEY] = stream
    return stream


def bind_verdicts(stream: AuthenticateStream, page: PageContext) -> list[AttemptResult]:
    """Every verdict goes to the audit trail, as the signed-in person, and to this session's list."""
    attempts: list[AttemptResult] = st.session_state.setdefault(ATTEMPTS_KEY, [])
    audit, principal = page.access.audit, page.principal

    def record(result: AttemptResult) -> None:
        attempts.insert(0, result)
        del attempts[20:]
        audit.record(principal, Action.AUTHENTICATE.value, target=result.name or "", outcome=result.outcome,
                     where=WHERE, detail=result.audit_detail())
        emit_for(page.settings, "authentication.result",
                 {"name": result.name, "verdict": result.outcome, "reason": result.refusal,
                  "actions": list(result.actions), "seconds": round(result.seconds, 2), "by": principal.name})

    stream.authenticator.on_verdict = record
    return attempts


def step_lines(state: ChallengeState) -> list[str]:
    """The actions as a checklist: done, now, to come."""
    lines = []
    for i, action in enumerate(state.actions):
        if state.accepted or (state.acted and i < state.step):
            mark = ":green[✓]"
        elif state.acted and i == state.step:
            mark = ":red[✗]" if state.done else ":blue[▶]"
        else:
            mark = "○"
        lines.append(f"- {mark} {action.prompt}")
    return lines


def attempt_line(result: AttemptResult) -> str:
    if result.accepted:
        return f"- :green[accepted] as **{plain(display_name(result.name))}** ({result.seconds:.1f} s)"
    who = f" (named {plain(display_name(result.name))})" if result.name else ""
    return f"- :red[refused]{who}: {plain(result.refusal or '')}: {plain(result.message or '')}"


def show_state(stream: AuthenticateStream, attempts: list[AttemptResult], playing: bool) -> None:
    st.subheader("Attempt")
    state = stream.authenticator.state()
    if not playing:
        st.caption("Camera off. Press **Start camera** under the video; an attempt starts with the first frame.")
    elif state is None:
        st.caption("Waiting for the first video frame…")
    else:
        with st.container(key="auth_state"):
            if state.accepted:
                st.success(f"Accepted as {plain(display_name(state.name))}", icon=":material/verified_user:")
            elif state.phase == "refused":
                st.error(f"Refused — {plain(state.refusal.value if state.refusal else '')}: {plain(state.message or '')}",
                         icon=":material/block:")
            elif state.phase == "starting":
                st.info("Look straight at the camera" + (f" — recognized {plain(display_name(state.name))}"
                                                          if state.name else ""), icon=":material/face:")
            else:
                left = "" if state.time_left is None else f" ({state.time_left:.0f} s left)"
                st.info(f"**{state.prompt}**{left}", icon=":material/directions_run:")
                st.progress(state.progress)
            st.markdown("\n".join(step_lines(state)))
            if state.done:
                st.caption(f"A new attempt starts {stream.restart_after_s:.0f} s after each verdict.")
        video, analysis = st.columns(2)
        video.metric("Video", f"{stream.video_fps():.1f} fps")
        analysis.metric("Analysed", f"{stream.analysis_fps():.1f} fps",
                        help="Frames checked per second (face, landmarks, depth). Blinks need about 10.")
    if attempts:
        st.markdown("**This session's attempts** (all are in the audit trail)")
        st.markdown("\n".join(attempt_line(a) for a in attempts[:8]))


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Authenticate",
    "Face the camera alone. You are named, then asked for 2 or 3 actions in a random order — blink, "
    "turn your head left or right, look up — each within a few seconds. A photo, a screen or a "
    "recorded video cannot follow the prompts or show a head's depth, and is refused.",
    action=Action.AUTHENTICATE)
if not page.recognizer.has_model and not enrolled_people(page.recognizer):
    st.info("Nobody is enrolled and no model is trained: every attempt will be refused as not recognized. "
            "Enroll people on the Gallery page.", icon=":material/info:")
stream = get_stream(page.recognizer)
attempts = bind_verdicts(stream, page)
video_col, panel_col = st.columns([3, 2], gap="large")
with video_col:
    ctx = camera_streamer("authenticate", make_video_callback(stream), translations=TRANSLATIONS)
    if st.button("New attempt", icon=":material/restart_alt:", disabled=not ctx.state.playing):
        stream.new_attempt()
    st.caption(f"Reasons an attempt is refused: {', '.join(r.value for r in Refusal)}. The verdict, its reason "
               "and the actions asked for go to the audit trail; no image is kept.")

playing = bool(ctx.state.playing)
if not playing and not ctx.state.signalling:
    stream.authenticator.cancel()


@st.fragment(run_every=0.5 if playing else None)
def attempt_panel() -> None:
    show_state(stream, attempts, playing)


with panel_col:
    attempt_panel()
