"""Every path and knob in one place, read from environment variables with sane defaults.

CLI options and the dashboard override these by building a changed copy with
``dataclasses.replace``; nothing else in the library reads the environment.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path | None) -> Path | None:
    value = os.environ.get(name)
    if value:
        return Path(value).expanduser()
    return default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


SIGHTING_SOURCES = ("recognize", "live", "cli", "api")


def parse_sources(value: str, name: str = "FACEREC_SIGHTINGS") -> tuple[str, ...]:
    """``"recognize,live"`` → the sources whose decisions are recorded; ``""``, ``none`` or ``off``:
    none. Raises ValueError naming the valid sources."""
    text = value.strip().lower()
    if text in ("", "none", "off"):
        return ()
    sources = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    bad = [s for s in sources if s not in SIGHTING_SOURCES]
    if bad:
        raise ValueError(f"{name}: unknown source {', '.join(bad)}; use some of {', '.join(SIGHTING_SOURCES)}, "
                         "or none")
    return sources


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclasses.dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build with :meth:`from_env`; override with ``dataclasses.replace``."""

    lfw_dir: Path | None = None
    """LFW-layout folder ``<root>/<Person_Name>/<Person_Name>_NNNN.jpg`` (FACEREC_LFW_DIR)."""
    lfw_protocol_dir: Path | None = None
    """Folder with pairs.txt, people.txt and the dev splits (FACEREC_LFW_PROTOCOL_DIR)."""
    models_dir: Path = PROJECT_ROOT / "models"
    """Converted backbone weights (FACEREC_MODELS_DIR)."""
    artifacts_dir: Path = PROJECT_ROOT / "artifacts"
    """Trained classifier, thresholds, manifest and reports (FACEREC_ARTIFACTS_DIR)."""
    cache_dir: Path = PROJECT_ROOT / "cache"
    """Embedding cache (FACEREC_CACHE_DIR)."""
    data_dir: Path = PROJECT_ROOT / "data"
    """User data such as the enrolled gallery (FACEREC_DATA_DIR)."""
    backbone: str = "facenet+dlib-w15"
    """Embedding model name, see :func:`facerec_core.backbones.available_backbones` (FACEREC_BACKBONE)."""
    device: str = "auto"
    """``cpu``, ``cuda`` or ``auto`` (FACEREC_DEVICE)."""
    precision: str = "auto"
    """Embedding arithmetic: ``fp32``, ``bf16``, ``fp16``, ``int8`` or ``auto`` (int8 on CPUs with
    VNNI, else bf16 on CPUs with native bfloat16, fp16 on CUDA, else fp32; see
    :func:`resolve_precision`) (FACEREC_PRECISION)."""
    threads: int = 0
    """torch threads for one interactive request (0 = automatic, see
    :func:`facerec_core.runtime.interactive_threads`) (FACEREC_THREADS)."""
    min_face_size: int = 20
    """Smallest face, in pixels, that the detector looks for (FACEREC_MIN_FACE_SIZE)."""
    detection_threshold: float = 0.9
    """Faces with a lower MTCNN score are discarded (FACEREC_DETECTION_THRESHOLD)."""
    max_image_pixels: int = 40_000_000
    """Images with more pixels are refused as possible decompression bombs: files and bytes from
    their header, before decoding; PIL images and numpy arrays from their size, before any
    conversion. The message quotes this limit, also when Pillow spots the bomb itself, and a value
    above Pillow's own ``Image.MAX_IMAGE_PIXELS`` lifts that (process-wide) so this one is enforced
    (FACEREC_MAX_IMAGE_PIXELS). Decoded, 40 MP is 120 MB of RGB."""
    max_image_bytes: int = 25 * 1024 * 1024
    """Files, bytes and streams larger than this many bytes (26,214,400: Streamlit's "25 MB") are
    refused before they are read whole: a path by its size on disk, a stream once it has given one
    byte more (FACEREC_MAX_IMAGE_BYTES). A mosaic of LFW photos at 35 MP measured 19.6 MB as a
    quality-100 JPEG and 39 MB as a PNG: JPEG and WebP photos fit at any accepted pixel count, PNG
    photos up to about 20 MP. ``server.maxUploadSize`` in ``.streamlit/config.toml`` must equal it
    in MB (tested)."""
    max_detect_side: int = 2048
    """Images whose longer side is larger are searched for faces on a copy shrunk to this many
    pixels; boxes and landmarks are mapped back to the full image, from which the faces are cut
    for the embedding (FACEREC_MAX_DETECT_SIDE). It bounds detection's time and memory, which grow
    with the pixel count (a 36 MP photo took 61 s and 4.9 GB; on a 2048 px copy about 1.5 s of one
    core). Images up to 2048 px (LFW, webcam frames, Full HD, most web photos) are detected exactly
    as without it. On a shrunk copy faces under 20 px of the copy are not looked for, so an image
    more than twice this size misses faces under ``20 × its side / max_detect_side`` px (40 px, the
    smallest face that is named, at twice the size); and the boxes, found at lower resolution,
    move the embedding a little (cosine 0.99 on average to the full-size detection's, measured)."""
    max_faces: int = 100
    """At most this many faces of one image are embedded and identified, the largest first; the
    others are returned unidentified with a note (FACEREC_MAX_FACES). It bounds the time one
    image can take: each face costs about 15 ms of embedding on one core, so a 7000×5000 mosaic
    of 560 faces took minutes on a busy machine. Raise it for crowd photos."""
    workers: int = 2
    """Processes used for bulk embedding (FACEREC_WORKERS)."""
    facenet_vggface2_weights: Path | None = None
    """Local state dict for ``facenet-vggface2`` (FACEREC_FACENET_VGGFACE2_WEIGHTS)."""
    facenet_casia_weights: Path | None = None
    """Local state dict for ``facenet-casia`` (FACEREC_FACENET_CASIA_WEIGHTS)."""
    session_minutes: float = 60.0
    """A dashboard session ends after this many minutes without a request (sliding: every
    request restarts the clock); a sign-out ends it at once (FACEREC_SESSION_MINUTES)."""
    max_failed_sign_ins: int = 5
    """Consecutive failed sign-ins on one name that lock it (FACEREC_MAX_FAILED_SIGN_INS); the
    failures before that already make each next attempt wait longer (1, 2, 4, 8 s…)."""
    lockout_minutes: float = 15.0
    """How long a locked name refuses every sign-in, the right password too; an administrator's
    ``user unlock NAME`` ends it sooner (FACEREC_LOCKOUT_MINUTES)."""

    # -- biometric data at rest (issue #16) --
    gallery_key_file: Path | None = None
    """Key file that encrypts the gallery's embeddings and thumbnails at rest with AES-256-GCM,
    kept outside the database; unset: no encryption (FACEREC_GALLERY_KEY_FILE). A missing file is
    created (0600, back it up) for a gallery with nothing encrypted yet; see
    :mod:`facerec_core.gallery.crypto`."""

    # -- the history of decisions (issue #18) --
    sightings: tuple[str, ...] = SIGHTING_SOURCES
    """Whose decisions are recorded as sightings (time, answer, score, runner-up, a 64 px
    thumbnail and the embedding): any of ``recognize`` (the page), ``live`` (Live Webcam, once per
    track), ``cli`` (``predict``), ``api``; comma-separated, or ``none`` (FACEREC_SIGHTINGS)."""
    sightings_days: float = 30.0
    """Sightings older than this many days are deleted; 0 keeps them (FACEREC_SIGHTINGS_DAYS)."""

    # -- the HTTP API and webhooks (issue #19) --
    api_host: str = "127.0.0.1"
    """Where ``facerec serve`` listens (FACEREC_API_HOST); loopback unless you choose otherwise."""
    api_port: int = 8600
    """Its port (FACEREC_API_PORT)."""
    api_workers: int = 1
    """Server processes, each with its own Recognizer (FACEREC_API_WORKERS)."""
    api_threads: int = 1
    """Model calls running at once in one process (FACEREC_API_THREADS)."""
    api_queue: int = 8
    """Model calls that may wait in one process; the next gets 503 with Retry-After (FACEREC_API_QUEUE)."""
    api_rate: int = 600
    """Requests a minute of a key made without its own limit (FACEREC_API_RATE)."""
    api_max_body_bytes: int = 64 * 1024 * 1024
    """The largest request body; more is refused with 413 (FACEREC_API_MAX_BODY_BYTES). Images are
    also held to ``max_image_bytes`` and ``max_image_pixels``; a gallery import may be larger."""
    webhook_attempts: int = 6
    """Tries per webhook delivery before it is recorded failed (FACEREC_WEBHOOK_ATTEMPTS)."""
    webhook_retry_seconds: float = 2.0
    """The first retry's delay; each later one doubles (FACEREC_WEBHOOK_RETRY_SECONDS)."""

    @classmethod
    def from_env(cls) -> "Settings":
        d = cls()
        return cls(
            lfw_dir=_env_path("FACEREC_LFW_DIR", None),
            lfw_protocol_dir=_env_path("FACEREC_LFW_PROTOCOL_DIR", None),
            models_dir=_env_path("FACEREC_MODELS_DIR", d.models_dir),
            artifacts_dir=_env_path("FACEREC_ARTIFACTS_DIR", d.artifacts_dir),
            cache_dir=_env_path("FACEREC_CACHE_DIR", d.cache_dir),
            data_dir=_env_path("FACEREC_DATA_DIR", d.data_dir),
            backbone=os.environ.get("FACEREC_BACKBONE", d.backbone),
            device=os.environ.get("FACEREC_DEVICE", d.device),
            precision=os.environ.get("FACEREC_PRECISION", d.precision),
            threads=_env_int("FACEREC_THREADS", d.threads),
            min_face_size=_env_int("FACEREC_MIN_FACE_SIZE", d.min_face_size),
            detection_threshold=_env_float("FACEREC_DETECTION_THRESHOLD", d.detection_threshold),
            max_image_pixels=_env_int("FACEREC_MAX_IMAGE_PIXELS", d.max_image_pixels),
            max_image_bytes=_env_int("FACEREC_MAX_IMAGE_BYTES", d.max_image_bytes),
            max_detect_side=_env_int("FACEREC_MAX_DETECT_SIDE", d.max_detect_side),
            max_faces=_env_int("FACEREC_MAX_FACES", d.max_faces),
            workers=_env_int("FACEREC_WORKERS", d.workers),
            facenet_vggface2_weights=_env_path("FACEREC_FACENET_VGGFACE2_WEIGHTS", None),
            facenet_casia_weights=_env_path("FACEREC_FACENET_CASIA_WEIGHTS", None),
            session_minutes=_env_float("FACEREC_SESSION_MINUTES", d.session_minutes),
            max_failed_sign_ins=_env_int("FACEREC_MAX_FAILED_SIGN_INS", d.max_failed_sign_ins),
            lockout_minutes=_env_float("FACEREC_LOCKOUT_MINUTES", d.lockout_minutes),
            # -- biometric data at rest (issue #16) --
            gallery_key_file=_env_path("FACEREC_GALLERY_KEY_FILE", None),
            # -- the history of decisions (issue #18) --
            sightings=parse_sources(os.environ.get("FACEREC_SIGHTINGS", ",".join(d.sightings))),
            sightings_days=_env_float("FACEREC_SIGHTINGS_DAYS", d.sightings_days),
            # -- the HTTP API and webhooks (issue #19) --
            api_host=os.environ.get("FACEREC_API_HOST", d.api_host),
            api_port=_env_int("FACEREC_API_PORT", d.api_port),
            api_workers=_env_int("FACEREC_API_WORKERS", d.api_workers),
            api_threads=_env_int("FACEREC_API_THREADS", d.api_threads),
            api_queue=_env_int("FACEREC_API_QUEUE", d.api_queue),
            api_rate=_env_int("FACEREC_API_RATE", d.api_rate),
            api_max_body_bytes=_env_int("FACEREC_API_MAX_BODY_BYTES", d.api_max_body_bytes),
            webhook_attempts=_env_int("FACEREC_WEBHOOK_ATTEMPTS", d.webhook_attempts),
            webhook_retry_seconds=_env_float("FACEREC_WEBHOOK_RETRY_SECONDS", d.webhook_retry_seconds),
        )

    def replace(self, **changes) -> "Settings":
        """A copy with ``changes`` applied; ``None`` values are ignored (handy for CLI options)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def lfw_protocol_dir_resolved(self) -> Path | None:
        """The protocol folder, defaulting to ``<lfw_dir>/../lfw_protocol`` when that exists."""
        if self.lfw_protocol_dir is not None:
            return self.lfw_protocol_dir
        if self.lfw_dir is not None:
            sibling = self.lfw_dir.parent / "lfw_protocol"
            if sibling.is_dir():
                return sibling
        return None


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` when a GPU is usable, else ``cpu``; validate the others."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use 'cpu' or 'auto'")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'auto'")
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_precision(precision: str, device: str) -> str:
    """Turn ``auto`` into what was measured best for ``device`` (a resolved device string):
    ``int8`` on a CPU with int8 dot-product instructions (VNNI / AMX: FaceNet 2× faster than
    bf16, View-2 unchanged, see the README), else ``bf16`` on a CPU with native bfloat16,
    ``fp16`` on CUDA, ``fp32`` otherwise. Backbones without an int8 calibration use
    :func:`float_precision` instead of ``int8``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if not device.startswith("cuda") and _cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return "int8"
    return float_precision(device)


def float_precision(device: str) -> str:
    """The fastest floating-point arithmetic for ``device``: ``fp16`` on CUDA, ``bf16`` on a CPU
    with native bfloat16, else ``fp32``."""
    if device.startswith("cuda"):
        return "fp16"
    # torch's own check also says yes for plain AVX512, where bfloat16 is emulated and no faster.
    return "bf16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "fp32"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()
