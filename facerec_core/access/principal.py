"""Who is asking: a signed-in dashboard account, or the local command line."""
from __future__ import annotations

import dataclasses
import getpass
import os

from .roles import Role

CLI_PREFIX = "cli:"
"""Names of CLI principals start with this; account names may not (no one can pose as the CLI)."""
API_PREFIX = "api:"
"""Names of API-key principals (``api:<key name>``, :func:`facerec_core.api.keys.api_principal`)
start with this; account names may not either."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """The one thing every guarded call is given: who, with which role, from where.

    Attributes:
        name: the account name, or ``"cli:<os user>"`` for the local command line.
        role: what they may do (:data:`.roles.REQUIRED_ROLE`).
        source: ``"dashboard"`` or ``"cli"``, recorded in the audit trail.
    """

    name: str
    role: Role
    source: str


def _os_user() -> str:
    """The operating-system user running the CLI (a container without a passwd entry: its uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def cli_principal() -> Principal:
    """The local command line acts as an administrator: whoever runs it can already read and write
    the gallery file itself (0600, owned by them), so a CLI password would protect nothing. Its
    actions are still audited, under ``cli:<os user>``."""
    return Principal(f"{CLI_PREFIX}{_os_user()}", Role.ADMIN, "cli")
