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


class FaceIndex:
    def __init__(self, dim: int, ann_min_faces: int = 200_000, nprobe: int = 0,
                 use_gpu: bool = False) -> None:
        self.dim = dim
        self.ann_min_faces = ann_min_faces
        self.nprobe = nprobe
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
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "exact"

    @property
    def lists(self) -> int:
        """The IVF index's lists (0 for an exact index)."""
        return int(self._index.nlist) if self.kind == "ivf" else 0

    @property
    def probes(self) -> int:
        """How many lists a search visits (0 for an exact index)."""
        return int(self._index.nprobe) if self.kind == "ivf" else 0

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A fresh index of these vectors: exact below `ann_min_faces`, IVF from there on."""
        self.use(self.build(ids, vectors))

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> Any:
        """A new FAISS index of these vectors (exact below `ann_min_faces`, IVF from there
        on), not yet the one searched (`use`): built while this one answers."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) >= self.ann_min_faces:
            nlist = int(min(65536, 4 * np.sqrt(len(ids)), max(1, len(ids) // 40)))
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
        """Search `index` (one `build` made) from now on."""
        with self._lock:
            self._index, self._gpu = index, None

    def _probes(self, nlist: int) -> int:
        """IVF lists searched per query: the setting, or (0) an eighth of the lists, which kept
        recall@1 against exact at 0.96–0.998 on 100k and 1M synthetic faces (bench.search)."""
        return min(nlist, self.nprobe or max(32, nlist // 8))

    def set_nprobe(self, nprobe: int) -> None:
        """IVF lists searched per query (more: slower, closer to exact; 0: automatic)."""
        with self._lock:
            self.nprobe = nprobe
            if isinstance(self._index, faiss.IndexIVF):
                self._index.nprobe = self._probes(self._index.nlist)
                self._gpu = None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
            self._gpu = None

    def vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """A copy of every (id, vector) of an exact index; None for an IVF index (its
        vectors are not kept in one array)."""
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
            lists = self._index.invlists
            parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                     for i in range(lists.nlist) if lists.list_size(i)]
            return (np.concatenate(parts).astype(np.int64) if parts
                    else np.zeros(0, dtype=np.int64))

    def remove(self, ids: list[int] | np.ndarray) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
            self._gpu = None

    @property
    def use_gpu(self) -> bool:
        return self.gpu == "faiss" or (self.gpu == "torch" and self.kind == "exact")

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

    def save(self, path: Path, change: int) -> Path:
        """Write the index of this store change (atomically: a temporary file, then a
        rename) and remove the files of other changes, which may hold deleted faces."""
        path.parent.mkdir(parents=True, exist_ok=True)
        final = self.file_for(path, change)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # writers apart
        with self._lock:
            faiss.write_index(self._index, str(tmp))
        os.replace(tmp, final)
        for old in path.parent.glob(f"{path.stem}.g*{path.suffix}"):
            if old != final:
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
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = self._probes(index.nlist)
        with self._lock:
            self._index, self._gpu = index, None
        return True
