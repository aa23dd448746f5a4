"""The face pipeline's settings (decode, detect, embed: the model, the device, the threads and
the folders of models and data sets). Every field can be set by a `FACEPAIR_<NAME>` variable.

facepair has one settings object, built by its entry points (`service.settings`); each layer
extends the settings of the layer below with what it reads (`index.settings`, then
`service.settings`), and its code is given that object typed as its own layer's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# the `auto` model: the same trained network, int8 where the CPU embeds (twice as fast there),
# float on a GPU (int8 kernels are CPU kernels). Each has its own card and thresholds; a
# gallery moved between them is re-embedded from its stored face chips.
CPU_MODEL, GPU_MODEL = "facepair-v2-int8", "facepair-v2"


class FaceSettings(BaseSettings):
    """What the face pipeline reads."""

    model_config = SettingsConfigDict(env_prefix="FACEPAIR_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Face data sets (LFW, ORL, cfp-dev) for evaluation, "
        "training and benchmarks (`make` sets it to the checkout's ../shared/data).",
    )
    models_dir: Path = Field(REPO_ROOT / "models", description="Where model files live.")
    model: str = Field(
        "auto", description="The embedding model: a name in models_dir or a path. 'auto': "
        f"{CPU_MODEL} (int8) when embedding on the CPU, {GPU_MODEL} (float) on a GPU."
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    threads: int = Field(0, ge=0, description="torch CPU threads; 0 = torch's default.")

    # decode
    max_pixels: int = Field(50_000_000, gt=0, description="Photos with more pixels are refused.")
    # detect
    min_face_size: int = Field(
        40, ge=8, description="Smallest face, in pixels, to look for (40: about what "
        "face_recognition's default detector finds; smaller costs time, and such faces are "
        "too small to name reliably)."
    )
    min_face_score: float = Field(0.90, ge=0.0, le=1.0, description="Detector score to keep.")
    second_look_score: float = Field(
        0.70, ge=0.0, le=1.0, description="A photo where no face is found is looked at again "
        "with a border, for a face of at least half its shorter side (a tight headshot cut by "
        "the frame); such a face is kept from this detector score."
    )
    detect_max_side: int = Field(
        1600, ge=160, description="The detector's working size: its finest search (12 / the "
        "smallest face of a photo's longer side) is at most this many pixels long, so in larger "
        "photos faces smaller than that allows are not looked for (a 4032×3024 photo: from 31 "
        "px); a photo where no face is found is looked at again shrunk to this size."
    )
    detect_batch_size: int = Field(16, ge=1, description="Photos per detector batch.")


# the documented defaults, not read from the environment: what library code uses when its
# caller passes no settings (the entry points pass theirs)
DEFAULTS = FaceSettings.model_construct()


def resolve_device(name: str = "auto") -> str:
    """Turn the `device` setting into a torch device string ('auto' → cuda when present)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def resolve_model(model: str | Path = "auto", device: str = "auto") -> str | Path:
    """A model name or path, 'auto' turned into the model for the device that embeds."""
    if str(model) != "auto":
        return model
    if resolve_device(device).startswith("cuda"):
        return GPU_MODEL
    from faces.quantize import engine

    return CPU_MODEL if engine() else GPU_MODEL  # int8 where this CPU has the kernels
