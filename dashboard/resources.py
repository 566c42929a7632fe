"""Process-wide resources for the dashboard, cached by Streamlit.

Models load once per process (``st.cache_resource``); every browser session shares them, which
is safe because :class:`facerec_core.recognizer.Recognizer` is thread-safe.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

from dashboard.plain import plain
from facerec_core.errors import FacerecError
from facerec_core.settings import Settings

if TYPE_CHECKING:  # for type hints only: the models (torch) are imported when first loaded
    from facerec_core.liveness.landmarks import Landmarks68
    from facerec_core.recognizer import Recognizer


def get_settings() -> Settings:
    """Settings from the environment (FACEREC_*). Every page calls this first (through
    :func:`dashboard.page.page_preamble`)."""
    leave_legacy_pages_mode()
    return Settings.from_env()


def leave_legacy_pages_mode() -> None:
    """Re-run through ``streamlit_app.py`` when Streamlit ran a page file on its own.

    Until the entry script has run once in a server process, Streamlit treats a ``pages/`` folder
    beside it as the old automatic multipage layout: a browser that opens ``/model_metrics`` first
    gets ``pages/model_metrics.py`` run bare (no ``st.navigation``, no page config). Switching that
    mode off and re-running sends the request through the entry script's navigation instead; it
    happens at most once per process.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and st.runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


log = logging.getLogger(__name__)


# The spinner is drawn by get_recognizer (it names what is loading and whether a warm-up is
# already on it); the cached function itself also runs on the warm-up thread, which has no page.
@st.cache_resource(show_spinner=False)
def _load_recognizer(settings: Settings) -> Recognizer:
    from facerec_core.recognizer import Recognizer

    return Recognizer.load(settings, require_model=False)


class _WarmUp:
    """The background load of the Recognizer started by :func:`warm_up_recognizer`, once per
    process and settings: when it started, whether it is done, and how long it took."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[Settings, float] = {}
        self.seconds: dict[Settings, float] = {}
        self.errors: dict[Settings, str] = {}


_WARM = _WarmUp()


def warm_up_recognizer(settings: Settings | None = None) -> bool:
    """Start loading the shared Recognizer on a background thread, unless that already happened
    in this process for these settings; ``True`` when this call started it.

    ``streamlit_app.py`` calls it on every run, so the first visitor of any page sets the models
    loading (torch, MTCNN, the backbone and the trained identifier: 30-70 s on a busy 2-core
    machine) while they read it, instead of the first visit to Recognize waiting behind a spinner.
    The thread fills the same ``st.cache_resource`` entry the pages read; Streamlit's per-key lock
    makes a page that asks meanwhile wait for this load instead of starting a second one.
    """
    settings = settings or Settings.from_env()
    with _WARM.lock:
        if settings in _WARM.started:
            return False
        _WARM.started[settings] = time.monotonic()

    def load() -> None:
        start = time.monotonic()
        try:
            _load_recognizer(settings)
        except FacerecError as exc:  # the page that needs the models shows the same error
            _WARM.errors[settings] = str(exc)
            log.warning("warm-up: the face models could not be loaded: %s", exc)
        except Exception:  # never let a warm-up failure reach the server's log as a traceback
            _WARM.errors[settings] = "unexpected error"
            log.exception("warm-up: loading the face models failed")
        else:
            log.info("warm-up: face models loaded in %.1f s", time.monotonic() - start)
        _WARM.seconds[settings] = time.monotonic() - start

    # Not a daemon: a process that exits mid-load (a stopped server, the end of a test run) waits
    # for it; torch torn down under a running daemon thread aborts the process
    # ("terminate called without an active exception").
    threading.Thread(target=load, name="facerec-warm-up", daemon=False).start()
    return True


def warm_up_state(settings: Settings) -> str:
    """``"idle"`` (never started), ``"loading"`` or ``"done"`` (loaded or failed)."""
    if settings not in _WARM.started:
        return "idle"
    return "done" if settings in _WARM.seconds else "loading"


def _loading_message(settings: Settings) -> str:
    what = f"the face detector (MTCNN), the {settings.backbone} embedding network and the trained identifier"
    if warm_up_state(settings) == "loading":
        waited = time.monotonic() - _WARM.started[settings]
        return (f"Loading the face models: {what}. They started loading when the dashboard was first opened "
                f"({waited:.0f} s ago); the first load after a server start takes up to a minute, later visits "
                "are instant.")
    return (f"Loading the face models: {what}. The first load after a server start takes up to a minute; "
            "later visits are instant.")


def get_recognizer(settings: Settings | None = None) -> Recognizer | None:
    """The shared Recognizer, or ``None`` after showing a clear error (e.g. weights missing).

    While the models load, a spinner says what is loading and how long it takes."""
    settings = settings or get_settings()
    try:
        if warm_up_state(settings) == "done" and settings not in _WARM.errors:
            recognizer = _load_recognizer(settings)  # loaded: no spinner flashing on every rerun
        else:
            with st.spinner(_loading_message(settings), show_time=True):
                recognizer = _load_recognizer(settings)
    except FacerecError as exc:
        st.error(f"The face models could not be loaded: {plain(exc)}")
        return None
    if recognizer.model_problem:
        st.warning(f"The trained model cannot be used, so nobody is named from it: {plain(recognizer.model_problem)}")
    return recognizer


def reload_recognizer() -> None:
    """Forget the cached Recognizer (after training a new model); the next app run warms the new
    one up again."""
    _load_recognizer.clear()
    with _WARM.lock:
        _WARM.started.clear()
        _WARM.seconds.clear()
        _WARM.errors.clear()


@st.cache_resource(show_spinner=False)
def get_landmarks() -> "Landmarks68":
    """dlib's 68-point landmark model for the liveness check, shared by every session (loaded on
    its first use, on the video thread)."""
    from facerec_core.liveness.landmarks import Landmarks68

    return Landmarks68()
