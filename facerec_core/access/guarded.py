"""Every change to people goes through here, never through :class:`GalleryStore` directly.

:class:`GuardedGallery` wraps a store with the principal asking and the audit log. Each method
asks :func:`.guard.require` first — a refusal changes nothing (not even a photo is embedded) and
is recorded as ``denied`` — then calls the store, then records what was done (the person's name
and id, counts; never an embedding, a thumbnail or a note's text). A change the store refuses
(an unknown person, a bad file) is recorded as ``failed`` with the message, and raised.

Read-only uses (``people()``, ``samples()``, ``matrix()``) stay on :attr:`GuardedGallery.store`;
the pages guard them with ``require(principal, Action.VIEW_GALLERY)``.

:func:`authorize_training` and :func:`authorize_deploy` guard what does not touch the gallery
(training runs in another process; deploying swaps a pointer file): the refusal is audited as
``denied``, the permission as ``authorized``; the caller records the result once it is known.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Literal, Mapping, TypeVar

from ..errors import FacerecError
from ..gallery.enroll import EnrollmentPlan, EnrollmentReport, FacePipeline, enroll, store_plan
from ..gallery.transfer import export_bytes, export_file, import_data, import_file
from ..gallery.records import ImportReport, Person
from ..gallery.store import GalleryStore
from .audit import AuditLog
from .guard import require
from .principal import Principal
from .roles import Action

T = TypeVar("T")
CHANGES_PEOPLE = frozenset({Action.ENROLL, Action.RENAME, Action.EDIT_NOTES, Action.DELETE_PERSON, Action.DELETE_SAMPLE,
                            Action.IMPORT})
"""The changes that are an ``enrollment.changed`` webhook event."""


class GuardedGallery:
    """A gallery store as ``principal`` may use it, every change audited with ``where`` (the page
    or command: "Gallery page", "cli enroll")."""

    def __init__(self, store: GalleryStore, principal: Principal, audit: AuditLog, *, where: str) -> None:
        self.store = store
        self.principal = principal
        self.audit = audit
        self.where = where

    def _do(self, action: Action, target: str, change: Callable[[], T],
            detail: Callable[[T], Mapping[str, Any]] | None = None, *, target_of: Callable[[T], str] | None = None,
            before: Mapping[str, Any] | None = None) -> T:
        """require → change → record; a refused change records ``failed`` and re-raises."""
        require(self.principal, action, self.audit, target=target, where=self.where)
        try:
            result = change()
        except FacerecError as exc:
            self.audit.record(self.principal, action.value, target=target, outcome="failed",
                              detail={**(before or {}), "error": " ".join(str(exc).split())[:300]}, where=self.where)
            raise
        done = {**(before or {}), **(detail(result) if detail else {})}
        self.audit.record(self.principal, action.value, target=target_of(result) if target_of else target,
                          detail=done, where=self.where)
        if action in CHANGES_PEOPLE:
            from ..api.webhooks import emit

            emit(self.store.path, "enrollment.changed", {"action": action.value, "person": target_of(result)
                                                         if target_of else target, "by": self.principal.name, **done})
        return result

    def _person_label(self, key: str | int) -> tuple[str, dict[str, Any]]:
        person = self.store.find_person(key)
        if person is None:
            return str(key), {}
        return person.name, {"person_id": person.id}

    @staticmethod
    def _enrolled(report: EnrollmentReport) -> dict[str, Any]:
        return {"person_id": report.person.id if report.person else None, "added": report.added,
                "duplicates": report.duplicates, "refused": report.refused}

    def store_plan(self, plan: EnrollmentPlan, **kw: Any) -> EnrollmentReport:
        """Store a checked enrollment (ENROLL): :func:`facerec_core.gallery.store_plan`."""
        return self._do(Action.ENROLL, plan.name, lambda: store_plan(self.store, plan, **kw), self._enrolled,
                        target_of=lambda r: r.name)

    def enroll_photos(self, recognizer: FacePipeline, name: str, photos: Iterable[Any], **kw: Any) -> EnrollmentReport:
        """Check and store photos at once (ENROLL): :func:`facerec_core.gallery.enroll`. The
        guard runs before any photo is read or embedded."""
        return self._do(Action.ENROLL, str(name), lambda: enroll(self.store, recognizer, name, photos, **kw),
                        self._enrolled, target_of=lambda r: r.name)

    def add_samples(self, name: str, samples: Iterable[Any]) -> tuple[Person | None, list]:
        """Store ready-made samples (a named cluster's faces, through the enrollment gate already)
        for ``name``, creating the person if needed; guarded as ``enroll``, audited with the count."""
        return self._do(Action.ENROLL, str(name), lambda: self.store.add_samples(name, list(samples)),
                        lambda result: {"added": sum(o.status == "added" for o in result[1]), "from": "sightings"})

    def rename_person(self, key: str | int, new_name: str) -> Person:
        """RENAME; the trail keeps the old and the new name."""
        target, before = self._person_label(key)
        return self._do(Action.RENAME, target, lambda: self.store.rename_person(key, new_name),
                        lambda p: {"new_name": p.name}, before=before)

    def set_notes(self, key: str | int, notes: str) -> Person:
        """EDIT_NOTES; the trail keeps the notes' length, not their text."""
        target, before = self._person_label(key)
        return self._do(Action.EDIT_NOTES, target, lambda: self.store.set_notes(key, notes),
                        lambda p: {"notes_length": len(p.notes)}, before=before)

    def delete_person(self, key: str | int) -> int:
        """DELETE_PERSON; returns how many samples went."""
        target, before = self._person_label(key)
        return self._do(Action.DELETE_PERSON, target, lambda: self.store.delete_person(key),
                        lambda n: {"samples_deleted": n}, before=before)

    def delete_sample(self, sample_id: int) -> None:
        """DELETE_SAMPLE."""
        return self._do(Action.DELETE_SAMPLE, f"sample {int(sample_id)}", lambda: self.store.delete_sample(sample_id),
                        before={"sample_id": int(sample_id)})

    def export_bytes(self, backbone: str) -> bytes:
        """EXPORT every embedding of ``backbone`` (biometric data) as the v1 JSON format."""
        return self._do(Action.EXPORT, backbone, lambda: export_bytes(self.store, backbone),
                        lambda raw: {"bytes": len(raw), "people": len(self.store.people())})

    def export_file(self, path: str | os.PathLike, backbone: str) -> "os.PathLike":
        """EXPORT to a file (0600): :func:`facerec_core.gallery.export_file` (for the CLI)."""
        return self._do(Action.EXPORT, backbone, lambda: export_file(self.store, path, backbone),
                        lambda p: {"file": os.path.basename(str(p)), "people": len(self.store.people())})

    @staticmethod
    def _imported(r: ImportReport) -> dict[str, Any]:
        return {"people_added": r.people_added, "people_merged": r.people_merged, "samples_added": r.samples_added,
                "samples_skipped": r.samples_skipped}

    def import_data(self, data: bytes | str | dict, backbone: str) -> ImportReport:
        """IMPORT an export (merged by name; refused whole when any entry is bad)."""
        return self._do(Action.IMPORT, backbone, lambda: import_data(self.store, data, backbone),
                        self._imported)

    def import_file(self, path: str | os.PathLike, backbone: str) -> ImportReport:
        """IMPORT from a file (for the CLI)."""
        return self._do(Action.IMPORT, backbone, lambda: import_file(self.store, path, backbone),
                        self._imported, before={"file": os.path.basename(str(path))})


def authorize_training(principal: Principal | None, audit: AuditLog, *, kind: Literal["train", "retrain"],
                       where: str) -> None:
    """TRAIN or RETRAIN (NotAllowedError, audited ``denied``); recorded ``authorized`` otherwise."""
    if kind not in ("train", "retrain"):
        raise ValueError(f"kind must be 'train' or 'retrain', not {kind!r}")
    action = Action.TRAIN if kind == "train" else Action.RETRAIN
    require(principal, action, audit, target=kind, where=where)
    audit.record(principal, action.value, target=kind, outcome="authorized", where=where)


def authorize_deploy(principal: Principal | None, audit: AuditLog, *, version: str, where: str) -> None:
    """DEPLOY_MODEL of ``version`` (NotAllowedError, audited ``denied``); ``authorized`` otherwise."""
    require(principal, Action.DEPLOY_MODEL, audit, target=str(version), where=where)
    audit.record(principal, Action.DEPLOY_MODEL.value, target=str(version), outcome="authorized", where=where)
