"""Embedding networks: aligned face crops → embedding vectors (L2-normalised by the embedder).

`build(card)` makes the network a model card names; the card's `architecture` dict holds the
constructor's arguments, so a model file is self-describing and loads without pickle.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetFace(nn.Module):
    """A ResNet-18-style trunk for 112×112 crops (7×7/2 stem, max-pool, four stages of basic
    blocks) with a face-recognition head: BN, a global depthwise convolution over the final
    4×4 map (position-aware pooling, as in MobileFaceNet), a linear layer and BN."""

    def __init__(
        self,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        embedding_size: int = 128,
        input_size: int = 112,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, cin = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks = [BasicBlock(cin, width, 1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = width
        self.stages = nn.Sequential(*stages)
        side = input_size // 4 // 2 ** (len(widths) - 1)
        self.head = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cin, side, groups=cin, bias=False),  # global depthwise conv
            nn.BatchNorm2d(cin),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin, embedding_size, bias=False),
            nn.BatchNorm1d(embedding_size),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for block in self.modules():  # residual branches start near identity
            if isinstance(block, BasicBlock):
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def layer_groups(self) -> list[nn.Module]:
        """Lower to upper: what `--freeze-lower` freezes first."""
        return [self.stem, *self.stages, self.head]


ARCHITECTURES: dict[str, type[nn.Module]] = {"resnet_face": ResNetFace}


def build(architecture: dict[str, Any]) -> nn.Module:
    """The network named by a model card's `architecture` entry (`{"name": …, **kwargs}`)."""
    kwargs = dict(architecture)
    name = kwargs.pop("name")
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    for key, value in kwargs.items():
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    return ARCHITECTURES[name](**kwargs)
