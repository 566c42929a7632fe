"""Draw recognition results on an image (boxes, names, confidences). No UI framework needed."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .faces import UNKNOWN, Face, display_name

KNOWN_COLOUR = (46, 204, 113)
UNKNOWN_COLOUR = (231, 76, 60)
UNIDENTIFIED_COLOUR = (52, 152, 219)
HIGHLIGHT_COLOUR = (255, 214, 0)


def face_label(face: Face, number: int | None = None) -> str:
    """``"2 Colin Powell 0.83"``: the face's number (as in the results table), name and score."""
    prefix = "" if number is None else f"{number} "
    if face.identity is None:
        return f"{prefix}face {face.det_score:.2f}"
    name = display_name(face.identity)
    if face.confidence is None:
        return prefix + name
    return f"{prefix}{name} {face.confidence:.2f}"


def text_font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def annotate(image: np.ndarray, faces: list[Face], *, show_landmarks: bool = False,
             extra_text: str | None = None, numbered: bool = False, highlight: int | None = None,
             badges: list[str | None] | None = None) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with every face boxed and labelled.

    Known people are green, "unknown" red, faces not yet identified blue. ``numbered`` starts each
    label with the face's number (1, 2, ... in the order of ``faces``, as a results table lists
    them), so that a row can be found in a group photo; ``highlight`` (an index into ``faces``)
    draws that face's box thicker, in yellow, and on top of the others. ``badges`` (parallel to
    ``faces``) writes a short word under each box, e.g. the Live Webcam's "live" / "not verified".
    """
    canvas = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = max(12, int(min(canvas.size) / 30))
    font = text_font(size)
    line = max(2, int(min(canvas.size) / 200))
    order = [i for i in range(len(faces)) if i != highlight] + ([highlight] if highlight in range(len(faces)) else [])
    for i in order:  # the highlighted face last: its box and label are drawn over its neighbours'
        face = faces[i]
        colour = UNIDENTIFIED_COLOUR if face.identity is None else (
            UNKNOWN_COLOUR if face.identity == UNKNOWN else KNOWN_COLOUR)
        x1, y1, x2, y2 = (float(v) for v in face.box)
        if i == highlight:
            draw.rectangle([x1 - line, y1 - line, x2 + line, y2 + line], outline=HIGHLIGHT_COLOUR, width=3 * line)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=line)
        text = face_label(face, i + 1 if numbered else None)
        tb = draw.textbbox((0, 0), text, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        ty = y1 - th - 6 if y1 - th - 6 >= 0 else y2 + 2
        draw.rectangle([x1, ty, x1 + tw + 6, ty + th + 6], fill=colour)
        draw.text((x1 + 3, ty + 1), text, fill=(255, 255, 255), font=font)
        badge = badges[i] if badges is not None and i < len(badges) else None
        if badge:
            bb = draw.textbbox((0, 0), badge, font=font)
            draw.rectangle([x1, y2 + 2, x1 + bb[2] - bb[0] + 6, y2 + bb[3] - bb[1] + 8], fill=(0, 0, 0))
            draw.text((x1 + 3, y2 + 3), badge, fill=(255, 255, 255), font=font)
        if show_landmarks and face.landmarks is not None:
            for px, py in face.landmarks:
                draw.ellipse([px - line, py - line, px + line, py + line], fill=colour)
    if extra_text:
        tb = draw.textbbox((0, 0), extra_text, font=font)
        draw.rectangle([0, 0, tb[2] - tb[0] + 8, tb[3] - tb[1] + 8], fill=(0, 0, 0))
        draw.text((4, 2), extra_text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)
