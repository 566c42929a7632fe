"""Every identification and verification decision a page shows goes into the audit trail once.

A page re-runs on every click (a slider moved, a face highlighted), so a decision is recorded the
first time this session shows it: the key is what the decision depends on (the photo's hash, the
threshold, the model), kept in the session. What is recorded is who asked, from which page, the
answer and the score (:meth:`facerec_core.access.AuditLog.record_decision`), never an embedding
or a photo.

When the audit trail cannot be written the decision is not shown (the page says why): a decision
nobody can account for is not given.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import streamlit as st

from dashboard.auth import Access
from dashboard.plain import plain
from facerec_core.access import Principal
from facerec_core.errors import FacerecError

log = logging.getLogger(__name__)

_SEEN = "facerec_audited_decisions"
MAX_REMEMBERED = 2000


def digest(*parts: bytes | str | float | int | None) -> str:
    """A short key for what a decision depends on."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:32]


def record_once(access: Access, principal: Principal, key: str, *, kind: str, answer: str,
                score: float | None, where: str, detail: Mapping[str, Any] | None = None) -> bool:
    """Record one decision unless this session already recorded ``key``; ``False`` (after showing
    an error) when the audit trail could not be written."""
    seen: dict[str, None] = st.session_state.setdefault(_SEEN, {})
    if key in seen:
        return True
    try:
        access.audit.record_decision(principal, kind, answer=answer, score=None if score is None else float(score),
                                     where=where, detail=dict(detail or {}))
    except (FacerecError, OSError) as exc:
        log.warning("%s: a %s decision could not be audited: %s", where, kind, type(exc).__name__)
        st.error(f"The answer is not shown: it could not be written to the audit trail ({plain(exc)}). "
                 "Try again; if it persists, an administrator should check the data folder.",
                 icon=":material/error:")
        return False
    seen[key] = None
    while len(seen) > MAX_REMEMBERED:
        seen.pop(next(iter(seen)))
    return True
