"""Correcting a decision — "not this person", "this is NAME" — from any page that shows one
(History, Recognize): the core's :class:`~facerec_core.history.corrections.CorrectionBook`, guarded
by ``correct_decisions`` and audited."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from dashboard.auth import check, may
from dashboard.page import PageContext
from dashboard.plain import plain
from facerec_core.access import REQUIRED_ROLE, Action
from facerec_core.errors import FacerecError
from facerec_core.faces import UNKNOWN, display_name
from facerec_core.history.corrections import CorrectionBook
from facerec_core.history.store import SightingStore


def correction_controls(page: PageContext, store: SightingStore, sighting_id: int, answer: str, names: list[str], *,
                        where: str, key: str) -> None:
    """"Not NAME" (when the sighting was named) and "This is …" for one sighting; disabled, saying
    which role it needs, for those who may not."""
    allowed = may(page.principal, Action.CORRECT_DECISIONS)
    if not allowed:
        st.caption(f"Correcting decisions needs the {REQUIRED_ROLE[Action.CORRECT_DECISIONS].value} role.")
    book = CorrectionBook(store)
    actor = page.principal.name
    c1, c2 = st.columns(2)
    if answer != UNKNOWN and c1.button(f"Not {display_name(answer)}", key=f"{key}_reject", disabled=not allowed,
                                       icon=":material/person_off:",
                                       help="Later faces closer to this one than to the person are not given their "
                                            "name; a few of these raise the person's own threshold."):
        if guarded_change(page, answer, where, {"sighting": int(sighting_id), "verdict": "rejected"},
                          lambda: book.reject(sighting_id, actor=actor)):
            st.success(f"Saved: sighting {sighting_id} rejected as {plain(display_name(answer))}. "
                       "Later decisions use it.")
    who = c2.selectbox("This is", names, index=None, key=f"{key}_confirm_name", disabled=not allowed,
                       format_func=display_name, accept_new_options=True, placeholder="a name")
    also_enroll = c2.checkbox("Also enroll this face in the Gallery", key=f"{key}_enroll",
                              disabled=not allowed or not may(page.principal, Action.ENROLL),
                              help="Through the gallery's gate: a face of at least 40 px and detector score 0.95.")
    if c2.button("Confirm", key=f"{key}_confirm", disabled=not allowed or not who, icon=":material/how_to_reg:"):
        if guarded_change(page, who, where, {"sighting": int(sighting_id), "verdict": "confirmed"},
                          lambda: book.confirm(sighting_id, who, actor=actor)):
            st.success(f"Saved: sighting {sighting_id} confirmed as {plain(display_name(who))}. "
                       "Later decisions use it.")
            if also_enroll:
                _enroll(page, store, sighting_id, who, where)


def _enroll(page: PageContext, store: SightingStore, sighting_id: int, name: str, where: str) -> None:
    """Enroll one confirmed sighting's face as ``name`` (guarded and audited as ``enroll``)."""
    from facerec_core.access.guarded import GuardedGallery
    from facerec_core.gallery import GalleryStore
    from facerec_core.history.visitors import sighting_sample

    try:
        sample = sighting_sample(store.get(sighting_id))
        with GalleryStore.open(page.settings) as gallery:
            GuardedGallery(gallery, page.principal, page.access.audit, where=where).add_samples(name, [sample])
    except FacerecError as exc:
        st.error(f"Not enrolled: {plain(exc)}")
        return
    st.success(f"{plain(display_name(name))} enrolled from this face.")


def guarded_change(page: PageContext, target: str, where: str, detail: dict, change: Callable[[], object]) -> bool:
    """One ``correct_decisions`` change: the core's guard, the change, then the audit trail;
    ``False`` (after saying why) when it was refused or failed."""
    refused = check(page.principal, page.access, Action.CORRECT_DECISIONS, target=target, where=where)
    if refused:
        st.error(refused)
        return False
    try:
        change()
    except FacerecError as exc:
        st.error(plain(exc))
        return False
    page.access.audit.record(page.principal, Action.CORRECT_DECISIONS.value, target=target, where=where,
                             detail=detail)
    return True
