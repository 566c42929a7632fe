"""The command line's API commands: ``serve``, ``key add/list/revoke``, ``webhook
add/list/remove/deliveries``; :func:`register` adds their parsers (kept out of
:mod:`facerec_core.cli`, which stays short). They act as the CLI principal (an administrator,
audited as ``cli:<os user>``)."""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

from ..access.commands import cli_access, data_settings, printable
from ..settings import Settings
from .keys import ApiKeys
from .store import ApiStore
from .webhooks import EVENTS, Webhooks

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _api(args: argparse.Namespace) -> Iterator[tuple]:
    settings = data_settings(args)
    with cli_access(settings) as (principal, audit):
        store = ApiStore.open(settings)
        try:
            yield principal, ApiKeys(store, audit, default_rate=settings.api_rate), Webhooks(store, audit)
        finally:
            store.close()


def cmd_key_add(args) -> int:
    with _api(args) as (principal, keys, _):
        key, secret = keys.add(principal, args.name, args.role, rate_per_minute=args.rate, where="cli key add")
    print(f"API key {printable(key.name)} ({key.role.value}, {key.rate_per_minute} requests a minute):")
    print(secret)
    print("Shown this once: store it where the client keeps secrets; send it as the X-API-Key header.",
          file=sys.stderr)
    return 0


def cmd_key_list(args) -> int:
    with _api(args) as (_, keys, _hooks):
        found = keys.list()
    if args.json:
        json.dump([{"name": k.name, "role": k.role.value, "hint": k.hint, "rate_per_minute": k.rate_per_minute,
                    "created": k.created, "created_by": k.created_by, "revoked": k.revoked,
                    "last_used": k.last_used} for k in found], sys.stdout, indent=2)
        print()
        return 0
    for k in found:
        state = f"revoked {k.revoked}" if k.revoked else f"last used {k.last_used or 'never'}"
        print(f"{printable(k.name):24} {k.role.value:9} {k.hint}…  {k.rate_per_minute}/min  {state}")
    if not found:
        print("no API keys: `facerec key add NAME --role operator` makes one")
    return 0


def cmd_key_revoke(args) -> int:
    with _api(args) as (principal, keys, _):
        key = keys.revoke(principal, args.name, where="cli key revoke")
    print(f"revoked {printable(key.name)}: calls with it are refused from now on")
    return 0


def cmd_webhook_add(args) -> int:
    with _api(args) as (principal, _, hooks):
        hook, secret = hooks.add(principal, args.url, args.events, where="cli webhook add")
    print(f"webhook {hook.id}: {printable(hook.url)} for {', '.join(hook.events)}")
    print(f"signing secret (shown this once): {secret}")
    return 0


def cmd_webhook_list(args) -> int:
    with _api(args) as (_, _keys, hooks):
        found = hooks.list()
        counts = {h.id: hooks.deliveries(h.id, limit=1000) for h in found}
    for h in found:
        done = counts[h.id]
        tally = ", ".join(f"{sum(d.status == s for d in done)} {s}" for s in ("delivered", "pending", "failed"))
        print(f"{h.id:4} {printable(h.url)}  {','.join(h.events)}  ({tally} of the last {len(done)})")
    if not found:
        print("no webhooks: `facerec webhook add URL` subscribes one")
    return 0


def cmd_webhook_remove(args) -> int:
    with _api(args) as (principal, _, hooks):
        hook = hooks.remove(principal, args.id, where="cli webhook remove")
    print(f"removed webhook {hook.id} ({printable(hook.url)})")
    return 0


def cmd_webhook_deliveries(args) -> int:
    with _api(args) as (_, _keys, hooks):
        found = hooks.deliveries(args.id, limit=args.limit)
    for d in found:
        print(f"{d.id:6} webhook {d.webhook_id} {d.event:22} {d.status:9} attempts {d.attempts} "
              f"HTTP {d.http_status or '-'} {printable(d.error or '')}")
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve(args) -> int:
    import uvicorn

    settings = Settings.from_env().replace(data_dir=args.data_dir, api_host=args.host, api_port=args.port,
                                           api_workers=args.workers)
    # worker processes build their app from the environment: hand them these choices
    os.environ.update({"FACEREC_DATA_DIR": str(settings.data_dir), "FACEREC_API_HOST": settings.api_host,
                       "FACEREC_API_PORT": str(settings.api_port), "FACEREC_API_WORKERS": str(settings.api_workers)})
    if not _loopback(settings.api_host):
        log.warning("listening on %s, beyond this machine: keys and faces travel in clear text unless a TLS proxy "
                    "is in front", settings.api_host)
    print(f"facerec API on http://{settings.api_host}:{settings.api_port} (docs at /docs); "
          f"{settings.api_workers} worker(s)", file=sys.stderr)
    uvicorn.run("facerec_core.api.app:app_from_env", factory=True, host=settings.api_host, port=settings.api_port,
                workers=settings.api_workers, log_level="info" if args.verbose else "warning",
                access_log=bool(args.verbose), server_header=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``key …`` and ``webhook …`` to the CLI's subcommands."""
    def data_opt(sp):
        sp.add_argument("--data-dir", type=Path, help="folder of the gallery, accounts and keys (default: FACEREC_DATA_DIR)")

    sp = sub.add_parser("serve", help="run the HTTP API (FastAPI on uvicorn; loopback by default)")
    sp.add_argument("--host", help="address to listen on (default: FACEREC_API_HOST or 127.0.0.1)")
    sp.add_argument("--port", type=int, help="port (default: FACEREC_API_PORT or 8600)")
    sp.add_argument("--workers", type=int, help="processes, each with its own models (default: FACEREC_API_WORKERS or 1)")
    data_opt(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("key", help="API keys: add, list, revoke")
    keys = sp.add_subparsers(dest="key_command", required=True)
    kp = keys.add_parser("add", help="make a key for a client (shown once)")
    kp.add_argument("name")
    kp.add_argument("--role", default="operator", help="viewer, operator or admin (default: operator)")
    kp.add_argument("--rate", type=int, help="requests a minute (default: FACEREC_API_RATE or 600)")
    data_opt(kp)
    kp.set_defaults(func=cmd_key_add)
    kp = keys.add_parser("list", help="every key, valid and revoked (never the keys themselves)")
    kp.add_argument("--json", action="store_true")
    data_opt(kp)
    kp.set_defaults(func=cmd_key_list)
    kp = keys.add_parser("revoke", help="refuse a key from now on")
    kp.add_argument("name")
    data_opt(kp)
    kp.set_defaults(func=cmd_key_revoke)

    sp = sub.add_parser("webhook", help="webhook subscriptions: add, list, remove, deliveries")
    hooks = sp.add_subparsers(dest="webhook_command", required=True)
    hp = hooks.add_parser("add", help="subscribe a URL (the signing secret is shown once)")
    hp.add_argument("url")
    hp.add_argument("--events", default="all", help=f"comma-separated, of {', '.join(EVENTS)}; or all (default)")
    data_opt(hp)
    hp.set_defaults(func=cmd_webhook_add)
    hp = hooks.add_parser("list", help="subscriptions and their recent deliveries")
    data_opt(hp)
    hp.set_defaults(func=cmd_webhook_list)
    hp = hooks.add_parser("remove", help="unsubscribe (pending deliveries are dropped)")
    hp.add_argument("id", type=int)
    data_opt(hp)
    hp.set_defaults(func=cmd_webhook_remove)
    hp = hooks.add_parser("deliveries", help="the newest deliveries and their outcome")
    hp.add_argument("id", type=int, nargs="?", help="one webhook's only")
    hp.add_argument("--limit", type=int, default=50)
    data_opt(hp)
    hp.set_defaults(func=cmd_webhook_deliveries)
