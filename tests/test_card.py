"""Model cards are validated when a model loads: a bad card is a clear error naming the file
and the field, not a KeyError later."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from faces.embed import Embedder
from faces.errors import ModelError

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize(("change", "named"), [
    (lambda c: c.pop("input_size"), "input_size"),
    (lambda c: c.update(normalisation={"mean": [1, 2], "std": [1, 1, 1]}), "normalisation.mean"),
    (lambda c: c.update(thresholds={}), "thresholds"),  # absent is allowed, empty is not
    (lambda c: c.update(embedding_size="wide"), "embedding_size"),
])
def test_a_bad_card_is_a_clear_error(tmp_path: Path, change, named: str) -> None:
    card = json.loads((MODELS / "facepair-v2.json").read_text())
    change(card)
    (tmp_path / "broken.json").write_text(json.dumps(card))
    shutil.copy(MODELS / "facepair-v2.safetensors", tmp_path / "broken.safetensors")
    with pytest.raises(ModelError, match=rf"broken.json is not a valid model card \(.*{named}"):
        Embedder(tmp_path / "broken.json")


def test_a_card_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    shutil.copy(MODELS / "facepair-v2.safetensors", tmp_path / "broken.safetensors")
    with pytest.raises(ModelError, match="cannot be read as a model card"):
        Embedder(tmp_path / "broken.json")


def test_the_shipped_cards_are_valid() -> None:
    for name in ("dlib-resnet-v1", "facepair-v2", "facepair-v2-int8"):
        assert Embedder(name).dim == 128
