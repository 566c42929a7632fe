"""The challenge state machine: every verdict and every reason, on hand-made landmark tracks whose
pose and eyes are exact (tests/liveness/conftest.py). Real tracks: test_real_tracks.py."""
from __future__ import annotations

import random

import pytest

from facerec_core.liveness import LivenessAction as A
from facerec_core.liveness import LivenessChallenge, LivenessRules, Observation, Refusal, draw_actions
from tests.liveness.conftest import posed_landmarks

BOX = (220.0, 120.0, 420.0, 360.0)
DT = 0.1


class Player:
    """Feeds a challenge one frame every DT seconds."""

    def __init__(self, actions, rules=None, name="Colin_Powell"):
        self.challenge = LivenessChallenge(tuple(actions), rules or LivenessRules(min_similarity=0.5))
        self.t, self.name, self.state = 0.0, name, None

    def frame(self, yaw=0.0, pitch=0.0, ear=0.3, *, faces=1, identity="same", similarity=0.9, kept=0.95,
              depth=0.08, box=BOX):
        if identity == "same":
            identity = self.name
        lm = posed_landmarks(yaw, pitch, ear) if faces == 1 else None
        obs = Observation(self.t, faces, box if faces == 1 else None, lm, identity, similarity, kept, depth)
        self.state = self.challenge.observe(obs)
        self.t += DT
        return self.state

    def face_camera(self, n=3):
        for _ in range(n):
            self.frame()
        return self.state

    def turn(self, to_yaw=30.0, steps=6, pitch=False, **kw):
        for k in range(1, steps + 1):
            angle = to_yaw * k / steps
            self.frame(pitch=angle, **kw) if pitch else self.frame(yaw=angle, **kw)
        return self.state

    def back(self, steps=4, **kw):
        for _ in range(steps):
            self.frame(**kw)
        return self.state

    def blink(self):
        for ear in (0.3, 0.12, 0.1, 0.3):  # the blink is seen when the eyes open again
            self.frame(ear=ear)
        return self.state


def test_actions_are_two_or_three_different_ones_with_a_head_movement():
    rng = random.Random(0)
    drawn = [draw_actions(rng) for _ in range(300)]
    assert {len(d) for d in drawn} == {2, 3}
    assert all(len(set(d)) == len(d) and any(a.moves_head for a in d) for d in drawn)
    assert len(set(drawn)) > 20  # really random: many different sequences
    with pytest.raises(ValueError, match="head movement"):
        LivenessChallenge((A.BLINK,))


def test_a_live_person_doing_every_action_in_order_is_accepted():
    p = Player([A.TURN_LEFT, A.BLINK, A.LOOK_UP])
    assert p.face_camera().phase == "acting" and p.state.prompt == A.TURN_LEFT.prompt
    assert p.turn(30).step == 1
    p.back()
    assert p.blink().step == 2
    state = p.turn(20, pitch=True)
    assert state.accepted and state.name == "Colin_Powell"
    assert state.prompt == "Accepted as Colin Powell"
    assert state.figures["depth"] and state.figures["blinks"]


def test_the_first_head_movement_asks_for_a_new_depth_reference():
    p = Player([A.BLINK, A.TURN_RIGHT])
    p.face_camera()
    assert not p.challenge.wants_reference  # a blink first: no movement to measure yet
    p.blink()
    assert p.challenge.wants_reference  # the turn starts from this frame
    assert p.turn(-30).accepted


def test_nobody_recognized_is_refused():
    p = Player([A.TURN_LEFT, A.BLINK])
    for _ in range(70):
        p.frame(identity="unknown")
    assert p.state.refusal is Refusal.NOT_RECOGNIZED


def test_several_faces_stop_the_attempt():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    assert p.frame(faces=2).refusal is Refusal.SEVERAL_FACES
    assert "2 faces" in p.state.message


def test_a_face_that_leaves_the_view_is_refused():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    for _ in range(12):
        p.frame(faces=0)
    assert p.state.refusal is Refusal.NO_FACE


def test_an_action_not_done_in_time_is_refused():
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    for _ in range(52):
        p.frame()
    assert p.state.refusal is Refusal.TIMED_OUT and "Blink" in p.state.message


def test_turning_the_wrong_way_is_refused():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    assert p.turn(-30).refusal is Refusal.ACTION_NOT_SEEN


def test_a_pose_that_jumps_without_the_poses_between_is_a_swapped_photo():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    assert p.turn(30, steps=1).refusal is Refusal.FACE_CHANGED


def test_a_texture_that_cannot_be_followed_is_a_swapped_photo():
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    assert p.frame(kept=0.1).refusal is Refusal.FACE_CHANGED


def test_a_box_that_jumps_is_another_face():
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    assert p.frame(box=(0.0, 0.0, 100.0, 100.0)).refusal is Refusal.FACE_CHANGED


def test_another_person_named_midway_is_refused():
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    assert p.frame(identity="Tony_Blair").refusal is Refusal.FACE_CHANGED


def test_an_embedding_far_from_the_first_is_refused_only_when_facing_the_camera():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    for yaw in (5, 10, 20, 25, 30):  # turned more than 15°: the embedding is not compared
        p.frame(yaw=yaw, similarity=0.9 if yaw < 15 else 0.2)
    assert p.state.phase == "acting" and p.state.step == 1
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    assert p.frame(similarity=0.2).refusal is Refusal.FACE_CHANGED


@pytest.mark.parametrize("depth,why", [(0.005, "flat picture"), (None, "could not be checked")])
def test_a_movement_without_depth_looks_flat(depth, why):
    p = Player([A.TURN_RIGHT, A.BLINK])
    p.face_camera()
    p.turn(-30, depth=depth)
    for _ in range(10):
        p.frame(yaw=-30, depth=depth)
    assert p.state.refusal is Refusal.LOOKS_FLAT and why in p.state.message


def test_eyes_shut_too_long_are_not_a_blink():
    p = Player([A.BLINK, A.TURN_LEFT])
    p.face_camera()
    for ear in [0.1] * 15 + [0.3] * 3:
        p.frame(ear=ear)
    assert p.state.phase == "acting" and p.state.step == 0


def test_the_start_needs_a_face_looking_at_the_camera():
    p = Player([A.BLINK, A.TURN_LEFT])
    for _ in range(70):
        p.frame(yaw=30)
    assert p.state.refusal is Refusal.TIMED_OUT and "straight" in p.state.message


def test_a_verdict_is_final():
    p = Player([A.TURN_LEFT, A.BLINK])
    p.face_camera()
    p.frame(faces=3)
    assert p.frame().refusal is Refusal.SEVERAL_FACES
