"""Face detection with MTCNN (facenet-pytorch's weights, which ship inside its wheel; see :mod:`.mtcnn_nets`)."""
from __future__ import annotations

import logging

import numpy as np

from .faces import Face
from .images import resize_to_fit
from .settings import Settings

log = logging.getLogger(__name__)

# Equal-sized photos per network call in detect_batch: on LFW photos (250×250, one thread)
# 15.0 ms a photo one at a time, 12.4 with 4, 12.8 with 8, 16.1 with 16 (their activations
# outgrow the CPU cache).
SAME_SIZE_BATCH = 4
# On a copy shrunk for detection, no face under this many pixels of the copy is looked for
# (unless min_face_size asks for less): MTCNN's cost grows steeply as it falls.
MIN_DETECT_FACE = 20


class FaceDetector:
    """Finds every face in an RGB image and returns :class:`Face` records.

    Args:
        min_face_size: smallest face, in pixels, that MTCNN's image pyramid looks for.
        threshold: faces scoring below this are dropped.
        device: a torch device string (``cpu``, ``cuda``).
        max_side: images with a longer side are searched on a copy shrunk to it, and the faces
            mapped back (``Settings.max_detect_side``, FACEREC_MAX_DETECT_SIDE).
    """

    def __init__(self, min_face_size: int = 20, threshold: float = 0.9, device: str = "cpu",
                 max_side: int = Settings.max_detect_side) -> None:
        from .mtcnn_nets import load_nets

        self.min_face_size = int(min_face_size)
        self.threshold = float(threshold)
        self.device = device
        self.max_side = int(max_side)
        self._nets = load_nets(device)
        # channels-last tensors: torch's CPU max-pooling is ~4× faster on them, and MTCNN pools a
        # lot (detection 27 -> 16 ms on an LFW photo, one thread; boxes equal to 1e-4 px)
        for stage in self._nets:
            _run_channels_last(stage)

    def detect(self, image: np.ndarray, *, min_face_size: int | None = None,
               threshold: float | None = None, max_side: int | None = None) -> list[Face]:
        """All faces in ``image`` (RGB uint8), largest first, in its pixels. Faces whose shorter
        side is below ``min_face_size`` pixels, or scoring below ``threshold``, are left out.
        An image whose longer side exceeds ``max_side`` (default: the detector's) is searched on
        a copy shrunk to it; see :meth:`detect_batch`."""
        return self.detect_batch([image], min_face_size=min_face_size, threshold=threshold, max_side=max_side)[0]

    def detect_batch(self, images: list[np.ndarray], *, min_face_size: int | None = None,
                     threshold: float | None = None, max_side: int | None = None) -> list[list[Face]]:
        """:meth:`detect` for each image. Images of one size go through each network together,
        :data:`SAME_SIZE_BATCH` at a time (the same faces as one at a time, found faster).

        An image larger than ``max_side`` is searched on a copy shrunk to it (bounding time and
        memory), for faces down to ``min_face_size`` pixels of the image but not below
        :data:`MIN_DETECT_FACE` pixels of the copy; boxes and landmarks come back in the image's
        pixels. Smaller images are searched as they are."""
        from .mtcnn import FACTOR, THRESHOLDS, detect_same_size

        min_size = self.min_face_size if min_face_size is None else int(min_face_size)
        thresh = self.threshold if threshold is None else float(threshold)
        bound = self.max_side if max_side is None else int(max_side)
        copies = [resize_to_fit(image, bound)[0] for image in images]
        pnet, rnet, onet = self._nets
        groups: dict[tuple[tuple[int, int], int], list[int]] = {}
        for i, (image, copy) in enumerate(zip(images, copies)):
            groups.setdefault((copy.shape[:2], _min_size_on(copy, image, min_size)), []).append(i)
        results: list[list[Face]] = [[] for _ in images]
        for (_, copy_min_size), same_size in groups.items():
            for start in range(0, len(same_size), SAME_SIZE_BATCH):
                indices = same_size[start:start + SAME_SIZE_BATCH]
                # the networks hold no state at inference: concurrent threads need no lock
                found = detect_same_size([copies[i] for i in indices], pnet, rnet, onet, copy_min_size,
                                         device=self.device, thresholds=THRESHOLDS, factor=FACTOR)
                for i, (boxes, points) in zip(indices, found):
                    boxes, points = _to_image_pixels(boxes, points, copies[i].shape, images[i].shape)
                    results[i] = [f for f in _to_faces(boxes[:, :4], boxes[:, 4], points, thresh)
                                  if f.size >= min_size]
        return results


def _min_size_on(copy: np.ndarray, image: np.ndarray, min_size: int) -> int:
    """The smallest face looked for on ``copy`` of ``image``: ``min_size`` pixels of the image,
    but not under :data:`MIN_DETECT_FACE` pixels of a shrunk copy unless ``min_size`` is."""
    if copy is image:
        return min_size
    scale = copy.shape[1] / image.shape[1]
    return max(round(min_size * scale), min(min_size, MIN_DETECT_FACE))


def _to_image_pixels(boxes: np.ndarray, points: np.ndarray, copy_shape, image_shape) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN's boxes ``(N, 5)`` and landmarks ``(N, 5, 2)`` found on a copy, in the image's pixels."""
    if copy_shape[:2] == image_shape[:2]:
        return boxes, points
    fx, fy = image_shape[1] / copy_shape[1], image_shape[0] / copy_shape[0]
    return boxes * np.array([fx, fy, fx, fy, 1.0]), points * np.array([fx, fy])


def _run_channels_last(module) -> None:
    """Make an MTCNN stage compute on channels-last tensors (same results, faster pooling)."""
    import torch

    module.to(memory_format=torch.channels_last)
    module.register_forward_pre_hook(lambda _, args: (args[0].contiguous(memory_format=torch.channels_last),))


def _to_faces(boxes, probs, points, threshold: float) -> list[Face]:
    if boxes is None or len(boxes) == 0:
        return []
    # With numpy 2, facenet-pytorch can hand back object arrays: make them numeric.
    boxes = np.asarray(np.stack(list(boxes)), dtype=np.float64).reshape(-1, 4)
    probs = np.asarray(list(probs), dtype=np.float64).reshape(-1)
    points = np.asarray(np.stack(list(points)), dtype=np.float64).reshape(-1, 5, 2)
    faces = [Face(box=tuple(float(v) for v in b), det_score=float(p), landmarks=lm)
             for b, p, lm in zip(boxes, probs, points) if p >= threshold]
    faces.sort(key=lambda f: f.width * f.height, reverse=True)
    return faces


def central_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The face whose centre is nearest the image centre (LFW labels the central person)."""
    if not faces:
        return None
    cy, cx = image_shape[0] / 2, image_shape[1] / 2
    return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)
