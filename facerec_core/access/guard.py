"""The one shared guard: every page and every action asks :func:`require` before doing anything.

Checking here (in the core), never by hiding buttons, means a viewer who types the Gallery page's
URL, or a script that calls a page's function, is refused the same way; and every refusal lands
in the audit trail with outcome ``denied``, so probing is visible.
"""
from __future__ import annotations

import logging

from ..errors import NotAllowedError
from .audit import AuditLog
from .principal import Principal
from .roles import LABELS, REQUIRED_ROLE, Action, allowed

log = logging.getLogger(__name__)


def refusal(principal: Principal | None, action: Action) -> str:
    """The message of a refusal: what needs which role, and what the asker is."""
    what = LABELS.get(action, action.value.replace("_", " "))
    needed = REQUIRED_ROLE[action].value
    if principal is None:
        return f"{what[:1].upper()}{what[1:]} needs the {needed} role; nobody is signed in: sign in first"
    return (f"{what[:1].upper()}{what[1:]} needs the {needed} role; {principal.name} is "
            f"{getattr(principal.role, 'value', principal.role)}: ask an administrator")


def require(principal: Principal | None, action: Action, audit: AuditLog | None = None, *, target: str = "",
            where: str = "") -> None:
    """Return when ``principal`` may do ``action``; else raise :class:`NotAllowedError` after
    recording the refusal (outcome ``denied``) when ``audit`` is given. Nothing is recorded for an
    allowed action here: the caller records what was done once it is done."""
    action = Action(action)
    if principal is not None and allowed(principal.role, action):
        return
    message = refusal(principal, action)
    log.info("refused %s for %s", action.value, principal.name if principal else "anonymous")
    if audit is not None:
        audit.record(principal, action.value, target=target, outcome="denied",
                     detail={"needs": REQUIRED_ROLE[action].value}, where=where)
    raise NotAllowedError(message)
