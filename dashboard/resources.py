"""Process-wide resources for the dashboard, cached by Streamlit.

Models load once per process (``st.cache_resource``); every browser session shares them, which
is safe because :class:`facerec_core.recognizer.Recognizer` is thread-safe.
"""
from __future__ import annotations

import streamlit as st

from facerec_core.errors import FacerecError
from facerec_core.settings import Settings


def get_settings() -> Settings:
    """Settings from the environment (FACEREC_*). Every page calls this first."""
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


def runtime_summary(settings: Settings) -> str:
    """Where the models run, from the device, precision and thread settings (FACEREC_DEVICE,
    FACEREC_PRECISION, FACEREC_THREADS), in one line for a caption."""
    from facerec_core.runtime import interactive_threads
    from facerec_core.settings import resolve_device, resolve_precision

    try:
        device = resolve_device(settings.device)
        precision = resolve_precision(settings.precision, device)
    except ValueError as exc:
        return f"Device settings cannot be used: {exc}"
    return (f"Runs on **{device}** (setting `{settings.device}`), embeddings in {precision}, "
            f"{interactive_threads(settings.threads)} thread(s) per request, {settings.workers} worker "
            "process(es) for bulk work. Change with FACEREC_DEVICE, FACEREC_PRECISION, FACEREC_THREADS "
            "and FACEREC_WORKERS.")


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
