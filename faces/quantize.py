"""int8 embedding networks: a float `DlibResNet` turned into a statically quantised one that runs
two to three times as fast on a CPU (PyTorch's oneDNN or x86 int8 kernels, AVX2 and up).

Weights are quantised per output channel; activations per tensor, with ranges observed on
calibration crops (`quantize`). dlib's affine layers are folded into the convolutions before
that, and the block sums become int8 add-and-ReLU. A quantised model is a different embedding
function from its float model, so it is a model of its own, with its own card and thresholds
(`facepair quantize`). Its file holds the int8 weights and every scale and zero point as plain
tensors (`to_file_state`), and loads without pickle (`from_file_state`).

Quantised kernels exist for CPUs only: an int8 model always runs on the CPU.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.ao.quantization as tq
from torch import nn

from faces.backbones import Affine, DlibBlock, DlibResNet, build

_INT8 = ".int8"  # file keys of a quantised tensor's parts
_SCALES, _ZERO_POINTS = ".scales", ".zero_points"
# activations as unsigned 8-bit on 0..127, as PyTorch's x86 default (`reduce_range`) has them
_ACTIVATION = {"dtype": torch.quint8, "quant_min": 0, "quant_max": 127}


def engine() -> str | None:
    """PyTorch's int8 kernels used here: oneDNN's where this build has them (4.0 against 5.5 ms
    a crop for the x86 default's fbgemm on an AVX2 EPYC, one thread), else the x86 default;
    None where neither exists (ARM CPUs: there the float model runs)."""
    supported = torch.backends.quantized.supported_engines
    return next((name for name in ("onednn", "x86") if name in supported), None)


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization warns that it will move to the torchao package; its eager-mode
    kernels (fbgemm, oneDNN) are what runs here, and they still ship in torch itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(deprecated|quantized tensor creation).*")
        yield


def _folded(conv: nn.Conv2d, affine: Affine) -> nn.Conv2d:
    """`affine(conv(x))` as one convolution."""
    out = copy.deepcopy(conv)
    assert out.bias is not None and conv.bias is not None  # dlib's convolutions have biases
    with torch.no_grad():
        out.weight.mul_(affine.weight.view(-1, 1, 1, 1))
        out.bias.copy_(conv.bias * affine.weight + affine.bias)
    return out


class _Block(nn.Module):
    """A `DlibBlock` with its affines folded; dlib's zero padding of the sum (`add_prev`) is
    fixed by the shapes, known when built: channels for the skip, rows and columns for the
    stride-2 branch, which comes out one smaller than the pooled skip on odd-sized maps."""

    def __init__(self, block: DlibBlock, channels_in: int, skip_side: int,
                 branch_side: int) -> None:
        super().__init__()
        self.conv1 = _folded(block.conv1, block.bn1)
        self.relu1 = nn.ReLU()
        self.conv2 = _folded(block.conv2, block.bn2)
        self.pool: nn.Module = nn.AvgPool2d(2, 2) if block.down else nn.Identity()
        self.pad_channels = block.conv2.out_channels - channels_in
        self.pad_side = skip_side - branch_side
        self.add = nn.quantized.FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu1(self.conv1(x)))
        skip = self.pool(x)
        if self.pad_channels:
            skip = nn.functional.pad(skip, (0, 0, 0, 0, 0, self.pad_channels))
        if self.pad_side:
            y = nn.functional.pad(y, (0, self.pad_side, 0, self.pad_side))
        return self.add.add_relu(y, skip)


class QuantizableDlibResNet(nn.Module):
    """`DlibResNet`'s function, in layers that eager-mode quantisation can convert. Until
    converted it computes what the float network does (to float rounding)."""

    def __init__(self, net: DlibResNet) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        conv, affine = net.stem[0], net.stem[1]
        assert isinstance(conv, nn.Conv2d) and isinstance(affine, Affine)
        self.conv = _folded(conv, affine)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2)
        blocks = []
        x = torch.zeros(1, 3, net.input_size, net.input_size)
        with torch.no_grad():
            x = net.stem(x)
            for block in net.blocks:
                assert isinstance(block, DlibBlock)
                branch = block.conv1(x)
                skip = nn.functional.avg_pool2d(x, 2, 2) if block.down else x
                blocks.append(_Block(block, x.shape[1], skip.shape[2], branch.shape[2]))
                x = block(x)
        self.blocks = nn.Sequential(*blocks)
        self.fc = net.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.pool(self.relu(self.conv(self.quant(x)))))
        return self.fc(self.dequant(x).mean(dim=(2, 3)))


def _prepared(net: DlibResNet, activation: Any) -> nn.Module:
    """The quantisable network, conv+ReLU pairs fused, with observers in place."""
    kernels = engine()
    if kernels is None:
        raise RuntimeError("this CPU has no int8 kernels in PyTorch (oneDNN or x86): use a "
                           "float model")
    torch.backends.quantized.engine = kernels
    model = QuantizableDlibResNet(net).eval()
    pairs = [["conv", "relu"]] + [[f"blocks.{i}.conv1", f"blocks.{i}.relu1"]
                                  for i in range(len(model.blocks))]
    tq.fuse_modules(model, pairs, inplace=True)
    # (torch's stubs do not know the qconfig attribute eager-mode quantisation reads)
    model.qconfig = tq.QConfig(activation=activation,  # type: ignore[assignment]
                               weight=tq.default_per_channel_weight_observer)
    model.fc.qconfig = None  # type: ignore[assignment]  # the last layer stays float: 128 outputs
    return tq.prepare(model, inplace=True)


def quantize(net: DlibResNet, batches: Iterable[torch.Tensor]) -> nn.Module:
    """An int8 copy of `net`, its activation ranges observed (histograms, as PyTorch's x86
    default does) on `batches` of normalised input."""
    with _quiet():
        model = _prepared(net, tq.HistogramObserver.with_args(**_ACTIVATION))
        with torch.inference_mode():
            for x in batches:
                model(x)
        return tq.convert(model, inplace=True)


def to_file_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A quantised model's state as plain tensors (safetensors holds no quantised ones)."""
    state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):  # packed-parameter bookkeeping
            continue
        if value.is_quantized:
            if value.qscheme() != torch.per_channel_affine or value.q_per_channel_axis() != 0:
                raise ValueError(f"{key}: only per-channel (axis 0) weights are stored")
            state[key + _INT8] = value.int_repr().contiguous()
            state[key + _SCALES] = value.q_per_channel_scales().float().contiguous()
            state[key + _ZERO_POINTS] = value.q_per_channel_zero_points().contiguous()
        else:
            state[key] = value.contiguous()
    return state


def from_file_state(architecture: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    """The quantised network a model file holds (`to_file_state`), ready to run on the CPU."""
    net = build(architecture)
    if not isinstance(net, DlibResNet):
        raise ValueError(f"int8 models are made from dlib_resnet networks, not "
                         f"{architecture.get('name')!r}")
    with _quiet():
        # the structure only: any observer will do, the file's ranges replace what it saw
        model = _prepared(net, tq.MinMaxObserver.with_args(**_ACTIVATION))
        with torch.inference_mode():
            model(torch.zeros(1, 3, net.input_size, net.input_size))
        model = tq.convert(model, inplace=True)
        restored: dict[str, Any] = {}
        for key, value in state.items():
            if key.endswith(_INT8):
                base = key.removesuffix(_INT8)
                restored[base] = torch._make_per_channel_quantized_tensor(
                    value, state[base + _SCALES].double(), state[base + _ZERO_POINTS].long(), 0)
            elif not key.endswith((_SCALES, _ZERO_POINTS)):
                restored[key] = value
        model.load_state_dict(restored, strict=True)
    return model.eval()
