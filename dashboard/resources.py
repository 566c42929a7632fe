"""Process-wide resources for the dashboard, cached by Streamlit.

Models load once per process (``st.cache_resource``); every browser session shares them, which
is safe because :class:`facerec_core.recognizer.Recognizer` is thread-safe.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from dashboard.plain import plain
from facerec_core.errors import FacerecError
from facerec_core.settings import Settings

if TYPE_CHECKING:  # for type hints only: the models (torch) are imported when first loaded
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


@st.cache_resource(show_spinner="Loading the face models…")
def _load_recognizer(settings: Settings) -> Recognizer:
    from facerec_core.recognizer import Recognizer

    return Recognizer.load(settings, require_model=False)


def get_recognizer(settings: Settings | None = None) -> Recognizer | None:
    """The shared Recognizer, or ``None`` after showing a clear error (e.g. weights missing)."""
    try:
        recognizer = _load_recognizer(settings or get_settings())
    except FacerecError as exc:
        st.error(f"The face models could not be loaded: {plain(exc)}")
        return None
    if recognizer.model_problem:
        st.warning(f"The trained model cannot be used, so nobody is named from it: {plain(recognizer.model_problem)}")
    return recognizer


def reload_recognizer() -> None:
    """Forget the cached Recognizer (after training a new model)."""
    _load_recognizer.clear()
