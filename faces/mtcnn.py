"""The MTCNN cascade (Zhang et al., 2016), run by facepair over facenet-pytorch's three trained
networks (PNet, RNet, ONet; their weights ship in its wheel and load offline).

Why our own driver: facenet-pytorch cuts and resamples every candidate box on its own, one
tensor operation per box, and builds each pyramid level from the full photo. Here each pyramid
level is shrunk from the one above it (area averaging), and each later stage cuts all candidate
boxes of a whole batch of photos with `torchvision.ops.roi_align`, each box from the smallest
pyramid level that still holds it at the cut's size (a mipmap: cheap, and no aliasing). Boxes
that reach past the photo's edge are padded, as in the original MTCNN, not squeezed.

Stages: (1) PNet slides over an image pyramid and proposes boxes; (2) RNet rescores 24×24
cuts of them; (3) ONet rescores 48×48 cuts and places the five landmarks. Between stages
boxes are regressed, squared and suppressed (non-maximum suppression).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms, roi_align

VERSION = "facepair-cascade-1"  # caches of detected crops name the detector that made them
THRESHOLDS = (0.6, 0.7, 0.7)  # the score each stage asks of a box
PYRAMID_FACTOR = 0.709  # each pyramid level's scale against the previous one


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


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


class Cascade:
    """MTCNN on batches of equal-sized photos: `cascade(images)` → per photo (boxes K×4 as
    x1, y1, x2, y2; scores K; landmarks K×5×2), in the photo's pixel coordinates."""

    def __init__(self, device: torch.device) -> None:
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.device = device
        self.pnet, self.rnet, self.onet = (
            net().to(device, memory_format=torch.channels_last).eval() for net in (PNet, RNet, ONet)
        )

    @torch.inference_mode()
    def __call__(
        self, photos: np.ndarray, min_face_size: int = 20
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """`photos`: N×H×W×3 uint8 RGB; faces from `min_face_size` pixels up are looked for."""
        images = torch.from_numpy(photos).to(self.device).permute(0, 3, 1, 2).float()
        pyramid = self._pyramid(images, min_face_size)
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

    @staticmethod
    def _pyramid(images: torch.Tensor, min_face_size: int) -> list[tuple[float, torch.Tensor]]:
        """The photos at scale 1, then at 12/min_face_size, shrinking by PYRAMID_FACTOR while
        the shorter side keeps 12 pixels (a 12-pixel window at scale s is a face of 12/s).
        (scale, N×3×h×w) pairs; each level is area-averaged from the one before it."""
        h, w = images.shape[2:]
        levels = [(1.0, images)]
        scale = 12.0 / min_face_size
        while min(h, w) * scale >= 12:
            size = (int(h * scale + 1), int(w * scale + 1))
            above = levels[-1][1] if levels[-1][0] >= scale else images
            levels.append((scale, F.interpolate(above, size=size, mode="area")))
            scale *= PYRAMID_FACTOR
        return levels

    def _propose(
        self, pyramid: list[tuple[float, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 1: PNet slides over every level but the first and proposes boxes."""
        found: list[tuple[torch.Tensor, ...]] = []
        for scale, level in pyramid[1:]:
            x = _normalise(level).contiguous(memory_format=torch.channels_last)
            offsets, probs = self.pnet(x)
            hits = (probs[:, 1] >= THRESHOLDS[0]).nonzero()  # (photo, row, column)
            if len(hits):
                photo, row, col = hits.unbind(1)
                score = probs[photo, 1, row, col]
                xy = torch.stack([col, row], dim=1).float()
                boxes = torch.cat([((2 * xy + 1) / scale).floor(),
                                   ((2 * xy + 12) / scale).floor()], dim=1)
                keep = batched_nms(boxes, score, photo, 0.5)
                found.append((boxes[keep], score[keep], photo[keep],
                              offsets[photo, :, row, col][keep]))
        if not found:
            images = pyramid[0][1]
            empty = images.new_zeros((0, 4))
            return empty, images.new_zeros(0), torch.zeros(0, dtype=torch.long)
        boxes, scores, owner, offsets = (torch.cat(parts) for parts in zip(*found, strict=True))
        keep = batched_nms(boxes, scores, owner, 0.7)
        boxes = _square(_regress(boxes[keep], offsets[keep], extra=0.0))
        return boxes, scores[keep], owner[keep]

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
            cuts[mine] = roi_align(level, torch.cat([owner[mine, None].float(), scaled], dim=1),
                                   output_size=size, spatial_scale=1.0, sampling_ratio=2,
                                   aligned=True)
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
        outputs = net(_normalise(cuts).contiguous(memory_format=torch.channels_last))
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
        keep = batched_nms(boxes, scores, owner, 0.7)
        return _square(_regress(boxes[keep], offsets[keep])), scores[keep], owner[keep], points
