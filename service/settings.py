"""The service's settings, and the one settings object of a process: the gallery's
(`index.settings`, which extends the face pipeline's) and what the HTTP service reads. Every
field can be set by a `FACEPAIR_<NAME>` variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field

from index.settings import IndexSettings


class ServiceSettings(IndexSettings):
    """Every setting: the face pipeline's, the gallery's and the HTTP service's."""

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


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The settings of this process, from its environment: for entry points (the CLI, the
    service, benchmarks) to read once and pass down."""
    return ServiceSettings()
