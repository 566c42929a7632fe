"""Corrections on real LFW photos, through the Recognizer the CLI and the pages use: "not this
person" makes the same photo answer unknown next time, without costing the person their other
photos; rejections with confirmations raise the person's own threshold; a confirmed photo keeps
its name."""
from __future__ import annotations

import pytest

from facerec_core.history import record_sightings, sighting_store
from facerec_core.history.corrections import CorrectionBook
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo


@pytest.fixture()
def corrected(trained, tmp_path):
    settings = trained[0].replace(data_dir=tmp_path / "data")
    return settings, Recognizer.load(settings)


def _record(settings, rec, path, faces):
    return record_sightings(settings, "cli", faces[:1], image=rec.read_image(path), backbone=rec.backbone.name)[0]


def _strangers_named(rec, lfw_dir, count):
    """One-photo LFW people whom the model names, at threshold 0, as the same person."""
    singles = sorted(p for p in lfw_dir.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) == 1)
    by_name: dict[str, list] = {}
    for folder in singles[:200]:
        path = next(folder.glob("*.jpg"))
        faces = rec.recognize(path, threshold=0.0)
        if faces and faces[0].identity not in (None, "unknown"):
            by_name.setdefault(faces[0].identity, []).append((path, faces))
            if len(by_name[faces[0].identity]) == count:
                return faces[0].identity, by_name[faces[0].identity]
    pytest.fail("no person was given to enough strangers")


def test_not_this_person_makes_the_same_photo_unknown_next_time(corrected, lfw_dir):
    settings, rec = corrected
    name, [(stranger, faces)] = _strangers_named(rec, lfw_dir, 1)
    CorrectionBook(sighting_store(settings)).reject(_record(settings, rec, stranger, faces))
    [again] = rec.recognize(stranger, threshold=0.0)
    assert again.identity == "unknown" and "rejected as" in again.reason, again.reason
    [genuine] = rec.recognize(lfw_photo(lfw_dir, name, 20))  # the person's own held-out photo
    assert genuine.identity == name


def test_rejections_raise_the_persons_threshold_and_a_confirmed_photo_keeps_its_name(corrected, lfw_dir):
    settings, rec = corrected
    name, strangers = _strangers_named(rec, lfw_dir, 4)
    strangers.sort(key=lambda pair: -pair[1][0].confidence)  # the two best-scoring are rejected
    book = CorrectionBook(sighting_store(settings))
    path = lfw_photo(lfw_dir, name, 20)
    for confirmed in (path, lfw_photo(lfw_dir, name, 21)):  # a person's own threshold needs confirmed faces
        genuine = rec.recognize(confirmed)
        assert genuine[0].identity == name
        book.confirm(_record(settings, rec, confirmed, genuine), name)
    for stranger, faces in strangers[:2]:
        book.reject(_record(settings, rec, stranger, faces))
    corrections = book.correction_set(rec.backbone.name)
    own = corrections.person_threshold(name, -1.0)
    assert own is not None and own >= max(faces[0].confidence for _, faces in strangers[:2])
    for other, _ in strangers[2:]:  # never rejected themselves, and scoring lower: no longer given the name
        [again] = rec.recognize(other, threshold=0.0)
        assert again.identity == "unknown", again.reason
    assert rec.recognize(path)[0].identity == name
