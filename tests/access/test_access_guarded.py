"""Every change to people through GuardedGallery, on a real gallery of hand-made embeddings:
refused for operator and viewer with the store unchanged and a "denied" row, done for admin with
a row naming the person; training and deploying guarded the same way."""
from __future__ import annotations

import json

import pytest

from facerec_core.access import Role, cli_principal
from facerec_core.access.guarded import GuardedGallery, authorize_deploy, authorize_training
from facerec_core.errors import NotAllowedError, PersonNotFoundError
from facerec_core.gallery import EnrollmentPlan, PhotoCheck, NewSample, export_bytes
from tests.access.conftest import HandMadePipeline, hand_made_photo, principal, rows, unit_vectors


def snapshot(path) -> list:
    return [rows(path, "SELECT id, name, name_key, notes, updated FROM people ORDER BY id"),
            rows(path, "SELECT id, person_id, embedding, thumbnail FROM samples ORDER BY id"),
            rows(path, "SELECT value FROM meta WHERE key = 'generation'")]


def _plan(gallery, name="Ada Lovelace") -> EnrollmentPlan:
    X = unit_vectors(2, seed=7)
    photos = [PhotoCheck(f"ada{i}.jpg", NewSample(X[i], "facenet", 0.99, f"ada{i}.jpg", content_hash=f"{i:064x}"))
              for i in range(2)]
    return EnrollmentPlan(name, None, gallery.find_person(name), photos)


def _export(gallery) -> bytes:
    data = json.loads(export_bytes(gallery, "facenet"))
    data["people"][0]["name"] = "Imported Person"
    return json.dumps(data).encode()


def _sample_id(gallery) -> int:
    return gallery.samples("Grace Hopper")[0].id


# method name, action, call(guarded, gallery, tmp_path), expected target
CALLS = [
    ("store_plan", "enroll", lambda g, s, t: g.store_plan(_plan(s)), "Ada Lovelace"),
    ("enroll_photos", "enroll", lambda g, s, t: g.enroll_photos(g.pipeline, "Ada Lovelace",
                                                                 [hand_made_photo(0), hand_made_photo(1)]), "Ada Lovelace"),
    ("rename_person", "rename", lambda g, s, t: g.rename_person("Grace Hopper", "Grace B. Hopper"), "Grace Hopper"),
    ("set_notes", "edit_notes", lambda g, s, t: g.set_notes("Grace Hopper", "rear admiral"), "Grace Hopper"),
    ("delete_person", "delete_person", lambda g, s, t: g.delete_person("Alan Turing"), "Alan Turing"),
    ("delete_sample", "delete_sample", lambda g, s, t: g.delete_sample(_sample_id(s)), None),
    ("export_bytes", "export", lambda g, s, t: g.export_bytes("facenet"), "facenet"),
    ("export_file", "export", lambda g, s, t: g.export_file(t / "out.json", "facenet"), "facenet"),
    ("import_data", "import", lambda g, s, t: g.import_data(_export(s), "facenet"), "facenet"),
    ("import_file", "import", lambda g, s, t: g.import_file(_write(t, _export(s)), "facenet"), "facenet"),
]


def _write(tmp_path, data: bytes):
    path = tmp_path / "in.json"
    path.write_bytes(data)
    return path


def _guarded(gallery, access, role):
    guarded = GuardedGallery(gallery, principal(role), access.audit, where="Gallery page")
    guarded.pipeline = HandMadePipeline(unit_vectors(2, seed=7))
    return guarded


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
@pytest.mark.parametrize("method, action, call, target", CALLS, ids=[c[0] for c in CALLS])
def test_refused_below_admin_and_nothing_changes(access, gallery, tmp_path, role, method, action, call, target):
    guarded = _guarded(gallery, access, role)
    before = snapshot(access.path)
    with pytest.raises(NotAllowedError, match=f"needs the admin role; {role.value}-user is {role.value}"):
        call(guarded, gallery, tmp_path)
    assert snapshot(access.path) == before
    assert guarded.pipeline.calls == 0 and not (tmp_path / "out.json").exists()
    (event,) = access.audit.events()
    assert (event.action, event.outcome, event.role, event.where) == (action, "denied", role.value, "Gallery page")
    if target:
        assert event.target == target


@pytest.mark.parametrize("method, action, call, target", CALLS, ids=[c[0] for c in CALLS])
def test_done_for_admin_and_audited(access, gallery, tmp_path, method, action, call, target):
    guarded = _guarded(gallery, access, Role.ADMIN)
    before = snapshot(access.path)
    call(guarded, gallery, tmp_path)
    if action != "export":
        assert snapshot(access.path) != before
    (event,) = access.audit.events()
    assert (event.action, event.outcome, event.actor, event.where) == (action, "ok", "admin-user", "Gallery page")
    if target:
        assert event.target == target
    assert "embedding" not in json.dumps(event.detail)
    assert access.audit.verify().ok


def test_what_the_trail_says_about_each_change(access, gallery):
    guarded = _guarded(gallery, access, Role.ADMIN)
    grace = gallery.person("Grace Hopper")
    guarded.rename_person(grace.id, "Grace B. Hopper")
    guarded.set_notes("Grace B. Hopper", "a private note")
    report = guarded.store_plan(_plan(gallery))
    removed = guarded.delete_person("Alan Turing")
    events = {e.action: e for e in access.audit.events()}
    assert events["rename"].target == "Grace Hopper" and events["rename"].detail == \
           {"person_id": grace.id, "new_name": "Grace B. Hopper"}
    assert events["edit_notes"].detail == {"person_id": grace.id, "notes_length": len("a private note")}
    assert "a private note" not in json.dumps([e.detail for e in events.values()])
    assert events["enroll"].detail == {"person_id": report.person.id, "added": 2, "duplicates": 0, "refused": 0}
    assert events["delete_person"].detail["samples_deleted"] == removed == 1


def test_a_change_the_store_refuses_is_audited_as_failed(access, gallery):
    guarded = _guarded(gallery, access, Role.ADMIN)
    with pytest.raises(PersonNotFoundError):
        guarded.delete_person("Nobody")
    (event,) = access.audit.events()
    assert (event.action, event.outcome, event.target) == ("delete_person", "failed", "Nobody")
    assert "nobody enrolled" in event.detail["error"]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_training_and_deploying_need_admin(access, role):
    who = principal(role)
    for call, action in ((lambda: authorize_training(who, access.audit, kind="train", where="Home page"), "train"),
                         (lambda: authorize_training(who, access.audit, kind="retrain", where="Gallery page"), "retrain"),
                         (lambda: authorize_deploy(who, access.audit, version="v1", where="Home page"), "deploy_model")):
        with pytest.raises(NotAllowedError):
            call()
        assert (access.audit.events()[0].action, access.audit.events()[0].outcome) == (action, "denied")


def test_training_and_deploying_for_admin_are_recorded(access):
    authorize_training(cli_principal(), access.audit, kind="retrain", where="cli retrain")
    authorize_deploy(principal(Role.ADMIN), access.audit, version="20261202-1", where="Home page")
    assert [(e.action, e.outcome, e.target) for e in reversed(access.audit.events())] == \
           [("retrain", "authorized", "retrain"), ("deploy_model", "authorized", "20261202-1")]
    with pytest.raises(ValueError):
        authorize_training(cli_principal(), access.audit, kind="evaluate", where="cli")
