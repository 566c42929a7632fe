"""Streamlit-side glue for the Live Webcam page: ICE configuration, the per-session live
processor, the WebRTC callbacks and the "in view" panel.

The recognition itself is :class:`facerec_core.video.LiveProcessor`; this module only adapts it
to ``streamlit-webrtc`` (``av.VideoFrame`` in and out) and to Streamlit's session state.
Callbacks built here run on WebRTC threads and never call ``st.*``.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, Callable

import streamlit as st

from facerec_core.video import LiveProcessor, LiveStatus, VideoConfig

log = logging.getLogger(__name__)

ICE_ENV = "FACEREC_ICE_SERVERS"
ICE_SECRET = "ice_servers"
SESSION_KEY = "live_webcam_processor"

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


class IceConfigError(ValueError):
    """FACEREC_ICE_SERVERS or the ``ice_servers`` secret is not a valid list of ICE servers."""


def parse_ice_servers(value: Any, source: str = ICE_ENV) -> list[dict[str, Any]]:
    """ICE servers from JSON text or already-parsed data.

    Accepts a list of RTCIceServer dicts (``{"urls": ..., "username": ..., "credential": ...}``),
    one such dict, a ``{"iceServers": [...]}`` dict, or a URL string / list of URL strings
    (e.g. ``"stun:stun.example.org:3478"``). Raises :class:`IceConfigError` otherwise.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text[0] in "[{":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise IceConfigError(f"{source} is not valid JSON: {exc}") from None
        else:
            value = [text]
    if isinstance(value, Mapping):  # also Streamlit's secrets tables
        value = value["iceServers"] if "iceServers" in value else [value]
    if not isinstance(value, (list, tuple)):
        raise IceConfigError(f"{source} must be a list of ICE servers, got {type(value).__name__}")
    servers = []
    for item in value:
        if isinstance(item, str):
            item = {"urls": item}
        if not isinstance(item, Mapping) or not item.get("urls"):
            raise IceConfigError(f"{source}: every ICE server needs 'urls', got {item!r}")
        urls = list(item["urls"]) if isinstance(item["urls"], (list, tuple)) else [item["urls"]]
        bad = [u for u in urls if not isinstance(u, str) or not u.startswith(("stun:", "stuns:", "turn:", "turns:"))]
        if bad:
            raise IceConfigError(f"{source}: ICE server URLs must start with stun:, stuns:, turn: or turns:, got {bad}")
        servers.append({k: (list(v) if k == "urls" and isinstance(v, tuple) else v)
                        for k, v in dict(item).items() if k in ("urls", "username", "credential")})
    return servers


def _secret_ice_servers() -> Any:
    """The ``ice_servers`` Streamlit secret, or ``None`` when there are no secrets."""
    try:
        return st.secrets.get(ICE_SECRET)
    except Exception:  # no secrets.toml: Streamlit raises its own error type
        return None


def rtc_configuration(environ: dict[str, str] | None = None, secret: Any = None) -> tuple[dict[str, Any], str | None]:
    """The WebRTC configuration and, when a setting was invalid, a message about it.

    Default: no ICE servers at all (``{"iceServers": []}``), so nothing is contacted outside
    the machine and a browser on the same LAN connects directly. ``FACEREC_ICE_SERVERS`` (env)
    or the ``ice_servers`` Streamlit secret adds STUN/TURN servers for use across networks.
    """
    environ = os.environ if environ is None else environ
    source, value = ICE_ENV, environ.get(ICE_ENV)
    if not value:
        source, value = f"secret '{ICE_SECRET}'", secret if secret is not None else _secret_ice_servers()
    if not value:
        return {"iceServers": []}, None
    try:
        return {"iceServers": parse_ice_servers(value, source)}, None
    except IceConfigError as exc:
        log.warning("ignoring ICE servers: %s", exc)
        return {"iceServers": []}, f"{exc}. Using no ICE servers (local network only)."


def get_live_processor(recognizer) -> LiveProcessor:
    """This browser session's LiveProcessor (a new one when the shared recognizer changed)."""
    live = st.session_state.get(SESSION_KEY)
    if live is None or live.processor.recognizer is not recognizer:
        if live is not None:
            live.stop(timeout=2.0)
        live = LiveProcessor(recognizer, name=f"facerec-live-{id(recognizer) % 10000}")
        st.session_state[SESSION_KEY] = live
    return live


def make_video_callback(live: LiveProcessor) -> Callable:
    """``video_frame_callback`` for ``webrtc_streamer``: frame → annotated frame. No ``st.*``."""
    import av

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        image = frame.to_ndarray(format="rgb24")
        try:
            shown = live.handle(image)
        except Exception:  # never break the stream: show the raw frame
            log.exception("live webcam: could not process a frame")
            shown = image
        return av.VideoFrame.from_ndarray(shown, format="rgb24")

    return callback


def make_ended_callback(live: LiveProcessor) -> Callable[[], None]:
    """``on_video_ended`` for ``webrtc_streamer``: the worker exits; the panel says so."""

    def on_ended() -> None:
        live.mark_ended("The video stream ended: the camera stopped or the connection was lost. "
                        "Press Stop, then Start to try again.")

    return on_ended


def show_status(status: LiveStatus, playing: bool) -> None:
    """The "in view" panel: who is on camera now, who was recently, rates, problems."""
    st.subheader("In view")
    if status.state == "error" and status.message:
        st.error(status.message)
    if not playing:
        st.caption("Camera off. Press **Start** under the video to begin.")
        return
    if status.state == "ended" and status.message:
        st.warning(status.message)
        return
    if status.frames == 0:
        st.caption("Waiting for the first video frame…")
        return
    if status.last_frame_age is not None and status.last_frame_age > 3:
        st.warning(f"No video frames for {status.last_frame_age:.0f} s: the camera or the connection "
                   "may have stopped.")
    with st.container(key="in_view_now"):
        if status.in_view:
            for person in status.in_view:
                colour = "green" if person.known else "red" if person.name == "unknown" else "blue"
                st.markdown(f":{colour}[●] **{person.label}** · {person.seconds:.0f} s")
        else:
            st.caption("Nobody in view.")
    c1, c2 = st.columns(2)
    c1.metric("Video", f"{status.display_fps:.1f} fps")
    c2.metric("Recognition", f"{status.analysis_fps:.1f} fps",
              help="Frames analysed per second; the others reuse the latest boxes and names.")
    if status.process_ms_p50 is not None:
        st.caption(f"Detection and naming take {status.process_ms_p50:.0f} ms a frame (median); "
                   f"{status.dropped} of {status.frames} frames were skipped rather than queued.")
    if status.recently_seen:
        st.markdown("**Recently seen**")
        st.markdown("\n".join(f"- {name.replace('_', ' ')} ({age:.0f} s ago)"
                              for name, age in status.recently_seen.items()))


def config_from_controls(threshold: float, min_face_size: int, detect_every: int, mirror: bool) -> VideoConfig:
    """The VideoConfig the page's controls describe."""
    return VideoConfig(threshold=float(threshold), min_face_size=int(min_face_size),
                       detect_every=int(detect_every), mirror=bool(mirror))
