"""The cluster stage: unknown faces that look alike, clustered (DBSCAN on cosine distance, at
the model's one-to-one threshold); and a cluster named as a person, its faces enrolled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np

from faces.detect import Face
from faces.errors import FacepairError, NotFound
from index.album.sidecars import write_xmp
from index.clustering import dbscan_labels
from index.gallery import Gallery
from index.results import EnrolledFaceOut
from index.store import AlbumFace

Clusterer = Callable[[np.ndarray, float], np.ndarray]


class ClusterSummary(TypedDict):
    """A cluster of unknown faces: how many, in how many photos, a few of those photos."""

    id: int
    faces: int
    photos: int
    examples: list[str]


class NamedCluster(TypedDict):
    person: dict[str, Any]
    enrolled_faces: int
    photos: int
    sidecars_written: int


def cluster_unknown(gallery: Gallery, clusterer: Clusterer = dbscan_labels) -> int:
    """ClusterSummary the unknown faces: DBSCAN, cosine distance, eps = 1 - the model's one-to-one
    threshold, at least 2 faces (`clusterer`: `dbscan_labels` or a `ClusterHelper`); faces
    under the quality floor go into none. Returns the number of clusters."""
    face_ids, vectors = gallery.store.clusters.unknown(gallery.model,
                                                       gallery.settings.quality_floor)
    labels = np.full(len(face_ids), -1)
    if len(face_ids) >= 2:
        labels = clusterer(vectors, 1.0 - gallery.verify_threshold())
    gallery.store.clusters.replace([(int(c) + 1, f)
                                    for f, c in zip(face_ids, labels, strict=True) if c >= 0])
    return int(labels.max() + 1) if len(labels) else 0


def enroll_album_face(gallery: Gallery, person: str | int, found: AlbumFace, note: str = ""
                      ) -> EnrolledFaceOut:
    """Enroll an album face for a person, from its stored chip; raises FacepairError where it
    cannot be (enrolled already, …)."""
    face = Face(box=(found.box[0], found.box[1], found.box[2], found.box[3]),
                score=float(found.score), landmarks=np.asarray(found.landmarks),
                quality=found.quality)
    return gallery.enroll_chip(person, found.chip, np.asarray(found.chip_landmarks), face,
                               found.sha256, found.shown, found.width, found.height, note)


def clusters(gallery: Gallery) -> list[ClusterSummary]:
    """The clusters of unknown faces, biggest first."""
    return [ClusterSummary(id=c.id, faces=c.faces, photos=c.photos, examples=c.paths[:5])
            for c in gallery.store.clusters.all()]


def name_cluster(gallery: Gallery, cluster: int, name: str, xmp: bool | None = None
                 ) -> NamedCluster:
    """Turn a cluster of unknown faces into an enrolled person (new, or one of that name), and
    re-tag the photos they came from."""
    found = gallery.store.clusters.faces(cluster)
    if not found:
        raise NotFound(f"no cluster of unknown faces with id {cluster} (facepair clusters list)")
    enrolled = 0
    person_id: int | None = None
    for face in found:
        try:
            stored = enroll_album_face(gallery, person_id or name, face)
            person_id = stored.person_id
            enrolled += 1
        except FacepairError:
            continue  # this face was enrolled already
    if person_id is None:
        person_id = gallery.find_person(name).id
    gallery.store.clusters.name(cluster, person_id)
    rewritten, _ = write_xmp(gallery, sorted({f.ref for f in found
                                              if (xmp if xmp is not None else f.xmp)}))
    person = gallery.store.people.get(person_id)
    return NamedCluster(person=person.to_dict(), enrolled_faces=enrolled,
                        photos=len({f.photo_id for f in found}), sidecars_written=rewritten)
