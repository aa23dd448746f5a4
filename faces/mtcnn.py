"""The MTCNN cascade (Zhang et al., 2016): its three small networks (PNet, RNet, ONet) defined
here, with the trained weights that ship in facenet-pytorch's wheel (`facenet_pytorch/data/`,
plain state dicts, loaded offline with `weights_only`), and facepair's own driver.

Why our own driver: facenet-pytorch cuts and resamples every candidate box on its own, one
tensor operation per box, and builds each pyramid level from the full photo. Here each pyramid
level is shrunk from the one above it (area averaging), and each later stage cuts all candidate
boxes of a whole batch of photos with torchvision's `roi_align`, each box from the smallest
pyramid level that still holds it at the cut's size (a mipmap: cheap, and no aliasing). Boxes
that reach past the photo's edge are padded, as in the original MTCNN, not squeezed.

Neither facenet-pytorch nor torchvision's Python package is imported: both pull in
`torch._dynamo`, about 3 s of start-up for every album worker. The two compiled operators
used here (`roi_align`, `nms`) are called from torchvision's operator library directly.

Stages: (1) PNet slides over an image pyramid and proposes boxes; (2) RNet rescores 24×24
cuts of them; (3) ONet rescores 48×48 cuts and places the five landmarks. Between stages
boxes are regressed, squared and suppressed (non-maximum suppression).

In a large photo the finest pyramid levels, where the smallest faces are and most of PNet's
work is, are searched only near the places where the next level up already sees a face
(GATE): PNet fires on a face two or three times smaller than its window, too small for it to
place, so that level marks where a finer one can find more.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VERSION = "facepair-cascade-4"  # caches of detected crops name the detector that made them
THRESHOLDS = (0.6, 0.7, 0.7)  # the score each stage asks of a box (the original MTCNN's)
# The overlap (IoU) above which the weaker of two RNet-approved boxes is dropped before ONet:
# 0.5 where the original has 0.7 sends ONet about half as many boxes, with LFW View 1 and the
# re-detection of aligned faces unchanged (README). At 0.5 before RNet too, faces were lost.
ONET_OVERLAP = 0.5
PYRAMID_FACTOR = 0.709  # each pyramid level's scale against the previous one
# In a large photo (a finest PNet level of GATED_PIXELS or more) the FINE_LEVELS finest
# levels, the smallest faces and most of PNet's work, are searched only near the cells where
# the next level up gives a face probability of GATE (the regions: `_hot_regions`).
# bench.detect_gate measures what the gated search finds against the whole search, on the
# phone album and on photos tiled edge to edge with faces (docs/pipeline.md).
GATED_PIXELS, FINE_LEVELS, GATE = 250_000, 3, 0.05
GROW = 3  # cells (2 pixels of that level each) added around each hot cell
WHOLE_SHARE = 0.5  # where the regions cover more of the photos than this, the levels are
# searched whole (fewer, larger calls: on photos tiled with faces the gate costs 8 % otherwise)
# PNet runs on a level (or a part of one) of more pixels than this a photo in strips of rows,
# so that the activations of only one strip are held at once (about 100 bytes a pixel)
STRIP_PIXELS = 1 << 18


def _package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _vision() -> Any:
    """torchvision's compiled operators (`torch.ops.torchvision`), loaded from its library."""
    # `_C.so`, or `_C_stable.so` in builds against torch's stable ABI (torchvision 0.29)
    folder = _package_dir("torchvision")
    library = next((p for p in sorted(folder.iterdir()) if p.name.startswith("_C")
                    and p.suffix in (".so", ".pyd")), None)
    if library is None:  # an unusual build: the package's own import registers them
        import torchvision  # noqa: F401
    else:
        torch.ops.load_library(str(library))
    return torch.ops.torchvision


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
                limit: float) -> torch.Tensor:
    """Non-maximum suppression (overlap: intersection over union) within each group: indices
    kept, best score first. Groups are kept apart by moving each to its own stretch of space."""
    if not len(boxes):
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    apart = boxes + (groups.to(boxes) * (boxes.max() + 1))[:, None]
    return _vision().nms(apart, scores, limit)


def roi_align(level: torch.Tensor, rois: torch.Tensor, size: int) -> torch.Tensor:
    """`size`×`size` bilinear cuts of rois (photo index, x1, y1, x2, y2) from `level`, each
    output pixel the mean of 2×2 samples."""
    return _vision().roi_align(level, rois, 1.0, size, size, 2, True)


class _Net(nn.Module):
    """Shared by the three networks: layers named as in the weight files (conv1, prelu1, …)."""

    def _convs(self, layers: list[tuple[int, int, int]]) -> None:
        """conv1, prelu1, conv2, … from (in, out, kernel) per layer."""
        for i, (cin, cout, kernel) in enumerate(layers, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, kernel))
            setattr(self, f"prelu{i}", nn.PReLU(cout))

    def load(self, name: str) -> _Net:
        path = _package_dir("facenet_pytorch") / "data" / f"{name}.pt"
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return self

    def _features(self, x: torch.Tensor, pools: dict[int, int]) -> torch.Tensor:
        """conv → PReLU, then max-pool after the layers in `pools` (layer: kernel, stride 2)."""
        i = 1
        while hasattr(self, f"conv{i}"):
            x = getattr(self, f"prelu{i}")(getattr(self, f"conv{i}")(x))
            if i in pools:
                x = _max_pool_2(x) if pools[i] == 2 else F.max_pool2d(x, pools[i], 2,
                                                                       ceil_mode=True)
            i += 1
        return x


def _max_pool_2(x: torch.Tensor) -> torch.Tensor:
    """`F.max_pool2d(x, 2, 2, ceil_mode=True)`, the same values, from the four strided views
    of `x`: on the CPU about 3.5 times as fast (torch's kernel also works out where each
    maximum came from); pooling was about a tenth of detection's time on a 12-MP photo."""
    rows, cols = x.shape[2] // 2, x.shape[3] // 2
    out = x[:, :, 0::2, 0::2].clone(memory_format=torch.channels_last)
    for part, other in ((out[:, :, :, :cols], x[:, :, 0::2, 1::2]),
                        (out[:, :, :rows], x[:, :, 1::2, 0::2]),
                        (out[:, :, :rows, :cols], x[:, :, 1::2, 1::2])):
        torch.maximum(part, other, out=part)
    return out


class PNet(_Net):
    """12×12 windows, fully convolutional: box offsets (4) and face probability (2) per
    2-pixel step."""

    def __init__(self) -> None:
        super().__init__()
        self._convs([(3, 10, 3), (10, 16, 3), (16, 32, 3)])
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)
        self.load("pnet")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._features(x, {1: 2})
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class _DenseNet(_Net):
    """RNet and ONet: convolutions, then dense layers over the flattened features (flattened
    in the original networks' column-major order: channel, width, height)."""

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 2, 1).flatten(1)


class RNet(_DenseNet):
    """24×24 cuts: box offsets (4) and face probability (2)."""

    def __init__(self) -> None:
        super().__init__()
        self._convs([(3, 28, 3), (28, 48, 3), (48, 64, 2)])
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)
        self.load("rnet")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu4(self.dense4(self._flat(self._features(x, {1: 3, 2: 3}))))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(_DenseNet):
    """48×48 cuts: box offsets (4), five landmarks (10: x then y, as shares of the box) and
    face probability (2)."""

    def __init__(self) -> None:
        super().__init__()
        self._convs([(3, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 2)])
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        self.load("onet")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.prelu5(self.dense5(self._flat(self._features(x, {1: 3, 2: 3, 3: 2}))))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Pixels to the networks' range, channels-last (the faster layout for their convolutions)."""
    out = torch.empty_like(x, dtype=torch.float32, memory_format=torch.channels_last)
    return torch.sub(x, 127.5, out=out).mul_(0.0078125)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes grown to squares about their centres."""
    wh = boxes[:, 2:4] - boxes[:, 0:2]
    side = wh.max(dim=1, keepdim=True).values
    top_left = boxes[:, 0:2] + wh / 2 - side / 2
    return torch.cat([top_left, top_left + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor, extra: float = 1.0) -> torch.Tensor:
    """Shift box corners by offsets given in units of the box's size (+`extra` pixels)."""
    wh = (boxes[:, 2:4] - boxes[:, 0:2] + extra).repeat(1, 2)
    return boxes + offsets * wh


def _suppress_by_smaller(boxes: torch.Tensor, scores: torch.Tensor, limit: float) -> torch.Tensor:
    """Greedy suppression where overlap is measured against the smaller box (a face inside a
    larger face box goes). Indices kept, best score first."""
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    lo = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (hi - lo + 1).clamp(min=0).prod(dim=2)
    overlap = inter / torch.minimum(areas[:, None], areas[None, :])
    order = scores.argsort(descending=True).tolist()
    keep: list[int] = []
    gone = torch.zeros(len(scores), dtype=torch.bool)
    overlap = overlap.cpu()
    for i in order:
        if gone[i]:
            continue
        keep.append(i)
        gone |= overlap[i] > limit
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _large(finest: Sequence[int]) -> bool:
    """Whether a photo whose finest pyramid level has this (height, width) is a large one:
    its pyramid is kept in 8 bits and its finest levels are gated."""
    return finest[0] * finest[1] >= GATED_PIXELS


def shrink(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×3×H×W 8-bit images (channels-last) resampled to `size` (height, width): bilinear with
    antialiasing, a filter as wide as the step, so that every pixel counts (as area
    averaging). On the CPU torch resamples 8-bit pixels directly, about three times as fast as
    OpenCV's area resampling at these steps; other devices get floats back."""
    if images.device.type != "cpu":
        images = images.float()
    return F.interpolate(images, size=size, mode="bilinear", antialias=True)


def _windows(offsets: torch.Tensor, probs: torch.Tensor, photo: int | None = None,
             row0: int = 0, col0: int = 0) -> tuple[torch.Tensor, ...]:
    """PNet's cells that pass THRESHOLDS[0] in a batch of maps (`probs`: N×h×w), as (photo,
    row, column on the whole level, score, box offsets). A cut of one photo's level gives its
    photo index and where it starts on the level, in cells."""
    hits = (probs >= THRESHOLDS[0]).nonzero()  # (map, row, column)
    which, row, col = hits.unbind(1)
    owner = which if photo is None else torch.full_like(which, photo)
    return (owner, row + row0, col + col0, probs[which, row, col],
            offsets[which, :, row, col])


def _suppressed(scale: float, windows: list[tuple[torch.Tensor, ...]]
                ) -> list[tuple[torch.Tensor, ...]]:
    """One level's windows as boxes in photo pixels, suppressed within the level (overlap
    0.5): [(boxes, scores, photo, box offsets)], or [] where none passed."""
    if not windows or not sum(len(w[0]) for w in windows):
        return []
    photo, row, col, score, deltas = (torch.cat(parts) for parts in zip(*windows, strict=True))
    xy = torch.stack([col, row], dim=1).float()
    boxes = torch.cat([((2 * xy + 1) / scale).floor(), ((2 * xy + 12) / scale).floor()], dim=1)
    keep = batched_nms(boxes, score, photo, 0.5)
    return [(boxes[keep], score[keep], photo[keep], deltas[keep])]


def _hot_regions(probs: torch.Tensor, scale: float) -> list[tuple[int, int, int, int, int]]:
    """Where a finer level can find a face: the windows of the cells of `probs` (PNet's face
    probability on one level, N×h×w) that reach GATE, grown by GROW cells (half a window) on
    every side and merged where they touch. (photo, x1, y1, x2, y2) in photo pixels."""
    regions = []
    for photo, cells in enumerate((probs >= GATE).cpu().numpy().astype(np.uint8)):
        grown = cv2.dilate(cells, np.ones((2 * GROW + 1,) * 2, np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(grown)
        for left, top, width, height, _ in stats[1:count]:
            regions.append((photo, math.floor(2 * left / scale), math.floor(2 * top / scale),
                            math.ceil((2 * (left + width) + 12) / scale),
                            math.ceil((2 * (top + height) + 12) / scale)))
    return regions


class Cascade:
    """MTCNN on batches of equal-sized photos: `cascade(images)` → per photo (boxes K×4 as
    x1, y1, x2, y2; scores K; landmarks K×5×2), in the photo's pixel coordinates."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = (
            net().to(self.device).to(memory_format=torch.channels_last).eval()
            for net in (PNet, RNet, ONet)
        )

    @torch.inference_mode()
    def __call__(
        self, photos: torch.Tensor, min_face_size: int = 20
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """`photos`: N×3×H×W uint8 RGB (any memory layout); faces from `min_face_size` pixels
        up are looked for."""
        pyramid = self._pyramid(photos, min_face_size)
        boxes, scores, owner = self._propose(pyramid)
        boxes, scores, owner, _ = self._refine(pyramid, boxes, owner, self.rnet, 24, 1)
        boxes, scores, owner, points = self._refine(pyramid, boxes, owner, self.onet, 48, 2)
        out = []
        for i in range(len(photos)):
            mine = (owner == i).nonzero().flatten()
            keep = mine[_suppress_by_smaller(boxes[mine], scores[mine], 0.7)] if len(mine) else mine
            out.append((boxes[keep].cpu().numpy().astype(np.float64),
                        scores[keep].cpu().numpy().astype(np.float64),
                        points[keep].cpu().numpy().astype(np.float64)))
        return out

    def _pyramid(self, photos: torch.Tensor, min_face_size: int
                 ) -> list[tuple[float, torch.Tensor]]:
        """The photos at scale 1, then at 12/min_face_size, shrinking by PYRAMID_FACTOR while
        the shorter side keeps 12 pixels (a 12-pixel window at scale s is a face of 12/s).
        (scale, N×3×h×w) pairs, each level resampled from the one above it. A large photo
        (a finest level of GATED_PIXELS or more) is resampled on its 8-bit pixels (`shrink`),
        its levels turned into floats only where a network reads them; a smaller one is
        area-averaged in floats, as the networks' figures in docs/ were measured."""
        h, w = photos.shape[2:]
        scale = 12.0 / min_face_size
        large = _large((int(h * scale + 1), int(w * scale + 1)))
        photos = photos.to(self.device) if large else photos.to(self.device).float()
        levels, above = [(1.0, photos)], photos
        while min(h, w) * scale >= 12:
            size = (int(h * scale + 1), int(w * scale + 1))
            source = above if above.shape[2] >= size[0] else photos
            above = (shrink(source, size) if large
                     else F.interpolate(source, size=size, mode="area"))
            levels.append((scale, above))
            scale *= PYRAMID_FACTOR
        return levels

    def _propose(
        self, pyramid: list[tuple[float, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 1: PNet slides over every level but the first and proposes boxes. In a large
        photo the finest FINE_LEVELS levels (the small faces, most of the work) are searched
        only near where the next level up gives a face probability of GATE (`_hot_regions`)."""
        levels = pyramid[1:]
        gated = len(levels) > FINE_LEVELS and _large(levels[0][1].shape[2:])
        fine, coarse = (levels[:FINE_LEVELS], levels[FINE_LEVELS:]) if gated else ([], levels)
        found: list[tuple[torch.Tensor, ...]] = []
        hot: list[tuple[int, int, int, int, int]] = []
        for k, (scale, level) in enumerate(coarse):
            offsets, probs = self._pnet(level)
            found += _suppressed(scale, [_windows(offsets, probs)])
            if fine and k == 0:
                hot = _hot_regions(probs, scale)
                photos, (h, w) = len(level), pyramid[0][1].shape[2:]
                if sum((x1 - x0) * (y1 - y0) for _, x0, y0, x1, y1 in hot) > (
                        WHOLE_SHARE * photos * h * w):  # hot nearly everywhere: search it all
                    hot = [(photo, 0, 0, w, h) for photo in range(photos)]
        for scale, level in fine:
            h, w = level.shape[2:]
            windows = []
            for photo, x0, y0, x1, y1 in hot:
                # even offsets keep the cut's cells on the whole level's 2-pixel grid
                c0, r0 = int(x0 * scale) // 2 * 2, int(y0 * scale) // 2 * 2
                c1, r1 = min(w, math.ceil(x1 * scale)), min(h, math.ceil(y1 * scale))
                if c1 - c0 >= 12 and r1 - r0 >= 12:
                    offsets, probs = self._pnet(level[photo : photo + 1, :, r0:r1, c0:c1])
                    windows.append(_windows(offsets, probs, photo, r0 // 2, c0 // 2))
            found += _suppressed(scale, windows)
        if not found:
            device = pyramid[0][1].device
            return (torch.zeros((0, 4), device=device), torch.zeros(0, device=device),
                    torch.zeros(0, dtype=torch.long, device=device))
        boxes, scores, owner, offsets = (torch.cat(parts) for parts in zip(*found, strict=True))
        keep = batched_nms(boxes, scores, owner, 0.7)
        boxes = _square(_regress(boxes[keep], offsets[keep], extra=0.0))
        return boxes, scores[keep], owner[keep]

    def _pnet(self, part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """PNet on a level or a part of one (N×3×h×w, any pixel type): its box offsets
        (N×4×h'×w') and face probability (N×h'×w') per cell. A part of more than STRIP_PIXELS
        a photo runs in strips of an even number of rows, each starting 10 rows before the one
        above it ends: a cell's window spans 12 rows on a 2-row grid, so the strips' cells,
        joined, are the part's own. The last strip ends at the part's end, so that the strips
        have one height (two, where h is odd) and their shapes recur; the cells it shares
        with the strip above are dropped."""
        h, w = part.shape[2:]
        rows = max(24, STRIP_PIXELS // w // 2 * 2)
        if h <= rows:
            offsets, probs = self.pnet(_normalise(part))
            return offsets, probs[:, 1]
        tops = list(range(0, h - rows, rows - 10))
        last = (h - rows) // 2 * 2
        skip = (tops[-1] + rows - 10 - last) // 2
        maps, probs = [], []
        for top in [*tops, last]:
            offsets, prob = self.pnet(_normalise(part[:, :, top : top + rows + (top == last)]))
            first = skip if top == last else 0
            maps.append(offsets[:, :, first:])
            probs.append(prob[:, 1, first:])
        return torch.cat(maps, dim=2), torch.cat(probs, dim=1)

    @staticmethod
    def _cut(
        pyramid: list[tuple[float, torch.Tensor]], regions: torch.Tensor, owner: torch.Tensor,
        size: int,
    ) -> torch.Tensor:
        """`size`×`size` cuts of regions (x1, y1, x2, y2 in photo pixels), each from the
        smallest level where the region still spans `size` pixels."""
        h, w = pyramid[0][1].shape[2:]
        side = (regions[:, 2:] - regions[:, :2]).max(dim=1).values
        cuts = regions.new_zeros((len(regions), 3, size, size))
        level_of = torch.zeros(len(regions), dtype=torch.long, device=regions.device)
        for i, (scale, _) in enumerate(pyramid):
            level_of[side * scale >= size] = i  # levels shrink: the last that fits wins
        for i, (_, level) in enumerate(pyramid):
            mine = (level_of == i).nonzero().flatten()
            if not len(mine):
                continue
            sx, sy = level.shape[3] / w, level.shape[2] / h
            scaled = regions[mine] * regions.new_tensor([sx, sy, sx, sy])
            part = level
            if level.dtype == torch.uint8:
                # a large photo's level: only the part the regions span (2 pixels more each
                # way), in floats and the layout roi_align reads (it copies a whole level
                # otherwise, on every call); a small photo's float level is read whole
                x0, y0 = (max(0, math.floor(float(v)) - 2)
                          for v in scaled[:, :2].min(dim=0).values)
                x1, y1 = (math.ceil(float(v)) + 3 for v in scaled[:, 2:].max(dim=0).values)
                part = level[:, :, y0:y1, x0:x1].to(torch.float32,
                                                    memory_format=torch.contiguous_format)
                scaled -= scaled.new_tensor([x0, y0, x0, y0])
            cuts[mine] = roi_align(part, torch.cat([owner[mine, None].float(), scaled], dim=1),
                                   size)
        return cuts

    def _refine(
        self, pyramid: list[tuple[float, torch.Tensor]], boxes: torch.Tensor,
        owner: torch.Tensor, net: torch.nn.Module, size: int, stage: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stages 2 and 3: cut every box at `size`×`size` in one call and rescore it."""
        if not len(boxes):
            return boxes, boxes.new_zeros(0), owner, boxes.new_zeros((0, 5, 2))
        h, w = pyramid[0][1].shape[2:]
        whole = boxes.trunc()
        inside = ((whole[:, 2] > 1) & (whole[:, 3] > 1) & (whole[:, 0] < w)
                  & (whole[:, 1] < h))
        boxes, whole, owner = boxes[inside], whole[inside], owner[inside]
        # a box's pixels run from x1 - 1 to x2 (MTCNN counts pixels from 1)
        regions = torch.cat([whole[:, :2] - 1, whole[:, 2:]], dim=1)
        cuts = self._cut(pyramid, regions, owner, size)
        outputs = net(_normalise(cuts))
        offsets, probs = outputs[0], outputs[-1]
        scores = probs[:, 1]
        keep = scores > THRESHOLDS[stage]
        boxes, owner, scores, offsets = boxes[keep], owner[keep], scores[keep], offsets[keep]
        points = boxes.new_zeros((len(boxes), 5, 2))
        if stage == 2:
            marks = outputs[1][keep]
            wh = boxes[:, 2:4] - boxes[:, 0:2] + 1
            points = torch.stack([marks[:, :5] * wh[:, :1] + boxes[:, :1] - 1,
                                  marks[:, 5:] * wh[:, 1:] + boxes[:, 1:2] - 1], dim=2)
            return _regress(boxes, offsets), scores, owner, points
        keep = batched_nms(boxes, scores, owner, ONET_OVERLAP)
        return _square(_regress(boxes[keep], offsets[keep])), scores[keep], owner[keep], points
