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
        side = -(-input_size // 4)  # stem and max-pool: ceil(n / 4)
        for _ in widths[1:]:
            side = -(-side // 2)  # each stride-2 stage: ceil(n / 2)
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


class Affine(nn.Module):
    """Per-channel scale and shift (dlib's `affine` layer: batch norm folded for inference)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's `add_prev`: the sum over the larger shape, each input zero-padded at the end of
    every dimension (channels, rows, columns) it lacks."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape, strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2],
                                     0, shape[1] - t.shape[1]))

    return pad(a) + pad(b)


class DlibBlock(nn.Module):
    """dlib's `ares` / `ares_down`: conv-affine-relu-conv-affine, plus the input (average-pooled
    2×2 when down-sampling; dlib's stride-2 convolutions have no padding), then relu."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.bn1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        skip = nn.functional.avg_pool2d(x, 2, 2) if self.down else x
        return torch.relu(add_prev(y, skip))


# dlib_face_recognition_resnet_model_v1: (channels, down-sampling first block, blocks) per level.
DLIB_LEVELS = ((32, False, 3), (64, True, 4), (128, True, 3), (256, True, 3), (256, True, 1))


class DlibResNet(nn.Module):
    """The network of dlib's face recognition model (150×150 RGB in, 128-d out), layer for
    layer, so its weights can be imported exactly (`facepair import-dlib`)."""

    def __init__(self, embedding_size: int = 128, input_size: int = 150) -> None:
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 7, 2, 0), Affine(32), nn.ReLU(),
                                  nn.MaxPool2d(3, 2))
        blocks, cin = [], 32
        for width, down, count in DLIB_LEVELS:
            for i in range(count):
                blocks.append(DlibBlock(cin, width, down and i == 0))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, embedding_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))

    def layer_groups(self) -> list[nn.Module]:
        """Lower to upper: the stem, each level's blocks, the final linear layer."""
        groups: list[nn.Module] = [self.stem]
        start = 0
        for _, _, count in DLIB_LEVELS:
            groups.append(self.blocks[start : start + count])
            start += count
        return [*groups, self.fc]


def same_padding(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]
                 ) -> torch.Tensor:
    """An N×C×H×W tensor padded as TensorFlow's 'SAME' pads: the output is ceil(input /
    stride) and the padding's odd pixel goes after (right and bottom), so a stride-2 3×3
    convolution of an even map pads 0 before and 1 after, not 1 and 1 as `padding=1` would."""
    pad: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride),
                          strict=True):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pad += [total // 2, total - total // 2]
    return nn.functional.pad(x, pad)


class SameConv2d(nn.Conv2d):
    """A convolution padded the way TensorFlow's 'SAME' pads (`same_padding`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = same_padding(x, self.kernel_size, self.stride)
        return self._conv_forward(x, self.weight, self.bias)


def conv_unit(cin: int, cout: int, kernel: int = 1, stride: int = 1, depthwise: bool = False,
              prelu: bool = True, same: bool = True) -> nn.Sequential:
    """A convolution with its batch norm folded into the bias, then a per-channel PReLU
    (or none: a linear unit)."""
    conv_type = SameConv2d if same else nn.Conv2d
    layers: list[nn.Module] = [conv_type(cin, cout, kernel, stride, 0,
                                         groups=cin if depthwise else 1)]
    if prelu:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileFaceNet's bottleneck: 1×1 expansion (PReLU), 3×3 depthwise (PReLU, the block's
    stride), linear 1×1 projection, plus the input where the shapes allow (stride 1, as many
    channels out as in)."""

    def __init__(self, cin: int, expanded: int, cout: int, stride: int) -> None:
        super().__init__()
        self.residual = stride == 1 and cin == cout
        self.expand = conv_unit(cin, expanded)
        self.depthwise = conv_unit(expanded, expanded, 3, stride, depthwise=True)
        self.project = conv_unit(expanded, cout, prelu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


# MobileFaceNet (sirius-ai/MobileFaceNet_TF): (expanded channels, channels out, stride of the
# first block, blocks) per stage, after a 3×3/2 convolution and a depthwise-separable one.
MOBILEFACENET_STAGES = ((128, 64, 2, 5), (256, 128, 2, 1), (256, 128, 1, 6), (512, 128, 2, 1),
                        (256, 128, 1, 2))


class MobileFaceNet(nn.Module):
    """MobileFaceNet as trained by sirius-ai/MobileFaceNet_TF (112×112 RGB in, 192-d out), batch
    norm folded into the convolutions' biases and TensorFlow's padding kept, so its published
    weights load exactly (`training.mobilefacenet_import`). The head is a global depthwise 7×7
    convolution, a linear 1×1 convolution and a linear 1×1 projection to the embedding."""

    def __init__(self, embedding_size: int = 192, input_size: int = 112) -> None:
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(conv_unit(3, 64, 3, 2), conv_unit(64, 64, 3, depthwise=True),
                                  conv_unit(64, 64, prelu=False))
        stages, cin = [], 64
        for expanded, cout, stride, count in MOBILEFACENET_STAGES:
            blocks = []
            for i in range(count):
                blocks.append(InvertedResidual(cin, expanded, cout, stride if i == 0 else 1))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        side = -(-input_size // 16)  # four stride-2 convolutions
        self.head = nn.Sequential(
            conv_unit(cin, 512),
            conv_unit(512, 512, side, depthwise=True, prelu=False, same=False),  # GDC
            conv_unit(512, 512, prelu=False, same=False),
            conv_unit(512, embedding_size, prelu=False),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def layer_groups(self) -> list[nn.Module]:
        """Lower to upper: the stem, each stage, the head."""
        return [self.stem, *self.stages, self.head]


ARCHITECTURES: dict[str, type[nn.Module]] = {"resnet_face": ResNetFace, "dlib_resnet": DlibResNet,
                                             "mobilefacenet": MobileFaceNet}


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
