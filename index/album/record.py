"""The record stage: each analysed, named photo and its faces into the store, a chunk of
photos and the job's progress in one write (an interrupted run loses nothing it finished).
People a user's tag names and the gallery does not know yet are made before that write, as
the gallery's own change; the write itself is album bookkeeping only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faces.tags import fingerprint
from index.album.naming import Naming
from index.album.reading import AnalysedPhoto
from index.errors import Refused
from index.gallery import Gallery
from index.store import NewAlbumFace


@dataclass
class Tally:
    """What a run has recorded so far."""

    photos: int = 0
    faces: int = 0
    named: int = 0
    unknown: int = 0
    failed: int = 0
    unrecognisable: int = 0  # under the quality floor: neither named nor unknown
    videos: int = 0  # of the photos, those that are videos
    tracks: int = 0  # of the faces, those that are a video's tracks
    frames: int = 0  # the videos' sampled frames
    seen: int = 0  # the faces seen in them (each track is seen in one or more)

    @property
    def done(self) -> int:
        return self.photos + self.failed


class Recorder:
    def __init__(self, gallery: Gallery) -> None:
        self.gallery, self.store = gallery, gallery.store
        self._person_ids: dict[str, int | None] = {}

    def user_people(self, naming: Naming) -> list[int | None]:
        """The ids of the people the user's tags name, per face (None: no tag, or a name
        facepair cannot store); people new to the gallery are made here, before the photo is
        recorded."""
        for name in set(naming.by_user) - set(self._person_ids) - {None}:
            assert name is not None
            try:
                self._person_ids[name] = self.gallery.person_id_for(name)
            except Refused:
                self._person_ids[name] = None
        return [self._person_ids[n] if n else None for n in naming.by_user]

    def record(self, item: AnalysedPhoto, naming: Naming, people: list[int | None], job_id: int,
                tally: Tally) -> None:
        """One analysed photo and its named faces into the store (within the chunk's write);
        `people`: whom the user's tags name, per face. The faces a user drew in the photo
        stay (`AlbumsRepository.record`); a face found where one was drawn is that face,
        recorded once, as drawn."""
        if item.error is not None:
            tally.failed += 1
            return
        vectors = item.vectors if item.vectors is not None else np.empty((0, 0))
        model = self.gallery.model
        matches = naming.matches
        none: list[None] = [None] * len(matches)  # a photo's faces have no spans, no time
        ranges: Sequence[list[tuple[float, float]] | None] = item.ranges or none
        times: Sequence[float | None] = item.times or none
        kept = self.store.albums.record(
            item.ref, item.size, item.mtime, item.sha256, item.width, item.height, model,
            job_id, fingerprint(Path(item.path)),
            [NewAlbumFace(
                box=[round(float(x), 1) for x in m.face.box],
                landmarks=np.round(m.face.landmarks, 1).tolist(), score=float(m.face.score),
                chip=chip, chip_landmarks=points, model=model, vector=v,
                quality=m.face.quality,
                person_id=user if user else (m.person.id if m.person else None),
                similarity=None if user or not np.isfinite(m.score) else float(m.score),
                named_by="user" if user else None,
                candidate_id=(m.candidates[0].person.id if not user and m.person is None
                              and m.candidates else None), at=when, ranges=spans)
             for m, user, (chip, points), v, when, spans in zip(
                 matches, people, item.chips, vectors, times, ranges, strict=True)],
            duration=item.duration)
        matches, people = [matches[i] for i in kept], [people[i] for i in kept]
        named = [m for m, user in zip(matches, people, strict=True)
                 if user or m.person is not None]
        tally.photos += 1
        tally.faces += len(matches)
        if item.duration is not None:
            tally.videos += 1
            tally.tracks += len(matches)
            tally.frames += item.frames
            tally.seen += item.sampled
        unrecognisable = sum(1 for m, user in zip(matches, people, strict=True)
                             if m.unrecognisable and not user)
        tally.named += len(named)
        tally.unrecognisable += unrecognisable
        tally.unknown += len(matches) - len(named) - unrecognisable
