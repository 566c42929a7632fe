"""Backbones: the default FaceNet (converted weights), dlib, and the 512-d loading path."""
import json
import shutil

import numpy as np
import pytest

from facerec_core.backbones import available_backbones, load_backbone
from facerec_core.backbones.facenet import (INT8_CALIBRATION, InceptionResnetBackbone, prewhiten, quantize_int8,
                                            read_int8_calibration)
from facerec_core.backbones.keras_facenet import WEIGHTS_FILENAME, build_model, verify_weights
from facerec_core.detect import FaceDetector, central_face
from facerec_core.errors import FacerecError, ModelNotFoundError, WeightsIntegrityError
from facerec_core.images import load_image
from facerec_core.settings import Settings
from tests.conftest import lfw_photo

SAME = [("Colin_Powell", 1), ("Colin_Powell", 2)]
OTHER = ("Tony_Blair", 1)


@pytest.fixture(scope="module")
def faces(lfw_dir):
    detector = FaceDetector()
    out = []
    for name, idx in SAME + [OTHER]:
        image = load_image(lfw_photo(lfw_dir, name, idx))
        out.append((image, [central_face(detector.detect(image), image.shape)]))
    return out


@pytest.fixture(scope="module")
def facenet():
    return load_backbone("facenet", Settings.from_env(), device="cpu")


def _check_embeddings(backbone, faces, size, margin=0.2):
    embs = np.concatenate([backbone.embed(img, f) for img, f in faces])
    assert embs.shape == (3, size) and embs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embs, axis=1), 1.0, atol=1e-5)
    same, different = embs[0] @ embs[1], embs[0] @ embs[2]
    assert same > different + margin, (same, different)
    return embs


def test_facenet_default(facenet, faces):
    assert facenet.name == "facenet" and facenet.embedding_size == 128
    embs = _check_embeddings(facenet, faces, 128)
    # batched embedding gives the same vectors
    batched = np.concatenate(facenet.embed_many(faces))
    np.testing.assert_allclose(batched, embs, atol=1e-4)
    assert facenet.embed(faces[0][0], []).shape == (0, 128)


def _needs_int8_instructions(precision: str) -> None:
    """int8 is measured and chosen only on CPUs with int8 dot-product instructions: without them
    oneDNN takes another, less exact path (seen on a machine without VNNI: the pinned pair moved by
    more than 0.01), which ``auto`` never picks there."""
    from facerec_core.settings import resolve_precision

    if precision == "int8" and resolve_precision("auto", "cpu") != "int8":
        pytest.skip("this CPU has no VNNI/AMX: int8 is not used here")


@pytest.mark.parametrize("precision, tol", [("fp32", 0.001), ("bf16", 0.005), ("int8", 0.01)])
def test_facenet_pinned_embeddings(faces, precision, tol):
    """Guards against a conversion or speed-up that silently changes the model's output: the
    similarities of these real pairs were measured with the fp32 reference path, and the faster
    bf16 and int8 paths (int8 is the default on CPUs with VNNI) must stay close to them."""
    _needs_int8_instructions(precision)
    backbone = load_backbone("facenet", Settings.from_env(), device="cpu", precision=precision)
    assert backbone.precision == precision
    embs = np.concatenate([backbone.embed(img, f) for img, f in faces])
    assert embs[0] @ embs[1] == pytest.approx(PINNED_SAME, abs=tol)
    assert embs[0] @ embs[2] == pytest.approx(PINNED_DIFFERENT, abs=tol)
    np.testing.assert_allclose(embs[0][:4], PINNED_FIRST_VALUES, atol=tol)


@pytest.mark.parametrize("precision, min_cosine", [("bf16", 0.999), ("int8", 0.995)])
def test_facenet_fast_path_matches_reference(faces, precision, min_cosine):
    """bf16 and int8 batched embedding agree with fp32 face by face (cosine)."""
    _needs_int8_instructions(precision)
    fp32 = load_backbone("facenet", Settings.from_env(), device="cpu", precision="fp32")
    fast = load_backbone("facenet", Settings.from_env(), device="cpu", precision=precision)
    assert fp32.cache_key != fast.cache_key  # caches never mix the two
    ref = np.concatenate(fp32.embed_many(faces))
    assert np.einsum("ij,ij->i", ref, np.concatenate(fast.embed_many(faces))).min() > min_cosine


def test_facenet_int8_calibration_is_checked(tmp_path):
    """A calibration made for other weights, or for another graph, is refused with a clear error."""

    record = json.loads(INT8_CALIBRATION.read_text())
    assert record["calibration_faces"]["faces"] >= 256
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**record, "weights_h5_sha256": "0" * 64}))
    with pytest.raises(ModelNotFoundError, match="other FaceNet weights"):
        read_int8_calibration(other)
    with pytest.raises(ModelNotFoundError, match="cannot be read"):
        read_int8_calibration(tmp_path / "missing.json")
    partial = dict(list(read_int8_calibration().items())[:-1])
    with pytest.raises(ModelNotFoundError, match="does not match"):
        quantize_int8(build_model(), partial)
    with pytest.raises(ValueError, match="CPU only"):
        InceptionResnetBackbone(build_model(), name="facenet", embedding_size=128, margin=32,
                                standardize=prewhiten, precision="int8", device="cuda", int8_qparams={})


# Measured with the fp32 path: Colin_Powell_0001 vs _0002, vs Tony_Blair_0001.
PINNED_SAME = 0.8470
PINNED_DIFFERENT = 0.3231
PINNED_FIRST_VALUES = [-0.0249, -0.0706, 0.0012, 0.0019]


def test_dlib_resnet(faces):
    # dlib's descriptors all lie in a narrow cone: cosines are high, but still ordered
    _check_embeddings(load_backbone("dlib-resnet", Settings.from_env(), flip=False), faces, 128, margin=0.03)


def test_combined(faces):
    _check_embeddings(load_backbone("facenet+dlib", Settings.from_env(), device="cpu"), faces, 256, margin=0.1)


@pytest.mark.parametrize("name, weights", [("facenet+dlib-w15", (0.15, 0.85)), ("facenet+dlib-weighted", (0.2, 0.8))])
def test_weighted_fusion(faces, name, weights):
    """A weighted fusion's cosine is the weighted mean of its parts' cosines (FaceNet and dlib,
    both mirror-averaged; the default weighs them 0.15 and 0.85)."""
    fusion = load_backbone(name, Settings.from_env(), device="cpu")
    embs = _check_embeddings(fusion, faces, 256, margin=0.1)
    assert [p.flip for p in fusion.parts] == [True, True]
    assert fusion.cache_key.endswith(f"+dlib-resnet-flip-w{weights[0]:g}-{weights[1]:g}")
    parts = [np.concatenate([p.embed(img, f) for img, f in faces]) for p in fusion.parts]
    expected = weights[0] * parts[0] @ parts[0].T + weights[1] * parts[1] @ parts[1].T
    np.testing.assert_allclose(embs @ embs.T, expected, atol=1e-5)


def test_concatenation_weights_are_checked():
    from types import SimpleNamespace

    from facerec_core.backbones import ConcatBackbone

    parts = [SimpleNamespace(embedding_size=128)] * 2
    for weights in ((0.5, 0.6), (1.0, 0.0), (1.0,)):
        with pytest.raises(FacerecError, match="sum to 1"):
            ConcatBackbone(parts, "x", weights)


def test_unknown_backbone():
    with pytest.raises(FacerecError, match="unknown backbone"):
        load_backbone("resnet9000", Settings.from_env())
    assert "facenet" in available_backbones()


def test_missing_and_altered_weights(tmp_path):
    with pytest.raises(ModelNotFoundError, match="python -m facerec_core setup"):
        load_backbone("facenet", Settings.from_env().replace(models_dir=tmp_path))
    src = Settings.from_env().models_dir
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    assert verify_weights(tmp_path) == tmp_path / WEIGHTS_FILENAME
    with open(tmp_path / WEIGHTS_FILENAME, "r+b") as fh:
        fh.seek(-100, 2)
        fh.write(b"\x00" * 10)
    with pytest.raises(WeightsIntegrityError, match="altered"):
        verify_weights(tmp_path)


def test_facenet_vggface2_local_state_dict(tmp_path, faces):
    """The 512-d loading path, with a state dict this test writes (random weights, plus the
    classifier head that facenet-pytorch's released files carry)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None).state_dict()
    state["logits.weight"] = torch.zeros(8631, 512)
    state["logits.bias"] = torch.zeros(8631)
    path = tmp_path / "vggface2.pt"
    torch.save(state, path)
    backbone = load_backbone("facenet-vggface2", Settings.from_env().replace(facenet_vggface2_weights=path),
                             device="cpu", precision="fp32")
    assert backbone.embedding_size == 512
    emb = backbone.embed(*faces[0])
    assert emb.shape == (1, 512)
    np.testing.assert_allclose(np.linalg.norm(emb), 1.0, atol=1e-5)
    loaded = backbone.model.state_dict()
    torch.testing.assert_close(loaded["last_linear.weight"], state["last_linear.weight"])

    bad = tmp_path / "bad.pt"
    torch.save({"nonsense": torch.zeros(1)}, bad)
    with pytest.raises(ModelNotFoundError, match="not an InceptionResnetV1"):
        load_backbone("facenet-vggface2", Settings.from_env().replace(facenet_vggface2_weights=bad))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_backbone("facenet-casia", Settings.from_env().replace(facenet_casia_weights=tmp_path / "no.pt"))


def test_facenet_vggface2_offline_error(monkeypatch, tmp_path):
    """Offline with no local file: a clear error that says how to provide the weights."""
    import facenet_pytorch.models.inception_resnet_v1 as irv1

    def no_network(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(irv1, "download_url_to_file", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="FACEREC_FACENET_VGGFACE2_WEIGHTS"):
        load_backbone("facenet-vggface2", Settings.from_env().replace(facenet_vggface2_weights=None))


def test_specs_give_the_embedding_cache_keys_byte_for_byte():
    from facerec_core.backbones.specs import SPECS, spec_for
    from facerec_core.settings import float_precision

    key = lambda name, flip, precision: spec_for(name).cache_key(flip=flip, precision=precision)  # noqa: E731
    assert key("facenet", None, "int8") == "facenet-m32s-flip-int8"
    assert key("facenet", False, "fp32") == "facenet-m32s"
    assert key("facenet", None, "bf16") == "facenet-m32s-flip-bf16"
    assert key("dlib-resnet", None, "int8") == key("dlib-resnet", False, "fp32") == "dlib-resnet"
    assert key("dlib-resnet", True, "fp32") == "dlib-resnet-flip"
    assert key("facenet+dlib", None, "int8") == "facenet-m32s-flip-int8+dlib-resnet"
    assert key("facenet+dlib-weighted", None, "int8") == "facenet-m32s-flip-int8+dlib-resnet-flip-w0.2-0.8"
    assert key("facenet+dlib-weighted", False, "fp32") == "facenet-m32s+dlib-resnet-w0.2-0.8"
    assert key("facenet+dlib-w15", None, "int8") == "facenet-m32s-flip-int8+dlib-resnet-flip-w0.15-0.85"
    fallback = float_precision("cpu")  # no int8 calibration for the 512-d releases
    assert key("facenet-vggface2", None, "int8") == "facenet-vggface2-m0-flip" + ("" if fallback == "fp32" else f"-{fallback}")
    assert key("facenet-casia", False, "fp32") == "facenet-casia-m0"
    assert {s.name: s.dimension for s in SPECS.values()} == {"facenet": 128, "dlib-resnet": 128, "facenet+dlib": 256,
                                                             "facenet+dlib-weighted": 256, "facenet+dlib-w15": 256,
                                                             "facenet-vggface2": 512, "facenet-casia": 512}
    assert (spec_for("facenet").verify_threshold, spec_for("facenet").identify_threshold) == (0.41, 0.63)
    assert spec_for("dlib-resnet").identify_threshold == 0.90


def test_loaded_backbones_match_their_spec(facenet):
    from facerec_core.backbones.specs import spec_for

    spec = spec_for("facenet")
    assert facenet.embedding_size == spec.dimension and facenet.margin == spec.margin and facenet.flip == spec.flip
    assert facenet.cache_key == spec.cache_key(flip=facenet.flip, precision=facenet.precision)
