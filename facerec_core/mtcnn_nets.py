"""MTCNN's three networks and its box arithmetic, without importing facenet-pytorch's package.

facenet-pytorch's ``__init__`` imports torchvision (for one ``nms`` and an image transform it
does not need here), and torchvision imports ``torch._dynamo``: 1.2-1.5 s of a 4.4 s cold
``predict``. The networks are small and their weights ship as plain state dicts inside the
facenet-pytorch wheel, so they are defined here with the same layer names and loaded with
``torch.load(weights_only=True)`` (tensors only, nothing executed). The box steps follow the
MTCNN paper's arithmetic as facenet-pytorch applies it; ``tests/test_detect.py`` checks the
boxes against facenet-pytorch's own detector on real photos.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn


def weights_dir() -> Path:
    """facenet-pytorch's ``data`` folder (pnet.pt, rnet.pt, onet.pt), found without importing it."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("facenet-pytorch is not installed: pip install --no-deps facenet-pytorch==2.6.0")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


class PNet(nn.Module):
    """Proposal network: a fully convolutional 12×12 face / box-offset map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.softmax4_1 = nn.Conv2d(32, 2, 1), nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    """Refinement network on 24×24 crops: face probability and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.softmax5_1 = nn.Linear(128, 2), nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # the weights were converted from Caffe: flatten in (width, height, channel) order
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """Output network on 48×48 crops: face probability, box offsets and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.softmax6_1 = nn.Linear(256, 2), nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


def load_nets(device: str = "cpu") -> tuple[PNet, RNet, ONet]:
    """The three networks with facenet-pytorch's shipped weights, in eval mode on ``device``."""
    folder = weights_dir()
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet")):
        state = torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)  # strict: a changed file fails here, not with wrong boxes
        net.to(device).eval()
    return nets


# --- box arithmetic (boxes are x1, y1, x2, y2, score[, offsets]) -----------------------------

def proposal_boxes(reg: torch.Tensor, probs: torch.Tensor, scale: float,
                   threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PNet's map cells scoring ≥ ``threshold`` as boxes in image pixels ``(N, 9)`` (box, score,
    four offsets) and the index of the image each came from. PNet sees 12×12 windows every 2
    pixels of the ``scale``d image."""
    stride, cell = 2, 12
    mask = probs >= threshold
    where = mask.nonzero()
    offsets = reg.permute(1, 0, 2, 3)[:, mask].permute(1, 0)
    yx = where[:, 1:].to(reg.dtype).flip(1)  # (x, y) of each cell
    top_left = ((stride * yx + 1) / scale).floor()
    bottom_right = ((stride * yx + cell) / scale).floor()
    return torch.cat([top_left, bottom_right, probs[mask].unsqueeze(1), offsets], dim=1), where[:, 0]


def to_square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box grown to a square around its centre (side = its longer side)."""
    boxes = boxes.clone()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.unsqueeze(1)
    return boxes


def apply_offsets(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Boxes moved by the network's offsets, which are fractions of the box's width and height."""
    boxes = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + reg[:, :4] * torch.stack([w, h, w, h], dim=1)
    return boxes


def pixel_bounds(boxes: torch.Tensor, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1-based inclusive pixel rows ``y .. ey`` and columns ``x .. ex`` of each box, clipped to
    the ``w``×``h`` image."""
    b = boxes.trunc().int().cpu().numpy()
    x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    return y, ey, x, ex


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, plus_one: bool,
                by_min: bool) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first. Overlap is intersection
    over union, or over the smaller box with ``by_min``; ``plus_one`` counts pixels inclusively."""
    one = np.float32(1.0 if plus_one else 0.0)
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1 + one) * (y2 - y1 + one)
    # ties are common (PNet saturates at 1.0 on a clear face) and decide which box survives:
    # break them as the reference implementations do (torch's descending sort for IoU,
    # numpy's ascending argsort read from the end for the last step), so the boxes match theirs
    if by_min:
        order = np.argsort(scores)[::-1]
    else:
        order = torch.sort(torch.from_numpy(scores), descending=True).indices.numpy()
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(np.float32(0.0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        ih = np.maximum(np.float32(0.0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = iw * ih
        if by_min:
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, threshold: float, *,
                by_min: bool = False) -> torch.Tensor:
    """Non-maximum suppression within each group (image), indices best score first. The default
    is torchvision's rule (IoU, continuous areas); ``by_min=True`` is MTCNN's last step (overlap
    over the smaller box, inclusive pixels)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    # float32 as facenet-pytorch and torchvision compute it: in float64 a borderline overlap
    # can fall the other way and keep a different box
    b = boxes.detach().cpu().float().numpy()
    s = scores.detach().cpu().float().numpy()
    # shift each group's boxes apart so that boxes of different images never overlap
    shift = (b.max() + np.float32(1.0)) * groups.detach().cpu().numpy().astype(np.float32)
    keep = _greedy_nms(b + shift[:, None], s, threshold, plus_one=by_min, by_min=by_min)
    return torch.as_tensor(keep, device=boxes.device)
