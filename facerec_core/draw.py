"""Draw recognition results on an image (boxes, names, confidences). No UI framework needed."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .faces import UNKNOWN, Face, display_name

KNOWN_COLOUR = (46, 204, 113)
UNKNOWN_COLOUR = (231, 76, 60)
UNIDENTIFIED_COLOUR = (52, 152, 219)


def face_label(face: Face) -> str:
    if face.identity is None:
        return f"face {face.det_score:.2f}"
    name = display_name(face.identity)
    if face.confidence is None:
        return name
    return f"{name} {face.confidence:.2f}"


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def annotate(image: np.ndarray, faces: list[Face], *, show_landmarks: bool = False,
             extra_text: str | None = None) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with every face boxed and labelled.

    Known people are green, "unknown" red, faces not yet identified blue.
    """
    canvas = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = max(12, int(min(canvas.size) / 30))
    font = _font(size)
    line = max(2, int(min(canvas.size) / 200))
    for face in faces:
        colour = UNIDENTIFIED_COLOUR if face.identity is None else (
            UNKNOWN_COLOUR if face.identity == UNKNOWN else KNOWN_COLOUR)
        x1, y1, x2, y2 = (float(v) for v in face.box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=line)
        text = face_label(face)
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        ty = y1 - th - 6 if y1 - th - 6 >= 0 else y2 + 2
        draw.rectangle([x1, ty, x1 + tw + 6, ty + th + 6], fill=colour)
        draw.text((x1 + 3, ty + 1), text, fill=(255, 255, 255), font=font)
        if show_landmarks and face.landmarks is not None:
            for px, py in face.landmarks:
                draw.ellipse([px - line, py - line, px + line, py + line], fill=colour)
    if extra_text:
        tb = draw.textbbox((0, 0), extra_text, font=font)
        draw.rectangle([0, 0, tb[2] - tb[0] + 8, tb[3] - tb[1] + 8], fill=(0, 0, 0))
        draw.text((4, 2), extra_text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)
