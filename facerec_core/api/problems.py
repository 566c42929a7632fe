"""The API's error answers: ``{"error": {"code": "…", "message": "…"}}`` with the stable codes of
:data:`ERROR_CODES` (the README's table is this table)."""
from __future__ import annotations

from fastapi.responses import JSONResponse

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
