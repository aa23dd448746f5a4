"""Recognition: identify every face in a photo, verify, detect, and the thresholds in force."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from faces.decode import decode
from index.results import FaceMatchOut, StatusOut, ThresholdOut, VerifyOut
from service.batching import Busy
from service.deps import G, Run, S, busy, need, read, source
from service.problems import ApiError
from service.schemas import DetectOut, IdentifyOut

router = APIRouter(tags=["recognition"])


@router.post("/v1/identify", dependencies=[need("read")])
async def identify(
    run: Run,
    request: Request,
    g: G,
    settings: S,
    photo: Annotated[UploadFile, File(description="The photo to name faces in")],
    threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> IdentifyOut:
    """Name every face in a photo, or say unknown (`person: null`)."""
    data = await read(photo)
    name = source(photo)

    def prepare() -> tuple[float, ThresholdOut | None, Any]:
        if threshold is not None:  # the caller's: no estimate needed
            return threshold, None, decode(data, settings.max_pixels, name=name)
        estimate = g.estimate(wait=False)
        photo = decode(data, settings.max_pixels, name=name)
        return estimate.threshold, ThresholdOut.of(estimate), photo

    thr, in_force, image = await run.work(prepare)
    # detection and embedding: batched with the requests arriving at the same time
    try:
        future = request.app.state.batcher.submit(image, thr, top_k, g)
    except Busy as exc:
        raise busy(str(exc)) from None
    try:
        matches = await asyncio.wait_for(asyncio.wrap_future(future), settings.request_timeout)
    except TimeoutError as exc:
        raise ApiError(
            504, "timeout", f"the request took over {settings.request_timeout:g} s"
        ) from exc
    return IdentifyOut(
        threshold=thr, threshold_in_force=in_force, faces=[FaceMatchOut.of(m) for m in matches]
    )


@router.get("/v1/status", dependencies=[need("read")])
async def status(run: Run, g: G) -> StatusOut:
    """The model, the gallery's size, and the thresholds in force: for identify, where it
    comes from and its estimated FPIR and FNIR with their 95 % intervals."""
    return await run.work(g.status, False)


@router.post("/v1/verify", dependencies=[need("read")])
async def verify(
    run: Run,
    g: G,
    a: Annotated[UploadFile, File(description="A photo")],
    b: Annotated[UploadFile | None, File(description="Another photo")] = None,
    person_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    threshold: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
) -> VerifyOut:
    """Same person or not: two photos (their largest faces), or a photo and a person."""
    if (b is None) == (person_id is None):
        raise ApiError(
            422,
            "invalid_request",
            "send either a second photo 'b' or a 'person_id', not both or neither",
        )
    first = await read(a)
    other: bytes | int = person_id if b is None else await read(b)  # type: ignore[assignment]
    return await run.work(g.verify, first, other, threshold)


@router.post("/v1/detect", dependencies=[need("read")])
async def detect(run: Run, g: G, settings: S, photo: Annotated[UploadFile, File()]) -> DetectOut:
    """Every face in a photo: box, detector score, five landmarks and quality."""
    data = await read(photo)
    name = source(photo)
    faces = await run.work(lambda: g.detector.detect(decode(data, settings.max_pixels, name=name)))
    return DetectOut.model_validate({"faces": [f.to_dict() for f in faces]})
