"""The corrections rule on exact, hand-made embeddings: a rejected look-alike takes the name back,
enough rejections set a person's own threshold, confirmations cap it."""
from __future__ import annotations

import numpy as np
import pytest

from facerec_core.faces import Face, Match
from facerec_core.identity.corrections import CorrectionSet, LabelledSamples, apply_corrections


def unit(*values):
    v = np.array(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def named(embedding, name="Colin_Powell", score=0.7, cosine=0.8, threshold=0.5):
    return Face(box=(0, 0, 100, 100), det_score=0.99, embedding=embedding, identity=name, confidence=score,
                matches=[Match(name, score, cosine)], threshold=threshold, reason=f"score {score} ≥ threshold")


def samples(*rows, scores=None):
    return LabelledSamples(np.stack(rows), np.array(scores if scores is not None else [np.nan] * len(rows)))


def test_no_corrections_change_nothing():
    face = named(unit(1, 0, 0))
    assert apply_corrections([face], CorrectionSet())[0].identity == "Colin_Powell"


def test_a_face_closer_to_a_rejected_look_alike_than_to_the_person_is_not_named():
    rejected = unit(1, 0.1, 0)
    corrections = CorrectionSet(impostors={"Colin_Powell": samples(rejected)})
    same_photo = named(rejected, cosine=0.8)
    [face] = apply_corrections([same_photo], corrections)
    assert face.identity == "unknown" and "closer to a face rejected as Colin Powell (1.000)" in face.reason
    other = named(unit(0, 1, 0), cosine=0.8)  # far from the rejected face: still named
    assert apply_corrections([other], corrections)[0].identity == "Colin_Powell"


def test_a_confirmed_sample_counts_as_the_person():
    probe = unit(1, 0.2, 0)
    corrections = CorrectionSet(impostors={"Colin_Powell": samples(unit(1, 0.5, 0))},
                                genuine={"Colin_Powell": samples(unit(1, 0.19, 0))})
    assert apply_corrections([named(probe, cosine=0.3)], corrections)[0].identity == "Colin_Powell"


def test_enough_rejections_and_confirmations_give_the_person_a_threshold_of_their_own():
    impostors = samples(unit(0, 0, 1), unit(0, 1, 1), scores=[0.55, 0.61])
    confirmed = samples(unit(1, 0, 0), unit(1, 0.1, 0), unit(1, 0.2, 0), scores=[0.8, 0.9, np.nan])
    corrections = CorrectionSet(impostors={"Colin_Powell": impostors}, genuine={"Colin_Powell": confirmed})
    assert CorrectionSet(impostors={"Colin_Powell": impostors}).person_threshold("Colin_Powell", 0.5) is None
    assert corrections.person_threshold("Colin_Powell", 0.5) == pytest.approx(0.615)
    assert corrections.person_threshold("Colin_Powell", 0.7) is None  # never below the global threshold
    [low] = apply_corrections([named(unit(1, 0, 0), score=0.6)], corrections)
    assert low.identity == "unknown" and "below Colin Powell's threshold 0.615" in low.reason
    assert apply_corrections([named(unit(1, 0, 0), score=0.7)], corrections)[0].identity == "Colin_Powell"
    one = CorrectionSet(impostors={"Colin_Powell": samples(unit(0, 0, 1), scores=[0.61])},
                        genuine={"Colin_Powell": confirmed})
    assert one.person_threshold("Colin_Powell", 0.5) is None  # one rejection is not enough


def test_confirmed_scores_cap_the_persons_threshold_and_unscored_ones_do_not_count():
    corrections = CorrectionSet(impostors={"X": samples(unit(0, 0, 1), unit(0, 1, 1), scores=[0.55, 0.8])},
                                genuine={"X": samples(unit(1, 0, 0), unit(1, 1, 0), unit(1, 2, 0),
                                                      scores=[0.6, 0.7, np.nan])})
    assert corrections.person_threshold("X", 0.5) == pytest.approx(0.65)  # the genuine median, not 0.805
