"""MobileFaceNet, imported from a TensorFlow.js graph model (`training.mobilefacenet_import`):
the shipped model loads through the embedder and tells real people apart, and the graph
reader runs TensorFlow's ops as TensorFlow defines them (checked here on a small graph model
written by the test). Agreement with TensorFlow Lite on the same checkpoint is measured by
`python -m bench.mobilefacenet_exact`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from faces.align import TEMPLATE_112
from faces.backbones import SameConv2d
from faces.embed import Embedder
from training.tfjs import TfjsFormatError, read_graph_model, restore_prelus, run

PEOPLE = ("Colin_Powell", "Tony_Blair", "Serena_Williams")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder("mobilefacenet", device="cpu")


def test_the_shipped_model_loads_with_its_card(embedder: Embedder) -> None:
    card = embedder.card
    assert (embedder.dim, embedder.input_size) == (192, 112)
    assert embedder.template is not None and np.allclose(embedder.template, TEMPLATE_112)
    assert card.normalisation.mean == [127.5] * 3 and card.normalisation.std == [128.0] * 3
    # thresholds measured on LFW DevTrain impostor pairs, stricter as the pair FAR falls
    assert card.thresholds is not None
    assert card.thresholds["1e-2"] < card.thresholds["1e-3"] < card.thresholds["1e-4"]
    assert "MIT" in (card.licence or "") and "MS-Celeb-1M" in (card.licence or "")
    assert sum(p.numel() for p in embedder.net.parameters()) == 1_292_992


def test_photos_of_one_person_are_nearer_than_of_others(embedder: Embedder, lfw_dir: Path,
                                                        detector) -> None:
    from faces.decode import decode
    from faces.detect import pick_face

    crops, who = [], []
    for name in PEOPLE:
        for i in (1, 2):
            photo = decode(lfw_dir / name / f"{name}_{i:04d}.jpg")
            face = pick_face(detector.detect(photo), photo.shape)
            assert face is not None
            crops.append(embedder.crops(photo, [face])[0])
            who.append(name)
    vectors = embedder.embed_crops(np.stack(crops))
    assert vectors.shape == (6, 192)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    same = np.equal.outer(who, who)
    for k in range(0, 6, 2):  # each person's pair against either photo with anyone else
        strangers = max(similarity[k][~same[k]].max(), similarity[k + 1][~same[k + 1]].max())
        assert similarity[k, k + 1] > strangers + 0.2, (who[k], similarity.round(3))


# --- the reader, on a graph model written here ---------------------------------------------

def attr(**values) -> dict:
    """AttrValues in protobuf's JSON mapping."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = {"s": base64.b64encode(value.encode()).decode()}
        elif isinstance(value, list) and value and isinstance(value[0], str):
            out[key] = {"list": {"s": [base64.b64encode(v.encode()).decode() for v in value]}}
        else:
            out[key] = {"list": {"i": [str(v) for v in value]}}
    return out


def prelu_nodes(x: str, scope: str, relu_node: bool) -> list[dict]:
    """relu(x) + (x - |x|)·c, as TensorFlow writes a PReLU (c = alpha/2)."""
    relu = f"{scope}/Relu" if relu_node else x
    return ([{"name": relu, "op": "Relu", "input": [x]}] if relu_node else []) + [
        {"name": f"{scope}/Abs", "op": "Abs", "input": [x]},
        {"name": f"{scope}/sub", "op": "Sub", "input": [x, f"{scope}/Abs"]},
        {"name": f"{scope}/mul_1", "op": "Mul", "input": [f"{scope}/sub", f"{scope}/mul"]},
        {"name": f"{scope}/add", "op": "Add", "input": [relu, f"{scope}/mul_1"]},
    ]


def write_graph_model(folder: Path, weights: dict[str, np.ndarray]) -> Path:
    """A 3×3/2 convolution and a PReLU, then a 3×3/2 depthwise convolution whose PReLU's Relu
    was fused into it (as a converter leaves it), on an 8×8×2 NHWC input."""
    conv = {"name": "conv", "op": "_FusedConv2D", "input": ["x", "conv/w", "conv/b"],
            "attr": attr(strides=[1, 2, 2, 1], padding="SAME", data_format="NHWC",
                         fused_ops=["BiasAdd"], dilations=[1, 1, 1, 1])}
    depthwise = {"name": "dw", "op": "FusedDepthwiseConv2dNative",
                 "input": ["a/add", "dw/w", "dw/b"],
                 "attr": attr(strides=[1, 2, 2, 1], padding="SAME", data_format="NHWC",
                              fused_ops=["BiasAdd", "Relu"], dilations=[1, 1, 1, 1])}
    nodes = [{"name": name, "op": "Const"} for name in weights]
    nodes += [{"name": "x", "op": "Placeholder"}, conv, *prelu_nodes("conv", "a", True),
              depthwise, *prelu_nodes("dw", "b", False)]
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights.items()]}]
    (folder / "w.bin").write_bytes(b"".join(v.astype("<f4").tobytes() for v in weights.values()))
    path = folder / "model.json"
    path.write_text(json.dumps({"format": "graph-model", "modelTopology": {"node": nodes},
                                "weightsManifest": manifest}))
    return path


@pytest.fixture
def small_graph(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    weights = {
        "conv/w": rng.normal(size=(3, 3, 2, 4)),  # H, W, in, out
        "conv/b": rng.normal(size=4),
        "a/mul": rng.uniform(-1, 1, size=4),
        "dw/w": rng.normal(size=(3, 3, 4, 1)),  # H, W, channels, multiplier
        "dw/b": rng.normal(size=4),
        "b/mul": rng.uniform(-1, 1, size=4),
    }
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    return write_graph_model(tmp_path, weights), weights


def reference(x: torch.Tensor, w: dict[str, np.ndarray], depthwise_prelu: bool) -> torch.Tensor:
    """The small graph by hand, NCHW: TensorFlow's SAME padding of a stride-2 3×3 convolution
    on an even map is 0 before and 1 after."""
    t = {k: torch.from_numpy(v) for k, v in w.items()}
    y = nn.functional.conv2d(nn.functional.pad(x.permute(0, 3, 1, 2), (0, 1, 0, 1)),
                             t["conv/w"].permute(3, 2, 0, 1), t["conv/b"], 2)
    y = nn.functional.prelu(y, 2 * t["a/mul"])
    y = nn.functional.conv2d(nn.functional.pad(y, (0, 1, 0, 1)),
                             t["dw/w"].permute(2, 3, 0, 1), t["dw/b"], 2, groups=4)
    y = nn.functional.prelu(y, 2 * t["b/mul"]) if depthwise_prelu else torch.relu(y)
    return y.permute(0, 2, 3, 1)


def test_the_reader_runs_the_graph_as_tensorflow_defines_it(small_graph) -> None:
    path, weights = small_graph
    graph = read_graph_model(path)
    assert graph.node("conv").attr["strides"] == [1, 2, 2, 1]
    assert graph.node("dw").attr["fused_ops"] == ["BiasAdd", "Relu"]
    assert all(np.array_equal(graph.weights[k], v) for k, v in weights.items())
    x = torch.randn(2, 8, 8, 2, generator=torch.Generator().manual_seed(1))
    as_written = run(graph, {"x": x}, ["b/add"])["b/add"]
    assert as_written.shape == (2, 2, 2, 4)
    # the Relu fused into the depthwise convolution leaves its PReLU a plain relu
    assert torch.allclose(as_written, reference(x, weights, False), atol=1e-5)
    fixed, repaired = restore_prelus(graph)
    assert repaired == ["dw"] and graph.node("dw").attr["fused_ops"] == ["BiasAdd", "Relu"]
    assert torch.allclose(run(fixed, {"x": x}, ["b/add"])["b/add"], reference(x, weights, True),
                          atol=1e-5)


def test_same_conv_pads_as_tensorflow() -> None:
    conv = SameConv2d(2, 3, 3, 2, 0)
    x = torch.randn(1, 2, 6, 7)
    expected = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 0, 1)), conv.weight,
                                    conv.bias, 2)  # width 7: 1 and 1; height 6: 0 and 1
    assert torch.allclose(conv(x), expected, atol=1e-6) and conv(x).shape == (1, 3, 3, 4)


def test_weights_that_do_not_fill_the_file_are_refused(small_graph) -> None:
    path, _ = small_graph
    with (path.parent / "w.bin").open("ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(TfjsFormatError, match="8 bytes"):
        read_graph_model(path)
