"""What the gallery answers, in the shape it goes out in: defined once, here. The HTTP API
serves these models as its response bodies (`service.schemas` imports them; they keep the
names its OpenAPI schema has always given them, hence `…Out`), and the CLI prints them.

Rounding is done here, once, by the type of a field: a `Cosine` (a score or a threshold) and
a `Proportion` are given to 4 decimals, a `Pixel` of an identified face's box to 0.1 px. A
result holds the values it gives out, so the API and the CLI cannot round differently.

A field a result leaves unset is null in the API's answer and absent from the CLI's JSON
(`service.cli.common.plain`): a verify against a person has no second box, a calibration may
carry no warning.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from faces.errors import FacepairError
from index.calibration import wilson

if TYPE_CHECKING:
    from index.calibration import Estimate
    from index.calibration import Rate as MeasuredRate
    from index.lookalikes import LookAlike
    from index.matching import FaceMatch
    from index.store import AlbumJob, Person, Problem, StoredFace


def four_places(value: float) -> float:
    """A cosine or a proportion as facepair gives it out: to 4 decimals."""
    return round(value, 4)


def tenth(value: float) -> float:
    """A pixel coordinate of an identified face: to 0.1 px."""
    return round(value, 1)


Cosine = Annotated[float, AfterValidator(four_places)]
Proportion = Annotated[float, AfterValidator(four_places)]
Pixel = Annotated[float, AfterValidator(tenth)]


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Named(Result):
    id: int
    name: str


class PersonOut(Result):
    id: int
    name: str
    note: str
    created: str
    faces: int
    face_id: int | None = Field(None, description="their sharpest enrolled face (its chip: "
                                "GET /v1/faces/{id}/chip)")

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(**person.to_dict())


# -- identify -------------------------------------------------------------------------------


class CandidateOut(Named):
    score: Cosine


class FaceMatchOut(Result):
    box: list[Pixel]
    detector_score: Cosine
    quality: Proportion | None = Field(
        None, description="how well the face can be told apart, 0 to 1 (size, detail, pose, "
        "detector score)")
    unrecognisable: bool = Field(
        False, description="its quality is under the floor (FACEPAIR_QUALITY_FLOOR): too poor "
        "to tell, so named as no one, and no stranger either")
    person: Named | None
    score: Cosine | None
    candidates: list[CandidateOut]
    reason: str | None = Field(None, description="why a face is unknown though its best "
                               "person reaches the threshold: 'ambiguous: look-alike of NAME' "
                               "(both are among the candidates)")

    @classmethod
    def of(cls, match: FaceMatch) -> FaceMatchOut:
        """A face of a photo, whom it was named as (None: unknown, or unrecognisable) and
        its best people."""
        person = match.person
        return cls(
            box=[float(v) for v in match.face.box],
            detector_score=float(match.face.score),
            quality=match.face.quality, unrecognisable=match.unrecognisable,
            person=None if person is None else Named(id=person.id, name=person.name),
            score=match.score if math.isfinite(match.score) else None,
            candidates=[CandidateOut(id=c.person.id, name=c.person.name, score=c.score)
                        for c in match.candidates],
            **({"reason": match.reason} if match.reason else {}),  # else unset: CLI omits it
        )


# -- look-alikes -----------------------------------------------------------------------------


class LookAlikePersonOut(Named):
    face_id: int = Field(description="their enrolled face nearest the other's (its chip: "
                         "GET /v1/faces/{id}/chip)")
    faces: int = Field(description="how many faces they have enrolled")


class LookAlikeOut(Result):
    people: list[LookAlikePersonOut]
    score: Cosine = Field(description="the best cosine between a face of one and of the other")
    different: bool = Field(description="a user said they are different people: the pair is "
                            "no longer offered as one person (identify still asks the margin)")


class LookAlikesOut(Result):
    """Enrolled people whose faces are near each other (`index.lookalikes`)."""

    level: Cosine = Field(description="the cosine from which two people look alike")
    margin: float = Field(description="what identify asks the best of two look-alikes to lead "
                          "by (FACEPAIR_LOOKALIKE_MARGIN; 0: nothing)")
    pairs: list[LookAlikeOut]

    @classmethod
    def of(cls, pairs: list[LookAlike], people: dict[int, Person], level: float,
           margin: float, different: set[tuple[int, int]] | None = None) -> LookAlikesOut:
        """`different`: the pairs (lower id, higher id) a user said are different people."""
        return cls(level=level, margin=margin, pairs=[
            LookAlikeOut(people=[LookAlikePersonOut(id=p, name=people[p].name, face_id=f,
                                                    faces=people[p].faces)
                                 for p, f in zip((pair.a, pair.b), pair.faces, strict=True)],
                         score=pair.score, different=(pair.a, pair.b) in (different or ()))
            for pair in pairs if pair.a in people and pair.b in people])


# -- thresholds ------------------------------------------------------------------------------


class Rate(Result):
    estimate: Proportion
    low: Proportion = Field(description="95 % interval (Wilson)")
    high: Proportion
    count: int
    of: int

    @classmethod
    def measured(cls, rate: MeasuredRate) -> Rate:
        low, high = wilson(rate.count, rate.of)
        return cls(estimate=rate.value, low=low, high=high, count=rate.count, of=rate.of)


class ThresholdOut(Result):
    """The identify threshold in force and what the gallery's own faces say of it."""

    threshold: Cosine
    source: str = Field(
        description="'gallery' (estimated from the enrolled faces), 'card' "
        "(the model card's) or 'manual' (calibrate --apply)"
    )
    target_fpir: float
    card_threshold: Cosine
    gallery_threshold: Cosine | None
    faces: int
    people: int
    fpir: Rate | None = Field(description="Estimated share of strangers named")
    fnir: Rate | None = Field(description="Estimated share of enrolled people missed")

    @classmethod
    def of(cls, estimate: Estimate) -> ThresholdOut:
        return cls(
            threshold=estimate.threshold, source=estimate.source,
            target_fpir=estimate.target_fpir, card_threshold=estimate.card_threshold,
            gallery_threshold=estimate.gallery_threshold, faces=estimate.faces,
            people=estimate.people,
            fpir=None if estimate.fpir is None else Rate.measured(estimate.fpir),
            fnir=None if estimate.fnir is None else Rate.measured(estimate.fnir),
        )


class StatusOut(Result):
    collection: str = Field(description="the collection whose gallery this is")
    model: str
    people: int
    faces: int
    verify_threshold: Cosine
    identify: ThresholdOut


class AtThresholdOut(Result):
    """What a threshold does to the enrolled faces: strangers named, people missed (None:
    no enrolled person has a second face)."""

    threshold: Cosine
    fpir: Proportion
    fnir: Proportion | None


class InForceOut(AtThresholdOut):
    source: str


class CalibrationOut(Result):
    model: str
    people: int
    faces: int
    probes_with_genuine: int
    current: InForceOut
    card: AtThresholdOut
    target_fpir: float
    suggested: AtThresholdOut
    applied: bool
    warning: str | None = None


# -- verify ----------------------------------------------------------------------------------


class BoxOut(Result):
    box: list[float]


class VerifySecondOut(Result):
    box: list[float] | None = None
    person: Named | None = None


class VerifyOut(Result):
    threshold: Cosine
    a: BoxOut
    b: VerifySecondOut
    score: Cosine
    same: bool


# -- enroll ----------------------------------------------------------------------------------


class EnrolledFaceOut(Result):
    id: int
    photo_id: int
    person_id: int
    box: list[float]
    score: float
    sharpness: float
    source: str
    person: PersonOut

    @classmethod
    def of(cls, face: StoredFace, person: Person) -> EnrolledFaceOut:
        return cls(**face.to_dict(), person=PersonOut.of(person))


class ErrorOut(Result):
    code: str
    message: str


class EnrollmentOut(Result):
    photo: str
    status: str = Field(description="'enrolled' or 'refused'")
    face: EnrolledFaceOut | None = None
    error: ErrorOut | None = None

    @classmethod
    def of(cls, photo: str, result: EnrolledFaceOut | FacepairError) -> EnrollmentOut:
        """One photo of several: the face enrolled from it, or the error that refused it."""
        if isinstance(result, FacepairError):
            return cls(photo=photo, status="refused",
                       error=ErrorOut(code=result.code, message=result.message))
        return cls(photo=photo, status="enrolled", face=result)

    @property
    def enrolled(self) -> bool:
        return self.status == "enrolled"


class EnrollmentsOut(Result):
    person: PersonOut
    enrolled: int
    photos: list[EnrollmentOut]

    @classmethod
    def of(cls, person: Person, photos: list[EnrollmentOut]) -> EnrollmentsOut:
        return cls(person=PersonOut.of(person), enrolled=sum(p.enrolled for p in photos),
                   photos=photos)


# -- manage ----------------------------------------------------------------------------------


class DeletedPersonOut(Result):
    deleted_person: int
    deleted_faces: int
    sidecars_scrubbed: int = Field(
        description="sidecars from which facepair's regions of the person were removed"
    )


class CollectionOut(Result):
    """A collection and its size."""

    name: str
    created: str | None = Field(description="when it was made (null: the default one)")
    people: int
    faces: int
    photos: int = Field(description="enrolled photos")


class DeletedCollectionOut(Result):
    deleted_collection: str
    revoked_keys: int


class RemovedPhotoOut(Result):
    deleted_photo: int
    deleted_faces: list[int]


class RemovedFaceOut(Result):
    deleted_face: int


class ReembedOut(Result):
    model: str
    faces: int
    dropped_other_models: int


class ProblemRowOut(BaseModel):
    path: str
    problem: str
    detail: str


class AlbumJobOut(BaseModel):
    """An album job as the API and the CLI show it: its state, counts and first problems."""

    id: int
    root_id: int
    root: str = Field(description="the name of the root (photo library) the job tags")
    folder: str = Field(description="the folder inside the root (empty: all of it)")
    path: str = Field(description="what the job tags, as root:folder")
    status: str = Field(description="queued, running, done, cancelled, failed or interrupted")
    xmp: bool
    embed: bool
    kind: str
    ray: bool = Field(description="its photos are analysed on the service's Ray cluster")
    created: str
    updated: str
    total: int
    done: int
    unchanged: int
    faces: int
    named: int
    unknown: int
    skipped: int
    failed: int
    error: str | None
    owner: str | None = Field(description="who runs the job (opaque); null while it waits")
    resumable: bool
    cancel: bool
    problems: int
    first_problems: list[ProblemRowOut]

    @classmethod
    def of(cls, job: AlbumJob, problems: int, first: list[Problem]) -> AlbumJobOut:
        from index.store import shown

        return cls(**job.to_dict(), path=shown(job.root, job.folder),
                   problems=problems,
                   first_problems=[ProblemRowOut(**p.to_dict()) for p in first])
