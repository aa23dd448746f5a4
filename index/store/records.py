"""What the store hands out: plain records, decoded (boxes as lists, vectors as arrays)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np


class Record:
    """A record as a plain dict (the JSON the CLI prints, the fields an API model takes)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Person(Record):
    id: int
    name: str
    note: str
    created: str
    faces: int = 0
    face_id: int | None = None  # the sharpest enrolled face: the person's picture



@dataclass(frozen=True)
class StoredFace:
    """An enrolled face with the name of the photo it came from."""

    id: int
    photo_id: int
    person_id: int
    box: list[float]
    landmarks: list[list[float]]
    score: float
    sharpness: float
    source: str
    added: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "photo_id": self.photo_id, "person_id": self.person_id,
                "box": self.box, "score": self.score, "sharpness": self.sharpness,
                "source": self.source}


@dataclass(frozen=True)
class NewFace:
    """A face to enroll: where it is in its photo, and its chip."""

    photo_id: int
    person_id: int
    box: list[float]
    landmarks: list[list[float]]
    score: float
    sharpness: float
    chip: bytes
    chip_landmarks: list[list[float]]


@dataclass(frozen=True)
class Chip:
    """A stored face chip (JPEG) and its landmarks: what any later model embeds again."""

    face_id: int
    jpeg: bytes
    landmarks: list[list[float]]


@dataclass(frozen=True)
class Embedded:
    """Every face embedded by one model: ids, their people, an N×D float32 matrix."""

    face_ids: np.ndarray
    person_ids: np.ndarray
    vectors: np.ndarray


class NearestFaces(NamedTuple):
    """An enrolled face's best score against another person's face, and against its own."""

    impostor: float
    impostor_face: int
    genuine: float | None
    genuine_face: int | None


@dataclass(frozen=True)
class PhotoState:
    """What the store knows of a tagged photo's file."""

    size: int
    mtime: float
    sha256: str
    model: str
    tags: str


@dataclass(frozen=True)
class Root(Record):
    """A photo library by name; where it lives is each host's own (`index.roots`). `hint`:
    the folder it was first found at."""

    id: int
    name: str
    created: str
    hint: str | None


class PhotoRef(NamedTuple):
    """An album photo by its root and its path inside it (POSIX)."""

    root_id: int
    path: str


def shown(root: str, path: str) -> str:
    """A root and a path inside it as one text: `family:2020/a.jpg` (`family` for the root
    itself)."""
    return f"{root}:{path}" if path else root


class InRoot:
    """A record of something in a photo library: its root (id and name) and its path."""

    root_id: int
    root: str
    path: str

    @property
    def ref(self) -> PhotoRef:
        return PhotoRef(self.root_id, self.path)

    @property
    def shown(self) -> str:
        """Its photo as `root:path`."""
        return shown(self.root, self.path)


@dataclass(frozen=True)
class AlbumPhoto(InRoot):
    id: int
    root_id: int
    root: str  # its root's name
    path: str  # inside its root
    width: int
    height: int
    sha256: str = ""
    tagged: str = ""
    duration: float | None = None  # a video's length in seconds; None: a photo


@dataclass(frozen=True)
class NewAlbumFace:
    """A face found in a tagged photo, as the album job records it."""

    box: list[float]
    landmarks: list[list[float]]
    score: float
    chip: bytes
    chip_landmarks: list[list[float]]
    model: str
    vector: np.ndarray
    person_id: int | None = None
    similarity: float | None = None
    named_by: str | None = None
    candidate_id: int | None = None
    quality: float | None = None  # faces.quality
    # a video's face (one track): the time of the frame it is from, and the spans (start, end
    # seconds) it is seen over
    at: float | None = None
    ranges: list[tuple[float, float]] | None = None


@dataclass(frozen=True)
class AlbumFace(InRoot):
    """A face found in a tagged photo, with that photo; what naming, enrolling and
    excluding it need."""

    id: int
    photo_id: int
    box: list[float]
    landmarks: list[list[float]]
    score: float
    chip: bytes
    chip_landmarks: list[list[float]]
    model: str
    vector: np.ndarray
    person_id: int | None
    similarity: float | None
    cluster: int | None
    named_by: str | None
    candidate_id: int | None
    root_id: int
    root: str  # its photo's root's name
    path: str  # its photo's path inside the root
    sha256: str
    width: int
    height: int
    xmp: bool = False  # whether the job that found it wrote sidecars
    quality: float | None = None  # faces.quality; None: recorded before it was measured


@dataclass(frozen=True)
class AlbumFaceSummary:
    """A face of a tagged photo as lists show it."""

    id: int
    photo_id: int
    box: list[float]
    person_id: int | None
    name: str | None
    named_by: str | None
    similarity: float | None = None
    path: str = ""  # its photo as `root:path`
    tagged: str = ""
    drawn: bool = False  # drawn by a user's hand, not found by the detector
    times: list[tuple[float, float]] | None = None  # a video's face: the spans it is seen


@dataclass(frozen=True)
class Cluster:
    """A group of unknown faces that look alike."""

    id: int
    faces: int
    photos: int
    paths: list[str]  # as `root:path`


@dataclass(frozen=True)
class Suggestion:
    """An unknown album face that came close to someone."""

    face_id: int
    similarity: float
    candidate_id: int
    name: str
    vector: np.ndarray
    path: str  # its photo as `root:path`
    photo_id: int


@dataclass(frozen=True)
class ReportFace:
    chip: bytes
    similarity: float | None
    cluster: int | None
    path: str  # its photo as `root:path`
    name: str | None


@dataclass(frozen=True)
class AlbumJob(Record):
    id: int
    root_id: int
    root: str  # the root's name
    folder: str  # inside the root ("": all of it)
    status: str
    xmp: bool
    embed: bool
    kind: str
    ray: bool  # run on the Ray cluster (FACEPAIR_RAY_ADDRESS) by whichever process takes it
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
    owner: str | None
    resumable: bool
    cancel: bool
    lease_until: float | None = None



@dataclass(frozen=True)
class Problem(Record):
    path: str
    problem: str
    detail: str



@dataclass(frozen=True)
class ApiKey(Record):
    id: int
    name: str
    scope: str
    created: str
    last_used: str | None
    collection: str | None  # None: every collection (an admin key of the server)


@dataclass(frozen=True)
class Collection(Record):
    name: str
    created: str



@dataclass(frozen=True)
class Change:
    """One row of the change feed (`schema.changes`)."""

    id: int
    kind: str
    face_id: int | None
    person_id: int | None
    model: str | None


# the `named_by` of a face the user named: by their own tag in the photo, or in facepair
BY_USER = ("user", "answer")


@dataclass(frozen=True)
class AlbumFaceTable:
    """Every album face of one model as arrays, row by row: what the album's own context is
    read from. `person_ids` (-1: no one) with `named_by` (None: facepair's gallery; 'user';
    'answer'; 'context'); `candidate_ids` (-1: none) and `similarity` (NaN: none) are the
    best person of a face the gallery left unnamed, or the score of the one it named."""

    ids: np.ndarray
    photo_ids: np.ndarray
    person_ids: np.ndarray
    named_by: list[str | None]
    candidate_ids: np.ndarray
    similarity: np.ndarray
    vectors: np.ndarray
    boxes: np.ndarray  # x1, y1, x2, y2
    photos: dict[int, tuple[str, int, int]]  # photo id → `root:path`, width, height
