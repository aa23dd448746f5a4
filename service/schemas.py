"""The HTTP API's request and response bodies, and the error answers every route documents.

What the gallery answers (a status, a verification, an enrolled face, …) is defined once, in
`index.results`, and the routes serve it as it is; the shapes here are the API's own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, Field, model_validator

from index.results import CollectionOut, Cosine, FaceMatchOut, Named, PersonOut, ThresholdOut
from service.keys import HEADER
from service.problems import MEDIA, Problem

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {MEDIA: {}}, "description": d}
    for code, d in (
        (400, "Bad input"),
        (401, "No or unknown API key"),
        (403, "The key's scope is too small"),
        (404, "Not found"),
        (413, "Upload or photo too large"),
        (415, "Not a photo"),
        (422, "Invalid request, or no usable face"),
    )
}

Id = Annotated[int, PathParam(ge=1, le=2**62, description="An id from this API.")]


def _utf8(value: str | None) -> str | None:
    if value is not None:
        value.encode("utf-8")  # lone surrogates (valid JSON escapes) are no text to store
    return value


Text = Annotated[str, AfterValidator(_utf8)]


class PersonIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    note: Text = Field("", max_length=2000)


class PersonPatch(BaseModel):
    name: Text | None = Field(None, min_length=1, max_length=200)
    note: Text | None = Field(None, max_length=2000)


class MergeIn(BaseModel):
    other: int = Field(ge=1, le=2**62, description="The person merged into this one.")


class IdentifyOut(BaseModel):
    threshold: Cosine
    threshold_in_force: ThresholdOut | None = Field(
        description="The gallery's threshold, its source and estimated rates (null when the "
        "request gave a threshold)"
    )
    faces: list[FaceMatchOut]


class AlbumJobIn(BaseModel):
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="A folder on the server, inside FACEPAIR_ALBUM_ROOTS: its path there, "
        "or root:path (a folder inside a root, by the root's name).",
    )
    xmp: bool = Field(False, description="Write XMP sidecars next to the photos.")
    embed: bool = Field(False, description="With xmp: write the XMP into the JPEGs "
                        "themselves (only their XMP changes), not into sidecars.")
    kind: Literal["tag", "import-tags"] = Field(
        "tag", description="tag: name every face of the album. import-tags: read the face "
        "tags other tools wrote (MWG and Microsoft regions), record the faces they name and "
        "enroll a few per person.")
    ray: bool = Field(False, description="tag only: analyse the photos on the service's Ray "
                      "cluster (FACEPAIR_RAY_ADDRESS) instead of its own worker processes.")


class PersonPhotoOut(BaseModel):
    photo_id: int
    face_id: int
    box: list[float]
    source: str


class PersonDetailOut(PersonOut):
    photos: list[PersonPhotoOut]


class PeopleOut(BaseModel):
    people: list[PersonOut]


class FaceOut(BaseModel):
    box: list[float]
    score: float
    landmarks: list[list[float]]
    quality: float | None = Field(
        None, description="how well the face can be told apart, 0 to 1 (size, detail, pose, "
        "detector score); under FACEPAIR_QUALITY_FLOOR identify answers it as unrecognisable")


class DetectOut(BaseModel):
    faces: list[FaceOut]


class EnrolledFaceRowOut(BaseModel):
    id: int
    box: list[float]
    added: str
    source: str


class AlbumFaceRowOut(BaseModel):
    id: int
    box: list[float]
    photo_id: int
    path: str
    similarity: float | None
    named_by: str | None = Field(description="user: a tag of the user's, or their answer; "
                                  "context: the library's named faces like it; null: the gallery")
    tagged: str


class PersonFacesOut(BaseModel):
    person: PersonOut
    enrolled: list[EnrolledFaceRowOut]
    album_count: int = Field(description="the album faces named as them, all pages")
    album: list[AlbumFaceRowOut] = Field(description="a page of them, newest first")


class NotThisIn(BaseModel):
    face_id: int = Field(ge=1)
    kind: Literal["enrolled", "album"] = Field(
        description="an enrolled face of theirs, or an album face named as them")


class NotThisOut(BaseModel):
    person: PersonOut
    face_id: int
    kind: str


class ThisIsIn(BaseModel):
    """Who a face is: a person by id, or by name (made where nobody is named so)."""

    name: Text | None = Field(None, min_length=1, max_length=400,
                              description="their name: that person, or a new one")
    person_id: int | None = Field(None, ge=1, le=2**62, description="or their id")

    @model_validator(mode="after")
    def one_of_them(self) -> ThisIsIn:
        if (self.name is None) == (self.person_id is None):
            raise ValueError("give the face's person by name or by person_id (one of them)")
        return self


class ThisIsOut(BaseModel):
    face_id: int
    kind: Literal["enrolled", "album"]
    person: PersonOut = Field(description="whose face it is now")
    previous: PersonOut | None = Field(description="whose it was (null: no one's); it is "
                                       "never named as them again")
    enrolled: bool = Field(description="whether it is an enrolled face of theirs (an album "
                           "face: while they have fewer than 20, and no near-copy of one)")


class DifferentIn(BaseModel):
    people: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        min_length=2, max_length=2, description="the two people's ids")


class DifferentOut(BaseModel):
    people: list[PersonOut]
    different: bool


class RootOut(BaseModel):
    id: int
    name: str
    created: str
    hint: str | None = Field(description="the folder the root was first found at")
    folder: str | None = Field(description="its folder on this host (null: none here)")
    source: str | None = Field(description="where this host has its folder from: setting "
                               "(FACEPAIR_ROOTS), home (registered by this host), hint")


class RootsOut(BaseModel):
    roots: list[RootOut]


class FolderOut(BaseModel):
    path: str
    name: str


class FoldersOut(BaseModel):
    path: str | None = Field(description="the folder listed (null: the allowed roots)")
    parent: str | None
    folders: list[FolderOut]


class AlbumPhotoFaceOut(BaseModel):
    id: int
    box: list[float]
    person: Named | None
    named_by: str | None
    drawn: bool = Field(False, description="drawn by hand, not found by the detector")
    times: list[list[float]] | None = Field(
        None, description="a video's face (a face followed across frames): the spans it is "
        "seen over, [start, end] in seconds; null for a photo's")


class DrawnFaceIn(BaseModel):
    box: list[float] = Field(min_length=4, max_length=4,
                             description="x1, y1, x2, y2 of the face in the photo's pixels")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="who it is (null: as the gallery names it)")


class DrawnFaceOut(BaseModel):
    id: int
    photo_id: int
    box: list[float]
    quality: float | None = Field(description="faces.quality, in [0, 1]")
    unrecognisable: bool = Field(description="under the quality floor: kept, but never "
                                 "enrolled, suggested or grouped")
    landmarks: Literal["found", "box"] = Field(
        description="found: by the detector inside the box; box: placed in the box alone")
    person: Named | None
    named_by: str | None
    enrolled: bool


class AlbumPhotoOut(BaseModel):
    id: int
    root: str = Field(description="the name of the photo's root (its library)")
    path: str = Field(description="the photo as root:path, its path inside the root")
    local: str | None = Field(description="its file on this host (null: its root has no "
                              "folder here)")
    width: int
    height: int
    duration: float | None = Field(None, description="a video's length in seconds (null: a "
                                   "photo); its faces are its tracks, each with its times")
    faces: list[AlbumPhotoFaceOut]


class VideoPersonOut(BaseModel):
    face_id: int = Field(description="the face (a track) that shows them; its chip at "
                         "/v1/album-faces/{id}/chip")
    person: Named | None = Field(description="null: unknown, or unrecognisable")
    named_by: str | None
    times: list[list[float]] = Field(description="[start, end] seconds they are seen over")


class VideoPeopleOut(BaseModel):
    id: int
    path: str = Field(description="the video as root:path")
    duration: float = Field(description="its length in seconds")
    people: list[VideoPersonOut] = Field(description="in the order they first appear")


class AlbumPhotosOut(BaseModel):
    count: int
    photos: list[AlbumPhotoOut]


class PhotosWithOut(AlbumPhotosOut):
    people: list[Named] = Field(description="the people asked for; every photo shows all of "
                                "them")


class ClusterOut(BaseModel):
    id: int
    faces: int
    photos: int
    examples: list[str]
    face_ids: list[int]


class ClustersOut(BaseModel):
    clusters: list[ClusterOut]


class ClusterNameIn(BaseModel):
    name: str = Field(min_length=1, max_length=400)


class NamedClusterOut(BaseModel):
    person: PersonOut
    enrolled_faces: int
    photos: int
    sidecars_written: int


class HiddenOut(BaseModel):
    hidden: int


class SplitOut(BaseModel):
    face_id: int


class SupportingFaceOut(BaseModel):
    face_id: int = Field(description="an album face named as the suggested person")
    score: float = Field(description="its cosine with the suggested face")


class SupportOut(BaseModel):
    faces: int = Field(description="album faces in other photos named as the suggested person "
                       "(by the gallery or the user) that are confidently like this face")
    closest: list[SupportingFaceOut]


class SuggestionOut(BaseModel):
    face_id: int
    score: float
    person: Named
    photo_id: int
    path: str
    support: SupportOut


class SuggestionsOut(BaseModel):
    waiting: int
    threshold: float
    suggestions: list[SuggestionOut]


class AnswerIn(BaseModel):
    answer: Literal["yes", "no", "skip"]


class AnswerOut(BaseModel):
    face_id: int
    answer: str
    person_id: int
    enrolled: bool


class CancelOut(BaseModel):
    id: int
    status: str


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=40, description="1 to 40 lowercase letters, "
                      "digits, '_' and '-' (read as '_'), starting with a letter or a digit")


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]


class CurrentCollectionOut(BaseModel):
    name: str = Field(description="The collection this request works in")
    scope: str | None = Field(description="The key's scope in it (null: the service runs "
                              "without keys)")
    every_collection: bool = Field(description="Whether the key works in every collection "
                                   f"(naming one in {HEADER})")
