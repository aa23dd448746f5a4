"""Embedding: aligned crops → L2-normalised vectors, with a model file from `models/`.

A model is two files: `<name>.safetensors` (the weights; no pickle, so a file from anywhere is
safe to load) and `<name>.json` (its model card: architecture, input size, normalisation,
embedding size, provenance, LFW figures and calibrated thresholds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from faces.align import align
from faces.backbones import build
from faces.card import ModelCard, Normalisation, read_card
from faces.detect import Detector, Face
from faces.errors import ModelError
from faces.settings import DEFAULTS, resolve_device, resolve_model

Model = str | Path  # a model's name in the models folder, or the path of its files


def model_paths(model: Model = "auto", models_dir: Path = DEFAULTS.models_dir
                ) -> tuple[Path, Path]:
    """The (weights, card) files of a model given by name (in `models_dir`) or by path."""
    name = str(resolve_model(model))
    path = Path(name)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    elif not path.is_absolute() and len(path.parts) == 1:
        path = models_dir / name
    weights, card = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for f in (weights, card):
        if not f.exists():
            raise ModelError(f"model file {f} not found (set FACEPAIR_MODEL or pass --model)")
    return weights, card


def load_card(model: Model = "auto", models_dir: Path = DEFAULTS.models_dir) -> ModelCard:
    """A model's card, validated (`faces.card`)."""
    return read_card(model_paths(model, models_dir)[1])


def load_network(model: Model = "auto", models_dir: Path = DEFAULTS.models_dir
                 ) -> tuple[nn.Module, ModelCard]:
    """The embedding network of a model file, in eval mode (float32, or int8 for a quantised
    model: `faces.quantize`, CPU only), and its card."""
    weights, card_path = model_paths(model, models_dir)
    card = read_card(card_path)
    if card.quantization:
        from faces.quantize import from_file_state

        try:
            return from_file_state(card.architecture, load_file(str(weights))), card
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ModelError(f"{weights} does not match its card: {exc}") from exc
    net = build(card.architecture)
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(
            f"{weights} does not match its card: missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}"
        )
    return net.eval(), card


def to_input(crops: np.ndarray, norm: Normalisation) -> torch.Tensor:
    """uint8 N×H×W×3 RGB crops → the normalised float N×3×H×W tensor the network expects."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    mean = torch.tensor(norm.mean).view(1, 3, 1, 1)
    std = torch.tensor(norm.std).view(1, 3, 1, 1)
    return (x - mean) / std


def embed_with(
    net: nn.Module, crops: np.ndarray, normalisation: Normalisation, device: str | torch.device,
    flip: bool = True, batch_size: int = 64, autocast: Any = None, channels_last: bool = True,
) -> np.ndarray:
    """Unit vectors (N×D float32) for aligned uint8 crops (N×S×S×3) from `net` in eval mode.
    With `flip`, each crop and its mirror image are embedded and summed before normalising.
    `autocast`: a context manager to run the network under (mixed precision), or None.
    `channels_last`: the input's memory layout (faster for float networks, not for int8)."""
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(crops), batch_size):
            x = to_input(crops[start : start + batch_size], normalisation).to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast if autocast is not None else contextlib.nullcontext():
                if flip:  # the crops and their mirror images in one forward pass
                    both = net(torch.cat([x, torch.flip(x, dims=[3])])).float()
                    e = both[: len(x)] + both[len(x) :]
                else:
                    e = net(x).float()
            out.append(nn.functional.normalize(e, dim=1).cpu().numpy())
    if not out:
        return np.empty((0, 0), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


class Embedder:
    """Loads a model once; embeds aligned crops or detected faces to unit vectors."""

    def __init__(self, model: Model | None = None, device: str = "auto",
                 models_dir: Path = DEFAULTS.models_dir) -> None:
        model = resolve_model(model or "auto", device)
        self.device = resolve_device(device)
        self.path = model_paths(model, models_dir)[0]  # the weights (workers reload them)
        net, self.card = load_network(model, models_dir)
        self.quantized = self.card.quantization is not None
        if self.quantized:  # int8 kernels are CPU kernels
            self.device = "cpu"
        else:
            net = net.to(self.device).to(memory_format=torch.channels_last)
        self.net = net
        self.input_size = self.card.input_size
        self.dim = self.card.embedding_size
        self.name = self.card.name
        # The crop's 5 points, where the card names them (e.g. dlib's chip geometry).
        template = self.card.template
        self.template = None if template is None else np.asarray(template, dtype=np.float64)

    def embed_crops(self, crops: np.ndarray, flip: bool = True, batch_size: int = 64) -> np.ndarray:
        """Unit vectors (N×D float32) for aligned uint8 crops (N×S×S×3), flip-summed."""
        if len(crops) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return embed_with(self.net, crops, self.card.normalisation, self.device, flip,
                          batch_size, channels_last=not self.quantized)

    def crops(self, photo: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """Aligned crops at this model's input size for detected faces."""
        return self.crops_at(photo, [f.landmarks for f in faces])

    def crops_at(self, photo: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
        """Aligned crops at this model's input size for faces with these 5-point landmarks."""
        s = self.input_size
        if not landmarks:
            return np.empty((0, s, s, 3), dtype=np.uint8)
        return np.stack([align(photo, np.asarray(p), s, self.template) for p in landmarks])

    def embed_faces(
        self, photo: np.ndarray, faces: Sequence[Face], flip: bool = True
    ) -> np.ndarray:
        return self.embed_crops(self.crops(photo, faces), flip=flip)


def detect_and_embed(
    detector: Detector, embedder: Embedder, photos: Sequence[np.ndarray]
) -> list[tuple[list[Face], np.ndarray]]:
    """Every face of each photo and their embeddings: the photos detected together
    (`Detector.detect_batch`) and all their faces embedded in one call."""
    if not photos:
        return []
    found = detector.detect_batch(photos)
    crops = [embedder.crops(photo, faces) for photo, faces in zip(photos, found, strict=True)]
    vectors = embedder.embed_crops(np.concatenate(crops))
    results, start = [], 0
    for faces in found:
        results.append((faces, vectors[start : start + len(faces)]))
        start += len(faces)
    return results
