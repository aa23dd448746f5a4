"""The store's repositories: a gallery of the old schema upgraded in place, and writes that
two writers at once cannot get wrong."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from index.store import Store
from tests.legacy_gallery import VECTORS, make


@pytest.fixture()
def upgraded(tmp_path: Path) -> Store:
    make(tmp_path / "gallery.sqlite3")
    store = Store(tmp_path / "gallery.sqlite3")
    yield store
    store.close()


def test_a_gallery_of_the_old_schema_upgrades_in_place(upgraded: Store) -> None:
    store = upgraded
    assert store.db.revision() == "0002"
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
    job = store.jobs.get(1)
    assert job is not None and job.status == "done" and job.xmp is True and job.cancel is False
    assert job.owner is not None and job.owner.endswith(":4242")  # a host and the old pid
    assert store.jobs.problems(1)[0] == 1
    state = store.albums.state(Path("/photos/a.jpg"))
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


def test_two_writers_find_or_make_one_person_and_one_photo(tmp_path: Path) -> None:
    store = Store(tmp_path / "gallery.sqlite3")
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


def test_a_waiting_job_goes_to_one_owner(tmp_path: Path) -> None:
    store = Store(tmp_path / "gallery.sqlite3")
    job_id = store.jobs.add(Path("/photos"), xmp=False, owner=None, resumable=True)
    taken: list[str] = []
    start = threading.Barrier(6)

    def claim(me: str) -> None:
        start.wait()
        if store.jobs.claim(me, alive=lambda owner: True) is not None:
            taken.append(me)

    threads = [threading.Thread(target=claim, args=(f"host:{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job = store.jobs.get(job_id)
    assert len(taken) == 1 and job is not None and job.owner == taken[0]
    store.close()


def test_a_write_that_fails_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "gallery.sqlite3")
    before = store.generation()
    with pytest.raises(RuntimeError), store.transaction(gallery=True):
        store.people.add("Ann")
        raise RuntimeError("the disk went away")
    assert store.people.all() == [] and store.generation() == before
    store.close()


def _open(path: str) -> str:
    store = Store(Path(path))
    revision = store.db.revision()
    store.close()
    return revision


@pytest.mark.parametrize("old", [False, True], ids=["new", "of-the-old-schema"])
def test_processes_opening_one_gallery_at_once_migrate_it_once(tmp_path: Path, old: bool
                                                               ) -> None:
    import multiprocessing as mp

    path = tmp_path / "gallery.sqlite3"
    if old:
        make(path)
    with mp.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [str(path)] * 4) == ["0002"] * 4
    store = Store(path)
    if old:  # migrated once: the owner is a host and the old pid, not that twice
        job = store.jobs.get(1)
        assert job is not None and job.owner is not None and job.owner.count(":") == 1
    store.close()
