"""MTCNN's three stages, with facenet-pytorch's networks and box arithmetic (re-stated in
:mod:`.mtcnn_nets`, which does not import torchvision) but a faster crop step, for one image or a batch of images of one size.

facenet-pytorch's ``detect_face`` cuts out and resizes every candidate box with its own
``interpolate(mode="area")`` call: ~60 calls an image, a fifth of detection time on a CPU.
Here all candidates of a stage are read off summed-area tables in one step per image, and the
image pyramid is built from exact integer window sums too, which gives the same area averages
(to float rounding), so boxes, scores and landmarks equal facenet-pytorch's (tested to 1e-3 px).
"""
from __future__ import annotations

import numpy as np
import torch

from .mtcnn_nets import apply_offsets, batched_nms, pixel_bounds, proposal_boxes, to_square

THRESHOLDS = (0.6, 0.7, 0.7)  # facenet-pytorch's defaults for the three stages
FACTOR = 0.709                # image pyramid step
# Candidates through RNet and ONet at a time: ONet's first activations are 270 KB a candidate, so
# 512 hold about 140 MB, and a batch that size already runs the networks at full speed.
STAGE_CHUNK = 512


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _area_windows(start: np.ndarray, stop: np.ndarray, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per range, the ``n_out`` windows ``[lo, hi)`` (0-based) in which adaptive average pooling
    shrinks the 1-based inclusive range ``start .. stop``: ``(len(start), n_out)`` each."""
    i = torch.arange(n_out, device=device)
    s = torch.as_tensor(start - 1, device=device, dtype=torch.long)[:, None]
    n = torch.as_tensor(stop - start + 1, device=device, dtype=torch.long)[:, None]
    lo = s + torch.div(i * n, n_out, rounding_mode="floor")
    hi = s - torch.div(-(i + 1) * n, n_out, rounding_mode="floor")  # ceil
    return lo, hi


def crop_resize_area(table: torch.Tensor, y: np.ndarray, ey: np.ndarray, x: np.ndarray, ex: np.ndarray,
                     size: int) -> torch.Tensor:
    """``(N, 3, size, size)`` (channels-last strides): rows ``y-1 .. ey-1`` and columns ``x-1 .. ex-1`` (1-based, as
    :func:`~.mtcnn_nets.pixel_bounds` returns them) of the image whose summed-area table is ``table``
    (``(H+1, W+1, 3)``, integer, from :func:`summed_area_table`), each area-resized to
    ``size``×``size`` exactly as ``interpolate(mode="area")`` (adaptive average pooling) does."""
    r0, r1 = _area_windows(np.asarray(y), np.asarray(ey), size, table.device)
    c0, c1 = _area_windows(np.asarray(x), np.asarray(ex), size, table.device)
    r0, r1, c0, c1 = r0[:, :, None], r1[:, :, None], c0[:, None, :], c1[:, None, :]
    sums = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]  # (N, size, size, 3)
    area = ((r1 - r0) * (c1 - c0))[..., None]
    return (sums.float() / area).permute(0, 3, 1, 2)  # channels-last strides, as the networks want


def _column_sums(images: torch.Tensor) -> torch.Tensor:
    """``(N, H+1, W, 3)`` integer table of ``images`` (``(N, H, W, 3)`` uint8) whose ``[:, r]`` is
    the sum of rows ``:r``."""
    n, h, w, c = images.shape
    dtype = torch.int32 if h * w * 255 < 2 ** 31 else torch.int64
    table = torch.zeros((n, h + 1, w, c), dtype=dtype, device=images.device)
    torch.cumsum(images, dim=1, dtype=dtype, out=table[:, 1:])
    return table


def pyramid_level(column_sums: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """``(N, 3, out_h, out_w)`` (channels-last strides): the images of ``column_sums`` (from
    :func:`_column_sums`) area-resized as ``interpolate(mode="area")`` does, in two separable
    passes of exact integer window sums (2× faster than torch's adaptive pooling on a CPU;
    equal to 2e-5)."""
    n, h1, w, c = column_sums.shape
    whole = (np.array([1]), np.array([h1 - 1]), np.array([1]), np.array([w]))
    r0, r1 = (v[0] for v in _area_windows(whole[0], whole[1], out_h, column_sums.device))
    c0, c1 = (v[0] for v in _area_windows(whole[2], whole[3], out_w, column_sums.device))
    rows = column_sums.index_select(1, r1) - column_sums.index_select(1, r0)  # (N, out_h, W, 3)
    table = torch.zeros((n, out_h, w + 1, c), dtype=rows.dtype, device=rows.device)
    torch.cumsum(rows, dim=2, out=table[:, :, 1:])
    sums = table.index_select(2, c1) - table.index_select(2, c0)  # (N, out_h, out_w, 3)
    area = ((r1 - r0)[:, None] * (c1 - c0)[None, :]).to(torch.float32)
    return (sums.float() / area[None, :, :, None]).permute(0, 3, 1, 2)


def summed_area_table(image: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """``(H+1, W+1, 3)`` integer table whose ``[r, c]`` is the sum of ``image[:r, :c]`` (exact)."""
    h, w = image.shape[:2]
    dtype = np.int32 if h * w * 255 < 2 ** 31 else np.int64
    table = np.zeros((h + 1, w + 1, image.shape[2]), dtype)
    np.cumsum(np.cumsum(image, axis=0, dtype=dtype), axis=1, out=table[1:, 1:])
    return torch.from_numpy(table).to(device)


def _valid(y, ey, x, ex) -> np.ndarray:
    return (ey > y - 1) & (ex > x - 1)  # boxes with pixels inside the image


def _nothing() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)


def _crops(tables: list[torch.Tensor], image_inds: torch.Tensor, y, ey, x, ex, size: int) -> torch.Tensor:
    """Candidate crops of several images, in candidate order, each read off its image's table."""
    if len(tables) == 1:
        return crop_resize_area(tables[0], y, ey, x, ex, size)
    inds = image_inds.cpu().numpy()
    out = torch.empty((len(inds), 3, size, size), device=tables[0].device, memory_format=torch.channels_last)
    for i in np.unique(inds):
        rows = np.flatnonzero(inds == i)
        out[torch.as_tensor(rows, device=out.device)] = crop_resize_area(tables[i], y[rows], ey[rows], x[rows], ex[rows],
                                                                         size)
    return out


def _stage_input(boxes: torch.Tensor, image_inds: torch.Tensor, w: int, h: int) -> tuple | None:
    """The candidates that have pixels inside their image: their boxes, image indices and pixel
    bounds (y, ey, x, ex); None if none is left."""
    if len(boxes) == 0:
        return None
    y, ey, x, ex = pixel_bounds(boxes, w, h)
    keep = _valid(y, ey, x, ex)
    if not keep.any():
        return None
    keep_t = torch.as_tensor(keep, device=boxes.device)
    return boxes[keep_t], image_inds[keep_t], (y[keep], ey[keep], x[keep], ex[keep])


def _run_stage(net, tables: list[torch.Tensor], image_inds: torch.Tensor, bounds, size: int) -> tuple[torch.Tensor, ...]:
    """``net`` on the candidates' crops, area-resized to ``size``×``size`` and normalised,
    :data:`STAGE_CHUNK` at a time: a crowded photo has tens of thousands of candidates, and all
    their crops and activations at once took gigabytes (the networks see each crop on its own, so
    the outputs are those of one call)."""
    y, ey, x, ex = bounds
    parts = []
    for start in range(0, len(y), STAGE_CHUNK):
        chunk = slice(start, start + STAGE_CHUNK)
        crops = _crops(tables, image_inds[chunk], y[chunk], ey[chunk], x[chunk], ex[chunk], size)
        parts.append(net(_normalize(crops)))
    return tuple(torch.cat(outputs) for outputs in zip(*parts))


def detect_one(image: np.ndarray, pnet, rnet, onet, min_size: int, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Faces in one RGB uint8 image: ``boxes`` ``(N, 5)`` (x1, y1, x2, y2, score) and
    ``landmarks`` ``(N, 5, 2)``, both float32, in MTCNN's order. See :func:`detect_same_size`."""
    return detect_same_size([image], pnet, rnet, onet, min_size, **kwargs)[0]


@torch.inference_mode()
def detect_same_size(images: list[np.ndarray], pnet, rnet, onet, min_size: int, *, device: str = "cpu",
                     thresholds: tuple[float, float, float] = THRESHOLDS,
                     factor: float = FACTOR) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`detect_one` for several RGB uint8 images of one size, each network called once per
    pyramid level or stage for all of them (a bulk job's per-call overhead shared; per image,
    the same boxes as one at a time)."""
    n_images = len(images)
    h, w = images[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in images):
        raise ValueError("detect_same_size needs images of one size")
    column_sums = _column_sums(torch.from_numpy(np.stack(images)).to(device))
    m = 12.0 / min_size
    scales, scale, minl = [], m, min(h, w) * m
    while minl >= 12:
        scales.append(scale)
        scale, minl = scale * factor, minl * factor

    # stage 1: the proposal network over the pyramid
    found, found_inds = [], []
    for scale in scales:
        reg, probs = pnet(_normalize(pyramid_level(column_sums, int(h * scale + 1), int(w * scale + 1))))
        boxes_s, inds_s = proposal_boxes(reg, probs[:, 1], scale, thresholds[0])
        pick = batched_nms(boxes_s[:, :4], boxes_s[:, 4], inds_s, 0.5)
        found.append(boxes_s[pick])
        found_inds.append(inds_s[pick])
    boxes = torch.cat(found) if found else torch.zeros(0, 9, device=device)
    image_inds = torch.cat(found_inds) if found else torch.zeros(0, dtype=torch.long, device=device)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes, image_inds = boxes[pick], image_inds[pick]
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                         boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], dim=1)
    boxes = to_square(boxes)
    del column_sums  # large photos: free it before the summed-area tables are built
    if len(boxes) == 0:
        return [_nothing() for _ in images]
    # candidate crops are read off summed-area tables, all of a stage at once
    tables = [summed_area_table(im, device) for im in images]

    # stage 2: the refinement network on 24×24 crops
    stage = _stage_input(boxes, image_inds, w, h)
    if stage is None:
        return [_nothing() for _ in images]
    boxes, image_inds, bounds = stage
    reg, probs = _run_stage(rnet, tables, image_inds, bounds, 24)
    ipass = probs[:, 1] > thresholds[1]
    boxes = torch.cat([boxes[ipass, :4], probs[ipass, 1:2]], dim=1)
    reg, image_inds = reg[ipass], image_inds[ipass]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes = to_square(apply_offsets(boxes[pick], reg[pick]))
    image_inds = image_inds[pick]

    # stage 3: the output network on 48×48 crops, with landmarks
    stage = _stage_input(boxes, image_inds, w, h)
    if stage is None:
        return [_nothing() for _ in images]
    boxes, image_inds, bounds = stage
    reg, points, probs = _run_stage(onet, tables, image_inds, bounds, 48)
    ipass = probs[:, 1] > thresholds[2]
    boxes = torch.cat([boxes[ipass, :4], probs[ipass, 1:2]], dim=1)
    reg, points, image_inds = reg[ipass], points[ipass], image_inds[ipass]
    bw, bh = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
    points = torch.stack([bw * points[:, :5] + boxes[:, 0:1] - 1, bh * points[:, 5:] + boxes[:, 1:2] - 1], dim=2)
    boxes = apply_offsets(boxes, reg)
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7, by_min=True)
    boxes = boxes[pick].cpu().numpy().astype(np.float32)
    points = points[pick].cpu().numpy().astype(np.float32)
    image_inds = image_inds[pick].cpu().numpy()
    return [(boxes[image_inds == i], points[image_inds == i]) for i in range(n_images)]
