"""The Live Webcam page's adapter to ``streamlit-webrtc``: the ICE configuration and the WebRTC
callbacks. Kept out of the page file because the video tests import them (a page file is not
an importable module); the page's own widgets and panel live in ``pages/live_webcam.py``.

The recognition itself is :class:`facerec_core.video.LiveProcessor`; the callbacks here only
hand it ``av.VideoFrame`` in and out. They run on WebRTC threads and never call ``st.*``.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

import streamlit as st

from dashboard.plain import plain
from facerec_core.faces import UNKNOWN, display_name
from facerec_core.video import InView, LiveProcessor
from facerec_core.video.tracking import FrameResult

log = logging.getLogger(__name__)

ICE_ENV = "FACEREC_ICE_SERVERS"
ICE_SECRET = "ice_servers"


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
        log.warning("ignoring the ICE servers of %s: not a valid list (the Live Webcam page says why)", source)
        return {"iceServers": []}, f"{exc}. Using no ICE servers (local network only)."


def camera_streamer(key: str, video_frame_callback: Callable, *, translations: dict[str, str],
                    on_video_ended: Callable[[], None] | None = None):
    """The browser camera as every camera page sets it up: send and receive, 640×480 asked for,
    no audio, frames handled off the page's thread (``async_processing``), the ICE servers of
    :func:`rtc_configuration` (its warning shown first, when there is one). Returns the
    streamer's context (``ctx.state.playing``)."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    rtc, ice_problem = rtc_configuration()
    if ice_problem:
        st.warning(plain(ice_problem), icon=":material/warning:")
    return webrtc_streamer(
        key=key,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc,
        media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
        video_frame_callback=video_frame_callback,
        on_video_ended=on_video_ended,
        async_processing=True,
        translations=translations,
    )


def in_view_line(person: InView) -> str:
    """The "in view" panel's Markdown line for one face on screen: a coloured dot (green: named,
    red: unknown, blue: nobody could be named), the name as plain text, how long in view, and,
    when liveness is looked for, a badge: live / not verified."""
    colour = "green" if person.known else "red" if person.name == UNKNOWN else "blue"
    badge = "" if person.live is None else " · :green-badge[live]" if person.live else " · :orange-badge[not verified]"
    return f":{colour}[●] **{plain(person.label)}** · {person.seconds:.0f} s{badge}"


def recently_seen_lines(recently_seen: dict[str, float]) -> list[str]:
    """The "recently seen" list, one Markdown list item per name (as plain text) with its age."""
    return [f"- {plain(display_name(name))} ({age:.0f} s ago)" for name, age in recently_seen.items()]


RecordFn = Callable[[str, "float | None", dict[str, Any]], None]


class TrackDecisions:
    """The audit trail of a live stream: each tracked face's decision (a name or "unknown") is
    recorded once, when the track is first named and again only when its answer changes; never
    per frame, never an embedding.

    ``record(answer, score, detail)`` writes one decision (the page binds it to the signed-in
    principal on every run). :meth:`observe` is called by the video callback with the newest
    recognition result; a result already seen is skipped at once, so it costs nothing per frame.
    """

    def __init__(self, record: RecordFn | None = None) -> None:
        self.record = record
        self._lock = threading.Lock()
        self._last_index: int | None = None
        self._decided: dict[int, str] = {}
        self.recorded = 0

    def observe(self, result: FrameResult | None) -> None:
        if result is None:
            return
        with self._lock:
            if result.index == self._last_index:
                return
            self._last_index = result.index
            decided: dict[int, str] = {}
            for track, face in zip(result.track_ids, result.faces):
                if face.identity is None:  # no model and no gallery: no decision was made
                    continue
                decided[track] = face.identity
                if self._decided.get(track) != face.identity and self.record is not None:
                    try:
                        self.record(face.identity, face.confidence,
                                    {"track": int(track), "previous": self._decided.get(track)})
                        self.recorded += 1
                    except Exception as exc:  # never break the stream; the log says it happened
                        log.warning("live webcam: a decision could not be audited (%s)", type(exc).__name__)
            self._decided = decided  # tracks that left are forgotten (a new track is a new face)


class StreamSession:
    """Whether the session watching a stream is still signed in.

    A live stream does not rerun the page, so the page's sign-in check alone would let a stream go
    on naming people after its session expired or was signed out elsewhere. ``resume`` (the core's
    :meth:`~facerec_core.access.accounts.Accounts.resume` of the session's token) is asked at most
    every ``every`` seconds; once it fails, the session stays ended for this stream.
    """

    def __init__(self, resume: Callable[[], object], *, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._resume, self._every, self._clock = resume, every, clock
        self._lock = threading.Lock()
        self._checked: float | None = None
        self.ended = False

    def signed_in(self) -> bool:
        with self._lock:
            if self.ended:
                return False
            now = self._clock()
            if self._checked is None or now - self._checked >= self._every:
                self._checked = now
                try:
                    self._resume()
                except Exception as exc:  # expired, ended or unreadable: no names without a session
                    log.info("live webcam: the stream's session ended (%s)", type(exc).__name__)
                    self.ended = True
            return not self.ended


SESSION_ENDED = "Your session ended: sign in again to see names. The video is no longer analysed."


def make_video_callback(live: LiveProcessor, decisions: TrackDecisions | None = None,
                        session: StreamSession | None = None) -> Callable:
    """``video_frame_callback`` for ``webrtc_streamer``: frame → annotated frame, and each track's
    decision to ``decisions`` when it is new or changed. Once ``session`` says the viewer is no
    longer signed in, frames pass through unanalysed and the panel says why. No ``st.*``."""
    import av

    def callback(frame: "av.VideoFrame") -> "av.VideoFrame":
        if session is not None and not session.signed_in():
            if live.running:
                live.mark_ended(SESSION_ENDED)
            return frame
        image = frame.to_ndarray(format="rgb24")
        try:
            shown = live.handle(image)
        except Exception:  # never break the stream: show the raw frame
            log.exception("live webcam: could not process a frame")
            shown = image
        if decisions is not None:
            decisions.observe(live.latest())
        return av.VideoFrame.from_ndarray(shown, format="rgb24")

    return callback


def make_ended_callback(live: LiveProcessor) -> Callable[[], None]:
    """``on_video_ended`` for ``webrtc_streamer``: the worker exits; the panel says so."""

    def on_ended() -> None:
        live.mark_ended("The video stream ended: the camera stopped or the connection was lost. "
                        "Press Stop, then Start to try again.")

    return on_ended
