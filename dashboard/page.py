"""The top of every page: settings, title, caption and, for the pages that run the models, the
shared Recognizer.

One function so that every page starts the same way and, when the models cannot load, stops the
same way (the error from :func:`dashboard.resources.get_recognizer`, nothing drawn below it).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import streamlit as st

from dashboard.resources import get_recognizer, get_settings
from facerec_core.settings import Settings

if TYPE_CHECKING:  # for type hints only: the models (torch) are imported when first loaded
    from facerec_core.recognizer import Recognizer


@dataclasses.dataclass(frozen=True)
class PageContext:
    """What a page works with: the settings, and the Recognizer (``None`` only on a page that
    asked for none)."""

    settings: Settings
    recognizer: Recognizer | None = None


def page_preamble(title: str, caption: str | Callable[[Settings], str] | None = None, *,
                  needs_recognizer: bool = True,
                  no_model_notice: str | Callable[[Recognizer], str] | None = None) -> PageContext:
    """Draw the title and caption, load what the page needs, and return it.

    Args:
        title: the page's ``st.title``.
        caption: the line under the title, or a function of the settings when it names one of
            them (e.g. a folder); ``None`` draws none.
        needs_recognizer: load the shared Recognizer; when the models cannot load, the error is
            shown and the page stops here.
        no_model_notice: shown as an info box when the Recognizer has no trained model, or a
            function of the Recognizer when the notice depends on it (e.g. who is enrolled).
    """
    settings = get_settings()
    st.title(title)
    if caption is not None:
        st.caption(caption(settings) if callable(caption) else caption)
    if not needs_recognizer:
        return PageContext(settings)
    recognizer = get_recognizer(settings)
    if recognizer is None:
        st.stop()  # get_recognizer has said why
    if no_model_notice is not None and not recognizer.has_model:
        st.info(no_model_notice(recognizer) if callable(no_model_notice) else no_model_notice,
                icon=":material/info:")
    return PageContext(settings, recognizer)
