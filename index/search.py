"""FAISS over the gallery's face embeddings: ids are the store's face ids.

The kind of index follows the gallery's size. Exact inner product (`IndexFlatIP`; on unit
vectors, the cosine) below `ann_min_faces` faces. From there, HNSW graphs (`IndexHNSWFlat`, up
to GRAPH_FACES faces each, searched side by side, `ef_search` candidates kept): a removed face
is a tombstone (skipped by every search, its vector zeroed) until the graphs are built again.
From `ivf_min_faces` on, an inverted-file index (`IndexIVFFlat`, `nprobe` lists searched),
which needs less memory per face and less time to build. On a machine with a CUDA GPU, exact
and IVF searches run on a GPU copy of the same index: with faiss-gpu where it is installed,
else (exact index) as one torch matrix product, so no extra package is needed.

The index is a cache of the store, never the only copy: it is saved under the last change of
the store's change feed it reflects (`<model>.g<change>.faiss`, and for HNSW graphs their face
ids and tombstones in `<model>.g<change>.npz`); a process starts from the newest file and
applies the changes since, or builds it from the store when there is none.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.shards import merge_topk

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
HNSW_EF_CONSTRUCTION = 40  # candidates kept while a face is linked into a graph
# faces per HNSW graph: a larger gallery is several graphs, each searched (side by side, one
# thread each) and their answers merged. On bench.search's 1,000,000 faces one graph found the
# nearest face for 0.952 of the queries at efSearch 512 (4.2 ms), four graphs 0.998 at 256
GRAPH_FACES = 1 << 18  # a multiple of 8: each graph's part of the bitmap starts a byte
TOMBSTONE_SHARE = 0.1  # removed faces' share of HNSW graphs from which they are built again

_pool: ThreadPoolExecutor | None = None


def _graph_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="hnsw")
    return _pool


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with room for at least `size` items (doubled, zero-filled)."""
    if len(array) >= size:
        return array
    bigger = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class Graphs:
    """HNSW graphs (inner product) of up to GRAPH_FACES faces each. A face is known by a number
    (its graph × GRAPH_FACES + its place in it) and `labels` gives its face id. HNSW cannot
    remove a face: a removed face's number is set in `removed_bits`, which every search skips
    (an `IDSelectorBitmap`), its vector is overwritten with zeros (no deleted face stays in
    memory or in a file), and a face added again gets a new number."""

    def __init__(self, dim: int, graphs: list[Any] | None = None,
                 labels: np.ndarray | None = None, removed_bits: np.ndarray | None = None) -> None:
        self.dim = dim
        self.graphs = graphs or []
        self.numbers = sum(int(g.ntotal) for g in self.graphs)
        self.labels = np.zeros(0, np.int64) if labels is None else labels
        self.removed_bits = (np.zeros((len(self.labels) + 7) // 8, np.uint8)
                             if removed_bits is None else removed_bits)
        self.removed = int(np.unpackbits(self.removed_bits).sum())
        self._skips: list[Any] | None = None  # a selector of the removed numbers per graph

    def __len__(self) -> int:
        return self.numbers - self.removed

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        first = self.numbers
        self.labels = _grown(self.labels, first + len(ids))
        self.labels[first : first + len(ids)] = ids
        self.removed_bits = _grown(self.removed_bits, (len(self.labels) + 7) // 8)
        done = 0
        while done < len(ids):
            if not self.graphs or self.graphs[-1].ntotal == GRAPH_FACES:
                graph = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
                self.graphs.append(graph)
            room = GRAPH_FACES - int(self.graphs[-1].ntotal)
            self.graphs[-1].add(vectors[done : done + room])
            done += room
        self.numbers += len(ids)
        self._skips = None  # the bitmap may have moved

    def alive(self) -> np.ndarray:
        """Which numbers hold a face not removed."""
        return np.unpackbits(self.removed_bits, bitorder="little")[: self.numbers] == 0

    def ids(self) -> np.ndarray:
        return self.labels[: self.numbers][self.alive()].copy()

    def remove(self, ids: np.ndarray) -> None:
        """Mark the live numbers of these faces removed, and zero their vectors."""
        numbers = np.flatnonzero(np.isin(self.labels[: self.numbers], ids))
        bits = self.removed_bits
        numbers = numbers[(bits[numbers >> 3] >> (numbers & 7)) & 1 == 0]
        if not len(numbers):
            return
        np.bitwise_or.at(bits, numbers >> 3, (1 << (numbers & 7)).astype(np.uint8))
        for g in np.unique(numbers // GRAPH_FACES).tolist():
            storage: Any = faiss.downcast_index(self.graphs[g].storage)
            n = int(storage.ntotal)
            stored = faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)
            stored[numbers[numbers // GRAPH_FACES == g] % GRAPH_FACES] = 0.0
        self.removed += len(numbers)
        self._skips = None

    def _skip(self, g: int) -> Any:
        """The selector that skips graph g's removed numbers."""
        if self._skips is None:
            self._skips = []
            for first in range(0, len(self.graphs) * GRAPH_FACES, GRAPH_FACES):
                bits = self.removed_bits[first // 8 : (first + GRAPH_FACES) // 8]
                chosen = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
                self._skips.append((bits, chosen, faiss.IDSelectorNot(chosen)))
        return self._skips[g][2]

    def search(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, face ids) of the best k of every graph, merged."""
        single = len(queries) < THREADS  # graphs side by side, not queries

        def one(g: int) -> tuple[np.ndarray, np.ndarray]:
            faiss.omp_set_num_threads(1 if single else THREADS)  # per thread
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(ef, k)
            if self.removed:
                params.sel = self._skip(g)
            graph = self.graphs[g]
            # FAISS's own numpy search: `faiss.contrib.torch_utils` (which pytorch-metric-
            # learning imports) puts a torch-aware `search` over it that takes no `params`
            search = getattr(graph, "search_numpy", graph.search)
            scores, local = search(queries, min(k, int(graph.ntotal)), params=params)
            numbers = np.where(local >= 0, local + g * GRAPH_FACES, -1)
            return scores, np.where(numbers >= 0, self.labels[np.maximum(numbers, 0)], -1)

        if self.removed:
            self._skip(0)  # made once, before the threads
        if single and len(self.graphs) > 1:
            answers = list(_graph_pool().map(one, range(len(self.graphs))))
        else:
            answers = [one(g) for g in range(len(self.graphs))]
        return merge_topk(answers, k)

    def write(self, path: Path) -> None:
        """The graphs, one after the other, into one file."""
        writer = faiss.FileIOWriter(str(path))
        for graph in self.graphs:
            faiss.write_index(graph, writer)
        del writer  # closes the file

    def sidecar(self) -> dict[str, np.ndarray]:
        return {"labels": self.labels[: self.numbers],
                "removed": self.removed_bits[: (self.numbers + 7) // 8],
                "graphs": np.array(len(self.graphs))}


class FaceIndex:
    """The gallery's search index, of the kind its size asks for: exact below
    `ann_min_faces` faces, HNSW graphs (`Graphs`) from there, IVF from `ivf_min_faces` on.
    `tombstone_share` tells when HNSW graphs are worth building again."""

    def __init__(self, dim: int, ann_min_faces: int = 200_000, nprobe: int = 0,
                 use_gpu: bool = False, ivf_min_faces: int = 2_000_000,
                 ef_search: int = 256) -> None:
        self.dim = dim
        self.ann_min_faces = ann_min_faces
        self.ivf_min_faces = ivf_min_faces
        self.nprobe = nprobe
        self.ef_search = ef_search  # HNSW candidates kept per graph and search (at least k)
        # searches on the GPU: faiss-gpu where installed (exact and IVF), else torch (exact)
        self.gpu = ("faiss" if use_gpu and faiss_gpu() else
                    "torch" if use_gpu and torch_cuda() else None)
        self._lock = threading.RLock()
        # FAISS's generated stubs lack the fields of its index kinds (id_map, index, nprobe)
        self._index: Any = self._flat()
        self._gpu: Any = None
        self._gpu_resources: Any = None

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def kind(self) -> str:
        """"exact", "hnsw" or "ivf"."""
        if isinstance(self._index, Graphs):
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
    def graphs(self) -> int:
        """How many HNSW graphs a search visits (0 for another kind)."""
        return len(self._index.graphs) if self.kind == "hnsw" else 0

    @property
    def tombstones(self) -> int:
        """Removed faces HNSW graphs still hold (as zero vectors, never returned)."""
        return self._index.removed if self.kind == "hnsw" else 0

    @property
    def tombstone_share(self) -> float:
        if self.kind != "hnsw" or not self._index.numbers:
            return 0.0
        return self._index.removed / self._index.numbers

    def __len__(self) -> int:
        return len(self._index) if self.kind == "hnsw" else int(self._index.ntotal)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A fresh index of these vectors, of the kind their number asks for."""
        self.use(self.build(ids, vectors))

    def build(self, ids: np.ndarray, vectors: np.ndarray, total: int | None = None) -> Any:
        """A new index of these vectors, not yet the one searched (`use`): built while this
        one answers. Its kind (and an IVF index's lists) suit `total` faces (default: these),
        so a caller may build on a sample and `add` the rest."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        kind = self.kind_for(len(ids) if total is None else total)
        if kind == "hnsw":
            graphs = Graphs(self.dim)
            graphs.add(ids, vectors)
            return graphs
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
        return index

    def use(self, index: Any) -> None:
        """Search the index `build` made from now on."""
        with self._lock:
            self._index, self._gpu = index, None

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
                self._index.add(ids, vectors)
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

    def ids(self) -> np.ndarray:
        """The id of every vector in the index."""
        with self._lock:
            if self.kind == "exact":
                return faiss.vector_to_array(self._index.id_map).astype(np.int64)
            if self.kind == "hnsw":
                return self._index.ids()
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
                self._index.remove(ids)
            else:
                self._index.remove_ids(ids)
            self._gpu = None

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

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, face ids), each Q×k, best first; id -1 where fewer than k faces exist."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            if len(self) == 0 or k <= 0:
                return (np.full((len(queries), max(k, 0)), -np.inf, dtype=np.float32),
                        np.full((len(queries), max(k, 0)), -1, dtype=np.int64))
            if self.kind == "hnsw":
                scores, ids = self._index.search(queries, min(k, len(self)), self.ef_search)
            else:
                # a small search is done before OpenMP's threads wake (a third of the time on
                # this thread, and no core taken from album workers); the setting is per thread
                small = self.kind == "exact" and len(queries) * len(self) <= SMALL_SEARCH
                faiss.omp_set_num_threads(1 if small else THREADS)
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
        rename; HNSW graphs' face ids and removed numbers first, beside it) and remove the
        files of other changes, which may hold deleted faces."""
        path.parent.mkdir(parents=True, exist_ok=True)
        final, sidecar = self.file_for(path, change), self.labels_for(path, change)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers apart
        with self._lock:
            if self.kind == "hnsw":
                with open(tmp, "wb") as out:
                    np.savez(out, **self._index.sidecar())
                os.replace(tmp, sidecar)
                self._index.write(tmp)
            else:
                faiss.write_index(self._index, str(tmp))
        os.replace(tmp, final)
        for pattern in (f"{path.stem}.g*{path.suffix}", f"{path.stem}.g*.npz"):
            for old in path.parent.glob(pattern):
                if old not in (final, sidecar):
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
            reader = faiss.FileIOReader(str(self.file_for(path, change)))
            index: Any = faiss.read_index(reader)
            if index.d != self.dim:
                return False
            if isinstance(index, faiss.IndexHNSW):
                index = self._graphs(index, reader, self.labels_for(path, change))
                if index is None:
                    return False
        except RuntimeError:  # missing or unreadable
            return False
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = self._probes(index.nlist)
        self.use(index)
        return True

    def _graphs(self, first: Any, reader: Any, sidecar: Path) -> Graphs | None:
        """HNSW graphs from their file (`first` read, the rest in `reader`) and sidecar."""
        try:
            with np.load(sidecar) as saved:
                labels, removed, count = saved["labels"], saved["removed"], int(saved["graphs"])
        except (OSError, KeyError, ValueError):
            return None
        graphs = [first] + [faiss.read_index(reader) for _ in range(count - 1)]
        if len(labels) != sum(g.ntotal for g in graphs) or len(removed) != (len(labels) + 7) // 8:
            return None
        return Graphs(self.dim, graphs, labels.astype(np.int64), removed.astype(np.uint8))
