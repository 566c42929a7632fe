"""The ASGI application: :func:`create_app` builds it on an :class:`~.service.ApiService`.

What every request goes through, outermost first:

1. :class:`BodyLimit`: a body over ``api_max_body_bytes`` is refused with 413 — by its
   Content-Length before anything is read, or as soon as a chunked body passes the limit.
2. The audit middleware: every call under ``/v1`` is recorded once in the audit trail (the key's
   principal ``api:NAME`` or ``anonymous``, the action, ``METHOD /path``, the outcome and status);
   health probes and the docs are not.
3. :func:`caller`, the dependency of every ``/v1`` route: the key (``X-API-Key: frk_…`` or
   ``Authorization: Bearer frk_…``; 401 when missing, unknown or revoked), the key's rate limit
   (429 with Retry-After) and the role the route's action needs (403), from the same table as the
   dashboard (:data:`facerec_core.access.roles.REQUIRED_ROLE`).

Errors are JSON, ``{"error": {"code": "…", "message": "…"}}``, with the stable codes of
:data:`ERROR_CODES`; never a stack trace (an unexpected error is logged on the server and
answered ``internal_error``).
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..access.roles import Action, allowed
from ..access.guard import refusal
from ..errors import (ApiError, EnrollmentError, FacerecError, GalleryError, HistoryError, ImageError,
                      ImageTooLargeError, NotAllowedError, PersonNotFoundError)
from ..settings import Settings
from .keys import api_principal
from .limits import QueueFull
from .service import ApiService

log = logging.getLogger(__name__)

ERROR_CODES = {
    "bad_image": (422, "an upload is not a readable image"),
    "image_too_large": (413, "an image has more bytes or pixels than the settings allow"),
    "body_too_large": (413, "the request body is larger than FACEREC_API_MAX_BODY_BYTES"),
    "invalid_request": (422, "a parameter or field is missing or malformed"),
    "enrollment_refused": (422, "no photo could be enrolled (no face, two faces, too small, ...)"),
    "gallery_refused": (422, "the gallery refused the change (bad name, duplicate, wrong backbone, bad file)"),
    "person_not_found": (404, "no enrolled person by that name"),
    "not_found": (404, "no such endpoint or record"),
    "method_not_allowed": (405, "the endpoint does not take this method"),
    "unauthorized": (401, "no API key, or an unknown or revoked one"),
    "forbidden": (403, "the key's role may not do this"),
    "rate_limited": (429, "the key's requests a minute are spent; see Retry-After"),
    "busy": (503, "every worker is busy and the queue is full; see Retry-After"),
    "not_ready": (503, "the models are still loading, or could not be loaded"),
    "internal_error": (500, "an unexpected error; the server's log has the details"),
}
"""Every error code the API answers with, its HTTP status and what it means (the README's table)."""


class ApiProblem(Exception):
    """An error answer: ``code`` from :data:`ERROR_CODES`, a message for people, extra headers."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}
        self.status = ERROR_CODES[code][0]


def problem(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=ERROR_CODES[code][0],
                        headers=headers)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _facerec_problem(exc: FacerecError) -> ApiProblem:
    for kind, code in ((ImageTooLargeError, "image_too_large"), (ImageError, "bad_image"),
                       (PersonNotFoundError, "person_not_found"), (NotAllowedError, "forbidden"),
                       (EnrollmentError, "enrollment_refused"), (GalleryError, "gallery_refused"),
                       (ApiError, "invalid_request"), (HistoryError, "not_ready")):
        if isinstance(exc, kind):
            return ApiProblem(code, _one_line(exc))
    return ApiProblem("invalid_request", _one_line(exc))


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 401: "unauthorized",
                 403: "forbidden", 422: "invalid_request", 429: "rate_limited", 503: "busy"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem):
        return problem(exc.code, exc.message, exc.headers)

    @app.exception_handler(FacerecError)
    async def _facerec(request: Request, exc: FacerecError):
        p = _facerec_problem(exc)
        return problem(p.code, p.message)

    @app.exception_handler(QueueFull)
    async def _busy(request: Request, exc: QueueFull):
        return problem("busy", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return problem("invalid_request", f"{where or 'the request'}: {first.get('msg', 'is not valid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, "invalid_request")
        return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("API: unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path,
                  exc_info=exc)
        return problem("internal_error", f"an unexpected {type(exc).__name__}; the server's log has the details")


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit:,} bytes (FACEREC_API_MAX_BODY_BYTES); "
                              "send smaller images, or one at a time")


class BodyLimit:
    """Pure ASGI middleware refusing bodies over ``limit`` bytes (see the module docstring)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, int(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = problem("body_too_large", BodyTooLarge(self.limit).detail, {"Connection": "close"})
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    if status in (429, 503):
        return "busy"
    return "failed" if status >= 500 else "refused"


def _install_audit(app: FastAPI, service: ApiService) -> None:
    @app.middleware("http")
    async def _audited(request: Request, call_next):
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)
        start = time.perf_counter()
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        action = getattr(request.state, "action", None)
        route = request.scope.get("route")
        endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"[:200]
        detail: dict[str, Any] = {"status": response.status_code, "ms": round((time.perf_counter() - start) * 1e3, 1),
                                  **getattr(request.state, "audit_detail", {})}
        with contextlib.suppress(FacerecError, ValueError):  # an unwritable trail must not fail the answer
            await run_in_threadpool(service.audit.record, principal, action.value if action else "api_call",
                                    target=endpoint, outcome=_outcome(response.status_code), detail=detail,
                                    where="api")
        return response


def caller(action: Action):
    """The dependency of a ``/v1`` route doing ``action``: returns the caller's principal, or
    raises 401, 429 or 403 (see the module docstring)."""

    async def dependency(request: Request):
        service: ApiService = request.app.state.service
        request.state.action = action
        token = request.headers.get("x-api-key")
        if token is None and request.headers.get("authorization", "").lower().startswith("bearer "):
            token = request.headers["authorization"][7:].strip()
        if not token:
            raise ApiProblem("unauthorized", "no API key: send it as the X-API-Key header (an administrator "
                                             "makes one with `facerec key add NAME --role operator`)")
        key = await run_in_threadpool(service.keys.check, token)
        if key is None:
            raise ApiProblem("unauthorized", "the API key is unknown or revoked: ask an administrator for a new one")
        principal = api_principal(key)
        request.state.principal = principal
        wait = service.limiter.take(key.id, key.rate_per_minute)
        if wait > 0:
            raise ApiProblem("rate_limited", f"the key {key.name!r} may make {key.rate_per_minute} requests a "
                                             f"minute; retry in {wait:.1f} s", {"Retry-After": str(max(1, round(wait)))})
        if not allowed(principal.role, action):
            raise ApiProblem("forbidden", refusal(principal, action))
        await run_in_threadpool(service.touch, key.id)
        return principal

    return dependency


def create_app(settings: Settings | None = None, *, recognizer=None, dispatch: bool = True) -> FastAPI:
    """The API on ``settings`` (default: from the environment). ``recognizer``: a ready one to
    share (tests); otherwise each process loads its own once, in the background."""
    from . import routes

    settings = settings or Settings.from_env()
    service = ApiService(settings, recognizer, dispatch=dispatch)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="facerec", version=routes.API_VERSION, lifespan=lifespan,
                  description=routes.DESCRIPTION, openapi_tags=routes.TAGS)
    app.state.service = service
    _install_error_handlers(app)
    _install_audit(app, service)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    routes.install(app)
    return app


def app_from_env() -> FastAPI:
    """The factory ``facerec serve`` gives uvicorn (each worker process builds its own)."""
    return create_app(Settings.from_env())
