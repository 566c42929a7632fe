"""Device, precision and thread settings: resolved the same way by the CLI, the app and bulk jobs."""
import numpy as np
import pytest
import torch

from facerec_core.backbones import load_backbone
from facerec_core.embeddings import _backbone_cache_key
from facerec_core.settings import Settings, float_precision, resolve_device, resolve_precision


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("FACEREC_DEVICE", "cpu")
    monkeypatch.setenv("FACEREC_PRECISION", "fp32")
    monkeypatch.setenv("FACEREC_THREADS", "1")
    s = Settings.from_env()
    assert (s.device, s.precision, s.threads) == ("cpu", "fp32", 1)


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_precision_resolution():
    assert resolve_precision("auto", "cuda") == "fp16"
    assert resolve_precision("auto", "cpu") in ("int8", "bf16", "fp32")
    assert resolve_precision("fp32", "cuda") == "fp32"
    assert float_precision("cuda") == "fp16" and float_precision("cpu") in ("bf16", "fp32")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int4", "cpu")


def test_gpu_precision_path_forced_onto_the_cpu():
    """The code a GPU runs (fp16 weights and activations, tensors moved to ``device``) runs here with the device
    forced to CPU, and agrees with the fp32 reference."""
    crops = np.random.default_rng(0).integers(0, 255, (3, 160, 160, 3), dtype=np.uint8)
    reference = load_backbone("facenet", Settings.from_env(), device="cpu", precision="fp32").embed_crops(crops)
    gpu_path = load_backbone("facenet", Settings.from_env(), device="cpu", precision="fp16")
    assert gpu_path.device == "cpu" and gpu_path.precision == "fp16"
    assert np.einsum("ij,ij->i", reference, gpu_path.embed_crops(crops)).min() > 0.999


def test_cache_keys_follow_precision():
    s = Settings.from_env().replace(device="cpu")
    assert _backbone_cache_key("facenet", None, s.replace(precision="fp32")) == "facenet-m32s-flip"
    assert _backbone_cache_key("facenet", None, s.replace(precision="bf16")) == "facenet-m32s-flip-bf16"
    # dlib's network runs in fp32 whatever the setting
    assert _backbone_cache_key("facenet+dlib", None, s.replace(precision="bf16")) == "facenet-m32s-flip-bf16+dlib-resnet"
    assert _backbone_cache_key("facenet", None, s.replace(precision="int8")) == "facenet-m32s-flip-int8"
    # only facenet has an int8 calibration: the 512-d releases fall back to the fastest float
    fallback = float_precision("cpu")
    assert _backbone_cache_key("facenet-vggface2", None, s.replace(precision="int8")) == \
        "facenet-vggface2-m0-flip" + ("" if fallback == "fp32" else f"-{fallback}")
