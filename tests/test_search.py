"""The search index's HNSW kind: removals as tombstones, a face added again, the file and its
sidecar, and the kind chosen by the gallery's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.search import TOMBSTONE_SHARE, FaceIndex
from index.shards import merge_topk

DIM = 32


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def graph() -> tuple[FaceIndex, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors, ids = unit(rng, 400), np.arange(400, dtype=np.int64) * 3 + 5
    index = FaceIndex(DIM, ann_min_faces=50, ivf_min_faces=10_000, ef_search=64)
    index.rebuild(ids, vectors)
    return index, ids, vectors


def test_the_kind_follows_the_size() -> None:
    index = FaceIndex(DIM, ann_min_faces=50, ivf_min_faces=300)
    assert [index.kind_for(n) for n in (49, 50, 299, 300)] == ["exact", "hnsw", "hnsw", "ivf"]
    rng = np.random.default_rng(1)
    for n, kind in ((20, "exact"), (100, "hnsw"), (20_000, "ivf")):
        index.rebuild(np.arange(n), unit(rng, n))
        assert (index.kind, len(index)) == (kind, n)


def test_hnsw_finds_each_face_and_never_a_removed_one(graph) -> None:
    index, ids, vectors = graph
    assert index.kind == "hnsw" and len(index) == 400
    scores, found = index.search(vectors, 1)
    assert (found[:, 0] == ids).all() and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    index.remove(ids[:30])
    index.remove(ids[:5])  # twice: no second tombstone
    assert len(index) == 370 and index.tombstones == 30
    _, found = index.search(vectors[:30], 50)
    assert not set(found.ravel().tolist()) & set(ids[:30].tolist())
    assert sorted(index.ids().tolist()) == sorted(ids[30:].tolist())
    _, everything = index.search(vectors[:1], 400)  # more than are left: padded with -1
    assert (everything >= 0).sum() == 370 and (everything[0, 370:] == -1).all()


def test_graphs_answer_in_a_process_that_imported_faiss_torch_utils(graph) -> None:
    """Training imports pytorch-metric-learning, which imports `faiss.contrib.torch_utils`
    (its own `search` over FAISS's, with no search parameters): the graphs still answer."""
    import faiss.contrib.torch_utils  # noqa: F401

    index, ids, vectors = graph
    index.remove(ids[:3])
    _, found = index.search(vectors[:10], 1)
    assert found[3:, 0].tolist() == ids[3:10].tolist() and not set(found[:3, 0]) & set(ids[:3])


def test_a_face_added_again_is_found_once_with_its_new_vector(graph) -> None:
    index, ids, vectors = graph
    moved = unit(np.random.default_rng(2), 1)
    index.remove(ids[7:8])
    index.add(ids[7:8], moved)
    assert len(index) == 400 and index.tombstones == 1
    _, found = index.search(moved, 10)
    assert found[0, 0] == ids[7] and (found[0] == ids[7]).sum() == 1
    _, found = index.search(vectors[7:8], 10)
    assert found[0, 0] != ids[7]  # the old vector is gone
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


def test_a_removed_face_is_zeros_in_the_graph_and_the_file(graph, tmp_path: Path) -> None:
    index, ids, vectors = graph
    index.remove(ids[:3])
    path = index.save(tmp_path / "m.faiss", 9)
    raw = path.read_bytes()
    assert vectors[0].tobytes() not in raw and vectors[3].tobytes() in raw


def test_save_and_load_keep_the_tombstones(graph, tmp_path: Path) -> None:
    index, ids, vectors = graph
    index.remove(ids[:40])
    index.add(ids[:2], vectors[:2])
    index.save(tmp_path / "m.faiss", 3)
    index.remove(ids[50:51])
    index.save(tmp_path / "m.faiss", 4)  # the files of change 3 go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.g4.faiss", "m.g4.npz"]
    fresh = FaceIndex(DIM, ann_min_faces=50, ef_search=64)
    assert not fresh.load(tmp_path / "m.faiss", 3)
    assert fresh.load(tmp_path / "m.faiss", 4)
    assert (fresh.kind, len(fresh), fresh.tombstones) == ("hnsw", 361, 41)
    assert sorted(fresh.ids().tolist()) == sorted(index.ids().tolist())
    np.testing.assert_array_equal(fresh.search(vectors, 5)[1], index.search(vectors, 5)[1])
    (tmp_path / "m.g4.npz").unlink()  # a graph without its face ids is not loaded
    assert not FaceIndex(DIM).load(tmp_path / "m.faiss", 4)


def test_several_graphs_answer_as_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import index.search as search

    monkeypatch.setattr(search, "GRAPH_FACES", 64)
    rng = np.random.default_rng(4)
    vectors, ids = unit(rng, 300), np.arange(300, dtype=np.int64) + 1000
    index = FaceIndex(DIM, ann_min_faces=50, ef_search=64)
    index.rebuild(ids[:200], vectors[:200])
    index.add(ids[200:], vectors[200:])
    assert index.graphs == 5 and len(index) == 300
    index.remove(ids[::7])
    kept = np.ones(300, bool)
    kept[::7] = False
    exact = FaceIndex(DIM)
    exact.rebuild(ids[kept], vectors[kept])
    for single in (vectors[:1], vectors[:40]):  # side by side, and one after the other
        np.testing.assert_array_equal(index.search(single, 3)[1], exact.search(single, 3)[1])
    index.save(tmp_path / "m.faiss", 1)
    fresh = FaceIndex(DIM, ann_min_faces=50, ef_search=64)
    assert fresh.load(tmp_path / "m.faiss", 1) and fresh.graphs == 5
    np.testing.assert_array_equal(fresh.search(vectors, 3)[1], exact.search(vectors, 3)[1])


def test_a_graph_built_again_has_no_tombstones(graph) -> None:
    index, ids, vectors = graph
    removed = int(400 * TOMBSTONE_SHARE) + 1
    index.remove(ids[:removed])
    assert index.tombstone_share > TOMBSTONE_SHARE
    index.rebuild(index.ids(), vectors[removed:])
    assert index.tombstones == 0 and len(index) == 400 - removed


def test_shards_merged_answer_as_one_index() -> None:
    rng = np.random.default_rng(3)
    vectors, ids = unit(rng, 300), np.arange(300, dtype=np.int64) + 1
    whole = FaceIndex(DIM)
    whole.rebuild(ids, vectors)
    shards = [FaceIndex(DIM) for _ in range(3)]
    for s, shard in enumerate(shards):
        shard.rebuild(ids[s::3], vectors[s::3])
    queries = unit(rng, 20)
    merged = merge_topk([shard.search(queries, 5) for shard in shards], 5)
    np.testing.assert_array_equal(merged[1], whole.search(queries, 5)[1])
    np.testing.assert_allclose(merged[0], whole.search(queries, 5)[0], rtol=1e-6)
    few = merge_topk([(np.array([[0.5, -np.inf]]), np.array([[9, -1]])),
                      (np.array([[0.7]]), np.array([[4]]))], 4)
    assert few[1].tolist() == [[4, 9, -1, -1]] and few[0][0, 2] == -np.inf
