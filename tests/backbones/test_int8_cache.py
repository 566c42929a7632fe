"""The int8 FaceNet cached on disk: the same embeddings as a fresh build, owner-only files, and a
damaged, altered or foreign file rebuilt, never trusted (nothing in it can run code)."""
import json
import os
import pickle
import stat
import struct
from pathlib import Path

import numpy as np
import pytest

from facerec_core.backbones import facenet as facenet_module
from facerec_core.backbones import int8_cache
from facerec_core.backbones.facenet import int8_cache_key, load_facenet
from facerec_core.detect import FaceDetector, central_face
from facerec_core.images import load_image
from facerec_core.settings import Settings, resolve_precision
from tests.conftest import lfw_photo

PHOTOS = [("Colin_Powell", 1), ("Colin_Powell", 2), ("Tony_Blair", 1)]


@pytest.fixture(scope="module")
def models_dir() -> Path:
    if resolve_precision("auto", "cpu") != "int8":
        pytest.skip("this CPU has no VNNI/AMX: int8 is not used here")
    return Settings.from_env().models_dir


@pytest.fixture(scope="module")
def built(models_dir, tmp_path_factory):
    """A freshly built int8 FaceNet, which wrote the cache file: (backbone, cache folder, file, key)."""
    cache_dir = tmp_path_factory.mktemp("int8cache") / "cache"
    backbone = load_facenet(models_dir, precision="int8", cache_dir=cache_dir)
    key = int8_cache_key(models_dir)
    path = int8_cache.cache_file(cache_dir, key)
    assert path.is_file()
    return backbone, cache_dir, path, key


@pytest.fixture(scope="module")
def crops(lfw_dir, built):
    detector = FaceDetector()
    out = []
    for name, index in PHOTOS:
        image = load_image(lfw_photo(lfw_dir, name, index))
        out.append(built[0].crops(image, [central_face(detector.detect(image), image.shape)]))
    return np.concatenate(out)


def _no_rebuild(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the int8 model was built again instead of read from the cache")
    monkeypatch.setattr(facenet_module, "quantize_int8", refuse)


def test_cached_model_gives_the_same_embeddings(built, crops, models_dir, monkeypatch):
    fresh, cache_dir, _, _ = built
    _no_rebuild(monkeypatch)
    cached = load_facenet(models_dir, precision="int8", cache_dir=cache_dir)
    assert cached.precision == "int8" and cached.cache_key == fresh.cache_key
    a, b = fresh.embed_crops(crops), cached.embed_crops(crops)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert float(a[0] @ a[1]) > float(a[0] @ a[2]) + 0.2  # and they still tell people apart


def test_cache_files_are_owner_only(built):
    _, cache_dir, path, _ = built
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_key_names_weights_calibration_and_torch(built, models_dir, tmp_path):
    _, _, path, key = built
    assert len(key.weights_sha256) == 64 and len(key.calibration_sha256) == 64
    other_calibration = tmp_path / "calibration.json"
    other_calibration.write_text(facenet_module.INT8_CALIBRATION.read_text() + " ")
    assert int8_cache_key(models_dir, other_calibration).digest != key.digest
    # a file whose header carries another key is refused even under the right name
    import dataclasses
    assert int8_cache.load(path, dataclasses.replace(key, torch_version="0.0")) is None


def _parts(data: bytes) -> tuple[dict, bytes]:
    start = len(int8_cache.MAGIC) + 8
    (length,) = struct.unpack_from("<Q", data, len(int8_cache.MAGIC))
    return json.loads(data[start:start + length]), data[start + length:-32]


def _assemble(header: dict, payload: bytes) -> bytes:
    import hashlib

    blob = json.dumps(header).encode()
    body = int8_cache.MAGIC + struct.pack("<Q", len(blob)) + blob + payload
    return body + hashlib.sha256(body).digest()


class _Payload:
    """Unpickling this writes the marker file: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_payload(marker: Path, *, digest: bool) -> bytes:
    import hashlib

    body = pickle.dumps({"state_dict": _Payload(marker)})
    return body + hashlib.sha256(body).digest() if digest else body


def _tamper(kind: str, data: bytes, marker: Path) -> bytes:
    if kind == "flipped bytes":
        middle = len(data) // 2
        return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 16]) + data[middle + 16:]
    if kind == "truncated":
        return data[: len(data) // 3]
    if kind == "changed recorded hash":
        return data[:-32] + bytes(32)
    if kind == "pickle in its place":
        return _pickle_payload(marker, digest=False)
    if kind == "pickle with a matching hash":
        return _pickle_payload(marker, digest=True)
    header, payload = _parts(data)
    if kind == "a function outside the allowlist":
        node = next(n for n in header["graph"]["nodes"] if n.get("target") == "torch.cat")
        node["target"] = "os.system"
    elif kind == "a module type outside the allowlist":
        spec = next(iter(header["graph"]["modules"].values()))
        spec["type"] = "torch.nn.modules.module.Module"
    elif kind == "code in a node name":
        header["graph"]["nodes"][-2]["name"] = "x; __import__('os').system('touch marker')"
    elif kind == "other weights in the header":
        header["key"]["weights_sha256"] = "0" * 64
    elif kind == "weights that no longer give the recorded embeddings":
        middle = len(payload) // 2
        payload = payload[:middle] + bytes(b ^ 0x55 for b in payload[middle:middle + 4096]) + payload[middle + 4096:]
    return _assemble(header, payload)


TAMPERING = ["flipped bytes", "truncated", "changed recorded hash", "pickle in its place",
             "pickle with a matching hash", "a function outside the allowlist", "a module type outside the allowlist",
             "code in a node name", "other weights in the header",
             "weights that no longer give the recorded embeddings"]


@pytest.mark.parametrize("kind", TAMPERING)
def test_a_tampered_cache_file_is_not_trusted(built, tmp_path, kind):
    _, _, path, key = built
    marker = tmp_path / "marker"
    victim = tmp_path / "int8" / path.name
    victim.parent.mkdir(mode=0o700)
    victim.write_bytes(_tamper(kind, path.read_bytes(), marker))
    os.chmod(victim, 0o600)
    assert int8_cache.load(victim, key) is None
    assert not marker.exists()


def test_a_file_others_may_read_is_not_trusted(built, tmp_path):
    _, _, path, key = built
    victim = tmp_path / "int8" / path.name
    victim.parent.mkdir(mode=0o700)
    victim.write_bytes(path.read_bytes())
    os.chmod(victim, 0o600)
    assert int8_cache.load(victim, key) is not None  # the same bytes, owner-only: used
    os.chmod(victim, 0o644)
    assert int8_cache.load(victim, key) is None


def test_a_pickle_in_place_of_the_cache_is_rebuilt_without_running(built, crops, models_dir, tmp_path):
    """End to end: the backbone loader meets a pickle in the cache file, never runs it, builds
    the model again and writes a good file in its place."""
    fresh, cache_dir, path, key = built
    marker = tmp_path / "marker"
    path.write_bytes(_pickle_payload(marker, digest=True))
    rebuilt = load_facenet(models_dir, precision="int8", cache_dir=cache_dir)
    assert not marker.exists()
    np.testing.assert_allclose(rebuilt.embed_crops(crops), fresh.embed_crops(crops), atol=1e-5)
    assert int8_cache.load(path, key) is not None  # rewritten, and good
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_unreadable_cache_folder_still_gives_a_model(models_dir, tmp_path, monkeypatch):
    """A cache that cannot be written is not fatal: the model is built and used uncached."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    key = int8_cache_key(models_dir)
    assert int8_cache.load(int8_cache.cache_file(blocker, key), key) is None
    assert int8_cache.save(int8_cache.cache_file(blocker, key), key, _TinyUnsupported()) is False


class _TinyUnsupported:
    """Stands for a model this format cannot describe (no FX graph)."""

    graph = None
