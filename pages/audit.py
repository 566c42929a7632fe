"""Audit (administrators): the append-only trail of every security-relevant event, filtered, as
CSV, and its hash chain checked.

The trail is :class:`facerec_core.access.AuditLog`'s; this page reads it. Cells are shown in
``st.dataframe`` (plain text: names typed by users are never read as Markdown).
"""
from __future__ import annotations

import datetime as dt
import json

import streamlit as st

from dashboard.auth import principal_now
from dashboard.page import page_preamble
from dashboard.plain import plain
from facerec_core.access import Action, AuditEvent
from facerec_core.errors import FacerecError
from facerec_core.settings import Settings

WHERE = "Audit page"
ANY = "any"
MAX_ROWS = 5000
DEFAULT_DAYS = 7


def _rows(events: list[AuditEvent]) -> list[dict]:
    return [{"id": e.id, "time": e.time, "actor": e.actor, "role": e.role, "source": e.source, "action": e.action,
             "target": e.target, "outcome": e.outcome, "where": e.where,
             "detail": json.dumps(e.detail, sort_keys=True, ensure_ascii=False)} for e in events]


def _downloaded(settings: Settings, count: int, filters: dict) -> None:
    """Downloading the trail is itself recorded."""
    principal, access = principal_now(settings)
    if principal is not None and access is not None:
        access.audit.record(principal, "audit_export", target="audit.csv", detail={"rows": count, **filters},
                            where=WHERE)


# ---- the page ---------------------------------------------------------------------------------
page = page_preamble("Audit", "Every sign-in, change and decision, newest first. Rows are chained by their hashes: an "
                     "edited, deleted or inserted row breaks the chain.", action=Action.VIEW_AUDIT)
audit = page.access.audit

try:
    recent = audit.events(limit=MAX_ROWS)
except FacerecError as exc:
    st.error(f"The audit trail cannot be read: {plain(exc)}")
    st.stop()

today = dt.datetime.now(dt.timezone.utc).date()
cols = st.columns([1, 1, 1, 1.5])
actors = sorted({e.actor for e in recent}, key=str.casefold)
actions = sorted({e.action for e in recent} | {a.value for a in Action})
outcomes = sorted({e.outcome for e in recent} | {"ok", "denied", "failed"})
actor = cols[0].selectbox("Actor", [ANY] + actors, key="audit_actor")
action = cols[1].selectbox("Action", [ANY] + actions, key="audit_action")
outcome = cols[2].selectbox("Outcome", [ANY] + outcomes, key="audit_outcome")
dates = cols[3].date_input("Dates (UTC)", (today - dt.timedelta(days=DEFAULT_DAYS - 1), today), max_value=today,
                           key="audit_dates", help="The first and the last day to show, both included")
if isinstance(dates, (tuple, list)):
    first, last = (dates[0], dates[-1]) if dates else (None, None)
else:
    first = last = dates
filters = {"actor": None if actor == ANY else actor, "action": None if action == ANY else action,
           "outcome": None if outcome == ANY else outcome,
           "since": first.isoformat() if first else None,
           "until": (last + dt.timedelta(days=1)).isoformat() if last else None}
try:
    events = audit.events(**filters, limit=MAX_ROWS)
except (FacerecError, ValueError) as exc:
    st.error(f"These filters cannot be used: {plain(exc)}")
    st.stop()

shown = {k: v for k, v in filters.items() if v}
st.markdown(f"**{len(events):,} event{'s' if len(events) != 1 else ''}**"
            + (f" (the newest {MAX_ROWS:,}; narrow the filters for older ones)" if len(events) >= MAX_ROWS else ""))
st.dataframe(_rows(events), hide_index=True, key="audit_table", column_config={
    "id": st.column_config.NumberColumn("id", help="Row number in the chain"),
    "where": st.column_config.TextColumn("where", help="The page or command"),
    "detail": st.column_config.TextColumn("detail", help="Scores, thresholds, counts: never faces or embeddings"),
})
left, right = st.columns(2)
left.download_button("Download the trail (CSV)", data=audit.to_csv(events), file_name=f"audit-{today.isoformat()}.csv",
                     mime="text/csv", key="audit_csv", icon=":material/download:", disabled=not events,
                     on_click=_downloaded, args=(page.settings, len(events), shown))
if right.button("Verify the chain", key="audit_verify", icon=":material/verified:"):
    with st.spinner("Checking every row's hash…"):
        check = audit.verify()
    if check.ok:
        st.success(f"The chain is intact: {check.rows:,} rows, each matching its hash and chained to the one before. "
                   f"Head hash {check.head}: keep a copy elsewhere to anchor it.", icon=":material/verified:")
    else:
        st.error(f"The chain is broken at row {check.first_bad_id}: {plain(check.problem)}. Rows from there on "
                 "cannot be trusted; compare with a backup of the data folder.", icon=":material/gpp_bad:")
