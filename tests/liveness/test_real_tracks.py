"""The challenge on real video: landmark tracks recorded from the frames of a real street clip
(../shared/data/video, strangers walking, some turning their heads), and the whole clip through
the Authenticator as a camera would send it."""
from __future__ import annotations

from facerec_core.liveness import Authenticator, LivenessAction, LivenessChallenge, LivenessRules, Observation, Refusal
from facerec_core.liveness.depth import DepthTracker

from tests.liveness.conftest import FPS, turning_left
from tests.support.tracks import frames_of


def replay(grays, track, actions) -> object:
    """The challenge over a recorded track, with the depth measured on its frames as the
    Authenticator would (the person is given a name: strangers cannot be recognized)."""
    challenge = LivenessChallenge(tuple(actions), LivenessRules())
    depth = DepthTracker(min_points=6)  # faces of 40-60 px: fewer corners than a webcam's
    state = None
    for k, (index, box, marks) in enumerate(track):
        kept = None
        if depth.started:
            before = depth.alive
            depth.update(grays[index])
            kept = depth.alive / before if before else None
        state = challenge.observe(Observation(index / FPS, 1, tuple(box), marks, "a passer-by" if k == 0 else None,
                                              None, kept, depth.depth() if depth.started else None))
        if challenge.wants_reference or not depth.started:
            depth.start(grays[index], marks)
        if state.done:
            break
    return state


def test_a_real_head_turning_left_passes_the_turn_and_its_depth_check(tracks):
    grays, found = tracks
    turning = [t for t in found if turning_left(t)]
    assert turning, "the clip has a passer-by who faces the camera, then turns to their left"
    state = replay(grays, turning[0], [LivenessAction.TURN_LEFT])
    assert state.accepted, state
    assert state.figures["depth"][0] >= LivenessRules().min_depth


def test_the_same_real_turn_is_refused_when_the_other_way_was_asked(tracks):
    grays, found = tracks
    turning = [t for t in found if turning_left(t)]
    state = replay(grays, turning[0], [LivenessAction.TURN_RIGHT])
    assert state.refusal is Refusal.ACTION_NOT_SEEN


def test_the_real_clip_through_the_authenticator_is_refused_without_crashing(clip, detector, landmarks68):
    """Nobody in the clip was asked anything (and nobody is enrolled): every attempt is refused. The
    clip is played twice in a row, as the browser's fake camera loops it."""
    verdicts = []
    auth = Authenticator(detector, landmarks68, on_verdict=verdicts.append)
    auth.start()
    frames = list(frames_of(clip))
    for index, frame in enumerate(frames + frames):
        state = auth.process(frame, index / FPS)
        if state is not None and state.done:
            auth.start()
    assert verdicts and not any(v.accepted for v in verdicts)
    assert {v.refusal for v in verdicts} <= {r.value for r in Refusal}
