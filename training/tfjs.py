"""Read a TensorFlow.js graph model (`model.json` and its weight files) without TensorFlow,
and run it literally with PyTorch, for importing a published network and checking the import.

The format (written from the files, not from TensorFlow.js's code):
- `model.json` holds `modelTopology.node`, a TensorFlow GraphDef as JSON: each node has a
  `name`, an `op`, its `input`s (node names; `name:k` is output k, `^name` only orders) and
  `attr`, AttrValues as protobuf's JSON mapping (`s`: base64 bytes, `i`: an integer written as
  a string, `f`, `b`, `type`, `shape`, `list` of any of those);
- `weightsManifest` is a list of groups, each with `paths` (files read one after another as a
  single byte string) and `weights`: every `Const` node's name, shape and dtype, in the order
  their values lie in those bytes (float32 and int32: 4 bytes, little-endian; bool: 1 byte).
  Quantised weights (`quantization`) are not read here.
- Tensors are NHWC; convolution kernels are HWIO (depthwise: H, W, channels, multiplier).
  Grappler's fused ops carry their extra steps in `fused_ops` (`BiasAdd`, then an activation),
  and their extra operands after the kernel.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from faces.backbones import same_padding

DTYPES = {"float32": "<f4", "int32": "<i4", "bool": "?"}


class TfjsFormatError(ValueError):
    pass


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    attr: dict[str, Any] = field(default_factory=dict)


@dataclass
class GraphModel:
    """A graph model's nodes (in file order), its weights by node name, and the files read."""

    nodes: list[Node]
    weights: dict[str, np.ndarray]
    files: list[Path]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts


def attr_value(value: dict[str, Any]) -> Any:
    """An AttrValue in protobuf's JSON mapping, as a plain Python value."""
    if "list" in value:
        items = value["list"]
        for key in ("s", "i", "f", "b", "type"):
            if key in items:
                return [attr_value({key: v}) for v in items[key]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return value["type"]
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    return value  # a tensor (a Const's description: its values are in the weight files)


def read_weights(manifest: list[dict], folder: Path) -> tuple[dict[str, np.ndarray], list[Path]]:
    """Every tensor of a weights manifest, by name, and the files it read."""
    weights: dict[str, np.ndarray] = {}
    files: list[Path] = []
    for group in manifest:
        paths = [folder / p for p in group["paths"]]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise TfjsFormatError(f"weight files not found: {missing}")
        files += paths
        data = b"".join(p.read_bytes() for p in paths)
        offset = 0
        for spec in group["weights"]:
            if "quantization" in spec or spec["dtype"] not in DTYPES:
                raise TfjsFormatError(f"{spec['name']}: {spec['dtype']} "
                                      f"{spec.get('quantization', '')} weights are not supported")
            dtype = np.dtype(DTYPES[spec["dtype"]])
            count = int(np.prod(spec["shape"], dtype=np.int64))
            end = offset + count * dtype.itemsize
            if end > len(data):
                raise TfjsFormatError(f"{spec['name']}: the weight files end inside it")
            values = np.frombuffer(data, dtype, count, offset).reshape(spec["shape"])
            weights[spec["name"]] = values.astype(dtype.newbyteorder("="))
            offset = end
        if offset != len(data):
            raise TfjsFormatError(f"{len(data) - offset} bytes of {group['paths']} are not in "
                                  "the manifest")
    return weights, files


def read_graph_model(path: Path) -> GraphModel:
    """The graph model whose `model.json` is at `path` (weight files beside it)."""
    try:
        raw = json.loads(path.read_text())
        topology, manifest = raw["modelTopology"], raw["weightsManifest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TfjsFormatError(f"{path}: not a TensorFlow.js model ({exc})") from exc
    if raw.get("format") != "graph-model" or "node" not in topology:
        raise TfjsFormatError(f"{path}: not a TensorFlow.js graph model (format "
                              f"{raw.get('format')!r})")
    nodes = [Node(n["name"], n["op"], list(n.get("input", [])),
                  {k: attr_value(v) for k, v in n.get("attr", {}).items()})
             for n in topology["node"]]
    weights, files = read_weights(manifest, path.parent)
    consts = {n.name for n in nodes if n.op == "Const"}
    if consts != set(weights):
        raise TfjsFormatError(f"{path}: Const nodes and weights differ: "
                              f"{sorted(consts ^ set(weights))[:5]}")
    return GraphModel(nodes, weights, [path, *files])


def fused_steps(node: Node) -> list[str]:
    return list(node.attr.get("fused_ops", []))


def convolve(node: Node, x: torch.Tensor, kernel: torch.Tensor,
             extra: list[torch.Tensor]) -> torch.Tensor:
    """A (fused) Conv2D or DepthwiseConv2dNative on an NHWC tensor, NHWC out."""
    if node.attr.get("data_format", "NHWC") != "NHWC" or set(node.attr.get("dilations",
                                                                           [1])) != {1}:
        raise TfjsFormatError(f"{node.name}: only NHWC, undilated convolutions are supported")
    strides = node.attr.get("strides", [1, 1, 1, 1])
    stride = (strides[1], strides[2])
    depthwise = "Depthwise" in node.op
    if depthwise:  # H, W, C, multiplier → C·multiplier, 1, H, W
        h, w, c, m = kernel.shape
        weight = kernel.reshape(h, w, c * m, 1).permute(2, 3, 0, 1)
        groups = c
    else:  # H, W, in, out → out, in, H, W
        weight, groups = kernel.permute(3, 2, 0, 1), 1
    y = x.permute(0, 3, 1, 2)
    padding = node.attr.get("padding", "VALID")
    if padding == "SAME":
        y = same_padding(y, (weight.shape[2], weight.shape[3]), stride)
    elif padding != "VALID":
        raise TfjsFormatError(f"{node.name}: padding {padding} is not supported")
    y = nn.functional.conv2d(y, weight, None, stride, 0, 1, groups).permute(0, 2, 3, 1)
    steps = fused_steps(node)
    operands = iter(extra)
    for step in steps:
        if step == "BiasAdd":
            y = y + next(operands)
        elif step == "Relu":
            y = torch.relu(y)
        else:
            raise TfjsFormatError(f"{node.name}: fused {step} is not supported")
    return y


ELEMENTWISE = {
    "Add": torch.add, "AddV2": torch.add, "Sub": torch.sub, "Mul": torch.mul,
    "Maximum": torch.maximum, "Minimum": torch.minimum,
    "Abs": torch.abs, "Relu": torch.relu, "Square": torch.square, "Rsqrt": torch.rsqrt,
}


def evaluate(node: Node, args: list[torch.Tensor]) -> torch.Tensor:
    """One node's output from its inputs' values."""
    if node.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "Conv2D",
                   "DepthwiseConv2dNative"):
        return convolve(node, args[0], args[1], args[2:])
    if node.op in ELEMENTWISE:
        return ELEMENTWISE[node.op](*args)  # type: ignore[operator]
    if node.op == "Sum":
        axes = [int(a) for a in args[1].reshape(-1).tolist()]
        return args[0].sum(dim=axes, keepdim=bool(node.attr.get("keep_dims", False)))
    if node.op == "Squeeze":
        dims = node.attr.get("squeeze_dims") or [i for i, s in enumerate(args[0].shape)
                                                  if s == 1]
        return args[0].squeeze(tuple(dims))
    if node.op == "Reshape":
        return args[0].reshape([int(s) for s in args[1].tolist()])
    if node.op in ("Identity", "BiasAdd"):
        return args[0] if node.op == "Identity" else args[0] + args[1]
    raise TfjsFormatError(f"{node.name}: op {node.op} is not supported")


def inputs(node: Node) -> list[str]:
    """The nodes whose values a node reads (control inputs left out, output indices dropped)."""
    return [i.split(":")[0] for i in node.inputs if not i.startswith("^")]


def order(graph: GraphModel, outputs: Iterable[str]) -> list[Node]:
    """The nodes `outputs` depend on, each after the nodes it reads."""
    by_name = {n.name: n for n in graph.nodes}
    done: set[str] = set()
    ordered: list[Node] = []
    stack = [(name, False) for name in reversed(list(outputs))]
    open_: set[str] = set()
    while stack:
        name, finished = stack.pop()
        if name in done:
            continue
        if name not in by_name:
            raise TfjsFormatError(f"no node {name!r} in the graph")
        if finished:
            open_.discard(name)
            done.add(name)
            ordered.append(by_name[name])
            continue
        if name in open_:
            raise TfjsFormatError(f"the graph has a cycle through {name!r}")
        open_.add(name)
        stack.append((name, True))
        stack += [(i, False) for i in reversed(inputs(by_name[name])) if i not in done]
    return ordered


def run(graph: GraphModel, feeds: dict[str, torch.Tensor], outputs: Iterable[str]
        ) -> dict[str, torch.Tensor]:
    """The graph's `outputs`, computed with PyTorch (float32) from `feeds` (the Placeholders'
    values, NHWC): a literal run of the graph as written, node by node."""
    outputs = list(outputs)
    values: dict[str, torch.Tensor] = {}
    for node in order(graph, outputs):
        if node.op == "Const":
            values[node.name] = torch.from_numpy(graph.weights[node.name].copy())
        elif node.op == "Placeholder":
            if node.name not in feeds:
                raise TfjsFormatError(f"no value fed for the input {node.name!r}")
            values[node.name] = feeds[node.name]
        else:
            values[node.name] = evaluate(node, [values[i] for i in inputs(node)])
    return {name: values[name.split(":")[0]] for name in outputs}


def prelu_parts(graph: GraphModel, name: str) -> tuple[Node, Node, Node, Node] | None:
    """The (Abs, Sub, Mul, Add) of a PReLU written as relu(x) + (x - |x|)·c on node `name`'s
    output x, if its consumers form one (the Add's other operand being relu(x))."""
    consumers = graph.consumers(name)
    absolute = next((n for n in consumers if n.op == "Abs"), None)
    if absolute is None:
        return None
    sub = next((n for n in graph.consumers(absolute.name)
                if n.op == "Sub" and inputs(n) == [name, absolute.name]), None)
    mul = next((n for n in graph.consumers(sub.name) if n.op == "Mul"), None) if sub else None
    add = next((n for n in graph.consumers(mul.name) if n.op in ("Add", "AddV2")),
               None) if mul else None
    if sub is None or mul is None or add is None:
        return None
    return absolute, sub, mul, add


def restore_prelus(graph: GraphModel) -> tuple[GraphModel, list[str]]:
    """The graph with each PReLU whose Relu a converter fused into the producing convolution
    unfused again, and the names of those convolutions.

    A PReLU relu(x) + (x - |x|)·c reads x three times. Where the Relu was folded into x's
    producer (`fused_ops` ending in Relu), the Abs and the Sub read relu(x) too, the negative
    part vanishes, and the unit computes relu(x). This puts the Relu back as a node of its own
    that only the PReLU's Add reads."""
    nodes = [Node(n.name, n.op, list(n.inputs), dict(n.attr)) for n in graph.nodes]
    copy = GraphModel(nodes, graph.weights, graph.files)
    out: list[Node] = []
    repaired: list[str] = []
    for node in nodes:
        out.append(node)
        parts = prelu_parts(copy, node.name)
        steps = fused_steps(node)
        if parts is None or not steps or steps[-1] != "Relu":
            continue
        node.attr["fused_ops"] = steps[:-1]
        relu = Node(f"{node.name}/prelu_relu", "Relu", [node.name])
        out.append(relu)
        add = parts[3]
        add.inputs = [relu.name if i == node.name else i for i in add.inputs]
        repaired.append(node.name)
    return GraphModel(out, graph.weights, graph.files), repaired
