"""The top of every page: settings, sign-in, the page's guard, title, caption and, for the pages
that run the models, the shared Recognizer.

One function so that every page starts the same way: the session is resumed (or the sign-in form
drawn), the page's :class:`~facerec_core.access.Action` is checked by the core's guard
(:func:`facerec_core.access.require`; "not allowed" and nothing else when the role is too low),
and, when the models cannot load, the page stops the same way (the error from
:func:`dashboard.resources.get_recognizer`, nothing drawn below it).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Callable

import streamlit as st

from dashboard.auth import Access, get_access, guard_page, require_sign_in
from dashboard.resources import get_recognizer, get_settings
from facerec_core.access import Action, Principal
from facerec_core.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # for type hints only: the models (torch) are imported when first loaded
    from facerec_core.recognizer import Recognizer


@dataclasses.dataclass(frozen=True)
class PageContext:
    """What a page works with: the settings, who is signed in, the access services (accounts and
    the audit trail), and the Recognizer (``None`` only on a page that asked for none)."""

    settings: Settings
    principal: Principal
    access: Access
    recognizer: Recognizer | None = None


def page_preamble(title: str, caption: str | Callable[[Settings], str] | None = None, *, action: Action,
                  page: str | None = None, needs_recognizer: bool = True,
                  no_model_notice: str | Callable[[Recognizer], str] | None = None) -> PageContext:
    """Sign the session in, check the page's action, draw the title and caption, load what the page
    needs, and return it.

    Args:
        title: the page's ``st.title``.
        caption: the line under the title, or a function of the settings when it names one of
            them (e.g. a folder); ``None`` draws none.
        action: what opening the page is (e.g. ``Action.VIEW_GALLERY``); a principal whose role
            may not do it is told "not allowed" and the page stops.
        page: the page's name in that message and the audit trail (the title unless given).
        needs_recognizer: load the shared Recognizer; when the models cannot load, the error is
            shown and the page stops here.
        no_model_notice: shown as an info box when the Recognizer has no trained model, or a
            function of the Recognizer when the notice depends on it (e.g. who is enrolled).
    """
    settings = get_settings()
    access = get_access(settings)
    if access is None:
        st.stop()
    principal = require_sign_in(settings, access)
    st.title(title)
    guard_page(page or title, action, principal, access)
    if caption is not None:
        st.caption(caption(settings) if callable(caption) else caption)
    if not needs_recognizer:
        return PageContext(settings, principal, access)
    recognizer = get_recognizer(settings)
    if recognizer is None:
        st.stop()  # get_recognizer has said why
    if no_model_notice is not None and not recognizer.has_model:
        st.info(no_model_notice(recognizer) if callable(no_model_notice) else no_model_notice,
                icon=":material/info:")
    return PageContext(settings, principal, access, recognizer)


def enrolled_people(recognizer: Recognizer) -> int:
    """How many people the enrolled gallery (if any) can name besides the trained model."""
    try:
        gallery = recognizer.gallery
        return 0 if gallery is None else len(gallery.people or [])
    except Exception:  # an unreadable gallery is reported on the Gallery page, not here
        log.warning("could not count the enrolled people", exc_info=True)
        return 0
