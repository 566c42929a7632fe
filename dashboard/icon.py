"""The dashboard's browser-tab icon, drawn here so that it comes from this server.

Streamlit turns a ``:material/...:`` page icon into a favicon link to fonts.gstatic.com, so a
browser with no internet asks a public font server for it on every page (the sidebar's icons are
fine: Streamlit bundles that font). An image given to ``st.set_page_config`` is served from the
dashboard's own media endpoint instead, and stops the pages' icons from replacing it.
"""
from __future__ import annotations

import functools

from PIL import Image, ImageDraw

FACE_BLUE = (46, 134, 222)


@functools.lru_cache(maxsize=1)
def favicon(size: int = 64) -> Image.Image:
    """A round face (the dashboard's mark), ``size`` pixels square, transparent around it."""
    scale = 4  # drawn large, then shrunk: smooth edges without an anti-aliasing library
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse([2 * scale, 2 * scale, big - 2 * scale, big - 2 * scale], fill=FACE_BLUE)
    eye = big // 10
    for cx in (big * 0.36, big * 0.64):
        draw.ellipse([cx - eye / 2, big * 0.36 - eye / 2, cx + eye / 2, big * 0.36 + eye / 2], fill="white")
    draw.arc([big * 0.28, big * 0.34, big * 0.72, big * 0.74], 25, 155, fill="white", width=big // 14)
    return image.resize((size, size), Image.LANCZOS)
