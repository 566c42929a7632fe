"""The dashboard's launcher: ``python -m dashboard.server [APP.py] [streamlit options...]``.

It starts exactly the server ``streamlit run streamlit_app.py [options...]`` starts (the same
command-line parsing, config files and bootstrap: it calls Streamlit's own ``run`` command), after
wrapping the ASGI application Streamlit builds in :class:`HardenedApp`, which

* adds security headers to every HTTP response, static files included (Streamlit has no setting
  for them): ``X-Content-Type-Options``, ``X-Frame-Options``, ``Referrer-Policy``, a
  ``Content-Security-Policy`` that lets the page load and connect to this server only,
  ``Permissions-Policy`` (the camera for this origin only, for Live Webcam) and
  ``Cache-Control: no-store`` on everything but the content-hashed bundles, so face photos, names
  and pages never stay in a browser's or a proxy's cache;
* refuses a websocket upgrade that carries no ``Origin`` header exactly as a foreign ``Origin`` is
  refused (Streamlit lets a missing Origin through, "per spec", so any local program or a page
  that strips the header could drive a session). A browser always sends it. An Origin is
  accepted only when it is this server's own (scheme-less ``host:port`` equal to the ``Host``
  header) or listed in ``server.corsAllowedOrigins``; Streamlit's check would also accept any
  ``localhost`` port and asks checkip.amazonaws.com for the machine's external address first.

Why a launcher and not a config file: Streamlit 1.67 serves through Starlette/uvicorn and offers
no header or origin hooks for ``streamlit run``; the one seam is the factory
``starlette_server.create_starlette_app``, which :func:`install` wraps. If a Streamlit upgrade
moves it, :func:`install` raises instead of starting a server without the protections.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# By name: run as `python -m dashboard.server` this module is __main__.
log = logging.getLogger("dashboard.server")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APP = PROJECT_ROOT / "streamlit_app.py"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The websocket close code Streamlit itself refuses a foreign Origin with (1008 = policy
# violation); closing before the handshake is accepted makes uvicorn answer HTTP 403.
POLICY_VIOLATION = 1008

# Bundles whose names carry their content's hash are served "public, immutable, max-age=1 year"
# (and component assets "public"); caching them is what makes a page open fast and they hold no
# one's data. Every other response (the page, health, media — face photos —, uploads) is no-store.
_CACHEABLE = re.compile(r"\b(immutable|public)\b", re.IGNORECASE)


def inline_script_hashes(index_html: str) -> list[str]:
    """CSP ``'sha256-...'`` sources for the inline ``<script>`` blocks of Streamlit's index.html.

    Read from the installed file at start-up, so the policy allows exactly the inline scripts this
    Streamlit version ships (one sets ``window.prerenderReady``) and no others."""
    sources = []
    for match in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", index_html, re.DOTALL | re.IGNORECASE):
        digest = hashlib.sha256(match.group(1).encode("utf-8")).digest()
        sources.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return sources


def _streamlit_index_html() -> str:
    """The text of the installed Streamlit frontend's index.html ('' when it cannot be read)."""
    import streamlit

    path = Path(streamlit.__file__).resolve().parent / "static" / "index.html"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning("could not read %s: its inline scripts are not in the Content-Security-Policy", path)
        return ""


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    """The policy: everything from this origin only (the dashboard is offline by design, README).

    ``'unsafe-inline'`` for styles only: Streamlit's frontend (emotion) writes its CSS into style
    elements at run time. Images and media also come as ``data:``/``blob:`` URLs made by the page
    (photos, charts, the webcam's video). ``connect-src 'self'`` covers the same-origin websocket.
    No ``'unsafe-eval'``: the charts run with Vega's CSP-safe interpreter."""
    script_src = " ".join(["'self'", *script_hashes])
    return "; ".join([
        "default-src 'self'",
        f"script-src {script_src}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


# Camera for this origin (Live Webcam; streamlit-webrtc runs in a same-origin iframe), nothing else.
PERMISSIONS_POLICY = ("camera=(self), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
                      "display-capture=()")


def security_headers(script_hashes: Sequence[str] = ()) -> dict[str, str]:
    """The headers every HTTP response gets (lower-case names, as ASGI carries them)."""
    return {
        "x-content-type-options": "nosniff",
        # SAMEORIGIN, not DENY: Streamlit components (streamlit-webrtc) are iframes of this origin.
        "x-frame-options": "SAMEORIGIN",
        "referrer-policy": "no-referrer",
        "content-security-policy": content_security_policy(script_hashes),
        "permissions-policy": PERMISSIONS_POLICY,
        "cross-origin-opener-policy": "same-origin",
    }


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes) in an ASGI scope, or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(origin: str | None, host: str | None, allowed_origins: Sequence[str] = ()) -> bool:
    """Whether a websocket with this Origin header may connect to a server reached as ``host``.

    A missing Origin is refused like a foreign one: browsers always send it, so only a program
    that is not a browser, or a request that hides where it comes from, lacks it."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if host is not None and parts.netloc.lower() == host.lower():
        return True
    wanted = f"{parts.scheme}://{parts.netloc}".lower()
    return any(wanted == allowed.strip().rstrip("/").lower() for allowed in allowed_origins)


class HardenedApp:
    """ASGI middleware around Streamlit's Starlette app: headers on HTTP, Origin on websockets.

    Plain ASGI (no Starlette import) so it wraps whatever Streamlit builds, routes and lifespan
    untouched."""

    def __init__(self, app: ASGIApp, *, headers: dict[str, str],
                 allowed_origins: Callable[[], Sequence[str]] = lambda: ()) -> None:
        self.app = app
        self.headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        self._names = {name for name, _ in self.headers}
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.app(scope, receive, self._with_headers(send))
        elif scope["type"] == "websocket":
            origin, host = _header(scope, b"origin"), _header(scope, b"host")
            if origin_allowed(origin, host, self.allowed_origins()):
                await self.app(scope, receive, send)
            else:
                await self._refuse(receive, send, origin, host)
        else:  # lifespan
            await self.app(scope, receive, send)

    def _with_headers(self, send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in self._names]
                cache = next((v.decode("latin-1") for k, v in kept if k.lower() == b"cache-control"), "")
                if not _CACHEABLE.search(cache):
                    kept = [(k, v) for k, v in kept if k.lower() != b"cache-control"]
                    kept.append((b"cache-control", b"no-store"))
                message = {**message, "headers": kept + self.headers}
            await send(message)
        return send_with_headers

    @staticmethod
    async def _refuse(receive: Receive, send: Send, origin: str | None, host: str | None) -> None:
        """Refuse the handshake as Streamlit refuses a foreign Origin: close 1008 before accepting
        (the client gets HTTP 403), with the same warning in the server log."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        log.warning("Rejecting WebSocket connection with disallowed Origin or Host header: origin=%s, host=%s",
                    origin, host)
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})


def _cors_allowed_origins() -> Sequence[str]:
    """``server.corsAllowedOrigins``, read per connection (the config is loaded after install)."""
    from streamlit import config

    return list(config.get_option("server.corsAllowedOrigins") or ())


def install() -> None:
    """Make every server Streamlit starts in this process hardened (idempotent).

    Raises RuntimeError when this Streamlit has no ``create_starlette_app`` factory to wrap: better
    no dashboard than one silently without its protections."""
    from streamlit.web.server.starlette import starlette_server

    factory = getattr(starlette_server, "create_starlette_app", None)
    if factory is None or not callable(factory):
        raise RuntimeError("this Streamlit version has no starlette_server.create_starlette_app; "
                           "dashboard/server.py must be updated for it")
    if getattr(factory, "_facerec_hardened", False):
        return
    headers = security_headers(inline_script_hashes(_streamlit_index_html()))

    def hardened_factory(*args: Any, **kwargs: Any) -> HardenedApp:
        return HardenedApp(factory(*args, **kwargs), headers=headers, allowed_origins=_cors_allowed_origins)

    hardened_factory._facerec_hardened = True  # type: ignore[attr-defined]
    starlette_server.create_starlette_app = hardened_factory


def split_arguments(argv: Sequence[str]) -> tuple[Path, list[str]]:
    """``[APP.py] [options...]`` → the app to run (the dashboard unless a .py file comes first)
    and the options, passed on to ``streamlit run`` unchanged."""
    if argv and not argv[0].startswith("-") and argv[0].endswith(".py"):
        return Path(argv[0]), list(argv[1:])
    return DEFAULT_APP, list(argv)


def _configure_logging() -> None:
    """This module's warnings (refused websockets) go to stderr, the server log, like Streamlit's
    own; nothing else's logging configuration changes."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def main(argv: Sequence[str] | None = None) -> None:
    """Install the protections, then run Streamlit's own ``run`` command (it does not return
    until the server stops)."""
    from streamlit.web import cli

    from streamlit.web.server.app_discovery import discover_asgi_app

    _configure_logging()
    app, options = split_arguments(sys.argv[1:] if argv is None else argv)
    if app.is_file() and discover_asgi_app(app.resolve()).is_asgi_app:
        # Streamlit serves an ASGI app (st.App, FastAPI) without the factory install() wraps.
        raise SystemExit(f"{app} is an ASGI app: dashboard.server only hardens a plain Streamlit script")
    install()
    cli.main(["run", str(app), *options], prog_name="streamlit")


if __name__ == "__main__":
    main()
