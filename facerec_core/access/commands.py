"""The command line's access commands (``user …``, ``audit …``) and the helper through which every
other CLI command is guarded and audited (:func:`cli_access`).

Kept out of :mod:`facerec_core.cli` so that each stays short; :func:`register` adds the parsers.
The CLI acts as :func:`~.principal.cli_principal` (an administrator, audited as ``cli:<os user>``).
Output is for people at a terminal, so everything users typed is printed with control characters
replaced (:func:`printable`): a name cannot move the cursor or recolour the terminal.
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Iterator

from ..errors import AccessError, AccountError
from ..settings import Settings
from .accounts import Accounts
from .audit import AuditLog
from .guard import require
from .principal import Principal, cli_principal
from .roles import Action, Role
from .store import AccessStore


def printable(value: object) -> str:
    """``value`` as one line of text with control and formatting characters shown as ``?``."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in str(value))


@contextlib.contextmanager
def cli_access(settings: Settings, action: Action | None = None, *,
               where: str = "") -> Iterator[tuple[Principal, AuditLog]]:
    """``(principal, audit)`` for one CLI command on the gallery file of ``settings``, after
    :func:`~.guard.require` of ``action`` when given; the store is closed afterwards."""
    store = AccessStore.open(settings)
    try:
        audit = AuditLog(store)
        principal = cli_principal()
        if action is not None:
            require(principal, action, audit, where=where)
        yield principal, audit
    finally:
        store.close()


def data_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the command's ``--data-dir`` when given (the access and API
    commands need nothing else)."""
    return Settings.from_env().replace(data_dir=getattr(args, "data_dir", None))


@contextlib.contextmanager
def _accounts(args: argparse.Namespace) -> Iterator[tuple[Principal, Accounts]]:
    settings = data_settings(args)
    with cli_access(settings) as (principal, audit):
        yield principal, Accounts(audit.store, audit, settings)


def read_password(args: argparse.Namespace) -> str:
    """The new password: one line of stdin with ``--password-stdin``, else typed twice at a
    prompt that does not echo. Never logged, never part of an error message."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise AccountError("no password on standard input: pipe one line, e.g. from a password manager")
        return password
    if not sys.stdin.isatty():
        raise AccountError("there is no terminal to ask for the password: pipe it with --password-stdin")
    first = getpass.getpass(f"password for {printable(args.name)}: ")
    second = getpass.getpass("the same password again: ")
    if first != second:
        raise AccountError("the two passwords differ; nothing was changed")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    password = read_password(args)
    with _accounts(args) as (principal, accounts):
        account = accounts.add(principal, args.name, password, args.role, where="cli user add")
    print(f"account {printable(account.name)} added ({account.role.value})")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with _accounts(args) as (principal, accounts):
        found = accounts.list(principal, where="cli user list")
    if args.json:
        json.dump([{"name": a.name, "role": a.role.value, "created": a.created, "last_sign_in": a.last_sign_in,
                    "locked_until": a.locked_until, "failed": a.failed} for a in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no accounts yet: python -m facerec_core user add NAME --role admin")
        return 0
    width = max(4, *(len(printable(a.name)) for a in found))
    print(f"{'name':{width}}  {'role':8}  {'created':19}  {'last sign-in':19}  state")
    for a in found:
        state = f"locked until {a.locked_until[:19]}" if a.locked_until else \
            (f"{a.failed} failed sign-in{'s' if a.failed != 1 else ''}" if a.failed else "")
        print(f"{printable(a.name):{width}}  {a.role.value:8}  {a.created[:19]:19}  "
              f"{(a.last_sign_in or 'never')[:19]:19}  {state}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    with _accounts(args) as (principal, accounts):
        accounts.remove(principal, args.name, where="cli user remove")
    print(f"account {printable(args.name)} removed; its sessions ended")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    with _accounts(args) as (principal, accounts):
        if accounts.get(args.name) is None:
            raise AccountError(f"no account named {printable(args.name)!r}: `user list` shows them")
        password = read_password(args)
        accounts.set_password(principal, args.name, password, where="cli user passwd")
    print(f"password of {printable(args.name)} changed; its sessions ended")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    with _accounts(args) as (principal, accounts):
        accounts.unlock(principal, args.name, where="cli user unlock")
    print(f"{printable(args.name)} unlocked: failed sign-ins forgotten")
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    with _accounts(args) as (principal, accounts):
        account = accounts.set_role(principal, args.name, args.role, where="cli user role")
    print(f"{printable(account.name)} is now {account.role.value}")
    return 0


def _write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` 0600, through a private temporary file renamed over it."""
    if path.is_dir():
        raise AccessError(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'audit.csv'}")
    if not path.parent.is_dir():
        raise AccessError(f"cannot write {path}: the folder {path.parent} does not exist")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise AccessError(f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write") from None
    return path


def cmd_audit_list(args: argparse.Namespace) -> int:
    with cli_access(data_settings(args), Action.VIEW_AUDIT, where="cli audit list") as (principal, audit):
        try:
            events = audit.events(actor=args.actor, action=args.action, outcome=args.outcome, since=args.since,
                                  until=args.until, limit=args.limit)
        except ValueError as exc:
            raise AccessError(str(exc)) from None
        if args.csv:
            path = _write_private(Path(args.csv), AuditLog.to_csv(events))
            audit.record(principal, Action.VIEW_AUDIT.value, target="csv", detail={"rows": len(events),
                                                                                    "file": path.name},
                         where="cli audit list")
            print(f"{len(events)} events written to {path} (mode 0600)")
            return 0
    if args.json:
        json.dump([{"id": e.id, "time": e.time, "actor": e.actor, "role": e.role, "source": e.source,
                    "action": e.action, "target": e.target, "outcome": e.outcome, "where": e.where,
                    "detail": e.detail, "hash": e.hash} for e in events], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not events:
        print("no events match")
        return 0
    print(f"{'id':>6}  {'time (UTC)':19}  {'actor':16}  {'role':8}  {'action':14}  {'outcome':12}  target / where")
    for e in events:
        where = f"  ({printable(e.where)})" if e.where else ""
        print(f"{e.id:>6}  {e.time[:19]:19}  {printable(e.actor)[:16]:16}  {e.role:8}  {printable(e.action):14}  "
              f"{printable(e.outcome):12}  {printable(e.target)}{where}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with cli_access(data_settings(args), Action.VIEW_AUDIT, where="cli audit verify") as (_, audit):
        check = audit.verify()
    if check.ok:
        print(f"audit trail intact: {check.rows} rows, head {check.head}")
        return 0
    print(f"audit trail BROKEN at row {check.first_bad_id}: {check.problem} ({check.rows} rows read)")
    return 1


def register(sub: "argparse._SubParsersAction") -> None:
    """Add ``user`` and ``audit`` with their subcommands to the CLI's subparsers."""
    def data_dir(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", type=Path, help="folder of the gallery and accounts (default: FACEREC_DATA_DIR)")

    roles = [r.value for r in Role]
    sp = sub.add_parser("user", help="dashboard accounts: add, list, remove, passwd, unlock, role")
    users = sp.add_subparsers(dest="user_command", required=True)
    up = users.add_parser("add", help="add an account (the password is asked twice, or read with --password-stdin)")
    up.add_argument("name")
    up.add_argument("--role", required=True, choices=roles)
    up.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    data_dir(up)
    up.set_defaults(func=cmd_user_add)
    up = users.add_parser("list", help="every account: role, last sign-in, lockout")
    up.add_argument("--json", action="store_true")
    data_dir(up)
    up.set_defaults(func=cmd_user_list)
    up = users.add_parser("remove", help="delete an account (never the last admin)")
    up.add_argument("name")
    data_dir(up)
    up.set_defaults(func=cmd_user_remove)
    up = users.add_parser("passwd", help="set a new password (ends the account's sessions)")
    up.add_argument("name")
    up.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin")
    data_dir(up)
    up.set_defaults(func=cmd_user_passwd)
    up = users.add_parser("unlock", help="forget an account's failed sign-ins (ends a lockout)")
    up.add_argument("name")
    data_dir(up)
    up.set_defaults(func=cmd_user_unlock)
    up = users.add_parser("role", help="change an account's role (never demotes the last admin)")
    up.add_argument("name")
    up.add_argument("role", choices=roles)
    data_dir(up)
    up.set_defaults(func=cmd_user_role)

    sp = sub.add_parser("audit", help="the audit trail: list events, verify the hash chain")
    audits = sp.add_subparsers(dest="audit_command", required=True)
    ap = audits.add_parser("list", help="events, newest first")
    ap.add_argument("--actor", help="only this account (or cli:USER)")
    ap.add_argument("--action", help="only this action (sign_in, enroll, identify, verify, export, …)")
    ap.add_argument("--outcome", help="only this outcome (ok, denied, failed, locked, rate_limited, authorized)")
    ap.add_argument("--since", help="from this time on (ISO 8601, UTC unless an offset is given)")
    ap.add_argument("--until", help="before this time")
    ap.add_argument("--limit", type=int, default=100, help="at most N events (default 100)")
    ap.add_argument("--csv", type=Path, metavar="FILE", help="write the events to FILE as CSV (mode 0600)")
    ap.add_argument("--json", action="store_true")
    data_dir(ap)
    ap.set_defaults(func=cmd_audit_list)
    ap = audits.add_parser("verify", help="check the hash chain: exit 0 when intact, 1 naming the first bad row")
    data_dir(ap)
    ap.set_defaults(func=cmd_audit_verify)
