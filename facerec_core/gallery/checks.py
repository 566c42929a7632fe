"""What the gallery accepts: names, free text, embeddings and thumbnails, checked the same way for
enrollment, import and bulk loading (every write of :class:`~.store.GalleryStore` goes through
these), and the comparison key that makes look-alike names one person.

Names are stored in Unicode NFC and compared by :func:`name_key` (NFKC, then a full Unicode
casefold): "Émile", "émile", "E\\u0301mile" and "ÉMILE" are one person, as are "Straße" and
"STRASSE". Invisible characters (Unicode categories Cc, Cf, Cs, Co, Cn) are refused in names; the
zero-width (non-)joiner is allowed only where a script needs it (after a virama; ZWNJ between two
Arabic-script letters) and ignored by the comparison.
"""
from __future__ import annotations

import io
import re
import unicodedata
import warnings

import numpy as np
from PIL import Image

from ..backbones.specs import SPECS
from ..errors import GalleryError
from ..faces import UNKNOWN

MAX_NAME_LENGTH = 100
MAX_NOTES_LENGTH = 2_000
"""Notes are a line or two ("colleague, 3rd floor"); 2,000 characters is a long paragraph."""
MAX_SOURCE_LENGTH = 255
"""A sample's source is a file name: 255 is the longest most file systems allow."""
MAX_THUMBNAIL_BYTES = 64 * 1024
"""Enrollment stores a 96×96 JPEG of the face (3–5 KB); 64 KiB leaves room for a larger, sharper
thumbnail from another installation, and keeps a page of 50 people light."""
MAX_THUMBNAIL_SIDE = 512
"""Pixels on the longer side (enrollment's are 96): bounds the memory a decoded thumbnail takes."""
THUMBNAIL_FORMATS = ("JPEG", "PNG")
"""What browsers show and Pillow decodes safely; anything else (SVG, GIF, TIFF…) is refused."""
UNIT_TOLERANCE = 1e-3
"""How far from 1 an embedding's length may be (float32 rounding is ~1e-7)."""

_JOINERS = "\u200c\u200d"  # zero-width non-joiner and joiner
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = {"Cc": "a control character", "Cf": "an invisible formatting character",
              "Cs": "a lone surrogate", "Co": "a private-use character", "Cn": "an unassigned character"}


def _arabic(c: str) -> bool:
    return unicodedata.category(c).startswith("L") and 0x0600 <= ord(c) <= 0x08FF


def _joiner_allowed(text: str, i: int) -> bool:
    """A zero-width (non-)joiner where a script needs one (simplified IDNA CONTEXTJ rules)."""
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if before and unicodedata.combining(before) == 9:  # after a virama (Indic scripts)
        return True
    return text[i] == "\u200c" and bool(before and after) and _arabic(before) and _arabic(after)


def _describe(c: str) -> str:
    return f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})"


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def name_key(name: str | None) -> str | None:
    """The form names are compared in (a person's unique key): NFKC, Unicode casefold, NFKC again,
    without zero-width joiners. Deterministic; also registered on every store connection."""
    if name is None:
        return None
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", _collapse(str(name))).casefold())
    return "".join(c for c in folded if c not in _JOINERS)


def lookup_key(name: str) -> str:
    """The key a name given to a lookup is searched by (no validation: unknown names just miss)."""
    return name_key(name) or ""


def clean_name(name: str) -> str:
    """Validate and normalise a display name (NFC, trimmed, single spaces); raises
    :class:`GalleryError` saying what is wrong and what to do."""
    if not isinstance(name, str):
        raise GalleryError(f"a name must be text, not {type(name).__name__}")
    cleaned = _collapse(name)
    if not cleaned:
        raise GalleryError("a name is required")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise GalleryError(f"the name is too long ({len(cleaned)} characters, at most {MAX_NAME_LENGTH})")
    for i, c in enumerate(cleaned):
        what = _INVISIBLE.get(unicodedata.category(c))
        if what and not (c in _JOINERS and _joiner_allowed(cleaned, i)):
            raise GalleryError(f"the name contains {what}, {_describe(c)}, at position {i + 1}: names must be "
                               "plain visible text (look-alike names are refused); remove it and type the name again")
    if name_key(cleaned) == name_key(UNKNOWN):
        raise GalleryError(f"{cleaned!r} is reserved for faces that match nobody; choose another name")
    return cleaned


def clean_text(text: str | None, what: str, limit: int, *, multiline: bool = False) -> str:
    """Free text (notes, a sample's source): NFC, at most ``limit`` characters, no control
    characters (tab and newline only when ``multiline``) and no bidirectional overrides."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise GalleryError(f"the {what} must be text, not {type(text).__name__}")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n"))
    if len(text) > limit:
        raise GalleryError(f"the {what} is too long ({len(text):,} characters, at most {limit:,}); shorten it")
    allowed = "\t\n" if multiline else ""
    for i, c in enumerate(text):
        if (unicodedata.category(c) in ("Cc", "Cs") and c not in allowed) or c in _BIDI:
            raise GalleryError(f"the {what} contains {_describe(c)} at position {i + 1}, which is not shown as "
                               "text; remove it")
    return text


def safe_source(label: str) -> str:
    """An uploaded file's name made storable: invisible characters become U+FFFD and the name is
    cut to :data:`MAX_SOURCE_LENGTH` (enrollment never refuses a photo for its file name)."""
    text = unicodedata.normalize("NFC", str(label))
    text = "".join("\ufffd" if unicodedata.category(c) in _INVISIBLE or c in _BIDI else c for c in text)
    return text if len(text) <= MAX_SOURCE_LENGTH else text[:MAX_SOURCE_LENGTH - 1] + "…"


# ---- embeddings ---------------------------------------------------------------------------------
def backbone_dimension(backbone: str) -> int:
    """The embedding size of ``backbone`` (its :class:`~facerec_core.backbones.BackboneSpec`)."""
    spec = SPECS.get(backbone) if isinstance(backbone, str) else None
    if spec is None:
        raise GalleryError(f"unknown backbone {backbone!r}; choose one of: {', '.join(SPECS)}")
    return spec.dimension


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Which rows of ``X`` are finite vectors of unit length (what search assumes)."""
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1)
    return np.isfinite(norms) & (np.abs(norms - 1.0) <= UNIT_TOLERANCE)


def embedding_blob(embedding: np.ndarray, dimension: int) -> tuple[bytes, int]:
    """A ``dimension``-d finite unit vector as stored bytes (float32 little-endian) and its size."""
    vec = np.asarray(embedding, dtype="<f4").reshape(-1)
    if vec.size != dimension:
        raise GalleryError(f"an embedding of {vec.size} values, expected {dimension} for this backbone")
    if not np.isfinite(vec).all():
        raise GalleryError("an embedding must hold finite numbers only (found NaN or infinity)")
    if not unit_rows(vec[None])[0]:
        norm = float(np.linalg.norm(vec.astype(np.float64)))
        raise GalleryError(f"an embedding must have unit length (norm {norm:.4g})")
    return vec.tobytes(), dimension


_HASH = re.compile(r"[0-9a-f]{64}")


def check_content_hash(value: str | None) -> str | None:
    """A sample's picture hash: ``None`` or a SHA-256 in lowercase hex (:func:`~.enroll.image_hash`)."""
    if value is not None and not (isinstance(value, str) and _HASH.fullmatch(value)):
        raise GalleryError("a content hash must be 64 lowercase hex digits (SHA-256) or null")
    return value


# ---- thumbnails ---------------------------------------------------------------------------------
def thumbnail_problem(data: bytes | None) -> str | None:
    """Why ``data`` cannot be a stored thumbnail (``None``: it can, or there is none): it must be a
    JPEG or PNG of at most :data:`MAX_THUMBNAIL_BYTES` and :data:`MAX_THUMBNAIL_SIDE` pixels a
    side that Pillow decodes completely."""
    if data is None:
        return None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return f"a thumbnail must be bytes, not {type(data).__name__}"
    if len(data) > MAX_THUMBNAIL_BYTES:
        return f"the thumbnail is {len(data):,} bytes (at most {MAX_THUMBNAIL_BYTES:,})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data)), formats=THUMBNAIL_FORMATS) as image:
                if max(image.size) > MAX_THUMBNAIL_SIDE:
                    return (f"the thumbnail is {image.size[0]}×{image.size[1]} pixels (at most "
                            f"{MAX_THUMBNAIL_SIDE} a side)")
                image.load()
    except Exception as exc:  # Pillow raises many kinds for hostile bytes; all mean "not a thumbnail"
        return f"the thumbnail is not a readable {' or '.join(THUMBNAIL_FORMATS)} image ({type(exc).__name__})"
    return None


def check_thumbnail(data: bytes | None) -> bytes | None:
    """``data`` as bytes if it is an acceptable thumbnail; raises :class:`GalleryError` otherwise."""
    problem = thumbnail_problem(data)
    if problem:
        raise GalleryError(f"{problem}; use a JPEG or PNG face thumbnail, or none")
    return None if data is None else bytes(data)
