"""One safe image loader for files, bytes, file objects and arrays.

Every failure raises :class:`~facerec_core.errors.ImageError` naming the input, never a bare
Pillow or numpy exception, and a failed load changes nothing on disk.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .settings import Settings

ImageInput = Union[str, os.PathLike, bytes, bytearray, BinaryIO, np.ndarray, Image.Image]

DEFAULT_MAX_PIXELS = Settings.max_image_pixels
"""The pixel limit when a caller gives none (``Settings.max_image_pixels``, FACEREC_MAX_IMAGE_PIXELS)."""
SUPPORTED_UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "bmp")


def describe(source: ImageInput, name: str | None = None) -> str:
    """A short human name for an input, used in error messages."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


def load_image(source: ImageInput, *, name: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load any supported input as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Honours EXIF orientation; converts grayscale, RGBA (over white), palette, CMYK and
    16-bit images to RGB. Refuses non-images, truncated or corrupt files and images larger
    than ``max_pixels`` (decompression bombs).

    Args:
        source: a path, raw bytes, a binary file object, a numpy array or a PIL image.
        name: how to call the input in error messages (defaults to the path or a summary).
        max_pixels: the largest accepted ``width * height``.
    """
    label = describe(source, name)
    if isinstance(source, np.ndarray):
        return _from_array(source, label, max_pixels)
    if isinstance(source, Image.Image):
        return _to_rgb_array(source, label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{label}: no such file")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
        if hasattr(source, "seek"):
            source.seek(0)  # leave the caller's stream where it was, for a retry or a second reader
    else:
        raise ImageError(f"{label}: unsupported input type {type(source).__name__}")
    if not data:
        raise ImageError(f"{label}: the file is empty")
    return _decode(data, label, max_pixels)


def _decode(data: bytes, label: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.size, label, max_pixels)
            img.load()  # decode now, so truncation fails here and not later
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label}: image is too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label}: corrupt or truncated image ({exc})") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not lose an otherwise good photo
        pass
    return _to_rgb_array(img, label, max_pixels)


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(
            f"{label}: image is too large ({w}x{h} = {w * h:,} pixels, limit {max_pixels:,}); "
            "resize it or raise FACEREC_MAX_IMAGE_PIXELS")


def _to_rgb_array(img: Image.Image, label: str, max_pixels: int) -> np.ndarray:
    _check_size(img.size, label, max_pixels)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max()
        scale = 255.0 / (65535.0 if hi > 255 else 255.0) if hi > 0 else 1.0
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    try:
        rgb = img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImageError(f"{label}: cannot convert mode {mode} to RGB ({exc})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _from_array(arr: np.ndarray, label: str, max_pixels: int) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"{label}: expected an (H, W), (H, W, 3) or (H, W, 4) array")
    _check_size((arr.shape[1], arr.shape[0]), label, max_pixels)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype == np.uint16:
        arr = (arr / 257.0).round()
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError(f"{label}: array holds NaN or infinite values")
        arr = arr * 255.0 if arr.max() <= 1.0 else arr
    return np.ascontiguousarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def resize_to_fit(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale used."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)), scale
