"""The store's repositories: a gallery of the old schema upgraded in place, and writes that
two writers at once cannot get wrong."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index.store import NewAlbumFace, NewFace, PhotoRef, Store
from index.store.database import MIGRATIONS
from tests.legacy_gallery import VECTORS, make

# the newest schema: the highest-numbered migration
HEAD = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))


@pytest.fixture()
def upgraded(tmp_path: Path) -> Store:
    make(tmp_path / "gallery.sqlite3")
    store = Store(tmp_path / "gallery.sqlite3")
    yield store
    store.close()


def test_a_gallery_of_the_old_schema_upgrades_in_place(upgraded: Store) -> None:
    store = upgraded
    assert store.db.revision() == HEAD
    assert [(p.id, p.name, p.note, p.faces) for p in store.people.all()] == [
        (1, "Ann", "sister", 2), (2, "Bob", "", 2)]
    faces = store.faces.of_person(1) + store.faces.of_person(2)
    assert [f.id for f in faces] == [1, 2, 3, 4]
    assert faces[0].box == [10.0, 20.0, 90.0, 120.0] and faces[0].source == "ann.jpg"
    assert [c.jpeg for c in store.faces.chips()] == [b"\xff\xd8chip%d" % i for i in (1, 2, 3, 4)]
    embedded = store.embeddings.of_model("dlib-pairs")
    assert embedded.vectors.dtype == np.float32
    np.testing.assert_array_equal(embedded.vectors, VECTORS)  # byte for byte
    assert embedded.person_ids.tolist() == [1, 1, 2, 2]
    assert store.embeddings.nearest("dlib-pairs")[1] == (0.3, 3, 0.8, 2)
    np.testing.assert_array_equal(store.embeddings.exclusions("dlib-pairs")[2], VECTORS[:1])
    assert store.meta.get("threshold:dlib-pairs") == "0.61"
    assert store.keys.scope_of("f" * 64) == (1, "write")
    assert store.keys.grant_of("f" * 64) == (1, "write", "default")  # its collection's
    job = store.jobs.get(1)
    assert job is not None and job.status == "done" and job.xmp is True and job.cancel is False
    assert job.owner is not None and job.owner.endswith(":4242")  # a host and the old pid
    assert store.jobs.problems(1)[0] == 1
    # album photos and jobs are kept by root: the job's folder became one
    [photos] = store.roots.all()
    assert (photos.name, photos.hint) == ("photos", "/photos")
    assert (job.root_id, job.root, job.folder) == (photos.id, "photos", "")
    assert [p.path for p in store.jobs.problems(1)[1]] == ["photos:broken.jpg"]
    state = store.albums.state(PhotoRef(photos.id, "a.jpg"))
    assert state is not None and (state.size, state.mtime, state.model) == (1000, 1.5,
                                                                           "dlib-pairs")
    named = store.albums.face(1)
    assert named.person_id == 1 and named.box == [1.0, 2.0, 50.0, 60.0] and named.chip == b"album1"
    np.testing.assert_array_equal(named.vector, VECTORS[2])
    assert [c.id for c in store.clusters.all()] == [1]
    assert store.albums.face(2).candidate_id == 2
    # ids continue past the highest ever given (people up to 9 were given before)
    assert store.people.add("Cy") == 10
    assert store.faces.add_photo("d" * 64, "c.jpg", 1, 1) == 3


def test_a_deleted_face_takes_its_nearest_rows_with_it(upgraded: Store) -> None:
    """The old schema's triggers did this; the store's writes do it now."""
    upgraded.faces.delete(3)  # face 1's nearest other person's face
    assert 1 not in upgraded.embeddings.nearest("dlib-pairs")


def test_two_writers_find_or_make_one_person_and_one_photo(store_location: str) -> None:
    store = Store(store_location)
    people: list[int] = []
    photos: list[int] = []
    start = threading.Barrier(8)

    def write() -> None:
        start.wait()
        people.append(store.people.get_or_add("Zoë"))
        photos.append(store.faces.add_photo("e" * 64, "z.jpg", 5, 5))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(people)) == 1 and len(set(photos)) == 1
    assert store.meta.counts()["people"] == 1 and store.meta.counts()["photos"] == 1
    store.close()


def test_a_waiting_job_goes_to_one_owner(store_location: str) -> None:
    store = Store(store_location)
    job_id = store.jobs.add(store.roots.get_or_add("photos", "/photos"), "", xmp=False,
                            owner=None, resumable=True)
    taken: list[str] = []
    start = threading.Barrier(6)

    def claim(me: str) -> None:
        start.wait()
        if store.jobs.claim(me, lease=30.0) is not None:
            taken.append(me)

    threads = [threading.Thread(target=claim, args=(f"host:{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job = store.jobs.get(job_id)
    assert len(taken) == 1 and job is not None and job.owner == taken[0]
    store.close()


def test_a_write_that_fails_leaves_nothing(store_location: str) -> None:
    store = Store(store_location)
    before = store.changes.head()
    with pytest.raises(RuntimeError), store.transaction():
        store.people.add("Ann")
        raise RuntimeError("the disk went away")
    assert store.people.all() == [] and store.changes.head() == before
    store.close()


def _open(location: str) -> str:
    store = Store(location)
    revision = store.db.revision()
    store.close()
    return revision


def test_processes_opening_a_new_gallery_at_once_migrate_it_once(store_location: str) -> None:
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [store_location] * 4) == [HEAD] * 4


def test_processes_opening_an_old_gallery_at_once_migrate_it_once(tmp_path: Path) -> None:
    import multiprocessing as mp

    path = tmp_path / "gallery.sqlite3"
    make(path)
    with mp.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [str(path)] * 4) == [HEAD] * 4
    store = Store(path)
    job = store.jobs.get(1)  # migrated once: the owner is a host and the old pid, not twice
    assert job is not None and job.owner is not None and job.owner.count(":") == 1
    store.close()


def test_every_repository_on_both_backends(store_location: str) -> None:
    """The same repositories over SQLite and PostgreSQL: what goes in comes out alike."""
    store = Store(store_location)
    ann, bob = store.people.add("Ann"), store.people.get_or_add("Bob")
    photo = store.faces.add_photo("a" * 64, "ann.jpg", 250, 250)
    assert store.faces.add_photo("a" * 64, "again.jpg", 1, 1) == photo  # one row per content
    faces = store.faces.add_all([NewFace(photo, who, [1.5, 2.0, 50.0, 60.0], [[9.0, 9.0]] * 5,
                                         0.99, 12.5, b"chip%d" % i, [[38.3, 51.7]] * 5)
                                 for i, who in enumerate((ann, ann, bob))])
    store.embeddings.put("m", faces, VECTORS[:3])
    np.testing.assert_array_equal(store.embeddings.of_model("m").vectors, VECTORS[:3])
    assert store.embeddings.missing("other") == faces
    store.embeddings.put_nearest("m", [(faces[0], 0.3, faces[2], 0.8, faces[1])],
                                 [(faces[2], "impostor", 0.3, faces[0])])
    store.embeddings.put_nearest("m", [(faces[0], 0.2, faces[2], 0.9, faces[1])], [])
    assert store.embeddings.nearest("m")[faces[0]] == (0.3, faces[2], 0.9, faces[1])  # highest
    store.embeddings.exclude(bob, "m", VECTORS[0])
    np.testing.assert_array_equal(store.embeddings.exclusions("m")[bob], VECTORS[:1])
    assert [c.jpeg for c in store.faces.chips(faces[:2])] == [b"chip0", b"chip1"]
    assert store.people.get(ann).faces == 2 and store.faces.get(faces[2]).box == [
        1.5, 2.0, 50.0, 60.0]

    root = store.roots.add("photos", "/photos")
    assert root is not None and store.roots.add("photos", "/elsewhere") is None  # one a name
    job = store.jobs.add(root, "", xmp=True, owner=None, resumable=True)
    claimed = store.jobs.claim("host:1:a", lease=30.0)
    assert claimed is not None and claimed.id == job and claimed.xmp is True
    store.jobs.start(job, 2, 0, 0, 0)
    album_face = NewAlbumFace([1.0, 2.0, 50.0, 60.0], [[9.0, 9.0]] * 5, 0.97, b"a", [[1, 1]] * 5,
                              "m", VECTORS[3], similarity=0.7, candidate_id=ann)
    with store.transaction():
        store.albums.record(PhotoRef(root, "2020/a.jpg"), 10, 1.5, "c" * 64, 640, 480, "m", job, "",
                            [album_face, album_face])
        store.jobs.progress(job, 1, 2, 0, 2, 0)
    store.jobs.add_problems(job, [("photos:b.jpg", "unreadable", "gone")])
    assert store.jobs.problems(job)[0] == 1 and store.jobs.get(job).faces == 2
    state = store.albums.state(PhotoRef(root, "2020/a.jpg"))
    assert state is not None and (state.size, state.mtime) == (10, 1.5)
    count, photos, listed = store.albums.photos_under([(root, "2020")], 10, 0)
    assert count == 1 and [f.photo_id for f in listed] == [photos[0].id] * 2
    assert photos[0].shown == "photos:2020/a.jpg"
    assert store.albums.photos_under([(root, "2021")], 10, 0)[0] == 0
    assert store.albums.photos_under([(root, "202")], 10, 0)[0] == 0  # a folder, not a prefix
    unknown, vectors = store.clusters.unknown("m")
    assert vectors.shape == (2, 8)
    store.clusters.replace([(1, f) for f in unknown])
    assert [(c.id, c.faces, c.photos) for c in store.clusters.all()] == [(1, 2, 1)]
    waiting, found = store.clusters.suggestions(0.6, 0.8, 10)
    assert waiting == 2 and found[0].name == "Ann"
    store.clusters.name(1, bob)
    assert store.albums.paths_of(bob) == [PhotoRef(root, "2020/a.jpg")]
    assert store.jobs.cancel(job) and store.jobs.cancelled(job)
    store.jobs.end(job, "cancelled")
    assert not store.jobs.cancel(job)

    key = store.keys.add("laptop", "write", "f" * 64)
    assert store.keys.scope_of("f" * 64) == (key, "write")
    store.meta.set("threshold:m", "0.61")
    assert store.meta.get("threshold:m") == "0.61"
    merged = store.people.merge(ann, bob)
    assert merged.faces == 3 and store.embeddings.nearest("m") == {}  # moved: computed again
    assert store.people.delete(ann) == faces and store.meta.counts() == {
        "people": 0, "photos": 0, "faces": 0, "embeddings": 0}
    store.keys.revoke(key)
    assert store.keys.all() == []
    store.close()


def test_a_gallery_copied_to_postgresql_and_back_is_the_same(tmp_path: Path, postgres) -> None:
    """`facepair store copy`: SQLite to PostgreSQL and back, every row and byte, ids that
    keep counting from where the source was; a non-empty destination is refused."""
    import json
    import subprocess
    import sys

    old = tmp_path / "old.sqlite3"
    make(old)
    pg, back = postgres.new_database(), tmp_path / "back.sqlite3"
    cli = [str(Path(sys.executable).parent / "facepair"), "store", "copy"]
    there = subprocess.run([*cli, str(old), pg, "--verify", "--json"], capture_output=True,
                           text=True, timeout=300)
    assert there.returncode == 0, there.stderr
    report = json.loads(there.stdout.strip().splitlines()[-1])
    assert report["verified"] is True and report["copied"]["faces"] == 4
    assert report["copied"]["embeddings"] == 4 and report["copied"]["album_faces"] == 2
    again = subprocess.run([*cli, str(old), pg, "--json"], capture_output=True, text=True,
                           timeout=300)
    refused = json.loads(again.stdout.strip().splitlines()[-1])["error"]
    assert again.returncode == 2 and refused["code"] == "destination_not_empty"
    home = subprocess.run([*cli, pg, str(back), "--verify", "--json"], capture_output=True,
                          text=True, timeout=300)
    assert home.returncode == 0 and json.loads(home.stdout.splitlines()[-1])["verified"]
    for location in (pg, back):
        store = Store(location)
        np.testing.assert_array_equal(store.embeddings.of_model("dlib-pairs").vectors, VECTORS)
        assert store.faces.get(1).box == [10.0, 20.0, 90.0, 120.0]
        assert store.people.add("Cy") == 10  # people up to 9 were given before the copy
        assert [r.name for r in store.roots.all()] == ["photos"]  # the roots came along
        assert store.roots.add("family", None) == 2  # and give ids past theirs
        store.close()
    # a collection beside the default one goes with --collection, into its own tables there
    kids = Store(old, "kids")
    kids.people.add("Dot")
    kids.close()
    cli.insert(1, "--collection=kids")
    moved = subprocess.run([*cli, str(old), pg, "--json"], capture_output=True, text=True,
                           timeout=300)
    assert moved.returncode == 0, moved.stderr
    there_kids = Store(pg, "kids")
    assert [p.name for p in there_kids.people.all()] == ["Dot"]
    assert "Dot" not in [p.name for p in Store(pg).people.all()]
    there_kids.close()


def test_a_job_whose_lease_lapses_is_taken_over(store_location: str) -> None:
    """A job held by a process of another host is left alone while its lease runs, taken
    over once it lapses; a renewal keeps it, and only its owner can renew it."""
    store = Store(store_location)
    job = store.jobs.add(store.roots.get_or_add("photos", None), "", xmp=False, owner=None,
                         resumable=True)
    first = store.jobs.claim("far-host:7:aa", lease=0.5)
    assert first is not None and first.owner == "far-host:7:aa"
    assert store.jobs.claim("here:1:bb", lease=30.0) is None  # held
    time.sleep(0.3)
    assert store.jobs.renew(job, "far-host:7:aa", 0.5)  # held a while longer
    assert not store.jobs.renew(job, "here:1:bb", 30.0)  # not theirs
    time.sleep(0.3)
    assert store.jobs.claim("here:1:bb", lease=30.0) is None  # the renewal still holds
    time.sleep(0.4)
    taken = store.jobs.claim("here:1:bb", lease=30.0)  # lapsed: taken over
    assert taken is not None and taken.owner == "here:1:bb"
    assert not store.jobs.renew(job, "far-host:7:aa", 0.5)  # the old owner has lost it
    store.close()


def test_a_face_named_after_someone_deleted_meanwhile_is_recorded_as_unknown(
        store_location: str) -> None:
    """An album job names faces, then records them: a person deleted in between (by another
    replica) leaves the faces unknown, and the photo is recorded all the same."""
    store = Store(store_location)
    ann, bob = store.people.add("Ann"), store.people.add("Bob")
    root = store.roots.add("photos", "/photos")
    assert root is not None
    job = store.jobs.add(root, "", xmp=False, owner=None, resumable=True)
    named = NewAlbumFace([1.0, 2.0, 50.0, 60.0], [[9.0, 9.0]] * 5, 0.97, b"a", [[1, 1]] * 5,
                         "m", VECTORS[3], person_id=ann, similarity=0.8, candidate_id=bob)
    cy = store.people.add("Cy")  # still there: an unknown face suggested as Cy stays so
    suggested = NewAlbumFace([60.0, 2.0, 90.0, 60.0], [[9.0, 9.0]] * 5, 0.97, b"b",
                             [[1, 1]] * 5, "m", VECTORS[2], similarity=0.6, candidate_id=cy)
    store.people.delete(ann)
    store.people.delete(bob)
    store.albums.record(PhotoRef(root, "a.jpg"), 10, 1.5, "c" * 64, 640, 480, "m", job, "",
                        [named, suggested])
    _, _, faces = store.albums.photos_under([(root, "")], 10, 0)
    kept = [store.albums.face(f.id) for f in faces]
    assert [(f.person_id, f.named_by, f.similarity, f.candidate_id) for f in kept] == [
        (None, None, None, None), (None, None, pytest.approx(0.6), cy)]
    store.close()


def test_nearest_rows_naming_a_face_deleted_meanwhile_are_not_written(
        store_location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nearest-faces rows are a cache: a face another process deletes between the check and
    the write leaves them unwritten (PostgreSQL's foreign key says so), not a failed request."""
    import index.store.embeddings as embeddings

    store = Store(store_location)
    ann = store.people.add("Ann")
    photo = store.faces.add_photo("a" * 64, "a.jpg", 10, 10)
    faces = store.faces.add_all([NewFace(photo, ann, [0, 0, 1, 1], [[0, 0]] * 5, 1.0, 0.0,
                                         b"", [[0, 0]] * 5) for _ in range(2)])
    store.embeddings.put("m", faces, VECTORS[:2])
    store.faces.delete(faces[1])
    # the check saw the face; it was deleted before the write
    monkeypatch.setattr(embeddings, "_existing", lambda conn, ids: sorted(ids))
    store.embeddings.put_nearest("m", [(faces[1], 0.3, faces[0], None, None)], [])
    assert store.embeddings.nearest("m") == {}
    store.close()
