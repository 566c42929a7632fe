"""The key check every ``/v1`` route depends on (:func:`caller`): the key (``X-API-Key: frk_…`` or
``Authorization: Bearer frk_…``; 401 when missing, unknown or revoked), the key's rate limit (429
with Retry-After) and the role the route's action needs (403), from the same table as the
dashboard (:data:`facerec_core.access.roles.REQUIRED_ROLE`)."""
from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from ..access.guard import refusal
from ..access.roles import Action, allowed
from .keys import api_principal
from .problems import ApiProblem
from .service import ApiService

KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description="A key made by an administrator (`facerec key add NAME --role operator`)")
"""The header, declared so that the OpenAPI document (and /docs' Authorize button) knows it."""


def caller(action: Action):
    """The dependency of a ``/v1`` route doing ``action``: returns the caller's principal, or
    raises 401, 429 or 403 (see the module docstring)."""

    async def dependency(request: Request, header_key: str | None = Security(KEY_HEADER)):
        service: ApiService = request.app.state.service
        request.state.action = action
        token = header_key
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
