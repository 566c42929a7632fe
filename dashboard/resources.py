"""Process-wide resources for the dashboard, cached by Streamlit.

Models load once per process (``st.cache_resource``); every browser session shares them, which
is safe because :class:`facerec_core.recognizer.Recognizer` is thread-safe.
"""
from __future__ import annotations

import streamlit as st

from facerec_core.errors import FacerecError
from facerec_core.settings import Settings


def get_settings() -> Settings:
    """Settings from the environment (FACEREC_*)."""
    return Settings.from_env()


@st.cache_resource(show_spinner="Loading the face models…")
def _load_recognizer(settings: Settings):
    from facerec_core.recognizer import Recognizer

    return Recognizer.load(settings, require_model=False)


def get_recognizer(settings: Settings | None = None):
    """The shared Recognizer, or ``None`` after showing a clear error (e.g. weights missing)."""
    try:
        return _load_recognizer(settings or get_settings())
    except FacerecError as exc:
        st.error(f"The face models could not be loaded: {exc}")
        return None


def reload_recognizer() -> None:
    """Forget the cached Recognizer (after training a new model)."""
    _load_recognizer.clear()
