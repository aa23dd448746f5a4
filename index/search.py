"""FAISS over the gallery's face embeddings: ids are the store's face ids.

Exact inner product (`IndexFlatIP`; on unit vectors, the cosine) by default. From
`ann_min_faces` faces on, an inverted-file index (`IndexIVFFlat`, inner product, `nprobe` lists
searched): it supports removals, which a hard delete needs (HNSW does not). On a machine with a
CUDA GPU, searches run on a GPU copy of the same index: with faiss-gpu where it is installed,
else (exact index) as one torch matrix product, so no extra package is needed.

The index is a cache of the store, never the only copy: it is saved under the last change of
the store's change feed it reflects (`<model>.g<change>.faiss`); a process starts from the
newest file and applies the changes since, or builds it from the store when there is none.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

THREADS = faiss.omp_get_max_threads()  # FAISS's threads for a search worth sharing out
SMALL_SEARCH = 1 << 16  # query × face pairs (about a millisecond) searched on the calling thread


def faiss_gpu() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class TorchExact:
    """Exact inner-product search on a CUDA device with torch (no faiss-gpu needed): the
    vectors and ids of the CPU index, copied once, searched with one matrix product."""

    def __init__(self, index: Any) -> None:  # an IndexIDMap (FAISS's stubs lack its fields)
        import torch

        n = index.ntotal
        vectors = index.index.reconstruct_n(0, n) if n else np.zeros((0, index.d), np.float32)
        self.ids = torch.from_numpy(faiss.vector_to_array(index.id_map).astype(np.int64))
        self.vectors = torch.from_numpy(vectors).to("cuda", torch.float32)
        self.ids = self.ids.to("cuda")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            q = torch.from_numpy(queries).to(self.vectors.device)
            scores, rows = torch.topk(q @ self.vectors.T, k, dim=1)
            return scores.float().cpu().numpy(), self.ids[rows].cpu().numpy()


KINDS = ("exact", "hnsw", "ivf")  # by the gallery size they are for
HNSW_M = 32  # graph links per face (twice as many on the bottom layer)
HNSW_EF_CONSTRUCTION = 40  # candidates kept while a face is linked into the graph
TOMBSTONE_SHARE = 0.1  # removed faces' share of an HNSW graph from which it is built again


@dataclass
class Built:
    """A FAISS index `FaceIndex.build` made, and for an HNSW graph the face id of each of its
    numbers (HNSW numbers its faces 0, 1, … itself)."""

    index: Any
    labels: np.ndarray | None = None


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with room for at least `size` items (doubled, zero-filled)."""
    if len(array) >= size:
        return array
    bigger = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class FaceIndex:
    """The gallery's search index, of the kind its size asks for: exact below
    `ann_min_faces` faces, an HNSW graph from there, IVF from `ivf_min_faces` on.

    An HNSW graph cannot remove a face: a removed face's number is marked in a bitmap that
    every search skips (an `IDSelectorBitmap`), its vector is overwritten with zeros (no
    deleted face stays in memory or in the file), and a face added again gets a new number.
    `tombstone_share` tells when the graph is worth building again."""

    def __init__(self, dim: int, ann_min_faces: int = 200_000, nprobe: int = 0,
                 use_gpu: bool = False, ivf_min_faces: int = 2_000_000,
                 ef_search: int = 256) -> None:
        self.dim = dim
        self.ann_min_faces = ann_min_faces
        self.ivf_min_faces = ivf_min_faces
        self.nprobe = nprobe
        self.ef_search = ef_search  # HNSW candidates kept per search (at least k)
        # searches on the GPU: faiss-gpu where installed (exact and IVF), else torch (exact)
        self.gpu = ("faiss" if use_gpu and faiss_gpu() else
                    "torch" if use_gpu and torch_cuda() else None)
        self._lock = threading.RLock()
        # FAISS's generated stubs lack the fields of its index kinds (id_map, index, nprobe)
        self._index: Any = self._flat()
        self._gpu: Any = None
        self._gpu_resources: Any = None
        # an HNSW graph's face id per number, and the bitmap of removed numbers
        self._labels = np.zeros(0, dtype=np.int64)
        self._removed_bits = np.zeros(0, dtype=np.uint8)
        self._removed = 0
        self._skip: Any = None  # the selector of the removed numbers (built when needed)

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def kind(self) -> str:
        """"exact", "hnsw" or "ivf"."""
        if isinstance(self._index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    def kind_for(self, faces: int) -> str:
        """The kind of index a gallery of this many faces is given."""
        if faces >= self.ivf_min_faces:
            return "ivf"
        return "hnsw" if faces >= self.ann_min_faces else "exact"

    @property
    def lists(self) -> int:
        """The IVF index's lists (0 for another kind)."""
        return int(self._index.nlist) if self.kind == "ivf" else 0

    @property
    def probes(self) -> int:
        """How many lists a search visits (0 for another kind)."""
        return int(self._index.nprobe) if self.kind == "ivf" else 0

    @property
    def tombstones(self) -> int:
        """Removed faces an HNSW graph still holds (as zero vectors, never returned)."""
        return self._removed

    @property
    def tombstone_share(self) -> float:
        total = int(self._index.ntotal)
        return self._removed / total if total else 0.0

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._removed

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A fresh index of these vectors, of the kind their number asks for."""
        self.use(self.build(ids, vectors))

    def build(self, ids: np.ndarray, vectors: np.ndarray, total: int | None = None) -> Built:
        """A new FAISS index of these vectors, not yet the one searched (`use`): built while
        this one answers. Its kind (and an IVF index's lists) suit `total` faces (default:
        these), so a caller may build on a sample and `add` the rest."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        kind = self.kind_for(len(ids) if total is None else total)
        if kind == "hnsw":
            graph = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            if len(ids):
                graph.add(vectors)
            return Built(graph, ids.copy())
        if kind == "ivf":
            faces = len(ids) if total is None else total
            nlist = int(min(65536, 4 * np.sqrt(faces), max(1, faces // 40)))
            quantizer = faiss.IndexFlatIP(self.dim)
            index: Any = faiss.IndexIVFFlat(quantizer, self.dim, nlist,
                                            faiss.METRIC_INNER_PRODUCT)
            # 10 rounds of k-means, not FAISS's 25: at 1,000,000 faces a third of the
            # training time, and the same recall@1 (0.967 against 0.963 with 500 lists searched)
            index.cp.niter = 10
            rng = np.random.default_rng(0)
            # k-means on 40 points per list (FAISS asks for at least 39)
            sample = vectors[rng.choice(len(vectors), min(len(vectors), 40 * nlist), False)]
            index.train(sample)
            index.nprobe = self._probes(nlist)
        else:
            index = self._flat()
        if len(ids):
            index.add_with_ids(vectors, ids)
        return Built(index)

    def use(self, built: Built) -> None:
        """Search the index `build` made from now on."""
        with self._lock:
            self._index, self._gpu, self._skip = built.index, None, None
            labels = built.labels if built.labels is not None else np.zeros(0, np.int64)
            self._labels = labels
            self._removed_bits = np.zeros((len(labels) + 7) // 8, dtype=np.uint8)
            self._removed = 0

    def _probes(self, nlist: int) -> int:
        """IVF lists searched per query: the setting, or (0) a quarter of the lists."""
        return min(nlist, self.nprobe or max(32, nlist // 4))

    def set_nprobe(self, nprobe: int) -> None:
        """IVF lists searched per query (more: slower, closer to exact; 0: automatic)."""
        with self._lock:
            self.nprobe = nprobe
            if isinstance(self._index, faiss.IndexIVF):
                self._index.nprobe = self._probes(self._index.nlist)
                self._gpu = None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            if self.kind == "hnsw":
                first = int(self._index.ntotal)
                self._labels = _grown(self._labels, first + len(ids))
                self._labels[first : first + len(ids)] = ids
                self._removed_bits = _grown(self._removed_bits, (len(self._labels) + 7) // 8)
                if len(ids):
                    self._index.add(vectors)
                self._skip = None  # the bitmap may have moved
            else:
                self._index.add_with_ids(vectors, ids)
            self._gpu = None

    def vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """A copy of every (id, vector) of an exact index; None for another kind (its
        vectors are not kept in one array of live faces)."""
        with self._lock:
            if self.kind != "exact":
                return None
            n = len(self)
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            if not n:
                return ids, np.zeros((0, self.dim), dtype=np.float32)
            return ids, self._index.index.reconstruct_n(0, n)

    def _alive(self) -> np.ndarray:
        """Which numbers of an HNSW graph hold a face not removed."""
        n = int(self._index.ntotal)
        return np.unpackbits(self._removed_bits, bitorder="little")[:n] == 0

    def ids(self) -> np.ndarray:
        """The id of every vector in the index."""
        with self._lock:
            if self.kind == "exact":
                return faiss.vector_to_array(self._index.id_map).astype(np.int64)
            if self.kind == "hnsw":
                return self._labels[: int(self._index.ntotal)][self._alive()].copy()
            lists = self._index.invlists
            parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                     for i in range(lists.nlist) if lists.list_size(i)]
            return (np.concatenate(parts).astype(np.int64) if parts
                    else np.zeros(0, dtype=np.int64))

    def remove(self, ids: list[int] | np.ndarray) -> None:
        if len(ids) == 0:
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            if self.kind == "hnsw":
                self._tombstone(ids)
            else:
                self._index.remove_ids(ids)
            self._gpu = None

    def _tombstone(self, ids: np.ndarray) -> None:
        """Mark the live numbers of these faces removed, and zero their vectors."""
        n = int(self._index.ntotal)
        numbers = np.flatnonzero(np.isin(self._labels[:n], ids))
        bits = self._removed_bits
        numbers = numbers[(bits[numbers >> 3] >> (numbers & 7)) & 1 == 0]
        if not len(numbers):
            return
        np.bitwise_or.at(bits, numbers >> 3, (1 << (numbers & 7)).astype(np.uint8))
        storage: Any = faiss.downcast_index(self._index.storage)
        stored = faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)
        stored[numbers] = 0.0
        self._removed += len(numbers)
        self._skip = None

    @property
    def use_gpu(self) -> bool:
        return ((self.gpu == "faiss" and self.kind != "hnsw")
                or (self.gpu == "torch" and self.kind == "exact"))

    def _searcher(self) -> faiss.Index | TorchExact:
        """The index to search: the CPU one, or its GPU copy (made again after a change)."""
        if not self.use_gpu:
            return self._index
        if self._gpu is None:
            if self.gpu == "torch":
                self._gpu = TorchExact(self._index)
            else:
                if self._gpu_resources is None:
                    self._gpu_resources = faiss.StandardGpuResources()
                self._gpu = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
        return self._gpu

    def _search_hnsw(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.ef_search, k)
        if self._removed:
            if self._skip is None:
                chosen = faiss.IDSelectorBitmap(len(self._removed_bits),
                                                faiss.swig_ptr(self._removed_bits))
                self._skip = (chosen, faiss.IDSelectorNot(chosen))  # the first kept alive
            params.sel = self._skip[1]
        scores, numbers = self._index.search(queries, k, params=params)
        ids = np.where(numbers >= 0, self._labels[np.maximum(numbers, 0)], -1)
        return scores, ids

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, face ids), each Q×k, best first; id -1 where fewer than k faces exist."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            if len(self) == 0 or k <= 0:
                return (np.full((len(queries), max(k, 0)), -np.inf, dtype=np.float32),
                        np.full((len(queries), max(k, 0)), -1, dtype=np.int64))
            # a small search is done before OpenMP's threads wake (a third of the time on
            # this thread, and no core taken from album workers); the setting is per thread.
            # An HNSW search of one query runs on one thread whatever the setting.
            small = (len(queries) * len(self) <= SMALL_SEARCH if self.kind == "exact"
                     else self.kind == "hnsw" and len(queries) == 1)
            faiss.omp_set_num_threads(1 if small else THREADS)
            if self.kind == "hnsw":
                scores, ids = self._search_hnsw(queries, min(k, len(self)))
            else:
                scores, ids = self._searcher().search(queries, min(k, len(self)))
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.where(ids < 0, -np.inf, scores)
        return scores, ids

    @staticmethod
    def file_for(path: Path, change: int) -> Path:
        """Where the index of one store change lives: `<stem>.g<change>.faiss`."""
        return path.with_name(f"{path.stem}.g{change}{path.suffix}")

    @staticmethod
    def labels_for(path: Path, change: int) -> Path:
        """Where an HNSW graph's face ids and removed numbers live: `<stem>.g<change>.npz`."""
        return path.with_name(f"{path.stem}.g{change}.npz")

    def save(self, path: Path, change: int) -> Path:
        """Write the index of this store change (atomically: a temporary file, then a
        rename; an HNSW graph's face ids and removed numbers first, beside it) and remove the
        files of other changes, which may hold deleted faces."""
        path.parent.mkdir(parents=True, exist_ok=True)
        final = self.file_for(path, change)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers apart
        with self._lock:
            if self.kind == "hnsw":
                n = int(self._index.ntotal)
                with open(tmp, "wb") as out:
                    np.savez(out, labels=self._labels[:n],
                             removed=self._removed_bits[: (n + 7) // 8])
                os.replace(tmp, self.labels_for(path, change))
            faiss.write_index(self._index, str(tmp))
        os.replace(tmp, final)
        for pattern in (f"{path.stem}.g*{path.suffix}", f"{path.stem}.g*.npz"):
            for old in path.parent.glob(pattern):
                if old not in (final, self.labels_for(path, change)):
                    old.unlink(missing_ok=True)
        return final

    @staticmethod
    def newest_saved(path: Path, newest: int) -> int | None:
        """The newest change (at most `newest`) of which an index file is saved."""
        saved = []
        for found in path.parent.glob(f"{path.stem}.g*{path.suffix}"):
            number = found.name[len(path.stem) + 2 : -len(path.suffix)]
            if number.isdigit() and int(number) <= newest:
                saved.append(int(number))
        return max(saved, default=None)

    def load(self, path: Path, change: int) -> bool:
        """Load the saved index of this store change, if there is one; else False."""
        try:
            index = faiss.read_index(str(self.file_for(path, change)))
        except RuntimeError:  # missing or unreadable
            return False
        if index.d != self.dim:
            return False
        labels = None
        if isinstance(index, faiss.IndexHNSW):
            try:
                with np.load(self.labels_for(path, change)) as saved:
                    labels, removed = saved["labels"], saved["removed"]
            except (OSError, KeyError, ValueError):
                return False
            if len(labels) != index.ntotal or len(removed) != (len(labels) + 7) // 8:
                return False
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = self._probes(index.nlist)
        with self._lock:
            self.use(Built(index, labels))
            if labels is not None:
                self._removed_bits = removed.astype(np.uint8)
                self._removed = int(np.unpackbits(self._removed_bits).sum())
        return True
