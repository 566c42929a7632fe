"""Who may do what: accounts and roles, sessions, the one shared guard and the audit trail.

- :mod:`.roles`: :class:`Role`, :class:`Action` and :data:`REQUIRED_ROLE`, the one table.
- :mod:`.principal`: :class:`Principal` (who is asking); :func:`cli_principal` (the local CLI is
  an administrator).
- :mod:`.guard`: :func:`require`, which every page and action calls; refusals are audited.
- :mod:`.guarded`: :class:`GuardedGallery`, through which every change to people goes;
  :func:`authorize_training`, :func:`authorize_deploy`.
- :mod:`.accounts`: accounts, sign-in (Argon2id, rate limit, lockout), sessions.
- :mod:`.audit`: the append-only, hash-chained audit trail.
- :mod:`.store`: the tables, in the gallery's SQLite file, with their own migrations.

:mod:`.guarded` imports the gallery (and numpy); the other modules do not, so signing in stays
light. Import it as ``facerec_core.access.guarded``.
"""
from .accounts import Account, Accounts, SignedIn
from .audit import AuditEvent, AuditLog, ChainCheck
from .guard import require
from .principal import Principal, cli_principal
from .roles import REQUIRED_ROLE, Action, Role, allowed
from .store import AccessStore, access_path

__all__ = ["Account", "Accounts", "AccessStore", "Action", "AuditEvent", "AuditLog", "ChainCheck", "Principal",
           "REQUIRED_ROLE", "Role", "SignedIn", "access_path", "allowed", "cli_principal", "require"]
