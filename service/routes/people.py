"""People: create, list, show, rename, merge, delete; enroll their photos; their faces,
"not this person" and "this is …"; the people who look alike, and those who are different
people."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from index import curation
from index.results import (
    DeletedPersonOut,
    EnrolledFaceOut,
    EnrollmentsOut,
    LookAlikesOut,
    PersonOut,
    RemovedPhotoOut,
)
from service.deps import G, Run, need, parse_box, read, source
from service.problems import ApiError
from service.schemas import (
    DifferentIn,
    DifferentOut,
    Id,
    MergeIn,
    NotThisIn,
    NotThisOut,
    PeopleOut,
    PersonDetailOut,
    PersonFacesOut,
    PersonIn,
    PersonPatch,
    ThisIsIn,
    ThisIsOut,
)

router = APIRouter(tags=["people"])


@router.post("/v1/people", status_code=201, dependencies=[need("write")])
async def create_person(run: Run, body: PersonIn, g: G) -> PersonOut:
    person = await run.work(g.create_person, body.name, body.note, write=True)
    return PersonOut(**person.to_dict())


@router.get("/v1/people", dependencies=[need("read")])
async def list_people(run: Run, g: G) -> PeopleOut:
    people = await run.work(g.people)
    return PeopleOut(people=[PersonOut(**p.to_dict()) for p in people])


@router.get("/v1/lookalikes", dependencies=[need("read")])
async def lookalikes(
    run: Run, g: G,
    level: Annotated[float | None, Query(ge=-1.0, le=1.0, description="The cosine from which "
                                         "two people look alike (default: the identify "
                                         "threshold in force).")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only the pairs not said to "
                                     "be different people.")] = False,
) -> LookAlikesOut:
    """Enrolled people whose faces are near each other (siblings, twins, one person enrolled
    under two names), nearest first, each with the two faces that make them so. Identify
    names either of two look-alikes only when the best leads by the margin. Each pair says
    whether a user said they are `different` people; `open=true` leaves those pairs out (the
    pairs still offered as one person enrolled twice)."""
    return await run.work(g.lookalikes, level, False, open_only)


@router.post("/v1/lookalikes/different", dependencies=[need("write")])
async def different_people(run: Run, body: DifferentIn, g: G) -> DifferentOut:
    """Remember that two people are different people: their pair is no longer offered as one
    person (`different: true`). Identify still asks the look-alike margin between them."""
    a, b = body.people
    return DifferentOut.model_validate(await run.work(curation.different_people, g, a, b,
                                                      write=True))


@router.get("/v1/people/{person_id}", dependencies=[need("read")])
async def get_person(run: Run, person_id: Id, g: G) -> PersonDetailOut:
    def get() -> PersonDetailOut:
        person = g.store.people.get(person_id)
        return PersonDetailOut.model_validate(
            {
                **person.to_dict(),
                "photos": [
                    {"photo_id": f.photo_id, "face_id": f.id, "box": f.box, "source": f.source}
                    for f in g.store.faces.of_person(person_id)
                ],
            }
        )

    return await run.work(get)


@router.patch("/v1/people/{person_id}", dependencies=[need("write")])
async def update_person(run: Run, person_id: Id, body: PersonPatch, g: G) -> PersonOut:
    person = await run.work(g.update_person, person_id, body.name, body.note, write=True)
    return PersonOut(**person.to_dict())


@router.delete("/v1/people/{person_id}", dependencies=[need("write")])
async def delete_person(run: Run, person_id: Id, g: G) -> DeletedPersonOut:
    """Delete a person for good: rows, face chips, embeddings and index entries."""
    return await run.work(g.delete_person, person_id, write=True)


@router.post("/v1/people/{person_id}/merge", dependencies=[need("write")])
async def merge_people(run: Run, person_id: Id, body: MergeIn, g: G) -> PersonOut:
    person = await run.work(g.merge, person_id, body.other, write=True)
    return PersonOut(**person.to_dict())


@router.post("/v1/people/{person_id}/photos", status_code=201, dependencies=[need("write")])
async def enroll(
    run: Run,
    person_id: Id,
    g: G,
    photo: Annotated[UploadFile, File(description="A photo of them")],
    face: Annotated[Literal["center", "largest"] | None, Form()] = None,
    box: Annotated[str | None, Form(max_length=200, description="x1,y1,x2,y2 of the face")] = None,
) -> EnrolledFaceOut:
    """Enroll one face of a photo; 422 names why a photo cannot be used (`no_face`,
    `several_faces`, `face_too_small`, `unrecognisable_face`, `duplicate_photo`). In a photo
    of several faces, without `face` or `box`, the one face that matches the person's enrolled
    faces."""
    where = parse_box(box) if box else None
    data = await read(photo)
    await run.work(g.store.people.get, person_id)  # 404 before any decoding
    return await run.work(
        g.enroll, person_id, data, source=source(photo), face=face, box=where, write=True
    )


@router.post("/v1/people/{person_id}/enrollments", dependencies=[need("write")])
async def enroll_several(
    run: Run,
    person_id: Id,
    g: G,
    photos: Annotated[list[UploadFile], File(description="Photos of them (1–50)")],
    face: Annotated[Literal["center", "largest"] | None, Form()] = None,
) -> EnrollmentsOut:
    """Enroll one face of each photo. A photo of one face gives that face; in a photo of
    several, without `face`, the one face that matches the person's other photos of this
    call and their enrolled faces (above the verify threshold, and no other face does);
    otherwise it is refused as `several_faces`. Per photo: `enrolled` with the face, or
    `refused` with the reason."""
    if not 1 <= len(photos) <= 50:
        raise ApiError(422, "invalid_request", "send 1 to 50 photos")
    data = [await read(p) for p in photos]
    await run.work(g.store.people.get, person_id)  # 404 before any decoding
    results = await run.work(
        g.enroll_photos, person_id, data, [source(p) for p in photos], face, write=True
    )
    person = await run.work(g.store.people.get, person_id)
    return EnrollmentsOut.of(person, results)


@router.get("/v1/people/{person_id}/faces", dependencies=[need("read")])
async def person_faces(run: Run, person_id: Id, g: G,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       offset: Annotated[int, Query(ge=0)] = 0) -> PersonFacesOut:
    """Their enrolled faces, and the album faces named as them (a page at a time), newest
    first."""
    return PersonFacesOut.model_validate(
        await run.work(curation.person_faces, g, person_id, limit, offset))


@router.post("/v1/people/{person_id}/not-this", dependencies=[need("write")])
async def not_this_person(run: Run, person_id: Id, body: NotThisIn, g: G) -> NotThisOut:
    """Take a face away from them, for good: it is never named as them again."""
    return NotThisOut.model_validate(await run.work(
        curation.not_this_person, g, person_id, body.face_id, body.kind, write=True))


@router.post("/v1/faces/{face_id}/person", dependencies=[need("write")])
async def enrolled_face_is(run: Run, face_id: Id, body: ThisIsIn, g: G) -> ThisIsOut:
    """"This is …": an enrolled face becomes another person's (by id, or by name: made where
    nobody is named so), with its chip and landmarks; it is never named as the one it was
    again. 409: it is that person's already."""
    return ThisIsOut.model_validate(await run.work(
        curation.this_is, g, face_id, "enrolled", body.name, body.person_id, write=True))


CHIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "the face chip (JPEG)"}}


@router.get("/v1/faces/{face_id}/chip", dependencies=[need("read")], response_class=Response,
            responses=CHIP)
async def face_chip(run: Run, face_id: Id, g: G) -> Response:
    """An enrolled face's chip: the face aligned, with a margin."""
    chip = await run.work(g.store.faces.chip, face_id)
    return Response(chip, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.delete("/v1/people/{person_id}/photos/{photo_id}", dependencies=[need("write")])
async def remove_photo(run: Run, person_id: Id, photo_id: Id, g: G) -> RemovedPhotoOut:
    return await run.work(g.remove_photo, person_id, photo_id, write=True)
