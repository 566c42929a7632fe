"""Recognize: upload photos (or take a snapshot) and see every face boxed and named."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from dashboard.auth import may, principal_now
from dashboard.corrections import correction_controls
from dashboard.decisions import digest, record_once
from dashboard.page import PageContext, enrolled_people, page_preamble
from dashboard.plain import plain
from facerec_core.access import REQUIRED_ROLE, Action
from facerec_core.draw import annotate
from facerec_core.errors import ImageError
from facerec_core.faces import Face, display_name
from facerec_core.history import record_sightings, sighting_store
from facerec_core.images import SUPPORTED_UPLOAD_TYPES, load_image
from facerec_core.recognizer import Recognizer
from facerec_core.settings import Settings

log = logging.getLogger("pages.recognize")


def _no_model_notice(recognizer: Recognizer) -> str:
    enrolled = enrolled_people(recognizer)
    if enrolled:
        return f"No trained model yet: only the {enrolled} people enrolled in the Gallery can be named."
    return ("No trained model yet: faces are found and boxed but nobody can be named. Train a model on the "
            "Home page, or enrol people in the Gallery.")


def _recognizer_key(recognizer: Recognizer) -> str:
    """What the faces named in a photo depend on besides the call's own arguments: detection, the
    trained model, the enrolled gallery (its change counter moves with every enrollment,
    deletion, rename and import) and people's corrections (their count and newest)."""
    det = recognizer.detector
    files = (recognizer.manifest or {}).get("files") or {}
    try:
        gallery = "none" if recognizer.gallery is None else recognizer.gallery.generation
    except Exception:  # unreadable: recognize() itself searches what it last loaded
        log.warning("could not read the enrolled gallery", exc_info=True)
        gallery = "unreadable"
    corrections = None if recognizer.corrections is None else recognizer.corrections().version
    return (f"{recognizer.backbone.name}|{getattr(det, 'min_face_size', '')}|{getattr(det, 'threshold', '')}|"
            f"{sorted(files.items())}|{gallery}|{corrections}")


@st.cache_data(max_entries=64, show_spinner=False)
def _recognize(_recognizer: Recognizer, recognizer_key: str, data: bytes, name: str, threshold: float,
               min_face_size: int, top_k: int, max_pixels: int) -> list[Face]:
    # recognizer_key stands in for the unhashable recognizer in the cache key; the cache hands
    # back copies of the faces, so no run sees another's.
    return _recognizer.recognize(data, threshold=threshold, min_face_size=min_face_size, top_k=top_k, name=name,
                                 max_pixels=max_pixels)


TABLE_COLUMNS = ["face", "identity", "score", "why", "best matches", "box (x1, y1, x2, y2)", "detection score",
                 "note"]
# Photos at least this wide, or with more than two faces, are shown across the page. (A comment:
# a bare string in a page script would be drawn by Streamlit's magic.)
WIDE = 640


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclasses.dataclass
class ImageResult:
    """What one uploaded picture gave: its faces, or why there are none."""

    name: str
    image: np.ndarray | None = None
    faces: list[Face] = dataclasses.field(default_factory=list)
    error: str | None = None
    sightings: list[int | None] = dataclasses.field(default_factory=list)
    """The sighting recorded for each face (``None``: not recorded), for corrections."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def annotated(self) -> np.ndarray:
        return self.annotated_with()

    def annotated_with(self, highlight: int | None = None) -> np.ndarray:
        """The photo with every face boxed and numbered as in :meth:`table`; ``highlight`` (an index
        into ``faces``) marks one face."""
        return annotate(self.image, self.faces, numbered=True, highlight=highlight)

    @property
    def wide(self) -> bool:
        """Shown across the page: a large photo, or a group whose faces need the room."""
        return self.image is not None and (self.image.shape[1] >= WIDE or len(self.faces) > 2)

    def face_crop(self, index: int, margin: float = 0.4) -> np.ndarray:
        """Face ``index`` with some of its surroundings, cut from the photo (for a closer look)."""
        x1, y1, x2, y2 = self.faces[index].box
        pad = margin * max(x2 - x1, y2 - y1)
        h, w = self.image.shape[:2]
        top, bottom = int(max(0, y1 - pad)), int(min(h, y2 + pad))
        left, right = int(max(0, x1 - pad)), int(min(w, x2 + pad))
        return self.image[top:max(bottom, top + 1), left:max(right, left + 1)]

    def summary(self) -> str:
        """One line of Markdown for people: ``2 faces: 1 **Colin Powell** (0.83), 2 unknown`` (the
        numbers are the boxes'; names as plain text: they come from the gallery and the model)."""
        if not self.faces:
            return "No face found."
        plural = "s" if len(self.faces) != 1 else ""
        if all(face.identity is None for face in self.faces):
            return f"{len(self.faces)} face{plural} found (no trained model or enrolled people to name them)."
        parts = []
        for i, face in enumerate(self.faces, start=1):
            label = plain(display_name(face.identity))
            if face.is_known and face.confidence is not None:
                label = f"**{label}** ({face.confidence:.2f})"
            parts.append(f"{i} {label}")
        return f"{len(self.faces)} face{plural}: " + ", ".join(parts)

    def table(self) -> pd.DataFrame:
        """One row per face, numbered as the boxes are; one score (the one compared with the
        threshold, as are the best matches') and why the face was named or not."""
        rows = []
        for i, face in enumerate(self.faces, start=1):
            rows.append({
                "face": i,
                "identity": display_name(face.identity) if face.identity is not None else "(no model)",
                "score": None if face.confidence is None else round(float(face.confidence), 3),
                "why": face.reason or face.note or "",
                "best matches": ", ".join(f"{display_name(m.name)} {m.score:.3f}" for m in face.matches),
                "box (x1, y1, x2, y2)": ", ".join(f"{v:.0f}" for v in face.box),
                "detection score": round(float(face.det_score), 3),
                "note": face.note or "",
            })
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def to_json(self) -> str:
        return json.dumps([f.to_dict() for f in self.faces], indent=2)

    def annotated_png(self) -> bytes:
        return png_bytes(self.annotated)


def recognize_image(recognizer: Recognizer, name: str, data: bytes, *, threshold: float, min_face_size: int,
                    max_pixels: int, top_k: int = 3) -> ImageResult:
    """Every face in one uploaded picture, named at ``threshold``; unreadable input gives an
    :class:`ImageResult` with ``error`` set instead of an exception."""
    try:
        image = load_image(data, name=name, max_pixels=max_pixels)  # for display; refuses bad input first
        faces = _recognize(recognizer, _recognizer_key(recognizer), data, name, float(threshold), int(min_face_size),
                           int(top_k), int(max_pixels))
    except ImageError as exc:
        return ImageResult(name, error=str(exc))
    return ImageResult(name, image, faces)


def _face_option(result: ImageResult, i: int) -> str:
    if i < 0:
        return "none"
    face = result.faces[i]
    return f"{i + 1}: {display_name(face.identity) if face.identity is not None else 'face'}"


def show_result(index: int, result: ImageResult, page: PageContext | None = None) -> None:
    with st.container(border=True):
        name = plain(result.name)  # an uploaded file's name, and messages that quote it: plain text
        st.markdown(f"#### {name}")
        if not result.ok:
            st.error(f"**{name}** could not be read: {plain(result.error)}", icon=":material/broken_image:")
            return
        if not result.faces:
            st.warning(f"No face found in **{name}**. Try a lower minimum face size, or a sharper photo "
                       "in which faces are larger and face the camera.", icon=":material/face_retouching_off:")
            st.image(result.image, width=min(480, result.image.shape[1]))
            return
        # A face is picked by its number (the box's and the row's) or by selecting its row in the
        # table below; the picked face is outlined in yellow and shown enlarged.
        try:
            rows = [int(r) for r in st.session_state[f"table_{index}"]["selection"]["rows"]]
        except (KeyError, TypeError):  # no selection yet (or none this run)
            rows = []
        rows = [r for r in rows if 0 <= r < len(result.faces)]
        picked = st.selectbox("Highlight face", range(-1, len(result.faces)), key=f"highlight_{index}",
                              format_func=lambda i: _face_option(result, i),
                              help="Outline one face in yellow and show it enlarged; selecting a row of the "
                                   "table does the same.")
        highlight = rows[0] if rows else (None if picked < 0 else picked)
        image = result.annotated_with(highlight)
        width = result.image.shape[1]
        if result.wide:
            # Group and large photos across the page (the image's own button opens it full screen).
            st.image(image, width="stretch",
                     caption="Numbers on the boxes are the rows of the table. Hover the image and use its "
                             "full-screen button to zoom.")
            info = st.container()
        else:
            left, info = st.columns([2, 3])
            # Small photos (LFW is 250 px) are shown larger so the labels stay readable.
            left.image(image, width=min(WIDE, max(320, width)))
        with info:
            st.markdown(result.summary())
            if highlight is not None:
                face = result.faces[highlight]
                crop = result.face_crop(highlight)
                st.image(crop, width=min(320, max(160, crop.shape[1] * 2)),
                         caption=f"Face {highlight + 1}: {display_name(face.identity) if face.identity else 'face'}")
                st.text(f"Face {highlight + 1}: {face.reason or face.note or ''}")
                sighting = result.sightings[highlight] if highlight < len(result.sightings) else None
                if page is not None and sighting is not None and face.identity is not None:
                    correction_controls(page, sighting_store(page.settings), sighting, face.identity,
                                        page.recognizer.claimable_people, where=WHERE, key=f"correct_{index}")
            stem = result.name.rsplit(".", 1)[0]
            st.download_button("Annotated image (PNG)", result.annotated_png(), f"{stem}_faces.png", "image/png",
                               key=f"png_{index}", icon=":material/download:", on_click="ignore")
            st.download_button("Results (JSON)", result.to_json(), f"{stem}_faces.json", "application/json",
                               key=f"json_{index}", icon=":material/download:", on_click="ignore")
        st.dataframe(result.table(), hide_index=True, key=f"table_{index}", on_select="rerun",
                     selection_mode="single-row", column_config={
            "face": st.column_config.NumberColumn("face", help="The number on the face's box in the photo"),
            "score": st.column_config.NumberColumn("score", format="%.3f", help=score_help(recognizer)),
            "why": st.column_config.TextColumn("why", help="Why the face was named or not: its score against "
                                                           "the threshold, or the reason it was not identified"),
            "best matches": st.column_config.TextColumn(
                "best matches", help="The closest people, on the same scale as the score (the first is the "
                                     "person named)"),
            "detection score": st.column_config.NumberColumn("detection score", format="%.3f"),
        })


def score_help(recognizer) -> str:
    """What the score is under the rule ``recognizer`` decides with (from the core)."""
    return (f"The score compared with the threshold: {recognizer.thresholds.identify_scale}. The best matches are "
            "on the same scale.")


WHERE = "Recognize page"
SIGHTINGS_KEY = "recognize_recorded_sightings"


def audit_faces(page: PageContext, result: ImageResult, data: bytes, threshold: float, min_face_size: int) -> bool:
    """Each face named or called unknown goes into the audit trail once per session (answer and
    score, never the embedding), and into the sightings when they are recorded (once per photo and
    threshold); ``False`` when the trail could not be written."""
    photo = hashlib.sha256(data).hexdigest()
    model = _recognizer_key(page.recognizer)
    recorded: dict[str, list[int | None]] = st.session_state.setdefault(SIGHTINGS_KEY, {})
    sighting = digest("sighting", photo, model, round(float(threshold), 4), int(min_face_size))
    if sighting not in recorded:
        ids = iter(record_sightings(page.settings, "recognize", result.faces, image=result.image, place=result.name,
                                    backbone=page.recognizer.backbone.name))
        recorded[sighting] = [None if f.identity is None else next(ids, None) for f in result.faces]
    result.sightings = recorded[sighting]
    for number, face in enumerate(result.faces, start=1):
        if face.identity is None:  # no model and no gallery: nobody was named or refused
            continue
        key = digest("identify", photo, model, round(float(threshold), 4), int(min_face_size), number)
        if not record_once(page.access, page.principal, key, kind="identify", answer=face.identity,
                           score=face.confidence, where=WHERE,
                           detail={"face": number, "faces": len(result.faces), "threshold": round(float(threshold), 4),
                                   "photo_sha256": photo[:16]}):
            return False
    return True


def _threshold_changed(settings: Settings, default: float) -> None:
    """An administrator's threshold for this session goes into the audit trail."""
    principal, access = principal_now(settings)
    if principal is not None and may(principal, Action.CHANGE_THRESHOLDS):
        access.audit.record(principal, Action.CHANGE_THRESHOLDS.value, target="identify", where=WHERE,
                            detail={"threshold": st.session_state.get("recognize_threshold"),
                                    "calibrated": round(default, 4), "scope": "this session"})


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "Recognize",
    "Every face in each photo is found, boxed and named, or called *unknown* when it is not close "
    "enough to anyone the model knows.",
    action=Action.RECOGNIZE, no_model_notice=_no_model_notice)
settings, recognizer = page.settings, page.recognizer
st.caption(":material/warning: A single photo proves nothing about liveness: a photo of a photo is named like the "
           "person. To let someone in, use the **Authenticate** page (a live challenge at the camera).")
# Only a role that may change thresholds moves the slider; for the others the calibrated value
# decides, whatever the widget's state says.
may_tune = may(page.principal, Action.CHANGE_THRESHOLDS)
if not recognizer.has_model:
    st.page_link("pages/home.py", label="Go to Home to train a model", icon=":material/home:")

controls = st.columns(2)
threshold = controls[0].slider(
    "Decision threshold", min(0.0, round(recognizer.threshold, 3)), 1.0, float(round(recognizer.threshold, 3)), 0.01,
    key="recognize_threshold", disabled=not may_tune, on_change=_threshold_changed,
    args=(settings, recognizer.threshold),
    help=f"A face is named only when its score reaches this value. {score_help(recognizer)} The default, "
         f"{recognizer.threshold:.3f}, is {recognizer.thresholds.source}. Higher: fewer wrong names, more 'unknown'."
         + ("" if may_tune else f" Changing it needs the {REQUIRED_ROLE[Action.CHANGE_THRESHOLDS].value} role."))
if not may_tune:
    threshold = float(recognizer.threshold)
min_face_size = controls[1].slider(
    "Minimum face size (pixels)", 10, 200, int(settings.min_face_size), 5, key="recognize_min_face",
    help="Smaller faces are not looked for. Lower it for group photos, raise it to skip background faces.")

uploads = st.file_uploader("Photos (JPEG, PNG, WebP, BMP)", type=list(SUPPORTED_UPLOAD_TYPES),
                           accept_multiple_files=True, key="recognize_uploads")
photos = [(f.name, f.getvalue()) for f in uploads or []]
if st.toggle("Take a snapshot with the camera", key="recognize_camera"):
    snapshot = st.camera_input("Snapshot", key="recognize_snapshot")
    if snapshot is not None:
        photos.append(("snapshot.jpg", snapshot.getvalue()))

if not photos:
    st.info("Upload one or more photos to start.", icon=":material/upload:")
    st.stop()

for i, (name, data) in enumerate(photos):
    with st.spinner(f"Finding faces in {plain(name)}…"):
        result = recognize_image(recognizer, name, data, threshold=threshold, min_face_size=min_face_size,
                                 max_pixels=settings.max_image_pixels)
    if not audit_faces(page, result, data, threshold, min_face_size):
        st.stop()
    show_result(i, result, page)
