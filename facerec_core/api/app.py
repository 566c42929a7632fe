"""The ASGI application: :func:`create_app` builds it on an :class:`~.service.ApiService`.

What every request goes through, outermost first:

1. The audit middleware: every call under ``/v1`` is recorded once in the audit trail (the key's
   principal ``api:NAME`` or ``anonymous``, the action, ``METHOD /path``, the outcome and status);
   health probes and the docs are not.
2. :class:`BodyLimit`: a body over ``api_max_body_bytes`` is refused with 413 — by its
   Content-Length before anything is read, or as soon as a chunked body passes the limit.
3. :func:`.auth.caller`, the dependency of every ``/v1`` route: the key, its rate limit, the role.

Errors are JSON (:mod:`.problems`), never a stack trace (an unexpected error is logged on the server and
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
from starlette.requests import ClientDisconnect

from ..errors import (ApiError, EnrollmentError, FacerecError, GalleryError, HistoryError, ImageError,
                      ImageTooLargeError, NotAllowedError, PersonNotFoundError)
from ..settings import Settings
from .limits import QueueFull
from .problems import ApiProblem, problem
from .service import ApiService

log = logging.getLogger(__name__)


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

    @app.exception_handler(ClientDisconnect)
    async def _left(request: Request, exc: ClientDisconnect):  # never sent: the client is gone, or got its 413
        if request.scope.get(OVER_LIMIT):
            return problem("body_too_large", BodyTooLarge(request.app.state.service.settings.api_max_body_bytes).detail)
        return problem("invalid_request", "the client left before its request body arrived")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("API: unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path,
                  exc_info=exc)
        return problem("internal_error", f"an unexpected {type(exc).__name__}; the server's log has the details")


OVER_LIMIT = "facerec.body_over_limit"
"""Set in the ASGI scope by :class:`BodyLimit` when it answered 413 in the middle of a body."""


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
        seen, over, started = 0, False, False

        async def counted():
            # past the limit: answer 413 here and tell the app the client left (an exception
            # raised into the app would surface as a 500 through the middleware's task group)
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = scope[OVER_LIMIT] = True
                    if not started:
                        await problem("body_too_large", BodyTooLarge(self.limit).detail,
                                      {"Connection": "close"})(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def answered(message):
            nonlocal started
            if over:
                return  # the 413 is the answer; drop what the app says after
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, answered)


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


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from files served by this server: FastAPI's defaults
    load them from a CDN, which an offline machine cannot reach."""
    import importlib.resources

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    files = importlib.resources.files("fastapi_offline") / "static"
    app.mount(DOCS_FILES, StaticFiles(directory=str(files)), name="docs-files")

    @app.get("/docs", include_in_schema=False)
    async def swagger():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="facerec API",
                                   swagger_js_url=f"{DOCS_FILES}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_FILES}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_FILES}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc():
        return get_redoc_html(openapi_url=app.openapi_url, title="facerec API",
                              redoc_js_url=f"{DOCS_FILES}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_FILES}/favicon.png", with_google_fonts=False)


DOCS_FILES = "/docs-files"


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

    app = FastAPI(title="facerec", version=routes.API_VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=routes.DESCRIPTION, openapi_tags=routes.TAGS)
    app.state.service = service
    _install_docs(app)
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    _install_audit(app, service)  # added last, so outermost: refusals of the body limit are audited too
    routes.install(app)
    return app


def app_from_env() -> FastAPI:
    """The factory ``facerec serve`` gives uvicorn (each worker process builds its own)."""
    return create_app(Settings.from_env())
