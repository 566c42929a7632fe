"""Test and benchmark scenes: LFW photos pasted on a 640×480 canvas, moving a little from frame
to frame, and YUV4MPEG2 files of them, which Chromium can play as a fake camera.

Used by tests/video, tests/test_detect.py, tests/app/test_webcam_browser.py, bench/webcam.py and
bench/speed.py; not part of the runtime library.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from facerec_core.faces import UNKNOWN, Face

FRAME_SIZE = (640, 480)


def background(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A plain, slightly shaded backdrop (RGB uint8), like a wall behind a webcam user."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 150 + 40 * (x / w) - 30 * (y / h)
    return np.clip(np.stack([shade, shade * 0.95, shade * 0.9], axis=-1), 0, 255).astype(np.uint8)


def compose_frame(photos: Sequence[np.ndarray], positions: Sequence[tuple[int, int]],
                  size: tuple[int, int] = FRAME_SIZE, backdrop: np.ndarray | None = None) -> np.ndarray:
    """Paste each photo (RGB uint8) with its top-left corner at ``(x, y)`` (clipped to the frame)."""
    frame = (background(size) if backdrop is None else backdrop).copy()
    h, w = frame.shape[:2]
    for photo, (x, y) in zip(photos, positions):
        ph, pw = photo.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = photo[y0 - y:y1 - y, x0 - x:x1 - x]
    return frame


def moving_scene(photos: Sequence[np.ndarray], n_frames: int, *, starts: Sequence[tuple[int, int]] | None = None,
                 step: tuple[float, float] = (1.5, 0.5), size: tuple[int, int] = FRAME_SIZE) -> list[np.ndarray]:
    """``n_frames`` frames in which each photo drifts by ``step`` pixels a frame (a person
    swaying a little in front of a webcam), the photos side by side by default."""
    w, h = size
    if starts is None:
        pw = photos[0].shape[1] if photos else 0
        gap = (w - pw * len(photos)) // (len(photos) + 1) if photos else 0
        starts = [(gap + i * (pw + gap), (h - p.shape[0]) // 2) for i, p in enumerate(photos)]
    bg = background(size)
    frames = []
    for k in range(n_frames):
        # sway back and forth so long scenes stay in the frame
        phase = k % 40
        offset = phase if phase < 20 else 40 - phase
        pos = [(int(x + step[0] * offset), int(y + step[1] * offset)) for x, y in starts]
        frames.append(compose_frame(photos, pos, size, bg))
    return frames


def rgb_to_i420(frame: np.ndarray) -> bytes:
    """One RGB frame as planar YUV 4:2:0 bytes (full-range BT.601, as ``C420jpeg`` says)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"frame size must be even for 4:2:0, got {w}x{h}")
    ycc = np.asarray(Image.fromarray(frame).convert("YCbCr"), dtype=np.uint16)
    y = ycc[..., 0].astype(np.uint8)
    chroma = ycc[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    u = np.round(chroma[..., 0]).astype(np.uint8)
    v = np.round(chroma[..., 1]).astype(np.uint8)
    return y.tobytes() + u.tobytes() + v.tobytes()


def write_y4m(path: str | Path, frames: Iterable[np.ndarray], fps: int = 15) -> Path:
    """Write RGB frames (all the same even size) as a YUV4MPEG2 4:2:0 file; returns the path."""
    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_y4m needs at least one frame")
    h, w = first.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in (first, *frames):
            if frame.shape[:2] != (h, w):
                raise ValueError(f"every frame must be {w}x{h}, got {frame.shape[1]}x{frame.shape[0]}")
            out.write(b"FRAME\n")
            out.write(rgb_to_i420(frame))
    return path


def read_y4m(path: str | Path, *, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """RGB frames and frame rate of a YUV4MPEG2 4:2:0 file (as written by :func:`write_y4m`
    or ``ffmpeg -pix_fmt yuv420p``)."""
    path = Path(path)
    with open(path, "rb") as f:
        header = f.readline().decode("ascii", "replace").split()
        if not header or header[0] != "YUV4MPEG2":
            raise ValueError(f"{path} is not a YUV4MPEG2 file")
        tags = {t[0]: t[1:] for t in header[1:]}
        if not tags.get("C", "420").startswith("420"):
            raise ValueError(f"{path}: only 4:2:0 colour is supported, got C{tags['C']}")
        w, h = int(tags["W"]), int(tags["H"])
        num, _, den = tags.get("F", "30:1").partition(":")
        fps = float(num) / float(den or 1)
        y_size, c_size = w * h, (w // 2) * (h // 2)
        frames = []
        while max_frames is None or len(frames) < max_frames:
            line = f.readline()
            if not line.startswith(b"FRAME"):
                break
            data = f.read(y_size + 2 * c_size)
            if len(data) < y_size + 2 * c_size:
                break
            planes = [Image.frombytes("L", (w, h), data[:y_size])]
            for k in range(2):
                part = data[y_size + k * c_size:y_size + (k + 1) * c_size]
                planes.append(Image.frombytes("L", (w // 2, h // 2), part).resize((w, h), Image.BILINEAR))
            frames.append(np.asarray(Image.merge("YCbCr", planes).convert("RGB")))
    return frames, fps


def known_names(faces: Iterable[Face]) -> set[str]:
    """The known identities among ``faces`` (not "unknown", not unnamed)."""
    return {f.identity for f in faces if f.identity not in (None, UNKNOWN)}
