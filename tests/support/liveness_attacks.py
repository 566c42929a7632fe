"""Presentation attacks made from real LFW photos of enrolled people, played to an
:class:`~facerec_core.liveness.Authenticator` frame by frame (shared by the tests and
``bench/liveness.py``).

Every attack sees the prompt (the challenge's state) and does its best with what it has:

- ``still``: one photo held in front of the camera.
- ``waved``: the photo as a print or a phone, moved, rotated and tilted in 3-D (random smooth
  perspective warps of the picture plane, viewed by a pinhole camera).
- ``timed_warp``: the same print turned and tilted when the prompt asks the head to turn or look
  up (about 45° over 0.6 s, with every pose in between), shaken when asked to blink.
- ``slideshow``: different photos of the same person swapped on cue: the eyes-closed one for a
  blink, photos of growing yaw (or pitch) for a turn (or looking up), the way a replay of a
  person's photo album would try.
"""
from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

from facerec_core.liveness import Authenticator, ChallengeState, LivenessAction
from facerec_core.liveness.geometry import eye_aspect_ratio, head_pose

FRAME_W, FRAME_H = 640, 480
PHOTO_SIZE = 300  # an LFW photo (250 px) printed a little larger, held near the camera
ATTACKS = ("still", "waved", "timed_warp", "slideshow")


def background(seed: int) -> np.ndarray:
    """A room behind the print: smooth coloured noise (fixed per seed)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, size=(12, 16, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((FRAME_W, FRAME_H), Image.BICUBIC)
                      .filter(ImageFilter.GaussianBlur(6)))


def plane_homography(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, scale: float = 1.0,
                     dx: float = 0.0, dy: float = 0.0, focal: float = 700.0) -> np.ndarray:
    """Where a centred photo of PHOTO_SIZE lands in the frame when its plane is rotated by these
    angles (degrees), scaled and shifted (pixels), seen by a pinhole camera of ``focal`` pixels."""
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    rot = (np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
           @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]))
    camera = np.array([[focal, 0, FRAME_W / 2 + dx], [0, focal, FRAME_H / 2 + dy], [0, 0, 1]])
    plane = camera @ np.c_[rot[:, 0] * scale, rot[:, 1] * scale, [0, 0, focal]]
    centre = np.array([[1, 0, -PHOTO_SIZE / 2], [0, 1, -PHOTO_SIZE / 2], [0, 0, 1]])
    return plane @ centre


def compose(photo: np.ndarray, room: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """The frame: ``photo`` (already PHOTO_SIZE square) mapped by ``homography`` over ``room``."""
    inverse = np.linalg.inv(homography)
    inverse = inverse / inverse[2, 2]
    picture = Image.fromarray(photo).transform((FRAME_W, FRAME_H), Image.PERSPECTIVE, tuple(inverse.ravel()[:8]),
                                               Image.BILINEAR)
    inside = Image.new("L", (PHOTO_SIZE, PHOTO_SIZE), 255).transform(
        (FRAME_W, FRAME_H), Image.PERSPECTIVE, tuple(inverse.ravel()[:8]), Image.BILINEAR)
    return np.asarray(Image.composite(picture, Image.fromarray(room), inside))


@dataclasses.dataclass(frozen=True)
class PhotoInfo:
    """One LFW photo of a person and what its landmarks say (for the slideshow's choices)."""

    path: Path
    ear: float
    yaw: float
    pitch: float


def load_photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB").resize((PHOTO_SIZE, PHOTO_SIZE), Image.BILINEAR))


def describe_photos(paths: Sequence[Path], authenticator: Authenticator) -> list[PhotoInfo]:
    """Eye opening and head pose of each photo that shows one face (as the attack would see it)."""
    out = []
    for path in paths:
        frame = compose(load_photo(path), np.zeros((FRAME_H, FRAME_W, 3), np.uint8), plane_homography())
        faces = authenticator._detect(frame)
        if len(faces) != 1:
            continue
        marks = authenticator.landmarks.locate(frame, faces[0].box)
        pose = head_pose(marks)
        out.append(PhotoInfo(path, eye_aspect_ratio(marks), pose.yaw, pose.pitch))
    return out


class Attack:
    """Frames of one attack; :meth:`frame` is asked for the frame at time ``t`` given the state the
    last frame led to."""

    def __init__(self, kind: str, photos: list[PhotoInfo], rng: random.Random, room: np.ndarray) -> None:
        if kind not in ATTACKS:
            raise ValueError(f"unknown attack {kind!r}")
        self.kind, self.rng, self.room = kind, rng, room
        self.photos = photos
        frontal = sorted(photos, key=lambda p: abs(p.yaw) + abs(p.pitch) - p.ear * 20)
        self.main = frontal[0]
        self._images: dict[Path, np.ndarray] = {}
        self._walk = [rng.uniform(-1, 1) for _ in range(12)]  # phases and speeds of the waving
        self._cue: tuple[int, float] | None = None  # (step, when the prompt for it was first seen)

    def _image(self, info: PhotoInfo) -> np.ndarray:
        if info.path not in self._images:
            self._images[info.path] = load_photo(info.path)
        return self._images[info.path]

    def frame(self, t: float, state: ChallengeState | None) -> np.ndarray:
        if self.kind == "still":
            return compose(self._image(self.main), self.room, plane_homography())
        if self.kind == "waved":
            w = self._walk
            pose = dict(yaw=35 * math.sin(1.3 * t * (1 + w[0]) + 3 * w[1]),
                        pitch=25 * math.sin(1.1 * t * (1 + w[2]) + 3 * w[3]),
                        roll=15 * math.sin(0.9 * t * (1 + w[4]) + 3 * w[5]),
                        scale=1.0 + 0.15 * math.sin(0.7 * t + 3 * w[6]),
                        dx=60 * math.sin(0.8 * t * (1 + w[7]) + 3 * w[8]),
                        dy=40 * math.sin(0.6 * t * (1 + w[9]) + 3 * w[10]))
            return compose(self._image(self.main), self.room, plane_homography(**pose))
        action, since = self._action(t, state)
        if self.kind == "timed_warp":
            return compose(self._image(self.main), self.room, plane_homography(**self._warp_for(action, since)))
        return compose(self._image(self._slide_for(action, since)), self.room, plane_homography())

    def _action(self, t: float, state: ChallengeState | None) -> tuple[LivenessAction | None, float]:
        """The action asked for now and how long ago it was first asked for."""
        if state is None or state.phase != "acting":
            return None, 0.0
        if self._cue is None or self._cue[0] != state.step:
            self._cue = (state.step, t)
        return state.actions[state.step], t - self._cue[1]

    def _warp_for(self, action: LivenessAction | None, since: float) -> dict:
        ramp = min(1.0, since / 0.6)  # 0.6 s to reach the pose, then held
        if action is LivenessAction.TURN_LEFT:
            return dict(yaw=45 * ramp, dx=-25 * ramp)
        if action is LivenessAction.TURN_RIGHT:
            return dict(yaw=-45 * ramp, dx=25 * ramp)
        if action is LivenessAction.LOOK_UP:
            return dict(pitch=40 * ramp, dy=-20 * ramp)
        if action is LivenessAction.BLINK:  # a print cannot blink: a quick shake is all it can do
            return dict(roll=6 * math.sin(since * 25), scale=1.0 - 0.05 * math.sin(since * 20))
        return {}

    def _slide_for(self, action: LivenessAction | None, since: float) -> PhotoInfo:
        if action is LivenessAction.BLINK:
            closed = min(self.photos, key=lambda p: p.ear)
            return closed if 0.2 <= since % 1.5 < 0.4 else self.main  # eyes "shut" for 0.2 s, every 1.5 s
        if action is None:
            return self.main
        key: Callable[[PhotoInfo], float] = {
            LivenessAction.TURN_LEFT: lambda p: p.yaw - self.main.yaw,
            LivenessAction.TURN_RIGHT: lambda p: self.main.yaw - p.yaw,
            LivenessAction.LOOK_UP: lambda p: p.pitch - self.main.pitch}[action]
        ladder = sorted((p for p in self.photos if key(p) > 0), key=key)
        if not ladder:
            return self.main
        return ladder[min(len(ladder) - 1, int(since / 0.15))]  # each photo for 0.15 s, growing


@dataclasses.dataclass(frozen=True)
class AttackOutcome:
    kind: str
    person: str
    accepted: bool
    refusal: str | None
    message: str | None
    frames: int
    max_depth: float | None
    max_turn: float


def play(authenticator: Authenticator, attack: Attack, person: str, *, fps: float = 8.0,
         max_s: float = 30.0) -> AttackOutcome:
    """One attempt of ``attack`` at ``fps`` frames a second of simulated time, to its verdict."""
    authenticator.start()
    state, t, frames = None, 0.0, 0
    depths: list[float] = []
    poses: list[float] = []
    while t <= max_s:
        state = authenticator.process(attack.frame(t, state), t)
        frames += 1
        obs = authenticator.last_observation
        if obs is not None and obs.depth is not None:
            depths.append(obs.depth)
        if obs is not None and obs.landmarks is not None:
            pose = head_pose(obs.landmarks)
            poses.append(max(abs(pose.yaw), abs(pose.pitch)))
        if state is not None and state.done:
            break
        t += 1.0 / fps
    if state is None or not state.done:
        raise AssertionError(f"the attempt had no verdict after {max_s} s")
    return AttackOutcome(attack.kind, person, state.accepted, None if state.refusal is None else state.refusal.value,
                         state.message, frames, max(depths) if depths else None, max(poses) if poses else 0.0)


def run_attacks(authenticator: Authenticator, people: dict[str, list[Path]], per_kind: int, *, seed: int = 0,
                kinds: Sequence[str] = ATTACKS, fps: float = 8.0) -> list[AttackOutcome]:
    """``per_kind`` attempts of each attack kind, spread over ``people`` (name → photos that were
    not enrolled), with actions drawn from ``seed``."""
    rng = random.Random(seed)
    authenticator.rng = random.Random(seed + 1)
    described = {name: describe_photos(paths, authenticator) for name, paths in people.items()}
    described = {name: infos for name, infos in described.items() if infos}
    names = sorted(described)
    outcomes = []
    for kind in kinds:
        for i in range(per_kind):
            name = names[i % len(names)]
            attack = Attack(kind, described[name], random.Random(rng.random()), background(rng.randrange(1 << 30)))
            outcomes.append(play(authenticator, attack, name, fps=fps))
    return outcomes


def enroll_people(settings, lfw_dir: Path, count: int, *, per_person: int = 3, min_photos: int = 8,
                  max_probes: int = 12) -> dict[str, list[Path]]:
    """Enroll ``count`` LFW people (spread over the alphabet, each with at least ``min_photos``
    photos) in the gallery of ``settings`` from their first ``per_person`` photos, through the
    gallery's own enrollment; returns name → their other photos (the attacks' material)."""
    from facerec_core.gallery.enroll import enroll
    from facerec_core.gallery.store import GalleryStore
    from facerec_core.recognizer import Recognizer

    people = sorted(p.name for p in lfw_dir.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= min_photos)
    chosen = people[:: max(1, len(people) // count)][:count]
    pipeline = Recognizer.load(settings, require_model=False)
    store = GalleryStore.open(settings)
    probes = {}
    for name in chosen:
        photos = sorted((lfw_dir / name).glob("*.jpg"))
        enroll(store, pipeline, name, photos[:per_person])
        probes[name] = photos[per_person:per_person + max_probes]
    return probes
