"""The name stage: each analysed photo's faces named by the gallery, and by the user's own face
tags (in a sidecar or the photo's XMP), which win. A video's faces are its tracks, those of one
person joined first (`index.album.video.join_tracks`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from faces.tags import PhotoTags, assign, read_tags
from index.album.reading import AnalysedPhoto
from index.album.video import join_tracks
from index.gallery import FaceMatch, Gallery


def beside(item: AnalysedPhoto, file: str) -> str:
    """A file beside a photo (its sidecar) as `root:path`, as the photo is shown."""
    folder, name = os.path.split(file)
    if not item.shown or os.path.normpath(folder) != os.path.dirname(item.path):
        return file
    root, _, inside = item.shown.partition(":")
    parent = PurePosixPath(inside).parent
    return f"{root}:{name if str(parent) == '.' else (parent / name).as_posix()}"


@dataclass
class Naming:
    """The faces of one photo, named: facepair's matches, the name a user's own tag (in a
    sidecar or the photo's XMP) gives each face, which wins, and what did not fit."""

    matches: list[FaceMatch]
    by_user: list[str | None]
    problems: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class TagCounts:
    """What the users' own face tags of a run said: regions by name (found, matched to a
    detected face), regions without a face, faces named differently by two tags, and faces
    facepair would have named otherwise."""

    regions: dict[str, int] = field(default_factory=dict)
    matched: dict[str, int] = field(default_factory=dict)
    without_face: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    differ: list[dict[str, Any]] = field(default_factory=list)


class Namer:
    """Names analysed photos; what the users' tags said over a run is in `tags`.
    `people`: only these names of theirs are taken (default: every name)."""

    def __init__(self, gallery: Gallery, people: set[str] | None = None) -> None:
        self.gallery, self.people = gallery, people
        self.tags = TagCounts()

    def name(self, item: AnalysedPhoto, threshold: float) -> Naming:
        """The faces of one analysed photo, named by facepair and by the user's own tags
        (none for a photo that failed)."""
        if item.error is not None:
            return Naming([], [])
        if item.ranges is not None:  # a video: its tracks of one person as one
            join_tracks(item, threshold)
        vectors = item.vectors if item.vectors is not None else np.empty((0, 0))
        matches = self.gallery.match(item.faces, vectors, threshold) if item.faces else []
        naming = Naming(matches, [None] * len(matches))
        if item.ranges is None:  # (a video's tags mark no faces: a region is of one frame)
            self._apply_tags(item, read_tags(Path(item.path)), naming)
        return naming

    def _apply_tags(self, item: AnalysedPhoto, tags: PhotoTags, naming: Naming) -> None:
        """The user's names win: a face that a tag of theirs marks is theirs to name. A tag
        with no face under it, a face two tags name differently, and a face facepair would
        have named otherwise are reported, never guessed at."""
        path = item.shown or item.path
        naming.problems += [(beside(item, file), "tags_unreadable", detail)
                            for file, detail in tags.problems]
        counts = self.tags
        boxes = [m.face.box for m in naming.matches]
        chosen = assign([f.box for f in tags.faces], boxes)
        for i, tagged in enumerate(tags.faces):
            names = [n for n in tagged.names if self.people is None or n in self.people]
            if not names:
                continue
            where = {"path": path, "box": [round(v, 1) for v in tagged.box],
                     "sources": sorted({t.source for t in tagged.tags})}
            for name in names:
                counts.regions[name] = counts.regions.get(name, 0) + 1
            if i not in chosen:
                counts.without_face.append({**where, "names": names})
                naming.problems.append((path, "tag_without_face",
                                        f"{' / '.join(names)}: no face found in the region"))
                continue
            if len(tagged.names) > 1:
                counts.conflicts.append({**where, "names": tagged.names})
                naming.problems.append((path, "tag_conflict", "one face is named "
                                        + " and ".join(repr(n) for n in tagged.names)))
                continue
            name, match = names[0], naming.matches[chosen[i]]
            counts.matched[name] = counts.matched.get(name, 0) + 1
            naming.by_user[chosen[i]] = name
            if match.person is not None and match.person.name != name:
                counts.differ.append({**where, "tag": name, "facepair": match.person.name})
                naming.problems.append((path, "name_differs", f"the photo's tag names "
                                        f"{name!r} where facepair sees {match.person.name!r}; "
                                        "the tag's name is kept"))
