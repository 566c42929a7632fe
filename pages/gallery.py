"""Gallery: enroll your own people from photos or webcam snapshots; they are recognized at once.

Also manages them, exports/imports the gallery and folds it into the model ("retrain").
Everything that touches data goes through :mod:`facerec_core.gallery`, and every change through
:class:`facerec_core.access.GuardedGallery` (the core's guard and audit trail, with the principal
signed in at the moment of the click); this page only lays out
widgets and keeps per-session state (collected snapshots, the checked enrollment awaiting
confirmation, pending confirmations, the open panels, messages).
The store is one per process (``st.cache_resource``), shared by every session: it is thread-safe,
and the Recognizer's gallery identifier sees every change at its next search.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

import streamlit as st

from dashboard.auth import TOKEN_KEY, get_access, principal_now
from dashboard.page import page_preamble
from dashboard.plain import plain
from dashboard.training_job import TrainingJob, after_training, get_training_job
from facerec_core.access import Action, Principal
from facerec_core.access.guarded import GuardedGallery, authorize_training
from facerec_core.errors import FacerecError, NotAllowedError, SessionExpiredError
from facerec_core.gallery import (EnrollmentPlan, EnrollmentReport, GalleryStore, Person, PhotoCheck, Sample,
                                  check_photos, gallery_path, thumbnail_problem)
from facerec_core.gallery.checks import MAX_NAME_LENGTH, MAX_NOTES_LENGTH
from facerec_core.images import SUPPORTED_UPLOAD_TYPES
from facerec_core.recognizer import Recognizer
from facerec_core.settings import Settings
from facerec_core.training import TrainConfig

NEW_PERSON = "New person…"
WHERE = "Gallery page"
MAX_PEOPLE_SHOWN = 50
MAX_PROBLEMS_SHOWN = 10
_FLASH = "gallery_flash"
_NONCE = "gallery_nonce"
_SNAPSHOTS = "gallery_snapshots"
_CONFIRM = "gallery_confirm_delete"
_REPORT = "gallery_last_report"
_SELECT = "gallery_select_next"
_PLAN = "gallery_plan"
_OPEN = "gallery_open_panels"
DET_SCORE_HELP = ("Detection score: how sure the face detector is that this is a face, from 0 to 1 "
                  "(a photo is enrolled from 0.95).")

log = logging.getLogger(__name__)


def plain_file(name: str) -> str:
    """:func:`~dashboard.plain.plain` for a file name, with its dots left readable: ``plain`` puts
    everything on one line, and a dot is Markdown only in a list marker at the start of a line
    ("1."), which stays escaped."""
    escaped = plain(name)
    marker = re.match(r"\d+\\\.", escaped)
    head = marker.group(0) if marker else ""
    return head + escaped[len(head):].replace("\\.", ".")


# ---- calls into facerec_core.gallery ----------------------------------------------------------
# Opening the store, enrolling, the callbacks that change the store and the retrain job are all
# here, so that a change of the gallery library's API is made in one place. The sections below
# only read through the store: people() and samples(); every change goes through guarded(store).


@st.cache_resource(show_spinner=False)
def _open_gallery(path: str) -> GalleryStore:
    return GalleryStore(path)


def get_gallery(settings: Settings) -> GalleryStore | None:
    """The shared gallery store of ``settings``, or ``None`` after showing why it cannot open."""
    try:
        return _open_gallery(str(gallery_path(settings)))
    except FacerecError as exc:
        st.error(f"The gallery could not be opened: {plain(exc)}")
        return None


@st.cache_data(show_spinner=False, max_entries=8)
def _problems(_store: GalleryStore, path: str, generation: int) -> list[str]:
    """The store's quick health check, run again only when the store changes."""
    return _store.check(quick=True)


def check_enrollment(store: GalleryStore, recognizer: Recognizer, name: str, photos: list[tuple[str, bytes]],
                     notes: str | None = None) -> EnrollmentPlan:
    """Detect and embed ``(label, bytes)`` photos (what the page collects) for ``name`` and compare
    each face with the Recognizer's trained model and gallery; nothing is stored yet."""
    return check_photos(store, recognizer, name, photos, notes=notes or None)


def guarded(store: GalleryStore) -> GuardedGallery:
    """The store behind the core's guard, for the principal signed in now (a callback runs before
    the page, so a principal from an earlier run is never used)."""
    principal, access = principal_now(Settings.from_env())
    if principal is None or access is None:
        raise SessionExpiredError("you are not signed in any more: sign in again")
    return GuardedGallery(store, principal, access.audit, where=WHERE)


def _message(exc: FacerecError) -> str:
    """A refusal as Markdown: the core's message as plain text, "not allowed" first when it is one."""
    return f"not allowed: {plain(exc)}" if isinstance(exc, NotAllowedError) else plain(exc)


def store_enrollment(store: GalleryStore, plan: EnrollmentPlan) -> EnrollmentReport:
    """Store what the person confirmed: exactly the faces of ``plan`` (ENROLL, audited)."""
    return guarded(store).store_plan(plan)


def _keep_open(person_id: int) -> None:
    """The panel of a person just edited stays open: its label (name, sample count) changes, and
    Streamlit draws an expander with a new label as a new, collapsed one."""
    st.session_state.setdefault(_OPEN, set()).add(person_id)


def _panel_toggled(key: str, person_id: int) -> None:
    opened = st.session_state.setdefault(_OPEN, set())
    if st.session_state.get(key):
        opened.add(person_id)
    else:
        opened.discard(person_id)


def _delete_sample(store: GalleryStore, person_id: int, sample_id: int, source: str) -> None:
    _keep_open(person_id)
    try:
        guarded(store).delete_sample(sample_id)
        flash("success", f"Deleted the sample {plain_file(source)}.")
    except FacerecError as exc:
        flash("error", _message(exc))


def _rename(store: GalleryStore, person_id: int, key: str) -> None:
    _keep_open(person_id)
    try:
        person = guarded(store).rename_person(person_id, st.session_state.get(key, ""))
        flash("success", f"Renamed to {plain(person.name)}.")
    except FacerecError as exc:
        flash("error", _message(exc))


def _save_notes(store: GalleryStore, person_id: int, key: str) -> None:
    _keep_open(person_id)
    try:
        guarded(store).set_notes(person_id, st.session_state.get(key, ""))
        flash("success", "Notes saved.")
    except FacerecError as exc:
        flash("error", _message(exc))


def _delete_person(store: GalleryStore, person_id: int, name: str) -> None:
    st.session_state.pop(_CONFIRM, None)
    st.session_state.setdefault(_OPEN, set()).discard(person_id)
    try:
        removed = guarded(store).delete_person(person_id)
        flash("success", f"Forgot {plain(name)} and {removed} sample(s).")
    except FacerecError as exc:
        flash("error", _message(exc))


def _import(store: GalleryStore, backbone: str, key: str) -> None:
    upload = st.session_state.get(key)
    if upload is None:
        flash("warning", "Choose a gallery export (.json) first.")
        return
    try:
        r = guarded(store).import_data(upload.getvalue(), backbone)
        flash("success", f"Imported {r.people_added} new people and merged {r.people_merged}: "
                         f"{r.samples_added} samples added, {r.samples_skipped} skipped.")
    except FacerecError as exc:
        flash("error", f"Import refused: {_message(exc)}")


def _export(store: GalleryStore, backbone: str, token: object) -> bytes:
    """The export, made when Download is pressed (EXPORT, audited; the session's token is resumed
    then, so a role changed or a session ended since the page was drawn applies). A refused export
    (not allowed, or a gallery too large for one file) downloads as a small JSON document saying
    why, rather than a server traceback and Streamlit's "Failed to generate file"; importing it is
    refused as "not a gallery export"."""
    try:
        services = get_access(Settings.from_env())
        if services is None or not isinstance(token, str):
            raise SessionExpiredError("you are not signed in any more: sign in again")
        principal: Principal = services.accounts.resume(token)
        return GuardedGallery(store, principal, services.audit, where=WHERE).export_bytes(backbone)
    except FacerecError as exc:
        log.warning("gallery page: export refused: %s", exc)
        return json.dumps({"error": f"the gallery was not exported: {exc}"}, indent=1).encode("utf-8")


@st.cache_resource(show_spinner=False)
def get_retrain_job() -> TrainingJob:
    """The process-wide "retrain with the gallery" job (training.retrain in the training process; it
    saves a version that the Home page deploys when asked)."""
    return TrainingJob(kind="retrain", on_success=after_training)


# ---- per-session state ------------------------------------------------------------------------
def flash(kind: str, message: str) -> None:
    """Queue a message to show at the top of the next run (callbacks cannot draw). ``message`` is
    Markdown: user-supplied parts of it must have gone through :func:`plain`."""
    st.session_state.setdefault(_FLASH, []).append((kind, message))


def show_flashes() -> None:
    for kind, message in st.session_state.pop(_FLASH, []):
        getattr(st, kind)(message)


def _nonce() -> int:
    """Part of the upload widgets' keys: bumping it empties them after an enrollment."""
    return st.session_state.setdefault(_NONCE, 0)


def _set_state(key: str, value: Any) -> None:
    st.session_state[key] = value


def _ask_delete(person_id: int) -> None:
    _keep_open(person_id)
    st.session_state[_CONFIRM] = person_id


def _fingerprint(name: str, notes: str | None, photos: list[tuple[str, bytes]]) -> str:
    """What a check was made of: a check is shown (and can be stored) only while the name, notes
    and photos are still those it checked."""
    h = hashlib.sha256(f"{name}\0{notes or ''}".encode("utf-8", "surrogatepass"))
    for label, data in photos:
        h.update(b"\0" + label.encode("utf-8", "surrogatepass") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


# ---- sections ---------------------------------------------------------------------------------
def show_report(report: EnrollmentReport) -> None:
    """One line per photo, then the total."""
    for o in report.outcomes:
        if o.status == "added":
            st.success(f"**{plain_file(o.source)}**: added", icon=":material/check_circle:")
        elif o.status == "duplicate":
            st.info(f"**{plain_file(o.source)}**: skipped, {plain(o.reason)}", icon=":material/content_copy:")
        else:
            st.error(f"**{plain_file(o.source)}**: refused. {plain(o.reason)}", icon=":material/block:")
    if report.added:
        st.success(f"{plain(report.summary())}. {plain(report.name)} is recognized from now on.",
                   icon=":material/how_to_reg:")
    elif report.person is None:
        st.warning(f"Nothing was stored for {plain(report.name)}: every photo was refused.", icon=":material/warning:")


def enroll_section(store: GalleryStore, recognizer: Recognizer, settings: Settings) -> None:
    """Pick or name a person, add photos and/or webcam snapshots, press Check; then see the faces
    found and any look-alike, and Store or Cancel."""
    st.subheader("Enroll")
    people = store.people(backbone=recognizer.backbone.name)
    select = st.session_state.pop(_SELECT, None)
    if select is not None:  # after an enrollment: that person, and an empty "new person" form
        st.session_state["gallery_person"] = select
        st.session_state.pop("gallery_new_name", None)
        st.session_state.pop("gallery_new_notes", None)
    choice = st.selectbox("Person", [NEW_PERSON] + [p.name for p in people], key="gallery_person",
                          help="Choose someone already enrolled to add photos of them.")
    notes = None
    if choice == NEW_PERSON:
        cols = st.columns(2)
        name = cols[0].text_input("Name", key="gallery_new_name", max_chars=MAX_NAME_LENGTH)
        notes = cols[1].text_input("Notes (optional)", key="gallery_new_notes", max_chars=MAX_NOTES_LENGTH)
    else:
        name = choice
    st.caption("Each photo must show exactly one face, large (at least 40 px) and sharp. Three to five photos "
               "with different light and angles work best. You see the face found in each and confirm before "
               "anything is stored; only the face's embedding and a small thumbnail are kept.")
    uploads = st.file_uploader("Photos", type=list(SUPPORTED_UPLOAD_TYPES), accept_multiple_files=True,
                               key=f"gallery_uploads_{_nonce()}")
    photos = [(f.name, f.getvalue()) for f in uploads or []]
    snapshots: dict[str, bytes] = st.session_state.setdefault(_SNAPSHOTS, {})
    if st.toggle("Take snapshots with the camera", key="gallery_camera"):
        shot = st.camera_input("Snapshot (take several: each one is collected)", key=f"gallery_snapshot_{_nonce()}")
        if shot is not None and shot.file_id not in snapshots:
            snapshots[shot.file_id] = shot.getvalue()
        if snapshots:
            cols = st.columns([3, 1])
            cols[0].caption(f"{len(snapshots)} snapshot(s) collected.")
            if cols[1].button("Clear snapshots", key="gallery_clear_snapshots"):
                snapshots.clear()
                st.rerun()
    photos += [(f"snapshot {i + 1}.jpg", data) for i, data in enumerate(snapshots.values())]
    fingerprint = _fingerprint(name, notes, photos)
    checked = st.session_state.get(_PLAN)
    if checked is not None and checked[0] != fingerprint:  # the name or the photos changed since
        st.session_state.pop(_PLAN, None)
        checked = None
    if checked is None:
        n = len(photos)
        if st.button(f"Check {n} photo{'s' if n != 1 else ''}", type="primary", key="gallery_enroll",
                     disabled=not photos, icon=":material/person_search:",
                     help="Finds the face in each photo and compares it with everyone known; you confirm "
                          "before anything is stored."):
            try:
                with st.spinner("Checking the photos…"):
                    plan = check_enrollment(store, recognizer, name, photos, notes)
            except FacerecError as exc:
                st.error(plain(exc))
                return
            st.session_state[_PLAN] = (fingerprint, plan)
            st.rerun()
    else:
        confirm_section(store, checked[1], snapshots)
    report = st.session_state.pop(_REPORT, None)
    if report is not None:
        show_report(report)


def show_photo_check(photo: PhotoCheck) -> None:
    """One checked photo: its name, every face found (numbered, the one to store marked, the
    others saying why not) with its detection score, and why the photo is refused if it is."""
    if photo.sample is not None:
        st.markdown(f"**{plain_file(photo.source)}**: this face will be stored")
    else:
        st.error(f"**{plain_file(photo.source)}**: refused. {plain(photo.reason)}", icon=":material/block:")
    if not photo.faces:
        return
    cols = st.columns(6)
    for i, face in enumerate(photo.faces):
        with cols[i % 6]:
            st.image(face.thumbnail, width=96)
            what = "stored" if face.used else plain(face.note)
            st.caption(f"face {face.number} of {photo.face_count}: {what}; detection score {face.det_score:.2f}; "
                       f"{face.size:.0f} px", help=DET_SCORE_HELP)
    if photo.face_count > len(photo.faces):
        st.caption(f"and {photo.face_count - len(photo.faces)} more faces, not shown")


def confirm_section(store: GalleryStore, plan: EnrollmentPlan, snapshots: dict[str, bytes]) -> None:
    """The faces found and what they resemble; Store (anyway) or Cancel."""
    who = plain(plan.name)
    with st.container(border=True):
        if plan.existing is None:
            st.markdown(f"**Check before storing: {who}**, a new person")
        else:
            st.markdown(f"**Check before storing: new photos of {who}** "
                        f"(enrolled, {plan.existing.samples} sample{'s' if plan.existing.samples != 1 else ''})")
        for photo in plan.photos:
            show_photo_check(photo)
        for photo, alike in plan.warnings:
            st.warning(f"**{plain_file(photo.source)}** {plain(alike.message())}", icon=":material/group:")
        for photo in plan.unlike:
            r = photo.resemblance
            st.warning(f"**{plain_file(photo.source)}** does not look like {who} (similarity {r.own_score:.3f} < "
                       f"threshold {r.threshold:.3f}): a photo of someone else, or of them in very different light or "
                       "pose?", icon=":material/person_alert:")
        good = len(plan.samples)
        if not good:
            st.warning(f"Nothing can be stored for {who}: every photo was refused. Change the photos and check "
                       "again.", icon=":material/warning:")
        doubtful = bool(plan.warnings or plan.unlike)
        faces = f"{good} face{'s' if good != 1 else ''}"
        left, right = st.columns(2)
        store_clicked = left.button(f"Store anyway ({faces})" if doubtful else f"Store {faces} as {who}",
                                    key="gallery_store", type="primary", disabled=not good,
                                    icon=":material/person_add:")
        if right.button("Cancel", key="gallery_cancel_enroll", icon=":material/close:"):
            st.session_state.pop(_PLAN, None)
            st.rerun()
    if store_clicked:
        st.session_state.pop(_PLAN, None)
        try:
            report = store_enrollment(store, plan)
        except FacerecError as exc:
            st.error(_message(exc))
            return
        st.session_state[_REPORT] = report
        if report.added or report.duplicates:  # start fresh; keep refused uploads so they can be fixed
            st.session_state[_NONCE] = _nonce() + 1
            snapshots.clear()
            if report.person is not None:
                st.session_state[_SELECT] = report.person.name
        st.rerun()


def show_thumbnail(sample: Sample) -> None:
    """The sample's face, or a placeholder when the stored bytes are not a JPEG/PNG that decodes
    (an older import could store anything): one bad row never stops the page."""
    if not sample.thumbnail:
        return
    if thumbnail_problem(sample.thumbnail) is None:
        try:
            st.image(sample.thumbnail, width=96)
            return
        except Exception as exc:  # whatever the image library raises for it, the page goes on
            log.warning("gallery page: sample %d's thumbnail cannot be drawn (%s)", sample.id, type(exc).__name__)
    st.caption(":material/broken_image: thumbnail cannot be shown")


def person_panel(store: GalleryStore, person: Person, backbone: str) -> None:
    """Samples (thumbnails, delete), rename, notes and delete-with-confirmation for one person.

    The expander's open state is kept in the session (:data:`_OPEN`): renaming or deleting a
    sample changes its label, and without it the panel being edited would close."""
    key = f"gallery_panel_{person.id}"
    st.session_state[key] = person.id in st.session_state.setdefault(_OPEN, set())
    label = f"**{plain(person.name)}** · {person.samples} sample{'s' if person.samples != 1 else ''}"
    with st.expander(label, key=key, on_change=_panel_toggled, args=(key, person.id)):
        samples = store.samples(person.id)
        if not samples:
            st.caption("No samples: this person cannot be recognized. Add photos in Enroll above.")
        else:
            st.caption(DET_SCORE_HELP)
        cols = st.columns(6)
        for i, sample in enumerate(samples):
            with cols[i % 6]:
                show_thumbnail(sample)
                other = "" if sample.backbone == backbone else f" (backbone {plain(sample.backbone)}, not searched)"
                st.caption(f"{plain_file(sample.source)}{other} · detection score {sample.det_score:.2f}",
                           help=DET_SCORE_HELP)
                st.button("Delete", key=f"gallery_del_sample_{sample.id}", on_click=_delete_sample,
                          args=(store, person.id, sample.id, sample.source), icon=":material/delete:",
                          type="tertiary")
        left, right = st.columns(2)
        rename_key = f"gallery_rename_{person.id}"
        left.text_input("Name", value=person.name, key=rename_key, max_chars=MAX_NAME_LENGTH)
        left.button("Rename", key=f"gallery_rename_btn_{person.id}", on_click=_rename,
                    args=(store, person.id, rename_key))
        notes_key = f"gallery_notes_{person.id}"
        right.text_input("Notes", value=person.notes, key=notes_key, max_chars=MAX_NOTES_LENGTH)
        right.button("Save notes", key=f"gallery_notes_btn_{person.id}", on_click=_save_notes,
                     args=(store, person.id, notes_key))
        if st.session_state.get(_CONFIRM) == person.id:
            st.warning(f"Delete **{plain(person.name)}** and all {person.samples} samples? This cannot be undone.")
            yes, no = st.columns(2)
            yes.button("Yes, delete", key=f"gallery_confirm_{person.id}", type="primary",
                       on_click=_delete_person, args=(store, person.id, person.name))
            no.button("Cancel", key=f"gallery_cancel_{person.id}", on_click=_set_state, args=(_CONFIRM, None))
        else:
            st.button(f"Delete {plain(person.name)}…", key=f"gallery_delete_{person.id}", on_click=_ask_delete,
                      args=(person.id,), icon=":material/person_remove:")


def health_section(store: GalleryStore) -> None:
    """What the store's health check found (damaged or refused rows, look-alike names), if anything."""
    problems = _problems(store, str(store.path), store.generation())
    if problems:
        lines = [f"- {plain(p)}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        if len(problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"- and {len(problems) - MAX_PROBLEMS_SHOWN} more (GalleryStore.check() lists them all)")
        st.warning("The gallery needs attention:\n\n" + "\n".join(lines), icon=":material/healing:")


def people_section(store: GalleryStore, backbone: str) -> None:
    """Everyone enrolled, filterable, with a panel each."""
    people = store.people()
    st.subheader(f"People ({len(people)})")
    if not people:
        st.info("Nobody is enrolled yet.", icon=":material/group:")
        return
    query = st.text_input("Filter by name", key="gallery_filter").strip().casefold() if len(people) > 10 else ""
    shown = [p for p in people if query in p.name.casefold()]
    for person in shown[:MAX_PEOPLE_SHOWN]:
        person_panel(store, person, backbone)
    if len(shown) > MAX_PEOPLE_SHOWN:
        st.caption(f"{len(shown) - MAX_PEOPLE_SHOWN} more: narrow the filter.")


def export_import_section(store: GalleryStore, backbone: str) -> None:
    """Download the gallery as JSON; merge an export from another installation."""
    st.subheader("Export / import")
    st.caption(f"The export holds every {backbone} embedding and thumbnail: it is biometric data, keep it private. "
               "It can only be imported with the same backbone.")
    left, right = st.columns(2)
    empty = not store.people()
    token = st.session_state.get(TOKEN_KEY)
    left.download_button("Export gallery (JSON)", data=lambda: _export(store, backbone, token),
                         file_name=f"gallery-{backbone}.json", mime="application/json", key="gallery_export",
                         icon=":material/download:", on_click="ignore", disabled=empty,
                         help="Nothing to export: nobody is enrolled yet." if empty else None)
    if empty:
        left.caption("Nothing to export: nobody is enrolled yet.")
    key = "gallery_import_file"
    upload = right.file_uploader("Gallery export to import", type=["json"], key=key)
    right.button("Import", key="gallery_import", on_click=_import, args=(store, backbone, key),
                 icon=":material/upload:", disabled=upload is None,
                 help="Choose a gallery export (.json) above first." if upload is None else None)


def retrain_section(settings: Settings) -> None:
    """Fold the gallery into the SVM by training again on LFW plus every enrolled sample."""
    with st.expander("Retrain the model with the gallery"):
        st.caption("Enrolled people are recognized without this. Retraining adds their samples to the LFW "
                   "training data of the deployed SVM; it takes as long as training on the Home page.")
        if settings.lfw_dir is None:
            st.info("Set FACEREC_LFW_DIR to the LFW folder to retrain.")
            return
        job = get_retrain_job()
        status = job.status()
        busy = status.active or get_training_job().status().active
        if st.button("Retrain now", key="gallery_retrain", disabled=busy, icon=":material/model_training:"):
            principal, access = principal_now(settings)
            try:  # RETRAIN, checked and audited by the core when pressed
                if principal is None or access is None:
                    raise SessionExpiredError("you are not signed in any more: sign in again")
                authorize_training(principal, access.audit, kind="retrain", where=WHERE)
            except FacerecError as exc:
                st.error(f"not allowed: {plain(exc)}")
                return
            job.start(settings, TrainConfig(identifier="svm"))
            st.rerun()
        if status.active:
            stage = status.current
            st.progress(status.overall, text=f"{plain(stage.name) if stage else 'starting'} ({status.elapsed:.0f} s)")
            st.button("Refresh", key="gallery_retrain_refresh")
        elif status.error:
            st.error(f"Retraining stopped: {plain(status.error)}")
        elif status.report:
            g = status.report.get("gallery", {})
            saved = "" if not status.version or status.deployed else \
                f" Saved as version {plain(status.version)}, not deployed yet: compare and deploy it on the Home page."
            st.success(f"Retrained with {g.get('people', 0)} enrolled people ({g.get('samples', 0)} samples).{saved}")


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Gallery",
    lambda settings: "People enrolled here are named on the Recognize and Live Webcam pages from the moment they "
                     "are added, next to the people the trained model knows. The gallery lives in "
                     f"{plain(settings.data_dir)} and survives restarts.",
    action=Action.VIEW_GALLERY)
settings, recognizer = page.settings, page.recognizer
store = get_gallery(settings)
if store is None:
    st.stop()

show_flashes()
backbone = recognizer.backbone.name
how = "the trained model's calibrated threshold" if recognizer.has_model else "no trained model yet"
st.caption(f"Backbone {backbone}. A face is named when its similarity to a person's closest sample reaches "
           f"{recognizer.threshold:.3f} ({how}); everyone else is *unknown*.")
health_section(store)
enroll_section(store, recognizer, settings)
st.divider()
people_section(store, backbone)
st.divider()
export_import_section(store, backbone)
retrain_section(settings)
