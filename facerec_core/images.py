"""One safe image loader for files, bytes, file objects, PIL images and arrays.

Every failure raises :class:`~facerec_core.errors.ImageError` naming the input, the problem and
the fix, never a bare Pillow or numpy exception, and a failed load changes nothing on disk.
Work and memory are bounded before decoding: a file's size by ``max_bytes`` (checked on disk for
paths, read at most one byte past it for streams), its pixel count by ``max_pixels`` (from the
header, for arrays from their shape).
"""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import stat
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, ImageTooLargeError
from .settings import Settings

log = logging.getLogger(__name__)

ImageInput = Union[str, os.PathLike, bytes, bytearray, BinaryIO, np.ndarray, Image.Image]

DEFAULT_MAX_PIXELS = Settings.max_image_pixels
"""The pixel limit when a caller gives none (``Settings.max_image_pixels``, FACEREC_MAX_IMAGE_PIXELS)."""
DEFAULT_MAX_BYTES = Settings.max_image_bytes
"""The byte limit when a caller gives none (``Settings.max_image_bytes``, FACEREC_MAX_IMAGE_BYTES)."""
SUPPORTED_UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "bmp")

# JPEGs whose further "frames" are the camera's preview or depth images, not other pictures.
_ONE_PICTURE_FORMATS = {"MPO"}
# Conversions and alpha compositing go this many pixels at a time, so their temporaries stay small.
_BAND_PIXELS = 1 << 22
# Frames are counted by seeking, which decodes GIF frames: a 16 MB GIF of a million 1×1 frames
# took 3.7 CPU-s to count whole. Past this many the note says "more than".
MAX_COUNTED_FRAMES = 100
_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclasses.dataclass(frozen=True)
class LoadedImage:
    """A decoded image: ``pixels`` (RGB ``uint8``, ``(H, W, 3)``) and how many frames the file
    holds (animated GIF, WebP or PNG, multi-page TIFF: only the first is in ``pixels``)."""

    pixels: np.ndarray
    frames: int = 1
    """The frame count, or :data:`MAX_COUNTED_FRAMES` + 1 for "more than that"."""

    @property
    def note(self) -> str | None:
        """What a result made from ``pixels`` should say about them, or ``None``."""
        if self.frames > MAX_COUNTED_FRAMES:
            return f"the image has more than {MAX_COUNTED_FRAMES} frames; only the first was used"
        if self.frames > 1:
            return f"the image has {self.frames} frames; only the first was used"
        return None


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


def load_image(source: ImageInput, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Load any supported input as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Honours EXIF orientation; converts grayscale, RGBA and gray + alpha (over white), palette,
    CMYK and 16-bit images, and arrays of any of those shapes and of bool, integer or float
    values, to RGB. Refuses non-images, folders, truncated or corrupt files, files over
    ``max_bytes`` and images over ``max_pixels`` (decompression bombs). See :func:`open_image`
    for the frame count of animated files.

    Args:
        source: a path, raw bytes, a binary file object, a numpy array or a PIL image.
        name: how to call the input in error messages (defaults to the path or a summary).
        max_pixels: the largest accepted ``width * height``.
        max_bytes: the largest accepted file, bytes or stream, in bytes.
    """
    return open_image(source, name=name, max_pixels=max_pixels, max_bytes=max_bytes).pixels


def open_image(source: ImageInput, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedImage:
    """:func:`load_image`, with the number of frames the input holds (see :class:`LoadedImage`)."""
    label = describe(source, name)
    if isinstance(source, np.ndarray):
        return LoadedImage(_from_array(source, label, max_pixels))
    if isinstance(source, Image.Image):
        _check_size(source.size, label, max_pixels)
        return LoadedImage(_to_rgb_array(source, label), _frame_count(source, label))
    return _decode(_read(source, label, max_bytes), label, max_pixels)


def _read(source, label: str, max_bytes: int) -> bytes:
    """The encoded bytes of a path, bytes or binary stream, never more than ``max_bytes``."""
    if isinstance(source, (str, os.PathLike)):
        data = _read_file(Path(source), label, max_bytes)
    elif isinstance(source, (bytes, bytearray)):
        _check_bytes(len(source), label, max_bytes)
        data = bytes(source)
    elif hasattr(source, "read"):
        data = _read_stream(source, label, max_bytes)
        if hasattr(source, "seek"):
            source.seek(0)  # leave the caller's stream where it was, for a retry or a second reader
    else:
        raise ImageError(f"{label}: unsupported input type {type(source).__name__}; pass a path, bytes, "
                         "a binary file object, a numpy array or a PIL image")
    if not data:
        raise ImageError(f"{label}: the file is empty")
    return data


def _read_file(path: Path, label: str, max_bytes: int) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{label}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{label}: is a folder, not an image file; pass one of the photos in it")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{label}: not a regular file (a device, pipe or socket); pass an image file")
    _check_bytes(info.st_size, label, max_bytes)
    try:
        with open(path, "rb") as f:
            return _read_stream(f, label, max_bytes)  # it may have grown since
    except OSError as exc:
        raise ImageError(f"{label}: cannot read it ({exc.strerror or exc})") from None


def _read_stream(stream, label: str, max_bytes: int) -> bytes:
    """``stream`` to its end, refused once it gives more than ``max_bytes`` (pipes and sockets
    may answer a read with less than asked: read until one gives nothing)."""
    chunks, total = [], 0
    while total <= max_bytes:
        chunk = stream.read(max_bytes + 1 - total)
        if isinstance(chunk, str):
            raise ImageError(f"{label}: the file was opened as text; open it in binary mode ('rb')")
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise _too_many_bytes(label, f"more than {_size(max_bytes)}", max_bytes)
    return b"".join(chunks)


def _check_bytes(size: int, label: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise _too_many_bytes(label, _size(size), max_bytes)


def _too_many_bytes(label: str, size: str, max_bytes: int) -> ImageError:
    return ImageTooLargeError(f"{label}: the file is too large ({size}, limit {_size(max_bytes)}); send a smaller "
                      "or more compressed photo (a JPEG), or raise FACEREC_MAX_IMAGE_BYTES")


def _size(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MB" if n >= 2 ** 20 else f"{n:,} bytes"


def _decode(data: bytes, label: str, max_pixels: int) -> LoadedImage:
    _lift_pillow_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.size, label, max_pixels)
            frames = _frame_count(img, label)
            img.load()  # decode now, so truncation fails here and not later
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # only for images over our own limit: _lift_pillow_limit keeps Pillow's above it
        found = _PILLOW_PIXELS.search(str(exc))
        raise _too_large(label, f"{int(found[1]):,} pixels" if found else "too many pixels", max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{label}: corrupt or truncated image ({exc})") from None
    try:
        ImageOps.exif_transpose(img, in_place=True)  # in place: no second copy of a large photo
    except Exception:  # broken EXIF must not lose an otherwise good photo
        pass
    return LoadedImage(_to_rgb_array(img, label), frames)


def _lift_pillow_limit(max_pixels: int) -> None:
    """Pillow warns of images over ``Image.MAX_IMAGE_PIXELS`` and refuses those over twice that
    before their size reaches us; keep that limit at least ours (process-wide, never lowered), so
    that the configured limit is the one enforced."""
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        log.info("raising Pillow's MAX_IMAGE_PIXELS from %s to %s, the configured limit",
                 Image.MAX_IMAGE_PIXELS, max_pixels)
        Image.MAX_IMAGE_PIXELS = max_pixels


def _frame_count(img: Image.Image, label: str) -> int:
    """How many frames ``img`` holds, counted up to :data:`MAX_COUNTED_FRAMES` + 1; ``img`` is
    left on the frame it was on."""
    try:
        if img.format in _ONE_PICTURE_FORMATS or not getattr(img, "is_animated", False):
            return 1
        current = img.tell()
    except Exception as exc:
        log.info("an image's frames cannot be counted (%s)", type(exc).__name__)
        return 1
    count = 1
    try:
        while count <= MAX_COUNTED_FRAMES:
            img.seek(count)
            count += 1
    except EOFError:
        pass
    except Exception as exc:  # a broken later frame: the first is still an image
        log.info("an image's later frames cannot be counted (%s)", type(exc).__name__)
    img.seek(current)
    return count


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise _too_large(label, f"{w}x{h} = {w * h:,} pixels", max_pixels)


def _too_large(label: str, size: str, max_pixels: int) -> ImageError:
    return ImageTooLargeError(f"{label}: image is too large ({size}, limit {max_pixels:,}); "
                      "resize it or raise FACEREC_MAX_IMAGE_PIXELS")


def _to_rgb_array(img: Image.Image, label: str) -> np.ndarray:
    mode = img.mode
    try:
        if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            values = np.asarray(img)
            hi = values.max()
            scale = 255.0 / 65535.0 if hi > 255 else 1.0
            return _to_rgb_array(Image.fromarray(_as_uint8(values, scale, np.trunc)), label)
        if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
            return _over_white(img)
        rgb = img if mode == "RGB" else img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise ImageError(f"{label}: cannot convert mode {mode} to RGB ({exc})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _over_white(img: Image.Image) -> np.ndarray:
    """RGB of an image with transparency, composited over white (as viewers show it), a band
    of rows at a time."""
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    w, h = rgba.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, _BAND_PIXELS // w)
    for top in range(0, h, rows):
        band = rgba.crop((0, top, w, min(h, top + rows)))
        white = Image.new("RGBA", band.size, (255, 255, 255, 255))
        out[top:top + band.height] = np.asarray(Image.alpha_composite(white, band).convert("RGB"))
    return out


_ARRAY_SHAPES = "(H, W) gray, (H, W, 1) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB or (H, W, 4) RGBA"


def _from_array(arr: np.ndarray, label: str, max_pixels: int) -> np.ndarray:
    _check_dtype(arr, label)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{label}: an array of shape {arr.shape} is not an image; pass one image as "
                         f"{_ARRAY_SHAPES}{_shape_hint(arr.shape)}")
    _check_size((arr.shape[1], arr.shape[0]), label, max_pixels)
    pixels = _as_uint8(arr, _array_scale(arr, label))
    if pixels.shape[2] == 3:
        return pixels
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return _over_white(Image.fromarray(pixels))  # "LA" or "RGBA", exactly as a PNG file of it


def _check_dtype(arr: np.ndarray, label: str) -> None:
    kind = arr.dtype.kind
    if kind in "biuf":  # bool, signed, unsigned, float
        return
    fix = {"c": "pass its magnitude (np.abs) or its real part",
           "O": "convert it first, e.g. np.asarray(image, dtype=np.uint8)"}.get(
        kind, "pass numbers: uint8 0-255 or floats 0-1, e.g. np.asarray(image, dtype=np.uint8)")
    raise ImageError(f"{label}: an array of dtype {arr.dtype} holds no pixel values; {fix}")


def _shape_hint(shape: tuple[int, ...]) -> str:
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[2] > 4:
        return " (this one looks channels first: use array.transpose(1, 2, 0))"
    if len(shape) == 4:
        return " (this one looks like a batch: pass its images one at a time)"
    return ""


def _array_scale(arr: np.ndarray, label: str) -> float:
    """What an array's values are multiplied by to become 0-255: 16-bit ones are divided by 257,
    floats within 0-1 scaled by 255, True becomes 255, everything else is taken as 0-255 (clipped)."""
    if arr.dtype == np.bool_:
        return 255.0
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        return 1 / 257
    if arr.dtype.kind == "f":
        lo, hi = arr.min(), arr.max()  # NaN wins both; no array-sized temporary
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ImageError(f"{label}: array holds NaN or infinite values; replace them (np.nan_to_num) first")
        return 255.0 if hi <= 1.0 else 1.0
    return 1.0


def _as_uint8(arr: np.ndarray, scale: float, rounding=np.rint) -> np.ndarray:
    """``arr * scale`` rounded (NaN as 0) and clipped to ``uint8``, a band of rows at a time."""
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    out = np.empty(arr.shape, np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, arr[0].size))
    for top in range(0, len(arr), rows):
        band = arr[top:top + rows].astype(np.float64)
        band *= scale
        np.clip(rounding(np.nan_to_num(band, copy=False), out=band), 0, 255, out=band)
        out[top:top + rows] = band
    return out


def resize_to_fit(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; returns the image and the scale used."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)), scale
