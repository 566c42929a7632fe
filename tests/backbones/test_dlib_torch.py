"""dlib's face ResNet rebuilt in PyTorch from the .dat file: same descriptors as dlib itself."""
import numpy as np
import pytest

from facerec_core.backbones.dlib_models import SHAPE_PREDICTOR
from facerec_core.backbones.dlib_torch import (
    DlibFormatError, default_model_path, load_dlib_resnet, read_dlib_resnet)
from facerec_core.detect import FaceDetector, central_face
from facerec_core.errors import ModelNotFoundError
from facerec_core.images import load_image
from tests.conftest import lfw_photo

PHOTOS = [("Colin_Powell", 1), ("Colin_Powell", 2), ("Tony_Blair", 1), ("George_W_Bush", 1),
          ("Serena_Williams", 1)]


@pytest.fixture(scope="module")
def dlib_reference(lfw_dir):
    """150x150 chips of real LFW faces, and dlib's own descriptor of each face."""
    dlib = pytest.importorskip("dlib")
    folder = default_model_path().parent
    shape_predictor = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR))
    encoder = dlib.face_recognition_model_v1(str(default_model_path()))
    detector = FaceDetector()
    chips, descriptors = [], []
    for name, idx in PHOTOS:
        image = load_image(lfw_photo(lfw_dir, name, idx))
        x1, y1, x2, y2 = central_face(detector.detect(image), image.shape).box
        shape = shape_predictor(image, dlib.rectangle(round(x1), round(y1), round(x2), round(y2)))
        chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        descriptors.append(np.asarray(encoder.compute_face_descriptor(image, shape)))
    return np.stack(chips), np.asarray(descriptors, dtype=np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_dlib(dlib_reference, channels_last):
    chips, expected = dlib_reference
    model = load_dlib_resnet(device="cpu", channels_last=channels_last)
    batched = model.compute(chips)
    assert batched.shape == (len(PHOTOS), 128) and batched.dtype == np.float32
    assert _cosines(batched, expected).min() >= 0.9999
    np.testing.assert_allclose(batched, expected, atol=1e-4)  # raw descriptors, not only directions
    one_at_a_time = np.concatenate([model.compute(chip) for chip in chips])
    np.testing.assert_allclose(one_at_a_time, batched, atol=1e-5)
    assert model.compute(chips[:0]).shape == (0, 128)


def test_parsed_weights():
    state = read_dlib_resnet(default_model_path())
    np.testing.assert_allclose(state["mean"].numpy(), [122.782, 117.001, 104.298], atol=1e-4)
    assert state["stem.weight"].shape == (32, 3, 7, 7) and state["fc.weight"].shape == (128, 256)
    assert sum(k.endswith(".weight") and k != "fc.weight" for k in state) == 29  # convolutions


def test_missing_or_unparsable_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="missing"):
        load_dlib_resnet(tmp_path / "nothing.dat")
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(default_model_path().read_bytes()[:100_000])
    with pytest.raises(DlibFormatError, match="end of file"):
        read_dlib_resnet(truncated)
    with pytest.raises(ModelNotFoundError, match="not dlib's face ResNet"):
        load_dlib_resnet(truncated)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x01\x05hello")
    with pytest.raises(ModelNotFoundError, match="not dlib's face ResNet"):
        load_dlib_resnet(other)


def test_backbone_gives_dlibs_descriptors(lfw_dir, dlib_reference):
    """The dlib-resnet backbone (dlib alignment, torch network) equals dlib end to end."""
    from facerec_core.backbones import load_backbone
    from facerec_core.settings import Settings

    backbone = load_backbone("dlib-resnet", Settings.from_env(), device="cpu", flip=False)
    detector = FaceDetector()
    items = []
    for name, idx in PHOTOS:
        image = load_image(lfw_photo(lfw_dir, name, idx))
        items.append((image, [central_face(detector.detect(image), image.shape)]))
    embeddings = np.concatenate(backbone.embed_many(items))
    assert _cosines(embeddings, dlib_reference[1]).min() >= 0.9999
