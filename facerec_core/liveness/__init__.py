"""Liveness: is the face in front of the camera a live person, not a photo, a screen or a
replayed video? An active challenge (blink, turn, look up, in a random order) checked from dlib's
68 landmarks and from image points followed across the head's movement (a flat picture shows no
depth). :class:`Authenticator` is the whole flow; :mod:`.challenge` is its state machine."""
from .authenticate import AttemptResult, Authenticator, draw_state
from .challenge import (ChallengeState, LivenessAction, LivenessChallenge, LivenessRules, Observation, Refusal,
                        draw_actions)

__all__ = ["AttemptResult", "Authenticator", "ChallengeState", "LivenessAction", "LivenessChallenge",
           "LivenessRules", "Observation", "Refusal", "draw_actions", "draw_state"]
