"""facepair's one settings object. Every field can be set by a `FACEPAIR_<NAME>` variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# the `auto` model: the same trained network, int8 where the CPU embeds (twice as fast there),
# float on a GPU (int8 kernels are CPU kernels). Each has its own card and thresholds; a
# gallery moved between them is re-embedded from its stored face chips.
CPU_MODEL, GPU_MODEL = "facepair-v2-int8", "facepair-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACEPAIR_", extra="ignore")

    home: Path = Field(Path("var"), description="Where facepair keeps its data.")
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

    # gallery
    far: float = Field(
        1e-3, gt=0.0, lt=1.0,
        description="verify (one to one): the model card's calibrated threshold at this "
        "false-accept rate.",
    )
    fpir: float = Field(
        0.01, gt=0.0, lt=1.0,
        description="identify (one to many): the share of strangers that may be named as "
        "someone; the threshold is the one this share of the enrolled faces reach as "
        "strangers to each other, once there are enough of them, never looser than the "
        "card's at a pair rate of fpir / enrolled faces (index.calibration); "
        "`calibrate --apply` sets one by hand.",
    )
    top_k: int = Field(5, ge=1, le=100, description="Candidates returned per face.")
    enroll_min_face: int = Field(40, ge=8, description="Smallest face, in pixels, to enroll.")
    ann_min_faces: int = Field(
        200_000, ge=1, description="From this many faces on, search an approximate (IVF) index."
    )
    ann_nprobe: int = Field(
        0, ge=0, description="IVF lists searched per query; 0 = an eighth of the lists."
    )

    # HTTP service
    host: str = Field("127.0.0.1", description="Where `facepair serve` listens.")
    port: int = Field(8000, ge=1, le=65535)
    auth: bool = Field(True, description="Require API keys (`facepair keys create`).")
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0, description="Largest request body.")
    request_timeout: float = Field(60.0, gt=0, description="Seconds before a request gives up.")
    inference_threads: int = Field(
        2, ge=1, description="Requests detecting/embedding at once (the rest wait their turn)."
    )
    max_waiting: int = Field(
        64, ge=1, description="Requests waiting for an inference thread, at most; more are "
        "answered 503 with Retry-After."
    )
    identify_queue: int = Field(
        32, ge=1, description="Decoded identify photos waiting for the batcher, at most; more "
        "are answered 503 with Retry-After."
    )
    identify_queue_mb: int = Field(
        512, ge=1, description="Decoded identify photos waiting or at work: at most this "
        "many MB of pixels (a 50-megapixel photo is 143 MB); more are answered 503 with "
        "Retry-After."
    )
    protect_docs: bool = Field(
        False, description="Require a key (read scope) for /docs, /openapi.json and /metrics."
    )
    batch_max: int = Field(
        8, ge=1, description="identify requests detected and embedded together, at most."
    )
    batch_wait_ms: float = Field(
        5.0, ge=0.0, description="How long the first request of a batch waits for others."
    )
    album_roots: list[Path] = Field(
        default_factory=list,
        description="Folders the service may tag (POST /v1/albums/jobs), as a JSON list.",
    )
    album_workers: int = Field(2, ge=1, description="Worker processes of an album job.")


# the documented defaults, not read from the environment: what library code uses when its
# caller passes no settings (the entry points pass theirs)
DEFAULTS = Settings.model_construct()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, from its environment: for entry points (the CLI, the
    service, benchmarks) to read once and pass down."""
    return Settings()


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
