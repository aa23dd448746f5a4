"""The change feed: every process's index follows writes made anywhere as deltas, on both
backends — two galleries with homes of their own over one store stand for two replicas."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index.gallery import Gallery
from index.matching import Matching
from index.search import FaceIndex
from index.settings import IndexSettings
from index.store import NewFace, Store
from tests.test_gallery import ALVARO, AMELIE, CARLOS, enroll_three, names, photo
from tests.test_gallery import models as models  # a fixture


@pytest.fixture
def replicas(tmp_path: Path, models, store_location: str):
    detector, embedder = models
    pair = [Gallery(IndexSettings(home=tmp_path / name, store=store_location),
                    detector=detector, embedder=embedder) for name in ("one", "two")]
    yield pair
    for g in pair:
        g.close()


def test_a_write_reaches_the_other_replica_as_a_delta(replicas: list[Gallery],
                                                      lfw_dir: Path) -> None:
    one, two = replicas
    enroll_three(one, lfw_dir, ALVARO, AMELIE)
    built = two.index._index  # the FAISS index object: a delta changes it, a rebuild swaps it
    assert names(two, photo(lfw_dir, AMELIE, 10)) == [AMELIE]
    assert two.matching.seen == one.store.changes.head() and two.index._index is built
    assert len(two.index) == 6
    amelie = one.find_person(AMELIE)
    one.update_person(amelie.id, name="Amélie P.")  # no vector changes
    assert names(two, photo(lfw_dir, AMELIE, 10)) == ["Amélie P."]
    assert two.index._index is built and len(two.index) == 6
    enroll_three(two, lfw_dir, CARLOS)
    one.delete_person(amelie.id)
    assert names(one, photo(lfw_dir, CARLOS, 10)) == [CARLOS]
    assert names(two, photo(lfw_dir, AMELIE, 10)) == [] and len(two.index) == 6
    assert two.index._index is built
    # the other's saved index file holds no deleted face once it has caught up
    assert sorted(two.index.ids().tolist()) == sorted(one.index.ids().tolist())


def test_the_threshold_set_by_hand_reaches_every_replica(replicas: list[Gallery],
                                                          lfw_dir: Path) -> None:
    one, two = replicas
    enroll_three(one, lfw_dir, ALVARO, AMELIE, CARLOS)
    before = two.threshold()
    applied = one.calibrate(0.2, apply=True)
    assert two.estimate().source == "manual" and two.threshold() == pytest.approx(
        applied.suggested.threshold, abs=1e-4) != before
    one.reset_threshold()
    assert two.estimate().source != "manual"


def test_a_follower_applies_changes_without_a_search(replicas: list[Gallery],
                                                     lfw_dir: Path) -> None:
    one, two = replicas
    two.follow()
    enroll_three(one, lfw_dir, ALVARO)
    head, waited = one.store.changes.head(), time.perf_counter()
    while two.matching.seen < head and time.perf_counter() - waited < 5:
        time.sleep(0.01)
    assert two.matching.seen == head and len(two.index) == 3
    assert time.perf_counter() - waited < 1.0


def _synthetic(store: Store, model: str, rng: np.random.Generator, people: int, each: int,
               dim: int, tag: str) -> list[int]:
    """People with synthetic unit vectors (rows and vectors only), in one write each."""
    added = []
    for k in range(people):
        with store.transaction():
            pid = store.people.add(f"{tag} {k}")
            photo_id = store.faces.add_photo(f"{tag}-{k}", "synthetic", 1, 1)
            ids = store.faces.add_all([NewFace(photo_id, pid, [0, 0, 1, 1], [[0, 0]] * 5, 1.0,
                                               0.0, b"", [[0, 0]] * 5) for _ in range(each)])
            v = rng.standard_normal((each, dim)).astype(np.float32)
            store.embeddings.put(model, ids, v / np.linalg.norm(v, axis=1, keepdims=True))
            added += ids
    return added


def test_concurrent_writers_miss_no_change(store_location: str, tmp_path: Path) -> None:
    """Writers on several connections commit in an order the feed keeps: a reader applying
    the feed while they write ends with exactly the store's faces."""
    store = Store(store_location)
    matching = Matching(store, "m", FaceIndex(16), tmp_path / "m.faiss")
    matching.load()
    stop = threading.Event()
    reader = threading.Thread(target=lambda: [matching.sync() for _ in iter(stop.is_set, True)])
    reader.start()

    def write(tag: str) -> None:
        own = Store(store_location)
        _synthetic(own, "m", np.random.default_rng(len(tag)), 15, 2, 16, tag)
        own.close()

    writers = [threading.Thread(target=write, args=(f"w{i}" * (i + 1),)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    matching.sync()
    want = store.embeddings.of_model("m").face_ids
    assert len(want) == 120 and sorted(matching.index.ids().tolist()) == want.tolist()
    store.close()


def test_a_restarted_replica_starts_from_its_file_and_the_changes_since(
        store_location: str, tmp_path: Path) -> None:
    store = Store(store_location)
    rng = np.random.default_rng(0)
    first = _synthetic(store, "m", rng, 10, 3, 16, "a")
    matching = Matching(store, "m", FaceIndex(16), tmp_path / "m.faiss")
    matching.load()
    matching.save()
    saved = matching.seen
    later = _synthetic(store, "m", rng, 5, 3, 16, "b")
    store.faces.delete(first[0])
    again = Matching(store, "m", FaceIndex(16), tmp_path / "m.faiss")
    again.load()
    assert FaceIndex.newest_saved(tmp_path / "m.faiss", again.seen) is not None
    assert saved < again.seen == store.changes.head()
    assert sorted(again.index.ids().tolist()) == sorted(first[1:] + later)
    assert again.owners() == {f: p for f, p in store.faces.people().items()}
    store.close()


def test_the_first_estimate_of_a_large_gallery_is_made_by_one_process(
        replicas: list[Gallery], lfw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.thresholds as thresholds

    monkeypatch.setattr(thresholds, "BACKGROUND_FROM", 1)  # "large": made in the background
    monkeypatch.setattr(thresholds, "RETRY_SECONDS", 0.0)
    one, two = replicas
    enroll_three(one, lfw_dir, ALVARO, AMELIE, CARLOS)
    store = one.store
    assert store.meta.take_lease(f"estimate:{one.model}", "another-host:1:x", 60)
    assert two.estimate(wait=False).source == "card"
    two.thresholds._estimating.join(10)  # it found the lease held, and made nothing
    assert store.embeddings.without_nearest(one.model) == 9
    store.meta.release_lease(f"estimate:{one.model}", "another-host:1:x")
    two.estimate(wait=False)
    two.thresholds._estimating.join(30)
    assert store.embeddings.without_nearest(one.model) == 0  # made once, for everyone
    assert one.estimate(wait=False) == two.estimate(wait=False)


def test_an_ivf_index_is_trained_again_only_past_the_growth_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.matching as matching_module

    store = Store(tmp_path / "gallery.sqlite3")
    rng = np.random.default_rng(0)
    matching = Matching(store, "m", FaceIndex(16, ann_min_faces=300, ivf_min_faces=300),
                        tmp_path / "m.faiss")
    matching.load()
    _synthetic(store, "m", rng, 80, 5, 16, "a")  # 400 faces: past ann_min_faces
    matching.sync()
    assert matching.index.kind == "ivf" and matching.index.lists > 0
    built = matching.index._index
    _synthetic(store, "m", rng, 60, 5, 16, "b")  # 700: under twice the size it was trained on
    matching.sync()
    assert matching.index._index is built and len(matching.index) == 700
    monkeypatch.setattr(matching_module, "BUILD_INLINE_BELOW", 0)  # a large gallery's way
    _synthetic(store, "m", rng, 40, 5, 16, "c")  # 900: trained again, on a thread
    matching.sync()
    assert matching._retraining is not None
    matching._retraining.join(30)
    assert matching.index._index is not built and len(matching.index) == 900
    want = store.embeddings.of_model("m").face_ids.tolist()
    assert sorted(matching.index.ids().tolist()) == want
    store.close()


def test_an_hnsw_index_follows_the_feed_and_is_built_again_past_its_tombstones(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "gallery.sqlite3")

    def graph() -> FaceIndex:
        return FaceIndex(16, ann_min_faces=100, ef_search=64)

    matching = Matching(store, "m", graph(), tmp_path / "m.faiss")
    matching.load()
    added = _synthetic(store, "m", np.random.default_rng(0), 40, 5, 16, "a")  # 200 faces
    matching.sync()
    assert matching.index.kind == "hnsw"
    built = matching.index._index
    for face in added[:10]:
        store.faces.delete(face)
    matching.sync()
    assert matching.index._index is built and matching.index.tombstones == 10
    again = Matching(store, "m", graph(), tmp_path / "m.faiss")  # from the file it saved
    again.load()
    assert again.index.tombstones == 10 and again.index._index is not built
    assert sorted(again.index.ids().tolist()) == added[10:]
    _, found = again.index.search(store.embeddings.of_model("m").vectors, 5)
    assert not set(found.ravel().tolist()) & set(added[:10])
    for face in added[10:25]:  # 25 of 200 removed: past the share
        store.faces.delete(face)
    matching.sync()
    assert matching.index._index is not built and matching.index.tombstones == 0
    assert sorted(matching.index.ids().tolist()) == added[25:]
    store.close()
