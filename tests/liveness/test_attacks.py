"""Presentation attacks made from real LFW photos of enrolled people (tests/support/liveness_attacks.py):
a still photo, the photo waved in 3-D, the photo turned and tilted on cue, and a slideshow of the
person's other photos on cue. 200 attempts over 40 people; none may be accepted, and each refusal
must come from the liveness checks, not only from the photo going unrecognized."""
from __future__ import annotations

import collections

import pytest

from facerec_core.liveness import Authenticator
from facerec_core.recognizer import Recognizer
from tests.support.liveness_attacks import ATTACKS, enroll_people, run_attacks

PEOPLE = 40
PER_KIND = 50

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outcomes(base_settings, lfw_dir, tmp_path_factory, landmarks68):
    settings = base_settings.replace(data_dir=tmp_path_factory.mktemp("liveness_gallery"),
                                     artifacts_dir=tmp_path_factory.mktemp("no_model"))
    probes = enroll_people(settings, lfw_dir, PEOPLE)
    authenticator = Authenticator(Recognizer.load(settings, require_model=False), landmarks68)
    return run_attacks(authenticator, probes, PER_KIND, seed=17)


def _table(outcomes) -> str:
    counts = collections.Counter((o.kind, o.refusal or "ACCEPTED") for o in outcomes)
    return "\n".join(f"{kind:>11} {why}: {n}" for (kind, why), n in sorted(counts.items()))


def test_no_attack_is_accepted(outcomes):
    assert len(outcomes) == PER_KIND * len(ATTACKS) >= 200
    assert len({o.person for o in outcomes}) >= 30
    accepted = [o for o in outcomes if o.accepted]
    assert not accepted, f"accepted: {accepted}\n{_table(outcomes)}"


def test_attacks_get_past_recognition_and_are_stopped_by_liveness(outcomes):
    """The photos are of enrolled people: most are named, so the liveness checks are what refuse."""
    for kind in ATTACKS:
        mine = [o for o in outcomes if o.kind == kind]
        unrecognized = sum(o.refusal == "not recognized" for o in mine)
        assert unrecognized <= 0.2 * len(mine), _table(outcomes)
        assert all(o.message for o in mine)


def test_each_attack_is_refused_for_what_it_cannot_do(outcomes):
    reasons = {kind: collections.Counter(o.refusal for o in outcomes if o.kind == kind) for kind in ATTACKS}
    # a held photo cannot blink, turn or look up: the action is not seen
    assert reasons["still"]["timed out"] >= 0.8 * PER_KIND, _table(outcomes)
    # swapped photos break the followed texture or jump between poses
    assert reasons["slideshow"]["face changed"] >= 0.7 * PER_KIND, _table(outcomes)
