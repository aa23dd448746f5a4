"""Albums: jobs that tag a server-side folder in the background (follow, cancel), its
folders and tagged photos, the clusters of unknown faces and the suggestions to confirm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Response

from faces.video import is_video_path
from index import curation
from index.album import clusters, jobs
from index.gallery import Gallery
from index.results import AlbumJobOut
from service.deps import G, Jobs, Run, S, need
from service.problems import ApiError
from service.schemas import (
    AlbumJobIn,
    AlbumPhotosOut,
    AnswerIn,
    AnswerOut,
    CancelOut,
    ClusterNameIn,
    ClustersOut,
    DrawnFaceIn,
    DrawnFaceOut,
    FoldersOut,
    HiddenOut,
    Id,
    NamedClusterOut,
    PhotosWithOut,
    RootsOut,
    SplitOut,
    SuggestionsOut,
    ThisIsIn,
    ThisIsOut,
    VideoPeopleOut,
)
from service.settings import ServiceSettings

router = APIRouter(tags=["albums"])


def allowed(path: str, settings: ServiceSettings, g: Gallery | None = None) -> Path:
    """A folder of this host the service may read: a path, or `root:path` (a folder inside a
    root, by its name); refused outside FACEPAIR_ALBUM_ROOTS."""
    named = g.roots.named(path) if g is not None else None
    try:
        root = (g.roots.local(named) if g is not None and named is not None
                else Path(path).expanduser()).resolve()
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
    run: Run, body: AlbumJobIn, jobs_of: Jobs, g: G, settings: S
) -> AlbumJobOut:
    """Tag every photo in a server-side folder, or import its face tags, in the
    background."""
    root = await run.work(allowed, body.path, settings, g)
    job_id = await run.work(jobs_of.submit, root, body.xmp, body.embed, body.kind, body.ray,
                            write=True)
    return await run.work(jobs.status, g, job_id)


@router.get("/v1/albums/jobs/{job_id}", dependencies=[need("read")])
async def album_job(run: Run, job_id: Id, g: G) -> AlbumJobOut:
    """A job's state and counts: total, done, faces, named, unknown, …, and its problems."""
    return await run.work(jobs.status, g, job_id)


@router.delete("/v1/albums/jobs/{job_id}", status_code=202, dependencies=[need("write")])
async def cancel_album_job(run: Run, job_id: Id, g: G) -> CancelOut:
    """Stop a queued or running job after the photos in hand."""
    if not await run.work(jobs.cancel, g, job_id, write=True):
        raise ApiError(409, "not_running", f"album job {job_id} is not queued or running")
    return CancelOut(id=job_id, status="cancelling")


@router.get("/v1/albums/roots", dependencies=[need("read")])
async def album_roots(run: Run, g: G) -> RootsOut:
    """The roots (photo libraries by name) album photos are kept in, and the folder of each on
    this host (null: none here)."""
    return RootsOut(roots=await run.work(g.roots.listing))


@router.get("/v1/albums/folders", dependencies=[need("read")])
async def album_folders(run: Run, settings: S, path: str | None = None) -> FoldersOut:
    """The folders a job may tag: the allowed roots, or the subfolders of one inside them."""
    folder = allowed(path, settings) if path else None
    return FoldersOut.model_validate(await run.work(curation.folders, settings.album_roots,
                                                    folder))


@router.get("/v1/albums/photos", dependencies=[need("read")])
async def album_photos(run: Run, g: G, settings: S, root: str,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       offset: Annotated[int, Query(ge=0)] = 0) -> AlbumPhotosOut:
    """The tagged photos under a folder, with their faces and names, a page at a time."""
    folder = await run.work(allowed, root, settings, g)
    return AlbumPhotosOut.model_validate(
        await run.work(curation.album_photos, g, folder, limit, offset))


@router.get("/v1/photos", dependencies=[need("read")])
async def photos_with(run: Run, g: G, person: Annotated[list[int], Query(min_length=1)],
                      limit: Annotated[int, Query(ge=1, le=500)] = 60,
                      offset: Annotated[int, Query(ge=0)] = 0) -> PhotosWithOut:
    """The tagged photos in which every person asked for (`person`, an id; repeat it for
    several: "Ann with Bob") is named, newest first, a page at a time."""
    return PhotosWithOut.model_validate(
        await run.work(curation.photos_with, g, list(person), limit, offset))


@router.get("/v1/albums/photos/{photo_id}/image", dependencies=[need("read")],
            response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
async def album_photo_image(run: Run, photo_id: Id, g: G, settings: S) -> Response:
    """A tagged photo as a browser shows it (JPEG, PNG and WebP as they are; others as
    JPEG), from inside the allowed folders only; a video as one frame (JPEG): its first
    face's, or its first."""
    path = await run.work(photo_file, g, photo_id, settings)
    if is_video_path(path):
        at = await run.work(g.store.albums.frame_time, photo_id)
        data, media = await run.work(video_frame, path, at, settings.max_pixels)
    else:
        data, media = await run.work(viewable, path, settings.max_pixels)
    return Response(data, media_type=media, headers={"Cache-Control": "private"})


@router.get("/v1/albums/photos/{photo_id}/people", dependencies=[need("read")])
async def video_people(run: Run, photo_id: Id, g: G) -> VideoPeopleOut:
    """Who appears in a tagged video and when: each person (or unknown face) with the spans
    they are seen over. 422 not_a_video for a photo."""
    return VideoPeopleOut.model_validate(await run.work(curation.video_people, g, photo_id))


@router.post("/v1/albums/photos/{photo_id}/faces", status_code=201,
             dependencies=[need("write")])
async def draw_album_face(run: Run, photo_id: Id, body: DrawnFaceIn, g: G, settings: S
                          ) -> DrawnFaceOut:
    """Add a face the detector did not find: drawn by hand at `box`, named `name` (and
    enrolled while they have room) or as the gallery names it; kept when the photo is tagged
    again. 409 face_exists over a face the photo has; 422 for a box outside it."""
    path = await run.work(photo_file, g, photo_id, settings)
    return DrawnFaceOut.model_validate(await run.work(
        curation.draw_face, g, photo_id, body.box, body.name, path, write=True))


def photo_file(g: Gallery, photo_id: int, settings: ServiceSettings) -> Path:
    """A tagged photo's file on this host, inside the allowed folders only."""
    photo = g.store.albums.photo(photo_id)
    local = g.roots.file(photo.ref)
    if local is None:
        raise ApiError(404, "not_found", f"{photo.shown}: its root has no folder on this host")
    return allowed(str(local.parent), settings) / local.name


def viewable(path: Path, max_pixels: int) -> tuple[bytes, str]:
    """A photo's bytes as a browser shows them, and their media type."""
    from faces.decode import decode

    if path.is_symlink() or not path.is_file():
        raise ApiError(404, "not_found", f"{path.name}: the photo is no longer there")
    data = path.read_bytes()
    kinds = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png", b"RIFF": "image/webp"}
    media = next((m for magic, m in kinds.items() if data.startswith(magic)), None)
    if media is not None:
        return data, media
    return jpeg(decode(data, max_pixels, name=path.name))


def video_frame(path: Path, at: float, max_pixels: int) -> tuple[bytes, str]:
    """The frame of a video at `at` seconds, as JPEG."""
    from faces.video import frame_at

    if path.is_symlink() or not path.is_file():
        raise ApiError(404, "not_found", f"{path.name}: the video is no longer there")
    return jpeg(frame_at(path, at, max_pixels))


def jpeg(pixels: np.ndarray) -> tuple[bytes, str]:
    """RGB pixels as a browser is sent them: JPEG bytes, and their media type."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=88)
    return out.getvalue(), "image/jpeg"


@router.get("/v1/album-faces/{face_id}/chip", dependencies=[need("read")],
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
async def album_face_chip(run: Run, face_id: Id, g: G) -> Response:
    face = await run.work(g.store.albums.face, face_id)
    return Response(face.chip, media_type="image/jpeg",
                    headers={"Cache-Control": "private"})


@router.get("/v1/clusters", dependencies=[need("read")])
async def list_clusters(run: Run, g: G) -> ClustersOut:
    """The clusters of faces nobody is enrolled as, biggest first."""
    return ClustersOut(clusters=await run.work(curation.clusters, g))


@router.post("/v1/clusters/{cluster}/name", dependencies=[need("write")])
async def name_cluster(run: Run, cluster: Id, body: ClusterNameIn, g: G) -> NamedClusterOut:
    """Enroll a cluster as a person: a new one, or, by an existing name, that person."""
    return NamedClusterOut.model_validate(
        await run.work(clusters.name_cluster, g, cluster, body.name, write=True))


@router.post("/v1/clusters/{cluster}/hide", dependencies=[need("write")])
async def hide_cluster(run: Run, cluster: Id, g: G) -> HiddenOut:
    """Hide a cluster: its faces go into no cluster and no suggestion again."""
    return HiddenOut(hidden=await run.work(curation.hide_cluster, g, cluster, write=True))


@router.post("/v1/album-faces/{face_id}/split", dependencies=[need("write")])
async def split_face(run: Run, face_id: Id, g: G) -> SplitOut:
    """Take a wrong face out of its cluster."""
    await run.work(curation.split_face, g, face_id, write=True)
    return SplitOut(face_id=face_id)


@router.post("/v1/album-faces/{face_id}/person", dependencies=[need("write")])
async def album_face_is(run: Run, face_id: Id, body: ThisIsIn, g: G) -> ThisIsOut:
    """"This is …": an album face is the user's name for it (a person by id, or by name:
    made where nobody is named so), enrolled for them while they have room; it is never named
    as the one it was again. 409: it is named as that person already."""
    return ThisIsOut.model_validate(await run.work(
        curation.this_is, g, face_id, "album", body.name, body.person_id, write=True))


@router.get("/v1/suggestions", dependencies=[need("read")])
async def list_suggestions(run: Run, g: G,
                           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> SuggestionsOut:
    """Unknown album faces that came close to someone ("is this Ann?"), closest first."""
    return SuggestionsOut.model_validate(await run.work(curation.suggestions, g, limit))


@router.post("/v1/suggestions/{face_id}", dependencies=[need("write")])
async def answer_suggestion(run: Run, face_id: Id, body: AnswerIn, g: G) -> AnswerOut:
    """yes: theirs (and enrolled while they have room); no: never them; skip: not asked
    again."""
    return AnswerOut.model_validate(
        await run.work(curation.answer, g, face_id, body.answer, write=True))
