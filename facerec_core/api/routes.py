"""The API's endpoints (``/v1``), each a thin layer over the core: read the request, call the
Recognizer, gallery or history, answer JSON. Model work runs on the service's bounded
:class:`~.limits.WorkQueue`; everything else on Starlette's thread pool, never on the event loop.

Images come as ``multipart/form-data`` (field ``image``; ``a`` and ``b`` for verify; ``photos`` for
enrollment, repeatable) or, for the one-image endpoints, as the raw body (``Content-Type:
image/jpeg`` …). The answers of ``/v1/recognize`` are ``predict``'s, field for field.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..access.guarded import GuardedGallery
from ..access.principal import Principal
from ..access.roles import Action
from ..errors import PersonNotFoundError
from ..history import SightingQuery, record_sightings, sighting_store
from .auth import caller
from .problems import ApiProblem
from .service import ApiService
from .webhooks import EVENTS

API_VERSION = "1.0"
TAGS = [{"name": "faces", "description": "Detect, recognize and verify faces (operator)."},
        {"name": "people", "description": "The enrolled gallery (admin)."},
        {"name": "history", "description": "Recorded decisions (operator)."},
        {"name": "webhooks", "description": "Signed event deliveries (admin)."},
        {"name": "service", "description": "Health, readiness, version; no key needed for health and readiness."}]
DESCRIPTION = ("Face detection and recognition, offline. Send the key an administrator made "
               "(`facerec key add NAME --role operator`) as the `X-API-Key` header. Errors are "
               '`{"error": {"code": ..., "message": ...}}`.')
IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                       "properties": {"image": {"type": "string", "format": "binary"}}}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}}
PHOTOS_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photos"],
    "properties": {"name": {"type": "string", "example": "Ada Lovelace"}, "notes": {"type": "string"},
                   "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}
VERIFY_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["a"],
    "properties": {"a": {"type": "string", "format": "binary"}, "b": {"type": "string", "format": "binary"},
                   "person": {"type": "string", "description": "instead of b: an enrolled person's name"}}}}}}}
FACE_EXAMPLE = {"box": [71.2, 64.0, 175.9, 190.3], "det_score": 0.9998,
                "landmarks": [[102.1, 117.5], [146.0, 116.8], [124.9, 141.2], [106.3, 164.0], [143.7, 163.4]],
                "identity": "Colin Powell", "confidence": 0.8123,
                "matches": [{"name": "Colin Powell", "score": 0.8123}, {"name": "unknown", "score": 0.2011}],
                "detected": True, "note": None, "threshold": 0.44, "reason": "score 0.812 ≥ threshold 0.440"}


class ErrorBody(BaseModel):
    error: dict[str, str] = Field(examples=[{"code": "bad_image", "message": "upload: not an image"}])


class Recognized(BaseModel):
    image: str = Field(examples=["door.jpg"])
    faces: list[dict[str, Any]] = Field(examples=[[FACE_EXAMPLE]])


class PersonChange(BaseModel):
    name: str | None = Field(None, examples=["Ada Lovelace"], description="a new name")
    notes: str | None = Field(None, examples=["badge 17"], description="new notes (plain text)")


class WebhookIn(BaseModel):
    url: str = Field(examples=["http://127.0.0.1:8123/api/webhook/facerec"])
    events: list[str] = Field(default=list(EVENTS), examples=[["person.recognized", "face.unknown"]])


ERRORS = {code: {"model": ErrorBody} for code in (401, 403, 404, 413, 422, 429, 503)}


def _service(request: Request) -> ApiService:
    return request.app.state.service


def _recognizer(service: ApiService):
    if service.recognizer is None:
        why = service.load_problem or "the models are still loading; retry in a few seconds"
        raise ApiProblem("not_ready", why, {"Retry-After": "5"})
    return service.recognizer


async def _uploads(request: Request, *fields: str, many: bool = False) -> dict[str, list[tuple[str, bytes]]]:
    """``{field: [(file name, bytes), ...]}`` from a multipart form, or the raw body as the first
    field; a missing field is a 422 naming it."""
    kind = request.headers.get("content-type", "")
    found: dict[str, list[tuple[str, bytes]]] = {f: [] for f in fields}
    if kind.startswith("multipart/form-data"):
        async with request.form(max_files=1000, max_fields=100) as form:
            for field in fields:
                for item in form.getlist(field):
                    if hasattr(item, "read"):
                        found[field].append((str(item.filename or field)[:200], await item.read()))
            request.state.form = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    elif not many:
        body = await request.body()
        if body:
            found[fields[0]].append(("upload", body))
    return found


def _one(found: dict, field: str, *, required: bool = True) -> tuple[str, bytes] | None:
    items = found.get(field) or []
    if not items:
        if required:
            raise ApiProblem("invalid_request", f"no {field!r} image: send it as the multipart field {field!r}"
                                                + (" or as the raw body" if field == "image" else ""))
        return None
    return items[0]


def _form(request: Request, name: str) -> str | None:
    return getattr(request.state, "form", {}).get(name)


def _person_json(person) -> dict:
    return {"id": person.id, "name": person.name, "notes": person.notes, "samples": person.samples,
            "created": person.created, "updated": person.updated}


def _report_json(report) -> dict:
    return {"name": report.name, "person": None if report.person is None else _person_json(report.person),
            "added": report.added, "duplicates": report.duplicates, "refused": report.refused,
            "photos": [{"source": o.source, "status": o.status, "reason": o.reason} for o in report.outcomes]}


def _guarded(service: ApiService, principal: Principal, route: str) -> GuardedGallery:
    return GuardedGallery(service.gallery(), principal, service.audit, where=f"api {route}")


def install(app: FastAPI) -> None:
    """Add every route to ``app``."""

    # -- service ---------------------------------------------------------------------------------

    @app.get("/health", tags=["service"], summary="The process answers (no key)")
    async def health():
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], summary="The models are loaded and the gallery opens (no key)",
             responses={503: {"model": ErrorBody}})
    async def ready(request: Request):
        service = _service(request)
        if not service.ready:
            return JSONResponse({"ready": False, "problem": service.load_problem or "loading the models"},
                                status_code=503, headers={"Retry-After": "5"})
        rec = service.recognizer
        return {"ready": True, "model": rec.has_model, "model_problem": rec.model_problem,
                "gallery_people": 0 if rec.gallery is None else len(rec.gallery.people)}

    @app.get("/v1/version", tags=["service"], summary="Versions and the deployed model's manifest")
    async def version(request: Request, principal=Depends(caller(Action.VIEW_HOME))):
        from importlib.metadata import PackageNotFoundError, version as package_version

        service = _service(request)
        rec = _recognizer(service)
        try:
            facerec = package_version("facerec")
        except PackageNotFoundError:
            facerec = "unknown"
        return {"facerec": facerec, "api": API_VERSION, "backbone": rec.backbone.name,
                "threshold": rec.threshold, "model": dict(rec.manifest) or None, "model_problem": rec.model_problem}

    # -- faces -----------------------------------------------------------------------------------

    @app.post("/v1/recognize", tags=["faces"], response_model=Recognized, responses=ERRORS, openapi_extra=IMAGE_BODY,
              summary="Every face: box, score, name or unknown, matches, notes (predict's JSON)")
    async def recognize(request: Request, threshold: float | None = Query(None, ge=-1.0, le=1e6),
                        top_k: int = Query(3, ge=1, le=20), principal=Depends(caller(Action.RECOGNIZE))):
        service = _service(request)
        rec = _recognizer(service)
        service.queue.check()  # a busy server refuses before the upload is read
        label, data = _one(await _uploads(request, "image"), "image")

        def work():
            faces = rec.recognize(data, threshold=threshold, top_k=top_k, name=label)
            image = rec.read_image(data, name=label) if faces and "api" in service.settings.sightings else None
            record_sightings(service.settings, "api", faces, image=image, place=label, backbone=rec.backbone.name)
            return faces

        faces = await service.queue.run(work)
        request.state.audit_detail = {"faces": len(faces), "answers": [f.identity or "none" for f in faces][:20]}
        return JSONResponse({"image": label, "faces": [f.to_dict() for f in faces]})

    @app.post("/v1/detect", tags=["faces"], responses=ERRORS, openapi_extra=IMAGE_BODY,
              summary="Every face's box, detector score and landmarks; no names")
    async def detect(request: Request, principal=Depends(caller(Action.RECOGNIZE))):
        service = _service(request)
        rec = _recognizer(service)
        service.queue.check()  # a busy server refuses before the upload is read
        label, data = _one(await _uploads(request, "image"), "image")
        faces = await service.queue.run(lambda: rec.detect(rec.read_image(data, name=label)))
        request.state.audit_detail = {"faces": len(faces)}
        keep = ("box", "det_score", "landmarks")
        return {"image": label, "faces": [{k: v for k, v in f.to_dict().items() if k in keep} for f in faces]}

    @app.post("/v1/verify", tags=["faces"], responses=ERRORS, openapi_extra=VERIFY_BODY,
              summary="Are the largest faces of images a and b (or a and an enrolled person) the same person?")
    async def verify(request: Request, threshold: float | None = Query(None), preset: str | None = Query(None),
                     principal=Depends(caller(Action.VERIFY))):
        service = _service(request)
        rec = _recognizer(service)
        service.queue.check()
        found = await _uploads(request, "a", "b", many=True)
        a, b, person = _one(found, "a"), _one(found, "b", required=False), _form(request, "person")
        if (b is None) == (person is None):
            raise ApiProblem("invalid_request", "send a second image as 'b', or an enrolled person's name as 'person'")
        if person is not None:
            if person not in rec.claimable_people:
                raise PersonNotFoundError(f"{person!r} is neither enrolled nor known to the trained model")
            result = await service.queue.run(lambda: rec.verify_person(a[1], person, threshold=threshold,
                                                                       preset=preset))
        else:
            result = await service.queue.run(lambda: rec.verify(a[1], b[1], threshold=threshold, preset=preset))
        request.state.audit_detail = {"answer": "same" if result.same else "different",
                                      "score": round(float(result.similarity), 4), "person": person}
        return result.to_dict()

    # -- people ----------------------------------------------------------------------------------

    @app.get("/v1/people", tags=["people"], responses=ERRORS, summary="Every enrolled person")
    def people(request: Request, principal=Depends(caller(Action.VIEW_GALLERY))):
        return {"people": [_person_json(p) for p in _service(request).gallery().people()]}

    @app.get("/v1/people/{name}", tags=["people"], responses=ERRORS, summary="One person and their samples")
    def person(name: str, request: Request, principal=Depends(caller(Action.VIEW_GALLERY))):
        store = _service(request).gallery()
        found = store.find_person(name)
        if found is None:
            raise PersonNotFoundError(f"no enrolled person named {name!r}")
        samples = [{"id": s.id, "backbone": s.backbone, "det_score": round(float(s.det_score), 4),
                    "source": s.source, "created": s.created} for s in store.samples(found.id)]
        return {**_person_json(found), "sample_list": samples}

    async def _enroll(request: Request, principal: Principal, name: str, notes: str | None, route: str,
                      photos: list[tuple[str, bytes]]):
        service = _service(request)
        rec = _recognizer(service)
        if not photos:
            raise ApiProblem("invalid_request", "no photos: send one or more as the multipart field 'photos'")
        guarded = _guarded(service, principal, route)
        report = await service.queue.run(lambda: guarded.enroll_photos(rec, name, photos, notes=notes))
        request.state.audit_detail = {"added": report.added, "refused": report.refused}
        return JSONResponse(_report_json(report), status_code=201 if report.added else 422)

    @app.post("/v1/people", tags=["people"], responses=ERRORS, openapi_extra=PHOTOS_BODY, status_code=201,
              summary="Enroll a person from photos (each must show one face)")
    async def create_person(request: Request, principal=Depends(caller(Action.ENROLL))):
        _service(request).queue.check()
        photos = (await _uploads(request, "photos", many=True))["photos"]
        name = _form(request, "name")
        if not name:
            raise ApiProblem("invalid_request", "no 'name': send the person's name as a multipart field")
        return await _enroll(request, principal, name, _form(request, "notes"), "POST /v1/people", photos)

    @app.post("/v1/people/{name}/samples", tags=["people"], responses=ERRORS, openapi_extra=PHOTOS_BODY,
              status_code=201, summary="Add photos to an enrolled person")
    async def add_samples(name: str, request: Request, principal=Depends(caller(Action.ENROLL))):
        if await run_in_threadpool(_service(request).gallery().find_person, name) is None:
            raise PersonNotFoundError(f"no enrolled person named {name!r}: POST /v1/people enrolls a new one")
        _service(request).queue.check()
        photos = (await _uploads(request, "photos", many=True))["photos"]
        return await _enroll(request, principal, name, None, "POST /v1/people/{name}/samples", photos)

    @app.patch("/v1/people/{name}", tags=["people"], responses=ERRORS, summary="Rename a person or change the notes")
    def change_person(name: str, change: PersonChange, request: Request,
                      principal=Depends(caller(Action.RENAME))):
        service = _service(request)
        guarded = _guarded(service, principal, "PATCH /v1/people/{name}")
        if change.name is None and change.notes is None:
            raise ApiProblem("invalid_request", "nothing to change: send 'name', 'notes' or both")
        person = service.gallery().person(name)
        if change.notes is not None:
            person = guarded.set_notes(person.id, change.notes)
        if change.name is not None:
            person = guarded.rename_person(person.id, change.name)
        return _person_json(person)

    @app.delete("/v1/people/{name}", tags=["people"], responses=ERRORS, summary="Delete a person and their samples")
    def delete_person(name: str, request: Request, principal=Depends(caller(Action.DELETE_PERSON))):
        service = _service(request)
        person = service.gallery().person(name)
        removed = _guarded(service, principal, "DELETE /v1/people/{name}").delete_person(person.id)
        return {"deleted": person.name, "samples_deleted": removed}

    @app.delete("/v1/people/{name}/samples/{sample_id}", tags=["people"], responses=ERRORS,
                summary="Delete one sample of a person")
    def delete_sample(name: str, sample_id: int, request: Request,
                      principal=Depends(caller(Action.DELETE_SAMPLE))):
        service = _service(request)
        person = service.gallery().person(name)
        if sample_id not in {s.id for s in service.gallery().samples(person.id)}:
            raise ApiProblem("not_found", f"{person.name!r} has no sample {sample_id}")
        _guarded(service, principal, "DELETE /v1/people/{name}/samples/{sample_id}").delete_sample(sample_id)
        return {"deleted_sample": sample_id, "person": person.name}

    @app.get("/v1/gallery/export", tags=["people"], responses=ERRORS,
             summary="Every embedding, as the v1 export file (biometric data)")
    def export(request: Request, principal=Depends(caller(Action.EXPORT))):
        service = _service(request)
        raw = _guarded(service, principal, "GET /v1/gallery/export").export_bytes(service.settings.backbone)
        return Response(raw, media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="facerec-gallery.json"'})

    @app.post("/v1/gallery/import", tags=["people"], responses=ERRORS,
              summary="Merge an export (JSON body, or the multipart field 'file'); all or nothing")
    async def import_gallery(request: Request, principal=Depends(caller(Action.IMPORT))):
        service = _service(request)
        found = await _uploads(request, "file")
        _, raw = _one(found, "file")
        guarded = _guarded(service, principal, "POST /v1/gallery/import")
        report = await run_in_threadpool(guarded.import_data, raw, service.settings.backbone)
        return dataclasses.asdict(report)

    # -- history ---------------------------------------------------------------------------------

    @app.get("/v1/sightings", tags=["history"], responses=ERRORS,
             summary="Recorded decisions, newest first (no thumbnails or embeddings)")
    def sightings(request: Request, person: str | None = Query(None, description="a name, or 'unknown'"),
                  source: list[str] = Query([], description="recognize, live, cli, api"),
                  since: _dt.datetime | None = Query(None), until: _dt.datetime | None = Query(None),
                  limit: int = Query(100, ge=1, le=10_000), principal=Depends(caller(Action.VIEW_HISTORY))):
        store = sighting_store(_service(request).settings)
        query = SightingQuery(person=person, sources=tuple(source), since=since, until=until, limit=limit)
        rows = store.sightings(query)
        return {"sightings": [{"id": s.id, "time": s.time, "source": s.source, "place": s.place, "answer": s.answer,
                               "score": s.score, "runner_up": s.runner_up, "runner_up_score": s.runner_up_score,
                               "track": s.track, "det_score": s.det_score, "face_px": s.face_px,
                               "corrected": s.corrected} for s in rows]}

    # -- webhooks --------------------------------------------------------------------------------

    def _hook_json(hook) -> dict:
        return {"id": hook.id, "url": hook.url, "events": list(hook.events), "created": hook.created,
                "created_by": hook.created_by}

    @app.get("/v1/webhooks", tags=["webhooks"], responses=ERRORS, summary="Subscriptions")
    def webhooks(request: Request, principal=Depends(caller(Action.MANAGE_API))):
        return {"webhooks": [_hook_json(h) for h in _service(request).webhooks.list()], "events": list(EVENTS)}

    @app.post("/v1/webhooks", tags=["webhooks"], responses=ERRORS, status_code=201,
              summary="Subscribe a URL; the answer holds the signing secret, shown this once")
    def add_webhook(body: WebhookIn, request: Request, principal=Depends(caller(Action.MANAGE_API))):
        hook, secret = _service(request).webhooks.add(principal, body.url, body.events, where="api")
        return {**_hook_json(hook), "secret": secret}

    @app.delete("/v1/webhooks/{hook_id}", tags=["webhooks"], responses=ERRORS, summary="Unsubscribe")
    def remove_webhook(hook_id: int, request: Request, principal=Depends(caller(Action.MANAGE_API))):
        return _hook_json(_service(request).webhooks.remove(principal, hook_id, where="api"))

    @app.get("/v1/webhooks/{hook_id}/deliveries", tags=["webhooks"], responses=ERRORS,
             summary="The newest deliveries and what became of them")
    def deliveries(hook_id: int, request: Request, limit: int = Query(100, ge=1, le=1000),
                   principal=Depends(caller(Action.MANAGE_API))):
        service = _service(request)
        service.webhooks.get(hook_id)
        return {"deliveries": [dataclasses.asdict(d) for d in service.webhooks.deliveries(hook_id, limit=limit)]}
