"""Curating a gallery by hand, as the web app does it: a person's faces, "not this person",
"this is …", look-alikes that are different people, clusters of unknown faces to name, split
or hide, suggestions to confirm, the photos of a tagged folder, and the photos of one person
or of several together.

"Not this person" removes a face from someone and remembers its vector for them
(`Gallery.exclude`): that face, from whatever photo, is never named as them again. "This is
…" does that too, and gives the face to the person named (made where there is none). A suggestion
is an unknown album face whose best candidate scored within SUGGEST_BAND under the identify
threshold; "yes" names it and enrolls it (up to SUGGEST_CAP faces a person, none a near-copy of
one enrolled), "no" remembers it is not them, "skip" puts it aside.

A face the detector did not find may be drawn by hand on a tagged photo (`draw_face`): it is
aligned and embedded as a found face is (`index.album.drawn`), kept even under the quality
floor (the user saw a face there) and through later runs over its photo. Named, it is the
user's (and enrolled, as a confirmed suggestion is, unless it is unrecognisable); unnamed,
the gallery names it as it names a found face.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from faces.boxes import SAME_REGION_IOU, iou
from faces.errors import FacepairError, NotFound
from index.album.clusters import enroll_album_face
from index.album.drawn import drawn_face
from index.errors import Conflict, FaceExists, PhotoChanged, Refused
from index.files import sha256_of
from index.gallery import NEAR_COPY, Gallery
from index.names import checked_name
from index.quality import under_floor
from index.store import AlbumFace, AlbumFaceSummary, AlbumPhoto, NewAlbumFace, Suggestion

SUGGEST_BAND = 0.08  # how far under the threshold a face may score to be suggested
SUGGEST_CAP = 20  # a person's enrolled faces, at most, that suggestions add to
SUPPORT_SHOWN = 3  # the named album faces shown beside a suggestion, at most
DRAWN_MIN = 8  # px: the shorter side of a face drawn by hand, at least


def person_faces(gallery: Gallery, person_id: int, limit: int = 100, offset: int = 0
                 ) -> dict[str, Any]:
    """A person's enrolled faces, and the album faces named as them (how many, and a page of
    them), newest first."""
    person = gallery.store.people.get(person_id)
    return {
        "person": person.to_dict(),
        "enrolled": [{"id": f.id, "box": f.box, "added": f.added, "source": f.source}
                     for f in gallery.store.faces.of_person(person_id, newest_first=True)],
        "album_count": gallery.store.albums.count_named(person_id),
        "album": [{"id": f.id, "box": f.box, "photo_id": f.photo_id, "path": f.path,
                   "similarity": f.similarity, "named_by": f.named_by, "tagged": f.tagged}
                  for f in gallery.store.albums.faces_named(person_id, limit, offset)],
    }


def not_this_person(gallery: Gallery, person_id: int, face_id: int,
                    kind: Literal["enrolled", "album"]) -> dict[str, Any]:
    """Take a face away from a person and remember it is not them."""
    person = gallery.store.people.get(person_id)
    if kind == "enrolled":
        face = gallery.store.faces.get(face_id)
        if face.person_id != person_id:
            raise Refused("not_theirs", f"face {face_id} is not one of {person.name}'s")
        embedded = gallery.store.embeddings.of_model(gallery.model, person_id)
        vector = embedded.vectors[list(embedded.face_ids).index(face_id)]
        gallery.remove_face(face_id)
    else:
        found = gallery.store.albums.face(face_id)
        if found.person_id != person_id:
            raise Refused("not_theirs", f"album face {face_id} is not named as {person.name}")
        vector = found.vector
        gallery.store.clusters.name_face(face_id, None, by_user=True)
        gallery.sync_sidecars([found.ref])  # the region facepair wrote of them goes
    gallery.exclude(person_id, vector)
    return {"person": gallery.store.people.get(person_id).to_dict(), "face_id": face_id,
            "kind": kind}


def this_is(gallery: Gallery, face_id: int, kind: Literal["enrolled", "album"],
            name: str | None = None, person_id: int | None = None) -> dict[str, Any]:
    """A face becomes another person's: `person_id`, or the person of that `name` (made where
    there is none). The person it was is told it is not them, as `not_this_person` does. An
    album face is named by the user (the XMP facepair wrote in its photo names the new one,
    no longer the one it was) and enrolled for them while they have room
    (`_enroll_if_room`), or, where it was enrolled for the one it was, that enrolled face
    moves with it. An enrolled face moves with its chip, landmarks and vectors. Naming a face
    as its own person is a conflict."""
    if kind == "enrolled":
        enrolled_face = gallery.store.faces.get(face_id)
        before: int | None = enrolled_face.person_id
        embedded = gallery.store.embeddings.of_model(gallery.model, before)
        vector = embedded.vectors[list(embedded.face_ids).index(face_id)]
    else:
        found = gallery.store.albums.face(face_id)
        before, vector = found.person_id, found.vector
    target = _whom(gallery, name, person_id)
    if target is not None and target == before:
        who = gallery.store.people.get(target).name
        raise Conflict(f"{'album ' if kind == 'album' else ''}face {face_id} is {who}'s "
                       f"already")
    if target is None:
        target = gallery.person_id_for(str(name))
    if before is not None:
        gallery.exclude(before, vector)
    if kind == "enrolled":
        gallery.move_face(face_id, target)
        enrolled = True
    else:
        gallery.store.clusters.name_face(face_id, target, by_user=True)
        copy = _enrolled_copy(gallery, found, before)
        if copy is not None:
            gallery.move_face(copy, target)
        enrolled = copy is not None or _enroll_if_room(gallery, target, found,
                                                       note="named by the user")
        gallery.sync_sidecars([found.ref])
    return {"face_id": face_id, "kind": kind,
            "person": gallery.store.people.get(target).to_dict(),
            "previous": None if before is None else gallery.store.people.get(before).to_dict(),
            "enrolled": enrolled}


def _whom(gallery: Gallery, name: str | None, person_id: int | None) -> int | None:
    """The person named by id (404 where there is none) or by name (None: nobody is named
    so yet; a name facepair cannot store is refused)."""
    if person_id is not None:
        return gallery.store.people.get(person_id).id
    found = gallery.store.people.by_name(checked_name(name or ""))
    return None if found is None else found.id


def _enrolled_copy(gallery: Gallery, face: AlbumFace, person_id: int | None) -> int | None:
    """The enrolled face of `person_id` that is this album face (same photo, same place), if
    it was enrolled for them."""
    photo_id = None if person_id is None else gallery.store.faces.photo_id(face.sha256)
    if photo_id is None:
        return None
    return next((f.id for f in gallery.store.faces.in_photo(photo_id)
                 if f.person_id == person_id and iou(f.box, face.box) > 0.5), None)


def different_people(gallery: Gallery, a: int, b: int) -> dict[str, Any]:
    """Remember that two people are different people: their pair of look-alikes is no longer
    offered as one person enrolled twice (identify still asks them the look-alike margin)."""
    if a == b:
        raise Refused("same_person", "a person cannot be told apart from themselves")
    people = [gallery.store.people.get(a).to_dict(), gallery.store.people.get(b).to_dict()]
    gallery.store.different.mark(a, b)
    return {"people": people, "different": True}


def suggestions(gallery: Gallery, limit: int = 20) -> dict[str, Any]:
    """Unknown album faces that came close to someone, closest first, and how many wait
    (none under the quality floor: `index.quality`)."""
    threshold = gallery.threshold()
    waiting, rows = gallery.store.clusters.suggestions(threshold - SUGGEST_BAND, threshold,
                                                       limit * 4, gallery.settings.quality_floor)
    kept = [row for row in rows  # a face the user said is not them is no suggestion
            if not gallery.excluded(row.candidate_id, row.vector)]
    waiting -= len(rows) - len(kept)
    kept = kept[:limit]
    found = [{"face_id": row.face_id, "score": round(row.similarity, 4),
              "person": {"id": row.candidate_id, "name": row.name},
              "photo_id": row.photo_id, "path": row.path, "support": support}
             for row, support in zip(kept, _support(gallery, kept), strict=True)]
    return {"waiting": max(0, waiting), "threshold": round(threshold, 4),
            "suggestions": found}


def _support(gallery: Gallery, rows: list[Suggestion]) -> list[dict[str, Any]]:
    """For each suggestion, the album faces named as its person (by the gallery or the
    user, in other photos) at least as like it as the card's one-to-one threshold at
    `FACEPAIR_CONTEXT_LINK_FAR`: how many, and the closest few."""
    if not rows:
        return []
    ids, photos, owners, vectors = gallery.store.albums.named_as(
        sorted({row.candidate_id for row in rows}), gallery.model)
    link = gallery.threshold(far=gallery.settings.context_link_far)
    out = []
    for row in rows:
        mine = (owners == row.candidate_id) & (photos != row.photo_id)
        theirs = ids[mine]
        scores = vectors[mine] @ row.vector if mine.any() else np.empty(0)
        linked = np.flatnonzero(scores >= link)
        closest = linked[np.argsort(-scores[linked])][:SUPPORT_SHOWN]
        out.append({"faces": len(linked),
                    "closest": [{"face_id": int(theirs[i]), "score": round(float(scores[i]), 4)}
                                for i in closest.tolist()]})
    return out


def answer(gallery: Gallery, face_id: int, reply: Literal["yes", "no", "skip"]
           ) -> dict[str, Any]:
    """Yes: the face is that person's (and enrolled, while they have room and it is no
    near-copy). No: it is not them, remembered. Skip: not asked again."""
    found = gallery.store.albums.face(face_id)
    if found.person_id is not None or found.candidate_id is None:
        raise Refused("not_a_suggestion", f"album face {face_id} waits for no answer")
    person_id, enrolled = found.candidate_id, False
    if reply == "skip":
        gallery.store.clusters.skip(face_id)
    elif reply == "no":
        gallery.store.clusters.reject_candidate(face_id)
        gallery.exclude(person_id, found.vector)
    else:
        gallery.store.clusters.name_face(face_id, person_id, by_user=True)
        enrolled = _enroll_if_room(gallery, person_id, found, "confirmed as a suggestion")
        gallery.sync_sidecars([found.ref])  # where facepair wrote the photo's XMP
    return {"face_id": face_id, "answer": reply, "person_id": person_id, "enrolled": enrolled}


def _enroll_if_room(gallery: Gallery, person_id: int, face: AlbumFace, note: str) -> bool:
    """Enroll an album face for its person: while they have fewer than SUGGEST_CAP faces,
    and it is no near-copy of one of them (the set stays varied)."""
    vectors = gallery.store.embeddings.of_model(gallery.model, person_id).vectors
    if len(vectors) >= SUGGEST_CAP or (len(vectors)
                                       and float(np.max(vectors @ face.vector)) >= NEAR_COPY):
        return False
    try:
        enroll_album_face(gallery, person_id, face, note=note)
    except FacepairError:
        return False
    return True


def clusters(gallery: Gallery, faces_each: int = 12) -> list[dict[str, Any]]:
    """The clusters of unknown faces, biggest first, each with some of its face ids."""
    from index.album.clusters import clusters as summaries

    return [{**c, "face_ids": gallery.store.clusters.face_ids(c["id"])[:faces_each]}
            for c in summaries(gallery)]


def hide_cluster(gallery: Gallery, cluster: int) -> int:
    face_ids = gallery.store.clusters.face_ids(cluster)
    if not face_ids:
        raise NotFound(f"no cluster of unknown faces with id {cluster}")
    gallery.store.clusters.hide(face_ids)
    return len(face_ids)


def split_face(gallery: Gallery, face_id: int) -> None:
    if gallery.store.albums.face(face_id).cluster is None:
        raise Refused("not_in_a_group", f"album face {face_id} is in no cluster")
    gallery.store.clusters.split_off(face_id)


def folders(roots: list[Path], folder: Path | None) -> dict[str, Any]:
    """The folders a user may pick from: the allowed roots, or the subfolders of `folder`
    (one inside them, as the caller checked)."""
    allowed = [Path(r).expanduser().resolve() for r in roots]
    if folder is None:
        return {"path": None, "parent": None,
                "folders": [{"path": str(r), "name": str(r)} for r in allowed if r.is_dir()]}
    names = sorted(e.name for e in os.scandir(folder)
                   if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    return {"path": str(folder), "parent": None if folder in allowed else str(folder.parent),
            "folders": [{"path": str(folder / n), "name": n} for n in names]}


def album_photos(gallery: Gallery, root: Path | str, limit: int, offset: int) -> dict[str, Any]:
    """The tagged photos under a folder (of this host, or `name:path`), a page at a time,
    with their faces and names: each as `root:path`, and its file on this host (None where
    its root is not here)."""
    return _page(gallery, *gallery.store.albums.photos_under(gallery.roots.parts(root), limit,
                                                             offset))


def photos_with(gallery: Gallery, people: list[str | int], limit: int, offset: int
                ) -> dict[str, Any]:
    """The tagged photos in which all of these people (by id or exact name) are named, newest
    first, a page at a time, as `album_photos` gives them; and the people asked for."""
    if not people:
        raise Refused("no_people", "name at least one person to find photos of")
    found = [gallery.find_person(p) for p in people]
    return {"people": [{"id": p.id, "name": p.name} for p in found],
            **_page(gallery, *gallery.store.albums.photos_with([p.id for p in found], limit,
                                                               offset))}


def _page(gallery: Gallery, count: int, photos: list[AlbumPhoto],
          faces: list[AlbumFaceSummary]) -> dict[str, Any]:
    locate = gallery.roots.locator()
    by_photo: dict[int, list[dict]] = {}
    for f in faces:
        by_photo.setdefault(f.photo_id, []).append({
            "id": f.id, "box": f.box,
            "person": None if f.person_id is None else {"id": f.person_id, "name": f.name},
            "named_by": f.named_by, "drawn": f.drawn,
            "times": None if f.times is None else [list(span) for span in f.times]})
    return {"count": count, "photos": [
        {"id": p.id, "root": p.root, "path": p.shown,
         "local": None if (local := locate(p.ref)) is None else str(local), "width": p.width,
         "height": p.height, "duration": p.duration, "faces": by_photo.get(p.id, [])}
        for p in photos]}


def video_people(gallery: Gallery, photo_id: int) -> dict[str, Any]:
    """Who appears in a tagged video and when: each of its faces (a track, or several of one
    person joined) with its person (None: unknown) and spans, in the order they first appear.
    A photo is refused."""
    photo, faces = gallery.store.albums.with_faces(photo_id)
    if photo.duration is None:
        raise Refused("not_a_video", f"{photo.shown}: a photo, not a video")
    faces = sorted(faces, key=lambda f: (f.times or [(0.0, 0.0)])[0][0])
    return {"id": photo.id, "path": photo.shown, "duration": photo.duration, "people": [
        {"face_id": f.id, "person": None if f.person_id is None
         else {"id": f.person_id, "name": f.name}, "named_by": f.named_by,
         "times": [list(span) for span in f.times or []]} for f in faces]}


def draw_face(gallery: Gallery, photo_id: int, box: Sequence[float], name: str | None,
              path: Path | None = None) -> dict[str, Any]:
    """A face drawn by hand at `box` (x1, y1, x2, y2 in the tagged photo's pixels as shown)
    and named `name` (None: as the gallery names it); `path`: the photo's file (default: where
    its root is on this host). Refused: a box that is not one, or outside the photo; one over
    a face the photo has (FaceExists); a photo changed since it was tagged (PhotoChanged)."""
    photo = gallery.store.albums.photo(photo_id)
    box = checked_box(box, photo.width, photo.height)
    for other in gallery.store.albums.boxes_in(photo_id):
        if iou(other, box) > SAME_REGION_IOU:
            raise FaceExists(f"{photo.shown}: a face is there already, at "
                             f"{[round(v) for v in other]}")
    path = path or gallery.roots.file(photo.ref)
    if path is None:
        raise NotFound(f"{photo.shown}: its root has no folder on this host")
    if not path.is_file() or sha256_of(path) != photo.sha256:
        raise PhotoChanged(f"{photo.shown}: the photo changed since it was tagged; tag it "
                           "again, then draw the face")
    drawn = drawn_face(gallery, path, box)
    person_id = gallery.person_id_for(name) if name else None
    unrecognisable = under_floor(drawn.face.quality, gallery.settings)
    match = (gallery.match([drawn.face], drawn.vector[None])[0]
             if person_id is None and not unrecognisable else None)
    if match is not None and match.person is not None:
        person_id = match.person.id
    face_id = gallery.store.albums.add_face(photo_id, NewAlbumFace(
        box=[round(v, 1) for v in box], landmarks=np.round(drawn.face.landmarks, 1).tolist(),
        score=drawn.face.score, chip=drawn.chip, chip_landmarks=drawn.chip_landmarks,
        model=gallery.model, vector=drawn.vector, quality=drawn.face.quality,
        person_id=person_id, named_by="answer" if name else None,
        similarity=(float(match.score) if match is not None and math.isfinite(match.score)
                    else None),
        candidate_id=(match.candidates[0].person.id if match is not None
                      and match.person is None and match.candidates else None)))
    found = gallery.store.albums.face(face_id)
    enrolled = bool(name) and not unrecognisable and found.person_id is not None and \
        _enroll_if_room(gallery, found.person_id, found, "drawn by hand")
    if found.person_id is not None:
        xmp, embed = gallery.store.albums.xmp_of(photo_id)
        gallery.sync_sidecars([photo.ref], create=xmp, embed=embed)
    person = None if found.person_id is None else gallery.store.people.get(found.person_id)
    return {"id": face_id, "photo_id": photo_id, "box": found.box,
            "quality": None if found.quality is None else round(found.quality, 4),
            "unrecognisable": unrecognisable, "landmarks": "found" if drawn.found else "box",
            "person": None if person is None else {"id": person.id, "name": person.name},
            "named_by": found.named_by, "enrolled": enrolled}


def checked_box(box: Sequence[float], width: int, height: int) -> list[float]:
    """A drawn box as four floats inside the photo (a pixel over its edge is clipped);
    Refused for anything else."""
    if (len(box) != 4 or not all(math.isfinite(v) for v in box)
            or min(box[2] - box[0], box[3] - box[1]) < DRAWN_MIN):
        raise Refused("bad_box", f"a face's box is x1,y1,x2,y2 with x2-x1 and y2-y1 at "
                      f"least {DRAWN_MIN} px, not {list(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if x1 < -1 or y1 < -1 or x2 > width + 1 or y2 > height + 1:
        raise Refused("box_outside_photo", f"the box {list(box)} is not inside the photo "
                      f"({width}×{height})")
    return [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)]
