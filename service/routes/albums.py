"""Album jobs: tag a server-side folder in the background, follow it, cancel it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request

from faces.settings import Settings
from index import albums
from service.deps import G, Run, S, need
from service.problems import ApiError
from service.schemas import AlbumJobIn, AlbumJobOut, CancelOut, Id

router = APIRouter(tags=["albums"])


def allowed(path: str, settings: Settings) -> Path:
    try:
        root = Path(path).expanduser().resolve()
    except (ValueError, OSError, RuntimeError) as exc:
        raise ApiError(422, "invalid_request", f"not a usable folder path: {exc}") from exc
    for allowed_root in settings.album_roots:
        base = allowed_root.expanduser().resolve()
        if root == base or base in root.parents:
            if not root.is_dir():  # (is_dir is False for names the OS refuses)
                raise ApiError(404, "not_found", f"{path}: no such folder")
            return root
    raise ApiError(
        403,
        "path_not_allowed",
        f"{path} is not inside a folder the service may read (FACEPAIR_ALBUM_ROOTS)",
    )


@router.post("/v1/albums/jobs", status_code=202, dependencies=[need("write")])
async def start_album_job(
    run: Run, body: AlbumJobIn, request: Request, g: G, settings: S
) -> AlbumJobOut:
    """Tag every photo in a server-side folder, or import its face tags, in the
    background."""
    root = allowed(body.path, settings)
    job_id = await run.work(request.app.state.jobs.submit, root, body.xmp, body.embed,
                            body.kind, write=True)
    return AlbumJobOut.model_validate(await run.work(albums.job, g, job_id))


@router.get("/v1/albums/jobs/{job_id}", dependencies=[need("read")])
async def album_job(run: Run, job_id: Id, g: G) -> AlbumJobOut:
    """A job's state and counts: total, done, faces, named, unknown, …, and its problems."""
    return AlbumJobOut.model_validate(await run.work(albums.job, g, job_id))


@router.delete("/v1/albums/jobs/{job_id}", status_code=202, dependencies=[need("write")])
async def cancel_album_job(run: Run, job_id: Id, request: Request, g: G) -> CancelOut:
    """Stop a queued or running job after the photos in hand."""
    await run.work(albums.job, g, job_id)  # 404 first
    if not await run.work(g.store.cancel_album_job, job_id, write=True):
        raise ApiError(409, "not_running", f"album job {job_id} is not queued or running")
    return CancelOut(id=job_id, status="cancelling")
