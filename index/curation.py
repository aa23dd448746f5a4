"""Curating a gallery by hand, as the web app does it: a person's faces, "not this person",
groups of unknown faces to name, split or hide, suggestions to confirm, the photos of a
tagged folder.

"Not this person" removes a face from someone and remembers its vector for them
(`Gallery.exclude`): that face, from whatever photo, is never named as them again. A suggestion
is an unknown album face whose best candidate scored within SUGGEST_BAND under the identify
threshold; "yes" names it and enrolls it (up to SUGGEST_CAP faces a person, none a near-copy of
one enrolled), "no" remembers it is not them, "skip" puts it aside.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from faces.errors import FacepairError, NotFound
from index.albums import enroll_album_face
from index.errors import Refused
from index.gallery import NEAR_COPY, Gallery

SUGGEST_BAND = 0.08  # how far under the threshold a face may score to be suggested
SUGGEST_CAP = 20  # a person's enrolled faces, at most, that suggestions add to


def person_faces(gallery: Gallery, person_id: int) -> dict[str, Any]:
    """A person's enrolled faces and the album faces named as them, newest first."""
    person = gallery.store.person(person_id)
    return {
        "person": person.to_dict(),
        "enrolled": [{"id": r["id"], "box": json.loads(r["box"]), "added": r["added"],
                      "source": r["source"]} for r in gallery.store.enrolled_faces_of(person_id)],
        "album": [{"id": r["id"], "box": json.loads(r["box"]), "photo_id": r["photo_id"],
                   "path": r["path"], "similarity": r["similarity"], "named_by": r["named_by"],
                   "tagged": r["tagged"]}
                  for r in gallery.store.album_faces_named(person_id)],
    }


def not_this_person(gallery: Gallery, person_id: int, face_id: int,
                    kind: Literal["enrolled", "album"]) -> dict[str, Any]:
    """Take a face away from a person and remember it is not them."""
    person = gallery.store.person(person_id)
    if kind == "enrolled":
        face = gallery.store.face(face_id)
        if face.person_id != person_id:
            raise Refused("not_theirs", f"face {face_id} is not one of {person.name}'s")
        ids, _, vectors = gallery.store.embeddings(gallery.model, person_id)
        vector = vectors[list(ids).index(face_id)]
        gallery.remove_face(face_id)
    else:
        row = gallery.store.album_face(face_id)
        if row["person_id"] != person_id:
            raise Refused("not_theirs", f"album face {face_id} is not named as {person.name}")
        vector = np.frombuffer(row["vector"], dtype="<f4")
        gallery.store.name_album_face(face_id, None, by_user=True)
    gallery.exclude(person_id, vector)
    return {"person": gallery.store.person(person_id).to_dict(), "face_id": face_id,
            "kind": kind}


def suggestions(gallery: Gallery, limit: int = 20) -> dict[str, Any]:
    """Unknown album faces that came close to someone, closest first, and how many wait."""
    threshold = gallery.threshold()
    waiting, rows = gallery.store.suggestions(threshold - SUGGEST_BAND, threshold, limit * 4)
    found = []
    for row in rows:  # a face the user said is not them is no suggestion
        if gallery.excluded(row["candidate_id"], np.frombuffer(row["vector"], dtype="<f4")):
            waiting -= 1
            continue
        found.append({"face_id": row["id"], "score": round(float(row["similarity"]), 4),
                      "person": {"id": row["candidate_id"], "name": row["name"]},
                      "photo_id": row["photo_id"], "path": row["path"]})
    return {"waiting": max(0, waiting), "threshold": round(threshold, 4),
            "suggestions": found[:limit]}


def answer(gallery: Gallery, face_id: int, reply: Literal["yes", "no", "skip"]
           ) -> dict[str, Any]:
    """Yes: the face is that person's (and enrolled, while they have room and it is no
    near-copy). No: it is not them, remembered. Skip: not asked again."""
    row = gallery.store.album_face(face_id)
    if row["person_id"] is not None or row["candidate_id"] is None:
        raise Refused("not_a_suggestion", f"album face {face_id} waits for no answer")
    person_id, enrolled = int(row["candidate_id"]), False
    vector = np.frombuffer(row["vector"], dtype="<f4")
    if reply == "skip":
        gallery.store.skip_album_face(face_id)
    elif reply == "no":
        gallery.store.reject_candidate(face_id)
        gallery.exclude(person_id, vector)
    else:
        gallery.store.name_album_face(face_id, person_id, by_user=True)
        enrolled = _enroll_if_room(gallery, person_id, row, vector)
    return {"face_id": face_id, "answer": reply, "person_id": person_id, "enrolled": enrolled}


def _enroll_if_room(gallery: Gallery, person_id: int, row: Any, vector: np.ndarray) -> bool:
    """Enroll an album face for its person: while they have fewer than SUGGEST_CAP faces,
    and it is no near-copy of one of them (the set stays varied)."""
    ids, _, vectors = gallery.store.embeddings(gallery.model, person_id)
    if len(ids) >= SUGGEST_CAP or (len(ids) and float(np.max(vectors @ vector)) >= NEAR_COPY):
        return False
    try:
        enroll_album_face(gallery, person_id, row, note="confirmed as a suggestion")
    except FacepairError:
        return False
    return True


def groups(gallery: Gallery, faces_each: int = 12) -> list[dict[str, Any]]:
    """The groups of unknown faces, biggest first, each with some of its face ids."""
    from index.albums import clusters

    return [{**g, "face_ids": gallery.store.cluster_face_ids(g["id"])[:faces_each]}
            for g in clusters(gallery)]


def hide_group(gallery: Gallery, cluster: int) -> int:
    face_ids = gallery.store.cluster_face_ids(cluster)
    if not face_ids:
        raise NotFound(f"no group of unknown faces with id {cluster}")
    gallery.store.hide_album_faces(face_ids)
    return len(face_ids)


def split_face(gallery: Gallery, face_id: int) -> None:
    row = gallery.store.album_face(face_id)
    if row["cluster"] is None:
        raise Refused("not_in_a_group", f"album face {face_id} is in no group")
    gallery.store.ungroup_album_face(face_id)


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


def album_photos(gallery: Gallery, root: Path, limit: int, offset: int) -> dict[str, Any]:
    """The tagged photos under a folder, a page at a time, with their faces and names."""
    count, photos, faces = gallery.store.album_photos_under(root, limit, offset)
    by_photo: dict[int, list[dict]] = {}
    for f in faces:
        by_photo.setdefault(f["photo_id"], []).append({
            "id": f["id"], "box": json.loads(f["box"]),
            "person": None if f["person_id"] is None else {"id": f["person_id"],
                                                           "name": f["name"]},
            "named_by": f["named_by"]})
    return {"count": count, "photos": [
        {"id": p["id"], "path": p["path"], "width": p["width"], "height": p["height"],
         "faces": by_photo.get(p["id"], [])} for p in photos]}
