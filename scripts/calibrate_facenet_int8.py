"""Measure the activation ranges that run FaceNet (20170512-110547) in int8, and write them to
``facerec_core/backbones/facenet_int8_calibration.json``.

    python scripts/calibrate_facenet_int8.py [--lfw-dir PATH] [--images 512]

The faces come from LFW View 1's training people (``peopleDevTrain.txt``: the part of LFW meant
for developing a method), one random image each, seed 0: MTCNN's face nearest the centre,
cropped as the ``facenet`` backbone crops, with its mirror image. Ranges are chosen per
activation from a histogram (least quantisation error). Only ~150 numbers come out: no image
or embedding is stored. Run it again when the weights or the crop change.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec_core.backbones.facenet import INT8_CALIBRATION, INT8_ENGINE, calibrate_int8  # noqa: E402
from facerec_core.lfw import read_people, scan_lfw  # noqa: E402
from facerec_core.settings import Settings  # noqa: E402


def calibration_crops(settings: Settings, backbone, n_images: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    from facerec_core.detect import FaceDetector, central_face
    from facerec_core.images import load_image

    people = read_people(settings.lfw_protocol_dir_resolved / "peopleDevTrain.txt")
    names = sorted(name for fold in people for name in fold)
    dataset = scan_lfw(settings.lfw_dir)
    by_person: dict[str, list[str]] = {}
    for path, label in zip(*dataset.samples()):
        by_person.setdefault(label, []).append(path)
    rng = random.Random(seed)
    chosen = rng.sample([n for n in names if n in by_person], n_images)
    paths = [rng.choice(sorted(by_person[n])) for n in chosen]
    detector = FaceDetector(settings.min_face_size, settings.detection_threshold)
    crops, used = [], []
    for path in paths:
        image = load_image(path)
        face = central_face(detector.detect(image), image.shape)
        if face is not None:
            crops.append(backbone.crops(image, [face])[0])
            used.append(str(Path(path).relative_to(settings.lfw_dir)))
    return np.stack(crops), used


def main(argv: list[str] | None = None) -> int:
    import torch

    from facerec_core.backbones import load_backbone
    from facerec_core.backbones.facenet import prewhiten
    from facerec_core.backbones.keras_facenet import H5_SHA256

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-dir", type=Path)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--out", type=Path, default=INT8_CALIBRATION)
    args = ap.parse_args(argv)
    settings = Settings.from_env().replace(lfw_dir=args.lfw_dir)
    if settings.lfw_dir is None or settings.lfw_protocol_dir_resolved is None:
        ap.error("set FACEREC_LFW_DIR (and FACEREC_LFW_PROTOCOL_DIR) or pass --lfw-dir")
    t0 = time.time()
    # the fp32 backbone cuts the faces as the int8 one will, and holds the folded fp32 network
    backbone = load_backbone("facenet", settings, device="cpu", precision="fp32")
    crops, used = calibration_crops(settings, backbone, args.images)
    x = torch.from_numpy(np.ascontiguousarray(prewhiten(crops).transpose(0, 3, 1, 2)))
    x = torch.cat([x, torch.flip(x, dims=[3])])  # the backbone embeds both
    model = backbone.model.to(memory_format=torch.contiguous_format)
    activations = calibrate_int8(model, torch.split(x, 64))
    record = {
        "model": "facenet 20170512-110547", "weights_h5_sha256": H5_SHA256, "engine": INT8_ENGINE,
        "torch": torch.__version__, "observer": "HistogramObserver (quint8, full range); weights per channel",
        "calibration_faces": {"source": "LFW View 1 training people (peopleDevTrain.txt), one image each, seed 0",
                              "faces": len(used), "with_mirror_images": True,
                              "images": used},
        "activations": activations,
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(activations)} activation ranges from {len(used)} faces in {time.time() - t0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
