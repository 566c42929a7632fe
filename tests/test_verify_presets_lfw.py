"""Issue #13 (4) and (5) on real LFW photos: verification defaults to the strict preset (a measured
0.1% false-accept rate) with and without a model and explains its score; a photo can be checked
against an enrolled or a model person; recognised faces carry one score and say why."""
from __future__ import annotations

import pytest

from facerec_core.errors import FacerecError
from facerec_core.gallery import GalleryStore, enroll
from facerec_core.lfw import read_pairs
from facerec_core.recognizer import Recognizer
from tests.conftest import lfw_photo


@pytest.fixture(scope="module")
def bare(trained, tmp_path_factory) -> Recognizer:
    settings, _ = trained
    return Recognizer.load(settings.replace(artifacts_dir=tmp_path_factory.mktemp("no-model")), require_model=False)


def test_colin_powell_and_tony_blair_are_different_people_at_the_default(bare, recognizer, lfw_dir):
    a, b = lfw_photo(lfw_dir, "Colin_Powell", 1), lfw_photo(lfw_dir, "Tony_Blair", 3)
    for rec in (bare, recognizer):
        v = rec.verify(a, b)
        assert v.preset == "strict" and not v.same, v.verdict
        assert v.far is not None and v.far <= 0.001 and "LFW View-2" in v.measured_on
        assert "different people" in v.verdict and "threshold" in v.verdict
        assert "-1 to 1" in v.scale  # the score's scale is always explained
        assert "0.10% of different-person pairs" in v.rule
        d = v.to_dict()
        assert d["preset"] == "strict" and d["false_accept_rate"] == v.far and d["score_meaning"] == v.scale
    # each preset is looser than the one before, and a hand-set threshold says it is not measured
    presets = bare.verify_presets
    assert [p.name for p in presets] == ["strict", "balanced", "lenient"]
    assert presets[0].threshold > presets[1].threshold > presets[2].threshold
    assert bare.verify(a, b, threshold=0.3).rule.endswith("set by hand (false-accept rate not measured)")
    with pytest.raises(FacerecError, match="unknown verification preset"):
        bare.verify(a, b, preset="anything goes")


def test_different_person_pairs_of_view2_are_refused_and_matched_ones_accepted(bare, lfw_dir, lfw_protocol_dir):
    pairs = [p for p in read_pairs(lfw_protocol_dir / "pairs.txt") if p.fold == 1]
    mismatched = [p for p in pairs if not p.same][:12]
    accepted = [p for p in mismatched if bare.verify(lfw_photo(lfw_dir, p.name1, p.index1),
                                                     lfw_photo(lfw_dir, p.name2, p.index2)).same]
    assert accepted == []
    matched = [p for p in pairs if p.same][:4]
    assert all(bare.verify(lfw_photo(lfw_dir, p.name1, p.index1), lfw_photo(lfw_dir, p.name2, p.index2)).same
               for p in matched)


def test_a_photo_against_a_model_person_and_an_enrolled_one(trained, held_out_photo, lfw_dir, tmp_path):
    settings, _ = trained
    settings = settings.replace(data_dir=tmp_path / "data")
    with GalleryStore.open(settings) as store:
        enroll(store, Recognizer.load(settings), "Serena Williams",
               [lfw_photo(lfw_dir, "Serena_Williams", i) for i in (1, 2, 3)])
    rec = Recognizer.load(settings)
    assert "Serena Williams" in rec.claimable_people and "Colin_Powell" in rec.claimable_people
    name, photo = held_out_photo
    yes = rec.verify_person(photo, name)
    assert yes.same and yes.person == name and yes.preset == "strict" and yes.face_b is None
    assert yes.compared_photos == 12 and yes.verdict.startswith("clearly " + name.replace("_", " "))
    no = rec.verify_person(lfw_photo(lfw_dir, "Tony_Blair", 3), "Colin_Powell")
    assert not no.same and "not Colin Powell" in no.verdict and "claims" in no.rule
    assert rec.verify_person(lfw_photo(lfw_dir, "Serena_Williams", 10), "Serena Williams").same
    assert not rec.verify_person(lfw_photo(lfw_dir, "Jean_Chretien", 10), "Serena Williams").same
    with pytest.raises(FacerecError, match="neither enrolled"):
        rec.verify_person(photo, "Nobody_Known")


def test_recognized_faces_carry_one_score_and_say_why(recognizer, held_out_photo, stranger_photo):
    name, photo = held_out_photo
    f = recognizer.recognize(photo)[0]
    assert f.identity == name and f.matches[0].name == name
    assert f.matches[0].score == pytest.approx(f.confidence)
    assert f.reason.startswith(f"score {f.confidence:.3f} ≥ threshold {recognizer.threshold:.3f}")
    s = recognizer.recognize(stranger_photo)[0]
    assert s.identity == "unknown" and s.confidence == pytest.approx(s.matches[0].score)
    assert all(m.score < recognizer.threshold for m in s.matches)
    assert s.reason.startswith("closest to ") and "below threshold" in s.reason
