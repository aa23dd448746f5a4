"""`facepair import-dlib`: read dlib's face recognition network
(`dlib_face_recognition_resnet_model_v1.dat`, public domain, shipped inside the PyPI package
face-recognition-models) into `faces.backbones.DlibResNet`, without dlib.

The file is dlib's own serialization (written by reading dlib's format, not its code):
- an integer is a control byte (low 4 bits: how many bytes follow; 0x80: negative) and then the
  little-endian magnitude; a string is its length (an integer) and its bytes;
- a scalar float is an integer mantissa and an integer exponent: m · 2^e;
- a tensor is a version (2), its shape (n, k, nr, nc) as integers, then raw float32 values;
- each layer writes its version, then the layers beneath it, then its own details (its name,
  e.g. `con_4`, and parameters), so layers appear from the input upwards, in forward order.
Only the layers with parameters matter here: the input layer's channel means, each `con_4`
(filters + biases), each `affine_` (scale, then shift) and the final `fc_2` (weights stored
in × out, no bias).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import torch

from faces.backbones import Affine, DlibResNet

DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
_TAG = re.compile(rb"\x01[\x04\x05\x07\x15](con_4|affine_|fc_2|input_rgb_image_sized)")


class DlibFormatError(ValueError):
    pass


def default_dat_file(name: str = DAT_NAME) -> Path | None:
    """A .dat file (by default the face network) inside an installed face-recognition-models,
    found without importing it (its import needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    return path if path.exists() else None


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        control = self.data[self.pos]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at {self.pos} (expected 2)")
        shape = [self.int() for _ in range(4)]
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        if end > len(self.data):
            raise DlibFormatError("the file ends inside a tensor: truncated?")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos = end
        return values.reshape(shape).copy()


def read_layers(path: Path) -> list[tuple[str, dict]]:
    """The parameterised layers of a dlib network file, from the input upwards."""
    data = path.read_bytes()
    if not data.startswith(b"\x01\x01\x01\x0dloss_metric_2"):
        raise DlibFormatError(f"{path}: not a dlib metric-learning network file")
    layers: list[tuple[str, dict]] = []
    pos = 0
    while (match := _TAG.search(data, pos)) is not None:
        name = match.group(1).decode()
        r = _Reader(data, match.end())
        if name == "input_rgb_image_sized":
            means = [r.float() for _ in range(3)]
            layers.append((name, {"mean": means, "size": (r.int(), r.int())}))
        elif name == "con_4":
            params = r.tensor().reshape(-1)
            filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            r.int()  # alias-tensor version
            shape = tuple(r.int() for _ in range(4))  # filters: (filters, channels, nr, nc)
            weight_count = int(np.prod(shape))
            layers.append((name, {
                "weight": params[:weight_count].reshape(shape),
                "bias": params[weight_count : weight_count + filters],
                "stride": (sy, sx), "padding": (py, px), "kernel": (nr, nc),
            }))
        elif name == "affine_":
            params = r.tensor().reshape(-1)
            half = len(params) // 2
            layers.append((name, {"weight": params[:half], "bias": params[half:]}))
        elif name == "fc_2":
            outputs, inputs = r.int(), r.int()
            params = r.tensor().reshape(-1)
            if len(params) != inputs * outputs:
                raise DlibFormatError("fc_2 with a bias: not the face recognition network")
            layers.append((name, {"weight": params.reshape(inputs, outputs).T.copy()}))
        pos = r.pos
    return layers


def load_dlib(path: Path) -> tuple[DlibResNet, list[float]]:
    """DlibResNet with the file's weights, and the input's per-channel means (RGB)."""
    layers = read_layers(path)
    kinds = [k for k, _ in layers]
    if kinds.count("con_4") != 29 or kinds.count("affine_") != 29 or kinds[-1] != "fc_2":
        raise DlibFormatError(f"{path}: unexpected layers {dict.fromkeys(kinds)} "
                              f"(expected dlib_face_recognition_resnet_model_v1)")
    net = DlibResNet()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    affines = [m for m in net.modules() if isinstance(m, Affine)]
    conv_params = [p for k, p in layers if k == "con_4"]
    affine_params = [p for k, p in layers if k == "affine_"]
    with torch.no_grad():
        for conv, p in zip(convs, conv_params, strict=True):
            if tuple(conv.weight.shape) != p["weight"].shape or conv.stride != p["stride"]:
                raise DlibFormatError(f"layer shape {p['weight'].shape} does not fit {conv}")
            conv.weight.copy_(torch.from_numpy(p["weight"]))
            conv.bias.copy_(torch.from_numpy(p["bias"]))  # type: ignore[union-attr]
        for affine, p in zip(affines, affine_params, strict=True):
            affine.weight.copy_(torch.from_numpy(p["weight"]))
            affine.bias.copy_(torch.from_numpy(p["bias"]))
        net.fc.weight.copy_(torch.from_numpy(layers[-1][1]["weight"]))
    means = layers[0][1]["mean"] if kinds[0] == "input_rgb_image_sized" else None
    if means is None:
        raise DlibFormatError(f"{path}: no input layer found")
    return net.eval(), means
