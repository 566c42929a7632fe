"""History: who was seen when. The sightings recorded by Recognize, Live Webcam and ``predict``
(:mod:`facerec_core.history`), as a timeline, per-person summaries and a table with thumbnails;
filters, a CSV download, and search by photo.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import pandas as pd
import streamlit as st

from dashboard.auth import may
from dashboard.charts import sightings_timeline
from dashboard.corrections import correction_controls, guarded_change
from dashboard.page import page_preamble
from dashboard.plain import plain
from dashboard.resources import get_recognizer
from facerec_core.access import Action
from facerec_core.access.guarded import GuardedGallery
from facerec_core.backbones.specs import spec_for
from facerec_core.errors import FacerecError
from facerec_core.faces import UNKNOWN, display_name
from facerec_core.gallery import GalleryStore
from facerec_core.history import (SOURCES, Sighting, SightingQuery, search_by_face, sighting_store,
                                  sightings_csv)
from facerec_core.history.clusters import DEFAULT_RULE
from facerec_core.history.visitors import Cluster, Visitors
from facerec_core.images import SUPPORTED_UPLOAD_TYPES

WHERE = "History page"
FLASH = "history_visitors_done"
ANYONE = "anyone"
SHOWN = 5000  # sightings drawn at most (newest first); the summary and the CSV count them all


def when(stamp: str) -> str:
    """A stored time as people read it: ``2026-12-06 19:39``."""
    return plain(stamp[:16].replace("T", " "))


def thumbnail_uri(sighting: Sighting) -> str | None:
    return None if not sighting.thumbnail else "data:image/jpeg;base64," + base64.b64encode(sighting.thumbnail).decode()


def sightings_frame(sightings: list[Sighting], cosines: list[float] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({
        "face": [thumbnail_uri(s) for s in sightings],
        "time": pd.to_datetime([s.time for s in sightings], utc=True),
        "who": [UNKNOWN if s.answer == UNKNOWN else display_name(s.answer) for s in sightings],
        "score": [s.score for s in sightings],
        "runner-up": [display_name(s.runner_up) if s.runner_up else "" for s in sightings],
        "source": [s.source for s in sightings],
        "where": [s.place for s in sightings],
        "track": [s.track for s in sightings],
    })
    if cosines is not None:
        frame.insert(3, "similarity", cosines)
    return frame


def show_table(frame: pd.DataFrame, key: str, *, selectable: bool = False):
    """The sightings with their thumbnails; with ``selectable``, one row can be picked (returns the
    selection event)."""
    return st.dataframe(frame, hide_index=True, width="stretch", key=key, row_height=56,
                        on_select="rerun" if selectable else "ignore",
                        selection_mode="single-row", column_config={
        "face": st.column_config.ImageColumn("face", width="small"),
        "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "score": st.column_config.NumberColumn("score", format="%.3f"),
        "similarity": st.column_config.NumberColumn("similarity", format="%.3f",
                                                    help="Cosine between the photo's face and this sighting's"),
    })


def visitors_section(page, store, backbone: str) -> None:
    """The unknown faces, clustered: name (enroll), merge, split, move faces out."""
    st.subheader("Frequent visitors")
    if FLASH in st.session_state:  # what the last edit did, said after the rerun that shows it
        st.success(st.session_state.pop(FLASH), icon=":material/check:")
    st.caption("Unknown faces grouped one person per cluster (agglomerative, average cosine distance ≤ "
               f"{DEFAULT_RULE.threshold}: on LFW 99.3 % homogeneous). Name a cluster to enroll them.")
    visitors = Visitors(store, backbone)
    newest = store.count(SightingQuery(person=UNKNOWN))
    if st.session_state.get("history_clustered") != newest or st.button("Cluster again", key="history_recluster"):
        with st.spinner("Grouping the unknown faces…"):
            visitors.refresh()
        st.session_state["history_clustered"] = newest
    clusters = visitors.clusters()
    if not clusters:
        st.info("No unknown face was seen twice yet.", icon=":material/groups:")
        return
    may_edit = may(page.principal, Action.CORRECT_DECISIONS)
    may_enroll = may(page.principal, Action.ENROLL)
    for cluster in clusters[:12]:
        with st.container(border=True, key=f"visitor_{cluster.number}"):
            st.markdown(f"**Visitor {cluster.number}** · {len(cluster)} sightings · first seen "
                        f"{when(cluster.first_seen)} · last seen {when(cluster.last_seen)} (UTC)")
            shown = [s.thumbnail for s in cluster.sightings[:8] if s.thumbnail]
            if shown:
                st.image(shown, width=64)
            if not (may_edit or may_enroll):
                continue
            with st.expander("Name, merge, split"):
                edit_cluster(page, visitors, cluster, clusters, may_edit, may_enroll)


def edit_cluster(page, visitors: Visitors, cluster: Cluster, clusters: list[Cluster], may_edit: bool,
                 may_enroll: bool) -> None:
    key = f"visitor_{cluster.number}"
    name = st.text_input("Name", key=f"{key}_name", disabled=not may_enroll, max_chars=100)
    if st.button("Enroll as this person", key=f"{key}_enroll", disabled=not may_enroll or not name.strip()):
        try:
            with GalleryStore.open(page.settings) as gallery:
                guarded = GuardedGallery(gallery, page.principal, page.access.audit, where=WHERE)
                used = visitors.name(cluster, name.strip(), guarded)
        except FacerecError as exc:
            st.error(plain(exc))
        else:
            st.session_state[FLASH] = f"{plain(name.strip())} enrolled from {len(used)} faces; the next photo of them is named."
            st.session_state.pop("history_clustered", None)
            st.rerun()
        return
    others = [c.number for c in clusters if c.number != cluster.number]
    into = st.multiselect("Merge with", others, key=f"{key}_merge", disabled=not may_edit,
                          format_func=lambda n: f"Visitor {n}")
    if st.button("Merge", key=f"{key}_merge_go", disabled=not may_edit or not into):
        edit(page, cluster, "merge", lambda: visitors.merge([cluster.number, *into]))
    faces = st.multiselect("Faces", [s.id for s in cluster.sightings], key=f"{key}_faces", disabled=not may_edit,
                           format_func=lambda i: f"sighting {i}")
    c1, c2 = st.columns(2)
    if c1.button("Split these off", key=f"{key}_split", disabled=not may_edit or not faces):
        edit(page, cluster, "split", lambda: visitors.split(faces))
    if c2.button("Take them out", key=f"{key}_out", disabled=not may_edit or not faces):
        edit(page, cluster, "move out", lambda: visitors.move_out(faces))


def edit(page, cluster: Cluster, what: str, change) -> None:
    if guarded_change(page, f"visitor {cluster.number}", WHERE, {"edit": what}, change):
        st.rerun()


def query_from_filters(settings, names: list[str]) -> SightingQuery:
    c1, c2, c3 = st.columns([2, 2, 3])
    labels = {ANYONE: "Anyone", UNKNOWN: "Unknown faces", **{n: display_name(n) for n in names}}
    person = c1.selectbox("Person", [ANYONE, UNKNOWN, *names], format_func=lambda v: labels[v], key="history_person")
    sources = c2.multiselect("Source", list(SOURCES), default=list(SOURCES), key="history_sources")
    today = dt.datetime.now(dt.timezone.utc).date()
    days = settings.sightings_days if settings.sightings_days > 0 else 365
    dates = c3.date_input("Dates (UTC)", (today - dt.timedelta(days=days), today), key="history_dates")
    since = until = None
    if isinstance(dates, (tuple, list)) and len(dates) == 2:
        since = dt.datetime.combine(dates[0], dt.time.min, dt.timezone.utc)
        until = dt.datetime.combine(dates[1], dt.time.max, dt.timezone.utc)
    # no source ticked: a source that never occurs, so nothing matches (an empty list would mean all)
    return SightingQuery(person=None if person == ANYONE else person, sources=tuple(sources) or ("-",),
                         since=since, until=until, limit=None)


def search_by_photo(settings, store) -> None:
    """Upload a face: the past sightings of that person, known or not."""
    upload = st.file_uploader("A photo of the person", type=list(SUPPORTED_UPLOAD_TYPES), key="history_search")
    if upload is None:
        return
    recognizer = get_recognizer(settings)
    if recognizer is None:
        return
    try:
        faces = recognizer.recognize(upload.getvalue(), name=upload.name)
    except FacerecError as exc:
        st.error(plain(exc))
        return
    faces = [f for f in faces if f.embedding is not None]
    if not faces:
        st.warning("No face was found in that photo.")
        return
    face = max(faces, key=lambda f: f.width * f.height)
    backbone = recognizer.backbone.name
    presets = spec_for(backbone).verify_presets
    threshold = float(presets["strict"]["threshold"]) if "strict" in presets else recognizer.verify_threshold
    found = search_by_face(store, face.embedding, min_cosine=threshold, backbone=backbone)
    st.caption(f"Sightings whose face has a cosine of at least {threshold:.3f} to the photo's largest face "
               "(the strict 1:1 threshold: 0.1 % false matches between different people on LFW).")
    if not found:
        st.info("Nobody like this was seen in the recorded history.")
        return
    show_table(sightings_frame([s for s, _ in found], [c for _, c in found]), "history_search_table")


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble(
    "History",
    "Who was seen when: every decision of Recognize, Live Webcam (once per face in view) and `predict`, "
    "kept as a sighting — time, answer, score, runner-up and a small thumbnail — for the retention period.",
    action=Action.VIEW_HISTORY, needs_recognizer=False)
settings = page.settings
if not settings.sightings:
    st.info("Recording is off (FACEREC_SIGHTINGS=none): nothing new is added; older sightings are still shown.",
            icon=":material/info:")
else:
    kept = f"kept {settings.sightings_days:g} days" if settings.sightings_days > 0 else "kept until deleted"
    st.caption(f"Recorded from: {', '.join(settings.sightings)}; {kept} (FACEREC_SIGHTINGS, FACEREC_SIGHTINGS_DAYS).")
try:
    store = sighting_store(settings)
    everyone = store.people_summary()
except FacerecError as exc:
    st.error(plain(exc))
    st.stop()
names = sorted(r["answer"] for r in everyone if r["answer"] != UNKNOWN)
query = query_from_filters(settings, names)
summary = store.people_summary(query)
total = sum(r["sightings"] for r in summary)
if not total:
    st.info("No sightings match these filters yet.", icon=":material/history:")
else:
    rows = store.sightings(dataclasses.replace(query, limit=SHOWN), thumbnails=True)
    frame = sightings_frame(rows)
    st.subheader(f"{total} sightings" + (f" (the newest {SHOWN} drawn)" if total > SHOWN else ""))
    st.plotly_chart(sightings_timeline(frame), width="stretch", key="history_timeline")
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.markdown("**Per person**")
        st.dataframe(pd.DataFrame({
            "who": [UNKNOWN if r["answer"] == UNKNOWN else display_name(r["answer"]) for r in summary],
            "first seen": pd.to_datetime([r["first_seen"] for r in summary], utc=True),
            "last seen": pd.to_datetime([r["last_seen"] for r in summary], utc=True),
            "how often": [r["sightings"] for r in summary],
        }), hide_index=True, width="stretch", key="history_summary", column_config={
            "first seen": st.column_config.DatetimeColumn(format="MMM D, HH:mm"),
            "last seen": st.column_config.DatetimeColumn(format="MMM D, HH:mm")})
        st.download_button("Download CSV", sightings_csv(store.sightings(query)), file_name="sightings.csv",
                           mime="text/csv", icon=":material/download:", key="history_csv")
    with right:
        st.markdown("**Sightings**, newest first: pick one to correct it")
        picked = show_table(frame.drop(columns=["track"]), "history_table", selectable=True)
    chosen = picked.selection.rows if picked is not None else []
    if chosen:
        sighting = rows[chosen[0]]
        st.markdown(f"**Sighting {sighting.id}** · {plain(sighting.time)} · {plain(sighting.source)} · answer "
                    f"**{plain(display_name(sighting.answer))}**" + (f" · {plain(sighting.corrected)}" if sighting.corrected else ""))
        if sighting.thumbnail:
            st.image(sighting.thumbnail, width=96)
        correction_controls(page, store, sighting.id, sighting.answer, names, where=WHERE, key="history")

visitors_section(page, store, settings.backbone)  # the backbone sightings are embedded with

st.subheader("Search by photo")
search_by_photo(settings, store)
