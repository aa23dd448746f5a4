"""A model's card (`models/NAME.json`): what the code needs to load and use the weights beside
it, validated when it is read, so a bad card is a clear error naming the file and the field
rather than a KeyError somewhere later. Cards carry more (training, figures, provenance):
those fields are kept as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faces.errors import ModelError


class Normalisation(BaseModel):
    """Per-channel RGB mean and standard deviation of the network's input (0–255 scale)."""

    mean: list[float] = Field(min_length=3, max_length=3)
    std: list[float] = Field(min_length=3, max_length=3)


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    architecture: dict[str, Any]
    input_size: int = Field(gt=0)
    embedding_size: int = Field(gt=0)
    normalisation: Normalisation
    # cosine thresholds by false-accept rate ("1e-3": …), from the pairs named in the card;
    # a model exported without measuring them (`--view none`) has none: it trains and embeds,
    # but a gallery cannot use it
    thresholds: dict[str, float] | None = Field(None, min_length=1)
    template: list[list[float]] | None = Field(None, description="the crop's five points")
    quantization: dict[str, Any] | None = None
    # provenance and figures: what the model was trained on and how (`training.config` holds
    # the run's settings), where its weights came from, its licence, its LFW figures
    training: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] | None = None
    licence: str | None = None
    lfw: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The card as written to its file (fields its file does not have left out)."""
        return self.model_dump(exclude_unset=True)


def read_card(path: Path) -> ModelCard:
    """The card at `path`, validated."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # unreadable, or not JSON
        raise ModelError(f"{path} cannot be read as a model card: {exc}") from exc
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'card'}: {e['msg']}"
                           for e in exc.errors()[:5])
        raise ModelError(f"{path} is not a valid model card ({fields})") from exc
